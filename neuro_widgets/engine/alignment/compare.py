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


def average_ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 1..M along the last axis, tied values sharing their mean rank (scipy's ``rankdata``)."""
    m = v.shape[-1]
    sorted_v, order = torch.sort(v, dim=-1, stable=True)
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


class Prepared:
    """Condensed RDMs (K, M) prepared for comparisons under many integer pair weight vectors at once.

    A bootstrap sample of stimuli turns each original stimulus pair into ``w`` copies (``w = c_a c_b`` for
    stimuli drawn ``c_a`` and ``c_b`` times; pairs of a stimulus with itself are dropped). Comparing the
    expanded vectors equals comparing the original ones with weights ``w`` — and ranks under weights need no
    new sort: each row's sort order (and its tie groups, only for rows that have ties) is computed once here.
    Weights come pairs-major, ``(M, draws)``, so the one random-access step (reading the weights in a row's sort
    order) fetches a contiguous run of draws per pair instead of one scattered number.
    """

    def __init__(self, v: torch.Tensor, method: str) -> None:
        self.v, self.method = v, method
        self.rank_based = method in ("spearman", "rho-a")
        self.ties: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}
        if self.rank_based:  # row by row: one row's sorted copy at a time
            m = v.shape[-1]
            self.order = torch.empty(v.shape, dtype=torch.int64, device=v.device)
            for k in range(v.shape[0]):
                sorted_v, self.order[k] = torch.sort(v[k], stable=True)
                tied = sorted_v[1:] == sorted_v[:-1]
                if bool(tied.any()):
                    self.ties[k] = _tie_bounds(tied, m)

    def __len__(self) -> int:
        return self.v.shape[0]

    def values(self, k: int, w: torch.Tensor, out: Optional[torch.Tensor] = None,
               work: Optional["RankWork"] = None) -> torch.Tensor:
        """Row ``k`` under each weight column of ``w`` (M, draws): its average ranks among the expanded entries
        (rank-based methods) or its values, (M, draws). Ranks go into ``out`` and use ``work``'s buffers when
        given (see :class:`RankWork`)."""
        if not self.rank_based:
            return self.v[k][:, None].expand_as(w)
        order = self.order[k]
        work = RankWork(w) if work is None else work
        cum, sorted_ranks = work.cum, work.sorted
        torch.index_select(w, 0, order, out=sorted_ranks)
        torch.cumsum(sorted_ranks, dim=0, out=cum[1:])
        if k in self.ties:
            first, after_last = self.ties[k]
            torch.index_select(cum, 0, first, out=sorted_ranks).add_(cum.index_select(0, after_last))
        else:
            torch.add(cum[:-1], cum[1:], out=sorted_ranks)
        sorted_ranks.add_(1).div_(2)
        return (torch.empty_like(sorted_ranks) if out is None else out).index_copy_(0, order, sorted_ranks)


class RankWork:
    """Scratch buffers for :meth:`Prepared.values`, reused from row to row. Arrays this size (M x draws) are
    beyond the allocator's mmap threshold, so a fresh one per row is a fresh mapping whose every page faults on
    first touch: at 5,000 stimuli that cost more than the ranking itself (benchmarks/RESULTS.md, RSA scaling)."""

    def __init__(self, w: torch.Tensor) -> None:
        self.cum = w.new_zeros(w.shape[0] + 1, w.shape[1])   # row 0 stays 0: the weight before the first entry
        self.sorted = torch.empty_like(w)


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


def compare_weighted(a: Prepared, b: Prepared, w: torch.Tensor) -> torch.Tensor:
    """(A, B, draws) similarities of the rows of ``a`` and ``b`` under each weight column of ``w`` (M, draws),
    equal to comparing the expanded vectors (see :class:`Prepared`). Memory: about ``len(b) + 5`` arrays the
    size of ``w``."""
    method = a.method
    total = w.sum(0)
    if method == "tau-a":
        return torch.stack([_tau_a_weighted(a.v, b.v, w[:, j]) for j in range(w.shape[1])], dim=-1)
    if a.rank_based:
        return _ranks_weighted(a, b, w, total)
    centre = method in ("pearson", "corr")

    def side(p: Prepared, k: int) -> torch.Tensor:
        x = p.values(k, w)
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


def _ranks_weighted(a: Prepared, b: Prepared, w: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """Spearman / rho-a under weights. The weighted mean rank is (T + 1) / 2 for every row (T = total weight),
    so only the brain side is centred (the model side's mean then drops out of the dot product), and a row
    without ties has the closed-form weighted sum of squares (T³ - T)/12 - Σ (w³ - w)/12 (each entry's w copies
    tie among themselves): per model row one sort-order pass, no centring and no norm pass."""
    mean_rank = (total + 1) / 2
    work, x, product = RankWork(w), torch.empty_like(w), torch.empty_like(w)   # reused by every row
    brain_w = []  # w (y - mean) per subject
    brain_norm = []
    for k in range(len(b)):
        yc = b.values(k, w, out=x, work=work).sub_(mean_rank)
        wy = yc * w
        brain_norm.append(torch.mul(wy, yc, out=product).sum(0).sqrt())
        brain_w.append(wy)
    brain_norm_t = torch.stack(brain_norm)
    tie_free_norm = (((total ** 3 - total) - (w ** 3 - w).sum(0)) / 12).clamp_min(0).sqrt()
    out = torch.empty(len(a), len(b), w.shape[1], dtype=torch.float64, device=w.device)
    for k in range(len(a)):
        a.values(k, w, out=x, work=work)
        dots = torch.stack([torch.mul(x, wy, out=product).sum(0) for wy in brain_w])  # (B, draws)
        if a.method == "rho-a":
            out[k] = dots * (12.0 / (total ** 3 - total))
            continue
        if k in a.ties:
            xc = torch.sub(x, mean_rank, out=product)
            norm = xc.square_().mul_(w).sum(0).sqrt()
        else:
            norm = tie_free_norm
        out[k] = _normalised(dots, norm, brain_norm_t)
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
