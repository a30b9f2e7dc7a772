"""Receptive fields measured by gradient: which input pixels can change a unit of a layer.

For the unit at the centre of a channel's map we take the gradient of its activation with respect to the
input for a few random inputs (normal noise in the model's normalised space) and keep every pixel whose
gradient is non-zero for any of them (several inputs, because a ReLU that is off or a max-pool that picks
another pixel hides part of the field for one input). The bounding box of those pixels is the unit's
receptive field; the stride between neighbouring units is the input size over the map size. This needs no
knowledge of the architecture (residual blocks, padding, pooling all count) and gives the effective
*theoretical* field — every pixel with any influence, not only the strong centre.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch

from ..hooks import capture
from ..model_state import module_dtype, preserved
from ..probe import Probe
from .taps import resolve_taps


@dataclass(frozen=True)
class ReceptiveField:
    """Geometry of a layer's units in model-input pixels (rows, columns)."""

    size: Tuple[int, int]  # (height, width) of the field of one unit
    stride: Tuple[float, float]  # input pixels between neighbouring units
    offset: Tuple[float, float]  # input position of the field's top-left corner for unit (0, 0)
    map_size: Tuple[int, int]  # the layer's (H, W)
    input_size: Tuple[int, int]

    def box(self, y: int, x: int) -> Tuple[int, int, int, int]:
        """(top, left, bottom, right) in input pixels of unit (y, x), clipped to the input."""
        top = int(round(self.offset[0] + y * self.stride[0]))
        left = int(round(self.offset[1] + x * self.stride[1]))
        h, w = self.input_size
        return max(0, top), max(0, left), min(h, top + self.size[0]), min(w, left + self.size[1])


def receptive_field(probe: Probe, layer: str, n_inputs: int = 4, seed: int = 0) -> ReceptiveField:
    """The receptive field of ``layer``'s units (see the module docstring for how it is measured).

    >>> rf = receptive_field(probe, "layer2"); rf.size, rf.stride
    """
    spec = probe.input_spec
    h, w = spec.size
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n_inputs, spec.channels, h, w, generator=gen)
    x = x.to(device=probe.device, dtype=module_dtype(probe.module)).requires_grad_(True)
    taps = resolve_taps(probe, [layer])
    with preserved(probe.module), capture(probe.module, list(taps.calls), calls=taps.calls) as cap:
        cap.run(x)
        a = taps.acts(cap)[layer]
        if a.dim() != 4:
            return ReceptiveField(size=(h, w), stride=(float(h), float(w)), offset=(0.0, 0.0), map_size=(1, 1),
                                  input_size=(h, w))
        mh, mw = a.shape[-2:]
        cy, cx = mh // 2, mw // 2
        a[:, :, cy, cx].sum().backward()
    support = (x.grad.abs().sum(dim=(0, 1)) > 0).cpu()
    rows = torch.nonzero(support.any(dim=1)).flatten()
    cols = torch.nonzero(support.any(dim=0)).flatten()
    if len(rows) == 0:  # the unit ignores its input (e.g. all-zero weights): treat it as the whole image
        return ReceptiveField((h, w), (h / mh, w / mw), (0.0, 0.0), (mh, mw), (h, w))
    stride = (h / mh, w / mw)
    size_y, start_y = _extent(int(rows[0]), int(rows[-1]) + 1, h, cy, stride[0])
    size_x, start_x = _extent(int(cols[0]), int(cols[-1]) + 1, w, cx, stride[1])
    offset = (start_y - cy * stride[0], start_x - cx * stride[1])
    return ReceptiveField(size=(size_y, size_x), stride=stride, offset=offset, map_size=(mh, mw), input_size=(h, w))


def _extent(lo: int, hi: int, n: int, unit: int, stride: float) -> Tuple[int, float]:
    """(size, start) of one axis of the centre unit's field from its measured support ``lo:hi``.

    Inside the image the support is the field. Where the border clips it, the field's centre is taken
    as the unit's nominal centre ``(unit + 1/2) * stride`` and the field as symmetric about it."""
    if lo > 0 and hi < n:
        return hi - lo, float(lo)
    centre = (unit + 0.5) * stride
    half = max(centre - lo, hi - centre)
    return int(round(2 * half)), centre - half
