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
"""
from __future__ import annotations

import contextlib
import copy
import functools
import threading
import weakref
from typing import Any, Iterator, List, Tuple

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
