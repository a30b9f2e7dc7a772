"""Diagnosis: what one element of the RSA bootstrap's rank arrays costs, by array size and layout.

For condensed RDMs of N stimuli (M = N(N-1)/2 pairs) and D draws per chunk, ns per element (one thread) of the
operations ``compare.Prepared.values`` and ``_ranks_weighted`` do per row: a gather of the weights in a sort order,
the cumulative sum, the scatter back to pair order, and a product-and-sum; each into a fresh array (a new mapping
beyond the allocator's mmap threshold, whose pages fault on first touch) and into a reused one.

    PYTHONPATH=. .venv/bin/python benchmarks/diag_rank_ops.py [--sizes 1000 2000 5000] [--draws 1 8]
"""
from __future__ import annotations

import argparse
import time

import torch


def per_element(run, reps: int, elements: int) -> float:
    run()
    start = time.perf_counter()
    for _ in range(reps):
        run()
    return (time.perf_counter() - start) / reps / elements * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000])
    ap.add_argument("--draws", type=int, nargs="+", default=[1, 8])
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("| N | pairs | draws | arrays | gather | cumsum | scatter | product-and-sum |\n|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        m = n * (n - 1) // 2
        order = torch.argsort(torch.rand(m, dtype=torch.float64))
        for d in args.draws:
            w = torch.rand(m, d, dtype=torch.float64)
            g, c, o, p = (torch.zeros_like(w) for _ in range(4))
            reps = max(3, int(2e7 // (m * d)))
            fresh = [per_element(f, reps, m * d) for f in (
                lambda: w.index_select(0, order), lambda: torch.cumsum(w, 0),
                lambda: torch.empty_like(w).index_copy_(0, order, w), lambda: (w * g).sum(0))]
            reused = [per_element(f, reps, m * d) for f in (
                lambda: torch.index_select(w, 0, order, out=g), lambda: torch.cumsum(w, 0, out=c),
                lambda: o.index_copy_(0, order, w), lambda: torch.mul(w, g, out=p).sum(0))]
            for kind, row in (("fresh", fresh), ("reused", reused)):
                print(f"| {n:,} | {m / 1e6:.1f} M | {d} | {kind} | " + " | ".join(f"{v:.1f}" for v in row) + " |",
                      flush=True)


if __name__ == "__main__":
    main()
