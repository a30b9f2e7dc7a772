"""Whole-layer tuning survey vs a per-channel loop vs the bare-forward floor, side by side in one run (CPU).

* ours: ``nw.physiology.tuning_survey`` — 12 orientations x 8 SFs x 8 phases = 768 gratings at 224 px, drawn
  batch by batch, one batched pass that records every channel of the layer (plus one blank image);
* floor: the same 768 gratings, already built as one model-ready tensor (not timed), through the model's
  modules up to the layer with no hooks and no analysis, in the same batches;
* per-channel loop: what a tool that measures one channel at a time pays — the whole stimulus set once per
  channel. Measured on ``--loop-channels`` channels and scaled to the layer's channel count (it is linear).

Also the time to first curves: from the call until the progress callback receives the first partial survey
(the orientation curves at the first SF), as a panel would show them.

    .venv/bin/python benchmarks/bench_physiology.py [--repeats 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import neuro_widgets as nw
from neuro_widgets.engine.physiology.responses import model_input
from neuro_widgets.engine.physiology.stimuli import gratings
from neuro_widgets.engine.physiology.tuning import default_sfs

ORIENTATIONS, SFS, PHASES, BATCH = 12, 8, 8, 96


def timed(fn) -> tuple:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def truncated(probe: nw.Probe, layer: str):
    """The model's modules up to ``layer`` as a plain function (MobileNet-V1 is sequential)."""
    path = layer.split(".")
    model = probe.module

    def run(x):
        for name, child in model.named_children():
            if name != path[0]:
                x = child(x)
                continue
            sub = child
            for part in path[1:]:
                for sub_name, grandchild in sub.named_children():
                    if sub_name == part:
                        break
                    x = grandchild(x)
                sub = getattr(sub, part)
            return sub(x)
        raise KeyError(layer)

    return run


def bench(probe: nw.Probe, layer: str, repeats: int, loop_channels: int) -> None:
    size = probe.input_spec.size
    stim = gratings(size, np.arange(ORIENTATIONS) * 180 / ORIENTATIONS, default_sfs(size, SFS),
                    np.arange(PHASES) * 360 / PHASES)
    x = torch.cat([model_input(probe, stim.images(s, min(s + BATCH, len(stim)))) for s in range(0, len(stim), BATCH)])
    run = truncated(probe, layer)
    channels = probe.layer(layer).output_shape[0]
    with torch.no_grad():
        reference = run(x[:2])
    assert reference.shape[1:] == probe.layer(layer).output_shape

    def floor():
        with torch.no_grad():
            for s in range(0, len(x), BATCH):
                run(x[s:s + BATCH])

    def ours():
        nw.physiology.tuning_survey(probe, layer, ORIENTATIONS, SFS, PHASES, batch_size=BATCH)

    def loop():
        for c in range(loop_channels):  # one channel per pass: the stimuli drawn and run again each time
            with torch.no_grad():
                for s in range(0, len(stim), BATCH):
                    a = run(model_input(probe, stim.images(s, min(s + BATCH, len(stim)))))
                    a[:, c, a.shape[2] // 2, a.shape[3] // 2].numpy()

    first = []

    def first_curves():
        t0, c0 = time.perf_counter(), time.process_time()
        seen = []

        def progress(done, total, **extra):
            if "partial" in extra and not seen:
                seen.append((time.perf_counter() - t0, time.process_time() - c0))
                raise KeyboardInterrupt  # stop: only the first curves are timed

        try:
            nw.physiology.tuning_survey(probe, layer, ORIENTATIONS, SFS, PHASES, batch_size=BATCH,
                                        progress=progress)
        except KeyboardInterrupt:
            pass
        first.append(seen[0])

    floor(), ours()  # warm up
    t_floor, t_ours = [], []
    for _ in range(repeats):
        t_floor.append(timed(floor))
        t_ours.append(timed(ours))
        first_curves()
    t_loop = timed(loop)
    fw, fc = (statistics.median(t[i] for t in t_floor) for i in (0, 1))
    ow, oc = (statistics.median(t[i] for t in t_ours) for i in (0, 1))
    scale = channels / loop_channels
    lw, lc = t_loop[0] * scale, t_loop[1] * scale
    print(f"| {probe.name} `{layer}` ({channels} ch), {len(stim)} gratings at {size[0]} px | {fw:.2f} ({fc:.2f}) "
          f"| {ow:.2f} ({oc:.2f}) | **{ow / fw:.2f}x** ({oc / fc:.2f}x) | {lw:.1f} ({lc:.1f}) | {lw / ow:.0f}x "
          f"| {statistics.median(f[0] for f in first):.2f} ({statistics.median(f[1] for f in first):.2f}) |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--loop-channels", type=int, default=2)
    parser.add_argument("--layers", nargs="+", default=["stage1", "stage2"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    probe = nw.load_model("mobilenet_v1_025")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); seconds, wall (CPU); median of "
          f"{args.repeats}; per-channel loop measured on {args.loop_channels} channels and scaled")
    print("| layer | floor s | ours s | ours / floor | per-channel loop s | loop / ours | first curves s (CPU s) |")
    print("|---|---|---|---|---|---|---|")
    for layer in args.layers:
        bench(probe, layer, args.repeats, args.loop_channels)


if __name__ == "__main__":
    main()
