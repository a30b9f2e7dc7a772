"""Private random streams: the engine's random draws never touch torch's (or numpy's) global generators.

Seeding the global generator (``torch.manual_seed``) and restoring it afterwards is not enough once two
threads run at once: an engine call in a widget's worker thread would reseed the stream a user's thread is
drawing from, and two overlapping seeded calls would draw from each other's sequence.

* :func:`generator` is a fresh ``torch.Generator`` seeded with ``seed`` (for code that takes ``generator=``).
* :func:`drawing_from` is for code that does *not* take a generator (``reset_parameters()``, ``nn.init``,
  torchvision's model constructors, captum's noise draws): inside the block, every random op run *by this
  thread* gets a private generator for its device, seeded with ``seed``. It is a thread-local
  ``TorchDispatchMode``, so other threads keep drawing from the global stream, untouched. A CPU draw inside
  the block equals the one ``torch.manual_seed(seed)`` would have given (same engine, same seed). Random ops
  that have no generator argument (dropout inside fused attention kernels) run unchanged; the engine runs models
  in eval mode, where they draw nothing.
* :func:`reinitialise` gives modules fresh weights from such a private stream: the one place the engine
  re-initialises a model (the untrained control, the sanity check's cascading randomisation).
* Inside :func:`drawing_from`, captum's numpy draws (GradientSHAP's baseline choice and path points) come from
  a private ``np.random.RandomState(seed)``, again for this thread only, so a seeded result equals captum called
  after ``torch.manual_seed(seed); np.random.seed(seed)``.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import types
from typing import Any, Dict, Iterable, Iterator, Optional

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

_local = threading.local()


def check_seed(seed: Any, what: str = "seed") -> int:
    """``seed`` as an int, or a TypeError/ValueError that says what to pass."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{what} must be a non-negative integer, got {seed!r} ({type(seed).__name__})")
    if seed < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {seed}")
    return int(seed)


def generator(seed: int, device: Any = "cpu") -> torch.Generator:
    """A new generator on ``device`` seeded with ``seed``."""
    return torch.Generator(device=device).manual_seed(check_seed(seed))


def _with_generator(func: Any) -> Optional[Any]:
    """The overload of ``func`` that takes ``generator=``: ``func`` itself, its ``*generator*`` twin (``randn``
    -> ``randn.generator``), or None when there is none."""
    if any(a.name == "generator" for a in func._schema.arguments):
        return func
    names = [a.name for a in func._schema.arguments]
    packet = func.overloadpacket
    for overload in packet.overloads():
        other = getattr(packet, overload)
        args = other._schema.arguments
        if any(a.name == "generator" for a in args) and [a.name for a in args if a.name != "generator"] == names:
            return other
    return None


def _device_of(args: Any, kwargs: Dict[str, Any]) -> torch.device:
    for a in args:
        if isinstance(a, torch.Tensor):
            return a.device
    device = kwargs.get("device")
    return torch.device(device) if device is not None else torch.get_default_device()


class _PrivateDraws(TorchDispatchMode):
    """Gives each random op run under it a generator of this mode (one per device, seeded alike)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed
        self.generators: Dict[torch.device, torch.Generator] = {}

    def _generator(self, device: torch.device) -> torch.Generator:
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        g = self.generators.get(device)
        if g is None:
            g = self.generators[device] = generator(self.seed, device)
        return g

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if torch.Tag.nondeterministic_seeded in func.tags and kwargs.get("generator") is None:
            seeded_func = _with_generator(func)
            if seeded_func is not None:
                kwargs["generator"] = self._generator(_device_of(args, kwargs))
                return seeded_func(*args, **kwargs)
        return func(*args, **kwargs)


class _ThreadNumpy(types.ModuleType):
    """Stands in for ``numpy`` inside captum's modules: ``np.random`` is this thread's private RandomState while
    :func:`drawing_from` is active, numpy's global one otherwise; everything else is numpy itself."""

    def __init__(self) -> None:
        super().__init__("numpy")

    def __getattr__(self, name: str) -> Any:
        if name == "random":
            state = getattr(_local, "numpy_state", None)
            if state is not None:
                return state
        return getattr(np, name)


_numpy_proxy = _ThreadNumpy()
_proxy_guard = threading.Lock()


def _route_captum_numpy() -> None:
    """Point the ``np`` name of every loaded captum module at the thread-aware proxy (idempotent)."""
    with _proxy_guard:
        for name, module in list(sys.modules.items()):
            if name.startswith("captum") and getattr(module, "np", None) is np:
                module.np = _numpy_proxy


@contextlib.contextmanager
def drawing_from(seed: int) -> Iterator[None]:
    """Random draws made by this thread inside the block come from private generators seeded with ``seed``.

    >>> with drawing_from(0):
    ...     layer.reset_parameters()      # the same weights as after torch.manual_seed(0), global RNG untouched
    """
    seed = check_seed(seed)
    _route_captum_numpy()
    previous = getattr(_local, "numpy_state", None)
    _local.numpy_state = np.random.RandomState(seed)
    try:
        with _PrivateDraws(seed):
            yield
    finally:
        _local.numpy_state = previous


def reinitialise(modules: Iterable[nn.Module], seed: int) -> None:
    """Fresh weights for each of ``modules`` (its own parameters, not its children's): its ``reset_parameters()``
    where it has one (batch norm also resets its running statistics), else a normal draw with each tensor's own
    spread. The draws come from a private stream seeded with ``seed`` (see :func:`drawing_from`).

    >>> reinitialise(copy.modules(), seed=0)
    """
    with drawing_from(seed), torch.no_grad():
        for m in modules:
            if callable(getattr(m, "reset_parameters", None)):
                m.reset_parameters()
                continue
            for p in m.parameters(recurse=False):
                spread = float(p.std()) if p.numel() > 1 else 0.0
                p.normal_(0.0, spread if spread > 0 else 0.01)
