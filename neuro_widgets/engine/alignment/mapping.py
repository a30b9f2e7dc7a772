"""Mappings from a layer's features to neuroids, as the encoding metric fits them: ridge, PLS or any estimator.

A mapping has scikit-learn's two methods, ``fit(x, y)`` (returning itself) and ``predict(x)``; the encoding metric
gets a fresh copy for every split (:func:`fresh`). Ours work on float64 tensors; any other object with ``fit`` and
``predict`` (a scikit-learn estimator, a user's class) is wrapped by :class:`EstimatorMapping`, which hands it
float64 NumPy arrays.

>>> from sklearn.linear_model import Ridge
>>> metric = nw.alignment.EncodingMetric(Ridge(alpha=10.0))      # any estimator with fit/predict
>>> metric = nw.alignment.EncodingMetric(nw.alignment.RidgeMapping(alphas=[10.0]))   # ours, the same map
"""
from __future__ import annotations

import copy
from typing import Any, Optional, Sequence

import numpy as np
import torch

from .regression import DEFAULT_ALPHAS, LinearMap, pls_fit, ridge_fit


class Mapping:
    """Base of the mappings: ``fit(x, y) -> self``, ``predict(x) -> (stimuli, neuroids)`` float64 tensor."""

    name = "mapping"

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> "Mapping":
        raise NotImplementedError

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def alphas_(self) -> Optional[torch.Tensor]:
        """The penalty chosen per neuroid, for mappings that choose one (ridge); None otherwise."""
        return None


class _Linear(Mapping):
    fitted: Optional[LinearMap] = None

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        if self.fitted is None:
            raise RuntimeError(f"{type(self).__name__}.predict called before fit")
        return self.fitted.predict(x)


class RidgeMapping(_Linear):
    """Ridge with a separate alpha per neuroid chosen from ``alphas`` by leave-one-out CV (``RidgeCV(
    alpha_per_target=True)``); a one-alpha grid is plain ridge at that alpha."""

    name = "ridge"

    def __init__(self, alphas: Sequence[float] = DEFAULT_ALPHAS) -> None:
        self.alphas = alphas

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> "RidgeMapping":
        self.fitted = ridge_fit(x, y, self.alphas)
        return self

    @property
    def alphas_(self) -> Optional[torch.Tensor]:
        return None if self.fitted is None else self.fitted.alphas

    def __repr__(self) -> str:
        a = np.asarray(self.alphas, dtype=float).ravel()
        grid = f"{a[0]:g}" if len(a) == 1 else f"{len(a)} alphas {a.min():g}..{a.max():g}"
        return f"RidgeMapping({grid})"


class PLSMapping(_Linear):
    """PLS2 regression, unscaled (Brain-Score's ``PLSRegression(n_components=25, scale=False)``)."""

    name = "pls"

    def __init__(self, n_components: int = 25) -> None:
        self.n_components = n_components

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> "PLSMapping":
        self.fitted = pls_fit(x, y, self.n_components)
        return self

    def __repr__(self) -> str:
        return f"PLSMapping({self.n_components})"


class EstimatorMapping(Mapping):
    """Any object with scikit-learn's ``fit(X, y)`` / ``predict(X)``, fed float64 NumPy arrays."""

    def __init__(self, estimator: Any) -> None:
        if not (callable(getattr(estimator, "fit", None)) and callable(getattr(estimator, "predict", None))):
            raise TypeError(f"a mapping needs fit(X, y) and predict(X) methods (scikit-learn style); "
                            f"{type(estimator).__name__} has not both. Use 'ridge', 'pls', or e.g. "
                            "sklearn.linear_model.Ridge(alpha=1.0)")
        self.estimator = estimator
        self.name = type(estimator).__name__

    def fit(self, x: torch.Tensor, y: torch.Tensor) -> "EstimatorMapping":
        self.estimator.fit(x.cpu().numpy(), y.cpu().numpy())
        return self

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        pred = np.asarray(self.estimator.predict(x.cpu().numpy()), dtype=np.float64).reshape(x.shape[0], -1)
        return torch.from_numpy(pred).to(x.device)

    def __repr__(self) -> str:
        return f"EstimatorMapping({self.estimator!r})"


MAPPING_NAMES = ("ridge", "pls")


def as_mapping(mapping: Any, alphas: Sequence[float] = DEFAULT_ALPHAS, n_components: int = 25) -> Mapping:
    """A :class:`Mapping` from a name (``"ridge"``/``"pls"``, built with ``alphas``/``n_components``), one of ours,
    or any object with ``fit``/``predict``."""
    if isinstance(mapping, Mapping):
        return mapping
    if isinstance(mapping, str):
        if mapping == "ridge":
            return RidgeMapping(alphas)
        if mapping == "pls":
            return PLSMapping(n_components)
        raise ValueError(f"unknown encoding method {mapping!r}; use one of {list(MAPPING_NAMES)}, or pass an "
                         "estimator with fit/predict")
    return EstimatorMapping(mapping)


def fresh(mapping: Mapping) -> Mapping:
    """An unfitted copy: scikit-learn's ``clone`` for estimators that support it, else a copy without the fit."""
    if isinstance(mapping, EstimatorMapping):
        if hasattr(mapping.estimator, "get_params"):
            from sklearn.base import clone

            return EstimatorMapping(clone(mapping.estimator))
        return EstimatorMapping(copy.deepcopy(mapping.estimator))
    out = copy.copy(mapping)
    if isinstance(out, _Linear):
        out.fitted = None
    return out
