"""All-layer encoding sweep on real V4 neurons vs a Brain-Score-style loop, side by side in one run.

EfficientNet-Lite0 (ImageNet weights), every block's output (stem batch norm, 16 blocks, head, pooling, logits), the 640
Cowley et al. (2023) images x 50 V4 neurons. Every layer is randomly projected to 1,024 features for both contenders
(Brain-Score reduces each layer with a 1,000-component PCA for the same reason: PLS-25 and ridge need more features
than a block's channel count, and whole 224-px maps do not fit in memory). Brain-Score's recipe per layer: 10 shuffle splits 90/10, scikit-learn
``PLSRegression(n_components=25, scale=False)`` (or ``RidgeCV(alpha_per_target=True)``) fitted per split, Pearson
r per neuron on the held-out images. Both contenders extract the activations themselves (same reduction: the one
the same random projection) and use the same splits; the sweep additionally selects the best layer on held-out
halves (two more fits per layer), so it does three times the regression work of the loop. Peak resident memory
of the sweep above its baseline is compared with its budget.

    .venv/bin/python benchmarks/bench_encoding_neurons.py [--regression pls|ridge] [--budget-gib 1.5]
"""
from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
import psutil
import torch

import neuro_widgets as nw

LAYERS = ["_bn0", *[f"_blocks.{i}" for i in range(16)], "_conv_head", "_avg_pooling", "_fc"]


class PeakRSS:
    """Samples this process's resident memory every 20 ms while active."""

    def __enter__(self):
        self.base = self.peak = psutil.Process(os.getpid()).memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        proc = psutil.Process(os.getpid())
        while not self._stop.is_set():
            self.peak = max(self.peak, proc.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def above_base(self) -> int:
        return self.peak - self.base


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def brain_score_loop(probe, stimuli, y, reduce, splits, regression):
    from scipy.stats import pearsonr
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.linear_model import RidgeCV

    acts = probe.activations(stimuli, LAYERS, reduce=reduce, use_cache=False)
    out = {}
    for name in LAYERS:
        x = acts[name].reshape(len(stimuli), -1).double().numpy()
        per = []
        for train, test in splits:
            model = (PLSRegression(n_components=25, scale=False) if regression == "pls"
                     else RidgeCV(alphas=nw.alignment.DEFAULT_ALPHAS, alpha_per_target=True))
            pred = model.fit(x[train], y[train]).predict(x[test])
            per.append([pearsonr(pred[:, j], y[test, j])[0] for j in range(y.shape[1])])
        out[name] = np.array(per)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--regression", choices=("pls", "ridge"), default="pls")
    ap.add_argument("--budget-gib", type=float, default=1.5)
    args = ap.parse_args()
    budget = int(args.budget_gib * 2**30)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    ds = nw.datasets.cowley2023_v4()
    probe = nw.load_model("efficientnet_lite0")

    def ours():
        probe.cache.clear()
        with PeakRSS() as mem:
            res = nw.alignment.sweep(probe, ds, LAYERS, metric="encoding", encoding=args.regression,
                                     reduce=("random_projection", 1024, 0), memory_budget=budget)
        return res, mem.above_base

    (res, peak), o_wall, o_cpu = timed(ours)
    reduce = res.settings["reduce"]
    splits = nw.alignment.shuffle_splits(len(ds.stimuli), 10, 0.1, None, 0)
    y = ds.neural.mean()
    peer, p_wall, p_cpu = timed(lambda: brain_score_loop(probe, ds.stimuli, y, reduce, splits, args.regression))
    _, e_wall, e_cpu = timed(lambda: probe.activations(ds.stimuli, LAYERS, reduce=reduce, use_cache=False))
    rows = {r.layer: r for r in res.rows if r.model == "trained"}
    diff = max(float(np.nanmax(np.abs(rows[k].raw - peer[k]))) for k in LAYERS)
    print(f"\n{len(LAYERS)} layers, 640 images x 50 V4 neurons, {args.regression}, reduction {reduce}, "
          f"batch {res.settings['batch_size']}\n")
    print("| contender | wall (s) | CPU (s) |\n|---|---|---|")
    print(f"| Brain-Score-style loop (extraction + scikit-learn per layer per split) | {p_wall:.1f} | {p_cpu:.1f} |")
    print(f"| nw.alignment.sweep (extraction + per-layer scores + held-out layer selection) | {o_wall:.1f} | "
          f"{o_cpu:.1f} |")
    print(f"| activation extraction alone (both contenders' shared floor) | {e_wall:.1f} | {e_cpu:.1f} |")
    print(f"\nregression after extraction: {(p_wall - e_wall) / (o_wall - e_wall):.1f}x wall, "
          f"{(p_cpu - e_cpu) / (o_cpu - e_cpu):.1f}x CPU")
    print(f"\nspeed-up: {p_wall / o_wall:.1f}x wall, {p_cpu / o_cpu:.1f}x CPU; max |r difference| per neuron "
          f"{diff:.1e}; sweep peak RSS above baseline {peak / 2**30:.2f} GiB (budget {args.budget_gib} GiB: "
          f"{'within' if peak <= budget else 'OVER'})")
    best = max(rows.values(), key=lambda r: r.score)
    print(f"best layer {best.layer}: median r {best.score:.3f}")


if __name__ == "__main__":
    main()
