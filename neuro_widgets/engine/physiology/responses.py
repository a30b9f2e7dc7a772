"""One batched pass: draw stimuli batch by batch, run the model up to a layer, keep one unit per channel.

This is the single place where physiology runs a model. Every channel of the layer is recorded in the same
pass (a per-channel loop would repeat the whole forward pass for each channel); the pass stops after the
layer, runs under :func:`preserved` (eval mode, frozen weights, the model's lock) and removes its hook.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable, Optional, Protocol, Tuple, Union

import numpy as np
import torch

from ..describe import brief
from ..hooks import capture, layer_name
from ..model_state import module_dtype, preserved
from ..probe import Probe, first_tensor, positive_int
from ..progress import CancelToken, check_cancel, validate_cancel

Unit = Union[str, Tuple[int, int]]


class StimulusSource(Protocol):
    size: Tuple[int, int]

    def __len__(self) -> int: ...

    def images(self, start: int = 0, stop: Optional[int] = None, out: Optional[torch.Tensor] = None
               ) -> torch.Tensor: ...


def check_probe_layer(probe: Any, layer: Any) -> int:
    """The number of calls of ``layer`` per forward; clear errors for a non-probe or an unknown layer."""
    if not isinstance(probe, Probe):
        raise TypeError(f"probe must be an nw.Probe (e.g. nw.load_model('cifar_resnet20')), got {brief(probe)}")
    layer = layer_name(layer)
    info = probe.layer(layer)
    if info.calls != 1:
        raise ValueError(f"layer {layer!r} runs {info.calls} times per forward pass; physiology records layers "
                         "that run once: pick one of its callers or another layer")
    shape = info.output_shape
    if shape is None or len(shape) not in (1, 3):
        raise ValueError(f"layer {layer!r} gives an output of shape {shape}; physiology needs channels (C,) or "
                         "a channel map (C, H, W): pick a convolutional or linear layer")
    return info.calls


def check_unit(unit: Any, map_shape: Tuple[int, ...]) -> Unit:
    """``"centre"``, ``"mean"`` or an in-range (row, column) of the layer's map."""
    if unit in ("centre", "mean"):
        return unit
    if (isinstance(unit, (tuple, list)) and len(unit) == 2
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in unit)):
        if len(map_shape) == 3 and 0 <= unit[0] < map_shape[1] and 0 <= unit[1] < map_shape[2]:
            return int(unit[0]), int(unit[1])
        raise ValueError(f"unit {tuple(unit)} lies outside the layer's {map_shape[1:]} map" if len(map_shape) == 3
                         else "this layer has no spatial map: use unit='centre'")
    raise ValueError(f"unit must be 'centre' (the unit at the map's centre), 'mean' (mean over the map) or a "
                     f"(row, column) of the map, got {brief(unit)}")


def centre_position(map_shape: Tuple[int, ...]) -> Tuple[int, int]:
    return map_shape[1] // 2, map_shape[2] // 2


def model_input(probe: Probe, luminance: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Luminance images (n, H, W) in [0, 1] -> normalised model input on the model's device (into ``out``)."""
    spec = probe.input_spec
    dtype = module_dtype(probe.module)
    scale = 1 / torch.tensor(spec.std, dtype=torch.float64)
    shift = -torch.tensor(spec.mean, dtype=torch.float64) * scale
    lum = luminance.to(device=probe.device, dtype=dtype)[:, None]
    # (lum - mean) / std for every channel in one pass that writes the model input once
    return torch.addcmul(shift.to(lum).view(1, -1, 1, 1), lum, scale.to(lum).view(1, -1, 1, 1), out=out)


def check_source_size(probe: Probe, stimuli: StimulusSource) -> None:
    if tuple(stimuli.size) != tuple(probe.input_spec.size):
        raise ValueError(f"the stimuli are {stimuli.size[0]}x{stimuli.size[1]} but the model takes "
                         f"{probe.input_spec.size}; build them with size=probe.input_spec.size")


def record(probe: Probe, layer: str, stimuli: StimulusSource, unit: Unit = "centre", batch_size: int = 128,
           report: Optional[Callable[..., None]] = None, cancel: Optional[CancelToken] = None,
           on_batch: Optional[Callable[[int, np.ndarray], None]] = None) -> np.ndarray:
    """Responses (N, C) of one unit per channel of ``layer`` to every stimulus, float64 on the CPU.

    ``on_batch(done, responses_so_far)`` is called after each batch (for partial results).
    """
    check_probe_layer(probe, layer)
    unit = check_unit(unit, probe.layer(layer).output_shape)
    batch_size = positive_int(batch_size, "batch_size")
    validate_cancel(cancel)
    check_source_size(probe, stimuli)
    n = len(stimuli)
    out: Optional[np.ndarray] = None
    # the batches' images and model inputs are written into two buffers reused batch after batch: fresh
    # full-size tensors would cost a page fault per 4 KiB each time (as much system time as the convolutions)
    spec, rows = probe.input_spec, min(batch_size, n)
    lum_buffer = torch.empty(rows, *spec.size)
    input_buffer = torch.empty(rows, spec.channels, *spec.size, dtype=module_dtype(probe.module), device=probe.device)
    check_cancel(cancel)
    with preserved(probe.module), torch.no_grad(), capture(probe.module, [layer]) as cap:
        for start in range(0, n, batch_size):
            check_cancel(cancel)
            stop = min(start + batch_size, n)
            lum = stimuli.images(start, stop, out=lum_buffer[: stop - start])
            cap.run(model_input(probe, lum, out=input_buffer[: stop - start]))
            a = first_tensor(cap.outputs[layer][0])
            if a.dim() == 4:
                if unit == "mean":
                    a = a.mean(dim=(2, 3))
                else:
                    y, x = centre_position(tuple(a.shape[1:])) if unit == "centre" else unit
                    a = a[:, :, y, x]
            elif a.dim() != 2:
                raise ValueError(f"layer {layer!r} gave an output of shape {tuple(a.shape)}; physiology needs "
                                 "(N, C) or (N, C, H, W)")
            if out is None:
                out = np.empty((n, a.shape[1]), dtype=np.float64)
            out[start:stop] = a.double().cpu().numpy()
            if report is not None:
                report(stop, n)
            if on_batch is not None:
                on_batch(stop, out)
    assert out is not None
    return out


def blank_response(probe: Probe, layer: str, unit: Unit, cancel: Optional[CancelToken] = None) -> np.ndarray:
    """Responses (C,) to a uniform mean-grey screen (the "spontaneous rate")."""
    from .stimuli import gratings

    return record(probe, layer, gratings(probe.input_spec.size, 0.0, 0.1, 0.0, contrasts=0.0), unit,
                  cancel=cancel)[0]
