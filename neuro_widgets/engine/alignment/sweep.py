"""Layer x region sweeps: every layer of a model against every brain region, from one activation pass.

For each region the sweep reports every layer's score on all stimuli (with a CI, the region's ceiling and
the ceiled score), then *commits* a best layer on one half of the stimuli and scores it on the other half
(selection and evaluation never share stimuli; the split is recorded). With ``control="random"`` the same is
done for a randomly re-initialised copy of the model, and the trained-minus-control difference of the
held-out best-layer scores gets a paired CI.

Metrics:

* ``"rsa"``: RDMs of each layer vs each subject's RDM, mean over subjects; CI by bootstrapping stimuli (and
  subjects where there are several); ceiling = the lower bound of the RSA noise ceiling (needs >= 2
  subjects). Needs RDM-level data, or response-level data (turned into RDMs per subject).
* ``"encoding"``: cross-validated ridge/PLS (see :mod:`.encoding`); CI = mean ± 1.96 standard errors over
  splits; ceiling = split-half internal consistency (needs repetitions). Needs response-level data.
* ``"cka"``: CKA between each layer and the region's responses; CI ± 1.96 jackknife standard errors over
  stimuli (a bootstrap would put copies of a stimulus side by side, which inflates CKA); no ceiling.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..neural import NeuralRDMs
from ..probe import Probe
from ..progress import CancelToken, ProgressArg, check_cancel, make_reporter
from ..reduce import normalize_reduce
from ..stimuli import StimulusSet
from ._tensor import resolve_device, single_threaded
from .budget import MIB, scoring_plan
from .ceiling import ceiled, ceiling_vectors, split_half_consistency
from .cka import CKA_KERNELS, cka_from_kernels, kernel_from_gram
from .compare import Prepared, check_compare_method
from .control import random_copy
from .cross_validation import half_split, shuffle_splits
from .encoding import check_encoding_method, check_project, encoding_score
from .layer_rdms import LayerRDMs, condensed_positions, constant_features_note
from .neural_data import NeuralResponses, repetition_mean
from .rdm import _gram, check_rdm_method
from .regression import DEFAULT_ALPHAS
from .results import BestLayer, Difference, LayerScore, SweepResult
from .stats import bootstrap_prepared, percentile_ci

METRICS = ("rsa", "encoding", "cka")
CONTROLS = (None, "random")
_Z = 1.959963984540054  # two-sided 95 % normal quantile
_JACK_GROUPS = 40


def default_layers(probe: Probe) -> List[str]:
    """Every module with a tensor output that runs once per forward pass, in forward order."""
    return [info.name for info in probe.layers() if info.output_shape is not None and info.calls == 1]


def _resolve_data(data: Any, stimuli: Optional[StimulusSet]) -> Tuple[StimulusSet, Any]:
    neural = getattr(data, "neural", None)
    if neural is not None and stimuli is None:
        stimuli = getattr(data, "stimuli", None)
    neural = neural if neural is not None else data
    if not isinstance(neural, (NeuralRDMs, NeuralResponses)):
        raise TypeError("sweep needs a Dataset (nw.datasets.*), NeuralRDMs or NeuralResponses, got "
                        f"{type(data).__name__}")
    if not isinstance(stimuli, StimulusSet):
        raise TypeError("sweep needs the stimuli: pass a Dataset, or stimuli=nw.StimulusSet(...) with the "
                        "neural data")
    return stimuli, neural


def _names(value: Any, what: str, example: str) -> Optional[List[str]]:
    """A list of names from a list/tuple of strings (None stays None); one bare string is refused, not split."""
    if value is None:
        return None
    if isinstance(value, str):
        raise TypeError(f"{what} must be a list of names, e.g. {what}=[{value!r}], got the string {value!r}")
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{what} must be a list of names, e.g. {what}=[{example!r}], got {type(value).__name__}")
    bad = [v for v in value if not isinstance(v, str)]
    if bad:
        raise TypeError(f"{what} must be names (str), got {bad[:5]!r}; e.g. {what}=[{example!r}]")
    return list(value)


def _align(stimuli: StimulusSet, ids: Sequence[str]) -> np.ndarray:
    present = set(stimuli.ids)
    missing = [s for s in ids if s not in present]
    if missing:
        raise ValueError(f"{len(missing)} stimulus id(s) of the neural data are not in the stimuli (e.g. "
                         f"{missing[:10]}); the neural data and the stimulus set must share ids")
    return stimuli.index_of(ids)


def _budget_plan(probe: Probe, layers: List[str], stimuli: StimulusSet, reduce: Any, memory_budget: Optional[int],
                 batch_size: int) -> Tuple[Any, int]:
    """(reduce, batch_size) that keep the activation pass within ``memory_budget`` bytes.

    Counted, in float32: the preprocessed stimuli the set keeps, the kept activations of all layers twice (the
    probe's cache holds them while the scorers work on reordered or per-half copies) and one batch of every
    layer's full output (held while the hooks reduce it). Not counted: N x N matrices (RDMs, CKA kernels) and
    the regressions' working memory. Without ``reduce`` the activations are kept as they are if they
    fit, else as channel means, else randomly projected; the batch then shrinks to what is left.
    """
    if memory_budget is None:
        return reduce, batch_size
    n = len(stimuli)
    shapes = [probe.layer(name.rpartition("@")[0] if "@" in name else name).output_shape for name in layers]
    full = [int(np.prod(s)) for s in shapes]
    spec = probe.input_spec
    stimuli_bytes = 4 * n * spec.channels * spec.size[0] * spec.size[1]
    fixed = stimuli_bytes if stimuli_bytes <= stimuli.preprocess_cache_bytes else 0
    per_image = 4 * sum(full)

    def room(red: Any) -> int:  # bytes left for the batch when keeping the activations reduced by ``red``
        canon = normalize_reduce(red)
        width = (sum(full) if canon is None else canon[1] * len(layers) if canon[0] == "random_projection"
                 else sum(s[0] for s in shapes))
        return memory_budget - fixed - 2 * 4 * n * width

    red = reduce
    if reduce is None and room(None) < per_image:
        if room("avgpool") >= per_image:
            red = "avgpool"
        else:
            k = int((memory_budget - fixed - per_image) // (2 * 4 * n * len(layers)))
            if k < 16:
                raise ValueError(
                    f"memory_budget={memory_budget} bytes allows fewer than 16 features per layer for {n} stimuli and "
                    f"{len(layers)} layers (after {fixed} bytes of preprocessed stimuli and {per_image} bytes of "
                    "one image's layer outputs); raise the budget or sweep fewer layers/stimuli")
            red = ("random_projection", k, 0)
    fits = room(red) // per_image
    if fits < 1:
        raise ValueError(f"memory_budget={memory_budget} bytes cannot hold {n} stimuli with reduce={reduce!r} "
                         f"({memory_budget - room(red)} bytes) and one image's layer outputs ({per_image} bytes); "
                         "raise the budget, reduce further or sweep fewer layers/stimuli")
    return red, int(min(batch_size, fits))


def _memory_plan(probe: Probe, layers: List[str], stimuli: StimulusSet, neural: Any, metric: str, n: int,
                 regions: List[str], n_models: int, converted: bool, n_boot: int, reduce: Any, project: Any,
                 memory_budget: Optional[int], batch_size: int) -> Tuple[Any, int, Optional[int]]:
    """(reduce, batch_size, bootstrap chunk bytes) keeping the whole call within ``memory_budget``: the
    scoring's needs (see :mod:`.budget`) come first, then the bootstrap's draws
    (RSA: up to an eighth of the budget, at least one draw), the activation pass gets the rest; refused up
    front, with what it would need, if that cannot fit."""
    if memory_budget is None:
        return reduce, batch_size, None
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, float)) or not memory_budget >= 1:
        raise ValueError(f"memory_budget must be a positive number of bytes, e.g. 2 * 2**30, got {memory_budget!r}")
    memory_budget = int(memory_budget)
    shapes = [probe.layer(name.rpartition("@")[0] if "@" in name else name).output_shape for name in layers]
    canon = normalize_reduce(reduce)  # the regressions see the kept (and then projected) features
    widths = [int(np.prod(s)) if canon is None else canon[1] if canon[0] == "random_projection" else s[0]
              for s in shapes]
    if project is not None:
        widths = [min(w, check_project(project)[1]) for w in widths]
    subjects = max(len(neural.rdms(r)) for r in regions) if metric == "rsa" else 0
    neuroids = max(neural.region(r).data.shape[1] for r in regions) if metric == "encoding" else 0
    plan = scoring_plan(metric, n, len(layers), n_models, subjects, len(regions) if converted else 0, n_boot,
                        max(widths), neuroids, boot_room=memory_budget // 8)
    chunk = plan.chunk_bytes if metric == "rsa" else None
    left = memory_budget - plan.total
    what = (f"sweep(metric={metric!r}) over {n} stimuli and {len(layers)} layers x {n_models} model(s) needs about "
            f"{plan.total / MIB:.0f} MiB for scoring ({plan.describe()})")
    if left <= 0:
        raise ValueError(f"{what}, more than memory_budget={memory_budget / MIB:.0f} MiB before any activations; "
                         "raise memory_budget, or sweep fewer layers or stimuli")
    try:
        red, batch = _budget_plan(probe, layers, stimuli, reduce, left, batch_size)
    except ValueError as err:
        raise ValueError(f"{what}; the {left / MIB:.0f} MiB left of memory_budget={memory_budget / MIB:.0f} MiB "
                         f"cannot hold the activations: {err}") from err
    return red, batch, chunk


class _Scorer:
    """One metric on one model's layers for one region: scores on any subset of the (aligned) stimuli."""

    ceiling_note = ""

    def score(self, idx: np.ndarray) -> Tuple[np.ndarray, List[np.ndarray]]:
        raise NotImplementedError

    def samples(self, idx: np.ndarray, layers: Optional[List[int]] = None) -> np.ndarray:
        """(samples, layers) resampled scores on ``idx``, paired across models (same resamples / splits)."""
        raise NotImplementedError

    def bounds(self, center: np.ndarray, samples: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def ceiling(self, idx: np.ndarray) -> float:
        return float("nan")


class _RSA(_Scorer):
    def __init__(self, layer_rdms: LayerRDMs, brain: np.ndarray, method: str, n_boot: int, level: float,
                 seed: int, chunk_bytes: Optional[int], cancel: Optional[CancelToken]) -> None:
        self.layers, self.method = layer_rdms, method
        i, j = np.triu_indices(layer_rdms.n, 1)
        self.brain = torch.as_tensor(np.asarray(brain, dtype=np.float64)[:, i, j], device=layer_rdms.v.device)
        self.n_boot, self.level, self.seed, self.chunk_bytes, self.cancel = n_boot, level, seed, chunk_bytes, cancel
        if len(brain) < 2:
            self.ceiling_note = "one RDM only: no noise ceiling (needs >= 2 subjects)"

    def _everything(self, idx: np.ndarray) -> bool:
        return len(idx) == self.layers.n and np.array_equal(idx, np.arange(self.layers.n))

    def _brain(self, idx: np.ndarray) -> torch.Tensor:
        if self._everything(idx):
            return self.brain
        return self.brain[:, condensed_positions(idx, self.layers.n).to(self.brain.device)]

    def score(self, idx):
        sims = self.layers.compare(self._brain(idx), idx, self.method).cpu().numpy()
        return sims.mean(1), list(sims)

    def samples(self, idx, layers=None):
        if layers is None and self._everything(idx):
            models = self.layers.prepared(self.method)
        else:
            models = Prepared(self.layers.sub(idx, layers), self.method)
        return bootstrap_prepared(models, Prepared(self._brain(idx), self.method), len(idx), self.n_boot,
                                  self.seed, chunk_bytes=self.chunk_bytes, cancel=self.cancel)

    def bounds(self, center, samples):
        return percentile_ci(samples, self.level)

    def ceiling(self, idx):
        if len(self.brain) < 2:
            return float("nan")
        _, lower = ceiling_vectors(self._brain(idx), self.method)
        return float(lower.mean())


class _CKA(_Scorer):
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
        groups = np.array_split(np.random.default_rng(self.seed).permutation(len(idx)), min(len(idx), _JACK_GROUPS))
        jack = np.empty((len(groups), len(layers)))
        for gi, grp in enumerate(groups):
            check_cancel(self.cancel)
            jack[gi] = self._cka(torch.as_tensor(np.delete(idx, grp)), layers)
        return jack

    def bounds(self, center, samples):
        se = jackknife_se(samples)
        return center - _Z * se, center + _Z * se


def jackknife_se(values: np.ndarray) -> np.ndarray:
    """Standard error from delete-a-group jackknife values (groups, ...)."""
    g = values.shape[0]
    return np.sqrt((g - 1) / g * ((values - values.mean(0)) ** 2).sum(0))


class _Encoding(_Scorer):
    def __init__(self, features: List[torch.Tensor], responses: np.ndarray, method: str, labels: Optional[np.ndarray],
                 seed: int, options: Dict[str, Any], device: torch.device, cancel: Optional[CancelToken]) -> None:
        self.features, self.responses, self.method = features, responses, method
        self.mean = repetition_mean(responses)  # over present repetitions (NaN-padded ones are missing)
        self.labels, self.seed, self.options, self.device, self.cancel = labels, seed, options, device, cancel
        if responses.shape[2] < 2:
            self.ceiling_note = "no repetitions: no internal-consistency ceiling"
        self._cache: Dict[Tuple[int, bytes], Any] = {}

    def _one(self, layer: int, idx: np.ndarray):
        key = (layer, idx.tobytes())
        if key not in self._cache:
            splits = shuffle_splits(len(idx), self.options["n_splits"], self.options["test_size"],
                                    None if self.labels is None else self.labels[idx], self.seed)
            feats = self.features[layer][torch.as_tensor(idx)]
            self._cache[key] = encoding_score(feats, self.mean[idx], self.method, splits=splits,
                                              alphas=self.options["alphas"], n_components=self.options["n_components"],
                                              project=self.options["project"], device=self.device, cancel=self.cancel)
        return self._cache[key]

    def score(self, idx):
        res = [self._one(i, idx) for i in range(len(self.features))]
        return np.array([r.value for r in res]), [r.per_neuroid for r in res]

    def samples(self, idx, layers=None):
        layers = list(range(len(self.features))) if layers is None else layers
        return np.stack([self._one(i, idx).per_split for i in layers], axis=1)  # (splits, layers)

    def bounds(self, center, samples):
        se = samples.std(0, ddof=1) / np.sqrt(len(samples)) if len(samples) > 1 else np.full(samples.shape[1:], np.nan)
        return center - _Z * se, center + _Z * se

    def ceiling(self, idx):
        if self.responses.shape[2] < 2:
            return float("nan")
        return split_half_consistency(self.responses[idx], seed=self.seed).value


def _commit(sc: _Scorer, label: str, region: str, layers: List[str], sel: np.ndarray, ev: np.ndarray,
            crossfit: bool, formula: str) -> BestLayer:
    """Choose the best layer on ``sel`` and score it on ``ev``; with ``crossfit`` also the other way round,
    averaging the two held-out scores (and their paired resamples) so every stimulus is evaluated once."""
    folds = [(sel, ev), (ev, sel)] if crossfit else [(sel, ev)]
    chosen, sel_scores, scores, raws, samples, ceilings = [], [], [], [], [], []
    for select_on, evaluate_on in folds:
        sel_values, _ = sc.score(select_on)
        k = int(np.nanargmax(sel_values))
        ev_values, ev_raws = sc.score(evaluate_on)
        chosen.append(layers[k])
        sel_scores.append(float(sel_values[k]))
        scores.append(float(ev_values[k]))
        raws.append(ev_raws[k])
        samples.append(sc.samples(evaluate_on, [k])[:, 0])
        ceilings.append(sc.ceiling(evaluate_on))
    score = float(np.mean(scores))
    joint = np.mean(samples, axis=0)
    lo, hi = sc.bounds(np.array([score]), joint[:, None])
    ceil = float(np.mean(ceilings))
    return BestLayer(label, region, chosen[0], sel_scores[0], score, float(lo[0]), float(hi[0]), ceil,
                     ceiled(score, ceil, formula), raws[0] if len(raws) == 1 else raws, joint,
                     fold_layers=chosen, fold_scores=scores)


def _prepare_layers(feats: List[torch.Tensor], metric: str, rdm_method: str,
                    dev: torch.device) -> Tuple[Dict[int, str], List[int], Any]:
    """(notes of the layers that cannot be scored, indices of those that can, what the metric's scorer needs:
    the layer RDMs for RSA, the Gram matrices for CKA, nothing for encoding)."""
    if metric == "rsa":
        rdms = LayerRDMs(feats, rdm_method, dev)
        return rdms.notes, rdms.valid, rdms
    notes = {i: note for i, note in enumerate(constant_features_note(f) for f in feats) if note}
    valid = [i for i in range(len(feats)) if i not in notes]
    grams = torch.stack([_gram(feats[i], dev) for i in valid]) if metric == "cka" and valid else None
    return notes, valid, grams


def _layer_tensor(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, list):
        raise ValueError(f"layer {name!r} runs several times per forward pass; name one call as '{name}@i'")
    return value.reshape(value.shape[0], -1)


def sweep(probe: Probe, data: Any, layers: Optional[Sequence[str]] = None, metric: str = "rsa", *,
          stimuli: Optional[StimulusSet] = None, regions: Optional[Sequence[str]] = None,
          method: str = "spearman", rdm_method: str = "correlation", encoding: str = "ridge",
          n_splits: int = 10, test_size: float = 0.1, alphas: Optional[Sequence[float]] = None,
          n_components: int = 25, project: Any = None, kernel: str = "linear", unbiased: bool = True,
          control: Optional[str] = None, control_seed: int = 0, n_boot: int = 1000, ci: float = 0.95,
          seed: int = 0, stratify: Any = "category", crossfit: bool = True, ceiling_formula: str = "r/c",
          reduce: Any = None,
          memory_budget: Optional[int] = None, batch_size: int = 64, device: Any = None,
          progress: ProgressArg = None, cancel: Optional[CancelToken] = None) -> SweepResult:
    """Score every layer against every region (see the module docstring for the metrics).

    ``stratify`` names a stimulus metadata column (used if present) or gives one label per stimulus; it
    stratifies the selection/evaluation half split and the encoding splits. With ``crossfit`` (default) the
    halves also swap roles and the two held-out scores are averaged, so all stimuli serve in evaluation
    (never for the layer they selected); ``crossfit=False`` selects on one half and scores on the other only.
    ``reduce`` is passed to ``probe.activations``; with ``memory_budget`` (bytes) the activation pass stays within
    the budget: without ``reduce`` the activations are kept whole, as channel means or randomly projected,
    whichever fits first, and the batch shrinks to what is left (recorded in ``settings["reduce"]`` and
    ``settings["batch_size"]``). ``control="random"`` adds a randomly re-initialised copy.

    >>> res = nw.alignment.sweep(probe, nw.datasets.kriegeskorte2008(), metric="rsa", control="random")
    >>> res.to_pandas().head(); res.best; res.differences
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; use one of {list(METRICS)}")
    if control not in CONTROLS:
        raise ValueError(f"unknown control {control!r}; use None or 'random'")
    check_compare_method(method)
    check_rdm_method(rdm_method)
    check_encoding_method(encoding)
    if kernel not in CKA_KERNELS:
        raise ValueError(f"unknown CKA kernel {kernel!r}; use one of {list(CKA_KERNELS)}")
    ceiled(0.0, 1.0, ceiling_formula)  # validates the formula name
    if not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(probe, Probe):
        raise TypeError(f"sweep needs an nw.Probe, got {type(probe).__name__}")
    stimuli, neural = _resolve_data(data, stimuli)
    if metric in ("encoding", "cka") and not isinstance(neural, NeuralResponses):
        raise ValueError(f"metric={metric!r} needs response-level data (NeuralResponses: stimuli x neuroids "
                         "[x repetitions]); RDM-level data supports metric='rsa' only")
    converted = metric == "rsa" and isinstance(neural, NeuralResponses)
    if converted:
        neural = neural.to_rdms(rdm_method)
    all_regions = neural.regions
    regions = _names(regions, "regions", all_regions[0])
    regions = list(all_regions if regions is None else regions)
    unknown = [r for r in regions if r not in all_regions]
    if unknown or not regions:
        raise ValueError(f"unknown region(s) {unknown}; the data has {all_regions}")
    layers = _names(layers, "layers", "layer3")
    layers = default_layers(probe) if layers is None else layers
    if not layers:
        raise ValueError("no layers to sweep; name some (see probe.layer_names())")
    for name in layers:
        probe.layer(name.rpartition("@")[0] if "@" in name else name)
    order = _align(stimuli, neural.stimulus_ids)
    n = len(order)
    if n < 8:
        raise ValueError(f"a sweep needs at least 8 stimuli (4 per half for held-out layer selection), got {n}")
    labels = None
    if isinstance(stratify, str):
        labels = stimuli.metadata.get(stratify)
        labels = None if labels is None else np.asarray(labels)[order]
    elif stratify is not None:
        labels = np.asarray(stratify)
        if len(labels) != n:
            raise ValueError(f"stratify has {len(labels)} labels for {n} stimuli; give one per stimulus")
    sel, ev = half_split(n, labels, seed)
    dev = resolve_device(device, probe.device)
    red, batch_size, chunk_bytes = _memory_plan(probe, layers, stimuli, neural, metric, n, regions,
                                                1 + (control == "random"), converted, n_boot, reduce, project,
                                                memory_budget, batch_size)

    models: List[Tuple[str, Probe]] = [("trained", probe)]
    if control == "random":
        models.append(("random", Probe(random_copy(probe.module, control_seed), probe.input_spec,
                                       name=f"{probe.name} (random init, seed {control_seed})", cache=probe.cache)))
    n_batches = -(-len(stimuli) // batch_size)
    total = len(models) * (n_batches + len(regions))
    report = make_reporter(progress, "sweep")
    done = 0
    rows: List[LayerScore] = []
    best: List[BestLayer] = []
    scorers: Dict[Tuple[str, str], _Scorer] = {}
    for label, p in models:
        def act_progress(k: int, n_stimuli: int, offset: int = done, stage: str = f"{label}: activations",
                         **_: Any) -> None:  # k stimuli of n_stimuli done
            report(offset + round(k / n_stimuli * n_batches), total, stage=stage)

        acts = p.activations(stimuli, layers, batch_size=batch_size, reduce=red, progress=act_progress,
                             cancel=cancel, use_cache=label == "trained")
        done += n_batches
        identity = np.array_equal(order, np.arange(len(stimuli)))
        feats = [_layer_tensor(acts[name], name) for name in layers]
        if not identity:
            feats = [f[torch.as_tensor(order)] for f in feats]
        del acts
        notes, valid, pre = _prepare_layers(feats, metric, rdm_method, dev)  # matrix products: all threads
        if not valid:
            raise ValueError(f"no layer of the {label} model can be scored: " + "; ".join(
                f"{layers[i]}: {note}" for i, note in notes.items()))
        names = [layers[i] for i in valid]
        with single_threaded(dev):  # many small ops: see _tensor.single_threaded
            for region in regions:
                check_cancel(cancel)
                if metric == "rsa":
                    sc: _Scorer = _RSA(pre, neural.rdms(region), method, n_boot, ci, seed, chunk_bytes, cancel)
                elif metric == "cka":
                    resp = torch.as_tensor(neural.region(region).mean(), device=dev)
                    sc = _CKA(pre, resp @ resp.T, kernel, unbiased, seed, cancel)
                else:
                    opts = {"n_splits": n_splits, "test_size": test_size, "n_components": n_components,
                            "alphas": DEFAULT_ALPHAS if alphas is None else alphas,
                            "project": project}
                    sc = _Encoding([feats[i] for i in valid], neural.region(region).data, encoding, labels, seed,
                                   opts, dev, cancel)
                scorers[(label, region)] = sc
                everything = np.arange(n)
                values, raws = sc.score(everything)
                lo, hi = sc.bounds(values, sc.samples(everything))
                ceil = sc.ceiling(everything)
                k = {layer: j for j, layer in enumerate(valid)}
                for i, name in enumerate(layers):
                    if i in notes:
                        rows.append(LayerScore(label, region, name, float("nan"), float("nan"), float("nan"), ceil,
                                               float("nan"), n, np.array([]), sc.ceiling_note, notes[i]))
                        continue
                    value = float(values[k[i]])
                    rows.append(LayerScore(label, region, name, value, float(lo[k[i]]), float(hi[k[i]]), ceil,
                                           ceiled(value, ceil, ceiling_formula), n, raws[k[i]], sc.ceiling_note))
                best.append(_commit(sc, label, region, names, sel, ev, crossfit, ceiling_formula))
                done += 1
                report(done, total, stage=f"{label}: {region}")

    differences: List[Difference] = []
    settings_ci = {"rsa": f"percentile bootstrap over stimuli and subjects ({n_boot} resamples, {ci:.0%})",
                   "encoding": "mean ± 1.96 standard errors over splits",
                   "cka": f"CKA ± 1.96 delete-a-group jackknife SE over stimuli ({_JACK_GROUPS} groups)"}[metric]
    if control == "random":
        for region in regions:
            bt = next(b for b in best if b.model == "trained" and b.region == region)
            br = next(b for b in best if b.model == "random" and b.region == region)
            diff = bt.score - br.score
            paired = bt.samples - br.samples  # same resamples (RSA), groups (CKA) or splits (encoding)
            lo, hi = scorers[("trained", region)].bounds(np.array([diff]), paired[:, None])
            lo, hi = lo[0], hi[0]
            how = f"paired {settings_ci}"
            differences.append(Difference(region, bt.layer, br.layer, diff, float(lo), float(hi), how))

    split = {"selection": [neural.stimulus_ids[i] for i in sel], "evaluation": [neural.stimulus_ids[i] for i in ev],
             "seed": seed, "stratified_by": stratify if isinstance(stratify, str) and labels is not None else None}
    settings = {"metric": metric, "method": method if metric == "rsa" else (encoding if metric == "encoding"
                                                                              else f"{kernel} CKA"),
                "rdm_method": rdm_method, "ceiling_formula": ceiling_formula, "n_boot": n_boot, "ci": ci,
                "reduce": red, "batch_size": batch_size, "control": control, "control_seed": control_seed,
                "ceiling": {"rsa": "lower bound of the RSA noise ceiling (mean over subjects)",
                            "encoding": "split-half internal consistency (Spearman-Brown), median over neuroids",
                            "cka": "none"}[metric],
                "ci_kind": settings_ci, "crossfit": crossfit}
    return SweepResult(metric, rows, best, differences, split, settings)
