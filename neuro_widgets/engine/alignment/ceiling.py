"""Noise ceilings: how well the data can be predicted at all.

* :func:`noise_ceiling` — RSA ceiling of several subjects' RDMs (Nili et al. 2014): the upper bound is the
  mean over subjects of each subject's similarity with the mean RDM of *all* subjects, the lower bound the
  mean of each subject's similarity with the mean of the *other* subjects. ``squared=True`` gives both as
  means of squared per-subject similarities (Net2Brain's convention), labelled in the result.
* :func:`split_half_consistency` — internal consistency of response-level data with repetitions: split the
  repetitions in two random halves, average each, Pearson r per neuroid between the halves, Spearman-Brown
  ``2r / (1 + r)``, median over neuroids, mean over splits.
* :func:`ceiled` — a score divided by its ceiling, by a named formula.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch

from ._tensor import Device, as_tensor
from .compare import check_compare_method, compare_vectors, rdm_stack, upper

CEILING_FORMULAS = ("r/c", "(r/c)^2", "r^2/c")


@dataclass
class RSACeiling:
    """Upper and lower bound of the RSA noise ceiling, with the per-subject values they average."""

    upper: float
    lower: float
    upper_per_subject: np.ndarray
    lower_per_subject: np.ndarray
    method: str
    squared: bool
    convention: str = field(init=False)

    def __post_init__(self) -> None:
        what = "mean of squared per-subject" if self.squared else "mean of per-subject"
        self.convention = f"{what} {self.method} (upper: vs mean of all subjects; lower: vs mean of the others)"

    def __repr__(self) -> str:
        return (f"RSACeiling(lower={self.lower:.4f}, upper={self.upper:.4f}, {len(self.upper_per_subject)} "
                f"subjects, {self.convention})")


def ceiling_vectors(v: torch.Tensor, method: str) -> tuple:
    """Per-subject (upper, lower) similarities for condensed RDMs ``v`` (S, M); S >= 2."""
    s = v.shape[0]
    total = v.sum(0, keepdim=True)
    upper_ps = compare_vectors(v, total / s, method)[:, 0]
    others = (total - v) / (s - 1)
    lower_ps = torch.stack([compare_vectors(v[i:i + 1], others[i:i + 1], method)[0, 0] for i in range(s)])
    return upper_ps, lower_ps


def noise_ceiling(rdms: Any, method: str = "spearman", squared: bool = False,
                  device: Device = None) -> RSACeiling:
    """RSA noise ceiling of a stack of subject RDMs (S, N, N), S >= 2.

    >>> c = nw.alignment.noise_ceiling(ds.neural.rdms("hIT"), method="spearman")
    >>> c.lower, c.upper, c.lower_per_subject
    """
    check_compare_method(method)
    stack = rdm_stack(rdms, "noise_ceiling(rdms)", device)
    if stack.shape[0] < 2:
        raise ValueError("noise_ceiling needs RDMs of at least 2 subjects (a ceiling compares each subject "
                         f"with the others); got {stack.shape[0]}. With one RDM, report the raw score only.")
    up, lo = ceiling_vectors(upper(stack), method)
    up, lo = up.cpu().numpy(), lo.cpu().numpy()
    agg = (lambda x: float(np.mean(x ** 2))) if squared else (lambda x: float(np.mean(x)))
    return RSACeiling(agg(up), agg(lo), up, lo, method, squared)


@dataclass
class Consistency:
    """Split-half internal consistency (Spearman-Brown corrected)."""

    value: float                 # mean over splits of the median over neuroids
    per_split: np.ndarray        # (n_splits,) medians over neuroids
    per_neuroid: np.ndarray      # (n_splits, neuroids) corrected r
    n_splits: int
    seed: int

    def __repr__(self) -> str:
        return f"Consistency({self.value:.4f}, Spearman-Brown corrected split-half, {self.n_splits} splits)"


def _pearson_columns(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson r of matching columns of (N, K) matrices; NaN where a column is constant."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    den = a.norm(dim=0) * b.norm(dim=0)
    return torch.where(den > 0, (a * b).sum(0) / den, torch.full_like(den, float("nan")))


def split_half_consistency(responses: Any, n_splits: int = 10, seed: int = 0,
                           device: Device = None) -> Consistency:
    """Internal consistency of (stimuli, neuroids, repetitions) responses.

    >>> c = nw.alignment.split_half_consistency(resp)     # resp: (N, neuroids, reps), reps >= 2
    """
    x = as_tensor(getattr(responses, "data", responses), "split_half_consistency(responses)", device)
    if x.dim() != 3:
        raise ValueError("split_half_consistency needs responses shaped (stimuli, neuroids, repetitions); "
                         f"got shape {tuple(x.shape)}")
    if x.shape[2] < 2:
        raise ValueError(f"split_half_consistency needs at least 2 repetitions, got {x.shape[2]}")
    if x.shape[0] < 4:
        raise ValueError(f"split_half_consistency needs at least 4 stimuli, got {x.shape[0]}")
    if not isinstance(n_splits, int) or n_splits < 1:
        raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}")
    g = torch.Generator().manual_seed(seed)
    reps = x.shape[2]
    per = []
    for _ in range(n_splits):
        perm = torch.randperm(reps, generator=g).to(x.device)
        half1 = x[:, :, perm[: reps // 2]].mean(2)
        half2 = x[:, :, perm[reps // 2:]].mean(2)
        r = _pearson_columns(half1, half2)
        per.append(2 * r / (1 + r))
    per_neuroid = torch.stack(per).cpu().numpy()
    per_split = np.nanmedian(per_neuroid, axis=1)
    return Consistency(float(np.mean(per_split)), per_split, per_neuroid, n_splits, seed)


def ceiled(score: float, ceiling: Optional[float], formula: str = "r/c") -> float:
    """``score`` relative to ``ceiling`` by ``formula``: ``"r/c"``, ``"(r/c)^2"`` or ``"r^2/c"``.

    Numbers from different formulas are not comparable; results carry the formula's name.
    """
    if formula not in CEILING_FORMULAS:
        raise ValueError(f"unknown ceiling formula {formula!r}; use one of {list(CEILING_FORMULAS)}")
    if ceiling is None or not np.isfinite(ceiling) or ceiling <= 0:
        return float("nan")
    if formula == "r/c":
        return score / ceiling
    if formula == "(r/c)^2":
        return (score / ceiling) ** 2
    return score ** 2 / ceiling
