"""Background jobs for the widgets: one worker thread per job, progress, cancel, supersede and a result cache.

A widget owns one :class:`JobRunner`. Work is grouped in *slots* (one per panel, e.g. ``"featurevis"``); a slot
runs at most one job. Submitting a new job to a busy slot cancels the running one (its result is dropped even
if it finishes), so a second click cleanly supersedes the first — unless the new job computes the same key,
in which case it joins the running computation (only its display callbacks change). Finished results are
cached by key, so asking again for the same key reports the result at once without recomputing.

Every job reaches a final state (done, error or cancelled) whatever ends its thread, and statuses are
ordered: each carries the job's number and a sequence number, and the runner never reports a status of an
older job, nor a status of a job after its final one (a late "running" never hides a "cancelled").

The runner never touches widget traits itself: it calls ``on_status(slot, status)`` and the job's
``on_result(result)`` — the widget turns those into trait values.
"""
from __future__ import annotations

import threading
import time
import traceback
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Hashable, Optional, Tuple

import numpy as np

from ..engine.model_state import model_lock
from ..engine.progress import Cancelled, CancelToken

#: a running job's status is updated at most this often (seconds), except its first and last update
PROGRESS_INTERVAL = 0.1
#: the result cache keeps at most this many bytes of arrays (least recently used results go first)
CACHE_BYTES = 512 * 2**20

Work = Callable[[Callable[..., None], CancelToken], Any]
#: states after which a job reports nothing more ("notice" and "idle" end a slot that runs no job)
FINAL_STATES = ("done", "error", "cancelled", "notice", "idle")


class ModelGate:
    """A lock around one model: engine calls on the same model never overlap.

    Hooks live on the shared module, so two engine calls running at once on one model would see each
    other's hooks (and a copy taken meanwhile would carry them). Waiting jobs go in order of priority (lower
    first: the cheap views of a layer before its long renders), then of arrival; a cancelled job leaves the
    queue at once. A long job that holds the gate lets waiting jobs of higher priority go first between its
    steps (see :class:`GateToken`).
    """

    def __init__(self, module: Any = None) -> None:
        self._cond = threading.Condition()
        self._queue: list = []
        self._arrivals = 0
        self._busy = False
        self._module = weakref.ref(module) if module is not None else None

    @property
    def module(self) -> Any:
        """The model this gate orders access to (None when unknown or gone)."""
        return self._module() if self._module is not None else None

    def acquire(self, cancel: CancelToken, priority: int = 0, poll: float = 0.05) -> None:
        with self._cond:
            self._arrivals += 1
            ticket = (priority, self._arrivals)
            self._queue.append(ticket)
            while self._busy or min(self._queue) != ticket:
                if cancel.cancelled:
                    self._queue.remove(ticket)
                    self._cond.notify_all()
                    cancel.raise_if_cancelled()
                self._cond.wait(poll)
            self._queue.remove(ticket)
            self._busy = True

    def release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def waiting_before(self, priority: int) -> bool:
        """True when a job of higher priority (a lower number) waits."""
        with self._cond:
            return any(ticket[0] < priority for ticket in self._queue)


class GateToken(CancelToken):
    """A job's cancel token, which also holds the job's place at its model's gate.

    A render asks the token between steps whether to pause (:meth:`should_pause`): it does when a job of higher
    priority waits at the gate. It then leaves the model as found and calls :meth:`pause`, which lets the gate go
    and queues again at the job's priority, so the cheap views of a click come before the rest of a long render.
    :meth:`defer` lowers a running job's priority once its first, quick answer is out (its refinement then waits
    for the views that matter more).
    """

    def __init__(self, gate: Optional[ModelGate] = None, priority: int = 0) -> None:
        super().__init__()
        self.gate = gate
        self.priority = priority
        self.held = False

    def hold(self) -> None:
        """Wait for the gate (in priority order); :class:`Cancelled` when cancelled meanwhile."""
        if self.gate is not None and not self.held:
            self.gate.acquire(self, self.priority)
            self.held = True

    def let_go(self) -> None:
        if self.held:
            self.held = False
            self.gate.release()

    def should_pause(self) -> bool:
        return self.held and self.gate.waiting_before(self.priority)

    def pause(self) -> None:
        self.let_go()
        self.hold()

    def pause_if_free(self) -> None:
        """Pause now if a job of higher priority waits and this thread holds nothing on the model (called at every
        progress report: an engine call reporting between two passes over the model can then pause there)."""
        module = self.gate.module if self.gate is not None else None
        if module is not None and self.should_pause() and model_lock(module).held_here() == 0:
            self.pause()

    def lower_to(self, priority: int) -> None:
        """Rank at ``priority`` from now on, without pausing here: safe inside an engine call (a render asks
        :meth:`should_pause` between its steps and pauses there, with the model left as found)."""
        self.priority = priority

    def defer(self, priority: int) -> None:
        """Run on at ``priority`` from now on; jobs that now come first and wait get the model before this one
        goes on. Call it between engine calls (never from inside one: the model would still be held)."""
        self.lower_to(priority)
        if self.should_pause():
            self.pause()


_GATES: "weakref.WeakKeyDictionary[Any, ModelGate]" = weakref.WeakKeyDictionary()
_GATES_LOCK = threading.Lock()


def model_gate(module: Any) -> ModelGate:
    """The gate of one model object (shared by every widget showing that model)."""
    with _GATES_LOCK:
        gate = _GATES.get(module)
        if gate is None:
            gate = _GATES[module] = ModelGate(module)
        return gate


class Notice(Exception):
    """Raised by a job's work when it ends with nothing to show for a reason that is not a failure (e.g. a
    layer whose responses are constant has no RDM): the slot shows the message as a notice."""


def idle_status() -> Dict[str, Any]:
    return {"state": "idle", "fraction": 0.0, "message": "", "error": "", "traceback": "", "cached": False,
            "job": 0, "seconds": 0.0}


def result_nbytes(obj: Any, _seen: Optional[set] = None) -> int:
    """The bytes of the arrays, tensors and byte strings an engine result holds (walked through containers
    and object attributes; each object counted once)."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen or obj is None or isinstance(obj, (int, float, str, bool)):
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return len(obj)
    if hasattr(obj, "element_size") and hasattr(obj, "numel"):  # a torch tensor
        return int(obj.element_size() * obj.numel())
    if isinstance(obj, dict):
        return sum(result_nbytes(k, seen) + result_nbytes(v, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sum(result_nbytes(v, seen) for v in obj)
    fields = getattr(obj, "__dict__", None)
    return result_nbytes(fields, seen) if isinstance(fields, dict) else 0


@dataclass
class Job:
    slot: str
    key: Hashable
    work: Work
    on_result: Callable[[Any], None]
    number: int
    priority: int = 0
    on_progress: Optional[Callable[..., None]] = None
    cancel: GateToken = field(default_factory=GateToken)
    thread: Optional[threading.Thread] = None
    done: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    finished: bool = False  # its final state was reported (or a newer job's status replaced it)


class JobRunner:
    """Runs ``work(progress, cancel)`` callables in worker threads; see the module docstring.

    ``progress(fraction, message="", **extra)`` inside the work reports a fraction in [0, 1]; extra keyword
    arguments go to the job's ``on_progress`` (for example images that are still forming).
    """

    def __init__(self, on_status: Callable[[str, Dict[str, Any]], None], cache_size: int = 128,
                 gate: Optional[ModelGate] = None, cache_bytes: int = CACHE_BYTES) -> None:
        self._on_status = on_status
        self._gate = gate
        self._lock = threading.Lock()
        self._current: Dict[str, Job] = {}
        self._cache: "OrderedDict[Hashable, Any]" = OrderedDict()
        self._cache_nbytes: Dict[Hashable, int] = {}
        self._cache_size = cache_size
        self._cache_bytes = cache_bytes
        self._count = 0
        self.computed = 0  # jobs that ran their work to completion (cache misses)
        self._emit_lock = threading.RLock()
        self._shown: Dict[str, Tuple[int, bool]] = {}  # slot -> (job number, final) of its last status
        self._seq = 0

    # ---- cache ------------------------------------------------------------------------------------
    def cached(self, key: Hashable) -> Any:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    def remember(self, key: Hashable, result: Any) -> None:
        """Cache ``result``; the least recently used results leave once there are more than ``cache_size``
        or they hold more than ``cache_bytes`` (a result larger than that alone is not kept)."""
        size = result_nbytes(result)
        with self._lock:
            self._cache.pop(key, None)
            self._cache_nbytes.pop(key, None)
            if size > self._cache_bytes:
                return
            self._cache[key] = result
            self._cache_nbytes[key] = size
            while len(self._cache) > self._cache_size or self.cache_nbytes() > self._cache_bytes:
                old, _ = self._cache.popitem(last=False)
                del self._cache_nbytes[old]

    def cache_nbytes(self) -> int:
        """Bytes the cached results hold (as :func:`result_nbytes` counts them)."""
        return sum(self._cache_nbytes.values())

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
            self._cache_nbytes.clear()

    # ---- statuses --------------------------------------------------------------------------------
    def _next_number(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    def _emit(self, slot: str, number: int, status: Dict[str, Any]) -> bool:
        """Report a status of job ``number``; False (and nothing reported) when a newer job's status, or a
        final status of this job, was reported already."""
        final = status["state"] in FINAL_STATES
        with self._emit_lock:
            shown = self._shown.get(slot)
            if shown is not None and (number < shown[0] or (number == shown[0] and shown[1])):
                return False
            self._seq += 1
            self._on_status(slot, {**idle_status(), **status, "job": number, "seq": self._seq})
            self._shown[slot] = (number, final)
            return True

    def post(self, slot: str, status: Dict[str, Any]) -> None:
        """Show a status that no job produces (an input error, a notice, idle): the slot's running job is
        superseded, so nothing it reports later replaces this."""
        self.cancel(slot, superseded=True)
        self._emit(slot, self._next_number(), status)

    def _final(self, job: Job, status: Dict[str, Any]) -> None:
        """Report ``job``'s final state; when reporting it fails, report that failure as its final state."""
        status = {**status, "seconds": time.monotonic() - job.started}
        try:
            self._emit(job.slot, job.number, status)
        except Exception as err:  # noqa: BLE001 - the front end must still leave "running"
            self._emit(job.slot, job.number, {
                "state": "error", "seconds": status["seconds"], "traceback": traceback.format_exc(),
                "error": f"the job ended ({status['state']}) but showing it failed: {type(err).__name__}: {err}"})
        finally:
            job.finished = True

    # ---- jobs -------------------------------------------------------------------------------------
    def submit(self, slot: str, key: Hashable, work: Work, on_result: Callable[[Any], None],
               on_progress: Optional[Callable[..., None]] = None, use_cache: bool = True,
               priority: int = 0) -> Optional[Job]:
        """Start ``work`` in ``slot`` (cancelling what runs there), join the running job when it computes the
        same ``key``, or deliver the cached result at once. Lower ``priority`` gets the model first."""
        with self._lock:
            running = self._current.get(slot)
            if running is not None and key is not None and running.key == key and not running.cancel.cancelled:
                running.on_result, running.on_progress = on_result, on_progress
                return running
        self.cancel(slot, superseded=True)
        number = self._next_number()
        hit = self.cached(key) if use_cache and key is not None else None
        if hit is not None:
            try:
                on_result(hit)
            except Exception as err:  # noqa: BLE001 - a display failure is an error of this job
                self._emit(slot, number, {"state": "error", "error": f"{type(err).__name__}: {err}",
                                          "traceback": traceback.format_exc()})
            else:
                self._emit(slot, number, {"state": "done", "fraction": 1.0, "message": "cached", "cached": True})
            return None
        job = Job(slot, key, work, on_result, number, priority=priority, on_progress=on_progress,
                  cancel=GateToken(self._gate, priority))
        with self._lock:
            self._current[slot] = job
        job.thread = threading.Thread(target=self._run, args=(job,), daemon=True,
                                      name=f"neuro_widgets-{slot}-{number}")
        try:
            self._emit(slot, number, {"state": "running", "message": "queued"})
            job.thread.start()
        except BaseException as err:
            self._forget_job(job)
            self._final(job, {"state": "error", "error": f"the job could not start: {type(err).__name__}: {err}",
                              "traceback": traceback.format_exc()})
            job.done.set()
            if not isinstance(err, Exception):
                raise
        return job

    def _is_current(self, job: Job) -> bool:
        with self._lock:
            return self._current.get(job.slot) is job

    def _forget_job(self, job: Job) -> None:
        with self._lock:
            if self._current.get(job.slot) is job:
                del self._current[job.slot]

    def _run(self, job: Job) -> None:
        try:
            self._execute(job)
        finally:
            try:
                if not job.finished:  # the thread is ending without having reported a final state
                    state = "cancelled" if job.cancel.cancelled else "error"
                    self._final(job, {"state": state, "message": state if state == "cancelled" else "",
                                      "error": "" if state == "cancelled" else "the job stopped without a result"})
            finally:
                self._forget_job(job)
                job.done.set()

    def _execute(self, job: Job) -> None:
        last = [0.0]

        def progress(fraction: float, message: str = "", **extra: Any) -> None:
            if not self._is_current(job):
                job.cancel.cancel()  # superseded
            job.cancel.raise_if_cancelled()
            job.cancel.pause_if_free()
            if job.on_progress is not None and extra:  # partial results are never dropped (callbacks pace themselves)
                job.on_progress(**extra)
            now = time.monotonic()
            if now - last[0] < PROGRESS_INTERVAL and fraction < 1.0:
                return
            last[0] = now
            self._emit(job.slot, job.number, {"state": "running", "message": message, "seconds": now - job.started,
                                              "fraction": float(min(max(fraction, 0.0), 1.0))})

        try:
            job.cancel.hold()
            try:
                self._emit(job.slot, job.number, {"state": "running", "message": "started",
                                                  "seconds": time.monotonic() - job.started})
                result = job.work(progress, job.cancel)
            finally:
                job.cancel.let_go()
        except Cancelled:
            self._final(job, {"state": "cancelled", "message": "cancelled"})
            return
        except Notice as note:
            self._final(job, {"state": "notice", "message": str(note)})
            return
        except BaseException as err:  # noqa: BLE001 - every failure must reach the widget
            self._final(job, {"state": "error", "error": f"{type(err).__name__}: {err}",
                              "traceback": traceback.format_exc()})
            return
        self.computed += 1
        if job.key is not None:
            self.remember(job.key, result)
        if job.cancel.cancelled or not self._is_current(job):
            self._final(job, {"state": "cancelled", "message": "cancelled"})
            return
        try:
            job.on_result(result)
        except Exception as err:  # noqa: BLE001 - a display failure is an error of this job
            self._final(job, {"state": "error", "error": f"{type(err).__name__}: {err}",
                              "traceback": traceback.format_exc()})
        else:
            self._final(job, {"state": "done", "fraction": 1.0, "message": "done"})

    def cancel(self, slot: str, superseded: bool = False) -> bool:
        """Cancel the job running in ``slot``; True when there was one. A superseded job reports nothing more
        (the slot's next status comes from what replaces it)."""
        with self._lock:
            job = self._current.pop(slot, None)
        if job is None:
            return False
        job.cancel.cancel()
        if not superseded:
            self._final(job, {"state": "cancelled", "message": "cancelled"})
        return True

    def running(self, slot: str) -> Optional[Job]:
        with self._lock:
            return self._current.get(slot)

    def wait(self, timeout: float = 60.0) -> None:
        """Block until no slot has a running job (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                jobs = list(self._current.values())
            if not jobs:
                return
            for job in jobs:
                left = deadline - time.monotonic()
                if left <= 0 or not job.done.wait(left):
                    raise TimeoutError(f"widget jobs still running after {timeout} s: "
                                       f"{sorted(j.slot for j in jobs)}")
