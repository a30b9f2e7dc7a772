"""A display-only attribution setting (sign, shared scale): the widget's redraw from its cached maps vs the captum
calls it repeated before (issue 14), side by side in one run on cifar_resnet20 with the default methods.

    NEURO_WIDGETS_HOME=/work/shared OMP_NUM_THREADS=1 python benchmarks/bench_display_redraw.py
"""
from __future__ import annotations

import time
import warnings

import neuro_widgets as nw
from neuro_widgets.engine.attribution import attribute
from neuro_widgets.engine.attribution.display import SIGN_MODES
from neuro_widgets.widgets import AttributionWidget
from neuro_widgets.widgets.attribution import LAYER_METHODS


def main() -> None:
    warnings.simplefilter("ignore")  # integrated gradients' completeness notes
    probe = nw.load_model("cifar_resnet20")
    stimuli = nw.datasets.kriegeskorte2008().stimuli[:4]
    w = AttributionWidget(probe, stimuli)
    w.select("layer3").wait(300)
    methods = w.attr_settings["methods"]
    redraws = []
    for sign in [*SIGN_MODES[1:], SIGN_MODES[0]]:
        t0 = time.perf_counter()
        w.attr_settings = {**w.attr_settings, "sign": sign}
        w.wait(60)
        redraws.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    for m in methods:
        attribute(probe, stimuli[0], m, "predicted", **({"layer": "layer3"} if m in LAYER_METHODS else {}))
    recompute = time.perf_counter() - t0
    redraw = sorted(redraws)[len(redraws) // 2]
    print(f"methods {methods}: redraw (median of {len(redraws)}) {redraw * 1e3:.0f} ms; "
          f"the captum calls {recompute * 1e3:.0f} ms; ratio {recompute / redraw:.1f}x")


if __name__ == "__main__":
    main()
