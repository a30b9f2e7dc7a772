"""Leave the user's model exactly as it was found.

Every engine operation runs its work inside :func:`preserved`: modules go to eval mode and parameters
stop requiring gradients (so no weight gradient is ever computed or accumulated), and on the way out —
normal return, exception, KeyboardInterrupt or cancel — every module's ``training`` flag, every
parameter's ``requires_grad`` and every parameter's ``.grad`` are put back as they were.

Engine operations on one model are serialised: each holds the model's lock for its duration, because the
hooks and flags they set live on the shared module (a widget's worker thread and a notebook cell working on
the same model at once would otherwise see each other's hooks). The lock is re-entrant, so an operation
may call another. A copy of the model (:func:`private_copy`) is taken under the same lock, so it never carries
another operation's hooks or frozen flags.

A long operation (a render) does not keep the model from everyone else for its whole run: between its units of
work it asks a :class:`PausePoint` whether another thread waits for the model (or its cancel token's owner asks),
and if so puts the model back as found, releases the lock and waits its turn.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import threading
import time
import weakref
from typing import Any, Iterator, List, Optional, Tuple

import torch
from torch import nn

class ModelLock:
    """A re-entrant lock that knows how many threads wait for it and how deeply its owner holds it."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._count_guard = threading.Lock()
        self._waiting = 0
        self._owner: Optional[int] = None
        self._depth = 0

    def acquire(self) -> None:
        if not self._lock.acquire(blocking=False):
            with self._count_guard:
                self._waiting += 1
            try:
                self._lock.acquire()
            finally:
                with self._count_guard:
                    self._waiting -= 1
        self._owner = threading.get_ident()
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._owner = None
        self._lock.release()

    def __enter__(self) -> "ModelLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    @property
    def waiting(self) -> int:
        """Threads blocked in :meth:`acquire` now."""
        return self._waiting

    def held_here(self) -> int:
        """How many times the calling thread holds the lock (0: not at all)."""
        return self._depth if self._owner == threading.get_ident() else 0


_locks: "weakref.WeakKeyDictionary[nn.Module, ModelLock]" = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def model_lock(module: nn.Module) -> ModelLock:
    """The re-entrant lock that serialises engine operations on ``module``."""
    with _locks_guard:
        lock = _locks.get(module)
        if lock is None:
            lock = _locks[module] = ModelLock()
        return lock


class PausePoint:
    """Where a long operation on ``module`` may let other work have the model.

    Made before the operation takes the model. Between its units of work, inside its ``with`` blocks, the
    operation asks :meth:`wanted`: another thread waits for the model's lock, or ``cancel``'s owner asks
    (:meth:`CancelToken.should_pause`). If so it leaves its blocks (hooks removed, flags restored, lock released),
    calls :meth:`wait` and takes the model again. An operation called while its caller already holds the model
    never pauses: nobody else could take the model meanwhile, and a pause would wait on itself.
    """

    #: how long :meth:`wait` waits for a thread blocked on the model's lock to take it (seconds)
    HANDOFF_TIMEOUT = 1.0

    def __init__(self, module: nn.Module, cancel: Any = None) -> None:
        self._lock = model_lock(module)
        self._cancel = cancel
        self.enabled = self._lock.held_here() == 0
        self.pauses = 0

    def wanted(self) -> bool:
        if not self.enabled:
            return False
        return self._lock.waiting > 0 or (self._cancel is not None and self._cancel.should_pause())

    def wait(self) -> None:
        """Return once the threads that were waiting for the lock have taken it (or ``HANDOFF_TIMEOUT``
        passed) and ``cancel``'s owner lets the operation go on; :class:`Cancelled` when cancelled meanwhile."""
        self.pauses += 1
        deadline = time.monotonic() + self.HANDOFF_TIMEOUT
        while self._lock.waiting > 0 and time.monotonic() < deadline:
            time.sleep(0.002)
        if self._cancel is not None:
            self._cancel.pause()


@contextlib.contextmanager
def preserved(module: nn.Module, *, eval_mode: bool = True, freeze: bool = True) -> Iterator[nn.Module]:
    with model_lock(module):
        with _restored(module, eval_mode, freeze):
            yield module


@contextlib.contextmanager
def _restored(module: nn.Module, eval_mode: bool, freeze: bool) -> Iterator[nn.Module]:
    modules = list(module.modules())
    params = list(module.parameters())
    training = [m.training for m in modules]
    requires_grad = [p.requires_grad for p in params]
    grads = [p.grad for p in params]
    try:
        if eval_mode:
            module.eval()
        if freeze:
            for p in params:
                p.requires_grad_(False)
        yield module
    finally:
        for m, flag in zip(modules, training):
            m.training = flag
        for p, flag, g in zip(params, requires_grad, grads):
            p.requires_grad_(flag)
            p.grad = g


#: the module attributes that hold hooks run around ``forward`` and ``backward`` (handle id -> hook), and the
#: ones that flag some of those hooks (handle id -> True)
_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
_FLAG_DICTS = ("_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks_with_kwargs")
#: hooks defined in these packages are the engine's or captum's own, never the user's
_OWN_PACKAGES = ("neuro_widgets", "captum")


def _hook_package(hook: Any) -> str:
    """The top-level package that defined ``hook`` (a function, closure, partial, bound method or callable)."""
    while isinstance(hook, functools.partial):
        hook = hook.func
    hook = getattr(hook, "__func__", hook)
    owner = getattr(hook, "__module__", None) or type(hook).__module__
    return (owner or "").split(".")[0]


def strip_own_hooks(module: nn.Module) -> None:
    """Remove, from every submodule, the hooks that neuro_widgets or captum registered; the user's stay."""
    for m in module.modules():
        for attr in _HOOK_DICTS:
            hooks = getattr(m, attr, None) or {}
            for key in [k for k, h in hooks.items() if _hook_package(h) in _OWN_PACKAGES]:
                del hooks[key]
                for flags in _FLAG_DICTS:
                    getattr(m, flags, {}).pop(key, None)


def private_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` for the engine's own use (a randomised control, a ReLU-safe twin).

    Taken under the model's lock, so it sees the model as its user left it, not halfway through another engine
    operation (with that operation's capture hooks, eval mode or frozen parameters); any neuro_widgets or captum
    hook still found is removed from the copy, while the user's own hooks are kept.
    """
    with model_lock(module):
        clone = copy.deepcopy(module)
    strip_own_hooks(clone)
    return clone


@contextlib.contextmanager
def inplace_off(module: nn.Module) -> Iterator[nn.Module]:
    """Modules with an ``inplace`` flag (``nn.ReLU(inplace=True)``, ``Hardswish``, ``Dropout`` ...) compute
    out of place inside the block; every flag is restored exactly afterwards. Gradient methods need this: an
    in-place op on a layer output that captum made a leaf requiring grad is an error (AlexNet's ``features.3``).
    Hold the model's lock (:func:`preserved`) around it: the flags live on the shared modules."""
    changed: List[Tuple[nn.Module, Any]] = []
    try:
        for m in module.modules():
            flag = getattr(m, "inplace", None)
            if isinstance(flag, bool) and flag:
                changed.append((m, flag))
                m.inplace = False
        yield module
    finally:
        for m, flag in changed:
            m.inplace = flag


def module_device(module: nn.Module) -> torch.device:
    """The device of the module's first parameter or buffer (CPU for a module with neither)."""
    for t in module.parameters():
        return t.device
    for t in module.buffers():
        return t.device
    return torch.device("cpu")


def module_dtype(module: nn.Module) -> torch.dtype:
    for t in module.parameters():
        if t.is_floating_point():
            return t.dtype
    return torch.float32
