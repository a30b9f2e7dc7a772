"""The neurons panel, for response-level data (single neurons, e.g. V4): per-neuron predictivity of the selected
layer against each neuron's reliability, the layer curve of median ceiled predictivity, and "what does this neuron
want?" — click a neuron to render the optimal stimulus of its readout beside the real images that drive it most."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import traitlets as t

from ..engine.alignment.ceiling import split_half_consistency
from ..engine.alignment.encoding import ENCODING_METHODS
from ..engine.alignment.neural_data import NeuralResponses
from ..engine.alignment.predictivity import NeuronPredictivity, finite_median, neuron_predictivity
from ..engine.alignment.sweep import sweep
from ..engine.featurevis.neuron_wants import neuron_wants
from . import codegen
from .base import Action, BaseWidget, as_trait_error, merge_settings
from .codec import png_bytes
from .engines import fraction_progress
from .figure_export import file_stem

#: ``features``: the random-projection width every layer is reduced to (the readouts are pulled back exactly)
DEFAULT_SETTINGS: Dict[str, Any] = {"encoding": ENCODING_METHODS[0], "features": 1024, "steps": 128, "seed": 0, "top": 6}
NO_NEURONS = ("no single-neuron data: this panel predicts recorded neurons from each layer, so it needs "
              "response-level data (stimuli x neurons x repeats), e.g. nw.LayerExplorer(probe, "
              "nw.datasets.cowley2023_v4())")


def check_settings(settings: Dict[str, Any]) -> Dict[str, Any]:
    out = merge_settings(DEFAULT_SETTINGS, settings, "neurons")
    if out["encoding"] not in ENCODING_METHODS:
        raise ValueError(f"encoding must be one of {ENCODING_METHODS}, got {out['encoding']!r}")
    for key, low in (("features", 8), ("steps", 1), ("top", 1), ("seed", 0)):
        value = out[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"neurons setting {key!r} must be an integer >= {low}, got {value!r}")
    return out


def neuron_layers(widget: BaseWidget, layer: str) -> List[str]:
    """The curve's layers: the model's blocks (top two levels) with tensor outputs, plus the selected one."""
    base = [row["name"] for row in widget.layers if row["depth"] <= 1 and row["shape"] and row["calls"] == 1]
    return base if layer in base else base + [layer]


def per_neuron_summary(pred: NeuronPredictivity) -> Dict[str, Any]:
    """A ``NeuronPredictivity`` -> the selected layer's held-out r per neuron, each neuron's reliability and ceiled
    value, the ceiling on the r axis, and the median ceiled value of every layer (the curve)."""
    return {"layer": pred.layer, "ids": pred.ids, "r": _floats(pred.r), "reliability": _floats(pred.reliability),
            "ceiled": _floats(pred.ceiled), "formula": pred.formula_text, "median": _float(finite_median(pred.r)),
            "median_reliability": _float(finite_median(pred.reliability)), "ceiling_r": _float(pred.ceiling_r),
            "curve": {"layers": pred.layers, "median_ceiled": _floats(pred.median_ceiled)}}


def want_summary(want: Any, top: int) -> Dict[str, Any]:
    """``featurevis.NeuronWants`` -> the optimal stimulus (PNG), its predicted response and the real images."""
    ro = want.readout
    stimuli = want.stimuli

    def images(order: np.ndarray, values: np.ndarray) -> List[Dict[str, Any]]:
        return [{"index": int(i), "id": stimuli.ids[int(i)], "value": float(values[int(i)]),
                 "image": png_bytes(stimuli.images[int(i)], 72)} for i in order[:top]]

    return {"neuron": ro.neuron, "layer": want.layer, "image": png_bytes(want.image, 144),
            "predicted": float(want.predicted), "spread": float(want.predicted_spread),
            "recorded_max": float(want.recorded_max), "heldout_r": float(ro.heldout_r),
            "heldout_ci": [float(ro.heldout_r_ci[0]), float(ro.heldout_r_ci[1])], "n_test": int(len(ro.test)),
            "recorded": images(want.recorded_top, ro.observed), "model": images(want.predicted_top, ro.oof_prediction)}


class NeuronsPanel(t.HasTraits):
    """Mixin: per-neuron encoding of the selected layer and each neuron's optimal stimulus (needs ``BaseWidget``)."""

    neuron_settings = t.Dict().tag(sync=True)
    #: see :func:`per_neuron_summary`
    neuron_result = t.Dict().tag(sync=True)
    #: see :func:`want_summary`
    neuron_want = t.Dict().tag(sync=True)

    @t.default("neuron_settings")
    def _neuron_default(self) -> Dict[str, Any]:
        return dict(DEFAULT_SETTINGS)

    @t.validate("neuron_settings")
    def _neuron_validate(self, proposal: Any) -> Dict[str, Any]:
        return as_trait_error(check_settings, dict(proposal["value"]))

    def _has_neurons(self) -> bool:
        return isinstance(self.neural, NeuralResponses) and self.stimuli is not None

    def actions(self) -> Dict[str, Action]:
        return {**super().actions(), "want": Action(self._render_want, "neurons_want")}

    def layer_views(self) -> Dict[str, Any]:
        return {**super().layer_views(), "neurons": self._layer_neurons}

    @t.observe("active_tab", "arrangement")
    def _neurons_shown(self, change: Any) -> None:
        layer = self.stale_layer("neurons", self.neuron_result)
        if layer:
            self._layer_neurons(layer)

    def _layer_neurons(self, layer: str) -> None:
        self.neuron_want = {}
        if not self._has_neurons():
            self.neuron_result = {}
            self.notice("neurons", NO_NEURONS)
            return
        if self.hidden("neurons"):
            return  # swept when the tab is opened: the sweep would compete with the visible panels
        note = self.reused_note(layer)
        if note:
            self.neuron_result = {}
            self.notice("neurons", note)
            return
        layers = neuron_layers(self, layer)
        s = self.neuron_settings
        call = {"metric": "encoding", "encoding": s["encoding"], "reduce": ("random_projection", s["features"], s["seed"]),
                "seed": s["seed"]}
        ids = [str(i) for i in self.neural.neuroids["neuroid_id"]]

        def work(report: Any, cancel: Any) -> Any:
            key = ("neuron-table", tuple(layers), tuple(sorted((k, str(v)) for k, v in call.items())))
            table = self.runner.cached(key)
            if table is None:
                table = sweep(self.probe, self.neural, stimuli=self.stimuli, layers=layers, **call,
                                 progress=fraction_progress(report, "encoding sweep"), cancel=cancel)
                self.runner.remember(key, table)
            rel_key = ("neuron-reliability", s["seed"])
            reliability = self.runner.cached(rel_key)
            if reliability is None:
                consistency = split_half_consistency(self.neural, seed=s["seed"])
                reliability = np.nanmean(consistency.per_neuroid, axis=0)
                self.runner.remember(rel_key, reliability)
            return neuron_predictivity(table, layer, reliability, ids)

        def show(pred: NeuronPredictivity) -> None:
            self.neuron_result = per_neuron_summary(pred)
            self.keep_figure("neurons", pred.plot, file_stem(layer, "neuron_predictivity"))
            self.set_code("neurons", codegen.sweep(layers, call))

        self.runner.submit("neurons", ("neurons", layer, tuple(layers), s["encoding"], s["features"], s["seed"]),
                           work, show)

    def _render_want(self, neuron: Any) -> None:
        """Render what one neuron wants from the selected layer (the neuron's index in the data)."""
        layer = self.selected_layer
        if not self._has_neurons() or not layer:
            self.fail("neurons_want", "select a layer of a model explored with single-neuron data first")
            return
        n = len(self.neural.neuroids["neuroid_id"])
        if not isinstance(neuron, int) or isinstance(neuron, bool) or not 0 <= neuron < n:
            self.fail("neurons_want", f"neuron must be an index from 0 to {n - 1}, got {neuron!r}")
            return
        s = self.neuron_settings

        def work(report: Any, cancel: Any) -> Any:
            return neuron_wants(
                self.probe, self.stimuli, self.neural, layer, neuron, max_features=s["features"], steps=s["steps"],
                seed=s["seed"], top_k=s["top"], progress=fraction_progress(report, "readout + render"),
                cancel=cancel)

        def show(want: Any) -> None:
            self.neuron_want = want_summary(want, s["top"])
            self.keep_figure("neurons_want", want.plot, file_stem(layer, want.readout.neuron, "wants"))
            self.set_code("neurons_want", codegen.neuron_wants(layer, neuron, {
                "max_features": s["features"], "steps": s["steps"], "seed": s["seed"], "top_k": s["top"]}))

        self.runner.submit("neurons_want", ("want", layer, neuron, s["features"], s["steps"], s["seed"]), work, show)


class NeuronsWidget(NeuronsPanel, BaseWidget):
    """Single recorded neurons against a model's layers.

    >>> w = nw.NeuronsWidget(nw.load_model("mobilenet_v1_025"), nw.datasets.cowley2023_v4(), layer="stage2")
    """

    PANELS = ("neurons",)

    def __init__(self, model: Any, dataset: Any, *, neural: Any = None, layer: Optional[str] = None,
                 **settings: Any) -> None:
        BaseWidget.__init__(self, model, dataset, neural=neural, layer=layer, neuron_settings=check_settings(settings))


def _float(x: Any) -> Optional[float]:
    v = float(x)
    return v if np.isfinite(v) else None


def _floats(xs: Any) -> List[Optional[float]]:
    return [_float(x) for x in np.asarray(xs, dtype=np.float64)]
