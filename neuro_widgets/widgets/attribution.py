"""The attributions panel: one stimulus, a target, methods side by side on a shared scale, the layer's
channel contributions as a ranked bar chart, and the sanity-check curve on demand."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import traitlets as t

from ..engine.attribution import Unit, attribute, layer_contributions, methods, sanity_check
from ..engine.attribution.display import SIGN_MODES
from ..engine.attribution.registry import get_method
from . import codegen
from ..figures import plot_attribution_methods
from .base import PRIORITY, Action, BaseWidget, as_trait_error, merge_settings
from .codec import png_bytes
from .engines import attribution_overlays, contribution_bars, fraction_progress, layer_problem, sanity_curve
from .figure_export import file_stem


def default_methods() -> List[str]:
    """The engine's first method of each kind: a plain gradient, a path method that reports its completeness,
    and one that attributes through the selected layer."""
    specs = methods()
    kinds = (lambda m: not (m.has_delta or m.needs_layer), lambda m: m.has_delta, lambda m: m.needs_layer)
    return [next(m.name for m in specs if kind(m)) for kind in kinds]


DEFAULT_SETTINGS: Dict[str, Any] = {"stimulus": 0, "target": "predicted", "class": 0, "channel": 0,
                                    "methods": default_methods(), "top": 24, "sign": SIGN_MODES[0],
                                    "shared_scale": True, "sanity_method": methods()[0].name}
TARGETS = ("predicted", "class", "unit")
#: the engine's sign mode that keeps the sign (its first; drawn with the diverging colour map)
SIGNED = SIGN_MODES[0]
MAP_PX = 160
#: methods that attribute through a layer get the selected layer
LAYER_METHODS = tuple(m.name for m in methods() if m.needs_layer)


def check_settings(settings: Dict[str, Any], n_stimuli: int) -> Dict[str, Any]:
    out = merge_settings(DEFAULT_SETTINGS, settings, "attribution")
    if out["target"] not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {out['target']!r}")
    if n_stimuli and not 0 <= int(out["stimulus"]) < n_stimuli:
        raise ValueError(f"stimulus {out['stimulus']} is out of range: there are {n_stimuli} stimuli")
    if out["sign"] not in SIGN_MODES:
        raise ValueError(f"sign must be one of {SIGN_MODES}, got {out['sign']!r}")
    if not out["methods"]:
        raise ValueError("choose at least one attribution method")
    out["methods"] = [get_method(m).name for m in out["methods"]]  # an unknown name: the engine's error
    get_method(out["sanity_method"])
    return out


class AttributionPanel(t.HasTraits):
    """Mixin: attributions for the selected layer (the widget must be a :class:`BaseWidget`)."""

    attr_settings = t.Dict().tag(sync=True)
    #: [{"name", "label", "needs_layer"}] for the method picker
    attr_methods = t.List(t.Dict()).tag(sync=True)
    #: the engine's sign modes for the "show" picker
    attr_signs = t.List(t.Unicode(), list(SIGN_MODES)).tag(sync=True)
    class_names = t.List(t.Unicode()).tag(sync=True)
    #: {"layer", "stimulus", "target_label", "input": PNG, "maps": [{"method", "label", "image", "delta"}], "scale"}
    attr_result = t.Dict().tag(sync=True)
    #: {"layer", "target_label", "channels": [...], "values": [...]} ranked by value
    attr_contrib = t.Dict().tag(sync=True)
    #: {"method", "steps": [...], "correlations": [...]}
    attr_sanity = t.Dict().tag(sync=True)

    @t.default("attr_settings")
    def _attr_default(self) -> Dict[str, Any]:
        return dict(DEFAULT_SETTINGS)

    @t.validate("attr_settings")
    def _attr_validate(self, proposal: Any) -> Dict[str, Any]:
        stimuli = self.stimuli
        return as_trait_error(check_settings, dict(proposal["value"]), len(stimuli) if stimuli is not None else 0)

    @t.observe("attr_settings")
    def _attr_settings_changed(self, change: Any) -> None:
        if self.selected_layer:
            self._layer_attribution(self.selected_layer)

    def actions(self) -> Dict[str, Action]:
        return {**super().actions(), "sanity": Action(self._run_sanity, "sanity")}

    def layer_views(self) -> Dict[str, Any]:
        return {**super().layer_views(), "attribution": self._layer_attribution}

    def _attr_setup(self) -> None:
        names = self.probe.input_spec.class_names
        self.class_names = list(names) if names else []
        self.attr_methods = [{"name": m.name, "label": m.label, "needs_layer": m.needs_layer} for m in methods()]

    # ---- target --------------------------------------------------------------------------------------
    def _target(self, layer: str) -> Any:
        s = self.attr_settings
        if s["target"] == "predicted":
            return "predicted"
        if s["target"] == "class":
            return int(s["class"])
        return Unit(layer, int(s["channel"]))

    def _target_label(self, target: Any, predicted: Optional[int] = None) -> str:
        names = self.class_names
        if target == "predicted":
            return f"predicted class {names[predicted] if names and predicted is not None else predicted}"
        if isinstance(target, int):
            return f"class {names[target] if names and target < len(names) else target}"
        return f"unit {target.layer} channel {target.channel}"

    # ---- jobs ----------------------------------------------------------------------------------------
    def _layer_attribution(self, layer: str) -> None:
        try:
            stimuli = self.require_stimuli("the attributions panel")
        except ValueError as err:
            self.fail("attribution", str(err))
            return
        s = self.attr_settings
        idx = int(s["stimulus"])
        image = stimuli[idx]
        self.attr_result = {}  # never the previous layer's maps under this layer's name
        self.attr_contrib = {}
        try:
            target = self._target(layer)
            problems = {m: layer_problem(self.probe, m, layer) for m in s["methods"]}
        except (ValueError, KeyError) as err:
            self.fail("attribution", str(err))
            return
        methods = [m for m in s["methods"] if problems[m] is None]
        labels = {m["name"]: m["label"] for m in self.attr_methods}
        skipped = [{"method": m, "label": labels.get(m, m), "note": problems[m]} for m in s["methods"] if problems[m]]

        # one-pass methods first, path methods (one pass per step) last: their maps show while those run
        order = sorted(methods, key=lambda m: get_method(m).has_delta)

        def maps_work(report: Any, cancel: Any) -> Dict[str, Any]:
            """Every method's map, each shown as it is ready; the first method's own forward pass finds the
            predicted class, which the others then explain as that class (no extra forward pass for it)."""
            done: Dict[str, Any] = {}
            predicted, explained = None, target
            for i, method in enumerate(order):
                report(i / len(order), f"{method} ({i + 1}/{len(order)})",
                       **({"partial": {"results": [(m, done[m]) for m in methods if m in done],
                                       "predicted": predicted}} if done else {}))
                if cancel.cancelled:
                    cancel.raise_if_cancelled()
                params = {"layer": layer} if method in LAYER_METHODS else {}
                done[method] = attribute(self.probe, image, method, explained, cancel=cancel, **params)
                if target == "predicted" and predicted is None:
                    predicted = explained = int(done[method].classes[0])
            return {"results": [(m, done[m]) for m in methods], "predicted": predicted}

        def show_partial(partial: Any = None, **_: Any) -> None:
            if partial is not None:
                show_maps(partial, pending=[labels.get(m, m) for m in methods
                                            if m not in {name for name, _ in partial["results"]}])

        def show_maps(out: Dict[str, Any], pending: Optional[List[str]] = None) -> None:
            """The maps (``pending``: the methods still computing; the figure and code wait for all)."""
            overlays, scale = attribution_overlays([r for _, r in out["results"]], image, MAP_PX, s["sign"],
                                                   bool(s["shared_scale"]))
            maps = []
            for (method, result), png in zip(out["results"], overlays):
                rel, steps = result.relative_delta, result.n_steps
                threshold = getattr(result, "completeness_threshold", None)
                maps.append({"method": method, "label": labels.get(method, method), "image": png,
                             "delta": None if rel is None else float(rel.reshape(-1)[0]),
                             "steps": None if steps is None else int(np.asarray(steps).reshape(-1)[0]),
                             "threshold": None if threshold is None else float(threshold)})
            self.attr_result = {"layer": layer, "stimulus": idx, "stimulus_id": stimuli.ids[idx],
                                "target_label": self._target_label(target, out["predicted"]),
                                "input": png_bytes(image.images[0], MAP_PX), "maps": maps, "scale": scale,
                                "sign": s["sign"], "signed": s["sign"] == SIGNED, "skipped": skipped,
                                "pending": pending or []}
            if pending:
                return
            self.keep_figure("attribution", plot_attribution_methods, file_stem(layer, stimuli.ids[idx], "attribution"),
                             results=[r for _, r in out["results"]], images=image,
                             labels=[labels.get(m, m) for m, _ in out["results"]], sign=s["sign"],
                             shared_scale=bool(s["shared_scale"]))
            self.set_code("attribution", "\n".join(
                codegen.with_record(codegen.attribute(idx, m, target, {"layer": layer} if m in LAYER_METHODS else {}),
                                    {"params": getattr(r, "params", None)})
                for m, (_, r) in zip(methods, out["results"])))

        if methods:
            # the maps' display (sign, shared scale) is not in the key: changing it redraws the cached maps
            key = ("attr", layer, idx, repr(target), tuple(methods))
            self.runner.submit("attribution", key, maps_work, show_maps, on_progress=show_partial,
                               priority=PRIORITY["attribution"])
        else:
            self.attr_result = {"layer": layer, "stimulus": idx, "stimulus_id": stimuli.ids[idx], "maps": [],
                                "skipped": skipped}
            self.notice("attribution", "no chosen method applies to this layer: "
                        + "; ".join(f"{x['label']}: {x['note']}" for x in skipped))

        def contrib_work(report: Any, cancel: Any) -> Any:
            report(0.0, "channel contributions")
            return layer_contributions(self.probe, layer, image, target, cancel=cancel)

        def show_contrib(result: Any) -> None:
            channels, values = contribution_bars(result, int(s["top"]))
            classes = getattr(result, "classes", None)
            predicted = int(classes[0]) if classes is not None and len(classes) else None
            self.attr_contrib = {"layer": layer, "stimulus": idx, "target_label": self._target_label(target, predicted),
                                 "channels": channels, "values": values}
            self.keep_figure("contributions", result.plot, file_stem(layer, stimuli.ids[idx], "contributions"),
                             k=int(s["top"]))
            self.set_code("contributions", codegen.layer_contributions(layer, idx, target))

        note = self.reused_note(layer)
        if note:
            self.attr_contrib = {}
            self.notice("contributions", note)
            return
        self.runner.submit("contributions", ("contrib", layer, idx, repr(target)), contrib_work, show_contrib,
                           priority=PRIORITY["contributions"])

    def _run_sanity(self) -> None:
        """The cascading-randomisation sanity check for the current stimulus, target and method."""
        try:
            stimuli = self.require_stimuli("the sanity check")
            target = self._target(self.selected_layer or "")
        except ValueError as err:
            self.fail("sanity", str(err))
            return
        s = self.attr_settings
        idx, method = int(s["stimulus"]), s["sanity_method"]

        def work(report: Any, cancel: Any) -> Any:
            report(0.0, "randomising layers")
            return sanity_check(self.probe, stimuli[idx], method, target, cancel=cancel,
                                                      progress=fraction_progress(report, "layers randomised"))

        def show(result: Any) -> None:
            self.attr_sanity = {"method": method, "stimulus": idx, **sanity_curve(result)}
            self.keep_figure("sanity", result.plot, file_stem("sanity", method, stimuli.ids[idx]))
            self.set_code("sanity", codegen.sanity_check(idx, method, target))

        self.runner.submit("sanity", ("sanity", idx, method, repr(target)), work, show, priority=PRIORITY["sanity"])


class AttributionWidget(AttributionPanel, BaseWidget):
    """Attributions of one model for a stimulus set: maps side by side and a layer's channel contributions.

    >>> w = nw.AttributionWidget(nw.load_model("cifar_resnet20"), stimuli, layer="layer3")
    """

    PANELS = ("attribution",)

    def __init__(self, model: Any, stimuli: Any, *, layer: Optional[str] = None, **settings: Any) -> None:
        BaseWidget.__init__(self, model, stimuli, attr_settings=settings or dict(DEFAULT_SETTINGS))
        self._attr_setup()
        if layer is not None:
            self.select(layer)
