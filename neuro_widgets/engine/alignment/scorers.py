"""Scorers: one metric on one model's layers for one region, scoring any subset of the stimuli.

The sweep asks each scorer for every layer's score on all stimuli and on the selection and evaluation halves,
for resampled scores (bootstrap, jackknife or splits: paired across models) and their interval, and for the
region's ceiling on a subset. The metric objects (:mod:`.metrics`) say which scorer to build.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch

from ..progress import CancelToken, check_cancel
from .ceiling import ceiling_vectors, unit_bootstrap_ci
from .cka import cka_from_kernels, kernel_from_gram
from .compare import Prepared
from .encoding import EncodingMetric, EncodingScore, corrected_resampled_t, test_train_ratio
from .layer_rdms import LayerRDMs, condensed_positions, constant_features_note
from .neural_data import repetition_mean
from .rdm import _gram
from .stats import bootstrap_prepared, percentile_ci

Z95 = 1.959963984540054  # two-sided 95 % normal quantile
JACK_GROUPS = 40


class Scorer:
    """One metric on one model's layers for one region: scores on any subset of the (aligned) stimuli."""

    ceiling_note = ""

    def score(self, idx: np.ndarray) -> Tuple[np.ndarray, List[np.ndarray]]:
        raise NotImplementedError

    def samples(self, idx: np.ndarray, layers: Optional[List[int]] = None) -> np.ndarray:
        """(samples, layers) resampled scores on ``idx``, paired across models (same resamples / splits)."""
        raise NotImplementedError

    def bounds(self, center: np.ndarray, samples: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def ceiling(self, idx: np.ndarray) -> Tuple[float, float, Tuple[float, float]]:
        """(ceiling, upper bound or NaN, CI of the ceiling over subjects / neuroids) on ``idx``."""
        return float("nan"), float("nan"), (float("nan"), float("nan"))


class RSAScorer(Scorer):
    def __init__(self, layer_rdms: LayerRDMs, brain: np.ndarray, method: str, n_boot: int, level: float,
                 seed: int, chunk_bytes: Optional[int], cancel: Optional[CancelToken],
                 groups: Optional[List[Any]] = None) -> None:
        self.layers, self.method, self.groups = layer_rdms, method, groups
        i, j = np.triu_indices(layer_rdms.n, 1)
        self.brain = torch.as_tensor(np.asarray(brain, dtype=np.float64)[:, i, j], device=layer_rdms.v.device)
        self.n_boot, self.level, self.seed, self.chunk_bytes, self.cancel = n_boot, level, seed, chunk_bytes, cancel
        if len(brain) < 2:
            self.ceiling_note = "one RDM only: no noise ceiling (needs >= 2 subjects)"
        elif groups is not None and len(set(groups)) < 2:
            self.ceiling_note = "RDMs of one subject only: no noise ceiling (needs >= 2 subjects)"

    def _brain(self, idx: np.ndarray) -> torch.Tensor:
        if self.layers.everything(idx):
            return self.brain
        return self.brain[:, condensed_positions(idx, self.layers.n).to(self.brain.device)]

    def score(self, idx):
        sims = self.layers.compare(self._brain(idx), idx, self.method).cpu().numpy()
        return sims.mean(1), list(sims)

    def samples(self, idx, layers=None):
        brain = Prepared(self._brain(idx), self.method)
        # layer by layer the same draws (a function of the seed alone), so groups of layers can go one at a time
        return np.hstack([bootstrap_prepared(models, brain, len(idx), self.n_boot, self.seed,
                                             chunk_bytes=self.chunk_bytes, cancel=self.cancel, groups=self.groups)
                          for models in self.layers.prepared(self.method, layers, idx)])

    def bounds(self, center, samples):
        return percentile_ci(samples, self.level)

    def ceiling(self, idx):
        if self.ceiling_note:
            return super().ceiling(idx)
        up, lo = ceiling_vectors(self._brain(idx), self.method, self.groups)
        lo = lo.cpu().numpy()
        return float(lo.mean()), float(up.mean()), unit_bootstrap_ci(lo, np.mean, self.level, seed=self.seed)


class CKAScorer(Scorer):
    ceiling_note = "CKA has no noise ceiling"

    def __init__(self, grams: torch.Tensor, brain_gram: torch.Tensor, kernel: str, unbiased: bool, seed: int,
                 cancel: Optional[CancelToken]) -> None:
        self.grams, self.brain = grams, brain_gram
        self.kernel, self.unbiased = kernel, unbiased
        self.seed, self.cancel = seed, cancel

    def _cka(self, idx: torch.Tensor, layers: List[int]) -> np.ndarray:
        lk = kernel_from_gram(self.brain[idx][:, idx], self.kernel)
        return np.array([cka_from_kernels(kernel_from_gram(self.grams[i][idx][:, idx], self.kernel), lk,
                                          self.unbiased) for i in layers])

    def score(self, idx):
        vals = self._cka(torch.as_tensor(idx), list(range(len(self.grams))))
        return vals, [np.array([v]) for v in vals]

    def samples(self, idx, layers=None):
        """Delete-a-group jackknife over stimuli (a bootstrap would put copies of a stimulus side by side,
        which inflates CKA): ``groups`` disjoint random groups, each left out once."""
        layers = list(range(len(self.grams))) if layers is None else layers
        groups = np.array_split(np.random.default_rng(self.seed).permutation(len(idx)), min(len(idx), JACK_GROUPS))
        jack = np.empty((len(groups), len(layers)))
        for gi, grp in enumerate(groups):
            check_cancel(self.cancel)
            jack[gi] = self._cka(torch.as_tensor(np.delete(idx, grp)), layers)
        return jack

    def bounds(self, center, samples):
        se = jackknife_se(samples)
        return center - Z95 * se, center + Z95 * se


def jackknife_se(values: np.ndarray) -> np.ndarray:
    """Standard error from delete-a-group jackknife values (groups, ...)."""
    g = values.shape[0]
    return np.sqrt((g - 1) / g * ((values - values.mean(0)) ** 2).sum(0))


class EncodingScorer(Scorer):
    def __init__(self, metric: EncodingMetric, features: List[torch.Tensor], responses: np.ndarray,
                 labels: Optional[np.ndarray], device: torch.device, cancel: Optional[CancelToken]) -> None:
        self.metric, self.features, self.responses = metric, features, responses
        self.mean = repetition_mean(responses)  # over present repetitions (NaN-padded ones are missing)
        self.labels, self.device, self.cancel = labels, device, cancel
        if responses.shape[2] < 2:
            self.ceiling_note = metric.ceiling.note
        self._cache: Dict[Tuple[int, bytes], EncodingScore] = {}

    def _one(self, layer: int, idx: np.ndarray) -> EncodingScore:
        key = (layer, idx.tobytes())
        if key not in self._cache:
            feats = self.features[layer][torch.as_tensor(idx)]
            self._cache[key] = self.metric.score(feats, self.mean[idx], None if self.labels is None else self.labels[idx],
                                                 device=self.device, cancel=self.cancel)
        self._ratio = test_train_ratio(self._cache[key].splits)
        return self._cache[key]

    def score(self, idx):
        res = [self._one(i, idx) for i in range(len(self.features))]
        return np.array([r.value for r in res]), [r.per_neuroid for r in res]

    def samples(self, idx, layers=None):
        layers = list(range(len(self.features))) if layers is None else layers
        return np.stack([self._one(i, idx).per_split for i in layers], axis=1)  # (splits, layers)

    def bounds(self, center, samples):
        # the splits of the stimuli last scored (``samples`` comes right before ``bounds``)
        _, lo, hi = corrected_resampled_t(samples, self._ratio, center, self.metric.level)
        return lo, hi

    def ceiling(self, idx):
        if self.ceiling_note:
            return super().ceiling(idx)
        value, ci = self.metric.ceiling(self.responses[idx])
        return value, float("nan"), ci


def prepare_layers(feats: Iterable[torch.Tensor], n_layers: int, n: int, metric: str, rdm_method: str,
                   dev: torch.device, rdm_group: Optional[int] = None) -> Tuple[Dict[int, str], List[int], Any]:
    """(notes of the layers that cannot be scored, indices of those that can, what the metric's scorer needs:
    the layer RDMs for RSA (their rows and sort orders ``rdm_group`` layers at a time, default all), the Gram
    matrices for CKA, nothing for encoding). ``feats`` gives the ``n_layers`` layers' activations (``n``
    stimuli each) one at a time: RSA and CKA keep only what they make of each."""
    if metric == "rsa":
        rdms = LayerRDMs(feats, n_layers, n, rdm_method, dev, rdm_group)
        return rdms.notes, rdms.valid, rdms
    notes: Dict[int, str] = {}
    # CKA: filled one layer at a time (a list of them and their stack would be twice that), unscorable ones skipped
    grams = torch.empty(n_layers, n, n, dtype=torch.float64, device=dev) if metric == "cka" else None
    kept = 0
    for i, f in enumerate(feats):
        note = constant_features_note(f)
        if note:
            notes[i] = note
        elif grams is not None:
            grams[kept] = _gram(f, dev)
            kept += 1
    valid = [i for i in range(n_layers) if i not in notes]
    return notes, valid, (grams[:kept] if grams is not None and kept else None)
