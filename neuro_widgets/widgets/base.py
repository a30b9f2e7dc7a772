"""The shared base of every neuro_widgets widget: front-end bundle, inputs, layer list, jobs and actions.

Each widget is one ``anywidget.AnyWidget`` whose front end (``js/src``, bundled into ``static/``) draws the
panels listed in ``_panels``. Panels are mixins (``featurevis.py``, ``attribution.py``, …) that add their own
traits and handlers; :class:`~neuro_widgets.widgets.explorer.LayerExplorer` combines all of them. A panel lists its
handlers in two explicit tables, each extending ``super()``'s: :meth:`BaseWidget.actions` (front-end action name
-> method) and :meth:`BaseWidget.layer_views` (panel -> what a layer click starts there).

Data flow, one way only: front-end event (a trait change or a ``{"action": ...}`` message) -> engine call in a
worker thread (:mod:`.jobs`) -> result object -> trait values (PNG bytes, arrays through :mod:`.codec`) -> the
front end renders them.
"""
from __future__ import annotations

import inspect
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import anywidget
import traitlets as t

from ..engine.describe import brief
from ..engine.hooks import layer_name
from ..engine.probe import Probe
from ..engine.stimuli import StimulusSet
from .figure_export import FigureExport
from .jobs import JobRunner, model_gate

STATIC = Path(__file__).resolve().parent.parent / "static"
BUNDLE = STATIC / "widget.js"
STYLES = STATIC / "widget.css"

#: stimulus thumbnails travel in pages of this many (a strip, dataset examples and RDM hover use them)
THUMB_PAGE = 128
THUMB_SIZE = 48


def _bundle_missing_error() -> RuntimeError:
    return RuntimeError(
        f"the widgets' front-end bundle is missing ({BUNDLE}). It is built when the package is installed "
        "(pip install -e .); to build it by hand run `npm ci && npm run build` in the js/ folder."
    )


#: which panel's status line reports a bad value the front end sent for a trait
TRAIT_SLOT = {"fv_settings": "featurevis", "fv_page": "featurevis", "fv_channel": "featurevis_detail",
              "attr_settings": "attribution", "align_settings": "alignment", "rdm_region": "rdm"}


#: the order in which a click's views get the model (lower first); a long render lets the views ranked before it
#: run between its steps, and the alignment panel's random control waits for the contact sheet. The sheet starts
#: ahead of everything ("featurevis_first") until its first images are out, then ranks as "featurevis".
PRIORITY = {"featurevis_first": -1, "attribution": 0, "alignment": 0, "rdm": 1, "contributions": 1,
            "featurevis_detail": 2, "featurevis": 3, "sanity": 3, "alignment_control": 4}


class Action(NamedTuple):
    """One front-end action: the method it calls with the message's fields, and the panel status line that
    reports a malformed or refused call (None: the ``slot`` the message names, else the widget's own)."""

    run: Callable[..., None]
    slot: Optional[str] = None


def merge_settings(defaults: Dict[str, Any], settings: Dict[str, Any], what: str) -> Dict[str, Any]:
    """``defaults`` updated with ``settings``; an unknown key is an error naming the known ones."""
    unknown = sorted(set(settings) - set(defaults))
    if unknown:
        raise ValueError(f"unknown {what} settings {unknown}; known: {sorted(defaults)}")
    return {**defaults, **settings}


def as_trait_error(check: Any, *args: Any) -> Any:
    """``check(*args)`` with its ValueError/TypeError raised as a TraitError, so that traitlets rolls back a
    rejected front-end change instead of keeping it."""
    try:
        return check(*args)
    except (ValueError, TypeError) as err:
        raise t.TraitError(str(err)) from err


def as_probe(model: Any) -> Probe:
    """A Probe from a Probe or a zoo name; a bare module gets a message on how to wrap it."""
    if isinstance(model, Probe):
        return model
    if isinstance(model, str):
        from ..zoo.registry import load_model

        return load_model(model)
    import torch

    if isinstance(model, torch.nn.Module):
        raise TypeError(
            "give the widget a Probe, which knows the model's input size and normalisation: "
            "nw.Probe(model, nw.InputSpec(size=(224, 224), mean=..., std=...)), or a zoo name "
            "such as 'cifar_resnet20'"
        )
    raise TypeError(f"expected an nw.Probe or a zoo model name, not {type(model).__name__}")


def split_data(data: Any, neural: Any = None) -> Tuple[Optional[StimulusSet], Any, str]:
    """(stimuli, neural data or None, name) from a Dataset, a StimulusSet, or None; ``neural`` (RDM- or
    response-level) overrides the data set's own."""
    if neural is not None and not hasattr(neural, "regions"):
        raise TypeError(f"neural must be neural data with regions (nw.NeuralRDMs or NeuralResponses), "
                        f"not {type(neural).__name__}")
    if data is None:
        return None, neural, ""
    if isinstance(data, StimulusSet):
        return data, neural, data.name
    stimuli = getattr(data, "stimuli", None)
    if isinstance(stimuli, StimulusSet):
        if neural is None:
            found = getattr(data, "neural", None)
            neural = found if hasattr(found, "regions") else None
        return stimuli, neural, getattr(data, "name", stimuli.name)
    raise TypeError(
        f"data must be an nw.StimulusSet or a data set with .stimuli (and .neural), such as "
        f"nw.datasets.kriegeskorte2008(); got {type(data).__name__}"
    )


def layer_rows(probe: Probe) -> List[Dict[str, Any]]:
    """The layer tree as the front end shows it (forward order; the tree is rebuilt from the dotted names)."""
    return [{"name": info.name, "type": info.type,
             "shape": list(info.output_shape) if info.output_shape is not None else None,
             "params": info.n_params, "calls": info.calls, "depth": info.depth}
            for info in probe.layers()]


class BaseWidget(FigureExport, anywidget.AnyWidget):
    """Inputs, layer list, selection, job status, stimulus thumbnails and the action dispatcher."""

    _esm = BUNDLE
    _css = STYLES

    _panels = t.List(t.Unicode()).tag(sync=True)
    title = t.Unicode("").tag(sync=True)
    layers = t.List(t.Dict()).tag(sync=True)
    selected_layer = t.Unicode("").tag(sync=True)
    # "tabs" | "stacked"; not named ``layout``, which ipywidgets front ends read as a Layout model reference
    arrangement = t.Unicode("tabs").tag(sync=True)
    active_tab = t.Unicode("").tag(sync=True)
    #: slot -> {"state": idle|running|done|error|cancelled, "fraction", "message", "error", "traceback", ...}
    jobs = t.Dict().tag(sync=True)
    #: panel -> the engine call that reproduces what it shows ("copy as code")
    code = t.Dict().tag(sync=True)
    #: stimulus thumbnails, one page: {"n", "start", "ids", "images": [PNG bytes]}
    thumbs = t.Dict().tag(sync=True)
    thumb_page = t.Int(0).tag(sync=True)

    PANELS: Tuple[str, ...] = ()

    def __init__(self, model: Any, data: Any = None, *, neural: Any = None, layer: Optional[str] = None,
                 arrangement: str = "tabs", **kwargs: Any) -> None:
        if not BUNDLE.is_file():
            raise _bundle_missing_error()
        if arrangement not in ("tabs", "stacked"):
            raise ValueError(f"arrangement must be 'tabs' or 'stacked', got {arrangement!r}")
        self.probe = as_probe(model)
        self.stimuli, self.neural, self.data_name = split_data(data, neural)
        self._status_lock = threading.Lock()
        self.runner = JobRunner(self._set_status, gate=model_gate(self.probe.module))
        super().__init__(**kwargs)
        self._panels = list(self.PANELS)
        self.arrangement = arrangement
        self.active_tab = next((p for p in self.PANELS if p != "tree"), "")
        self.title = self.probe.name + (f" · {self.data_name}" if self.data_name else "")
        self.layers = layer_rows(self.probe)
        self.jobs = {}
        self._thumb_pages: Dict[int, List[bytes]] = {}
        self._send_thumbs()
        if "featurevis" in self.PANELS:
            _warm_up_optimizers()
        self.on_msg(self._on_custom)
        self.observe(self._on_layer, names="selected_layer")
        self.observe(lambda _c: self._send_thumbs(), names="thumb_page")
        if layer is not None:
            self.probe.layer(layer)  # unknown layer -> a clear error before anything runs
            self.selected_layer = layer

    # ---- the panels' entry points --------------------------------------------------------------------
    def actions(self) -> Dict[str, Action]:
        """The front end's ``{"action": name, **fields}`` messages and what each calls. Every panel mixin adds
        its own to ``super().actions()`` (the mixins come before :class:`BaseWidget` in a widget's bases)."""
        return {"cancel": Action(self._cancel), "select": Action(self._select), "tab": Action(self._tab),
                "ping": Action(self._ping), "save_figure": Action(self._save_figure)}

    def layer_views(self) -> Dict[str, Callable[[str], None]]:
        """Panel name -> what it starts when a layer is selected; every panel mixin adds its own entry to
        ``super().layer_views()``."""
        return {}

    # ---- job status -------------------------------------------------------------------------------
    def _set_status(self, slot: str, status: Dict[str, Any]) -> None:
        with self._status_lock:
            self.jobs = {**self.jobs, slot: status}

    def to_html(self, path: Any) -> Any:
        """Save what the widget shows as one self-contained HTML file (see :mod:`.export`)."""
        from .export import export_html

        return export_html(self, path)

    def wait(self, timeout: float = 120.0) -> "BaseWidget":
        """Block until every running job has finished (for scripts and tests)."""
        self.runner.wait(timeout)
        return self

    def fail(self, slot: str, message: str) -> None:
        """Show a message in a panel's status line as an error that needs no traceback (e.g. unknown layer);
        the slot's running job is superseded."""
        self.runner.post(slot, {"state": "error", "error": message})

    def hidden(self, panel: str) -> bool:
        """True while ``panel`` sits in a tab that is not shown (lazy panels wait to be opened)."""
        return self.arrangement == "tabs" and self.active_tab != panel

    def stale_layer(self, panel: str, result: Dict[str, Any]) -> Optional[str]:
        """The selected layer when lazy ``panel`` is now shown but ``result`` is of another layer, else None."""
        layer = self.selected_layer
        if layer and panel in self._panels and not self.hidden(panel) and result.get("layer") != layer:
            return layer
        return None

    def reused_note(self, layer: str) -> Optional[str]:
        """Why a layer's own views skip a module that runs several times per forward pass (None when it runs
        once): a shared module (e.g. one activation object used by every block) has no single output to show."""
        calls = self.probe.layer(layer).calls
        if calls <= 1:
            return None
        return (f"{layer!r} is one module run {calls} times per forward pass (shared by several blocks), so it has "
                f"no single output to show here; click a block that uses it, or name one call from code: "
                f"'{layer}@0' … '{layer}@{calls - 1}'")

    def notice(self, slot: str, message: str) -> None:
        """Explain in a panel why it has nothing to show (not an error: e.g. no neural data was given)."""
        self.runner.post(slot, {"state": "notice", "message": message})

    def set_code(self, panel: str, text: str) -> None:
        with self._status_lock:  # worker threads of several panels write here
            self.code = {**self.code, panel: text}

    # ---- inputs -----------------------------------------------------------------------------------
    def require_stimuli(self, what: str) -> StimulusSet:
        if self.stimuli is None:
            raise ValueError(f"{what} needs stimuli: build the widget with a StimulusSet or a data set, "
                             "e.g. nw.LayerExplorer(probe, nw.datasets.kriegeskorte2008())")
        return self.stimuli

    def _send_thumbs(self) -> None:
        if self.stimuli is None:
            self.thumbs = {"n": 0, "start": 0, "ids": [], "images": []}
            return
        n = len(self.stimuli)
        page = min(max(self.thumb_page, 0), max(0, (n - 1) // THUMB_PAGE))
        start, stop = page * THUMB_PAGE, min(n, (page + 1) * THUMB_PAGE)
        if page not in self._thumb_pages:  # only the pages the front end shows are encoded
            self._thumb_pages[page] = self.stimuli[start:stop].thumbnails(THUMB_SIZE)
        self.thumbs = {"n": n, "start": start, "ids": self.stimuli.ids[start:stop], "images": self._thumb_pages[page]}

    # ---- events -----------------------------------------------------------------------------------
    def set_state(self, sync_data: Dict[str, Any]) -> None:
        """A front-end change; a value the kernel rejects is reported in the panel and the front end reset."""
        try:
            super().set_state(sync_data)
        except (t.TraitError, ValueError, TypeError) as err:
            slot = next((TRAIT_SLOT[k] for k in sync_data if k in TRAIT_SLOT), "widget")
            self.fail(slot, str(err))
            self.send_state(list(sync_data))

    def select(self, layer: str) -> "BaseWidget":
        """Select a layer as a click in the tree does (the panels start their jobs)."""
        self.probe.layer(layer)
        self.selected_layer = layer
        return self

    def _on_layer(self, change: Dict[str, Any]) -> None:
        layer = change["new"]
        if not layer:
            return
        try:
            self.probe.layer(layer)
        except (KeyError, ValueError) as err:
            for panel in self._panels:
                if panel != "tree":
                    self.fail(panel, str(err))
            return
        views = self.layer_views()
        order = sorted(self._panels, key=lambda p: (p != self.active_tab, self._panels.index(p)))
        for panel in order:
            if panel in views:
                views[panel](layer)

    def _on_custom(self, _widget: Any, content: Any, buffers: List[Any]) -> None:
        """A ``{"action": ..., **fields}`` message from the front end; a malformed one (not an object, no or
        an unknown action, missing, unknown or wrongly typed fields) is shown as an error in the panel it
        concerns (the widget's own status line otherwise), never only logged."""
        if not isinstance(content, dict) or not isinstance(content.get("action"), str):
            self.fail("widget", f"the front end sent a message without an action name: {brief(content)}")
            return
        action = content["action"]
        fields = {k: v for k, v in content.items() if k != "action"}
        table = self.actions()
        known = table.get(action)
        slot = (known.slot if known is not None else None) or (
            fields["slot"] if isinstance(fields.get("slot"), str) else "widget")
        if known is None:
            self.fail(slot, f"unknown front-end action {action!r}; known: {sorted(table)}")
            return
        handler = known.run
        try:
            inspect.signature(handler).bind(**fields)
        except TypeError as err:
            self.fail(slot, f"the front end sent a malformed {action!r} action ({err}); fields: {sorted(fields)}")
            return
        try:
            handler(**fields)
        except (t.TraitError, TypeError, ValueError, KeyError) as err:
            self.fail(slot, f"the front end's {action!r} action was refused: {err}")

    def _cancel(self, slot: str) -> None:
        if not isinstance(slot, str):
            raise TypeError(f"slot must be a panel's job slot name (a string), got {brief(slot)}")
        self.runner.cancel(slot)

    def _select(self, layer: str) -> None:
        self.selected_layer = layer_name(layer, "layer")  # an unknown name: every panel says so

    def _tab(self, tab: str) -> None:
        self.active_tab = tab

    def _ping(self, token: Any = None) -> None:
        """Answer at once: the bare front end -> kernel -> front end round trip (the latency floor)."""
        self.send({"pong": token})


def _warm_up_optimizers() -> None:
    """torch's first optimizer construction imports its compiler stack (seconds, once per process): done while
    the widget's cell runs rather than on the first render."""
    import torch

    torch.optim.Adam([torch.zeros(1, requires_grad=True)])
