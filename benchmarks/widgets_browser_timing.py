"""Browser timing of the LayerExplorer in JupyterLab (headless Chromium), measured inside the page.

Runs the end-to-end test (tests/e2e/test_jupyterlab.py), which clicks layers of the trained ResNet-20 with the
92-image set and records, with ``performance.now()`` in the page:

* cached layer: click -> the optimal-stimuli panel rendered its results (target <= 300 ms), against the floor
  of a bare front end -> kernel -> front end round trip (a ``ping`` answered at once) in the same page;
* uncached layer: click -> first progress update (a job left the queue and reports) and -> the first engine
  step reported (target <= 1 s).

    .venv/bin/python benchmarks/widgets_browser_timing.py
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMINGS = REPO / "test-artifacts" / "e2e" / "timings.json"


def main() -> None:
    subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/e2e/test_jupyterlab.py"], cwd=REPO, check=True)
    t = json.loads(TIMINGS.read_text())
    cached, floor = t["cached_click_to_render_median_ms"], t["kernel_round_trip_median_ms"]
    rows = [
        ("cached layer: click -> results rendered (median of 8)", cached, "<= 300 ms"),
        ("bare kernel round trip, same page (median of 8): the floor", floor, ""),
        ("cached click / floor", None, ""),
        ("first click (fresh kernel) -> first progress update", t["first_click_first_progress_ms"], "<= 1 s"),
        ("first click (fresh kernel) -> first engine step", t["first_click_first_engine_step_ms"], ""),
        ("uncached layer2 -> first progress update", t["uncached_layer2_first_progress_ms"], "<= 1 s"),
        ("uncached layer1 -> first engine step", t["uncached_layer1_first_engine_step_ms"], "<= 1 s"),
    ]
    print("| measurement | value | target |\n|---|---|---|")
    for name, value, target in rows:
        shown = f"{cached / floor:.2f}x" if value is None else f"{value:.0f} ms"
        print(f"| {name} | {shown} | {target} |")
    print(f"\nall cached clicks (ms): {[round(v) for v in t['cached_click_to_render_ms']]}")
    print(f"all round trips (ms): {[round(v) for v in t['kernel_round_trip_ms']]}")


if __name__ == "__main__":
    main()
