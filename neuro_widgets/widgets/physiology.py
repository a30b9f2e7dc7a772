"""The physiology panel: the selected layer's units measured as a physiologist would — the whole-layer grating survey
(histograms of preferred orientation, OSI and F1/F0, the oblique effect), and for one clicked channel its orientation,
spatial-frequency and phase curves, its receptive field mapped two ways (sparse noise and gradient), its contrast
response (Naka-Rushton fit) and size tuning; fLoc category selectivity of the layer on demand."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import traitlets as t

from ..engine.physiology import (category_selectivity, compare_rfs, contrast_response, gradient_rf, size_tuning,
                                 sparse_noise_rf, tuning_survey)
from ..figures import plot_channel_physiology
from . import codegen
from .base import Action, BaseWidget, as_trait_error, merge_settings
from .codec import encode_array
from .engines import fraction_progress
from .figure_export import file_stem

DEFAULT_SETTINGS: Dict[str, Any] = {"orientations": 12, "sfs": 8, "phases": 8, "aperture": None,
                                    "pixels_per_degree": None, "osi_threshold": 0.2, "control": True}


def check_settings(settings: Dict[str, Any]) -> Dict[str, Any]:
    out = merge_settings(DEFAULT_SETTINGS, settings, "physiology")
    for key in ("orientations", "sfs", "phases"):
        value = out[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 2:
            raise ValueError(f"physiology setting {key!r} must be an integer >= 2, got {value!r}")
    if out["aperture"] not in (None, "rf"):
        raise ValueError(f"aperture must be None (full field) or 'rf' (the unit's receptive field), got "
                         f"{out['aperture']!r}")
    ppd = out["pixels_per_degree"]
    if ppd is not None and (isinstance(ppd, bool) or not isinstance(ppd, (int, float)) or not ppd > 0):
        raise ValueError(f"pixels_per_degree must be None or a positive number, got {ppd!r}")
    if not 0 <= float(out["osi_threshold"]) <= 1:
        raise ValueError(f"osi_threshold must lie in [0, 1], got {out['osi_threshold']!r}")
    out["control"] = bool(out["control"])
    return out


def _plain(value: Any) -> Any:
    """Arrays and numpy scalars -> lists and floats (NaN -> None) for a JSON trait."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    return value


def survey_summary(survey: Any, threshold: float, partial: bool = False) -> Dict[str, Any]:
    """A ``TuningSurvey`` -> the layer histograms and, per channel, the measures the channel list shows."""
    summary = survey.summary(osi_threshold=threshold)
    types = ["unresponsive" if not ok else ("simple" if s else "complex")
             for ok, s in zip(survey.responsive, survey.simple)]
    return {**_plain(summary), "partial": partial, "sfs_done": int(len(survey.sfs)),
            "channels": {"osi": _plain(survey.osi), "preferred_orientation": _plain(survey.preferred_orientation),
                         "preferred_sf": _plain(survey.preferred_sf), "f1f0": _plain(survey.f1f0), "cell_type": types}}


def rf_summary(sparse: Any, gradient: Any, channel: int) -> Dict[str, Any]:
    """Both receptive-field maps of one channel (float32 arrays for the front end) and how they compare."""
    comparison = compare_rfs(sparse, gradient)
    i = int(np.flatnonzero(comparison["channels"] == channel)[0])
    out = {}
    for name, maps in (("sparse_noise", sparse), ("gradient", gradient)):
        one = maps.channel(channel)
        out[name] = {"signed": encode_array(one["signed"]), "centre_px": _plain(one["centre_px"]),
                     "size_px": _plain(one["size_px"]), "size_deg": _plain(one["size_deg"]),
                     "region": _plain(one["region"])}
    out["comparison"] = {k: _plain(comparison[k][i]) for k in ("centre_distance_px", "size_ratio", "map_correlation")}
    return out


class PhysiologyPanel(t.HasTraits):
    """Mixin: in-silico physiology of the selected layer and of one clicked channel (needs ``BaseWidget``)."""

    phys_settings = t.Dict().tag(sync=True)
    #: see :func:`survey_summary`
    phys_result = t.Dict().tag(sync=True)
    #: one channel: {"channel", "tuning", "rf", "contrast", "size"}
    phys_channel = t.Dict().tag(sync=True)
    #: fLoc category selectivity of the layer: {"layer", "domains", "table"}
    phys_category = t.Dict().tag(sync=True)

    @t.default("phys_settings")
    def _phys_default(self) -> Dict[str, Any]:
        return dict(DEFAULT_SETTINGS)

    @t.validate("phys_settings")
    def _phys_validate(self, proposal: Any) -> Dict[str, Any]:
        return as_trait_error(check_settings, dict(proposal["value"]))

    def _survey_call(self) -> Dict[str, Any]:
        s = self.phys_settings
        return {k: s[k] for k in ("orientations", "sfs", "phases", "aperture", "pixels_per_degree")}

    def _survey_key(self, layer: str) -> tuple:
        return ("phys-survey", layer, tuple(sorted((k, str(v)) for k, v in self._survey_call().items())))

    def actions(self) -> Dict[str, Action]:
        return {**super().actions(), "phys_channel": Action(self._measure_channel, "physiology_channel"),
                "phys_category": Action(self._measure_categories, "physiology_category")}

    def layer_views(self) -> Dict[str, Any]:
        return {**super().layer_views(), "physiology": self._layer_physiology}

    @t.observe("active_tab", "arrangement")
    def _phys_shown(self, change: Any) -> None:
        layer = self.stale_layer("physiology", self.phys_result)
        if layer:
            self._layer_physiology(layer)

    def _layer_physiology(self, layer: str) -> None:
        self.phys_channel, self.phys_category = {}, {}
        self.phys_result = {}
        if self.hidden("physiology"):
            return  # measured when the tab is opened: the survey would compete with the visible panels
        note = self.reused_note(layer)
        if note:
            self.notice("physiology", note)
            return
        call = self._survey_call()
        threshold = float(self.phys_settings["osi_threshold"])

        def work(report: Any, cancel: Any) -> Any:
            return tuning_survey(self.probe, layer, **call, progress=fraction_progress(report, "spatial frequencies"),
                                 cancel=cancel)

        def preview(partial: Any = None, **_: Any) -> None:
            if partial is not None:  # the curves of the SFs done so far, before the whole survey ends
                self.phys_result = {**survey_summary(partial, threshold, partial=True), "layer": layer}

        def show(survey: Any) -> None:
            self.phys_result = {**survey_summary(survey, threshold), "layer": layer}
            self.keep_figure("physiology", survey.plot, file_stem(layer, "tuning_survey"), osi_threshold=threshold)
            self.set_code("physiology", codegen.physiology_survey(layer, call))

        self.runner.submit("physiology", self._survey_key(layer), work, show, on_progress=preview)

    def _measure_channel(self, channel: Any) -> None:
        """Measure one channel of the selected layer: tuning curves, two RF maps, contrast and size tuning."""
        layer = self.selected_layer
        shape = self.probe.layer(layer).output_shape if layer else None
        n = shape[0] if shape else 0
        if not isinstance(channel, int) or isinstance(channel, bool) or not 0 <= channel < n:
            self.fail("physiology_channel", f"channel must be an index from 0 to {n - 1} of layer {layer!r}, "
                                            f"got {channel!r}")
            return
        call = self._survey_call()
        ppd = call["pixels_per_degree"]
        key = self._survey_key(layer)

        def work(report: Any, cancel: Any) -> Any:
            survey = self.runner.cached(key)
            if survey is None:
                survey = tuning_survey(self.probe, layer, **call, cancel=cancel)
                self.runner.remember(key, survey)
            report(0.25, "receptive field: sparse noise")
            sparse = sparse_noise_rf(self.probe, layer, [channel], pixels_per_degree=ppd, cancel=cancel)
            report(0.5, "receptive field: gradient")
            grad = gradient_rf(self.probe, layer, [channel], pixels_per_degree=ppd, cancel=cancel)
            report(0.7, "contrast response")
            contrast = contrast_response(self.probe, layer, survey, channels=[channel], cancel=cancel)
            report(0.85, "size tuning")
            size = size_tuning(self.probe, layer, survey, channels=[channel], pixels_per_degree=ppd, cancel=cancel)
            return survey, sparse, grad, contrast, size

        def show(result: Any) -> None:
            survey, sparse, grad, contrast, size = result
            self.phys_channel = {"layer": layer, "channel": channel, "tuning": _plain(survey.channel(channel)),
                                 "rf": rf_summary(sparse, grad, channel), "contrast": _plain(contrast.channel(channel)),
                                 "size": _plain(size.channel(channel))}
            self.keep_figure("physiology_channel", plot_channel_physiology, file_stem(layer, f"channel{channel}"),
                             survey=survey, sparse=sparse, gradient=grad, contrast=contrast, size=size, channel=channel)
            self.set_code("physiology_channel", codegen.physiology_channel(layer, channel, call))

        self.runner.submit("physiology_channel", ("phys-channel", layer, channel, key), work, show)

    def _measure_categories(self) -> None:
        """fLoc category selectivity of the selected layer (with the random-weights control when set)."""
        layer = self.selected_layer
        if not layer:
            self.fail("physiology_category", "select a layer first")
            return
        control = "random" if self.phys_settings["control"] else None

        def work(report: Any, cancel: Any) -> Any:
            return category_selectivity(self.probe, layer, control=control,
                                        progress=fraction_progress(report, "fLoc images"), cancel=cancel)

        def show(sel: Any) -> None:
            self.phys_category = {"layer": layer, "domains": list(sel.domains), "table": _plain(sel.table()),
                                  "threshold": sel.threshold, "alpha": sel.alpha}
            self.keep_figure("physiology_category", sel.plot, file_stem(layer, "category_selectivity"))
            self.set_code("physiology_category", codegen.physiology_category(layer, control))

        self.runner.submit("physiology_category", ("phys-category", layer, control), work, show)


class PhysiologyWidget(PhysiologyPanel, BaseWidget):
    """In-silico physiology of a model's layers.

    >>> w = nw.PhysiologyWidget(nw.load_model("mobilenet_v1_025"), layer="stage1.0")
    """

    PANELS = ("physiology",)

    def __init__(self, model: Any, stimuli: Any = None, *, layer: Optional[str] = None, **settings: Any) -> None:
        BaseWidget.__init__(self, model, stimuli, layer=layer, phys_settings=check_settings(settings))


__all__: List[str] = ["PhysiologyPanel", "PhysiologyWidget"]
