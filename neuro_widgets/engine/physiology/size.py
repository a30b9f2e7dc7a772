"""Size tuning: each channel's preferred grating in circular apertures of growing diameter centred on the
unit's receptive field; the preferred size and the surround-suppression index
``SI = (R_peak - R_largest) / R_peak`` (0: no suppression, 1: the largest grating silences the unit)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from ..export import Figured, Tabular, per_channel_records
from ..probe import Probe
from ..progress import CancelToken, ProgressArg, make_reporter, validate_cancel
from .preferred import condition_responses, preferred_gratings
from .receptive_field import (channel_indices, channel_row, check_pixels_per_degree, n_channels, unit_field,
                              unit_position)
from .responses import Unit, check_probe_layer, check_unit
from .stimuli import float_values
from .tuning import TuningSurvey, value_grid


@dataclass
class SizeTuning(Tabular, Figured):
    """Per measured channel (``channels``): responses (C, K) at aperture ``diameters`` (pixels), preferred
    diameter and SI."""

    layer: str
    channels: np.ndarray
    diameters: np.ndarray
    responses: np.ndarray = field(repr=False)
    centre: tuple = (0.0, 0.0)
    pixels_per_degree: Optional[float] = None

    def __post_init__(self) -> None:
        peak = self.responses.argmax(1)
        rows = np.arange(len(peak))
        r_peak = self.responses[rows, peak]
        self.preferred_diameter = self.diameters[peak]
        with np.errstate(invalid="ignore", divide="ignore"):
            self.suppression_index = np.where(r_peak > 0, (r_peak - self.responses[:, -1]) / r_peak, np.nan)

    def to_records(self) -> List[Dict[str, Any]]:
        """One row per measured channel: preferred aperture diameter and surround suppression index."""
        columns = {"preferred_diameter_px": self.preferred_diameter, "suppression_index": self.suppression_index}
        if self.pixels_per_degree is not None:
            columns["preferred_diameter_deg"] = self.preferred_diameter / self.pixels_per_degree
        return per_channel_records(self.layer, self.channels, columns)

    def channel(self, channel: int) -> Dict[str, Any]:
        """One measured channel's size curve and measures as plain arrays with units (for a panel)."""
        c = channel_row(self.channels, channel)
        deg = None if self.pixels_per_degree is None else self.diameters / self.pixels_per_degree
        return {"channel": int(channel), "layer": self.layer,
                "curve": {"x": self.diameters, "x_deg": deg, "y": self.responses[c],
                          "x_label": "aperture diameter (pixels)", "y_label": "response (F0 + F1 - blank)"},
                "preferred_diameter_px": float(self.preferred_diameter[c]),
                "suppression_index": float(self.suppression_index[c]), "centre_px": self.centre}

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_size_tuning``)."""
        from ...figures import plot_size_tuning

        return plot_size_tuning(self, ax, **style)

def size_tuning(probe: Probe, layer: str, survey: Optional[TuningSurvey] = None,
                channels: Optional[Sequence[int]] = None,
                orientation: Union[None, float, Sequence[float]] = None,
                sf: Union[None, float, Sequence[float]] = None, diameters: Optional[Sequence[float]] = None,
                contrast: float = 1.0, phases: Union[int, Sequence[float]] = 8, unit: Unit = "centre",
                pixels_per_degree: Optional[float] = None, batch_size: int = 128,
                progress: ProgressArg = None, cancel: Optional[CancelToken] = None) -> SizeTuning:
    """Size tuning of one unit per channel of ``layer`` (gratings as in :func:`contrast_response`).
    ``diameters`` default: 12 sizes from 2 pixels to the image's diagonal (a full-field grating)."""
    check_probe_layer(probe, layer)
    unit = check_unit(unit, probe.layer(layer).output_shape)
    unit_position(probe, layer, unit)
    ppd = check_pixels_per_degree(pixels_per_degree)
    report = make_reporter(progress, "size tuning")
    validate_cancel(cancel)
    chans = channel_indices(channels, n_channels(probe, layer))
    ori, freq = preferred_gratings(n_channels(probe, layer), chans, survey, orientation, sf)
    h, w = probe.input_spec.size
    dia = np.geomspace(2, np.hypot(h, w) * 2, 12) if diameters is None else \
        np.sort(float_values(diameters, "diameters (pixels)", low=0.0, low_open=True))
    con = float_values(contrast, "contrast", low=0.0, high=1.0)
    centre, _ = unit_field(probe, layer, unit)
    r = condition_responses(probe, layer, unit, chans, ori, freq, np.full(len(dia), con[0]), dia,
                            value_grid(phases, "phases", 360.0), centre, batch_size, report, cancel)
    return SizeTuning(layer, chans, dia, r, centre, ppd)
