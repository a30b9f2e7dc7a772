"""The brain-alignment panel: the selected layer's score per region (CI, noise ceiling), the layer x region
curve with the trained-vs-random control, and a metric selector."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import traitlets as t

from . import codegen
from ..engine.alignment import COMPARE_METHODS, METRIC_SPECS, METRICS, RDM_METHODS, sweep
from ..engine.alignment.cka import CKA_KERNELS
from ..engine.alignment.encoding import ENCODING_METHODS
from .base import PRIORITY, BaseWidget, as_trait_error, merge_settings
from .engines import fraction_progress, sweep_summary
from .figure_export import file_stem

#: the sweep() settings the panel offers, each with its label and the engine's registry of its values
#: (the registry's first value is the default)
SETTING_CHOICES: Dict[str, Sequence[str]] = {"rdm_method": RDM_METHODS, "method": COMPARE_METHODS,
                                             "encoding": ENCODING_METHODS, "kernel": CKA_KERNELS}
SETTING_LABELS = {"rdm_method": "RDMs by", "method": "compare RDMs by", "encoding": "model", "kernel": "kernel"}
DEFAULT_SETTINGS: Dict[str, Any] = {"metric": METRICS[0], **{k: v[0] for k, v in SETTING_CHOICES.items()},
                                    "control": True, "control_seeds": 3, "n_boot": 200, "seed": 0}
NO_NEURAL = ("no neural data: this panel compares each layer with recorded brain regions, so it needs a data "
             "set with neural RDMs, e.g. nw.LayerExplorer(probe, nw.datasets.kriegeskorte2008())")


def check_settings(settings: Dict[str, Any]) -> Dict[str, Any]:
    out = merge_settings(DEFAULT_SETTINGS, settings, "alignment")
    if out["metric"] not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {out['metric']!r}")
    for key, values in SETTING_CHOICES.items():
        if out[key] not in values:
            raise ValueError(f"{key} must be one of {tuple(values)}, got {out[key]!r}")
    out["control"] = bool(out["control"])
    k = out["control_seeds"]
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"control_seeds (how many random initialisations make the control) must be a positive "
                         f"integer, got {k!r}")
    return out


def alignment_choices() -> Dict[str, Any]:
    """What the panel's pickers offer: the engine's metrics (each with the settings it uses) and each setting's
    values."""
    return {"metrics": [{"name": m, **METRIC_SPECS[m]} for m in METRICS],
            "settings": {k: {"label": SETTING_LABELS[k], "values": list(v)} for k, v in SETTING_CHOICES.items()}}


def score_label(settings: Dict[str, Any]) -> str:
    """The metric's label, with how it compares RDMs when it does (e.g. "RSA (spearman)")."""
    spec = METRIC_SPECS[settings["metric"]]
    return f"{spec['label']} ({settings['method']})" if "method" in spec["settings"] else spec["label"]


def sweep_layers(widget: BaseWidget) -> List[str]:
    """The layers of the curve: the model's blocks (top two levels of the module tree) with tensor outputs."""
    return [row["name"] for row in widget.layers if row["depth"] <= 1 and row["shape"] and row["calls"] == 1]


class AlignmentPanel(t.HasTraits):
    """Mixin: brain alignment of every layer, read for the selected one (needs ``BaseWidget``)."""

    align_settings = t.Dict().tag(sync=True)
    #: see :func:`alignment_choices`
    align_choices = t.Dict(alignment_choices()).tag(sync=True)
    #: {"metric", "label", "layers", "regions", "score", "ci_low", "ci_high", "ceiling", "control"}
    align_result = t.Dict().tag(sync=True)

    @t.default("align_settings")
    def _align_default(self) -> Dict[str, Any]:
        return dict(DEFAULT_SETTINGS)

    @t.validate("align_settings")
    def _align_validate(self, proposal: Any) -> Dict[str, Any]:
        return as_trait_error(check_settings, dict(proposal["value"]))

    def layer_views(self) -> Dict[str, Any]:
        return {**super().layer_views(), "alignment": self._layer_alignment}

    @t.observe("align_settings")
    def _align_settings_changed(self, change: Any) -> None:
        if self.selected_layer:
            self._layer_alignment(self.selected_layer)

    def _layer_alignment(self, layer: str) -> None:
        if self.neural is None or self.stimuli is None:
            self.align_result = {}
            self.notice("alignment", NO_NEURAL)
            return
        self.align_result = {}  # never the previous layer's reading under this layer's name
        note = self.reused_note(layer)
        if note:
            self.notice("alignment", note)
            return
        base = sweep_layers(self)
        extra = [] if layer in base else [layer]
        layers = base + extra
        tables = [base, extra] if extra else [base]
        s = self.align_settings
        call = {"metric": s["metric"], **{k: s[k] for k in METRIC_SPECS[s["metric"]]["settings"]},
                "control": "random" if s["control"] else None, "n_boot": s["n_boot"], "seed": s["seed"],
                **({"control_seeds": tuple(range(s["control_seeds"]))} if s["control"] and s["control_seeds"] > 1
                   else {})}
        settings = tuple(sorted(call.items()))
        quick = {**call, "control": None}
        quick.pop("control_seeds", None)

        def key_of(names: List[str], kwargs: Dict[str, Any]) -> Any:
            return ("sweep-table", tuple(names), tuple(sorted(kwargs.items())))

        def swept(names: List[str], kwargs: Dict[str, Any], report: Any, cancel: Any) -> Any:
            hit = self.runner.cached(key_of(names, kwargs))
            if hit is None:
                hit = sweep(self.probe, self.neural, stimuli=self.stimuli, layers=names, **kwargs,
                            progress=fraction_progress(report, "sweep"), cancel=cancel)
                self.runner.remember(key_of(names, kwargs), hit)
            return hit

        def table(kwargs: Dict[str, Any], report: Any, cancel: Any) -> List[Any]:
            """The table of the model's blocks (swept once for every block click), and a layer inside a block
            on its own."""
            return [swept(names, kwargs, report, cancel) for names in tables]

        def work(report: Any, cancel: Any) -> List[Any]:
            if call["control"] is None:
                return table(call, report, cancel)
            # the trained model's scores first (a few seconds), then the random control (several initialisations:
            # the costly part) once the layer's other views are out
            report(0.0, "scores", partial=table(quick, report, cancel))
            cancel.defer(PRIORITY["alignment_control"])
            return table(call, report, cancel)

        def summary(results: List[Any], pending: str = "") -> Dict[str, Any]:
            return {**sweep_summary(results, layers, score_label(s)), "selected": layer, "metric": s["metric"],
                    "pending": pending}

        def preview(partial: Any = None, **_: Any) -> None:
            if partial is not None:
                self.align_result = summary(partial, pending="random control")

        def show(results: List[Any]) -> None:
            self.align_result = summary(results)
            self.keep_figure("alignment", results[0].plot, file_stem("alignment", s["metric"], self.data_name))
            code = codegen.sweep(layers, call)
            self.set_code("alignment", codegen.with_record(code, getattr(results[0], "settings", None)))

        ready = [self.runner.cached(key_of(names, quick)) for names in tables]
        if call["control"] is not None and all(r is not None for r in ready):
            preview(ready)  # this layer's scores at once; a click that joins the running control waits only for it
        # every block click has the same key: a click while the table is swept joins that sweep
        self.runner.submit("alignment", ("align", tuple(base), tuple(extra), settings), work, show,
                           on_progress=preview, priority=PRIORITY["alignment"])


class AlignmentWidget(AlignmentPanel, BaseWidget):
    """Brain alignment of every layer of a model against a data set's regions.

    >>> w = nw.AlignmentWidget(nw.load_model("cifar_resnet20"), nw.datasets.kriegeskorte2008(), layer="layer3")
    """

    PANELS = ("alignment",)

    def __init__(self, model: Any, dataset: Any, *, neural: Any = None, layer: Optional[str] = None,
                 **settings: Any) -> None:
        BaseWidget.__init__(self, model, dataset, neural=neural, layer=layer,
                            align_settings=check_settings(settings))
