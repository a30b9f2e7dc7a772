"""What every attribution entry point shares: checking the images and layers, and the batch loop.

:func:`prepare_inputs` turns a StimulusSet, a uint8 array or a model-ready tensor into the probe's
batch source (reusing ``probe.prepare``); :func:`run_batches` walks it in batches on the model's device,
reporting progress and honouring the cancel token between batches; :func:`seeded` makes stochastic methods
reproducible without disturbing the caller's random state.
"""
from __future__ import annotations

import contextlib
import warnings
from typing import Any, Callable, Iterator, List, Optional, Tuple

import numpy as np
import torch

from ..progress import CancelToken, ProgressArg, check_cancel, make_reporter
from ..probe import Probe, _split_call


def prepare_inputs(probe: Probe, images: Any) -> Tuple[int, Any]:
    """(count, batch source) for the probe; a tensor must already have the probe's input size."""
    n, source = probe.prepare(images)
    if isinstance(source, torch.Tensor) and tuple(source.shape[-2:]) != probe.input_spec.size:
        raise ValueError(
            f"model-ready images must be {probe.input_spec.size[0]}x{probe.input_spec.size[1]} (the probe's "
            f"InputSpec.size); got {tuple(source.shape[-2:])}. Pass a StimulusSet or uint8 array to have them "
            "resized, or resize the tensor."
        )
    return n, source


def check_layer(probe: Probe, layer: str, what: str, spatial: bool = False) -> str:
    """A layer a method attributes through: known, run once per forward, with a tensor output."""
    if not isinstance(layer, str):
        raise TypeError(f"{what}: layer must be a layer name (str, see probe.layer_names()), got {layer!r}")
    base, idx = _split_call(layer)
    if idx is not None:
        raise ValueError(f"{what}: layer {layer!r}: per-call layers ('name@i') are not supported here; pick a "
                         "module that runs once per forward")
    info = probe.layer(base)
    if info.calls > 1:
        raise ValueError(f"{what}: layer {base!r} runs {info.calls} times per forward (a reused module), so its "
                         "attribution is ambiguous; pick a module that runs once (e.g. its parent block)")
    if info.output_shape is None:
        raise ValueError(f"{what}: layer {base!r} does not output a tensor; pick another layer")
    if spatial and len(info.output_shape) != 3:
        raise ValueError(f"{what}: layer {base!r} has output shape {info.output_shape}; it needs a spatial "
                         "(C, H, W) map — pick a convolutional layer or block")
    return base


def subset_target(target: Any, rows: Any) -> Any:
    """The captum target for a subset of a batch's rows (a per-image list is indexed, a scalar kept)."""
    if isinstance(target, list):
        return [target[i] for i in rows]
    return target


@contextlib.contextmanager
def seeded(seed: Optional[int]) -> Iterator[None]:
    """Seed torch's and numpy's global generators (captum draws from both) and restore them afterwards."""
    if seed is None:
        yield
        return
    np_state = np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)


def run_batches(probe: Probe, source: Any, n: int, batch_size: int,
                step: Callable[[torch.Tensor, slice], Any], progress: ProgressArg,
                cancel: Optional[CancelToken], description: str) -> List[Any]:
    """``step(x, rows)`` for each batch of inputs; returns the list of what it returned."""
    report = make_reporter(progress, description)
    out = []
    for start in range(0, n, batch_size):
        check_cancel(cancel)
        stop = min(start + batch_size, n)
        out.append(step(probe.batch(source, start, stop), slice(start, stop)))
        report(stop, n)
    return out


def baseline_value(probe: Probe, name: str, like: torch.Tensor) -> Any:
    """A baseline for captum: 0 for 'zero', else the normalised black/white image shaped (1, C, H, W)."""
    if name == "zero":
        return 0.0
    pixel = 0.0 if name == "black" else 1.0
    spec = probe.input_spec
    img = torch.full((1, spec.channels, *like.shape[-2:]), pixel, dtype=like.dtype, device=like.device)
    return spec.normalize(img)


@contextlib.contextmanager
def quiet_captum() -> Iterator[None]:
    """Silence captum's notices about hooks it sets and removes itself (they are expected, not problems)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Setting (forward, )?backward hooks", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"Input Tensor \d+ did not already require gradients",
                                category=UserWarning)
        yield
