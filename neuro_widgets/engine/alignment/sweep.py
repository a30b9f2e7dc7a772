"""Layer x region sweeps: every layer of a model against every brain region, from one activation pass (or one per
group of layers, where their activations do not fit at once).

For each region the sweep reports every layer's score on all stimuli (with a CI, the region's ceiling and
the ceiled score), then *commits* a best layer on one half of the stimuli and scores it on the other half
(selection and evaluation never share stimuli; the split is recorded). With ``control="random"`` the same is
done for a randomly re-initialised copy of the model, and the trained-minus-control difference of the
held-out best-layer scores gets a paired CI.

Metrics:

* ``"rsa"``: RDMs of each layer vs each subject's RDM, mean over subjects; CI by bootstrapping stimuli (and
  subjects where there are several; sessions of one subject are drawn together); ceiling = the lower bound of
  the RSA noise ceiling, pooled as rsatoolbox does (needs >= 2 subjects). Needs RDM-level data, or
  response-level data (turned into RDMs per subject).
* ``"encoding"``: cross-validated ridge/PLS (see :mod:`.encoding`); CI = corrected resampled t over the
  splits (Nadeau-Bengio: the splits overlap); ceiling = split-half internal consistency (needs repetitions).
  Needs response-level data.
* ``"cka"``: CKA between each layer and the region's responses; CI ± 1.96 jackknife standard errors over
  stimuli (a bootstrap would put copies of a stimulus side by side, which inflates CKA); no ceiling.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..neural import NeuralRDMs
from ..probe import Probe
from ..progress import CancelToken, ProgressArg, check_cancel, make_reporter
from ..reduce import normalize_reduce
from ..rng import check_seed
from ..stimuli import StimulusSet
from ._tensor import resolve_device, single_threaded
from .budget import MIB, ScoringPlan, available_bytes, scoring_plan
from .ceiling import CEILING_FORMULA_TEXT, ceiled, check_ceiling_formula
from .control import random_copy
from .cross_validation import half_split
from .metrics import METRIC_TYPES, METRICS, Metric, RSAMetric, build_metric, describe, make_scorer
from .neural_data import NeuralResponses
from .regression import standardize_features
from .results import BestLayer, Difference, LayerScore, SweepResult
from .scorers import Z95, RSAScorer, Scorer, prepare_layers
from .stats import DEFAULT_CHUNK_BYTES

CONTROLS = (None, "random")


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


def _activation_plan(probe: Probe, layers: List[str], stimuli: StimulusSet, reduce: Any, room: int,
                     batch_size: int, streamable: bool, may_reduce: bool) -> Tuple[Any, int, Optional[int]]:
    """(reduce, batch_size, activation group) that keep the activation pass within ``room`` bytes.

    Counted, in float32: the preprocessed stimuli the set keeps, the kept activations of the layers made at a
    time twice (the probe's cache holds them while the scorers work on reordered or per-half copies) and one
    batch of those layers' full outputs (held while the hooks reduce it). Not counted here: the scoring (see
    :mod:`.budget`). With ``streamable`` (RSA, CKA: the scorers keep only an RDM or Gram matrix per layer) the
    layers may be run a group at a time (the largest group that fits; None: all at once) rather than reduced.
    With ``may_reduce`` and no ``reduce`` the activations are then kept as channel means, else randomly
    projected; the batch shrinks to what is left.
    """
    n, count = len(stimuli), len(layers)
    shapes = [probe.layer(name.rpartition("@")[0] if "@" in name else name).output_shape for name in layers]
    full = [int(np.prod(s)) for s in shapes]
    spec = probe.input_spec
    stimuli_bytes = 4 * n * spec.channels * spec.size[0] * spec.size[1]
    fixed = stimuli_bytes if stimuli_bytes <= stimuli.preprocess_cache_bytes else 0

    def largest(values: List[int], group: int) -> int:  # the largest sum of ``values`` over groups of ``group``
        return max(sum(values[i:i + group]) for i in range(0, count, group))

    def fit(red: Any) -> Optional[Tuple[int, Optional[int]]]:  # (batch, group) at ``red``, None if nothing fits
        canon = normalize_reduce(red)
        widths = (full if canon is None else [canon[1]] * count if canon[0] == "random_projection"
                  else [s[0] for s in shapes])
        for group in (range(count, 0, -1) if streamable else [count]):
            per_image = 4 * largest(full, group)
            fits = (room - fixed - 2 * 4 * n * largest(widths, group)) // per_image
            if fits >= 1:
                return int(min(batch_size, fits)), (None if group == count else group)
        return None

    one_image = 4 * (max(full) if streamable else sum(full))
    at_a_time = " (even one layer at a time)" if streamable and count > 1 else ""
    red, got = reduce, fit(reduce)
    if got is None and may_reduce and reduce is None:
        red = "avgpool"
        got = fit(red)
        if got is None:
            per = 1 if streamable else count  # features per layer that fit, a group as small as can be at a time
            k = int((room - fixed - one_image) // (2 * 4 * n * per))
            if k < 16:
                raise ValueError(
                    f"{room} bytes allow fewer than 16 features per layer for {n} stimuli and {count} layers"
                    f"{at_a_time} (after {fixed} bytes of preprocessed stimuli and one image's layer outputs); raise "
                    "the budget or sweep fewer layers/stimuli")
            red = ("random_projection", k, 0)
            got = fit(red)
    if got is None:
        advice = "raise the budget, reduce further" if may_reduce else "free memory, pass reduce= (e.g. 'avgpool')"
        raise ValueError(f"{room} bytes cannot hold {n} stimuli with reduce={reduce!r}{at_a_time} and one image's "
                         f"layer outputs ({one_image} bytes) after {fixed} bytes of preprocessed stimuli; {advice} or "
                         "sweep fewer layers/stimuli")
    return (red, *got)


def _memory_plan(probe: Probe, layers: List[str], stimuli: StimulusSet, neural: Any, metric: Metric, n: int,
                 regions: List[str], n_models: int, converted: bool, reduce: Any, memory_budget: Optional[int],
                 batch_size: int, device: torch.device
                 ) -> Tuple[Any, int, Optional[int], Optional[int], Optional[int]]:
    """(reduce, batch_size, bootstrap chunk bytes, RSA layer group, activation group) keeping the whole call
    within ``memory_budget``: the scoring's needs (see :mod:`.budget`) come first, then the bootstrap's draws
    (RSA: up to an eighth of the budget, at least one draw), the activation pass gets the rest. Without a budget
    the scoring must fit in the memory ``device`` has available and the activation pass in what the host has
    left. RSA makes its layers' rows and sort orders for all layers at once if that fits, else for the largest
    group of layers at a time that does. RSA and CKA run the activation pass a group of layers at a time where
    all at once does not fit. Preferred, in this order: activations kept as asked (under a budget they are
    otherwise reduced: see :func:`_activation_plan`), fewer activation passes, larger RSA groups. Refused up
    front, with what it would need, if nothing fits (rather than killed part way by the kernel)."""
    if memory_budget is not None and (isinstance(memory_budget, bool) or not isinstance(memory_budget, (int, float))
                                      or not memory_budget >= 1):
        raise ValueError(f"memory_budget must be a positive number of bytes, e.g. 2 * 2**30, got {memory_budget!r}")
    boot_room = DEFAULT_CHUNK_BYTES if memory_budget is None else int(memory_budget) // 8
    groups = [None] + (list(range(len(layers) - 1, 0, -1)) if metric.name == "rsa" else [])
    plans = _scoring_plans(probe, layers, neural, metric, n, regions, n_models, converted, reduce, boot_room,
                           groups)  # the last one needs the least
    streamable = metric.name in ("rsa", "cka")
    available = host = None
    if memory_budget is None:
        available = available_bytes(device)
        host = available if device.type == "cpu" else available_bytes(torch.device("cpu"))
    error, best = "", None
    for plan, what in plans:
        # the plans need less and less; the message is the last one's, the least the call can need
        smallest = " (even making the rows and sort orders one layer at a time)" if plan.rdm_group == 1 else ""
        if memory_budget is None:
            if available is not None and plan.total > available:
                error = (f"{what}, more than the {available / MIB:.0f} MiB available on {device}{smallest}; sweep "
                         "fewer layers or stimuli (the scoring grows with layers x stimuli squared)")
                continue
            if host is None:
                return reduce, batch_size, None, plan.rdm_group, None
            room = host - (plan.total if device.type == "cpu" else 0)
            left = f"the {room / MIB:.0f} MiB the host has left"
        else:
            room = int(memory_budget) - plan.total
            left = f"the {room / MIB:.0f} MiB left of memory_budget={memory_budget / MIB:.0f} MiB"
            if room <= 0:
                error = (f"{what}, more than memory_budget={memory_budget / MIB:.0f} MiB before any activations"
                         f"{smallest}; raise memory_budget, or sweep fewer layers or stimuli")
                continue
        try:
            red, batch, act_group = _activation_plan(probe, layers, stimuli, reduce, room, batch_size, streamable,
                                                     may_reduce=memory_budget is not None)
        except ValueError as err:
            error = f"{what}; {left} cannot hold the activations: {err}"
            continue
        chunk = plan.chunk_bytes if metric.name == "rsa" and memory_budget is not None else None
        found = (red, batch, chunk, plan.rdm_group, act_group)
        if red == reduce and act_group is None:  # nothing better to find than the largest group
            return found
        if best is None or _plan_loss(found, len(layers)) < _plan_loss(best, len(layers)):
            best = found
    if best is not None:
        return best
    raise ValueError(error)


def _plan_loss(plan: Tuple[Any, int, Optional[int], Optional[int], Optional[int]], n_layers: int
               ) -> Tuple[Tuple[int, float], int]:
    """What a memory plan gives up, to compare two: what is lost of the layers, then the activation passes."""
    act_group = plan[4]
    return _reduction_loss(plan[0]), 1 if act_group is None else -(-n_layers // act_group)


def _reduction_loss(reduce: Any) -> Tuple[int, float]:
    """How much of the layers a reduction chosen by the budget loses, to compare two: channel means, then a
    random projection (the fewer dimensions the more)."""
    canon = normalize_reduce(reduce)
    if canon is not None and canon[0] == "random_projection":
        return 2, 1.0 / canon[1]
    return (0 if canon is None else 1), 0.0


def _scoring_plans(probe: Probe, layers: List[str], neural: Any, metric: Metric, n: int, regions: List[str],
                   n_models: int, converted: bool, reduce: Any, boot_room: int,
                   groups: Sequence[Optional[int]]) -> Iterator[Tuple[ScoringPlan, str]]:
    """The scoring's memory plan (see :mod:`.budget`) for each RSA layer group of ``groups``, with a sentence
    saying what it needs; made only as far as they are asked for."""
    shapes = [probe.layer(name.rpartition("@")[0] if "@" in name else name).output_shape for name in layers]
    canon = normalize_reduce(reduce)  # the regressions see the kept (and then projected) features
    widths = [int(np.prod(s)) if canon is None else canon[1] if canon[0] == "random_projection" else s[0]
              for s in shapes]
    project = getattr(metric, "project", None)
    if project is not None:
        widths = [min(w, project[1]) for w in widths]
    name = metric.name
    subjects = max(len(neural.rdms(r)) for r in regions) if name == "rsa" else 0
    neuroids = max(neural.region(r).data.shape[1] for r in regions) if name == "encoding" else 0
    for group in groups:
        plan = scoring_plan(name, n, len(layers), n_models, subjects, len(regions) if converted else 0,
                            getattr(metric, "n_boot", 0), max(widths), neuroids, boot_room=boot_room, rdm_group=group)
        yield plan, (f"sweep(metric={name!r}) over {n} stimuli and {len(layers)} layers x {n_models} model(s) needs "
                     f"about {plan.total / MIB:.0f} MiB for scoring ({plan.describe()})")


def _commit(sc: Scorer, label: str, region: str, layers: List[str], sel: np.ndarray, ev: np.ndarray,
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
    ceil = float(np.mean([c[0] for c in ceilings]))
    ceil_ci = (min(c[2][0] for c in ceilings), max(c[2][1] for c in ceilings))
    return BestLayer(label, region, chosen[0], sel_scores[0], score, float(lo[0]), float(hi[0]), ceil,
                     _ceiled(score, ceil, formula, ceil_ci), raws[0] if len(raws) == 1 else raws, joint,
                     fold_layers=chosen, fold_scores=scores)


def _ceiled(score: float, ceiling: float, formula: Optional[str], ceiling_ci: Tuple[float, float]) -> float:
    return float("nan") if formula is None else ceiled(score, ceiling, formula, ceiling_ci)


def _ceiling_note(note: str, formula: Optional[str], ceiling: float, ci: Tuple[float, float]) -> str:
    """The row's ceiling note: why there is none, or how the ceiled score was made (or why it was refused)."""
    if note or formula is None or not np.isfinite(ceiling):
        return note
    if not ci[0] > 0:
        return f"ceiling {ceiling:.4f}, CI [{ci[0]:.4f}, {ci[1]:.4f}] reaches 0: ceiled score refused (NaN)"
    return f"ceiled = {CEILING_FORMULA_TEXT[formula]} ({formula})"


def _layer_tensor(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, list):
        raise ValueError(f"layer {name!r} runs several times per forward pass; name one call as '{name}@i'")
    return value.reshape(value.shape[0], -1)


def _control_seeds(control_seed: Any, control_seeds: Any) -> Tuple[int, ...]:
    """The seeds of the random controls: ``control_seeds`` when given (distinct non-negative ints), else one."""
    if control_seeds is None:
        return (check_seed(control_seed, "control_seed"),)
    if isinstance(control_seeds, (str, bytes)) or not hasattr(control_seeds, "__iter__"):
        raise TypeError(f"control_seeds must be a list of seeds, e.g. (0, 1, 2, 3, 4), got {control_seeds!r}")
    seeds = tuple(check_seed(s, "each of control_seeds") for s in control_seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"control_seeds must be distinct seeds, at least one, got {list(control_seeds)}")
    return seeds


def _with_init_spread(center: float, lo: float, hi: float, per_seed: np.ndarray) -> Tuple[float, float]:
    """Widen a resampling CI around ``center`` by the uncertainty of a mean over control initialisations: each
    half-width and 1.96 x SD(per-seed scores) / sqrt(K) are added in quadrature (independent sources)."""
    per_seed = np.asarray(per_seed, dtype=np.float64)
    init = Z95 * per_seed.std(ddof=1) / np.sqrt(len(per_seed))
    return center - float(np.hypot(center - lo, init)), center + float(np.hypot(hi - center, init))


def _pool_controls(rows: List[LayerScore], best: List[BestLayer], seeds: Sequence[int],
                   scorers: Dict[Tuple[str, str], Scorer], formula: Optional[str],
                   bands: Dict[str, Dict[str, Any]]) -> Tuple[List[LayerScore], List[BestLayer]]:
    """Add ``"random"`` rows pooling the controls of every seed (kept as ``"random:<seed>"``).

    Per layer and region: the mean score over seeds, a CI whose half-widths are the seeds' mean resampling
    half-widths widened by the initialisation spread (:func:`_with_init_spread`), and ``raw`` = the per-seed
    scores. The pooled best layer averages each seed's held-out best-layer score and paired resamples (its
    ``fold_layers`` lists each seed's choice; ``layer`` is the most frequent one).
    """
    labels = [f"random:{s}" for s in seeds]
    nan2 = (float("nan"), float("nan"))
    pooled_rows: List[LayerScore] = []
    for r in (r for r in rows if r.model == labels[0]):
        same = [next(o for o in rows if o.model == lab and o.region == r.region and o.layer == r.layer)
                for lab in labels]
        scores = np.array([o.score for o in same])
        center = float(scores.mean())
        lo, hi = _with_init_spread(center, center - float(np.mean([o.score - o.ci_low for o in same])),
                                   center + float(np.mean([o.ci_high - o.score for o in same])), scores)
        ci = bands.get(r.region, {}).get("ci", nan2)
        pooled_rows.append(LayerScore("random", r.region, r.layer, center, lo, hi, r.ceiling,
                                      _ceiled(center, r.ceiling, formula, ci), r.n_stimuli, scores, r.ceiling_note,
                                      r.note))
    pooled_best: List[BestLayer] = []
    for b in (b for b in best if b.model == labels[0]):
        same = [next(o for o in best if o.model == lab and o.region == b.region) for lab in labels]
        scores = np.array([o.score for o in same])
        center = float(scores.mean())
        samples = np.mean([o.samples for o in same], axis=0)
        lo, hi = scorers[(labels[0], b.region)].bounds(np.array([center]), samples[:, None])
        lo, hi = _with_init_spread(center, float(lo[0]), float(hi[0]), scores)
        chosen = [o.layer for o in same]
        pooled_best.append(BestLayer("random", b.region, max(set(chosen), key=chosen.count),
                                     float(np.mean([o.selection_score for o in same])), center, lo, hi, b.ceiling,
                                     _ceiled(center, b.ceiling, formula, bands.get(b.region, {}).get("ci", nan2)),
                                     scores, samples, fold_layers=chosen,
                                     fold_scores=list(scores)))
    return rows + pooled_rows, best + pooled_best


def sweep(probe: Probe, data: Any, layers: Optional[Sequence[str]] = None, metric: Union[str, Metric] = "rsa", *,
          stimuli: Optional[StimulusSet] = None, regions: Optional[Sequence[str]] = None,
          method: str = "spearman", rdm_method: str = "correlation", encoding: str = "ridge",
          n_splits: int = 10, test_size: float = 0.1, alphas: Optional[Sequence[float]] = None,
          n_components: int = 25, project: Any = None, split_recipe: str = "stratified", kernel: str = "linear",
          unbiased: bool = True, standardize: bool = False,
          control: Optional[str] = None, control_seed: int = 0, control_seeds: Optional[Sequence[int]] = None,
          n_boot: int = 1000, ci: float = 0.95,
          seed: int = 0, stratify: Any = "category", crossfit: bool = True, ceiling_formula: Optional[str] = None,
          reduce: Any = None,
          memory_budget: Optional[int] = None, batch_size: int = 64, device: Any = None,
          progress: ProgressArg = None, cancel: Optional[CancelToken] = None) -> SweepResult:
    """Score every layer against every region (see the module docstring for the metrics).

    ``metric`` is a name (``"rsa"``, ``"encoding"``, ``"cka"``), built from this call's metric keywords (``method``,
    ``rdm_method``, ``encoding``, ``n_splits``, ``test_size``, ``alphas``, ``n_components``, ``project``,
    ``split_recipe``, ``kernel``, ``unbiased``, ``n_boot``, ``ci``; see :func:`.metrics.build_metric`), or a metric
    object (:class:`.metrics.RSAMetric`, :class:`.encoding.EncodingMetric` with any fit/predict estimator,
    :class:`.metrics.CKAMetric`) that carries its own settings; then those keywords must stay at their defaults.

    ``stratify`` names a stimulus metadata column (used if present) or gives one label per stimulus; it
    stratifies the selection/evaluation half split and the encoding splits. With ``crossfit`` (default) the
    halves also swap roles and the two held-out scores are averaged, so all stimuli serve in evaluation
    (never for the layer they selected); ``crossfit=False`` selects on one half and scores on the other only.
    ``reduce`` is passed to ``probe.activations``; with ``memory_budget`` (bytes) the activation pass stays within
    the budget: without ``reduce`` the activations are kept whole, as channel means or randomly projected,
    whichever fits first, and the batch shrinks to what is left (recorded in ``settings["reduce"]`` and
    ``settings["batch_size"]``); without it the scoring must still fit in the memory the device has available, and
    the activations in what the host has left. RSA holds every layer's RDM, and their rows and sort orders for all
    layers at once if that fits, else for as many layers at a time as fit (``settings["rdm_group"]``; None: all;
    the same values either way). RSA and CKA keep an RDM or Gram matrix per layer, not its activations: where the
    activations of all layers do not fit at once (thousands of stimuli, every layer) the model is run for a group
    of layers at a time, each group's activations dropped before the next (``settings["activation_group"]``; None:
    one pass), which under a budget is preferred to reducing them. A call that cannot fit is refused before any
    work. ``control="random"`` adds a randomly re-initialised copy
    (``control_seed``), or one per seed of ``control_seeds``: then each initialisation keeps its rows as model
    ``"random:<seed>"``, the ``"random"`` rows pool them (see :func:`_pool_controls`), and the trained-minus-random
    CI includes the initialisation variability. ``standardize=True``
    z-scores every layer feature across the stimuli before any metric (default False: raw features, so units
    with large activations dominate correlation RDMs; with it every unit counts equally; the two can order
    layers differently, so the choice is recorded in ``settings["standardize"]``). ``split_recipe`` picks
    the encoding splits (``"brainscore"``: Brain-Score's; pass ``seed=1`` for its ``random_state``).

    Scores are raw, with the ceiling (``row.ceiling``; the RSA band lower/upper and the ceiling's CI over subjects
    or neuroids in ``settings["ceiling_bands"]``). ``ceiling_formula`` asks for ceiled scores too: ``"default"``
    (RSA ``r/c``, encoding ``r/sqrt(c)``: a model predicting the noise-free signal scores 1) or a name in
    ``CEILING_FORMULAS``; a ceiled score is refused (NaN, with a ``ceiling_note``) where the ceiling's CI
    reaches 0. The formula is named in ``settings["ceiled"]`` and each row's ``ceiling_note``.

    >>> res = nw.alignment.sweep(probe, nw.datasets.kriegeskorte2008(), metric="rsa", control="random")
    >>> res.to_pandas().head(); res.best; res.differences
    """
    keywords = {"method": method, "rdm_method": rdm_method, "encoding": encoding, "n_splits": n_splits,
                "test_size": test_size, "alphas": alphas, "n_components": n_components, "project": project,
                "split_recipe": split_recipe, "kernel": kernel, "unbiased": unbiased, "n_boot": n_boot, "ci": ci}
    metric = _resolve_metric(metric, keywords, seed)
    rdm_method = metric.rdm_method if isinstance(metric, RSAMetric) else rdm_method
    if control not in CONTROLS:
        raise ValueError(f"unknown control {control!r}; use None or 'random'")
    if not isinstance(standardize, bool):
        raise TypeError(f"standardize must be True or False, got {standardize!r}")
    ceiling_formula = check_ceiling_formula(ceiling_formula, metric.name)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(probe, Probe):
        raise TypeError(f"sweep needs an nw.Probe, got {type(probe).__name__}")
    stimuli, neural = _resolve_data(data, stimuli)
    if metric.name in ("encoding", "cka") and not isinstance(neural, NeuralResponses):
        raise ValueError(f"metric={metric.name!r} needs response-level data (NeuralResponses: stimuli x neuroids "
                         "[x repetitions]); RDM-level data supports metric='rsa' only")
    converted = isinstance(metric, RSAMetric) and isinstance(neural, NeuralResponses)
    if converted:
        neural = neural.to_rdms(metric.rdm_method)
    regions = _regions(neural, regions)
    layers = _layers(probe, layers)
    order = _align(stimuli, neural.stimulus_ids)
    n = len(order)
    if n < 8:
        raise ValueError(f"a sweep needs at least 8 stimuli (4 per half for held-out layer selection), got {n}")
    labels = _labels(stimuli, stratify, order)
    sel, ev = half_split(n, labels, seed)
    dev = resolve_device(device, probe.device)
    seeds = _control_seeds(control_seed, control_seeds) if control == "random" else ()
    red, batch_size, chunk_bytes, rdm_group, act_group = _memory_plan(
        probe, layers, stimuli, neural, metric, n, regions, 1 + len(seeds), converted, reduce, memory_budget,
        batch_size, dev)
    act_groups = [layers] if act_group is None else [layers[i:i + act_group] for i in range(0, len(layers), act_group)]
    reorder = None if np.array_equal(order, np.arange(len(stimuli))) else torch.as_tensor(order)
    models: List[Tuple[str, Probe]] = [("trained", probe)]
    for s in seeds:
        control_probe = probe.sibling(random_copy(probe.module, s), f"{probe.name} (random init, seed {s})",
                                      cache=probe.cache)
        models.append(("random" if len(seeds) == 1 else f"random:{s}", control_probe))
    n_batches = -(-len(stimuli) // batch_size) * len(act_groups)
    total = len(models) * (n_batches + len(regions))
    report = make_reporter(progress, "sweep")
    done = 0
    rows: List[LayerScore] = []
    best: List[BestLayer] = []
    scorers: Dict[Tuple[str, str], Scorer] = {}
    bands: Dict[str, Dict[str, Any]] = {}
    for label, p in models:
        feats = _layer_features(p, label, stimuli, act_groups, reorder, standardize, batch_size, red,
                                lambda k, of, stage, offset=done: report(offset + round(k / of * n_batches), total,
                                                                         stage=stage), cancel)
        if metric.name == "encoding":  # its scorer fits every layer's features, for each region
            feats = list(feats)
        # matrix products: all threads
        notes, valid, pre = prepare_layers(feats, len(layers), n, metric.name, rdm_method, dev, rdm_group)
        done += n_batches
        scored_feats = [feats[i] for i in valid] if metric.name == "encoding" else []
        if not valid:
            raise ValueError(f"no layer of the {label} model can be scored: " + "; ".join(
                f"{layers[i]}: {note}" for i, note in notes.items()))
        with single_threaded(dev):  # many small ops: see _tensor.single_threaded
            for region in regions:
                check_cancel(cancel)
                sc = make_scorer(metric, pre, scored_feats, neural, region, labels=labels, seed=seed,
                                 chunk_bytes=chunk_bytes, device=dev, cancel=cancel)
                scorers[(label, region)] = sc
                band, region_rows = _layer_rows(sc, label, region, layers, notes, valid, n, ceiling_formula)
                if label == "trained":
                    bands[region] = band
                rows += region_rows
                best.append(_commit(sc, label, region, [layers[i] for i in valid], sel, ev, crossfit, ceiling_formula))
                done += 1
                report(done, total, stage=f"{label}: {region}")

    settings_ci = describe(metric)["ci_kind"]
    if len(seeds) > 1:
        rows, best = _pool_controls(rows, best, seeds, scorers, ceiling_formula, bands)
    differences = (_differences(best, regions, scorers, settings_ci, len(seeds)) if control == "random" else [])
    split = {"selection": [neural.stimulus_ids[i] for i in sel], "evaluation": [neural.stimulus_ids[i] for i in ev],
             "seed": seed, "stratified_by": stratify if isinstance(stratify, str) and labels is not None else None}
    level = metric.level
    settings = {"metric": metric.name, **describe(metric), "rdm_method": rdm_method,
                "ceiling_formula": ceiling_formula, "n_boot": getattr(metric, "n_boot", n_boot), "ci": level,
                "reduce": red, "batch_size": batch_size, "rdm_group": rdm_group,
                "activation_group": act_group, "control": control,
                "control_seed": control_seed, "control_seeds": list(seeds), "crossfit": crossfit,
                "ceiling_bands": bands,
                "split_recipe": getattr(getattr(metric, "cross_validation", None), "recipe", split_recipe),
                "standardize": standardize, "metric_object": repr(metric),
                "ceiled": ("not computed: raw scores with their ceiling band (pass ceiling_formula='default' or a "
                           "formula name for ceiled scores)" if ceiling_formula is None else
                           f"{CEILING_FORMULA_TEXT[ceiling_formula]}; refused (NaN) where the ceiling's "
                           f"{level:.0%} CI reaches 0")}
    return SweepResult(metric.name, rows, best, differences, split, settings)


def _layer_features(p: Probe, label: str, stimuli: StimulusSet, groups: List[List[str]],
                    reorder: Optional[torch.Tensor], standardize: bool, batch_size: int, reduce: Any,
                    report: Callable[[int, int, str], None], cancel: Optional[CancelToken]) -> Iterator[torch.Tensor]:
    """Each layer's activations (stimuli in the neural data's order, ``reorder``, where that differs; standardized
    if asked), made a group of layers at a time and handed out one layer at a time, so a group's activations are
    dropped before the next group's are made. Cached (trained model) only when made all at once: the cache would
    keep earlier groups."""
    for g, names in enumerate(groups):
        stage = f"{label}: activations" + (f" ({g + 1}/{len(groups)})" if len(groups) > 1 else "")
        acts = p.activations(stimuli, names, batch_size=batch_size, reduce=reduce, cancel=cancel,
                             use_cache=label == "trained" and len(groups) == 1,
                             progress=lambda k, of, offset=g * len(stimuli), **_: report(
                                 offset + k, len(groups) * of, stage))
        for name in names:
            f = _layer_tensor(acts.pop(name), name)
            if standardize:
                f = standardize_features(f)
            if reorder is not None:
                f = f[reorder]
            yield f
        del acts


def _resolve_metric(metric: Any, keywords: Dict[str, Any], seed: int) -> Metric:
    """A metric object: the one given (its settings keywords left at their defaults) or one built from them."""
    if isinstance(metric, str):
        return build_metric(metric, seed=seed, **keywords)
    if not isinstance(metric, METRIC_TYPES):
        raise TypeError(f"metric must be one of {list(METRICS)} or a metric object (nw.alignment.RSAMetric, "
                        f"EncodingMetric, CKAMetric), got {type(metric).__name__}")
    defaults = inspect.signature(sweep).parameters
    changed = [k for k, v in keywords.items() if not _same(v, defaults[k].default)]
    if changed:
        raise TypeError(f"sweep(metric={metric!r}) takes its settings from the metric object; set {changed} there "
                        "instead of passing them to sweep")
    return metric


def _same(value: Any, default: Any) -> bool:
    return value is default or (type(value) is type(default) and value == default)


def _regions(neural: Any, regions: Optional[Sequence[str]]) -> List[str]:
    all_regions = neural.regions
    regions = _names(regions, "regions", all_regions[0])
    regions = list(all_regions if regions is None else regions)
    unknown = [r for r in regions if r not in all_regions]
    if unknown or not regions:
        raise ValueError(f"unknown region(s) {unknown}; the data has {all_regions}")
    return regions


def _layers(probe: Probe, layers: Optional[Sequence[str]]) -> List[str]:
    layers = _names(layers, "layers", "layer3")
    layers = default_layers(probe) if layers is None else layers
    if not layers:
        raise ValueError("no layers to sweep; name some (see probe.layer_names())")
    for name in layers:
        probe.layer(name.rpartition("@")[0] if "@" in name else name)
    return layers


def _labels(stimuli: StimulusSet, stratify: Any, order: np.ndarray) -> Optional[np.ndarray]:
    """One stratification label per (aligned) stimulus: a metadata column if it exists, or the labels given."""
    if isinstance(stratify, str):
        labels = stimuli.metadata.get(stratify)
        return None if labels is None else np.asarray(labels)[order]
    if stratify is None:
        return None
    labels = np.asarray(stratify)
    if len(labels) != len(order):
        raise ValueError(f"stratify has {len(labels)} labels for {len(order)} stimuli; give one per stimulus")
    return labels


def _layer_rows(sc: Scorer, label: str, region: str, layers: List[str], notes: Dict[int, str], valid: List[int],
                n: int, formula: Optional[str]) -> Tuple[Dict[str, Any], List[LayerScore]]:
    """(the region's ceiling band, one row per layer scored on all stimuli; NaN with a note where unscorable)."""
    everything = np.arange(n)
    values, raws = sc.score(everything)
    lo, hi = sc.bounds(values, sc.samples(everything))
    ceil, ceil_upper, ceil_ci = sc.ceiling(everything)
    note = _ceiling_note(sc.ceiling_note, formula, ceil, ceil_ci)
    band = {"lower" if isinstance(sc, RSAScorer) else "ceiling": ceil, "upper": ceil_upper, "ci": ceil_ci}
    k = {layer: j for j, layer in enumerate(valid)}
    rows = []
    for i, name in enumerate(layers):
        if i in notes:
            nan = float("nan")
            rows.append(LayerScore(label, region, name, nan, nan, nan, ceil, nan, n, np.array([]), note, notes[i]))
            continue
        value = float(values[k[i]])
        rows.append(LayerScore(label, region, name, value, float(lo[k[i]]), float(hi[k[i]]), ceil,
                               _ceiled(value, ceil, formula, ceil_ci), n, raws[k[i]], note))
    return band, rows


def _differences(best: List[BestLayer], regions: List[str], scorers: Dict[Tuple[str, str], Scorer],
                 settings_ci: str, n_seeds: int) -> List[Difference]:
    """Trained minus random held-out best-layer score per region, with a paired CI (plus the initialisation
    spread over several control seeds)."""
    out = []
    for region in regions:
        bt = next(b for b in best if b.model == "trained" and b.region == region)
        br = next(b for b in best if b.model == "random" and b.region == region)
        diff = bt.score - br.score
        paired = bt.samples - br.samples  # same resamples (RSA), groups (CKA) or splits (encoding)
        lo, hi = scorers[("trained", region)].bounds(np.array([diff]), paired[:, None])
        lo, hi = lo[0], hi[0]
        how = f"paired {settings_ci}"
        if n_seeds > 1:
            lo, hi = _with_init_spread(diff, lo, hi, br.raw)
            how += f"; initialisation variability over {n_seeds} control seeds added in quadrature"
        out.append(Difference(region, bt.layer, br.layer, diff, float(lo), float(hi), how))
    return out
