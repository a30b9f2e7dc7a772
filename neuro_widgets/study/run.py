"""``nw.Study``: many models x many data sets x every layer, as sweeps run on a Dask cluster (or in-process).

The scheduling is Dask's (``dask.distributed``): a ``LocalCluster`` on this machine by default, or any cluster
the user has a ``Client`` (or scheduler address) for. Our code only plans the tasks, ships each model and data set
to the workers once, and writes each result to the store as it arrives; see :mod:`.tasks` for the unit of work
and why results equal a one-process ``sweep()``.
"""
from __future__ import annotations

import inspect
import pickle
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..engine.alignment.sweep import METRICS, sweep
from ..engine.cache import DEFAULT_BUDGET_BYTES
from ..engine.progress import CancelToken, ProgressArg, check_cancel, make_reporter, validate_cancel
from .result import StudyResult
from .store import ResultStore, settings_digest
from .tasks import (ModelRecipe, TaskFailure, TaskKey, TaskOutcome, data_name, load_data, model_recipe, plan,
                    run_batch, run_task)

_OWN_ARGS = {"probe", "data", "layers", "metric", "progress", "cancel", "stimuli"}
SCALE_OUT_HINT = ("pip install 'neuro_widgets[dask]' to run studies on a Dask LocalCluster (the default of "
                  "Study.run()), or pass client=distributed.Client('tcp://scheduler:8786') for a cluster")


#: Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's adaptive mmap threshold:
#: every tensor over 128 KiB is then a fresh mmap with its page faults, and a sweep ran 2.8x slower on a worker
#: than in-process (benchmarks/RESULTS.md). We restore glibc's own rule at a fixed point: blocks over 32 MiB are
#: mmapped (and go back to the system when freed), and the heap is trimmed only when 64 MiB (twice that) lie free
#: at its top. With the trim threshold left at 64 KiB a worker gave back and re-faulted its batch buffers on every
#: layer: the benchmark study ran 1.27x slower on one worker than in-process, with more page faults and system
#: time (part 5 of the study benchmarks). :func:`local_cluster` uses these settings; pass them to
#: ``dask.config.set`` before starting a cluster of your own. The worker's statistical profiler is off too: it
#: samples the running task's Python stack every 10 ms under the GIL, and a study's tasks are long, so its samples
#: say little.
WORKER_CONFIG = {"distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": 32 * 2**20,
                 "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 64 * 2**20,
                 "distributed.worker.profile.enabled": False}


#: above this many (model, data set) tasks per worker, several go into one Dask task (see ``Study.run``)
_DASK_TASKS_PER_WORKER = 16


def _import_distributed():
    import distributed

    return distributed


def local_cluster(n_workers: int = 2, **kwargs: Any) -> Any:
    """The ``LocalCluster`` that ``Study.run()`` starts: ``n_workers`` single-threaded worker processes with
    :data:`WORKER_CONFIG`. Keywords go to ``distributed.LocalCluster``."""
    import dask

    distributed = _import_distributed()
    options = dict(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=":0", **kwargs)
    with dask.config.set(WORKER_CONFIG):
        return distributed.LocalCluster(**options)


def _tqdm_reporter() -> Callable[..., None]:
    from tqdm.auto import tqdm

    bar = None

    def report(done: int, total: int, failures: int = 0, **_: Any) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, desc="study", unit="task")
        bar.n = done
        bar.set_postfix(failed=failures, refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()

    return report


def _reporter(progress: ProgressArg) -> Callable[..., None]:
    if progress is True:
        try:
            return _tqdm_reporter()
        except ImportError:
            pass
    return make_reporter(progress, "study")


class Study:
    """Every model x every data set x every metric, each a ``sweep()`` over all layers (or ``layers``).

    ``models``: zoo names, ``"torchvision:<name>"``, ``(name, load_model kwargs)`` pairs or ``nw.Probe`` objects
    (their module must pickle; the Probe's ``name`` identifies it in the results and the store, so give each a
    distinct one). ``data``: Datasets (``nw.datasets.*()``) or the names of ``nw.datasets`` functions (read on
    the workers). ``layers``: None (every layer, as in ``sweep()``), one list for every model, or a dict
    model name -> list (or None: every layer). ``store``: a folder for the Parquet result store; a re-run with the same settings
    recomputes only what is missing there. ``memory_budget`` (bytes) bounds each task's activation pass (see
    ``sweep()``). Every other keyword goes to ``sweep()`` (``control``, ``n_boot``, ``seed``, ``reduce``, …).

    >>> study = nw.Study(["cifar_resnet20", "mobilenet_v1_025"], [nw.datasets.kriegeskorte2008()],
    ...                  metrics=["rsa"], control="random", store="study_results/")
    >>> result = study.run()           # a LocalCluster; or study.run(client=distributed.Client(...))
    >>> result.to_pandas(); result.best_layers(); result.plot(); result.failures
    """

    def __init__(self, models: Sequence[Any], data: Sequence[Any], metrics: Union[str, Sequence[str]] = "rsa", *,
                 layers: Union[None, Sequence[str], Dict[str, Sequence[str]]] = None,
                 store: Optional[Any] = None, memory_budget: Optional[int] = None, **sweep_options: Any) -> None:
        self.models: List[ModelRecipe] = [model_recipe(m) for m in models]
        self.data: List[Tuple[str, Any]] = [(data_name(d), d) for d in data]
        self.metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        for what, names in (("model", [r.name for r in self.models]), ("data set", [n for n, _ in self.data])):
            if not names:
                raise ValueError(f"a study needs at least one {what}")
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{what} names must be distinct (they key the results and the store): {dupes}; "
                                 "give each Probe its own name=")
        bad = [m for m in self.metrics if m not in METRICS] or ([] if self.metrics else ["(none)"])
        if bad:
            raise ValueError(f"unknown metric(s) {bad}; use some of {list(METRICS)}")
        allowed = set(inspect.signature(sweep).parameters) - _OWN_ARGS
        unknown = sorted(set(sweep_options) - allowed)
        if unknown:
            raise TypeError(f"unknown sweep option(s) {unknown}; sweep() takes {sorted(allowed)}")
        if isinstance(layers, dict):
            missing = [r.name for r in self.models if r.name not in layers]
            if missing:
                raise ValueError(f"layers is a dict but names no layers for model(s) {missing}")
        self.layers = layers
        self.options = dict(sweep_options, memory_budget=memory_budget)
        self.store_folder = store

    def _layers_of(self, model: str) -> Optional[List[str]]:
        chosen = self.layers.get(model) if isinstance(self.layers, dict) else self.layers
        return None if chosen is None else list(chosen)

    def settings(self, model: str) -> Dict[str, Any]:
        """What changes a model's numbers (the store keeps results per digest of these)."""
        return {"layers": self._layers_of(model), "options": self.options}

    def run(self, client: Any = None, *, n_workers: int = 2, progress: ProgressArg = None,
            cancel: Optional[CancelToken] = None, tasks_per_batch: Optional[int] = None) -> StudyResult:
        """Run what is missing and return every result.

        ``client``: None (a ``LocalCluster`` of ``n_workers`` single-threaded worker processes, closed
        afterwards; in this process when Dask is not installed), a ``distributed.Client``, a scheduler address,
        or ``"in-process"``. ``progress``: a callable ``(done, total)`` (also given ``failures=`` when it
        takes keywords) or True (a tqdm bar). ``cancel``: finished results stay in the store; the rest stop.
        ``tasks_per_batch``: (model, data set) tasks per Dask task; None: one, unless there are more than 16
        per worker (a study of many small tasks), then as many as keep about 16 Dask tasks per worker.
        """
        report = _reporter(progress)
        cancel = validate_cancel(cancel)
        if tasks_per_batch is not None and (not isinstance(tasks_per_batch, int) or isinstance(tasks_per_batch, bool)
                                            or tasks_per_batch < 1):
            raise ValueError(f"tasks_per_batch must be a positive int (or None: chosen from the number of tasks "
                             f"and workers), got {tasks_per_batch!r}")
        store = None if self.store_folder is None else ResultStore(
            self.store_folder, lambda key: settings_digest(self.settings(key.model)))
        sweeps: Dict[TaskKey, Any] = {}
        if store is not None:
            for recipe in self.models:
                for name, _ in self.data:
                    for metric in self.metrics:
                        key = TaskKey(recipe.name, name, metric)
                        if store.has(key):
                            sweeps[key] = store.load(key)
        todo = plan(self.models, self.data, self.metrics, lambda k: k not in sweeps)
        total = len(self.models) * len(self.data)
        state = {"done": total - len(todo), "failures": []}
        report(state["done"], total, failures=0)
        # the Parquet writes (~25 ms each) run on their own thread, so the loop keeps collecting results
        writer = ThreadPoolExecutor(1, thread_name_prefix="study-store") if store is not None else None
        writes: List[Future] = []

        def finished(outcome: TaskOutcome) -> None:
            for key, res in outcome.results.items():
                if writer is not None:
                    writes.append(writer.submit(store.save, key, res))
                sweeps[key] = res
            if outcome.failure is not None:
                state["failures"].append(outcome.failure)
            state["done"] += 1
            report(state["done"], total, failures=len(state["failures"]))

        try:
            if todo:
                self._execute(client, n_workers, todo, finished, cancel, tasks_per_batch)
        finally:
            if writer is not None:
                writer.shutdown(wait=True)  # what finished is on disk, also when cancelled
        for write in writes:
            write.result()  # a failed write raises here
        return StudyResult(sweeps, state["failures"], [r.name for r in self.models], [n for n, _ in self.data],
                           list(self.metrics), study=self)

    def _task_args(self, recipe: ModelRecipe, keys: List[TaskKey]) -> Tuple:
        return keys, self._layers_of(recipe.name), self.options, self._cache_bytes()

    def _cache_bytes(self) -> int:
        """Each task's activation cache: its memory budget."""
        return self.options.get("memory_budget") or DEFAULT_BUDGET_BYTES

    def _execute(self, client: Any, n_workers: int, todo: List, finished: Callable[[TaskOutcome], None],
                 cancel: Optional[CancelToken], tasks_per_batch: Optional[int] = None) -> None:
        if isinstance(client, str) and client == "in-process":
            return self._run_here(todo, finished, cancel)
        try:
            distributed = _import_distributed()
        except ImportError:
            if client is not None:
                raise ImportError(f"client={client!r} needs Dask: {SCALE_OUT_HINT}") from None
            warnings.warn(f"Dask is not installed: the study runs in this process. {SCALE_OUT_HINT}", stacklevel=3)
            return self._run_here(todo, finished, cancel)
        own_client = own_cluster = None
        if client is None:
            own_cluster = local_cluster(n_workers)
            own_client = client = distributed.Client(own_cluster)
        elif isinstance(client, str):
            own_client = client = distributed.Client(client)
        try:
            self._run_dask(distributed, client, todo, finished, cancel, tasks_per_batch)
        finally:
            if own_client is not None:
                own_client.close()
            if own_cluster is not None:
                own_cluster.close()

    def _run_here(self, todo: List, finished: Callable[[TaskOutcome], None], cancel: Optional[CancelToken]) -> None:
        loaded: Dict[str, Any] = {}  # a data set given by name is read once
        for recipe, name, ds, keys in todo:
            check_cancel(cancel)
            if isinstance(ds, str) and name not in loaded:
                try:
                    loaded[name] = load_data(ds)
                except Exception:  # run_task reports it as this task's failure
                    pass
            finished(run_task(recipe, loaded.get(name, ds), *self._task_args(recipe, keys), cancel=cancel))

    def _run_dask(self, distributed: Any, client: Any, todo: List, finished: Callable[[TaskOutcome], None],
                  cancel: Optional[CancelToken], tasks_per_batch: Optional[int] = None) -> None:
        # every model with a module and every data set goes to the cluster once, as the result of a task that
        # unpickles it (or reads a data set by name): if the worker holding it dies, Dask rebuilds it from the
        # task (scattered data would be lost with its worker); zoo models are built from their name per task
        import cloudpickle  # a dependency of distributed

        shipped: Dict[Any, Any] = {}

        def ship(obj: Any) -> Any:
            if isinstance(obj, ModelRecipe) and obj.module is None:
                return obj
            ident = obj if isinstance(obj, str) else id(obj)
            if ident not in shipped:
                key = f"study-input-{len(shipped)}-{time.time_ns()}"
                shipped[ident] = (client.submit(load_data, obj, pure=False, key=key) if isinstance(obj, str) else
                                  client.submit(pickle.loads, cloudpickle.dumps(obj), pure=False, key=key))
            return shipped[ident]

        if tasks_per_batch is None:
            workers = max(1, len(client.scheduler_info().get("workers", {})))
            tasks_per_batch = max(1, len(todo) // (workers * _DASK_TASKS_PER_WORKER))
        layers_of = {recipe.name: self._layers_of(recipe.name) for recipe, _, _, _ in todo}
        futures = {}
        for start in range(0, len(todo), tasks_per_batch):
            batch = todo[start:start + tasks_per_batch]
            units = [(ship(recipe), ship(ds), keys) for recipe, _, ds, keys in batch]
            first = batch[0]
            fut = client.submit(run_batch, units, layers_of, self.options, self._cache_bytes(), pure=False,
                                key=f"study-{first[0].name}-{first[1]}-x{len(batch)}-{time.time_ns()}")
            futures[fut] = [keys for _, _, _, keys in batch]
        pending = distributed.as_completed(list(futures))
        try:
            while not pending.is_empty():
                if not pending.has_ready():
                    check_cancel(cancel)
                    time.sleep(0.01)
                    continue
                for fut in pending.next_batch(block=False):
                    check_cancel(cancel)
                    batch_keys = futures.pop(fut)
                    try:
                        outcomes = fut.result()
                    except Exception as err:  # a worker died too often, or an input could not be unpickled
                        why = f"{type(err).__name__}: {err}"
                        outcomes = [TaskOutcome({}, TaskFailure(keys, why)) for keys in batch_keys]
                    fut.release()
                    for outcome in outcomes:
                        finished(outcome)
        finally:
            if futures:
                client.cancel(list(futures))
            for fut in shipped.values():
                fut.release()
