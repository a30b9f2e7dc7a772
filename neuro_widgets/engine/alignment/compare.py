"""Comparing RDMs, in torch, many against many at once; each method equals rsatoolbox's ``compare``.

RDMs are compared on their strict upper triangle in ``scipy.spatial.distance.squareform`` order.
Methods (``method=``):

* ``"spearman"``: Pearson r of the average ranks (ties get their mean rank);
* ``"pearson"`` (alias ``"corr"``): Pearson r of the dissimilarities;
* ``"cosine"``: cosine of the (uncentred) dissimilarity vectors;
* ``"tau-a"``: Kendall's tau-a, (concordant - discordant) / all pairs, ties counting as neither;
* ``"rho-a"``: Spearman's rho without tie correction, 12 Σ (rᵢ - r̄)(sᵢ - s̄) / (M³ - M) on average ranks.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from ..neural import check_rdm_stack
from ._tensor import Device, as_tensor

COMPARE_METHODS = ("spearman", "pearson", "corr", "cosine", "tau-a", "rho-a")


def check_compare_method(method: str) -> str:
    if method not in COMPARE_METHODS:
        raise ValueError(f"unknown RDM comparison method {method!r}; use one of {list(COMPARE_METHODS)}")
    return method


def rdm_stack(rdms: Any, where: str, device: Device = None, atol: float = 1e-8) -> torch.Tensor:
    """(K, N, N) float64 tensor from one RDM or a stack, checked by ``neural.check_rdm_stack``."""
    return check_rdm_stack(as_tensor(rdms, where, device), where, atol)


def upper(rdms: torch.Tensor, keep: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(K, N, N) -> (K, M) strict upper triangles in squareform order; ``keep`` masks the M entries."""
    n = rdms.shape[-1]
    i, j = torch.triu_indices(n, n, 1, device=rdms.device)
    v = rdms[..., i, j]
    return v if keep is None else v[..., keep]


def sort_floats(v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Stable sort of float64 values along the last axis: (sort keys, order); equal keys are equal values.

    Sorts the values' bit patterns as int64, which torch radix-sorts about three times as fast as it sorts
    floats (12.5 M RDM entries: 0.6 s against 1.9 s). Positive floats order as their bits do; negative ones get
    their other 63 bits flipped, and -0.0 becomes +0.0 first, so that the integer order is the float order.
    """
    bits = (v.to(torch.float64) + 0.0).view(torch.int64)
    return torch.sort(bits ^ ((bits >> 63) & 0x7FFFFFFFFFFFFFFF), dim=-1, stable=True)


def average_ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 1..M along the last axis, tied values sharing their mean rank (scipy's ``rankdata``)."""
    m = v.shape[-1]
    sorted_v, order = sort_floats(v)
    pos = torch.arange(m, device=v.device).expand_as(sorted_v)
    new = torch.ones_like(sorted_v, dtype=torch.bool)
    new[..., 1:] = sorted_v[..., 1:] != sorted_v[..., :-1]
    first = torch.where(new, pos, torch.zeros_like(pos)).cummax(-1).values
    last_flag = torch.ones_like(new)
    last_flag[..., :-1] = new[..., 1:]
    last = torch.where(last_flag, pos, torch.full_like(pos, m)).flip(-1).cummin(-1).values.flip(-1)
    ranks_sorted = (first + last).to(torch.float64) / 2 + 1
    out = torch.empty_like(ranks_sorted)
    out.scatter_(-1, order, ranks_sorted)
    return out


def _unit(v: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length; a zero-length row stays zero (rsatoolbox: similarity 0 with everything)."""
    norm = v.norm(dim=1, keepdim=True)
    return v / torch.where(norm > 0, norm, torch.ones_like(norm))


def _centre(v: torch.Tensor) -> torch.Tensor:
    return v - v.mean(dim=1, keepdim=True)


def comparable_rows(v: torch.Tensor, method: str) -> torch.Tensor:
    """Condensed RDMs (K, M) transformed so that ``compare_vectors(a, b) = rows(a) @ rows(b).T`` (every method
    but tau-a): computed once per RDM, they compare with any number of others by one matrix product. Row by
    row, so the ranking's temporaries stay those of one row."""
    if method == "tau-a":
        raise ValueError("tau-a has no comparable rows; use compare_vectors")
    check_compare_method(method)
    out = torch.empty(v.shape, dtype=torch.float64, device=v.device)
    for k in range(v.shape[0]):
        out[k] = _comparable_row(v[k:k + 1], method)[0]
    return out


def _comparable_row(v: torch.Tensor, method: str) -> torch.Tensor:
    if method in ("pearson", "corr"):
        return _unit(_centre(v))
    if method == "cosine":
        return _unit(v)
    if method == "spearman":
        return _unit(_centre(average_ranks(v)))
    m = v.shape[1]  # rho-a
    return _centre(average_ranks(v)) * (12.0 / (m ** 3 - m)) ** 0.5


def _tau_a(a: torch.Tensor, b: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """Kendall tau-a for every row pair, from sign agreements over all ordered pairs (chunked)."""
    m = a.shape[1]
    acc = torch.zeros(a.shape[0], b.shape[0], dtype=torch.float64, device=a.device)
    for start in range(0, m, chunk):
        sa = torch.sign(a[:, start:start + chunk, None] - a[:, None, :]).to(torch.float32)
        sb = torch.sign(b[:, start:start + chunk, None] - b[:, None, :]).to(torch.float32)
        acc += (sa.flatten(1) @ sb.flatten(1).T).to(torch.float64)
    return acc / (m * (m - 1))


def compare_vectors(a: torch.Tensor, b: torch.Tensor, method: str) -> torch.Tensor:
    """(A, M) x (B, M) condensed RDMs -> (A, B) similarities, float64."""
    if method == "tau-a":
        return _tau_a(a, b)
    return comparable_rows(a, method) @ comparable_rows(b, method).T


class Draws:
    """Bootstrap draws of stimuli: each stimulus's multiplicity ``counts`` (N, draws). The pair weights they
    give, ``w`` (M, draws), pairs-major, are made on first use: the rank-based methods never need them all at
    once (see :func:`_ranks_weighted`)."""

    def __init__(self, counts: torch.Tensor) -> None:
        self.counts = counts
        self._w: Optional[torch.Tensor] = None

    @property
    def w(self) -> torch.Tensor:
        if self._w is None:
            self._w = pair_weights(self.counts)
        return self._w


def pair_weights(counts: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(M, draws) weights ``c_a c_b`` of the stimulus pairs a < b (squareform order) from (N, draws) counts;
    (M,) from (N,)."""
    n = counts.shape[0]
    if out is None:
        out = counts.new_empty((n * (n - 1) // 2,) + tuple(counts.shape[1:]))
    off = 0
    for a in range(n - 1):
        torch.mul(counts[a + 1:], counts[a], out=out[off:off + n - 1 - a])
        off += n - 1 - a
    return out


class Prepared:
    """Condensed RDMs (K, M) prepared for comparisons under many integer pair weight vectors at once.

    A bootstrap sample of stimuli turns each original stimulus pair into ``w`` copies (``w = c_a c_b`` for
    stimuli drawn ``c_a`` and ``c_b`` times; pairs of a stimulus with itself are dropped). Comparing the
    expanded vectors equals comparing the original ones with weights ``w`` — and ranks under weights need no
    new sort: each row's sort order (and its tie groups, only for rows that have ties) is computed once here,
    with the two stimuli of each pair in that order. The weights in a row's sort order are then
    ``c_a c_b`` read from the (N, draws) counts, which stay in cache, rather than gathered from the (M, draws)
    pair weights, one cache miss per pair once those outgrow the caches.
    """

    def __init__(self, v: torch.Tensor, method: str) -> None:
        self.v, self.method = v, method
        self.rank_based = method in ("spearman", "rho-a")
        self.ties: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}
        if self.rank_based:  # row by row: one row's sorted copy at a time
            k_rows, m = v.shape
            n = int(round((1 + (1 + 8 * m) ** 0.5) / 2))
            first, second = torch.triu_indices(n, n, 1, device=v.device)
            self.order = torch.empty(v.shape, dtype=torch.int64, device=v.device)
            self.stimuli = torch.empty(k_rows, 2, m, dtype=torch.int32, device=v.device)  # (a, b) in sort order
            for k in range(k_rows):
                sorted_v, self.order[k] = sort_floats(v[k])
                self.stimuli[k, 0] = first.index_select(0, self.order[k])
                self.stimuli[k, 1] = second.index_select(0, self.order[k])
                tied = sorted_v[1:] == sorted_v[:-1]
                if bool(tied.any()):
                    self.ties[k] = _tie_bounds(tied, m)

    def __len__(self) -> int:
        return self.v.shape[0]

    def values(self, k: int, draws: Draws) -> torch.Tensor:
        """Row ``k``'s values for every draw (M, draws), for the methods that are not rank-based."""
        return self.v[k][:, None].expand_as(draws.w)

    def ranks(self, k: int, counts: torch.Tensor, work: "RankWork") -> torch.Tensor:
        """Row ``k``'s average ranks among the expanded entries of a group of draws (stimulus ``counts``
        (N, group)): (M, group) in ``work.ranks``."""
        counts, cum, sorted_ranks, ranks = work.shaped(counts, work.cum, work.sorted, work.ranks)
        torch.index_select(counts, 0, self.stimuli[k, 0], out=sorted_ranks)   # c_a c_b in sort order
        sorted_ranks.mul_(torch.index_select(counts, 0, self.stimuli[k, 1], out=cum[1:]))
        torch.cumsum(sorted_ranks, dim=0, out=cum[1:])
        if k in self.ties:
            first, after_last = self.ties[k]
            torch.index_select(cum, 0, first, out=sorted_ranks).add_(cum.index_select(0, after_last))
        else:
            torch.add(cum[:-1], cum[1:], out=sorted_ranks)
        sorted_ranks.add_(1).div_(2)
        ranks.index_copy_(0, self.order[k], sorted_ranks)
        return work.ranks


GROUP_ELEMENTS = 2 ** 16


def draw_group(m: int) -> int:
    """Draws ranked together for M pairs. Torch's row-wise index operations cost two to three times as much per
    element on an (M, draws) matrix as on a vector (benchmarks/diag_rank_ops.py), so draws go one at a time as
    vectors, except where M is so small that each operation's fixed cost (microseconds) would outweigh its
    work: there, enough draws to make about ``GROUP_ELEMENTS`` numbers per operation."""
    return max(1, GROUP_ELEMENTS // m)


class RankWork:
    """Buffers of M pair values x a group of draws for :meth:`Prepared.ranks` and :func:`_ranks_weighted`,
    reused from row to row and group to group. Arrays this size are beyond the allocator's mmap threshold, so a
    fresh one per row is a fresh mapping whose every page faults on first touch: at 5,000 stimuli that cost
    more than the ranking itself (benchmarks/RESULTS.md, RSA scaling)."""

    def __init__(self, m: int, group: int, brain_rows: int, device: torch.device) -> None:
        def buffer(rows: int = m) -> torch.Tensor:
            return torch.zeros(rows, group, dtype=torch.float64, device=device)

        self.group = group
        self.cum = buffer(m + 1)      # row 0 stays 0: the weight before the first entry
        self.sorted, self.ranks, self.w, self.product = buffer(), buffer(), buffer(), buffer()
        self.brain_w = [buffer() for _ in range(brain_rows)]   # w (y - mean rank) per brain row

    def shaped(self, *tensors: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """One-column (rows, 1) tensors as (rows,) vectors, for the vector kernels; wider ones unchanged."""
        return tensors if self.group > 1 else tuple(t.view(-1) for t in tensors)

    def column_dots(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(group,) dot products of the columns of x and y (M, group)."""
        if self.group == 1:
            return torch.dot(x.view(-1), y.view(-1)).view(1)
        return torch.mul(x, y, out=self.product).sum(0)


def _tie_bounds(tied: torch.Tensor, m: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """For each sorted position, the first position of its tie group and one past the last."""
    pos = torch.arange(m, device=tied.device)
    new = torch.ones(m, dtype=torch.bool, device=tied.device)
    new[1:] = ~tied
    first = torch.where(new, pos, torch.zeros_like(pos)).cummax(0).values
    last_flag = torch.ones_like(new)
    last_flag[:-1] = new[1:]
    last = torch.where(last_flag, pos, torch.full_like(pos, m)).flip(0).cummin(0).values.flip(0)
    return first, last + 1


def _weighted_centred(v: torch.Tensor, w: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    return v - (v * w).sum(0) / total


def compare_weighted(a: Prepared, b: Prepared, draws: Draws) -> torch.Tensor:
    """(A, B, draws) similarities of the rows of ``a`` and ``b`` under each draw's pair weights, equal to
    comparing the expanded vectors (see :class:`Prepared`). Memory: rank-based methods about ``len(b) + 4``
    vectors of M pair values whatever the number of draws; the others about ``len(b) + 5`` arrays the size of
    the pair weights (M, draws)."""
    method = a.method
    if a.rank_based:
        return _ranks_weighted(a, b, draws)
    w = draws.w
    total = w.sum(0)
    if method == "tau-a":
        return torch.stack([_tau_a_weighted(a.v, b.v, w[:, j]) for j in range(w.shape[1])], dim=-1)
    centre = method in ("pearson", "corr")

    def side(p: Prepared, k: int) -> torch.Tensor:
        x = p.values(k, draws)
        return _weighted_centred(x, w, total) if centre else x

    brain = [side(b, k) for k in range(len(b))]
    brain_norm = torch.stack([((x * x) * w).sum(0).sqrt() for x in brain])  # (B, draws)
    out = torch.empty(len(a), len(b), w.shape[1], dtype=torch.float64, device=w.device)
    for k in range(len(a)):
        x = side(a, k)
        wx = x * w
        dots = torch.stack([(wx * y).sum(0) for y in brain])  # (B, draws)
        out[k] = _normalised(dots, (wx * x).sum(0).sqrt(), brain_norm)
    return out


def _normalised(dots: torch.Tensor, norm: torch.Tensor, brain_norm: torch.Tensor) -> torch.Tensor:
    """dots / (norm x brain_norm); 0 where either vector has zero length (rsatoolbox's convention)."""
    ok = (norm > 0)[None, :] & (brain_norm > 0)
    return torch.where(ok, dots / (norm[None, :] * brain_norm), torch.zeros_like(dots))


def _ranks_weighted(a: Prepared, b: Prepared, draws: Draws) -> torch.Tensor:
    """Spearman / rho-a under weights, a group of draws at a time (see :func:`draw_group`). The weighted mean
    rank is (T + 1) / 2 for every row (T = total weight), so only the brain side is centred (the model side's
    mean then drops out of the dot product), and a row without ties has the closed-form weighted sum of squares
    (T³ - T)/12 - Σ (w³ - w)/12 (each entry's w copies tie among themselves): per model row one sort-order pass,
    no centring and no norm pass. T and Σ w³ come from the counts: Σ_{a<b} f(c_a c_b) = ((Σ f(c))² - Σ f(c)²) / 2
    for f(c) = c, c³."""
    m, n_draws = a.v.shape[1], draws.counts.shape[1]
    out = torch.empty(len(a), len(b), n_draws, dtype=torch.float64, device=a.v.device)
    work = RankWork(m, min(n_draws, draw_group(m)), len(b), a.v.device)
    for j in range(0, n_draws, work.group):
        counts = draws.counts[:, j:j + work.group]
        if counts.shape[1] < work.group:   # the last group of a chunk may be short
            work = RankWork(m, counts.shape[1], len(b), a.v.device)
        counts = counts.contiguous()
        total, cubes = (((c.sum(0) ** 2 - (c * c).sum(0)) / 2) for c in (counts, counts ** 3))
        mean_rank = (total + 1) / 2
        w = pair_weights(counts, out=work.w)
        brain_norm = torch.empty(len(b), work.group, dtype=torch.float64, device=w.device)
        for k in range(len(b)):
            yc = b.ranks(k, counts, work).sub_(mean_rank)
            torch.mul(yc, w, out=work.brain_w[k])
            brain_norm[k] = work.column_dots(work.brain_w[k], yc).sqrt()
        tie_free_norm = (((total ** 3 - total) - (cubes - total)) / 12).clamp_min(0).sqrt()
        for k in range(len(a)):
            x = a.ranks(k, counts, work)
            dots = torch.stack([work.column_dots(x, wy) for wy in work.brain_w])  # (B, group)
            if a.method == "rho-a":
                out[k, :, j:j + work.group] = dots * (12.0 / (total ** 3 - total))
                continue
            if k in a.ties:
                xc = x.sub_(mean_rank)
                norm = work.column_dots(torch.mul(xc, w, out=work.sorted), xc).sqrt()
            else:
                norm = tie_free_norm
            out[k, :, j:j + work.group] = _normalised(dots, norm, brain_norm)
    return out


def _tau_a_weighted(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Kendall tau-a over all pairs of expanded entries; copies of one entry are ties (sign 0)."""
    total = w.sum()
    acc = torch.zeros(a.shape[0], b.shape[0], dtype=torch.float64, device=w.device)
    for start in range(0, a.shape[1], 64):
        sl = slice(start, start + 64)
        ww = (w[sl, None] * w[None, :]).to(torch.float64)
        sa = torch.sign(a[:, sl, None] - a[:, None, :]) * ww
        sb = torch.sign(b[:, sl, None] - b[:, None, :])
        acc += sa.flatten(1) @ sb.flatten(1).T
    return acc / (total * (total - 1))


def compare_rdms(rdms1: Any, rdms2: Any, method: str = "spearman", device: Device = None) -> np.ndarray:
    """Similarity of every RDM in ``rdms1`` with every RDM in ``rdms2``: an (A, B) float64 array.

    Each argument is one (N, N) RDM or a stack (K, N, N) (numpy or torch). Equal to
    ``rsatoolbox.rdm.compare(RDMs(a), RDMs(b), method)`` (with ``"pearson"`` for rsatoolbox's ``"corr"``).

    >>> model = nw.alignment.rdm(acts["layer3"])
    >>> nw.alignment.compare_rdms(model, ds.neural.rdms("hIT"), method="spearman")   # (1, 8)
    """
    check_compare_method(method)
    a = rdm_stack(rdms1, "compare_rdms(rdms1)", device)
    b = rdm_stack(rdms2, "compare_rdms(rdms2)", a.device)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"compare_rdms: the RDMs cover different numbers of stimuli ({a.shape[1]} vs "
                         f"{b.shape[1]}); compute both on the same stimuli in the same order")
    return compare_vectors(upper(a), upper(b), method).cpu().numpy()
