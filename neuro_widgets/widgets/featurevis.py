"""The optimal-stimuli panel: a paged contact sheet of a layer's channels, and one channel in detail."""
from __future__ import annotations

import math
import time
from typing import Any, Dict, List, Optional

import numpy as np
import traitlets as t

from ..engine.featurevis import dataset_examples, render_layer
from ..engine.featurevis.param import PARAM_KINDS
from ..engine.progress import Cancelled
from . import codegen
from .base import PRIORITY, Action, BaseWidget, as_trait_error, merge_settings
from .codec import check_message_size, png_bytes, png_list
from .engines import example_rows, fraction_progress
from .figure_export import file_stem

SHEET_PX = 96  # contact-sheet tiles are sent at most this large
DETAIL_PX = 224
#: progressive images of a forming sheet: the first as soon as there are any, then after PREVIEW_INTERVAL seconds,
#: each wait PREVIEW_GROWTH times the last up to PREVIEW_MAX (early steps change the images most; every preview
#: costs the kernel its PNGs and the browser their decoding, which a 2-core machine takes from the render)
PREVIEW_INTERVAL = 0.5
PREVIEW_GROWTH = 1.5
PREVIEW_MAX = 3.0


class PreviewPace:
    """Says when the next preview of a forming sheet is due (see PREVIEW_INTERVAL)."""

    def __init__(self) -> None:
        self.last, self.wait = -math.inf, 0.0

    def due(self, now: float) -> bool:
        if now - self.last < self.wait:
            return False
        self.last = now
        self.wait = min(max(self.wait * PREVIEW_GROWTH, PREVIEW_INTERVAL), PREVIEW_MAX)
        return True


#: channels per contact-sheet page: at <= SHEET_PX pixels a tile, a page stays far below the message limit
MAX_PAGE = 64

DEFAULT_SETTINGS: Dict[str, Any] = {"steps": 128, "image_size": None, "param": next(iter(PARAM_KINDS)),
                                    "transforms": True, "seed": 0, "page_size": 32, "k": 6}


def check_settings(settings: Dict[str, Any]) -> Dict[str, Any]:
    """Validated render settings (clear errors for values the front end or a user got wrong)."""
    out = merge_settings(DEFAULT_SETTINGS, settings, "optimal-stimulus")
    if isinstance(out["page_size"], (int, np.integer)) and out["page_size"] > MAX_PAGE:
        raise ValueError(f"page_size must be at most {MAX_PAGE} channels (one page is one message), "
                         f"got {out['page_size']}")
    for key in ("steps", "image_size", "page_size", "k"):
        if key == "image_size" and out[key] is None:
            continue  # the model's input size
        if not isinstance(out[key], (int, np.integer)) or isinstance(out[key], bool) or out[key] < 1:
            raise ValueError(f"{key} must be a positive integer, got {out[key]!r}")
    if out["param"] not in PARAM_KINDS:
        raise ValueError(f"param must be one of {list(PARAM_KINDS)}, got {out['param']!r}")
    if not isinstance(out["seed"], (int, np.integer)) or out["seed"] < 0:
        raise ValueError(f"seed must be a non-negative integer, got {out['seed']!r}")
    out["transforms"] = bool(out["transforms"])
    return out


def layer_channels(widget: BaseWidget, layer: str) -> int:
    shape = widget.probe.layer(layer).output_shape
    if not shape:
        raise ValueError(f"layer {layer!r} does not output a tensor, so it has no channels to visualise")
    return int(shape[0])


def render_kwargs(settings: Dict[str, Any]) -> Dict[str, Any]:
    """Widget settings -> engine keyword arguments (``page_size`` and ``k`` are the widget's own)."""
    size = settings["image_size"]
    return {"steps": settings["steps"], "size": None if size is None else (size, size), "param": settings["param"],
            "transforms": "standard" if settings["transforms"] else None, "seed": settings["seed"]}


def result_values(result: Any) -> List[float]:
    """The activation each final image gives its own channel."""
    return [float(x) for x in np.asarray(result.activations, dtype=np.float64).ravel()]


class FeatureVisPanel(t.HasTraits):
    """Mixin: optimal stimuli for the selected layer (the widget must be a :class:`BaseWidget`)."""

    fv_settings = t.Dict().tag(sync=True)
    #: the engine's image parameterizations for the picker: [{"name", "label"}]
    fv_params = t.List(t.Dict(), [{"name": k, "label": v} for k, v in PARAM_KINDS.items()]).tag(sync=True)
    fv_page = t.Int(0).tag(sync=True)
    #: {"layer", "page", "n_pages", "n_channels", "channels", "images": [PNG], "values", "final"}
    fv_sheet = t.Dict().tag(sync=True)
    fv_channel = t.Int(-1).tag(sync=True)
    #: {"layer", "channel", "image": PNG, "value", "curve": [...], "top": [...], "bottom": [...]}
    fv_detail = t.Dict().tag(sync=True)

    @t.default("fv_settings")
    def _fv_default(self) -> Dict[str, Any]:
        return dict(DEFAULT_SETTINGS)

    @t.validate("fv_settings")
    def _fv_validate(self, proposal: Any) -> Dict[str, Any]:
        return as_trait_error(check_settings, dict(proposal["value"]))

    @t.observe("fv_page")
    def _fv_page_changed(self, change: Any) -> None:
        if self.selected_layer:
            self._run_sheet(self.selected_layer)

    @t.observe("fv_channel")
    def _fv_channel_changed(self, change: Any) -> None:
        if self.selected_layer and change["new"] >= 0:
            self._run_detail(self.selected_layer, change["new"])

    def actions(self) -> Dict[str, Action]:
        return {**super().actions(), "run_featurevis": Action(self._rerun_sheet, "featurevis"),
                "open_channel": Action(self._open_channel_message, "featurevis_detail")}

    def layer_views(self) -> Dict[str, Any]:
        return {**super().layer_views(), "featurevis": self._layer_featurevis}

    def _layer_featurevis(self, layer: str) -> None:
        self.fv_detail = {}
        self.runner.post("featurevis_detail", {"state": "idle"})  # the previous layer's channel view stops
        note = self.reused_note(layer)
        if note:
            self.fv_sheet = {}
            self.notice("featurevis", note)
            return
        if self.fv_page != 0:
            self.fv_page = 0  # the observer starts the sheet
        else:
            self._run_sheet(layer)
        if self.fv_channel != -1:
            self.fv_channel = -1

    def _rerun_sheet(self) -> None:
        if self.selected_layer:
            self._run_sheet(self.selected_layer)

    # ---- contact sheet ------------------------------------------------------------------------------
    def _run_sheet(self, layer: str) -> None:
        try:
            n = layer_channels(self, layer)
        except ValueError as err:
            self.fv_sheet = {}
            self.fail("featurevis", str(err))
            return
        s = self.fv_settings
        n_pages = -(-n // s["page_size"])
        page = min(max(self.fv_page, 0), n_pages - 1)
        channels = list(range(page * s["page_size"], min(n, (page + 1) * s["page_size"])))
        head = {"layer": layer, "page": page, "n_pages": n_pages, "n_channels": n, "channels": channels}
        self.fv_sheet = {**head, "images": [], "values": [], "final": False}
        kwargs = render_kwargs(s)
        pace = PreviewPace()

        def work(report: Any, cancel: Any) -> Any:
            to_job = fraction_progress(report, "step")

            def progress(done: float, total: float, **extra: Any) -> None:
                if extra.get("images") is not None:  # the first images are out: the click's other views now first
                    cancel.lower_to(PRIORITY["featurevis"])
                to_job(done, total, **extra)

            call = {**kwargs, "channels": channels, "progress": progress, "cancel": cancel}
            result = render_layer(self.probe, layer, **call)
            if result.cancelled:  # keep what formed so far on screen, but never cache a partial sheet
                still_shown = {k: self.fv_sheet.get(k) for k in head} == head  # not superseded by another page
                if len(result.images) and still_shown:
                    self.fv_sheet = {**head, "images": png_list(result.images, SHEET_PX),
                                     "values": result_values(result), "final": False}
                raise Cancelled("the render was cancelled")
            return result

        def preview(images: Any = None, **_: Any) -> None:
            if images is None or not pace.due(time.monotonic()):
                return
            self.fv_sheet = {**head, "images": png_list(images, SHEET_PX), "values": [], "final": False}

        def show(result: Any) -> None:
            self.fv_sheet = check_message_size(
                {**head, "images": png_list(result.images, SHEET_PX), "values": result_values(result), "final": True},
                "the contact-sheet page")
            self.keep_figure("featurevis", result.plot, file_stem(layer, f"channels{channels[0]}-{channels[-1]}"))
            self.set_code("featurevis", codegen.with_record(codegen.render_layer(layer, channels, kwargs),
                                                            result.settings))

        key = ("fv_sheet", layer, tuple(channels), tuple(sorted(kwargs.items())))
        self.runner.submit("featurevis", key, work, show, on_progress=preview, priority=PRIORITY["featurevis_first"])

    # ---- one channel ----------------------------------------------------------------------------------
    def _run_detail(self, layer: str, channel: int) -> None:
        try:
            n = layer_channels(self, layer)
            if not 0 <= channel < n:
                raise ValueError(f"channel {channel} is out of range: layer {layer!r} has {n} channels")
        except ValueError as err:
            self.fail("featurevis_detail", str(err))
            return
        s = self.fv_settings
        kwargs = render_kwargs(s)
        stimuli = self.stimuli

        def work(report: Any, cancel: Any) -> Dict[str, Any]:
            """The dataset examples first (shown at once: the stimuli's activations are usually cached), then the
            channel's render."""
            examples = None
            if stimuli is not None:
                ex_key = ("fv_examples", layer, s["k"])
                examples = self.runner.cached(ex_key)
                if examples is None:
                    examples = dataset_examples(self.probe, layer, stimuli, k=s["k"], cancel=cancel)
                    self.runner.remember(ex_key, examples)
                report(0.1, "dataset examples", examples=examples)

            def progress(done: float, total: float, **_: Any) -> None:
                report(0.1 + 0.9 * done / max(total, 1), f"step {int(done)}/{int(total)}")

            call = {**kwargs, "channels": [channel], "progress": progress, "cancel": cancel}
            result = render_layer(self.probe, layer, **call)
            if result.cancelled:
                raise Cancelled("the render was cancelled")
            return {"render": result, "examples": examples}

        def rows(examples: Any) -> Dict[str, Any]:
            top, bottom = example_rows(examples, channel) if examples is not None else ([], [])
            return {"layer": layer, "channel": channel, "top": top, "bottom": bottom,
                    "description": f"{layer} channel {channel}: mean activation over space"}

        def preview(examples: Any = None, **_: Any) -> None:
            if examples is not None:  # the render is still running: no image yet
                self.fv_detail = {**rows(examples), "image": None, "value": None, "curve": []}

        def show(out: Dict[str, Any]) -> None:
            result = out["render"]
            curve = np.asarray(result.values, dtype=np.float64)
            image = np.asarray(result.images[0])
            # a small render is sent as it is (the front end upsamples it smoothly), a large one shrunk to DETAIL_PX
            self.fv_detail = {**rows(out["examples"]), "image": png_bytes(image, min(DETAIL_PX, max(image.shape[:2]))),
                              "size": [int(image.shape[0]), int(image.shape[1])],
                              "value": result_values(result)[0],
                              "curve": [float(v) for v in curve[:, 0]] if curve.ndim == 2 and curve.size else []}
            self.keep_figure("featurevis_detail", result.plot, file_stem(layer, f"channel{channel}"),
                             labels=[f"{layer} channel {channel}"], smooth=True)
            self.set_code("featurevis_detail", codegen.with_record(
                codegen.channel_detail(layer, channel, kwargs, s["k"], stimuli is not None), result.settings))

        key = ("fv_detail", layer, channel, tuple(sorted(kwargs.items())), s["k"])
        self.runner.submit("featurevis_detail", key, work, show, on_progress=preview,
                           priority=PRIORITY["featurevis_detail"])

    def open_channel(self, channel: int) -> None:
        """Show one channel of the selected layer in detail (as a click on its tile or bar does)."""
        self.active_tab = "featurevis" if "featurevis" in self._panels else self.active_tab
        if self.fv_channel == channel:
            self._run_detail(self.selected_layer, channel)
        else:
            self.fv_channel = channel

    def _open_channel_message(self, channel: int) -> None:
        self.open_channel(int(channel))


class FeatureVisWidget(FeatureVisPanel, BaseWidget):
    """Optimal stimuli of one model's layers: a layer picker, the paged contact sheet and a channel view.

    >>> w = nw.FeatureVisWidget(nw.load_model("cifar_resnet20"), nw.datasets.kriegeskorte2008().stimuli,
    ...                         layer="layer3", steps=64)
    """

    PANELS = ("featurevis",)

    def __init__(self, model: Any, stimuli: Any = None, *, layer: Optional[str] = None, **settings: Any) -> None:
        BaseWidget.__init__(self, model, stimuli, layer=layer, fv_settings=check_settings(settings))
