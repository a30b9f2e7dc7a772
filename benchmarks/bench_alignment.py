"""Brain alignment engine vs its peers, measured side by side in one run.

1. All-layer RSA for ResNet-20 on the 92-image set against the 8 human-IT RDMs — RDMs, Spearman scores,
   noise ceiling and a bootstrap — vs a loop over layers with rsatoolbox (same activations, same resamples).
   Target >= 5x faster, identical values.
2. Cross-validated ridge (alpha per neuroid from 100 log-spaced values, 10 splits 90/10) over all layers of
   synthetic data, 1,000 stimuli x 200 neuroids, vs a scikit-learn RidgeCV(alpha_per_target=True) loop.
   Target >= 5x faster, same predictions (1e-4).
3. Peak memory of an encoding sweep over 10,000 synthetic stimuli on a model with AlexNet-sized layers
   (64x55x55 … 4096) under a memory budget: peak resident memory above the baseline vs the budget. (The
   encoding settings are light — 2 splits, 10 alphas, a 256-d projection per layer — so the CPU run ends in
   minutes; memory is what is measured.)

4. Peak memory of RSA and CKA sweeps over 1,000 stimuli under a memory budget (issue 11 item 9): within the
   budget, or refused up front with what the call would need.

Activations are extracted once and shared by both contenders in (1) and (2); both sides compute in float64.
Wall and process CPU times are reported (the machines are shared and noisy).

    .venv/bin/python benchmarks/bench_alignment.py [--n-boot 100] [--stimuli 10000] [--budget-gib 2]
        [--skip-rsa] [--skip-ridge] [--skip-memory] [--skip-budget-peaks]
"""
from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np
import torch
from torch import nn

import neuro_widgets as nw


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def row(label, peer, ours):
    print(f"| {label} | {peer[1]:.2f} | {ours[1]:.2f} | {peer[1] / ours[1]:.1f}x | {peer[2]:.2f} | {ours[2]:.2f} "
          f"| {peer[2] / ours[2]:.1f}x |")


# ---- 1. RSA -------------------------------------------------------------------------------------------
def bench_rsa(n_boot: int) -> None:
    from rsatoolbox.data import Dataset as RsaDataset
    from rsatoolbox.rdm import RDMs, calc_rdm, compare

    ds = nw.datasets.kriegeskorte2008()
    probe = nw.load_model("cifar_resnet20")
    layers = nw.alignment.default_layers(probe)
    acts = probe.activations(ds.stimuli, layers)
    hit = np.array(ds.neural.rdms("hIT"))
    n, s = 92, len(hit)
    print(f"\n### 1. All-layer RSA: ResNet-20, {len(layers)} layers, 92 images, hIT (8 RDMs), {n_boot} bootstrap "
          "resamples\n")

    def draws():
        g = torch.Generator().manual_seed(0)
        return [(torch.randint(n, (n,), generator=g), torch.randint(s, (s,), generator=g)) for _ in range(n_boot)]

    def ours():
        stack = torch.stack(list(nw.alignment.rdm(acts).values()))
        scores = nw.alignment.compare_rdms(stack, hit, "spearman")
        ceiling = nw.alignment.noise_ceiling(hit, "spearman")
        boot = nw.alignment.bootstrap_rsa(stack, hit, "spearman", n_boot=n_boot, seed=0)
        return scores, (ceiling.lower, ceiling.upper), boot

    def peer():
        brain = RDMs(np.stack([m[np.triu_indices(n, 1)] for m in hit]))
        mean_all = RDMs(hit.mean(0)[np.triu_indices(n, 1)][None])
        upper = [compare(brain[i], mean_all, "spearman")[0, 0] for i in range(s)]
        lower = [compare(brain[i], RDMs(np.delete(hit, i, 0).mean(0)[np.triu_indices(n, 1)][None]),
                         "spearman")[0, 0] for i in range(s)]
        resampled_brain = [(brain.subsample_pattern("index", idx.numpy()), subj.numpy()) for idx, subj in draws()]
        scores, boot = [], np.empty((n_boot, len(layers)))
        for j, name in enumerate(layers):
            model = RDMs(calc_rdm(RsaDataset(acts[name].flatten(1).double().numpy()),
                                  method="correlation").get_vectors())
            scores.append(compare(model, brain, "spearman")[0])
            for b, ((idx, _), (rb, subj)) in enumerate(zip(draws(), resampled_brain)):
                boot[b, j] = compare(model.subsample_pattern("index", idx.numpy()), rb, "spearman")[0][subj].mean()
        return np.array(scores), (np.mean(lower), np.mean(upper)), boot

    o, p = timed(ours), timed(peer)
    print("| step | rsatoolbox loop (s) | neuro_widgets (s) | speed-up (wall) | rsatoolbox CPU (s) | ours CPU (s) "
          "| speed-up (CPU) |\n|---|---|---|---|---|---|---|")
    row("RDMs + scores + ceiling + bootstrap", p, o)
    (so, co, bo), (sp, cp, bp) = o[0], p[0]
    ceiling_diff = max(abs(co[0] - cp[0]), abs(co[1] - cp[1]))
    print(f"\nmax |difference|: scores {np.abs(so - sp).max():.2e}, ceiling {ceiling_diff:.2e}, "
          f"bootstrap samples {np.nanmax(np.abs(bo - bp)):.2e}")


# ---- 2. ridge -----------------------------------------------------------------------------------------
def bench_ridge(widths) -> None:
    from scipy.stats import pearsonr
    from sklearn.linear_model import RidgeCV

    rng = np.random.default_rng(0)
    n, t = 1000, 200
    latent = rng.normal(size=(n, 50))
    layers = {f"layer{i}": latent @ rng.normal(size=(50, w)) + rng.normal(size=(n, w)) for i, w in enumerate(widths)}
    y = latent @ rng.normal(size=(50, t)) + rng.normal(size=(n, t)) * rng.uniform(1, 20, t)
    splits = nw.alignment.shuffle_splits(n, 10, 0.1, seed=1)
    alphas = nw.alignment.DEFAULT_ALPHAS
    print(f"\n### 2. Cross-validated ridge: {n} stimuli x {t} neuroids, layers of {list(widths)} features, "
          f"10 splits, {len(alphas)} alphas per neuroid\n")

    def ours():
        return {k: nw.alignment.encoding_score(x, y, "ridge", splits=splits, alphas=alphas).per_neuroid
                for k, x in layers.items()}

    def peer():
        out = {}
        for k, x in layers.items():
            per = []
            for train, test in splits:
                pred = RidgeCV(alphas=alphas, alpha_per_target=True).fit(x[train], y[train]).predict(x[test])
                per.append([pearsonr(pred[:, j], y[test, j])[0] for j in range(t)])
            out[k] = np.array(per)
        return out

    o, p = timed(ours), timed(peer)
    print("| step | scikit-learn loop (s) | neuro_widgets (s) | speed-up (wall) | scikit-learn CPU (s) | ours CPU (s) "
          "| speed-up (CPU) |\n|---|---|---|---|---|---|---|")
    row("10-split ridge CV over all layers", p, o)
    diff = max(np.abs(o[0][k] - p[0][k]).max() for k in layers)
    train, test = splits[0]
    pred_diff, same_alpha = 0.0, 0
    for x in layers.values():
        ref = RidgeCV(alphas=alphas, alpha_per_target=True).fit(x[train], y[train])
        fit = nw.alignment.ridge_fit(x[train], y[train], alphas)
        pred_diff = max(pred_diff, float(np.abs(fit.predict(x[test]).numpy() - ref.predict(x[test])).max()))
        same_alpha += int((fit.alphas.numpy() == ref.alpha_).sum())
    print(f"\nmax |difference|: held-out r per neuroid {diff:.2e}; predictions (split 0, all layers) {pred_diff:.2e}; "
          f"chosen alphas identical for {same_alpha} of {t * len(layers)} neuroid-layer pairs (split 0)")


# ---- 3. memory ----------------------------------------------------------------------------------------
class AlexNetSized(nn.Module):
    """Cheap layers with AlexNet's output sizes (64x55x55, 192x27x27, 384x13x13, 256x13x13 x2, 4096 x2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 1)
        self.conv2 = nn.Conv2d(64, 192, 1)
        self.conv3 = nn.Conv2d(192, 384, 1)
        self.conv4 = nn.Conv2d(384, 256, 1)
        self.conv5 = nn.Conv2d(256, 256, 1)
        self.fc6 = nn.Linear(256 * 6 * 6, 4096)
        self.fc7 = nn.Linear(4096, 4096)

    def forward(self, x):
        x = self.conv1(x).relu()
        x = self.conv2(nn.functional.avg_pool2d(x, 2)).relu()
        x = self.conv3(nn.functional.avg_pool2d(x, 2)).relu()
        x = self.conv5(self.conv4(x).relu()).relu()
        x = nn.functional.adaptive_avg_pool2d(x, 6).flatten(1)
        return self.fc7(self.fc6(x).relu())


def rss() -> int:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss


def bench_memory(n: int, budget: int) -> None:
    torch.manual_seed(0)
    probe = nw.Probe(AlexNetSized(), nw.InputSpec(size=(55, 55), mean=(0.5,) * 3, std=(0.25,) * 3))
    layers = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 55, 55, 3), dtype=np.uint8)
    stim = nw.StimulusSet(images, metadata={"category": np.arange(n) % 10})
    resp = nw.alignment.NeuralResponses(rng.normal(size=(n, 50, 2)), stim.ids)
    full = 4 * n * sum(int(np.prod(probe.layer(k).output_shape)) for k in layers)
    base = rss()
    peak = [base]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    t0 = time.perf_counter()
    res = nw.alignment.sweep(probe, resp, layers, metric="encoding", n_splits=2, stimuli=stim, memory_budget=budget,
                             project=("random_projection", 256, 1), alphas=np.logspace(-2, 7, 10), batch_size=250)
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    print(f"\n### 3. Memory: encoding sweep (ridge on a 256-d random projection, 2 splits, 10 alphas) over {n:,} "
          "stimuli, 7 AlexNet-sized layers\n")
    print("| activations unreduced (GiB) | budget (GiB) | reduction chosen | batch | peak RSS above baseline (GiB) | "
          "within budget | wall (s) |\n|---|---|---|---|---|---|---|")
    over = (peak[0] - base) / 2**30
    print(f"| {full / 2**30:.1f} | {budget / 2**30:.2f} | {res.settings['reduce']} | {res.settings['batch_size']} | "
          f"{over:.2f} | {'yes' if peak[0] - base <= budget else 'NO'} | {wall:.0f} |")


def peak_above_baseline(fn):
    """(result or the error, peak resident memory above the baseline) via the kernel's high-water mark. The heap's
    free pages go back to the kernel first, or memory an earlier call freed would be reused unseen."""
    import ctypes
    import gc
    import re

    def status(key):
        with open("/proc/self/status") as f:
            return int(re.search(key + r":\s+(\d+) kB", f.read()).group(1)) * 1024

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = status("VmRSS")
    try:
        out = fn()
    except ValueError as err:
        out = err
    return out, status("VmHWM") - base


def bench_budget_peaks(n: int = 1000) -> None:
    """Issue 11 item 9: sweeps under a memory budget over 1,000 stimuli (ResNet-20, random images, synthetic
    responses of 2 subjects): the peak stays within the budget or the call is refused up front."""
    probe = nw.load_model("cifar_resnet20")
    every = nw.alignment.default_layers(probe)
    rng = np.random.default_rng(0)
    stim = nw.StimulusSet(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8))
    resp = nw.alignment.NeuralResponses(rng.normal(size=(n, 80, 2)), stim.ids,
                                        {"region": np.array(["IT"] * 80), "subject": np.repeat([1, 2], 40)})
    rdms = resp.to_rdms()
    ten = every[::8][:10]
    cases = [("rsa", every, 200), ("cka", every, 40), ("rsa", ten, 200), ("cka", ten, 40), ("rsa", ten, 400),
             ("cka", ten, 200), ("rsa", every, 800), ("rsa", every, 2400)]
    print(f"\n### 4. Memory budgets kept: sweeps over {n:,} stimuli, ResNet-20\n")
    print("| metric | layers | budget (MiB) | peak above baseline (MiB) | outcome |\n|---|---|---|---|---|")
    for metric, layers, mib in cases:
        data = rdms if metric == "rsa" else resp
        out, peak = peak_above_baseline(lambda: nw.alignment.sweep(
            probe, data, layers, metric=metric, stimuli=stim, n_boot=100, memory_budget=mib * 2**20))
        if isinstance(out, Exception):
            outcome = f"refused up front: {str(out).split(';')[0]}"
        else:
            group = out.settings.get("rdm_group")
            rows = "" if metric != "rsa" else f", rows and sort orders {group or 'all'} layers at a time"
            outcome = (f"ran ({'within' if peak <= mib * 2**20 else 'OVER'} budget; reduce={out.settings['reduce']}, "
                       f"batch {out.settings['batch_size']}{rows})")
        print(f"| {metric} | {len(layers)} | {mib} | {peak / 2**20:.0f} | {outcome} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-boot", type=int, default=100)
    ap.add_argument("--stimuli", type=int, default=10_000)
    ap.add_argument("--budget-gib", type=float, default=2.0)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-rsa", action="store_true")
    ap.add_argument("--skip-ridge", action="store_true")
    ap.add_argument("--skip-budget-peaks", action="store_true")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs")
    if not args.skip_rsa:
        bench_rsa(args.n_boot)
    if not args.skip_ridge:
        bench_ridge((64, 256, 1024, 4096))
    if not args.skip_memory:
        bench_memory(args.stimuli, int(args.budget_gib * 2**30))
    if not args.skip_budget_peaks:
        bench_budget_peaks()


if __name__ == "__main__":
    main()
