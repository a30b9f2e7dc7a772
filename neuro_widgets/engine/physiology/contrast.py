"""Contrast response of every channel to its preferred grating, with a Naka-Rushton fit
``R(c) = rmax c^n / (c^n + c50^n)`` (Albrecht & Hamilton 1982): c50 the semi-saturation contrast, n the exponent.
Responses are blank-subtracted (see ``tuning``), so the curve starts at zero and has no baseline term."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from ..export import Figured, Tabular, per_channel_records
from ..probe import Probe
from ..progress import CancelToken, ProgressArg, make_reporter, validate_cancel
from .preferred import condition_responses, preferred_gratings
from .receptive_field import aperture_geometry, channel_indices, channel_row, n_channels
from .responses import Unit, check_probe_layer, check_unit
from .stimuli import float_values
from .tuning import TuningSurvey, value_grid


def naka_rushton(c: np.ndarray, rmax: float, c50: float, n: float) -> np.ndarray:
    c = np.asarray(c, dtype=np.float64)
    return rmax * c ** n / (c ** n + c50 ** n)


def fit_naka_rushton(contrasts: Sequence[float], responses: Sequence[float]) -> Dict[str, float]:
    """Least-squares Naka-Rushton fit: rmax, c50, n and the fit's R^2 (NaN for a flat or failed fit)."""
    c = float_values(contrasts, "contrasts", low=0.0, high=1.0)
    r = np.asarray(responses, dtype=np.float64)
    if r.shape != c.shape:
        raise ValueError(f"contrasts ({len(c)}) and responses ({r.shape}) need one response per contrast")
    nan = {"rmax": np.nan, "c50": np.nan, "n": np.nan, "r2": np.nan}
    if len(c) < 4 or not np.isfinite(r).all() or r.max() <= 0:
        return nan
    p0 = (r.max(), float(np.interp(r.max() / 2, r[np.argsort(c)], np.sort(c))) or 0.1, 2.0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            (rmax, c50, n), _ = curve_fit(naka_rushton, c, r, p0=p0, bounds=([0, 1e-3, 0.1], [np.inf, 10.0, 10.0]),
                                          maxfev=5000)
    except (RuntimeError, ValueError):
        return nan
    resid = r - naka_rushton(c, rmax, c50, n)
    total = ((r - r.mean()) ** 2).sum()
    return {"rmax": float(rmax), "c50": float(c50), "n": float(n),
            "r2": float(1 - (resid ** 2).sum() / total) if total > 0 else np.nan}


@dataclass
class ContrastResponse(Tabular, Figured):
    """Per measured channel (``channels``): responses (C, K) at ``contrasts`` and the Naka-Rushton parameters."""

    layer: str
    channels: np.ndarray
    contrasts: np.ndarray
    responses: np.ndarray = field(repr=False)
    orientation: np.ndarray = field(repr=False)  # the grating each channel saw
    sf: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        fits = [fit_naka_rushton(self.contrasts, r) for r in self.responses]
        for key in ("rmax", "c50", "n", "r2"):
            setattr(self, key, np.array([f[key] for f in fits]))

    def to_records(self) -> List[Dict[str, Any]]:
        """One row per measured channel: the Naka-Rushton fit (rmax, c50, n, r2) and the grating it saw."""
        return per_channel_records(self.layer, self.channels, {
            "rmax": self.rmax, "c50": self.c50, "n": self.n, "r2": self.r2,
            "orientation_deg": self.orientation, "sf_cpp": self.sf})

    def channel(self, channel: int) -> Dict[str, Any]:
        """One measured channel's curve, fit and parameters as plain arrays with units (for a panel)."""
        c = channel_row(self.channels, channel)
        grid = np.linspace(0, self.contrasts.max(), 50)
        return {"channel": int(channel), "layer": self.layer,
                "curve": {"x": self.contrasts, "y": self.responses[c], "x_label": "contrast (Michelson)",
                          "y_label": "response (F0 + F1 - blank)"},
                "fit": {"x": grid, "y": naka_rushton(grid, self.rmax[c], self.c50[c], self.n[c])},
                "c50": float(self.c50[c]), "n": float(self.n[c]), "rmax": float(self.rmax[c]),
                "r2": float(self.r2[c]), "orientation_deg": float(self.orientation[c]), "sf_cpp": float(self.sf[c])}

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_contrast_response``)."""
        from ...figures import plot_contrast_response

        return plot_contrast_response(self, ax, **style)

def contrast_response(probe: Probe, layer: str, survey: Optional[TuningSurvey] = None,
                      channels: Optional[Sequence[int]] = None,
                      orientation: Union[None, float, Sequence[float]] = None,
                      sf: Union[None, float, Sequence[float]] = None,
                      contrasts: Sequence[float] = (0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0),
                      phases: Union[int, Sequence[float]] = 8, unit: Unit = "centre",
                      aperture: Union[None, str, float] = None, batch_size: int = 128,
                      progress: ProgressArg = None, cancel: Optional[CancelToken] = None) -> ContrastResponse:
    """Contrast response of ``channels`` (default all) of ``layer`` to each one's preferred grating (from
    ``survey``) or to the given ``orientation`` / ``sf`` (one value or one per channel), over ``phases``."""
    check_probe_layer(probe, layer)
    unit = check_unit(unit, probe.layer(layer).output_shape)
    report = make_reporter(progress, "contrast response")
    validate_cancel(cancel)
    chans = channel_indices(channels, n_channels(probe, layer))
    ori, freq = preferred_gratings(n_channels(probe, layer), chans, survey, orientation, sf)
    con = np.sort(float_values(contrasts, "contrasts", low=0.0, high=1.0))
    ph = value_grid(phases, "phases", 360.0)
    centre, diameter = aperture_geometry(probe, layer, unit, aperture)
    r = condition_responses(probe, layer, unit, chans, ori, freq, con, np.full(len(con), diameter), ph, centre,
                            batch_size, report, cancel)
    return ContrastResponse(layer, chans, con, r, np.array(ori), np.array(freq))

