"""What every attribution entry point shares: checking the images and layers, and the batch loop.

:func:`prepare_inputs` turns a StimulusSet, a uint8 array or a model-ready tensor into the probe's
batch source (reusing ``probe.prepare``); :func:`run_batches` walks it in batches on the model's device,
reporting progress and honouring the cancel token between batches; :func:`quiet_captum` hides captum's
notices about its own hooks. Stochastic methods draw from private streams (``rng.drawing_from``).
"""
from __future__ import annotations

import contextlib
import re
import threading
import warnings
from typing import Any, Callable, Iterator, List, Optional, Tuple

import torch

from ..describe import brief
from ..progress import CancelToken, ProgressArg, check_cancel, make_reporter
from ..probe import Probe, _split_call


def check_probe(probe: Any, what: str) -> Probe:
    """``probe`` if it is an nw.Probe; a TypeError that says how to make one otherwise (a bare model is common)."""
    if isinstance(probe, Probe):
        return probe
    if isinstance(probe, torch.nn.Module):
        raise TypeError(f"{what} needs an nw.Probe as its first argument, got the bare model "
                        f"({type(probe).__name__}, a torch.nn.Module). Wrap it first: probe = nw.Probe(model, "
                        "nw.InputSpec(size=(H, W), mean=..., std=...)), or load one with nw.load_model(...).")
    raise TypeError(f"{what} needs an nw.Probe as its first argument, got {brief(probe)} ({type(probe).__name__})")


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


#: captum's notices about hooks it sets and removes itself (expected, not problems)
_CAPTUM_NOTICES = (r"Setting (forward, )?backward hooks", r"Input Tensor \d+ did not already require gradients")
_quiet_guard = threading.Lock()
_quiet_users = 0
_quiet_added: List[tuple] = []  # the filter entries the first caller added (none that the user already had)


@contextlib.contextmanager
def quiet_captum() -> Iterator[None]:
    """Silence captum's notices about hooks it sets and removes itself, safely across threads.

    ``warnings.catch_warnings`` saves and restores the whole, process-wide filter list, so two overlapping
    calls (or a user's thread changing filters meanwhile) would undo each other's filters or leave one
    behind. Here the first caller adds exactly these filters, the last one removes exactly them, and every
    other filter is left alone.
    """
    global _quiet_users
    with _quiet_guard:
        if _quiet_users == 0:
            for message in _CAPTUM_NOTICES:
                entry = ("ignore", re.compile(message, re.I), UserWarning, None, 0)
                if entry not in warnings.filters:
                    warnings.filters.insert(0, entry)
                    _quiet_added.append(entry)
            warnings._filters_mutated()  # drop warning registries that remember what was already shown
        _quiet_users += 1
    try:
        yield
    finally:
        with _quiet_guard:
            _quiet_users -= 1
            if _quiet_users == 0:
                while _quiet_added:
                    entry = _quiet_added.pop()
                    if entry in warnings.filters:
                        warnings.filters.remove(entry)
                warnings._filters_mutated()
