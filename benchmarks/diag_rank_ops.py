"""Diagnosis: what one element of the RSA bootstrap's rank arrays costs, by array size and layout.

For condensed RDMs of N stimuli (M = N(N-1)/2 pairs) and D draws per chunk, ns per element (one thread) of the
operations ``compare.Prepared.values`` and ``_ranks_weighted`` do per row: a gather of the weights in a sort order,
the cumulative sum, the scatter back to pair order, and a product-and-sum; each into a fresh array (a new mapping
beyond the allocator's mmap threshold, whose pages fault on first touch) and into a reused one.

A second table compares, per pair and draw, into reused arrays, the ways of getting one row's weights in its
sort order and of scattering ranks back: gathering the (M, draws) pair weights by the sort order (as a matrix,
and at one draw as a vector), against ``c_a c_b`` read from the (N,) stimulus counts through the pairs' stimuli
kept in sort order (what ``Prepared.ranks`` does); the scatter as a one-column matrix and as a vector.

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
    print("\n| N | pairs | gather (M, 8) | gather (M, 1) | gather (M,) | c_a c_b from counts (M,) | scatter (M, 1) | "
          "scatter (M,) |\n|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        print(f"| {n:,} | {n * (n - 1) // 2 / 1e6:.1f} M | " + " | ".join(f"{v:.1f}" for v in sorted_weights(n)) + " |",
              flush=True)


def sorted_weights(n: int) -> list:
    """ns per pair and draw of the ways to get one row's weights in sort order, and of the scatter back."""
    m = n * (n - 1) // 2
    order = torch.argsort(torch.rand(m, dtype=torch.float64))
    first, second = (t.index_select(0, order).to(torch.int32) for t in torch.triu_indices(n, n, 1))
    counts = torch.randint(0, 4, (n, 8)).to(torch.float64)
    w8 = torch.rand(m, 8, dtype=torch.float64)
    w1 = w8[:, :1].contiguous()
    out8, out1, a, b = torch.empty_like(w8), torch.empty_like(w1), torch.empty(m, dtype=torch.float64), \
        torch.empty(m, dtype=torch.float64)
    c = counts[:, 0].contiguous()
    reps = max(3, int(2e7 // m))

    def from_counts() -> None:
        torch.index_select(c, 0, first, out=a).mul_(torch.index_select(c, 0, second, out=b))

    return [per_element(lambda: torch.index_select(w8, 0, order, out=out8), reps, 8 * m),
            per_element(lambda: torch.index_select(w1, 0, order, out=out1), reps, m),
            per_element(lambda: torch.index_select(w1.view(-1), 0, order, out=a), reps, m),
            per_element(from_counts, reps, m),
            per_element(lambda: out1.index_copy_(0, order, w1), reps, m),
            per_element(lambda: a.index_copy_(0, order, b), reps, m)]


if __name__ == "__main__":
    main()
