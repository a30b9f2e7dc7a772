"""Soak: a LayerExplorer clicked through the model's layers many times, as the front end clicks them.

Each click is the front end's trait update of ``selected_layer``; the script waits until every panel's job
has reached a final state, then clicks the next layer (cycling through every layer of the model). It prints
the process's resident memory (RSS) after click ``--baseline`` and at the end; the leak check passes when the
end is within ``--limit-mb`` of the baseline.

    NEURO_WIDGETS_HOME=/work/shared PYTHONPATH=. .venv/bin/python benchmarks/soak_explorer.py --clicks 1000
"""
from __future__ import annotations

import argparse
import gc
import json
import sys
import time

import numpy as np
import torch

import neuro_widgets as nw
from neuro_widgets.engine.neural import NeuralRDMs

FINAL = {"done", "error", "cancelled", "notice"}
SLOTS = ("featurevis", "attribution", "contributions", "alignment", "rdm")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


def small_k92(n: int) -> nw.datasets.Dataset:
    k92 = nw.datasets.kriegeskorte2008()
    idx = np.linspace(0, 91, n).round().astype(int)
    stimuli = k92.stimuli[idx]
    neural = NeuralRDMs({r: k92.neural.rdms(r)[:, idx][:, :, idx] for r in k92.neural.regions},
                        stimulus_ids=stimuli.ids, labels={r: k92.neural.labels(r) for r in k92.neural.regions})
    return nw.datasets.Dataset("k92-subset", stimuli, neural)


def click(widget: nw.LayerExplorer, layer: str) -> None:
    """What the browser sends when the user clicks a layer in the tree."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": {"selected_layer": layer},
                                             "buffer_paths": []}}, "buffers": []})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clicks", type=int, default=1000)
    ap.add_argument("--baseline", type=int, default=100, help="the click after which RSS is the reference")
    ap.add_argument("--limit-mb", type=float, default=100.0)
    ap.add_argument("--stimuli", type=int, default=12)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--every", type=int, default=50, help="print RSS every this many clicks")
    args = ap.parse_args()
    torch.set_num_threads(1)

    probe = nw.load_model("cifar_resnet20")
    data = small_k92(args.stimuli)
    widget = nw.LayerExplorer(probe, data, featurevis={"steps": args.steps, "page_size": 4, "k": 2},
                              attribution={"methods": ["saliency", "gradcam"], "top": 8},
                              alignment={"n_boot": 10})
    widget.comm.send = lambda *a, **k: None  # no front end: messages go nowhere
    layers = [row["name"] for row in widget.layers if row["shape"]]
    states: dict = {}
    errors: dict = {}  # "panel on layer" -> its first error message
    start = time.monotonic()
    rss = {0: rss_mb()}
    for i in range(1, args.clicks + 1):
        click(widget, layers[(i - 1) % len(layers)])
        widget.wait(600)
        for slot in SLOTS:
            state = widget.jobs.get(slot, {}).get("state", "idle")
            states[state] = states.get(state, 0) + 1
            if state == "error":
                errors.setdefault(f"{slot} on {widget.selected_layer}", widget.jobs[slot]["error"][:200])
            if state not in FINAL:
                raise SystemExit(f"click {i}: panel {slot} ended in state {state!r}")
        if i == args.baseline or i % args.every == 0 or i == args.clicks:
            gc.collect()
            rss[i] = rss_mb()
            print(f"click {i:5d}  {time.monotonic() - start:7.1f} s  RSS {rss[i]:8.1f} MB  "
                  f"cache {widget.runner.cache_nbytes() / 2**20:6.1f} MB", flush=True)
    growth = rss[args.clicks] - rss[args.baseline]
    summary = {"clicks": args.clicks, "layers": len(layers), "seconds": round(time.monotonic() - start, 1),
               "rss_start_mb": round(rss[0], 1), "rss_baseline_mb": round(rss[args.baseline], 1),
               "rss_end_mb": round(rss[args.clicks], 1), "growth_mb": round(growth, 1),
               "limit_mb": args.limit_mb, "panel_states": states, "errors": errors,
               "passed": growth <= args.limit_mb}
    print(json.dumps(summary), flush=True)
    sys.exit(0 if summary["passed"] else 1)


if __name__ == "__main__":
    main()
