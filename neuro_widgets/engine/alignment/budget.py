"""Memory plan of a sweep's scoring: what it allocates beyond the kept activations, so that ``memory_budget``
covers the whole call, or the call is refused up front with what it would need.

Counted in bytes of float64 (8 per number), N stimuli, M = N(N-1)/2 stimulus pairs, L layers:

* RSA, per model: the condensed layer RDMs, their comparable rows on all stimuli and on both halves, and the
  bootstrap's sort orders with each pair's two stimuli in that order (4.5 x 8 L M); or, when the rows and sort
  orders are made for a group of G layers at a time (``rdm_group``), the RDMs of every model (8 L M) and the
  rows and sort orders of one group (3.5 x 8 G M); one layer's Gram matrix, RDM and flat index while it is
  computed (~6 N²) with two float64 blocks of its features (8 MiB each, or 4 N² bytes if more,
  :func:`.rdm.block_features`); the brain RDMs made from response-level data (8 S N² per region) and per region
  its condensed RDMs, rows, sort orders and pairs' stimuli, and the noise ceiling's pooled and ranked copies
  (15 x 8 S M: the ceiling alone peaked at 14.3 x 8 S M, measured after handing the heap's free pages back);
  the bootstrap's draws, chunked to what is left (see :func:`.stats.bootstrap_bytes`; at least one draw must
  fit).
* CKA, per model: the L Gram matrices (8 L N²); the brain's Gram and one layer's kernels, centred copies and
  jackknife sub-matrices (~10 N²), two float64 blocks of features while a Gram matrix is made.
* Encoding: one split's regression working memory on the widest layer — centred training features, their
  eigenbasis and the leave-one-out residual blocks (8 (3 N D + 3 min(N, D)² + 4 N T) for T neuroids).

The factors were checked against resident-memory peaks sampled while sweeps ran (tests/test_alignment_memory.py,
benchmarks/RESULTS.md): the plan is an upper bound there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import torch

from .rdm import block_features
from .stats import DEFAULT_CHUNK_BYTES, bootstrap_bytes

MIB = 2 ** 20


@dataclass
class ScoringPlan:
    """Bytes the scoring needs (``parts`` by item) and the bootstrap chunk it may use."""

    parts: Dict[str, int]
    chunk_bytes: int
    rdm_group: Optional[int] = None  # RSA: layers whose rows and sort orders are made at a time (None: all)

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def describe(self) -> str:
        return ", ".join(f"{name} {size / MIB:.0f} MiB" for name, size in self.parts.items())


def scoring_plan(metric: str, n: int, n_layers: int, n_models: int, subjects: int, rdm_regions: int,
                 n_boot: int, widest: int, neuroids: int, boot_room: int,
                 rdm_group: Optional[int] = None) -> ScoringPlan:
    """The scoring's memory, the bootstrap's draws taking up to ``boot_room`` bytes (at least one draw, at most
    its default chunk); RSA's rows and sort orders ``rdm_group`` layers at a time (None: all, kept)."""
    sq, pairs = 8 * n * n, 8 * (n * (n - 1) // 2)
    blocks = 2 * 8 * n * min(widest, block_features(n))  # a float64 block of features and the one replacing it
    if metric == "rsa":
        if rdm_group is None or rdm_group >= n_layers:
            rdm_group, parts = None, {"layer RDMs": int(4.5 * n_models * n_layers * pairs)}
        else:
            parts = {"layer RDMs": n_models * n_layers * pairs,
                     f"rows and sort orders of {rdm_group} layer(s) at a time": int(3.5 * rdm_group * pairs)}
        parts.update({"one layer's RDM in the making": 6 * sq + blocks,
                      "brain RDMs": rdm_regions * subjects * sq + 15 * subjects * pairs})
        one_draw = bootstrap_bytes(n, subjects, 1, 0)
        chunk = max(one_draw, min(DEFAULT_CHUNK_BYTES, boot_room))
        parts["bootstrap draws"] = bootstrap_bytes(n, subjects, n_boot, chunk)
        return ScoringPlan(parts, chunk, rdm_group)
    if metric == "cka":
        return ScoringPlan({"layer Gram matrices": n_models * n_layers * sq,
                            "kernels and jackknife": 10 * sq + blocks}, 0)
    k = min(n, widest)
    return ScoringPlan({"regression working memory": 8 * (3 * n * widest + 3 * k * k + 4 * n * neuroids)}, 0)


def available_bytes(device: torch.device) -> Optional[int]:
    """Memory the scoring can still take on ``device``: the kernel's estimate of what can be allocated without
    swapping (``MemAvailable``) on the CPU, the free memory of a CUDA device; None where it cannot be told."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
