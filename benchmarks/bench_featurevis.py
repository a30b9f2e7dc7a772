"""Benchmark: optimal-stimulus rendering vs Lucent 0.1.8 both ways, and vs the bare-PyTorch floor.

In one run, for AlexNet (random init, seed 0) ``features.8`` and the trained CIFAR ResNet-20 ``layer3``, with
equal steps, image size, parameterization (FFT, decorrelated) and each tool's standard transforms:

1. **one to one**: ``nw.featurevis.render(probe, "layer:c")`` (batch 1) vs Lucent's ``render_vis`` for the same
   channel (batch 1), per channel — goal >= 2.5x; and ours at batch 1 vs a bare loop at batch 1 (forward to the
   layer + backward + Adam on a pixel image, weights frozen): the engine's own overhead. The three run
   interleaved, channel by channel (ours, bare, Lucent, next channel), so a load change on a shared machine
   hits all three alike; each row gives the medians over channels;
2. **whole layer**: ``nw.featurevis.render_layer`` (one image per channel, batched by the memory budget) per
   channel vs Lucent's default (one ``render_vis`` per channel) and vs the bare loop at the same batch.

Lucent runs in its own virtual environment (``benchmarks/.lucent-venv``, gitignored; kornia's moved functions
are re-pointed here, not in site-packages), which borrows torch and torchvision from the main one:

    python -m venv benchmarks/.lucent-venv
    echo <main venv site-packages> > benchmarks/.lucent-venv/lib/python3.11/site-packages/main_env.pth
    benchmarks/.lucent-venv/bin/python -m pip install --no-deps torch-lucent==0.1.8 kornia kornia_rs tqdm decorator
 Final activations of both are measured the same way: the images, as
uint8, through the probe with the model's own preprocessing, channel mean over space.

    python benchmarks/bench_featurevis.py            # full run (15-20 minutes on 2 quiet CPU cores)
    python benchmarks/bench_featurevis.py --steps 8 --channels alexnet=2,resnet20=4 --lucent-channels 1 --repeats 1
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("NEURO_WIDGETS_HOME", str(REPO.parent / "shared"))

import numpy as np
import torch

CASES = {
    # name: (zoo name, load kwargs, layer, Lucent layer name, image size)
    "alexnet": ("torchvision:alexnet", {"pretrained": False, "seed": 0}, "features.8", "features_8", 128),
    "resnet20": ("cifar_resnet20", {}, "layer3", "layer3", 32),
}


def load(case: str):
    import neuro_widgets as nw

    zoo, kwargs, *_ = CASES[case]
    return nw.load_model(zoo, **kwargs)


def trunk(case: str, module: torch.nn.Module):
    """The model up to the target layer, written out by hand: the bare floor's forward."""
    if case == "alexnet":
        return module.features[:9]
    m = module
    return lambda x: m.layer3(m.layer2(m.layer1(m.relu(m.bn1(m.conv1(x))))))


class Clock:
    """Wall-clock and process CPU time of a block. The CPU time is the fairer measure on a shared machine
    (other users' load stretches wall time, not this process's CPU time)."""

    def __enter__(self) -> "Clock":
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall0, time.process_time() - self.cpu0


def bare_loop(case: str, probe, channels, batch: int, steps: int) -> Clock:
    """Forward-to-layer + backward + Adam on pixel batches, weights frozen (timed over all channels)."""
    model = probe.module.eval()
    flags = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    f = trunk(case, model)
    h, w = probe.input_spec.size
    with Clock() as clock:
        _bare(f, channels, batch, steps, h, w)
    for p, flag in zip(model.parameters(), flags, strict=True):
        p.requires_grad_(flag)
    return clock


def _bare(f, channels, batch: int, steps: int, h: int, w: int) -> None:
    for start in range(0, len(channels), batch):
        chunk = torch.as_tensor(channels[start:start + batch])
        x = (torch.randn(len(chunk), 3, h, w) * 0.01).requires_grad_(True)
        opt = torch.optim.Adam([x], lr=0.05)
        rows = torch.arange(len(chunk))
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            a = f(x)
            (-a[rows, chunk].mean(dim=(1, 2)).sum()).backward()
            opt.step()


def one_by_one(case: str, probe, layer: str, channels, steps: int, size: int, lucent_python: str, threads: int):
    """Ours, the bare loop and Lucent, each at batch 1, interleaved channel by channel: medians per channel."""
    import neuro_widgets as nw

    ours, bare, lucent, images, lucent_images = [], [], [], [], []
    for c in channels:
        with Clock() as clock:
            res = nw.featurevis.render(probe, f"{layer}:{c}", steps=steps, size=size, seed=c)
        ours.append(clock)
        images.append(res.images[0])
        bare.append(bare_loop(case, probe, [c], 1, steps))
        image, clock = run_lucent(lucent_python, case, c, steps, threads)
        lucent.append(clock)
        lucent_images.append(image)
    return median(ours), median(bare), median(lucent), np.stack(images), np.stack(lucent_images)


def ablation(case: str, probe, layer: str, channels, steps: int, size: int) -> dict:
    """Ours at batch 1 with the batch-norm folding switched off in parts, and the bare loop, interleaved channel
    by channel: medians per channel."""
    import dataclasses

    import neuro_widgets as nw
    from neuro_widgets.engine.featurevis.bn_fold import Folding

    render_module = sys.modules["neuro_widgets.engine.featurevis.render"]
    real = render_module.folding

    def channels_first(*args):
        fold = real(*args)
        weights = {conv: (w.contiguous(), b) for conv, (w, b) in fold.weights.items()}
        return dataclasses.replace(fold, weights=weights, channels_last=False)

    variants = {"ours": real, "folded, channels-first": channels_first, "not folded": lambda *args: Folding()}
    clocks = {name: [] for name in [*variants, "bare loop"]}
    try:
        for c in channels:
            for name, folding in variants.items():
                render_module.folding = folding
                with Clock() as clock:
                    nw.featurevis.render(probe, f"{layer}:{c}", steps=steps, size=size, seed=c)
                clocks[name].append(clock)
            clocks["bare loop"].append(bare_loop(case, probe, [c], 1, steps))
    finally:
        render_module.folding = real
    return {name: median(c) for name, c in clocks.items()}


def median(clocks) -> dict:
    return {k: float(np.median([getattr(c, k) for c in clocks])) for k in ("wall", "cpu")}


def channel_means(probe, layer: str, images: np.ndarray, channels) -> np.ndarray:
    import neuro_widgets as nw

    uint8 = np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)
    acts = probe.activations(nw.StimulusSet.from_arrays(uint8), layer, use_cache=False)[layer]
    means = acts.mean(dim=(2, 3))
    return means[torch.arange(len(channels)), torch.as_tensor(channels)].numpy()


def lucent_worker(case: str, channel: int, steps: int, out: str) -> None:
    """Runs inside the Lucent virtual environment: one default render_vis of one channel."""
    import kornia
    import kornia.geometry.transform as kt

    # Lucent 0.1.8 calls these at kornia's top level, where kornia <= 0.4.1 had them
    kornia.get_rotation_matrix2d = kt.get_rotation_matrix2d
    kornia.warp_affine = kt.warp_affine
    from lucent.optvis import param, render

    probe = load(case)
    model = probe.module.eval()
    _, _, _, lucent_layer, size = CASES[case]
    fixed = None if case == "alexnet" else size  # AlexNet: Lucent's default upsampling to 224
    render.render_vis(model, f"{lucent_layer}:{channel}", param_f=lambda: param.image(size), thresholds=(2,),
                      progress=False, show_image=False, fixed_image_size=fixed)  # warm-up, as ours gets
    torch.manual_seed(channel)
    with Clock() as clock:
        imgs = render.render_vis(model, f"{lucent_layer}:{channel}", param_f=lambda: param.image(size),
                                 thresholds=(steps,), progress=False, show_image=False, fixed_image_size=fixed)
    np.savez(out, image=imgs[-1][0], wall=clock.wall, cpu=clock.cpu)


def run_lucent(python: str, case: str, channel: int, steps: int, threads: int):
    """Lucent's render of one channel in its own environment: (image, clock of the render alone)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "lucent.npz")
        cmd = [python, __file__, "--lucent-worker", case, "--lucent-channel", str(channel), "--steps", str(steps),
               "--threads", str(threads), "--out", out]
        subprocess.run(cmd, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        data = np.load(out)
        clock = Clock()
        clock.wall, clock.cpu = float(data["wall"]), float(data["cpu"])
        return data["image"], clock


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--channels", default="alexnet=8,resnet20=64",
                    help="channels rendered by ours and the bare loop, per case (resnet20 layer3 has 64)")
    ap.add_argument("--lucent-channels", type=int, default=3,
                    help="the first few channels are rendered one to one (ours, bare loop, Lucent interleaved)")
    ap.add_argument("--lucent-channel", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=2, help="ours and bare alternate; the fastest run counts")
    ap.add_argument("--cases", default="alexnet,resnet20")
    ap.add_argument("--lucent-python", default=str(REPO / "benchmarks" / ".lucent-venv" / "bin" / "python"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ablation", type=int, default=0,
                    help="instead: this many channels one to one with the batch-norm folding off in parts, no Lucent")
    ap.add_argument("--lucent-worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.lucent_worker:
        lucent_worker(args.lucent_worker, args.lucent_channel, args.steps, args.out)
        return

    import neuro_widgets as nw

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.steps} steps, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    for case in args.cases.split(","):
        probe = load(case)
        _, _, layer, _, size = CASES[case]
        if args.ablation:
            nw.featurevis.render(probe, f"{layer}:0", steps=2, size=size)  # warm-up
            bare_loop(case, probe, [0], 1, 2)
            times = ablation(case, probe, layer, list(range(args.ablation)), args.steps, size)
            print(f"\n{case} {layer}, {args.ablation} channels one to one, load average {os.getloadavg()[0]:.1f}: "
                  "seconds per channel, CPU time (wall time in brackets)")
            print("| render | seconds | / bare loop |\n|---|---|---|")
            for name, t in times.items():
                print(f"| {name} | {t['cpu']:.3f} ({t['wall']:.3f}) | {t['cpu'] / times['bare loop']['cpu']:.2f}x "
                      f"({t['wall'] / times['bare loop']['wall']:.2f}x) |")
            continue
        counts = dict(item.split("=") for item in args.channels.split(","))
        chans = list(range(int(counts[case])))
        # warm-up: lazy imports (Adam pulls in torch._dynamo on first use), allocator, kernels
        nw.featurevis.render_layer(probe, layer, channels=[0], steps=2, size=size)
        bare_loop(case, probe, [0], 1, 2)
        ours_t, bare_t, sheet = [], [], None
        for _ in range(args.repeats):
            with Clock() as clock:
                sheet = nw.featurevis.render_layer(probe, layer, channels=chans, steps=args.steps, size=size, seed=0)
            ours_t.append(clock)
            bare_t.append(bare_loop(case, probe, chans, sheet.settings["batch"], args.steps))
        n = len(chans)
        k = args.lucent_channels
        layer_ours = {t: min(getattr(c, t) for c in ours_t) / n for t in ("wall", "cpu")}
        layer_bare = {t: min(getattr(c, t) for c in bare_t) / n for t in ("wall", "cpu")}
        loadavg = [os.getloadavg()[0]]
        one_ours, one_bare, lucent, one_images, lucent_images = one_by_one(
            case, probe, layer, chans[:k], args.steps, size, args.lucent_python, args.threads)
        loadavg.append(os.getloadavg()[0])
        ratio = lambda a, b: {t: a[t] / b[t] for t in ("wall", "cpu")}
        row = {"case": f"{case} {layer}", "image": f"{size}px -> {probe.input_spec.size[0]}px", "channels": n,
               "batch": sheet.settings["batch"], "lucent_channels": k, "load_average_one_to_one": loadavg,
               "one_ours_s": one_ours, "one_bare_s": one_bare, "lucent_s": lucent,
               "layer_ours_s_per_channel": layer_ours, "layer_bare_s_per_channel": layer_bare,
               "lucent_over_one": ratio(lucent, one_ours), "one_over_bare": ratio(one_ours, one_bare),
               "lucent_over_layer": ratio(lucent, layer_ours), "layer_over_bare": ratio(layer_ours, layer_bare),
               "activation_one": channel_means(probe, layer, one_images, chans[:k]).round(3).tolist(),
               "activation_layer": channel_means(probe, layer, sheet.images[:k], chans[:k]).round(3).tolist(),
               "activation_lucent": channel_means(probe, layer, lucent_images, chans[:k]).round(3).tolist()}
        rows.append(row)
        print(json.dumps(row, indent=1), flush=True)
    if not rows:
        return
    print("\nseconds per channel, CPU time (wall time in brackets)")
    print("| case | image | Lucent (batch 1) | ours, one channel (batch 1) | Lucent / ours | bare loop (batch 1) "
          "| ours / bare | ours, whole layer (batch) | Lucent / ours | bare loop (batch) | ours / bare "
          "| activation Lucent / one / layer |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    fmt = lambda d: f"{d['cpu']:.3f} ({d['wall']:.3f})"
    fx = lambda d: f"{d['cpu']:.2f}x ({d['wall']:.2f}x)"
    for r in rows:
        mean = lambda key: f"{np.mean(r[key]):.3f}"
        print(f"| {r['case']} | {r['image']} | {fmt(r['lucent_s'])} | {fmt(r['one_ours_s'])} | {fx(r['lucent_over_one'])} "
              f"| {fmt(r['one_bare_s'])} | {fx(r['one_over_bare'])} | {fmt(r['layer_ours_s_per_channel'])} "
              f"({r['channels']} ch, batch {r['batch']}) | {fx(r['lucent_over_layer'])} "
              f"| {fmt(r['layer_bare_s_per_channel'])} | {fx(r['layer_over_bare'])} "
              f"| {mean('activation_lucent')} / {mean('activation_one')} / {mean('activation_layer')} |")

if __name__ == "__main__":
    main()
