"""All-layer encoding sweep on real V4 neurons vs a Brain-Score-style loop, side by side in one run.

EfficientNet-Lite0 (ImageNet weights), every block's output (stem batch norm, 16 blocks, head, pooling, logits), the 640
Cowley et al. (2023) images x 50 V4 neurons. Every layer is randomly projected to 1,024 features for both contenders
(Brain-Score reduces each layer with a 1,000-component PCA for the same reason: PLS-25 and ridge need more features
than a block's channel count, and whole 224-px maps do not fit in memory). Brain-Score's recipe per layer: 10 shuffle
splits 90/10, scikit-learn ``PLSRegression(n_components=25, scale=False)`` or ``RidgeCV(alpha_per_target=True)``
fitted per split, Pearson r per neuron on the held-out images. Both contenders extract the activations themselves
(the same random projection, the same function) and use the same splits; the sweep additionally selects the best layer
on held-out halves (two more sets of fits per layer, on half the stimuli), so it does three times the fits of the loop.

Each contender extracts once and then runs every regression asked for (``--regression pls ridge``): the loop's
extraction, and the sweep's first call (the second reads the probe's cache), are timed on their own and counted in
each regression's total. The regressions of both contenders run on one BLAS/torch thread (the sweep's scoring always
does; scikit-learn is held to one by ``threadpoolctl``); the extraction uses torch's default threads for both. Results
are printed as soon as each phase ends, with the load average sampled every 5 s during that phase. Peak resident
memory of each sweep above its baseline is compared with its budget.

    .venv/bin/python benchmarks/bench_encoding_neurons.py [--regression pls ridge] [--budget-gib 1.5]
"""
from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
import psutil
import torch
from threadpoolctl import threadpool_limits

import neuro_widgets as nw

LAYERS = ["_bn0", *[f"_blocks.{i}" for i in range(16)], "_conv_head", "_avg_pooling", "_fc"]
REDUCE = ("random_projection", 1024, 0)


class Sampler:
    """Samples this process's resident memory every 20 ms and the 1-minute load average every 5 s while active."""

    def __enter__(self):
        proc = psutil.Process(os.getpid())
        self.base = self.peak = proc.memory_info().rss
        self.loads = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(proc,), daemon=True)
        self._thread.start()
        return self

    def _watch(self, proc):
        last = time.monotonic()
        while not self._stop.is_set():
            self.peak = max(self.peak, proc.memory_info().rss)
            if time.monotonic() - last >= 5:
                self.loads.append(os.getloadavg()[0])
                last = time.monotonic()
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.loads.append(os.getloadavg()[0])

    @property
    def above_base(self) -> int:
        return self.peak - self.base

    @property
    def load(self) -> str:
        return f"{min(self.loads):.1f}-{max(self.loads):.1f} (mean {np.mean(self.loads):.1f})"


class Clock:
    """Wall and CPU seconds of a phase, with the load average during it."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self):
        self.sampler = Sampler().__enter__()
        self.w0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w0, time.process_time() - self.c0
        self.sampler.__exit__(*exc)
        print(f"  {self.what}: {self.wall:.1f} s wall, {self.cpu:.1f} s CPU, load {self.sampler.load}", flush=True)


def loop_extraction(probe, stimuli):
    acts = probe.activations(stimuli, LAYERS, reduce=REDUCE, use_cache=False)
    return {name: acts[name].reshape(len(stimuli), -1).double().numpy() for name in LAYERS}


def loop_regression(feats, y, splits, regression):
    from scipy.stats import pearsonr
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.linear_model import RidgeCV

    out, t0 = {}, time.perf_counter()
    with threadpool_limits(1):
        for name in LAYERS:
            x = feats[name]
            per = []
            for train, test in splits:
                model = (PLSRegression(n_components=25, scale=False) if regression == "pls"
                         else RidgeCV(alphas=nw.alignment.DEFAULT_ALPHAS, alpha_per_target=True))
                pred = model.fit(x[train], y[train]).predict(x[test])
                per.append([pearsonr(pred[:, j], y[test, j])[0] for j in range(y.shape[1])])
            out[name] = np.array(per)
            print(f"    {name} done at {time.perf_counter() - t0:.0f} s", flush=True)
    return out


def ours(probe, ds, regression, budget):
    """The sweep, its peak memory above baseline and the second at which its activation pass ended."""
    ends = []

    def progress(done, total, stage="", **_):
        if not ends and not stage.endswith("activations"):
            ends.append(time.perf_counter())

    with Sampler() as mem:
        t0 = time.perf_counter()
        res = nw.alignment.sweep(probe, ds, LAYERS, metric="encoding", encoding=regression, reduce=REDUCE,
                                 memory_budget=budget, progress=progress)
    return res, mem.above_base, (ends[0] if ends else t0) - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--regression", choices=("pls", "ridge"), nargs="+", default=["pls", "ridge"])
    ap.add_argument("--budget-gib", type=float, default=1.5)
    args = ap.parse_args()
    budget = int(args.budget_gib * 2**30)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    ds = nw.datasets.cowley2023_v4()
    probe = nw.load_model("efficientnet_lite0")
    probe.cache.clear()
    sweeps, peaks, ours_wall, ours_extract = {}, {}, {}, None
    print("nw.alignment.sweep:", flush=True)
    for regression in args.regression:
        with Clock(f"sweep({regression!r})" + (" (extraction + scoring)" if ours_extract is None else
                                               " (scoring; activations from the probe's cache)")) as c:
            sweeps[regression], peaks[regression], extract = ours(probe, ds, regression, budget)
        ours_wall[regression] = c.wall
        if ours_extract is None:
            ours_extract = extract
            print(f"    of which the activation pass {extract:.1f} s", flush=True)
    print("Brain-Score-style loop:", flush=True)
    y = ds.neural.mean()
    splits = nw.alignment.shuffle_splits(len(ds.stimuli), 10, 0.1, None, 0)
    with Clock("extraction") as ce:
        feats = loop_extraction(probe, ds.stimuli)
    peer_wall, peers = {}, {}
    for regression in sorted(args.regression, reverse=True):  # ridge (the shorter) first
        with Clock(f"scikit-learn {regression} per layer per split") as c:
            peers[regression] = loop_regression(feats, y, splits, regression)
        peer_wall[regression] = c.wall

    print(f"\n{len(LAYERS)} layers, 640 images x 50 V4 neurons, reduction {REDUCE}\n")
    print("| regression | loop: extraction + fits (s) | sweep: extraction + scores + selection (s) | speed-up | "
          "fits alone: loop / sweep | max abs r difference per neuron | sweep peak RSS above baseline |")
    print("|---|---|---|---|---|---|---|")
    first = args.regression[0]
    for regression in args.regression:
        res = sweeps[regression]
        rows = {r.layer: r for r in res.rows if r.model == "trained"}
        diff = max(float(np.nanmax(np.abs(rows[k].raw - peers[regression][k]))) for k in LAYERS)
        loop_total = ce.wall + peer_wall[regression]
        sweep_fits = ours_wall[regression] - (ours_extract if regression == first else 0.0)
        sweep_total = ours_extract + sweep_fits
        best = max(rows.values(), key=lambda r: r.score)
        print(f"| {regression} | {ce.wall:.1f} + {peer_wall[regression]:.1f} = {loop_total:.1f} | "
              f"{ours_extract:.1f} + {sweep_fits:.1f} = {sweep_total:.1f} | {loop_total / sweep_total:.1f}x | "
              f"{peer_wall[regression] / sweep_fits:.1f}x | {diff:.1e} | {peaks[regression] / 2**30:.2f} GiB "
              f"({'within' if peaks[regression] <= budget else 'OVER'} {args.budget_gib} GiB) |")
        print(f"  {regression}: best layer {best.layer}, median r {best.score:.3f}; sweep settings batch "
              f"{res.settings['batch_size']}")


if __name__ == "__main__":
    main()
