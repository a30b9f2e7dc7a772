"""The metrics a sweep composes, as objects (Brain-Score's manner): what to compare, how, and its ceiling.

* :class:`RSAMetric`: layer RDMs vs brain RDMs (``method``, ``rdm_method``), bootstrap CI, RSA noise ceiling.
* :class:`~.encoding.EncodingMetric`: a mapping (ridge, PLS or any fit/predict estimator), a correlation, a
  cross-validation and a ceiling.
* :class:`CKAMetric`: CKA between each layer and the responses, jackknife CI, no ceiling.

``sweep(metric="encoding", encoding="pls", n_splits=5, ...)`` builds one of these from its keywords
(:func:`build_metric`); ``sweep(metric=EncodingMetric(Ridge(alpha=10.0)))`` takes one ready-made.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from ..progress import CancelToken
from .cka import CKA_KERNELS
from .compare import check_compare_method
from .cross_validation import CrossValidation
from .encoding import EncodingMetric, InternalConsistency, check_encoding_method
from .mapping import as_mapping
from .neural_data import subject_groups
from .rdm import check_rdm_method
from .regression import DEFAULT_ALPHAS
from .scorers import JACK_GROUPS, CKAScorer, EncodingScorer, RSAScorer, Scorer

class RSAMetric:
    """RDMs of each layer (``rdm_method``) vs each subject's RDM (``method``), mean over subjects; CI by
    bootstrapping stimuli (and subjects), ``n_boot`` resamples at ``level``; ceiling = the RSA noise ceiling."""

    name = "rsa"
    label = "RSA"
    #: the ``sweep()`` keywords that configure this metric (the rest of its keywords go unused by it)
    sweep_settings = ("rdm_method", "method")

    def __init__(self, method: str = "spearman", rdm_method: str = "correlation", n_boot: int = 1000,
                 level: float = 0.95) -> None:
        check_compare_method(method)
        check_rdm_method(rdm_method)
        if not isinstance(n_boot, int) or n_boot < 1:
            raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
        self.method, self.rdm_method, self.n_boot, self.level = method, rdm_method, n_boot, level

    def __repr__(self) -> str:
        return f"RSAMetric({self.method!r}, rdm_method={self.rdm_method!r}, n_boot={self.n_boot})"


class CKAMetric:
    """CKA (``kernel``, ``unbiased`` HSIC) between each layer and the responses; CI ± 1.96 jackknife SE."""

    name = "cka"
    label = "CKA"
    sweep_settings = ("kernel",)

    def __init__(self, kernel: str = "linear", unbiased: bool = True, level: float = 0.95) -> None:
        if kernel not in CKA_KERNELS:
            raise ValueError(f"unknown CKA kernel {kernel!r}; use one of {list(CKA_KERNELS)}")
        self.kernel, self.unbiased, self.level = kernel, unbiased, level

    def __repr__(self) -> str:
        return f"CKAMetric({self.kernel!r}, unbiased={self.unbiased})"


Metric = Union[RSAMetric, EncodingMetric, CKAMetric]
METRIC_TYPES = (RSAMetric, EncodingMetric, CKAMetric)
#: the metric names ``sweep(metric=...)`` takes; the first is the default
METRICS = tuple(m.name for m in METRIC_TYPES)
#: name -> {"label": how to name its scores, "settings": the sweep() keywords that configure it} (front ends
#: read this; the widgets' metric picker is built from it)
METRIC_SPECS: Dict[str, Dict[str, Any]] = {m.name: {"label": m.label, "settings": list(m.sweep_settings)}
                                           for m in METRIC_TYPES}


def build_metric(name: str, *, method: str = "spearman", rdm_method: str = "correlation", encoding: str = "ridge",
                 n_splits: int = 10, test_size: float = 0.1, alphas: Optional[Sequence[float]] = None,
                 n_components: int = 25, project: Any = None, split_recipe: str = "stratified",
                 kernel: str = "linear", unbiased: bool = True, n_boot: int = 1000, ci: float = 0.95,
                 seed: int = 0) -> Metric:
    """The metric object ``sweep``'s keywords describe (``seed`` seeds the encoding splits and its ceiling)."""
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}; use one of {list(METRICS)} or a metric object "
                         "(nw.alignment.RSAMetric, EncodingMetric, CKAMetric)")
    # every keyword is checked whatever the metric, so a typo is caught even where it would go unused
    rsa, cka = RSAMetric(method, rdm_method, n_boot, ci), CKAMetric(kernel, unbiased, ci)
    check_encoding_method(encoding)
    cross_validation = CrossValidation(n_splits, test_size, seed, split_recipe)
    if name != "encoding":
        return rsa if name == "rsa" else cka
    mapping = as_mapping(encoding, DEFAULT_ALPHAS if alphas is None else alphas, n_components)
    return EncodingMetric(mapping, cross_validation=cross_validation,
                          ceiling=InternalConsistency(seed), project=project, level=ci)


def make_scorer(metric: Metric, prepared: Any, features: List[torch.Tensor], neural: Any, region: str, *,
                labels: Optional[np.ndarray], seed: int, chunk_bytes: Optional[int], device: torch.device,
                cancel: Optional[CancelToken]) -> Scorer:
    """The scorer of ``metric`` on one model's scorable layers (``prepared`` by :func:`.scorers.prepare_layers`,
    ``features`` their tensors) for ``region`` of ``neural``."""
    if isinstance(metric, RSAMetric):
        return RSAScorer(prepared, neural.rdms(region), metric.method, metric.n_boot, metric.level, seed, chunk_bytes,
                         cancel, subject_groups(neural, region))
    if isinstance(metric, CKAMetric):
        resp = torch.as_tensor(neural.region(region).mean(), device=device)
        return CKAScorer(prepared, resp @ resp.T, metric.kernel, metric.unbiased, seed, cancel)
    return EncodingScorer(metric, features, neural.region(region).data, labels, device, cancel)


def describe(metric: Metric) -> Dict[str, str]:
    """The sweep's settings that name the metric: its method, interval and ceiling."""
    level = f"{metric.level:.0%}"
    if isinstance(metric, RSAMetric):
        return {"method": metric.method,
                "ci_kind": f"percentile bootstrap over stimuli and subjects ({metric.n_boot} resamples, {level})",
                "ceiling": "lower bound of the RSA noise ceiling (mean over subjects; rsatoolbox pooling; sessions "
                           "grouped by subject)"}
    if isinstance(metric, CKAMetric):
        return {"method": f"{metric.kernel} CKA",
                "ci_kind": f"CKA ± 1.96 delete-a-group jackknife SE over stimuli ({JACK_GROUPS} groups)",
                "ceiling": "none"}
    return {"method": metric.method, "ci_kind": f"corrected resampled t over splits (Nadeau-Bengio), {level}",
            "ceiling": "split-half internal consistency (Spearman-Brown), median over neuroids"}
