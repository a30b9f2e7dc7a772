"""The LayerExplorer at 224 px in JupyterLab (headless Chromium): what a click on a layer of an ImageNet model
costs, measured inside the page with ``performance.now()`` as the end-to-end test does.

MobileNetV1 x0.25 (or ``--model efficientnet_lite0``) with the 92-image set, default panel settings except a
16-channel sheet page. For each clicked layer: click -> first optimal-stimulus images (a preview of the forming
sheet), -> the complete 16-channel sheet, -> the first attribution maps of the selected stimulus (the one-pass
methods, shown while the path methods run), -> all of its maps, -> the channel
contributions, -> alignment scores; then a click on channel 0 -> its large view with dataset examples.
Targets (issue 12): first images <= 1 s, dataset examples and attribution maps <= 3 s, alignment <= 5 s, complete
sheet <= 30 s. The kernel round trip (a ``ping`` answered at once) is the floor.

    .venv/bin/python benchmarks/browser_timing_224.py [--model mobilenet_v1_025] [--layers stage1 stage2 stage3]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from e2e.lab import (browser_page, install_timing_probe, jupyter_lab, notebook, open_notebook,  # noqa: E402
                     ping_ms, run_all, watchdog)

SETUP = """\
import neuro_widgets as nw
probe = nw.load_model({model!r})
ds = nw.datasets.kriegeskorte2008()
w = nw.LayerExplorer(probe, ds, featurevis={{"page_size": 16}})
w"""

#: (panel, kind) events awaited after a layer click, with the name they are reported under
EVENTS = [("featurevis", "preview", "first optimal-stimulus images"),
          ("attribution", "preview", "first attribution maps (one-pass methods)"),
          ("attribution", "result", "attribution maps (all methods)"),
          ("contributions", "result", "channel contributions"),
          ("alignment", "result", "alignment scores"),
          ("featurevis", "result", "complete 16-channel sheet")]


def time_click(page, layer: str, timeout_ms: int = 300_000) -> dict:
    """Click ``layer``; ms from the click to the first of each awaited (panel, kind) event for that layer."""
    return page.evaluate("""async ([layer, events, timeout]) => {
      const row = document.querySelector(`.nw-tree-row[data-layer="${layer}"]`);
      const start = performance.now();
      const times = {};
      const done = new Promise((resolve) => {
        const on = (e) => {
          const d = e.detail;
          for (const [panel, kind, name] of events) {
            if (!(name in times) && d.panel === panel && d.kind === kind && d.layer === layer && d.t >= start) times[name] = d.t - start;
          }
          if (events.every(([, , name]) => name in times)) { document.removeEventListener('nw-render', on, true); resolve(times); }
        };
        document.addEventListener('nw-render', on, true);
        setTimeout(() => { document.removeEventListener('nw-render', on, true); resolve(times); }, timeout);
      });
      row.click();
      return await done;
    }""", [layer, EVENTS, timeout_ms])


def time_channel(page, timeout_ms: int = 120_000) -> float:
    """Click channel 0 of the sheet; ms until its large view shows dataset examples."""
    return page.evaluate("""async (timeout) => {
      const tile = document.querySelector('.nw-sheet .nw-tile');
      const start = performance.now();
      const ok = () => document.querySelector('.nw-detail .nw-examples img');
      const done = new Promise((resolve) => {
        const on = (e) => { if (e.detail.panel === 'featurevis_detail' && e.detail.kind === 'examples' && ok()) {
          document.removeEventListener('nw-render', on, true); resolve(e.detail.t - start); } };
        document.addEventListener('nw-render', on, true);
        setTimeout(() => resolve(NaN), timeout);
      });
      tile.click();
      return await done;
    }""", timeout_ms)


def time_physiology(page, layer: str, timeout_ms: int = 300_000) -> dict:
    """Open the Physiology tab (its survey of the selected layer starts then); ms until the first tuning curves
    (a partial survey) and until the whole survey is shown."""
    return page.evaluate("""async ([layer, timeout]) => {
      const tab = document.querySelector('.nw-tab[data-tab="physiology"]');
      const start = performance.now();
      const times = {};
      const done = new Promise((resolve) => {
        const on = (e) => {
          const d = e.detail;
          if (d.panel !== 'physiology' || d.layer !== layer || d.t < start) return;
          if (!('first tuning curves' in times)) times['first tuning curves'] = d.t - start;
          if (d.kind === 'result') { times['whole tuning survey'] = d.t - start; document.removeEventListener('nw-render', on, true); resolve(times); }
        };
        document.addEventListener('nw-render', on, true);
        setTimeout(() => { document.removeEventListener('nw-render', on, true); resolve(times); }, timeout);
      });
      tab.click();
      return await done;
    }""", [layer, timeout_ms])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v1_025")
    ap.add_argument("--layers", nargs="+", default=["stage1", "stage2", "stage3"])
    ap.add_argument("--physiology", action="store_true",
                    help="also open the Physiology tab on the last layer (issue 13: first curves <= 2 s)")
    args = ap.parse_args()
    env = {"NEURO_WIDGETS_HOME": os.environ.get("NEURO_WIDGETS_HOME", "")}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp, watchdog(1800):
        root = Path(tmp)
        (root / "t.ipynb").write_text(json.dumps(notebook([SETUP.format(model=args.model)])))
        with jupyter_lab(root, env) as url, browser_page() as page:
            open_notebook(page, url, "t.ipynb")
            run_all(page)
            page.wait_for_selector(f".nw-root .nw-tree-row[data-layer='{args.layers[0]}']", timeout=300_000)
            install_timing_probe(page)
            for layer in args.layers:
                rows[layer] = time_click(page, layer)
                page.wait_for_selector(f".nw-sheet[data-layer='{layer}'][data-final='true']", timeout=300_000)
                rows[layer]["dataset examples (channel 0 clicked)"] = time_channel(page)
            if args.physiology:
                page.wait_for_timeout(20_000)  # let the last layer's remaining work (the random control) end
                rows[args.layers[-1]].update(time_physiology(page, args.layers[-1]))
            floor = statistics.median(ping_ms(page, i) for i in range(8))
    names = [name for _, _, name in EVENTS] + ["dataset examples (channel 0 clicked)"]
    names += ["first tuning curves", "whole tuning survey"] if args.physiology else []
    targets = {"first tuning curves": "<= 2 s (last layer)", "first optimal-stimulus images": "<= 1 s",
               "attribution maps (all methods)": "<= 3 s", "dataset examples (channel 0 clicked)": "<= 3 s",
               "alignment scores": "<= 5 s", "complete 16-channel sheet": "<= 30 s"}
    print(f"{args.model}, 224 px, 92 images; kernel round trip (floor) {floor:.0f} ms; load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| after a click on | " + " | ".join(args.layers) + " | target |")
    print("|---|" + "---|" * len(args.layers) + "---|")
    for name in names:
        cells = [f"{rows[layer][name] / 1000:.1f} s" if rows[layer].get(name) == rows[layer].get(name) and
                 name in rows[layer] else "not seen" for layer in args.layers]
        print(f"| {name} | " + " | ".join(cells) + f" | {targets.get(name, '')} |")


if __name__ == "__main__":
    main()
