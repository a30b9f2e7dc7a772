"""Encoding models: cross-validated prediction of each neuroid from a layer's features (Brain-Score recipe).

For each of ``n_splits`` stratified shuffle splits (90/10 by default) a ridge (per-neuroid alpha) or PLS map
is fitted on the training stimuli and scored by the Pearson r per neuroid on the held-out stimuli. The score
is the median over neuroids, averaged over splits; the raw (split x neuroid) values are kept.

The error and interval use Nadeau & Bengio's (2003) corrected resampled t: shuffle splits overlap, so the
plain standard error over splits is too small (a 95 % interval covered the expected score about 77 % of the
time over independent synthetic samples); the variance over splits is scaled by ``1/J + n_test/n_train``
instead of ``1/J`` and the quantile is Student's t with ``J - 1`` degrees of freedom. Very wide layers can be projected first (``project=``): a seeded random
projection, or PCA fitted on each split's training stimuli only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..progress import CancelToken, ProgressArg, check_cancel, make_reporter
from ..reduce import apply_reduce, normalize_reduce
from ._tensor import Device, as_tensor, features_2d
from .ceiling import _pearson_columns, split_half_consistency, unit_bootstrap_ci
from .cross_validation import CrossValidation, Split
from .mapping import MAPPING_NAMES, as_mapping, fresh
from .neural_data import response_matrix
from .regression import DEFAULT_ALPHAS

ENCODING_METHODS = MAPPING_NAMES


@dataclass
class EncodingScore:
    """Cross-validated encoding score of one layer for one set of neuroids."""

    value: float                  # mean over splits of the median over neuroids of held-out Pearson r
    error: float                  # corrected resampled standard error (Nadeau-Bengio), see the module docstring
    per_split: np.ndarray         # (splits,)
    per_neuroid: np.ndarray       # (splits, neuroids) held-out Pearson r
    method: str
    splits: List[Split] = field(repr=False)
    alphas: Optional[np.ndarray] = field(default=None, repr=False)  # ridge: (splits, neuroids)
    ci_low: float = float("nan")  # 95 % corrected resampled t interval
    ci_high: float = float("nan")
    interval: str = "corrected resampled t (Nadeau-Bengio), 95 %"

    def __repr__(self) -> str:
        return (f"EncodingScore({self.value:.4f} [{self.ci_low:.4f}, {self.ci_high:.4f}], {self.method}, "
                f"{len(self.splits)} splits, {self.per_neuroid.shape[1]} neuroids)")


def corrected_resampled_t(per_split: np.ndarray, test_train_ratio: float, center: Optional[np.ndarray] = None,
                          level: float = 0.95) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(standard error, low, high) of the mean over ``per_split`` (splits, ...) values from overlapping random
    splits with ``n_test / n_train = test_train_ratio`` (Nadeau & Bengio 2003): variance over splits times
    ``1/J + ratio``, Student's t quantile with ``J - 1`` df. NaN with one split."""
    from scipy.stats import t as student_t

    values = np.asarray(per_split, dtype=np.float64)
    center = values.mean(0) if center is None else np.asarray(center, dtype=np.float64)
    j = values.shape[0]
    if j < 2:
        nan = np.full(np.shape(center), np.nan)
        return nan, nan, nan
    se = np.sqrt(values.var(0, ddof=1) * (1 / j + test_train_ratio))
    q = student_t.ppf((1 + level) / 2, j - 1)
    return se, center - q * se, center + q * se


def test_train_ratio(splits: Sequence[Split]) -> float:
    """Mean ``n_test / n_train`` of the splits."""
    return float(np.mean([len(test) / len(train) for train, test in splits]))


def check_encoding_method(method: str) -> str:
    if method not in ENCODING_METHODS:
        raise ValueError(f"unknown encoding method {method!r}; use one of {list(ENCODING_METHODS)}")
    return method


def check_project(project: Any) -> Any:
    """None, ("pca", k) or a canonical ("random_projection", k, seed); clear error otherwise."""
    if project is None:
        return None
    if isinstance(project, (tuple, list)) and len(project) == 2 and project[0] == "pca":
        if not isinstance(project[1], int) or project[1] < 1:
            raise ValueError(f"('pca', k) needs a positive integer k, got {project[1]!r}")
        return ("pca", project[1])
    if isinstance(project, (tuple, list)) and len(project) == 3 and project[0] == "random_projection":
        return normalize_reduce(project)
    raise ValueError(f"unknown project={project!r}; use None, ('pca', k) or ('random_projection', k, seed)")


def _project(train: torch.Tensor, test: torch.Tensor, project: Any):
    """PCA fitted on the training stimuli; other projections were applied to all stimuli up front."""
    if project is None or project[0] != "pca":
        return train, test
    k = project[1]
    mean = train.mean(0)
    _, _, vh = torch.linalg.svd(train - mean, full_matrices=False)
    basis = vh[:k].T
    return (train - mean) @ basis, (test - mean) @ basis


def pearson_r(prediction: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """The encoding metric's default correlation: Pearson r per neuroid (column); NaN for a constant column."""
    return _pearson_columns(prediction, responses)


class InternalConsistency:
    """The encoding metric's default ceiling: split-half internal consistency of the repetitions (Spearman-Brown),
    median over neuroids, with a CI by bootstrapping neuroids; none without repetitions."""

    note = "no repetitions: no internal-consistency ceiling"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def __call__(self, responses: np.ndarray) -> Tuple[float, Tuple[float, float]]:
        """(ceiling, its CI) of (stimuli, neuroids, repetitions) responses; NaN without repetitions."""
        if responses.shape[2] < 2:
            return float("nan"), (float("nan"), float("nan"))
        c = split_half_consistency(responses, seed=self.seed)
        return c.value, unit_bootstrap_ci(c.per_neuroid, lambda v: np.nanmedian(v, axis=1).mean(), seed=self.seed)


class EncodingMetric:
    """Brain-Score's neural predictivity, in parts: a ``mapping`` fitted per split (``"ridge"``, ``"pls"``, one of
    :mod:`.mapping`'s or any estimator with fit/predict), a ``correlation`` of held-out predictions and responses per
    neuroid, a ``cross_validation`` (:class:`CrossValidation`) and a ``ceiling`` (:class:`InternalConsistency`).
    ``project`` reduces wide features first (see :func:`check_project`); ``level`` is the CI's coverage.

    >>> from sklearn.linear_model import Ridge
    >>> metric = nw.alignment.EncodingMetric(Ridge(alpha=10.0), cross_validation=nw.alignment.CrossValidation(seed=0))
    >>> metric.score(acts["layer3"], resp)                       # an EncodingScore
    >>> nw.alignment.sweep(probe, dataset, metric=metric)        # every layer, held-out best layer
    """

    name = "encoding"
    label = "encoding r"
    #: the ``sweep()`` keywords that configure this metric when it is built from them
    sweep_settings = ("encoding",)

    def __init__(self, mapping: Any = "ridge",
                 correlation: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = pearson_r,
                 cross_validation: Optional[CrossValidation] = None, ceiling: Optional[InternalConsistency] = None,
                 project: Any = None, level: float = 0.95) -> None:
        self.mapping = as_mapping(mapping)
        if not callable(correlation):
            raise TypeError(f"correlation must be a function (prediction, responses) -> one value per neuroid, got "
                            f"{type(correlation).__name__}")
        self.correlation = correlation
        self.cross_validation = CrossValidation() if cross_validation is None else cross_validation
        if not isinstance(self.cross_validation, CrossValidation):
            raise TypeError(f"cross_validation must be an nw.alignment.CrossValidation, got "
                            f"{type(self.cross_validation).__name__}")
        self.ceiling = InternalConsistency() if ceiling is None else ceiling
        self.project = check_project(project)
        self.level = level

    @property
    def method(self) -> str:
        return self.mapping.name

    def __repr__(self) -> str:
        return (f"EncodingMetric({self.mapping!r}, {getattr(self.correlation, '__name__', self.correlation)}, "
                f"{self.cross_validation})")

    def score(self, features: Any, responses: Any, stratify: Optional[Any] = None,
              splits: Optional[List[Split]] = None, device: Device = None, progress: ProgressArg = None,
              cancel: Optional[CancelToken] = None) -> EncodingScore:
        """Cross-validated score of ``features`` (N, ...) for ``responses`` (N, neuroids[, repetitions], averaged);
        ``stratify`` labels the stimuli for the splits; ``splits`` overrides them."""
        project = self.project
        random = project is not None and project[0] == "random_projection"
        # a random projection does not depend on the split: apply it once, from the features' own precision, so a
        # wide float32 layer is never copied whole into float64
        x = features_2d(features, "encoding_score(features)", device, dtype=None if random else torch.float64)
        if random:
            x = apply_reduce(x, project).double()
        y = as_tensor(response_matrix(responses), "encoding_score(responses)", x.device)
        if y.dim() == 3:
            y = y.mean(2)
        if y.dim() == 1:
            y = y[:, None]
        if y.dim() != 2 or y.shape[0] != x.shape[0]:
            raise ValueError(f"features cover {x.shape[0]} stimuli but responses have shape {tuple(y.shape)}; give "
                             "responses as (stimuli, neuroids[, repetitions]) in the features' stimulus order")
        if splits is None:
            splits = self.cross_validation.splits(x.shape[0], stratify)
        report = make_reporter(progress, f"encoding ({self.method})")
        per_neuroid, chosen = [], []
        for i, (train, test) in enumerate(splits):
            check_cancel(cancel)
            tr, te = torch.as_tensor(train, device=x.device), torch.as_tensor(test, device=x.device)
            xtr, xte = _project(x[tr], x[te], project)
            fitted = fresh(self.mapping).fit(xtr, y[tr])
            r = torch.as_tensor(self.correlation(fitted.predict(xte), y[te]), dtype=torch.float64)
            per_neuroid.append(r.cpu().numpy().reshape(-1))
            if fitted.alphas_ is not None:
                chosen.append(fitted.alphas_.cpu().numpy())
            report(i + 1, len(splits))
        raw = np.stack(per_neuroid)
        per_split = np.nanmedian(raw, axis=1)
        err, lo, hi = corrected_resampled_t(per_split, test_train_ratio(splits), level=self.level)
        return EncodingScore(float(np.mean(per_split)), float(err), per_split, raw, self.method, list(splits),
                             np.stack(chosen) if chosen else None, float(lo), float(hi))


def encoding_score(features: Any, responses: Any, method: str = "ridge", *, n_splits: int = 10,
                   test_size: float = 0.1, stratify: Optional[Any] = None, seed: int = 1,
                   splits: Optional[List[Split]] = None, alphas: Sequence[float] = DEFAULT_ALPHAS,
                   n_components: int = 25, project: Any = None, split_recipe: str = "stratified", device: Device = None,
                   progress: ProgressArg = None, cancel: Optional[CancelToken] = None) -> EncodingScore:
    """Cross-validated encoding score of ``features`` (N, ...) for ``responses`` (N, neuroids[, reps]): the keyword
    form of :class:`EncodingMetric` (``method`` ``"ridge"``/``"pls"``).

    Repetitions (a third axis) are averaged. ``splits`` overrides the generated splits; ``split_recipe=
    "brainscore"`` generates Brain-Score's (scikit-learn's ``StratifiedShuffleSplit``, ``random_state=seed``; the
    default ``seed=1`` is Brain-Score's), see :mod:`.cross_validation`.

    >>> s = nw.alignment.encoding_score(acts["layer3"], resp, method="ridge", stratify=categories)
    >>> s.value, s.error, s.per_neuroid.shape     # (10, neuroids)
    """
    check_encoding_method(method)
    metric = EncodingMetric(as_mapping(method, alphas, n_components),
                            cross_validation=CrossValidation(n_splits, test_size, seed, split_recipe), project=project)
    return metric.score(features, responses, stratify, splits, device, progress, cancel)
