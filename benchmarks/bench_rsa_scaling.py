"""How an RSA sweep scales with stimuli (N) and layers (L), against a bare O(B·N²) floor and rsatoolbox.

Each cell runs, side by side on the same data:

* ours: ``nw.alignment.sweep(probe, data, layers, metric="rsa", n_boot=B)`` on ResNet-20 (random 32x32 images,
  L layers spread over its 81) against synthetic RDM-level data of 2 subjects: activations, layer RDMs,
  scores, bootstrap CIs, noise ceiling, held-out best layer (both halves), i.e. everything;
* floor: a bare vectorised Spearman bootstrap of the same layer RDMs (the same B draws of stimuli as
  multiplicity weights, every layer pre-sorted once, one cumulative sum per layer and draw, no tie handling,
  no subject resampling, no held-out selection): the O(B·N²) work per layer that any bootstrap has to do;
* rsatoolbox: its bootstrap loop (``subsample_pattern`` of the model and brain RDMs per draw, ``compare``),
  only where it finishes in reasonable time (``--peer-max-pairs``).

Process CPU times (the machine is shared); exponents are least-squares slopes of log time on log N (at the
smallest L) and log L (per N, averaged). Cells whose estimated cost exceeds ``--max-cell-s`` are skipped and
listed. The kernel, floor and rsatoolbox columns need every layer's square RDM at once (8 L N² bytes); where
that exceeds ``--max-stack-gib`` only the sweep is timed (it holds condensed RDMs and runs the layers a group at
a time where their activations do not fit at once: see ``settings["activation_group"]``).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_rsa_scaling.py [--n-boot 100] [--sizes 92 500 2000 5000]
        [--layers 10 81] [--max-cell-s 400] [--max-stack-gib 4] [--stream-floor] [--kernel-only]

Exponents are of the sweep's time (of bootstrap_rsa's with ``--kernel-only``).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import neuro_widgets as nw


def cpu(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    stim = nw.StimulusSet(images)
    latent = rng.normal(size=(n, 20))
    subjects = [nw.alignment.rdm(latent @ rng.normal(size=(20, 40)) + rng.normal(size=(n, 40))).numpy()
                for _ in range(2)]
    return stim, nw.NeuralRDMs({"IT": np.stack(subjects)}, stim.ids)


def floor_chunk(n: int) -> int:
    """Draws per chunk of the floor: 16, or as many as keep each (pairs x draws) float64 matrix within 1 GiB
    (10 at N = 5,000), so that the floor's temporaries and 81 layers' sort orders fit this machine."""
    return min(16, max(1, 2 ** 30 // (8 * (n * (n - 1) // 2))))


def floor_bootstrap(orders: list, brain_vecs: torch.Tensor, n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """Bare weighted Spearman bootstrap (continuous data: no ties), mean over the fixed subjects, of the layers
    whose condensed RDMs sort in ``orders`` (their sorting is timed by the caller)."""
    chunk = floor_chunk(n)
    g = torch.Generator().manual_seed(seed)
    counts = torch.stack([torch.bincount(torch.randint(n, (n,), generator=g), minlength=n)
                          for _ in range(n_boot)], 1).double()
    iu, ju = torch.triu_indices(n, n, 1)
    brain_orders = [torch.argsort(v) for v in brain_vecs]
    out = np.empty((n_boot, len(orders)))

    def ranks(order, w):
        ws = w[order]
        r = torch.empty_like(ws)
        r[order] = torch.cumsum(ws, 0) - ws / 2 + 0.5
        return r

    for b0 in range(0, n_boot, chunk):
        c = counts[:, b0:b0 + chunk]
        w = c[iu] * c[ju]
        total = w.sum(0)
        mean = (total + 1) / 2
        brain = [(ranks(o, w) - mean) for o in brain_orders]
        brain_norm = [((y * y) * w).sum(0).sqrt() for y in brain]
        for k, o in enumerate(orders):
            x = ranks(o, w) - mean
            wx = w * x
            xn = (wx * x).sum(0).sqrt()
            sims = [(wx * y).sum(0) / (xn * yn) for y, yn in zip(brain, brain_norm)]
            out[b0:b0 + chunk, k] = torch.stack(sims).mean(0).numpy()
    return out


def streamed_floor(probe, stim, layers, iu, brain_vecs, n_boot: int, group: int = 10) -> float:
    """The floor's CPU seconds where the layers' square RDMs do not fit at once: each layer's condensed RDM is
    made (not timed) and sorted (timed), only the sort orders kept, then the floor's bootstrap (timed)."""
    orders, sorting = [], 0.0
    for start in range(0, len(layers), group):
        names = layers[start:start + group]
        acts = probe.activations(stim, names, use_cache=False)
        for name in names:
            v = nw.alignment.rdm(acts.pop(name).flatten(1))[iu[0], iu[1]]
            order, seconds, _ = cpu(lambda: torch.argsort(v))
            orders.append(order)
            sorting += seconds
            del v
        del acts
    _, seconds, _ = cpu(lambda: floor_bootstrap(orders, brain_vecs, len(stim), n_boot))
    return sorting + seconds


def peer_bootstrap(layer_rdms: np.ndarray, brain: np.ndarray, n_boot: int, seed: int = 0) -> np.ndarray:
    from rsatoolbox.rdm import RDMs, compare

    n = brain.shape[1]
    iu = np.triu_indices(n, 1)
    brain_r = RDMs(np.stack([m[iu] for m in brain]))
    models = [RDMs(m[iu][None]) for m in layer_rdms]
    g = torch.Generator().manual_seed(seed)
    out = np.empty((n_boot, len(models)))
    for b in range(n_boot):
        idx = torch.randint(n, (n,), generator=g).numpy()
        bb = brain_r.subsample_pattern("index", idx)
        for k, m in enumerate(models):
            out[b, k] = compare(m.subsample_pattern("index", idx), bb, "spearman").mean()
    return out


def opt(value: float, spec: str) -> str:
    """A number for the table, or "-" when it was not measured (NaN)."""
    return "-" if np.isnan(value) else format(value, spec)


def fit(xs, ys) -> float:
    """Slope of log y on log x; NaN where a time was not measured."""
    if not np.all(np.isfinite(ys)):
        return float("nan")
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-boot", type=int, default=100)
    ap.add_argument("--sizes", type=int, nargs="+", default=[92, 500, 2000, 5000])
    ap.add_argument("--layers", type=int, nargs="+", default=[10, 81])
    ap.add_argument("--max-cell-s", type=float, default=400.0)
    ap.add_argument("--peer-max-pairs", type=float, default=2e6, help="run rsatoolbox while L x N^2/2 <= this")
    ap.add_argument("--ns-per-pair", type=float, default=60.0, help="cost model used to skip cells")
    ap.add_argument("--max-stack-gib", type=float, default=4.0,
                    help="time the kernel, floor and rsatoolbox only where the L square RDMs take at most this")
    ap.add_argument("--stream-floor", action="store_true",
                    help="above --max-stack-gib still time the floor: the layers' RDMs made a group at a time, "
                         "only their sort orders kept (the sorting timed with the floor)")
    ap.add_argument("--kernel-only", action="store_true",
                    help="time only ours' bootstrap (bootstrap_rsa on the same RDMs) against the floor")
    args = ap.parse_args()
    torch.manual_seed(0)
    probe = nw.load_model("cifar_resnet20")
    every = nw.alignment.default_layers(probe)
    b = args.n_boot
    print("\n| N | L | ours: sweep CPU s | ours: bootstrap_rsa CPU s | floor CPU s | sweep / floor | "
          "bootstrap / floor | rsatoolbox CPU s | rsatoolbox / sweep |")
    print("|---|---|---|---|---|---|---|---|---|")
    results, skipped = {}, []
    for n in args.sizes:
        stim, neural = data(n)
        for n_layers in args.layers:
            pairs = n * (n - 1) / 2
            estimate = 2 * args.ns_per_pair * 1e-9 * b * n_layers * pairs
            if estimate > args.max_cell_s:
                skipped.append(f"N={n}, L={n_layers} (estimated {estimate:.0f} s per contender)")
                continue
            layers = [every[round(i)] for i in np.linspace(0, len(every) - 1, n_layers)]
            fresh = nw.Probe(probe.module, probe.input_spec)  # no activation cache carried between cells
            ours = kernel = floor = peer = float("nan")
            if not args.kernel_only:
                res, ours, _ = cpu(lambda: nw.alignment.sweep(fresh, neural, layers, stimuli=stim, n_boot=b))
                plan = {k: res.settings[k] for k in ("rdm_group", "activation_group", "batch_size")}
                print(f"<!-- N={n}, L={n_layers}: sweep's memory plan {plan} -->", flush=True)
                del res
            iu = torch.triu_indices(n, n, 1)
            brain = np.array(neural.rdms("IT"))
            brain_vecs = torch.as_tensor(brain)[:, iu[0], iu[1]]
            if 8 * n_layers * n * n > args.max_stack_gib * 2 ** 30:
                what = "kernel and rsatoolbox" if args.stream_floor else "kernel, floor and rsatoolbox"
                skipped.append(f"N={n}, L={n_layers}: {what} (square RDMs "
                               f"{8 * n_layers * n * n / 2 ** 30:.1f} GiB > --max-stack-gib {args.max_stack_gib})")
                if args.stream_floor:
                    floor = streamed_floor(fresh, stim, layers, iu, brain_vecs, b)
                results[(n, n_layers)] = (ours, floor)
                print(f"| {n} | {n_layers} | {opt(ours, '.2f')} | - | {opt(floor, '.2f')} | "
                      f"{opt(ours / floor, '.2f')}x | - | - | - |".replace("-x", "-"), flush=True)
                continue
            acts = fresh.activations(stim, layers)
            stack = torch.stack([nw.alignment.rdm(acts[name].flatten(1)) for name in layers])
            del acts
            _, kernel, _ = cpu(lambda: nw.alignment.bootstrap_rsa(stack, brain, n_boot=b))
            _, floor, _ = cpu(lambda: floor_bootstrap([torch.argsort(v) for v in stack[:, iu[0], iu[1]]],
                                                      brain_vecs, n, b))
            if not args.kernel_only and n_layers * pairs <= args.peer_max_pairs:
                _, peer, _ = cpu(lambda: peer_bootstrap(stack.numpy(), brain, b))
            results[(n, n_layers)] = (kernel if args.kernel_only else ours, floor)
            row = (f"| {n} | {n_layers} | {opt(ours, '.2f')} | {kernel:.2f} | {floor:.2f} | "
                   f"{opt(ours / floor, '.2f')}x | "
                   f"{kernel / floor:.2f}x | {opt(peer, '.2f')} | {opt(peer / ours, '.1f')}x |")
            print(row.replace("-x", "-"), flush=True)
    smallest = min(args.layers)
    ns = sorted(n for (n, k) in results if k == smallest)
    if len(ns) >= 2:
        print(f"\nexponent in N (L={smallest}, N={ns}): ours {fit(ns, [results[(n, smallest)][0] for n in ns]):.2f}, "
              f"floor {fit(ns, [results[(n, smallest)][1] for n in ns]):.2f}")
        big = [n for n in ns if n >= 500]
        if len(big) >= 2:
            print(f"exponent in N from N={big[0]} (L={smallest}): "
                  f"ours {fit(big, [results[(n, smallest)][0] for n in big]):.2f}, "
                  f"floor {fit(big, [results[(n, smallest)][1] for n in big]):.2f}")
    # a slope in L needs two layer counts
    both = [n for n in ns if all((n, k) in results for k in args.layers)] if len(set(args.layers)) >= 2 else []
    for n in both:
        ks = sorted(args.layers)
        print(f"exponent in L at N={n}: ours {opt(fit(ks, [results[(n, k)][0] for k in ks]), '.2f')}, "
              f"floor {opt(fit(ks, [results[(n, k)][1] for k in ks]), '.2f')}")
    if skipped:
        print("\nskipped: " + "; ".join(skipped))


if __name__ == "__main__":
    main()
