"""Noise ceilings: how well the data can be predicted at all.

* :func:`noise_ceiling` — RSA ceiling of several subjects' RDMs (Nili et al. 2014): the upper bound is the
  mean over subjects of each subject's similarity with the pooled RDM of *all* subjects, the lower bound the
  mean of each subject's similarity with the pooled RDM of the *other* subjects; pooled as rsatoolbox does
  (rank-transformed RDMs averaged for rank correlations, z-scored for Pearson), subjects with several
  sessions left out as a whole. ``squared=True`` gives both as
  means of squared per-subject similarities (Net2Brain's convention), labelled in the result.
* :func:`split_half_consistency` — internal consistency of response-level data with repetitions: split each
  stimulus's repetitions in two random halves, average each, Pearson r per neuroid between the halves,
  Spearman-Brown ``2r / (1 + r)``, median over neuroids, mean over splits (NaN-padded repetitions: see there).
* :func:`ceiled` — a score divided by its ceiling, by a named formula; refused (NaN) when the ceiling's CI
  reaches zero. ``DEFAULT_CEILING_FORMULA`` gives each metric the formula under which a model predicting the
  noise-free signal scores 1.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..export import Figured, Tabular
from ._tensor import Device, as_tensor
from .compare import average_ranks, check_compare_method, compare_vectors, rdm_stack, upper
from .neural_data import present_repetitions

CEILING_FORMULAS = ("r/c", "(r/c)^2", "r^2/c", "r/sqrt(c)")


POOLINGS = ("rsatoolbox", "mean")
_POOLING_NAMES = {
    "spearman": "mean of rank-transformed RDMs", "rho-a": "mean of rank-transformed RDMs",
    "tau-a": "mean of rank-transformed RDMs", "pearson": "mean of z-scored RDMs", "corr": "mean of z-scored RDMs",
    "cosine": "mean of RDMs scaled to unit root-mean-square",
}


def pooling_name(method: str, pooling: str) -> str:
    """What the pooled (group-average) RDM is, in words."""
    if pooling == "mean":
        return "plain mean of the RDMs"
    return f"{_POOLING_NAMES[method]} (rsatoolbox's pool_rdm)"


@dataclass
class RSACeiling(Tabular, Figured):
    """Upper and lower bound of the RSA noise ceiling, with the per-subject values they average.

    With ``groups`` (e.g. sessions of one subject) the per-subject values are means over that subject's RDMs.
    """

    upper: float
    lower: float
    upper_per_subject: np.ndarray
    lower_per_subject: np.ndarray
    method: str
    squared: bool
    pooling: str = "rsatoolbox"
    subjects: Optional[List[Any]] = None
    convention: str = field(init=False)

    def __post_init__(self) -> None:
        what = "mean of squared per-subject" if self.squared else "mean of per-subject"
        self.convention = (f"{what} {self.method} (upper: vs pooled RDM of all subjects; lower: vs pooled RDM "
                           f"of the other subjects; pooled = {pooling_name(self.method, self.pooling)})")

    def to_records(self) -> List[Dict[str, Any]]:
        """One row per subject: its upper and lower bound (before squaring; the means are ``upper``/``lower``)."""
        subjects = self.subjects if self.subjects is not None else list(range(len(self.upper_per_subject)))
        return [{"subject": s, "upper": float(u), "lower": float(lo)}
                for s, u, lo in zip(subjects, self.upper_per_subject, self.lower_per_subject)]

    def __repr__(self) -> str:
        return (f"RSACeiling(lower={self.lower:.4f}, upper={self.upper:.4f}, {len(self.upper_per_subject)} "
                f"subjects, {self.convention})")

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_noise_ceiling``)."""
        from ...figures import plot_noise_ceiling

        return plot_noise_ceiling(self, ax, **style)

def check_pooling(pooling: str) -> str:
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; use 'rsatoolbox' (rank-transform for rank correlations, "
                         "z-score for Pearson, unit RMS for cosine, then average) or 'mean' (plain average)")
    return pooling


def pool_vectors(v: torch.Tensor, method: str, pooling: str = "rsatoolbox") -> torch.Tensor:
    """(1, M) group-average of condensed RDMs ``v`` (S, M), made comparable first as rsatoolbox's ``pool_rdm``
    does for ``method`` (the average that best predicts a new subject under that comparison)."""
    if pooling == "rsatoolbox":
        if method in ("spearman", "rho-a", "tau-a"):
            v = average_ranks(v)
        elif method in ("pearson", "corr"):
            v = v - v.mean(1, keepdim=True)
            v = v / v.pow(2).mean(1, keepdim=True).sqrt()
        elif method == "cosine":
            v = v / v.pow(2).mean(1, keepdim=True).sqrt()
    return v.mean(0, keepdim=True)


def group_index(groups: Optional[Sequence[Any]], s: int, where: str = "groups") -> Tuple[List[Any], np.ndarray]:
    """(distinct group labels in first-seen order, (S,) group number of each RDM); one group per RDM if None."""
    if groups is None:
        return list(range(s)), np.arange(s)
    labels = [g.item() if isinstance(g, np.generic) else g for g in np.asarray(groups, dtype=object).ravel()]
    if len(labels) != s:
        raise ValueError(f"{where} has {len(labels)} labels for {s} RDMs; give one subject label per RDM (e.g. "
                         "[lab['subject'] for lab in neural.labels(region)])")
    names = list(dict.fromkeys(labels))
    return names, np.array([names.index(g) for g in labels])


def ceiling_vectors(v: torch.Tensor, method: str, groups: Optional[Sequence[Any]] = None,
                    pooling: str = "rsatoolbox") -> tuple:
    """Per-subject (upper, lower) similarities for condensed RDMs ``v`` (S, M).

    Leave-one-subject-out as rsatoolbox's ``boot_noise_ceiling(rdms, method, rdm_descriptor=...)``: a subject
    (all its RDMs when ``groups`` labels several per subject) is compared with the pooled RDM of all RDMs (upper)
    and of the other subjects' RDMs (lower), averaged over its own RDMs. Needs >= 2 subjects.
    """
    names, gid = group_index(groups, v.shape[0])
    pooled_all = pool_vectors(v, method, pooling)
    to_all = compare_vectors(v, pooled_all, method)[:, 0]
    upper_ps, lower_ps = [], []
    for k in range(len(names)):
        mine = torch.as_tensor(gid == k, device=v.device)
        pooled_rest = pool_vectors(v[~mine], method, pooling)
        lower_ps.append(compare_vectors(v[mine], pooled_rest, method)[:, 0].mean())
        upper_ps.append(to_all[mine].mean())
    return torch.stack(upper_ps), torch.stack(lower_ps)


def noise_ceiling(rdms: Any, method: str = "spearman", squared: bool = False, groups: Optional[Sequence[Any]] = None,
                  pooling: str = "rsatoolbox", device: Device = None) -> RSACeiling:
    """RSA noise ceiling of a stack of subject RDMs (S, N, N) from >= 2 subjects.

    ``groups`` gives each RDM's subject when a subject has several (sessions): the subject is left out as a whole.
    ``pooling="rsatoolbox"`` (default) averages rank-transformed RDMs for rank correlations, z-scored ones for
    Pearson, unit-RMS ones for cosine, as rsatoolbox and Nili et al.'s toolbox do; ``"mean"`` averages raw RDMs.

    >>> c = nw.alignment.noise_ceiling(ds.neural.rdms("hIT"), "spearman",
    ...                                groups=nw.alignment.subject_groups(ds.neural, "hIT"))
    >>> c.lower, c.upper, c.lower_per_subject
    """
    check_compare_method(method)
    check_pooling(pooling)
    stack = rdm_stack(rdms, "noise_ceiling(rdms)", device)
    names, _ = group_index(groups, stack.shape[0], "noise_ceiling(groups)")
    if len(names) < 2:
        raise ValueError(f"noise_ceiling needs RDMs of at least 2 subjects (a ceiling compares each subject with the "
                         f"others); got {stack.shape[0]} RDM(s) of {len(names)} subject(s). With one subject, report "
                         "the raw score only.")
    up, lo = ceiling_vectors(upper(stack), method, groups, pooling)
    up, lo = up.cpu().numpy(), lo.cpu().numpy()
    agg = (lambda x: float(np.mean(x ** 2))) if squared else (lambda x: float(np.mean(x)))
    return RSACeiling(agg(up), agg(lo), up, lo, method, squared, pooling, None if groups is None else names)


@dataclass
class Consistency(Tabular):
    """Split-half internal consistency (Spearman-Brown corrected)."""

    value: float                 # mean over splits of the median over neuroids
    per_split: np.ndarray        # (n_splits,) medians over neuroids
    per_neuroid: np.ndarray      # (n_splits, neuroids) corrected r
    n_splits: int
    seed: int

    def to_records(self) -> List[Dict[str, Any]]:
        """One row per (split, neuroid): its Spearman-Brown corrected split-half r."""
        return [{"split": s, "neuroid": k, "consistency": float(r)}
                for s, row in enumerate(np.asarray(self.per_neuroid)) for k, r in enumerate(row)]

    def __repr__(self) -> str:
        return f"Consistency({self.value:.4f}, Spearman-Brown corrected split-half, {self.n_splits} splits)"


def _pearson_columns(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson r of matching columns of (N, K) matrices; NaN where a column is constant."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    den = a.norm(dim=0) * b.norm(dim=0)
    return torch.where(den > 0, (a * b).sum(0) / den, torch.full_like(den, float("nan")))


def _weights(half: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(stimuli, slots) averaging weights of a boolean half."""
    w = half.to(dtype)
    return w / w.sum(1, keepdim=True)


def split_half_consistency(responses: Any, n_splits: int = 10, seed: int = 0,
                           device: Device = None) -> Consistency:
    """Internal consistency of (stimuli, neuroids, repetitions) responses.

    Each split draws one random order of the repetition slots (shared by all stimuli and neuroids). A stimulus
    with ``k`` present repetitions puts the first ``k // 2`` of them in that order into one half and the other
    ``k - k // 2`` into the other, so with NaN-padded (missing) repetitions each stimulus splits its own present
    repetitions; missing ones are ignored wherever they sit on the axis, and extra all-NaN repetitions change
    nothing. Stimuli with fewer than 2 present repetitions cannot be split and are left out. With complete data
    this is the plain split of the repetition axis. Spearman-Brown assumes equal halves; with odd ``k`` the
    halves differ by one repetition (a slight approximation).

    >>> c = nw.alignment.split_half_consistency(resp)     # resp: (N, neuroids, reps), reps >= 2
    """
    if responses is None:
        raise TypeError("split_half_consistency(responses): got None; give responses (stimuli, neuroids, "
                        "repetitions) as an array, tensor or NeuralResponses")
    raw = getattr(responses, "data", responses)
    if isinstance(raw, torch.Tensor):
        device = raw.device if device is None else device
        raw = raw.detach().cpu().double().numpy()
    try:
        arr = np.array(raw, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError("split_half_consistency(responses): expected a numeric array, tensor or NeuralResponses, "
                        f"got {type(raw).__name__}") from err
    if arr.ndim != 3:
        raise ValueError("split_half_consistency needs responses shaped (stimuli, neuroids, repetitions); "
                         f"got shape {arr.shape}")
    if arr.shape[2] < 2:
        raise ValueError(f"split_half_consistency needs at least 2 repetitions, got {arr.shape[2]}")
    if not isinstance(n_splits, int) or n_splits < 1:
        raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}")
    present = present_repetitions(arr, "split_half_consistency(responses)")
    splittable = present.sum(1) >= 2
    if splittable.sum() < 4:
        raise ValueError("split_half_consistency needs at least 4 stimuli with 2 or more (present) repetitions, "
                         f"got {int(splittable.sum())}")
    arr, present = arr[splittable], present[splittable]
    # present repetitions first (stable), so that all-NaN padding anywhere on the axis is dropped
    order = np.argsort(~present, axis=1, kind="stable")
    slots = int(present.sum(1).max())
    arr = np.take_along_axis(arr, order[:, None, :], axis=2)[:, :, :slots]
    present = np.take_along_axis(present, order, axis=1)[:, :slots]
    x = as_tensor(np.where(present[:, None, :], arr, 0.0), "split_half_consistency(responses)", device)
    mask = torch.as_tensor(present, device=x.device)
    count = mask.sum(1, keepdim=True)
    g = torch.Generator().manual_seed(seed)
    per = []
    for _ in range(n_splits):
        perm = torch.randperm(slots, generator=g)
        key = torch.empty(slots, dtype=torch.long)
        key[perm] = torch.arange(slots)
        key = key.to(x.device)
        # rank of each present repetition among its stimulus's present repetitions, in the order of ``key``
        rank = ((key[None, None, :] < key[None, :, None]) & mask[:, None, :]).sum(2)
        first = mask & (rank < count // 2)
        half1 = torch.einsum("skr,sr->sk", x, _weights(first, x.dtype))
        half2 = torch.einsum("skr,sr->sk", x, _weights(mask & ~first, x.dtype))
        r = _pearson_columns(half1, half2)
        per.append(2 * r / (1 + r))
    per_neuroid = torch.stack(per).cpu().numpy()
    per_split = np.nanmedian(per_neuroid, axis=1)
    return Consistency(float(np.mean(per_split)), per_split, per_neuroid, n_splits, seed)


CEILING_FORMULA_TEXT = {
    "r/c": "score / ceiling",
    "(r/c)^2": "(score / ceiling)^2",
    "r^2/c": "score^2 / ceiling (fraction of explainable variance)",
    "r/sqrt(c)": "score / sqrt(ceiling)",
}
# the formula under which a model equal to the noise-free signal scores 1: RSA's lower bound is itself a
# similarity with other subjects' data (r/c); the split-half ceiling is a reliability, i.e. the *square* of the
# largest correlation a noise-free prediction can reach (r^2/c, here kept on the r scale as r/sqrt(c))
DEFAULT_CEILING_FORMULA = {"rsa": "r/c", "encoding": "r/sqrt(c)"}


def check_ceiling_formula(formula: Optional[str], metric: str) -> Optional[str]:
    """The formula name for ``metric``: None (raw scores only), ``"default"`` (the metric's formula) or a name."""
    if formula is None:
        return None
    if formula == "default":
        if metric not in DEFAULT_CEILING_FORMULA:
            raise ValueError(f"metric {metric!r} has no noise ceiling, so no ceiled score; leave ceiling_formula=None")
        return DEFAULT_CEILING_FORMULA[metric]
    if formula not in CEILING_FORMULAS:
        raise ValueError(f"unknown ceiling formula {formula!r}; use None (raw scores), 'default' or one of "
                         f"{list(CEILING_FORMULAS)}")
    return formula


def unit_bootstrap_ci(values: np.ndarray, statistic: Callable[[np.ndarray], float], level: float = 0.95,
                      n_boot: int = 1000, seed: int = 0) -> Tuple[float, float]:
    """Percentile CI of ``statistic`` over ``values`` (..., units) with the units (last axis: subjects,
    neuroids) resampled with replacement. For a ceiling this keeps each unit's value fixed (e.g. a subject's
    similarity with the others), so it shows how much the ceiling depends on which units were measured."""
    k = values.shape[-1]
    rng = np.random.default_rng(seed)
    draws = np.array([statistic(values[..., rng.integers(k, size=k)]) for _ in range(n_boot)])
    lo, hi = np.nanpercentile(draws, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)


def ceiled(score: float, ceiling: Optional[float], formula: str = "r/c",
           ceiling_ci: Optional[Tuple[float, float]] = None) -> float:
    """``score`` relative to ``ceiling`` by ``formula``: ``"r/c"``, ``"(r/c)^2"``, ``"r^2/c"`` or ``"r/sqrt(c)"``
    (see ``CEILING_FORMULA_TEXT``). NaN (refused) when there is no positive ceiling or its CI reaches zero:
    dividing by a ceiling that may be 0 gives numbers without meaning (e.g. far above 1).

    Numbers from different formulas are not comparable; results carry the formula's name.
    """
    if formula not in CEILING_FORMULAS:
        raise ValueError(f"unknown ceiling formula {formula!r}; use one of {list(CEILING_FORMULAS)}")
    if ceiling is None or not np.isfinite(ceiling) or ceiling <= 0:
        return float("nan")
    if ceiling_ci is not None and not ceiling_ci[0] > 0:
        return float("nan")
    if formula == "r/c":
        return score / ceiling
    if formula == "(r/c)^2":
        return (score / ceiling) ** 2
    if formula == "r/sqrt(c)":
        return float(score / np.sqrt(ceiling))
    return score ** 2 / ceiling
