"""Channels-last model inputs vs the default layout, side by side: what ``Probe(channels_last=True)`` buys.

For each zoo model: a no-grad forward pass of a batch as the activation pass runs it (92 images at 224 px, 256 at
32 px) and a forward + backward pass of 16 images as the contact-sheet render runs it (input gradient, weights
frozen), in the default NCHW layout and with channels-last inputs, alternating ``--repeats`` times (the fastest of
``--passes`` timed passes after one warm-up each time). The model's weights stay in their layout either way.

    NEURO_WIDGETS_HOME=../shared PYTHONPATH=. .venv/bin/python benchmarks/bench_input_layout.py [--repeats 2]
"""
from __future__ import annotations

import argparse
import os
import time

import torch

import neuro_widgets as nw

MODELS = {"mobilenet_v1_025": 92, "efficientnet_lite0": 92, "cifar_resnet20": 256}
LAYOUTS = {"NCHW": torch.contiguous_format, "channels-last": torch.channels_last}


def timed(run, passes: int) -> float:
    run()
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}\n")
    print("| model | pass | NCHW s | channels-last s | speed-up |\n|---|---|---|---|---|")
    for name, batch in MODELS.items():
        probe = nw.load_model(name)
        net, size = probe.module, probe.input_spec.size
        for p in net.parameters():
            p.requires_grad_(False)
        x_fwd, x_bwd = torch.randn(batch, 3, *size), torch.randn(16, 3, *size)
        best = {}
        for _ in range(args.repeats):
            for layout, fmt in LAYOUTS.items():
                xf = x_fwd.contiguous(memory_format=fmt)
                xb = x_bwd.contiguous(memory_format=fmt).requires_grad_(True)

                def forward():
                    with torch.no_grad():
                        net(xf)

                def backward():
                    xb.grad = None
                    net(xb).sum().backward()

                for what, run in ((f"forward, {batch} images", forward), ("forward + backward, 16 images", backward)):
                    t = timed(run, args.passes)
                    best[(what, layout)] = min(best.get((what, layout), t), t)
        for what in dict.fromkeys(w for w, _ in best):
            a, b = best[(what, "NCHW")], best[(what, "channels-last")]
            print(f"| {name} | {what} | {a:.3f} | {b:.3f} | {a / b:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
