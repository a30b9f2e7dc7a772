"""``load_model``: zoo names -> a ready :class:`~neuro_widgets.engine.probe.Probe`."""
from __future__ import annotations

import os
import pickle
from typing import Any, Optional

import torch

from ..data.fetch import RemoteFile, locate
from ..engine.probe import Probe
from ..engine.stimuli import InputSpec
from .cifar_resnet import CIFAR10_CLASSES, CIFAR_MEAN, CIFAR_STD, CifarResNet

_AKAMASTER = "https://raw.githubusercontent.com/akamaster/pytorch_resnet_cifar10/master/pretrained_models/"
# Full sha256 where published; otherwise the 8-hex prefix carried in the file name (torch hub convention).
_CIFAR_CHECKPOINTS = {
    20: ("resnet20-12fca82f.th", "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8"),
    32: ("resnet32-d509ac18.th", "d509ac18"),
    44: ("resnet44-014dd654.th", "014dd654"),
    56: ("resnet56-4bfd9763.th", "4bfd9763"),
}
ZOO = tuple(f"cifar_resnet{d}" for d in _CIFAR_CHECKPOINTS) + ("torchvision:<name>",)


def load_checkpoint(path: os.PathLike) -> dict:
    """A checkpoint's state dict, loaded with ``weights_only=True`` whenever the file allows it."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def cifar_resnet(depth: int = 20, pretrained: bool = True, seed: Optional[int] = None,
                 root: Optional[os.PathLike] = None) -> Probe:
    if depth not in _CIFAR_CHECKPOINTS:
        raise ValueError(f"cifar_resnet depth must be one of {sorted(_CIFAR_CHECKPOINTS)}, got {depth}")
    gen_state = torch.random.get_rng_state()
    try:
        if seed is not None:
            torch.manual_seed(seed)
        model = CifarResNet(depth)
    finally:
        torch.random.set_rng_state(gen_state)
    if pretrained:
        fname, sha = _CIFAR_CHECKPOINTS[depth]
        path = locate(RemoteFile("models", "cifar_resnet", fname, _AKAMASTER + fname, sha), root)
        model.load_state_dict(load_checkpoint(path), strict=True)
    model.eval()
    spec = InputSpec(size=(32, 32), mean=CIFAR_MEAN, std=CIFAR_STD, class_names=CIFAR10_CLASSES)
    tag = "pretrained" if pretrained else f"random init, seed {seed}"
    return Probe(model, spec, name=f"cifar_resnet{depth} ({tag})")


def torchvision_model(name: str, weights: Any = "DEFAULT", seed: Optional[int] = None) -> Probe:
    try:
        import torchvision
    except ImportError as err:
        raise ImportError(
            f"torchvision:{name} needs torchvision, which is not installed. "
            "Install the extra: pip install 'neuro_widgets[vision]'"
        ) from err
    try:
        builder = torchvision.models.get_model_builder(name)
    except ValueError as err:
        known = ", ".join(sorted(torchvision.models.list_models())[:20])
        raise ValueError(f"unknown torchvision model {name!r}; some known names: {known}, …") from err
    class_names = None
    weights_obj = None
    if weights is not None:
        weights_obj = torchvision.models.get_model_weights(name).verify(weights)
        class_names = weights_obj.meta.get("categories")
    else:
        enum = torchvision.models.get_model_weights(name)
        first = next(iter(enum), None)
        class_names = first.meta.get("categories") if first is not None else None
    gen_state = torch.random.get_rng_state()
    try:
        if seed is not None:
            torch.manual_seed(seed)
        model = builder(weights=weights_obj)
    finally:
        torch.random.set_rng_state(gen_state)
    model.eval()
    spec = InputSpec(size=(224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                     class_names=class_names)
    tag = str(weights_obj) if weights_obj is not None else f"random init, seed {seed}"
    return Probe(model, spec, name=f"torchvision {name} ({tag})")


def load_model(name: str, pretrained: bool = True, *, seed: Optional[int] = None, weights: Any = "DEFAULT",
               root: Optional[os.PathLike] = None) -> Probe:
    """A model from the zoo, wrapped in a Probe (eval mode, input spec and class names set).

    ``"cifar_resnet20" | "cifar_resnet32" | "cifar_resnet44" | "cifar_resnet56"``: CIFAR-10 ResNets with real
    trained weights (``pretrained=True``) or a reproducible random initialisation (``pretrained=False,
    seed=s``) — the control every alignment analysis needs. ``"torchvision:<name>"`` (needs torchvision):
    ``weights="DEFAULT"`` or ``weights=None`` (random init, ``seed=``).

    >>> probe = nw.load_model("cifar_resnet20")
    >>> control = nw.load_model("cifar_resnet20", pretrained=False, seed=0)
    """
    if not isinstance(name, str):
        raise TypeError("load_model takes a zoo name such as 'cifar_resnet20' or 'torchvision:alexnet'")
    if name.startswith("torchvision:"):
        return torchvision_model(name.split(":", 1)[1], weights=weights if pretrained else None, seed=seed)
    if name.startswith("cifar_resnet") and name[len("cifar_resnet"):].isdigit():
        return cifar_resnet(int(name[len("cifar_resnet"):]), pretrained=pretrained, seed=seed, root=root)
    raise ValueError(f"unknown model {name!r}; the zoo has {', '.join(ZOO)}")
