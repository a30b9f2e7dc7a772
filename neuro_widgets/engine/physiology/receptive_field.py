"""Receptive-field maps of one unit per channel: sparse noise (reverse correlation with single squares) and
gradient, with the field's centre and size in pixels (and degrees given pixels per degree).

* **sparse noise**: a bright and a dark square at every position of a grid over the unit's theoretical field,
  one per image; ON map = response to the bright square minus the blank response, OFF map likewise; the field
  is ``|ON| + |OFF|`` (an ON and an OFF subregion both count, as for a complex cell) and ``ON - OFF`` is the
  signed, linear estimate.
* **gradient**: the mean absolute gradient of the unit's response with respect to the input pixels (summed
  over colour channels) over random inputs; signed map: the mean gradient.

Centre and size come from the map's second moments: the centre is the weighted centroid and the size is the
full width at half maximum of the Gaussian with the same spread, ``2 sqrt(2 ln 2) sigma`` with
``sigma**2`` the mean of the row and column variances.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..describe import brief
from ..export import Figured, Tabular, per_channel_records
from ..featurevis.receptive_field import receptive_field as field_geometry
from ..hooks import capture
from ..model_state import module_dtype, preserved
from ..probe import Probe, first_tensor, positive_int
from ..progress import CancelToken, ProgressArg, check_cancel, make_reporter, validate_cancel
from .responses import Unit, blank_response, centre_position, check_probe_layer, check_unit, record
from .stimuli import sparse_noise

FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))


def check_pixels_per_degree(value: Any) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"pixels_per_degree must be a positive number (pixels of the model's input per degree of "
                         f"visual angle), got {brief(value)}")
    return float(value)


def unit_position(probe: Probe, layer: str, unit: Unit) -> Tuple[int, int]:
    shape = probe.layer(layer).output_shape
    if unit == "mean":
        raise ValueError("a receptive field belongs to one unit: use unit='centre' or a (row, column) of the map, "
                         "not 'mean'")
    if len(shape) != 3:
        return 0, 0
    return centre_position(shape) if unit == "centre" else unit


def unit_field(probe: Probe, layer: str, unit: Unit) -> Tuple[Tuple[float, float], Tuple[int, int, int, int]]:
    """The unit's theoretical field (every pixel with any influence): its centre (row, col) and its box
    (top, left, bottom, right), clipped to the image."""
    y, x = unit_position(probe, layer, unit)
    geo = field_geometry(probe, layer)
    h, w = probe.input_spec.size
    row = geo.offset[0] + y * geo.stride[0] + (geo.size[0] - 1) / 2
    col = geo.offset[1] + x * geo.stride[1] + (geo.size[1] - 1) / 2
    centre = (min(max(row, 0.0), h - 1.0), min(max(col, 0.0), w - 1.0))
    return centre, geo.box(y, x)


def aperture_geometry(probe: Probe, layer: str, unit: Unit, aperture: Any
                      ) -> Tuple[Optional[Tuple[float, float]], float]:
    """(centre, diameter) of a grating aperture: full field (None, inf), the unit's field ("rf") or a diameter
    in pixels on the unit's field."""
    if aperture is None:
        return None, math.inf
    if aperture == "rf" or (isinstance(aperture, numbers.Real) and not isinstance(aperture, bool)
                            and math.isfinite(aperture) and aperture > 0):
        centre, (top, left, bottom, right) = unit_field(probe, layer, unit)
        return centre, float(max(bottom - top, right - left)) if aperture == "rf" else float(aperture)
    raise ValueError(f"aperture must be None (full field), 'rf' (the unit's receptive field) or a diameter in "
                     f"pixels, got {brief(aperture)}")


def map_geometry(maps: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Centres (C, 2) (row, col) and FWHM-equivalent sizes (C,) in pixels of non-negative maps (C, H, W)."""
    c, h, w = maps.shape
    weights = np.maximum(maps, 0).reshape(c, -1)
    total = weights.sum(1)
    rows, cols = np.mgrid[0:h, 0:w]
    rows, cols = rows.ravel().astype(np.float64), cols.ravel().astype(np.float64)
    safe = np.where(total > 0, total, 1)
    mr, mc = weights @ rows / safe, weights @ cols / safe
    var = (weights @ rows ** 2 / safe - mr ** 2 + weights @ cols ** 2 / safe - mc ** 2) / 2
    size = FWHM_PER_SIGMA * np.sqrt(np.maximum(var, 0))
    centres = np.stack([mr, mc], 1)
    centres[total <= 0] = np.nan
    size[total <= 0] = np.nan
    return centres, size


@dataclass
class RFMaps(Tabular, Figured):
    """Receptive-field maps (C, H, W) in input pixels, one per requested channel, with centre and size."""

    layer: str
    method: str  # "sparse_noise" or "gradient"
    channels: np.ndarray
    magnitude: np.ndarray = field(repr=False)  # (C, H, W), >= 0
    signed: np.ndarray = field(repr=False)  # (C, H, W): ON - OFF (sparse noise) or the mean gradient
    region: Tuple[int, int, int, int]  # (top, left, bottom, right) mapped
    pixels_per_degree: Optional[float] = None
    settings: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.centre, self.size_px = map_geometry(self.magnitude)

    @property
    def size_deg(self) -> Optional[np.ndarray]:
        return None if self.pixels_per_degree is None else self.size_px / self.pixels_per_degree

    def index(self, channel: int) -> int:
        return channel_row(self.channels, channel)

    def to_records(self) -> List[Dict[str, Any]]:
        """One row per mapped channel: the field's centre (row, column) and size, in input pixels (and degrees)."""
        columns = {"centre_row_px": self.centre[:, 0], "centre_col_px": self.centre[:, 1], "size_px": self.size_px}
        if self.size_deg is not None:
            columns["size_deg"] = self.size_deg
        return [{**r, "method": self.method} for r in per_channel_records(self.layer, self.channels, columns)]

    def channel(self, channel: int) -> Dict[str, Any]:
        """One channel's maps and geometry as plain arrays with units (for a panel)."""
        i = self.index(channel)
        return {"channel": int(channel), "layer": self.layer, "method": self.method,
                "magnitude": self.magnitude[i], "signed": self.signed[i], "region": self.region,
                "centre_px": tuple(float(v) for v in self.centre[i]), "size_px": float(self.size_px[i]),
                "size_deg": None if self.size_deg is None else float(self.size_deg[i]),
                "axes": "rows x columns of the model input (pixels)"}

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_rf_maps``)."""
        from ...figures import plot_rf_maps

        return plot_rf_maps(self, ax, **style)

def channel_indices(channels: Any, n: int) -> np.ndarray:
    if channels is None:
        return np.arange(n)
    try:
        arr = np.atleast_1d(np.asarray(channels))
    except (TypeError, ValueError):
        arr = np.array([], dtype=object)
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu" or (arr < 0).any() or (arr >= n).any():
        raise ValueError(f"channels must be None (all) or channel indices in [0, {n}), got {brief(channels)}")
    return arr.astype(np.int64)


def channel_row(channels: np.ndarray, channel: Any) -> int:
    """The row of ``channel`` in a result that measured ``channels``."""
    hits = np.flatnonzero(channels == channel) if isinstance(channel, (int, np.integer)) else []
    if len(hits) == 0:
        raise IndexError(f"channel {brief(channel)} was not measured; measured: {channels.tolist()[:20]}")
    return int(hits[0])


def n_channels(probe: Probe, layer: str) -> int:
    return int(probe.layer(layer).output_shape[0])


def sparse_noise_rf(probe: Probe, layer: str, channels: Optional[Sequence[int]] = None, unit: Unit = "centre",
                    patch: Optional[int] = None, region: Optional[Tuple[int, int, int, int]] = None,
                    contrast: float = 1.0, pixels_per_degree: Optional[float] = None, batch_size: int = 128,
                    progress: ProgressArg = None, cancel: Optional[CancelToken] = None) -> RFMaps:
    """Map one unit per channel by sparse noise (see the module docstring). ``region`` defaults to the unit's
    theoretical field; ``patch`` (pixels) to 1/16 of the region's larger side (at least one pixel)."""
    check_probe_layer(probe, layer)
    unit = check_unit(unit, probe.layer(layer).output_shape)
    chans = channel_indices(channels, n_channels(probe, layer))
    ppd = check_pixels_per_degree(pixels_per_degree)
    report = make_reporter(progress, "sparse noise")
    validate_cancel(cancel)
    unit_position(probe, layer, unit)
    if region is None:
        region = unit_field(probe, layer, unit)[1]
    elif not (isinstance(region, (tuple, list)) and len(region) == 4
              and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in region)):
        raise ValueError(f"region must be (top, left, bottom, right) in input pixels, got {brief(region)}")
    region = tuple(int(v) for v in region)
    if patch is None:
        patch = max(1, round(max(region[2] - region[0], region[3] - region[1]) / 16))
    stim = sparse_noise(probe.input_spec.size, region, patch, contrast)
    blank = blank_response(probe, layer, unit, cancel)[chans]
    r = record(probe, layer, stim, unit, batch_size, report, cancel)[:, chans] - blank
    on, off = r[stim.polarity > 0], r[stim.polarity < 0]
    h, w = probe.input_spec.size
    magnitude = np.zeros((len(chans), h, w))
    signed = np.zeros((len(chans), h, w))
    for (row, col), a, b in zip(stim.positions[stim.polarity > 0], on, off):
        magnitude[:, row:row + patch, col:col + patch] = (np.abs(a) + np.abs(b))[:, None, None]
        signed[:, row:row + patch, col:col + patch] = (a - b)[:, None, None]
    return RFMaps(layer, "sparse_noise", chans, magnitude, signed, stim_region(stim), ppd,
                  {"unit": unit, "patch": int(patch), "contrast": float(contrast)})


def stim_region(stim: Any) -> Tuple[int, int, int, int]:
    pos = stim.positions
    h, w = stim.size
    return (int(pos[:, 0].min()), int(pos[:, 1].min()), min(h, int(pos[:, 0].max()) + stim.patch),
            min(w, int(pos[:, 1].max()) + stim.patch))


def gradient_rf(probe: Probe, layer: str, channels: Optional[Sequence[int]] = None, unit: Unit = "centre",
                n_inputs: int = 8, seed: int = 0, pixels_per_degree: Optional[float] = None, batch_size: int = 64,
                progress: ProgressArg = None, cancel: Optional[CancelToken] = None) -> RFMaps:
    """Map one unit per channel by its input gradient over ``n_inputs`` random inputs (normal noise in the
    model's normalised space, drawn from a generator seeded with ``seed``; the global RNG is not touched)."""
    check_probe_layer(probe, layer)
    unit = check_unit(unit, probe.layer(layer).output_shape)
    chans = channel_indices(channels, n_channels(probe, layer))
    ppd = check_pixels_per_degree(pixels_per_degree)
    n_inputs = positive_int(n_inputs, "n_inputs")
    batch_size = positive_int(batch_size, "batch_size")
    report = make_reporter(progress, "gradient RF")
    validate_cancel(cancel)
    y, x = unit_position(probe, layer, unit)
    spec = probe.input_spec
    h, w = spec.size
    noise = torch.randn(n_inputs, spec.channels, h, w, generator=torch.Generator().manual_seed(seed))
    per_chunk = max(1, batch_size // n_inputs)
    magnitude = np.zeros((len(chans), h, w))
    signed = np.zeros((len(chans), h, w))
    check_cancel(cancel)
    with preserved(probe.module), capture(probe.module, [layer]) as cap:
        for start in range(0, len(chans), per_chunk):
            check_cancel(cancel)
            chunk = chans[start:start + per_chunk]
            inp = noise.repeat(len(chunk), 1, 1, 1).to(device=probe.device, dtype=module_dtype(probe.module))
            inp.requires_grad_(True)
            cap.run(inp)
            a = first_tensor(cap.outputs[layer][0])
            idx = torch.as_tensor(np.repeat(chunk, n_inputs), device=a.device)
            rows = torch.arange(len(idx), device=a.device)
            picked = a[rows, idx, y, x] if a.dim() == 4 else a[rows, idx]
            (grad,) = torch.autograd.grad(picked.sum(), inp)
            g = grad.detach().double().cpu().view(len(chunk), n_inputs, spec.channels, h, w)
            magnitude[start:start + len(chunk)] = g.abs().sum(2).mean(1).numpy()
            signed[start:start + len(chunk)] = g.sum(2).mean(1).numpy()
            report(min(start + per_chunk, len(chans)), len(chans))
    return RFMaps(layer, "gradient", chans, magnitude, signed, (0, 0, h, w), ppd,
                  {"unit": unit, "n_inputs": n_inputs, "seed": seed})


def compare_rfs(a: RFMaps, b: RFMaps) -> Dict[str, np.ndarray]:
    """Per channel mapped by both: centre distance (px), size ratio a/b, and the Pearson correlation of the
    magnitude maps over ``a``'s region."""
    if not isinstance(a, RFMaps) or not isinstance(b, RFMaps):
        raise TypeError(f"compare_rfs takes two RFMaps (from sparse_noise_rf / gradient_rf), got {brief(a)}, "
                        f"{brief(b)}")
    common = np.intersect1d(a.channels, b.channels)
    if len(common) == 0:
        raise ValueError("the two maps share no channel")
    ia = np.array([a.index(c) for c in common])
    ib = np.array([b.index(c) for c in common])
    top, left, bottom, right = a.region
    ma = a.magnitude[ia, top:bottom, left:right].reshape(len(common), -1)
    mb = b.magnitude[ib, top:bottom, left:right].reshape(len(common), -1)
    ma, mb = ma - ma.mean(1, keepdims=True), mb - mb.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (ma * mb).sum(1) / np.sqrt((ma ** 2).sum(1) * (mb ** 2).sum(1))
        ratio = a.size_px[ia] / b.size_px[ib]
    return {"channels": common, "centre_distance_px": np.linalg.norm(a.centre[ia] - b.centre[ib], axis=1),
            "size_ratio": ratio, "map_correlation": corr,
            "labels": {"centre_distance_px": "pixels", "size_ratio": f"{a.method} / {b.method}",
                       "map_correlation": "Pearson r over the sparse-noise region"}}
