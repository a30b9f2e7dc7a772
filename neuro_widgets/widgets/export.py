"""A widget as one self-contained HTML file: its current state and the bundled front end, no server, no CDN.

The page shows what the widget showed (tabs and layer selection still switch views locally; nothing is
recomputed). Binary buffers are embedded base64-encoded here because a file has no binary channel; the
kernel <-> browser messages themselves never use base64.
"""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Union

from ipywidgets.widgets.widget import _remove_buffers

# Boots the bundle from the inline text (an ES module cannot import an inline <script>), with a model that
# holds the saved state: get/set/on/off/save_changes work locally, send() goes nowhere.
_BOOT = """
const payload = JSON.parse(document.getElementById("nw-state").textContent);
const state = payload.state;
for (const { path, data } of payload.buffers) {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  let obj = state;
  for (const key of path.slice(0, -1)) obj = obj[key];
  obj[path[path.length - 1]] = new DataView(bytes.buffer);
}
const handlers = {};
const model = {
  get: (k) => state[k],
  set: (k, v) => { state[k] = v; (handlers["change:" + k] || []).forEach((f) => f()); },
  on: (ev, f) => { (handlers[ev] = handlers[ev] || []).push(f); },
  off: (ev, f) => { handlers[ev] = (handlers[ev] || []).filter((g) => g !== f); },
  save_changes: () => {},
  send: () => {},
};
const source = document.getElementById("nw-esm").textContent;
const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
const widget = (await import(url)).default;
const el = document.getElementById("nw-widget");
widget.render({ model, el });
el.dataset.ready = "true";
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{css}</style>
<style>body {{ margin: 16px; }}</style></head>
<body>
<div id="nw-widget"></div>
<script type="application/json" id="nw-state">{state}</script>
<script type="text/plain" id="nw-esm">{esm}</script>
<script type="module">{boot}</script>
</body></html>
"""


def _script_text(text: str) -> str:
    """Text safe inside a <script> element (no closing tag can end it early)."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def export_html(widget: Any, path: Union[str, Path]) -> Path:
    """Write ``widget`` (any neuro_widgets widget) as a standalone HTML page; returns the path.

    >>> nw.LayerExplorer(probe, ds, layer="layer3").wait().to_html("layer3.html")
    """
    from .base import BUNDLE, STYLES

    live = widget.get_state()
    if "figures" in live:
        live["figures"] = {}  # no kernel draws them in a saved page: no "save figure" buttons there
    state, buffer_paths, buffers = _remove_buffers(live)
    payload = {"state": state,
               "buffers": [{"path": p, "data": base64.b64encode(bytes(b)).decode("ascii")}
                           for p, b in zip(buffer_paths, buffers)]}
    page = _PAGE.format(title=html.escape(widget.title or "neuro_widgets"), css=STYLES.read_text(),
                        state=_script_text(json.dumps(payload)), esm=_script_text(BUNDLE.read_text()),
                        boot=_BOOT)
    out = Path(path)
    out.write_text(page, encoding="utf-8")
    return out
