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

from typing import Any, Optional

import numpy as np
import torch

from ._tensor import Device, as_tensor

COMPARE_METHODS = ("spearman", "pearson", "corr", "cosine", "tau-a", "rho-a")


def check_compare_method(method: str) -> str:
    if method not in COMPARE_METHODS:
        raise ValueError(f"unknown RDM comparison method {method!r}; use one of {list(COMPARE_METHODS)}")
    return method


def rdm_stack(rdms: Any, where: str, device: Device = None, atol: float = 1e-8) -> torch.Tensor:
    """(K, N, N) float64 tensor from one RDM or a stack; checks square, symmetric, zero diagonal, N >= 4."""
    t = as_tensor(rdms, where, device)
    if t.dim() == 2:
        t = t[None]
    if t.dim() != 3 or t.shape[1] != t.shape[2]:
        raise ValueError(f"{where}: RDMs must be square, (N, N) or (K, N, N); got shape {tuple(t.shape)}")
    if t.shape[1] < 4:
        raise ValueError(f"{where}: RDMs need at least 4 stimuli, got {t.shape[1]}")
    scale = max(float(t.abs().max()), 1e-12)
    asym = float((t - t.transpose(1, 2)).abs().max())
    if asym > atol * scale:
        raise ValueError(f"{where}: RDMs must be symmetric; largest |d[i,j] - d[j,i]| is {asym:.3g}")
    diag = float(torch.diagonal(t, dim1=1, dim2=2).abs().max())
    if diag > atol * scale:
        raise ValueError(f"{where}: RDMs must have a zero diagonal; largest |d[i,i]| is {diag:.3g}")
    return t


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


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    na = a.norm(dim=1)
    nb = b.norm(dim=1)
    out = (a @ b.T) / torch.outer(na, nb)
    # rsatoolbox's convention: a zero-length vector has similarity 0 with everything
    return torch.where(torch.outer(na > 0, nb > 0), out, torch.zeros_like(out))


def _centre(v: torch.Tensor) -> torch.Tensor:
    return v - v.mean(dim=1, keepdim=True)


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
    if method in ("pearson", "corr"):
        return _cosine(_centre(a), _centre(b))
    if method == "cosine":
        return _cosine(a, b)
    if method == "spearman":
        return _cosine(_centre(average_ranks(a)), _centre(average_ranks(b)))
    if method == "rho-a":
        m = a.shape[1]
        return _centre(average_ranks(a)) @ _centre(average_ranks(b)).T * (12.0 / (m ** 3 - m))
    if method == "tau-a":
        return _tau_a(a, b)
    check_compare_method(method)
    raise AssertionError("unreachable")


class Prepared:
    """Condensed RDMs (K, M) prepared for many comparisons under integer pair weights.

    A bootstrap sample of stimuli turns each original stimulus pair into ``w`` copies (``w = c_a c_b`` for
    stimuli drawn ``c_a`` and ``c_b`` times; pairs of a stimulus with itself are dropped). Comparing the
    expanded vectors equals comparing the original ones with weights ``w`` — and ranks under weights need no
    new sort: the sort order and tie groups are computed once here, so a resample costs O(K M).
    """

    def __init__(self, v: torch.Tensor, method: str) -> None:
        self.v, self.method = v, method
        if method in ("spearman", "rho-a", "tau-a"):
            sorted_v, order = torch.sort(v, dim=-1, stable=True)
            m = v.shape[-1]
            pos = torch.arange(m, device=v.device).expand_as(sorted_v)
            new = torch.ones_like(sorted_v, dtype=torch.bool)
            new[..., 1:] = sorted_v[..., 1:] != sorted_v[..., :-1]
            self.first = torch.where(new, pos, torch.zeros_like(pos)).cummax(-1).values
            last_flag = torch.ones_like(new)
            last_flag[..., :-1] = new[..., 1:]
            self.last = torch.where(last_flag, pos, torch.full_like(pos, m)).flip(-1).cummin(-1).values.flip(-1)
            self.order, self.inverse = order, torch.argsort(order, dim=-1)

    def ranks(self, w: torch.Tensor) -> torch.Tensor:
        """Average ranks of the weighted (expanded) vectors, at the original positions."""
        cum = torch.cumsum(w[self.order], dim=-1)
        cum = torch.cat([torch.zeros_like(cum[..., :1]), cum], dim=-1)
        sorted_ranks = (cum.gather(-1, self.first) + 1 + cum.gather(-1, self.last + 1)) / 2
        return sorted_ranks.gather(-1, self.inverse)

    def values(self, w: torch.Tensor) -> torch.Tensor:
        return self.ranks(w) if self.method in ("spearman", "rho-a") else self.v


def _weighted_centre(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return v - (v * w).sum(-1, keepdim=True) / w.sum()


def compare_weighted(a: Prepared, b: Prepared, w: torch.Tensor) -> torch.Tensor:
    """(A, B) similarities of weighted condensed RDMs (see :class:`Prepared`); equal to expanding them."""
    method = a.method
    total = w.sum()
    if method == "tau-a":
        # concordance over all pairs of expanded entries; copies of one entry are ties (sign 0)
        acc = torch.zeros(a.v.shape[0], b.v.shape[0], dtype=torch.float64, device=w.device)
        for start in range(0, a.v.shape[1], 64):
            sl = slice(start, start + 64)
            ww = (w[sl, None] * w[None, :]).to(torch.float64)
            sa = torch.sign(a.v[:, sl, None] - a.v[:, None, :]) * ww
            sb = torch.sign(b.v[:, sl, None] - b.v[:, None, :])
            acc += sa.flatten(1) @ sb.flatten(1).T
        return acc / (total * (total - 1))
    va, vb = a.values(w), b.values(w)
    if method in ("spearman", "pearson", "corr", "rho-a"):
        va, vb = _weighted_centre(va, w), _weighted_centre(vb, w)
    dot = (va * w) @ vb.T
    if method == "rho-a":
        return dot * (12.0 / (total ** 3 - total))
    na = ((va * va) * w).sum(-1).sqrt()
    nb = ((vb * vb) * w).sum(-1).sqrt()
    out = dot / torch.outer(na, nb)
    return torch.where(torch.outer(na > 0, nb > 0), out, torch.zeros_like(out))


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
