"""StudyWidget: a study's model x data set x layer table (click a cell: a LayerExplorer of that model, data set
and layer opens below it), with one progress bar for the study while it runs, and cancel."""
from __future__ import annotations

import math
import threading
import traceback
from typing import Any, Dict, List, Optional

import anywidget
import ipywidgets
import traitlets as t

from ..engine.cache import ActivationCache
from ..engine.describe import brief
from ..engine.progress import Cancelled, CancelToken
from ..study import Study, StudyResult
from ..study.tasks import TaskKey, load_data
from .base import BUNDLE, STYLES, _bundle_missing_error


def _number(x: Any) -> Optional[float]:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def study_table(result: Optional[StudyResult], metric: str, variant: str, region: str) -> Dict[str, Any]:
    """The table the front end draws: one row per (model, data set), a score per layer (forward order), the
    held-out best layer; failed rows carry their error."""
    if result is None:
        return {}
    rows: List[Dict[str, Any]] = []
    regions: List[str] = []
    for model in result.models:
        for data in result.data:
            key = TaskKey(model, data, metric)
            if key not in result.sweeps:
                failed = [f.error for f in result.failures if key in f.keys]
                rows.append({"model": model, "data": data, "status": "failed" if failed else "missing",
                             "error": failed[0] if failed else "", "layers": [], "scores": [], "best": ""})
                continue
            sweep = result.sweeps[key]
            regions.extend(r.region for r in sweep.rows if r.region not in regions)
            chosen = region or next((r.region for r in sweep.rows), "")
            picked = [r for r in sweep.rows if r.model == variant and r.region == chosen]
            best = next((b.layer for b in sweep.best if b.model == variant and b.region == chosen), "")
            rows.append({"model": model, "data": data, "status": "done", "error": "", "region": chosen,
                         "layers": [r.layer for r in picked], "scores": [_number(r.score) for r in picked],
                         "ci": [[_number(r.ci_low), _number(r.ci_high)] for r in picked], "best": best})
    return {"metric": metric, "metrics": list(result.metrics), "variant": variant, "region": region,
            "regions": regions, "rows": rows}


class StudyTable(anywidget.AnyWidget):
    """The front-end half of :class:`StudyWidget` (the ``study`` panel of the shared bundle)."""

    _esm = BUNDLE
    _css = STYLES

    _panels = t.List(t.Unicode(), ["study"]).tag(sync=True)
    title = t.Unicode("").tag(sync=True)
    arrangement = t.Unicode("tabs").tag(sync=True)
    active_tab = t.Unicode("study").tag(sync=True)
    jobs = t.Dict().tag(sync=True)
    #: what the table shows: {"metric", "variant" (trained / random), "region" ("" = each sweep's first)}
    study_view = t.Dict().tag(sync=True)
    study_table = t.Dict().tag(sync=True)
    #: the (model, data, layer) whose LayerExplorer is open below the table
    study_open = t.Dict().tag(sync=True)


class StudyWidget(ipywidgets.VBox):
    """A study's table of layer scores, one row per model x data set; clicking a layer's cell opens a
    LayerExplorer of that model on that data set at that layer (``widget.explorer``), below the table.

    Give a :class:`StudyResult` (shown at once) or a :class:`Study`: it then runs in a background thread with
    one progress bar (tasks done / total, failures) and a cancel button; ``run`` takes ``Study.run``'s
    keywords (``client``, ``n_workers``, ``tasks_per_batch``). ``wait()`` blocks until it has finished.

    >>> w = nw.StudyWidget(study.run())          # or nw.StudyWidget(study, run={"client": "in-process"})
    >>> w.explore("cifar_resnet20", "kriegeskorte2008", "layer3")    # what a click on that cell does
    """

    def __init__(self, study: Any, *, run: Optional[Dict[str, Any]] = None, metric: Optional[str] = None,
                 explorer: Optional[Dict[str, Any]] = None) -> None:
        if not BUNDLE.is_file():
            raise _bundle_missing_error()
        if isinstance(study, StudyResult):
            self.study, self.result = study.study, study
        elif isinstance(study, Study):
            self.study, self.result = study, None
        else:
            raise TypeError(f"StudyWidget takes an nw.Study (to run) or its StudyResult, got {brief(study)}")
        metrics = self.result.metrics if self.result is not None else self.study.metrics
        if metric is not None and metric not in metrics:
            raise ValueError(f"metric {metric!r} is not in this study; it has {metrics}")
        self.table = StudyTable()
        self.explorer: Any = None
        self._explorer_options = dict(explorer or {})
        self._slot = ipywidgets.Box()
        self._cancel = CancelToken()
        self._thread: Optional[threading.Thread] = None
        super().__init__([self.table, self._slot])
        self.table.title = "Study: " + " x ".join(
            f"{n} {w}" for n, w in ((len(self._models()), "models"), (len(self._data_names()), "data sets")))
        self.table.study_view = {"metric": metric or metrics[0], "variant": "trained", "region": ""}
        self.table.on_msg(self._on_message)
        self.table.observe(lambda _c: self._refresh(), names="study_view")
        if self.result is not None:
            self._refresh()
        else:
            self._start(dict(run or {}))

    # ---- the study's run -----------------------------------------------------------------------
    def _models(self) -> List[str]:
        return self.result.models if self.result is not None else [r.name for r in self.study.models]

    def _data_names(self) -> List[str]:
        return self.result.data if self.result is not None else [n for n, _ in self.study.data]

    def _status(self, **status: Any) -> None:
        self.table.jobs = {**self.table.jobs, "study": status}

    def _start(self, run: Dict[str, Any]) -> None:
        if "progress" in run or "cancel" in run:
            raise ValueError("the widget gives the study its own progress bar and cancel button; drop "
                             "progress=/cancel= from run")

        def progress(done: int, total: int, failures: int = 0, **_: Any) -> None:
            failed = f", {failures} failed" if failures else ""
            self._status(state="running", fraction=done / max(total, 1), done=done, total=total, failures=failures,
                         message=f"{done} / {total} tasks{failed}")

        def work() -> None:
            try:
                self.result = self.study.run(progress=progress, cancel=self._cancel, **run)
            except Cancelled:
                self._status(state="cancelled", message="cancelled (finished results are in the study's store)")
                return
            except Exception as err:  # shown in the widget, with the traceback on demand
                self._status(state="error", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc())
                return
            n = len(self.result.failures)
            self._status(state="done", message=f"{len(self.result.sweeps)} sweeps" + (f", {n} failed" if n else ""))
            self._refresh()

        self._status(state="running", fraction=0.0, message="starting")
        self._thread = threading.Thread(target=work, name="nw-study", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Stop the study (what finished stays in its store)."""
        self._cancel.cancel()

    def wait(self, timeout: float = 600.0) -> "StudyWidget":
        """Block until the study's run has ended (or ``timeout`` seconds)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self

    def _refresh(self) -> None:
        view = self.table.study_view
        self.table.study_table = study_table(self.result, view.get("metric", ""), view.get("variant", "trained"),
                                             view.get("region", ""))

    # ---- front-end actions ---------------------------------------------------------------------
    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        try:
            if action == "open":
                self.explore(content.get("model"), content.get("data"), content.get("layer"))
            elif action == "cancel" and content.get("slot") == "study":
                self.cancel()
            else:
                raise ValueError(f"unknown or malformed front-end message {brief(content)}; expected "
                                 "{'action': 'open', 'model', 'data', 'layer'} or {'action': 'cancel', 'slot': "
                                 "'study'}")
        except (TypeError, ValueError, KeyError) as err:
            self._status(state="error", error=str(err), traceback="")

    def explore(self, model: str, data: str, layer: str) -> Any:
        """Open a LayerExplorer of ``model`` on ``data`` at ``layer`` below the table (and return it)."""
        from .explorer import LayerExplorer

        if self.study is None:
            raise ValueError("this StudyResult does not know its Study's models and data sets (it was not made "
                             "by Study.run); open a LayerExplorer yourself")
        recipe = next((r for r in self.study.models if r.name == model), None)
        source = next((d for n, d in self.study.data if n == data), None)
        if recipe is None or source is None:
            raise KeyError(f"no model {model!r} / data set {data!r} in this study; it has models "
                           f"{[r.name for r in self.study.models]} and data {[n for n, _ in self.study.data]}")
        if not isinstance(layer, str):
            raise TypeError(f"layer must be a layer name, got {brief(layer)}")
        probe = recipe.build(ActivationCache(self.study._cache_bytes()))
        self.explorer = LayerExplorer(probe, load_data(source), layer=layer, **self._explorer_options)
        self.table.study_open = {"model": model, "data": data, "layer": layer}
        self._slot.children = [self.explorer]
        return self.explorer
