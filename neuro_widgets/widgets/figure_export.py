"""The widgets' figures: matplotlib's colour tables for the front end, and "save figure" per panel.

One colour source: the front end draws RDMs, maps and signed bars with the 256-entry tables of the same
matplotlib colour maps the publication figures use (:mod:`neuro_widgets.figures.style`), sent once in
``colormaps``. One figure source: a panel's "save figure" button asks the kernel for the figure its last result
draws with ``.plot()`` (the same function a user calls), written as PNG at print resolution or as SVG, and
sent back as bytes that the front end offers as a download.
"""
from __future__ import annotations

import re
import threading
from typing import Any, Callable, Dict, Optional, Tuple

import traitlets as t

from ..engine.attribution.display import colormap
from ..figures import SIGNED_CMAP, UNSIGNED_CMAP, to_bytes

#: what the buttons offer: PNG at print resolution and SVG (text stays text)
FORMATS = {"png": "image/png", "svg": "image/svg+xml"}
PRINT_DPI = 300
#: panels whose figure belongs to the selected layer (the sanity check and the alignment sweep span the model)
LAYER_PANELS = ("featurevis", "featurevis_detail", "attribution", "contributions", "rdm", "physiology",
                "physiology_channel", "physiology_category", "neurons", "neurons_want")
#: worker threads of several panels keep figures at once (one lock for all widgets: the updates are tiny)
_SOURCES_LOCK = threading.Lock()


def colour_tables() -> Dict[str, Dict[str, Any]]:
    """{"signed"|"unsigned": {"name", "table": 768 bytes (256 RGB entries)}} of the house colour maps."""
    return {role: {"name": name, "table": colormap(name).tobytes()}
            for role, name in (("signed", SIGNED_CMAP), ("unsigned", UNSIGNED_CMAP))}


def file_stem(*parts: Any) -> str:
    """A file name from its parts (layer names, channel numbers): letters, digits, '.', '-' and '_' only."""
    text = "_".join(str(p) for p in parts if p not in (None, ""))
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "figure"


class FigureExport(t.HasTraits):
    """Mixin of :class:`~neuro_widgets.widgets.base.BaseWidget`: colour tables, and per panel the figure of
    what it shows last (``keep_figure``, called where a panel shows a result)."""

    #: the house colour maps as 256-entry RGB tables (see :func:`colour_tables`)
    colormaps = t.Dict().tag(sync=True)
    #: panel -> file stem of the figure it can save now (the front end shows its "save figure" buttons)
    figures = t.Dict().tag(sync=True)
    #: panel -> (plot function, its keyword arguments); kernel side only
    _figure_sources = t.Dict()

    @t.default("colormaps")
    def _colormaps_default(self) -> Dict[str, Dict[str, Any]]:
        return colour_tables()

    @t.observe("selected_layer")
    def _figures_follow_layer(self, change: Any) -> None:
        """A new layer: the old layer's figures go (observers run in order, so this precedes the panels'
        jobs, whose cached results keep their figures again at once)."""
        for panel in LAYER_PANELS:
            self.drop_figure(panel)

    @t.observe("jobs")
    def _figures_follow_jobs(self, change: Any) -> None:
        """A panel starting a new job shows no result yet: its previous figure is not offered meanwhile. Only
        a job's first status drops it: the job's own result keeps the new figure while the job still reports
        "running", and another panel's status must not take that figure away again."""
        old = change["old"] or {}
        for slot, status in change["new"].items():
            started = status.get("state") == "running" and status.get("job") != old.get(slot, {}).get("job")
            if started and slot in self.figures:
                self.drop_figure(slot)

    def keep_figure(self, panel: str, plot: Callable[..., Any], stem: str, **kwargs: Any) -> None:
        """Remember how to draw ``panel``'s figure: ``plot(**kwargs)`` (a result's ``.plot`` or a
        ``neuro_widgets.figures`` function) returns it; ``stem`` names the downloaded file."""
        with _SOURCES_LOCK:
            self._figure_sources = {**self._figure_sources, panel: (plot, kwargs)}
            self.figures = {**self.figures, panel: stem}

    def drop_figure(self, panel: str) -> None:
        """``panel`` shows nothing now (a new layer is computing): its old figure is not offered."""
        with _SOURCES_LOCK:
            if panel in self._figure_sources:
                self._figure_sources = {k: v for k, v in self._figure_sources.items() if k != panel}
            if panel in self.figures:
                self.figures = {k: v for k, v in self.figures.items() if k != panel}

    def figure(self, panel: str) -> Any:
        """The matplotlib Figure of what ``panel`` shows (as its result's ``.plot()`` draws it)."""
        source: Optional[Tuple[Callable[..., Any], Dict[str, Any]]] = self._figure_sources.get(panel)
        if source is None:
            shown = sorted(self._figure_sources)
            raise ValueError(f"panel {panel!r} has no figure to save yet (wait for its result); panels with one: "
                             f"{shown}")
        plot, kwargs = source
        return plot(**kwargs)

    def figure_bytes(self, panel: str, fmt: str = "png") -> bytes:
        """``panel``'s figure as a PNG (at PRINT_DPI) or SVG file's bytes."""
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {sorted(FORMATS)}, got {fmt!r}")
        return to_bytes(self.figure(panel), fmt, PRINT_DPI)

    def _save_figure(self, panel: str, format: str) -> None:  # noqa: A002 - the front end's field name
        """Draw and send the figure; the front end turns the bytes into a download named ``filename``. A
        refusal is shown in the panel's status line."""
        if not isinstance(panel, str) or not isinstance(format, str):
            raise TypeError(f"save_figure needs a panel name and a format (strings), got {panel!r}, {format!r}")
        try:
            data = self.figure_bytes(panel, format)
        except ValueError as err:
            self.fail(panel, f"save figure: {err}")
            return
        self.send({"figure": {"panel": panel, "format": format, "mime": FORMATS[format],
                              "filename": f"{self.figures.get(panel, 'figure')}.{format}"}}, [data])
