"""Leave the user's model exactly as it was found.

Every engine operation runs its work inside :func:`preserved`: modules go to eval mode and parameters
stop requiring gradients (so no weight gradient is ever computed or accumulated), and on the way out —
normal return, exception, KeyboardInterrupt or cancel — every module's ``training`` flag, every
parameter's ``requires_grad`` and every parameter's ``.grad`` are put back as they were.

Engine operations on one model are serialised: each holds the model's lock for its duration, because the
hooks and flags they set live on the shared module (a widget's worker thread and a notebook cell working on
the same model at once would otherwise see each other's hooks). The lock is re-entrant, so an operation
may call another.
"""
from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Iterator

import torch
from torch import nn

_locks: "weakref.WeakKeyDictionary[nn.Module, threading.RLock]" = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def model_lock(module: nn.Module) -> threading.RLock:
    """The re-entrant lock that serialises engine operations on ``module``."""
    with _locks_guard:
        lock = _locks.get(module)
        if lock is None:
            lock = _locks[module] = threading.RLock()
        return lock


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
