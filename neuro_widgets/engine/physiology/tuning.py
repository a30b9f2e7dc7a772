"""Orientation and spatial-frequency tuning of every channel of a layer, from one batched pass of gratings.

How responses are read (the same in contrast and size tuning):

* a unit's response is rectified at zero, as a firing rate is (a layer after a ReLU is unchanged), and the
  rectified response to a blank mean-grey screen (the "spontaneous rate") is subtracted;
* over the drifting phase the response has a mean F0 and a first-harmonic amplitude F1
  (``F1 = 2 |mean_k r_k exp(-i phase_k)|``); the tuning value of a condition is ``F0 + F1`` — the peak of the
  response's mean-plus-fundamental, proportional to the drive of a linear-rectified ("simple") unit and equal
  to the mean of a phase-invariant ("complex") unit;
* simple vs complex: F1/F0 at the preferred condition, > 1 simple (Skottun et al. 1991). Values above 2 (a
  response whose mean does not rise above the blank) are reported as 2;
* OSI = 1 - circular variance = |sum_k R_k exp(2 i theta_k)| / sum_k R_k over the orientation curve at the
  preferred SF (doubled angles: orientation is periodic over 180 deg); the preferred orientation is the angle
  of that vector sum, halved — a continuous estimate between grid orientations;
* preferred SF: the best SF on the grid refined by a parabola through log2(SF); bandwidths are the orientation
  half-width at half-height (deg) and the SF full width at half-height (octaves), NaN where the curve does not
  fall to half within the tested range.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..describe import brief
from ..export import Figured, Tabular, per_channel_records
from ..probe import Probe
from ..progress import CancelToken, ProgressArg, make_reporter, validate_cancel
from .receptive_field import aperture_geometry, check_pixels_per_degree
from .responses import Unit, blank_response, check_probe_layer, check_unit, record
from .stimuli import float_values, gratings

F1F0_CAP = 2.0


def rectified_harmonics(responses: np.ndarray, blank: np.ndarray, phases_deg: np.ndarray
                        ) -> Tuple[np.ndarray, np.ndarray]:
    """(F0 - blank, F1) over the last axis (phase) of rectified responses; ``blank`` broadcasts against F0."""
    r = np.maximum(responses, 0.0)
    f0 = r.mean(axis=-1) - np.maximum(blank, 0.0)
    f1 = 2 * np.abs((r * np.exp(-1j * np.deg2rad(phases_deg))).mean(axis=-1))
    return f0, f1


def circular_tuning(curve: np.ndarray, orientations_deg: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(preferred orientation in [0, 180), OSI) of curves (..., O); curves are clipped at zero."""
    r = np.maximum(curve, 0.0)
    vec = (r * np.exp(2j * np.deg2rad(orientations_deg))).sum(-1)
    total = r.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        osi = np.where(total > 0, np.abs(vec) / np.where(total > 0, total, 1), 0.0)
    return np.rad2deg(np.angle(vec) / 2) % 180.0, osi


def half_width(curve: np.ndarray, peak: int, circular: bool) -> Tuple[float, float]:
    """Distances (in index units, linearly interpolated) from ``peak`` to where the curve falls to half its
    peak, on the left and on the right; NaN for a side where it never does."""
    half = curve[peak] / 2
    n = len(curve)
    sides = []
    for step in (-1, 1):
        dist, prev, i = math.nan, curve[peak], peak
        for k in range(1, n):
            j = i + step
            if not circular and not 0 <= j < n:
                break
            value = curve[j % n]
            if value <= half:
                dist = k - 1 + (prev - half) / (prev - value) if prev != value else float(k)
                break
            prev, i = value, j
        sides.append(dist)
    return sides[0], sides[1]


def _parabolic_peak(y: np.ndarray, k: int) -> float:
    """Sub-grid position of the maximum at index ``k`` from a parabola through its neighbours."""
    if 0 < k < len(y) - 1:
        denom = y[k - 1] - 2 * y[k] + y[k + 1]
        if denom < 0:
            return k + 0.5 * (y[k - 1] - y[k + 1]) / denom
    return float(k)


@dataclass
class TuningSurvey(Tabular, Figured):
    """Grating responses of every channel of a layer and the tuning measures derived from them.

    Arrays are per channel (first axis). Angles in degrees, SF in cycles per pixel (``*_cpd`` in cycles per
    degree when ``pixels_per_degree`` was given), bandwidths as described in the module docstring.
    """

    layer: str
    unit: Unit
    orientations: np.ndarray  # (O,) degrees
    sfs: np.ndarray  # (S,) cycles per pixel
    phases: np.ndarray  # (P,) degrees
    responses: np.ndarray = field(repr=False)  # (C, O, S, P) raw responses
    blank: np.ndarray = field(repr=False)  # (C,) raw response to mean grey
    aperture: Dict[str, Any] = field(default_factory=dict)  # centre (row, col) px, diameter px (inf = full field)
    pixels_per_degree: Optional[float] = None

    def __post_init__(self) -> None:
        self.f0, self.f1 = rectified_harmonics(self.responses, self.blank[:, None, None], self.phases)
        self.tuning = self.f0 + self.f1  # (C, O, S)
        c, o, s = self.tuning.shape
        best = self.tuning.reshape(c, -1).argmax(1)
        self.best_orientation_index, self.best_sf_index = np.unravel_index(best, (o, s))
        rows = np.arange(c)
        self.orientation_curves = self.tuning[rows, :, self.best_sf_index]  # (C, O) at the preferred SF
        self.sf_curves = self.tuning[rows, self.best_orientation_index, :]  # (C, S) at the preferred orientation
        self.preferred_orientation, self.osi = circular_tuning(self.orientation_curves, self.orientations)
        peak = self.tuning[rows, self.best_orientation_index, self.best_sf_index]
        self.responsive = peak > 1e-6 * max(float(np.abs(self.responses).max()), 1e-12)
        f0 = self.f0[rows, self.best_orientation_index, self.best_sf_index]
        f1 = self.f1[rows, self.best_orientation_index, self.best_sf_index]
        with np.errstate(invalid="ignore", divide="ignore"):
            self.f1f0 = np.where(f0 > 0, np.minimum(f1 / np.where(f0 > 0, f0, 1), F1F0_CAP), F1F0_CAP)
        log_sf = np.log2(self.sfs)
        step_ori = 180.0 / o
        self.preferred_sf = np.empty(c)
        self.orientation_bandwidth = np.empty(c)
        self.sf_bandwidth = np.empty(c)
        for ch in range(c):
            k = int(self.best_sf_index[ch])
            pos = _parabolic_peak(self.sf_curves[ch], k)
            self.preferred_sf[ch] = 2 ** np.interp(pos, np.arange(s), log_sf)
            left, right = half_width(self.orientation_curves[ch], int(self.best_orientation_index[ch]), True)
            self.orientation_bandwidth[ch] = (left + right) / 2 * step_ori
            left, right = half_width(self.sf_curves[ch], k, False)
            octaves = np.diff(log_sf).mean() if s > 1 else math.nan
            self.sf_bandwidth[ch] = (left + right) * octaves
        for name in ("preferred_orientation", "osi", "f1f0", "preferred_sf", "orientation_bandwidth",
                     "sf_bandwidth"):
            getattr(self, name)[~self.responsive] = np.nan

    @property
    def n_channels(self) -> int:
        return self.responses.shape[0]

    @property
    def simple(self) -> np.ndarray:
        """True for channels with F1/F0 > 1 (Skottun et al. 1991); False also for unresponsive ones."""
        return np.nan_to_num(self.f1f0, nan=0.0) > 1

    def _cpd(self, sf: np.ndarray) -> Optional[np.ndarray]:
        return None if self.pixels_per_degree is None else sf * self.pixels_per_degree

    def channel(self, c: int) -> Dict[str, Any]:
        """One channel's curves and measures as plain arrays with units and axis labels (for a panel)."""
        if not isinstance(c, (int, np.integer)) or not 0 <= c < self.n_channels:
            raise IndexError(f"channel must be an int in [0, {self.n_channels}), got {brief(c)}")
        o, s = int(self.best_orientation_index[c]), int(self.best_sf_index[c])
        return {
            "channel": int(c), "layer": self.layer,
            "orientation_curve": {"x": self.orientations, "y": self.orientation_curves[c],
                                  "x_label": "orientation (deg)", "y_label": "response (F0 + F1 - blank)"},
            "sf_curve": {"x": self.sfs, "x_cpd": self._cpd(self.sfs), "y": self.sf_curves[c],
                         "x_label": "spatial frequency (cycles/pixel)", "y_label": "response (F0 + F1 - blank)"},
            "phase_curve": {"x": self.phases, "y": self.responses[c, o, s],
                            "x_label": "phase (deg)", "y_label": "raw response", "blank": float(self.blank[c])},
            "preferred_orientation_deg": float(self.preferred_orientation[c]),
            "preferred_sf_cpp": float(self.preferred_sf[c]),
            "preferred_sf_cpd": None if self.pixels_per_degree is None
            else float(self.preferred_sf[c] * self.pixels_per_degree),
            "osi": float(self.osi[c]), "orientation_bandwidth_deg": float(self.orientation_bandwidth[c]),
            "sf_bandwidth_octaves": float(self.sf_bandwidth[c]), "f1f0": float(self.f1f0[c]),
            "cell_type": "unresponsive" if not self.responsive[c] else ("simple" if self.simple[c] else "complex"),
        }

    def to_records(self) -> List[Dict[str, Any]]:
        """One row per channel: preferred orientation and SF, OSI, bandwidths, F1/F0 and cell type."""
        cell = np.where(~self.responsive, "unresponsive", np.where(self.simple, "simple", "complex"))
        columns = {"preferred_orientation_deg": self.preferred_orientation, "preferred_sf_cpp": self.preferred_sf,
                   "osi": self.osi, "orientation_bandwidth_deg": self.orientation_bandwidth,
                   "sf_bandwidth_octaves": self.sf_bandwidth, "f1f0": self.f1f0, "cell_type": cell}
        if self.pixels_per_degree is not None:
            columns["preferred_sf_cpd"] = self.preferred_sf * self.pixels_per_degree
        return per_channel_records(self.layer, np.arange(self.n_channels), columns)

    def summary(self, osi_threshold: float = 0.2, bins: int = 12) -> Dict[str, Any]:
        from .summary import layer_summary

        return layer_summary(self, osi_threshold=osi_threshold, bins=bins)

    def __repr__(self) -> str:
        ok = self.responsive
        return (f"TuningSurvey({self.layer!r}, {self.n_channels} channels ({int(ok.sum())} responsive), "
                f"{len(self.orientations)} orientations x {len(self.sfs)} SFs x {len(self.phases)} phases, "
                f"median OSI {np.nanmedian(self.osi) if ok.any() else math.nan:.2f}, "
                f"simple {int(self.simple.sum())}/{int(ok.sum())})")

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_tuning_survey``)."""
        from ...figures import plot_tuning_survey

        return plot_tuning_survey(self, ax, **style)

def default_sfs(size: Tuple[int, int], n: int) -> np.ndarray:
    """``n`` SFs spaced evenly in log from one cycle across the image to 0.4 cycles per pixel (a 2.5-pixel
    period, below the 0.5 Nyquist limit: early layers often prefer the finest gratings)."""
    return np.geomspace(1.0 / min(size), 0.4, n)


def value_grid(values: Union[int, Sequence[float]], name: str, period: float) -> np.ndarray:
    if isinstance(values, (int, np.integer)) and not isinstance(values, bool):
        if values < 1:
            raise ValueError(f"{name} must be a positive count or a list of values, got {values}")
        return np.arange(values) * period / values
    return float_values(values, name)


def tuning_survey(probe: Probe, layer: str, orientations: Union[int, Sequence[float]] = 12,
                  sfs: Union[int, Sequence[float]] = 8, phases: Union[int, Sequence[float]] = 8,
                  unit: Unit = "centre", aperture: Union[None, str, float] = None,
                  pixels_per_degree: Optional[float] = None, contrast: float = 1.0, batch_size: int = 96,
                  progress: ProgressArg = None, cancel: Optional[CancelToken] = None) -> TuningSurvey:
    """Orientation x SF x phase tuning of every channel of ``layer``, from one batched pass.

    ``orientations`` / ``phases``: a count (evenly spaced over 180 / 360 deg) or values in degrees; ``sfs``: a
    count (:func:`default_sfs`) or values in cycles per pixel. ``unit``: ``"centre"`` (the unit at the map's
    centre), a (row, column) of the map, or ``"mean"`` (the spatial mean — phase-invariant for a full-field
    grating, so F1/F0 then says nothing). ``aperture``: None (full field), ``"rf"`` (a circle on the unit's
    receptive field, its diameter the field's size) or a diameter in pixels centred on the field.

    ``progress`` callables that take ``**extra`` receive ``partial=`` a :class:`TuningSurvey` over the SFs done
    so far (SFs are the outermost loop, so the first curves appear after the first SF).
    """
    check_probe_layer(probe, layer)
    unit = check_unit(unit, probe.layer(layer).output_shape)
    ppd = check_pixels_per_degree(pixels_per_degree)
    report = make_reporter(progress, "tuning survey")
    validate_cancel(cancel)
    size = probe.input_spec.size
    ori = _unique_sorted(value_grid(orientations, "orientations", 180.0) % 180.0, "orientations")
    ph = _unique_sorted(value_grid(phases, "phases", 360.0) % 360.0, "phases")
    sf = _unique_sorted(default_sfs(size, sfs) if isinstance(sfs, (int, np.integer)) and not isinstance(sfs, bool)
                        and sfs >= 1 else value_grid(sfs, "sfs", 1.0), "sfs")
    centre, diameter = aperture_geometry(probe, layer, unit, aperture)
    stim = gratings(size, ori, sf, ph, contrasts=contrast, diameters=diameter, centre=centre)
    blank = blank_response(probe, layer, unit, cancel)
    geometry = {"centre": centre, "diameter": float(diameter)}
    per_sf = len(ori) * len(ph)
    sent = [0]

    def survey_of(responses: np.ndarray, n_sf: int) -> TuningSurvey:
        r = responses[: n_sf * per_sf].reshape(n_sf, len(ori), len(ph), -1).transpose(3, 1, 0, 2)
        return TuningSurvey(layer, unit, ori, sf[:n_sf], ph, r.copy(), blank, geometry, ppd)

    def on_batch(done: int, responses: np.ndarray) -> None:
        complete = done // per_sf
        if complete > sent[0] and done < len(stim):
            sent[0] = complete
            report(done, len(stim), partial=survey_of(responses, complete))
        else:
            report(done, len(stim))

    responses = record(probe, layer, stim, unit, batch_size, cancel=cancel, on_batch=on_batch)
    return survey_of(responses, len(sf))


def _unique_sorted(values: np.ndarray, name: str) -> np.ndarray:
    out = np.unique(values)
    if len(out) != len(values):
        raise ValueError(f"{name} must not repeat values (orientations count modulo 180, phases modulo 360)")
    return out
