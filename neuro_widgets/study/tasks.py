"""The units of work of a study and what a worker runs for each.

A task is one (model, data set) pair: the worker builds the model (from its zoo name, or from the user's
module shipped once), runs :func:`~neuro_widgets.engine.alignment.sweep.sweep` once per metric that is still
missing from the store, and returns the :class:`SweepResult` objects only (never the activations).

Why not layer chunks: the held-out best-layer commitment of ``sweep()`` chooses among *all* layers on the
selection half, and its paired bootstrap/jackknife samples and the trained-minus-control difference are taken
from the chosen layers. Splitting the layers across tasks would need that selection re-run on combined
per-layer results, outside ``sweep()``; keeping one task per (model, data set) gives the commitment exactly as
``sweep()`` makes it, and the activations are computed once per (model, data set) (the task's own activation
cache serves every metric), and are freed when the task ends. A task's memory is bounded by ``memory_budget``,
which ``sweep()`` enforces for the activation pass.

Seeds: every task passes the study's ``seed`` and ``control_seed`` to ``sweep()``, so a task's numbers depend
on its identity (model, data set, metric, settings) only, never on where or when it runs; all models on a data
set share the same selection/evaluation split and resamples (paired comparisons across models).
"""
from __future__ import annotations

import copy
import ctypes
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..engine.alignment.results import SweepResult
from ..engine.alignment.sweep import sweep
from ..engine.cache import ActivationCache
from ..engine.probe import Probe
from ..engine.progress import Cancelled, CancelToken
from ..engine.stimuli import InputSpec


@dataclass(frozen=True)
class TaskKey:
    """Which result: a model, a data set and a metric, by name."""

    model: str
    data: str
    metric: str


@dataclass
class ModelRecipe:
    """How a worker builds a model: ``load_model(name, **kwargs)`` or ``Probe(module, input_spec, name)``.

    A Probe itself is not shipped (its activation cache holds a lock); its module and input spec are.
    """

    name: str
    module: Any = None
    input_spec: Optional[InputSpec] = None
    load_kwargs: Dict[str, Any] = field(default_factory=dict)

    def build(self, cache: ActivationCache) -> Probe:
        if self.module is None:
            from ..zoo.registry import load_model

            probe = load_model(self.name, **self.load_kwargs)
            return probe.sibling(probe.module, probe.name, cache=cache)
        # a copy: on a Dask worker the module is shared data that the worker may be pickling for another
        # worker while this task's hooks are on it (hooks hold locks and do not pickle)
        return Probe(copy.deepcopy(self.module), self.input_spec, name=self.name, cache=cache)


def model_recipe(model: Any) -> ModelRecipe:
    """A zoo / ``torchvision:`` name, a ``(name, load_model kwargs)`` pair or an ``nw.Probe``."""
    if isinstance(model, str):
        return ModelRecipe(model)
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], str) and isinstance(model[1], dict):
        return ModelRecipe(model[0], load_kwargs=dict(model[1]))
    if isinstance(model, Probe):
        return ModelRecipe(model.name, model.module, model.input_spec)
    raise TypeError(f"a study model is a zoo name (e.g. 'cifar_resnet20'), 'torchvision:<name>', a pair "
                    f"(name, load_model keyword arguments) or an nw.Probe, got {type(model).__name__}")


def data_name(data: Any) -> str:
    """The name a data set is stored under: a ``nw.datasets`` function name, or the Dataset's ``name``."""
    if isinstance(data, str):
        return data
    name = getattr(data, "name", None)
    if not isinstance(name, str) or not name or getattr(data, "neural", None) is None:
        raise TypeError("a study data set is a Dataset with a name (nw.datasets.*) or the name of a function of "
                        f"nw.datasets (e.g. 'kriegeskorte2008'), got {type(data).__name__}")
    return name


def load_data(data: Any) -> Any:
    """A Dataset: ``data`` itself, or ``nw.datasets.<data>()`` read on the worker."""
    if not isinstance(data, str):
        return data
    from ..data import datasets

    loader = getattr(datasets, data, None)
    if loader is None or data.startswith("_") or not callable(loader):
        raise ValueError(f"no data set {data!r} in nw.datasets")
    return loader()


@dataclass
class TaskFailure:
    """A task that raised: its keys, the error line and the traceback."""

    keys: List[TaskKey]
    error: str
    traceback: str = field(repr=False, default="")


@dataclass
class TaskOutcome:
    """What a worker sends back: one SweepResult per metric computed, or the failure."""

    results: Dict[TaskKey, SweepResult]
    failure: Optional[TaskFailure] = None
    seconds: float = 0.0  # time the task ran on its worker


def run_task(recipe: ModelRecipe, data: Any, keys: Sequence[TaskKey], layers: Optional[Sequence[str]],
             options: Dict[str, Any], cache_bytes: int, cancel: Optional[CancelToken] = None) -> TaskOutcome:
    """Sweep one model on one data set for each key's metric; an error becomes a :class:`TaskFailure`."""
    results: Dict[TaskKey, SweepResult] = {}
    start = time.perf_counter()
    dataset = None
    try:
        probe = recipe.build(ActivationCache(cache_bytes))
        dataset = load_data(data)
        for key in keys:
            results[key] = sweep(probe, dataset, layers, metric=key.metric, cancel=cancel, **options)
    except Cancelled:
        raise
    except Exception as err:  # reported with the study's result; the other tasks go on
        done = [k for k in keys if k not in results]
        failure = TaskFailure(done, f"{type(err).__name__}: {err}", traceback.format_exc())
        return TaskOutcome(results, failure, time.perf_counter() - start)
    finally:
        _drop_preprocessed(dataset)
    return TaskOutcome(results, seconds=time.perf_counter() - start)


def _drop_preprocessed(dataset: Any) -> None:
    """Free the preprocessed copy of the stimuli that the sweep left on the data set. On a worker the data set
    is shared by every task that uses it, and a StimulusSet keeps one float32 copy per model input size (up to
    512 MiB each): 92 images at 224 px are 55 MiB per size, kept for the worker's life and counted in no task's
    budget. Each task counts (and makes) its own."""
    stimuli = getattr(dataset, "stimuli", None)
    cached = getattr(stimuli, "_preprocessed", None)
    if isinstance(cached, dict):
        cached.clear()


def _release_memory() -> None:
    """Give the finished task's freed heap back to the system (glibc's ``malloc_trim``, <1 ms; a no-op
    elsewhere), so a worker holds its imports and shipped inputs between tasks, not the last task's high-water
    mark. (No ``gc.collect()``: with torch imported it took 0.5-0.9 s per task on a loaded machine.)"""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def run_batch(units: Sequence[Tuple[ModelRecipe, Any, List[TaskKey]]], layers_of: Dict[str, Optional[List[str]]],
              options: Dict[str, Any], cache_bytes: int) -> List[TaskOutcome]:
    """Several (model, data set) tasks in one Dask task: for studies of many tiny tasks, whose per-task
    scheduling cost would otherwise be comparable to the work. Each unit is run and freed as :func:`run_task`."""
    outcomes = []
    for recipe, data, keys in units:
        outcomes.append(run_task(recipe, data, keys, layers_of[recipe.name], options, cache_bytes))
        _release_memory()
    return outcomes


def plan(models: Sequence[ModelRecipe], data: Sequence[Tuple[str, Any]], metrics: Sequence[str],
         missing: Any) -> List[Tuple[ModelRecipe, str, Any, List[TaskKey]]]:
    """(recipe, data name, data, keys still to compute) per (model, data set) with anything missing."""
    out = []
    for recipe in models:
        for name, ds in data:
            keys = [TaskKey(recipe.name, name, m) for m in metrics]
            todo = [k for k in keys if missing(k)]
            if todo:
                out.append((recipe, name, ds, todo))
    return out
