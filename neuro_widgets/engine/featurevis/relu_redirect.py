"""ReLU gradient redirection (Lucid's ``relu_gradient_override``), installed only for one render.

A unit whose input sits behind a ReLU that is off for the whole image gets a zero gradient and stays gray.
While redirection is active, every ``nn.ReLU`` module's output is replaced by the same values whose
backward is: the ordinary ReLU gradient for images where any of it is non-zero; otherwise (the ReLU is off
everywhere for that image) the incoming gradient, except where it would push an already negative input
further down. So the optimization can climb out of the dead region instead of stalling.

:func:`redirected_relus` gives the ReLU modules a forward of its own (an instance attribute: a forward hook
replacing the output would compute each ReLU twice) and, because the backward needs the ReLU's input, turns
any ``inplace=True`` flag off for the duration; forwards and flags are restored on exit (also on errors).
``F.relu`` calls inside ``forward`` methods are not redirected.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterator, List

import torch
from torch import nn

from .forwards import replaced_forwards


class _RedirectedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        # the plain ReLU gradient, kept at x == 0: threshold_backward zeroes grad where x <= the threshold, and
        # minus the smallest subnormal makes that x < 0 (NaN passes, as it does x < 0); one fused op instead of
        # a comparison and a where
        relu_grad = torch.ops.aten.threshold_backward(grad, x, _below_zero(x.dtype))
        if x.dim() == 0:
            return relu_grad
        # per image: did the ReLU pass any gradient (NaN counts: it survives abs and amax)? A float reduction,
        # a third of the time of a boolean any over the image's dims
        passed = relu_grad.abs().amax(dim=tuple(range(1, x.dim()))) != 0
        if bool(passed.all()):
            return relu_grad
        # images that passed nothing get the incoming gradient, blocked only where it would push a negative input
        # lower (the loss is minimized, so that is grad > 0); one where, no gather and scatter of images
        alive = passed.view(-1, *([1] * (x.dim() - 1)))
        return torch.where((x < 0) & (alive | (grad > 0)), 0.0, grad)


@functools.lru_cache(maxsize=None)
def _below_zero(dtype: torch.dtype) -> float:
    """Minus the smallest positive (subnormal) ``dtype``: nothing of that type lies between it and zero."""
    info = torch.finfo(dtype)
    return -(info.tiny * info.eps)


class Redirect:
    """Yielded by :func:`redirected_relus`; :meth:`stop` gives the ReLU modules their own forward back
    (redirection is for the early steps only)."""

    def __init__(self, relus: List[nn.Module]) -> None:
        self._forwards = replaced_forwards({m: _redirected for m in relus})
        self.active = False

    def start(self) -> None:
        self._forwards.__enter__()
        self.active = True

    def stop(self) -> None:
        if self.active:
            self._forwards.__exit__(None, None, None)
            self.active = False


def _redirected(x: Any) -> Any:
    """A redirected ReLU module's forward."""
    if isinstance(x, torch.Tensor) and x.requires_grad and x.is_floating_point():
        return _RedirectedReLU.apply(x)
    return torch.relu(x)


@contextlib.contextmanager
def redirected_relus(module: nn.Module, active: bool = True) -> Iterator[Redirect]:
    """Redirect the gradients of ``module``'s ``nn.ReLU`` modules until ``stop()`` or the block ends."""
    state = Redirect([m for m in module.modules() if isinstance(m, nn.ReLU)])
    inplace = [(m, m.inplace) for m in module.modules() if getattr(m, "inplace", False) is True]
    try:
        for m, _ in inplace:
            m.inplace = False
        if active:
            state.start()
        yield state
    finally:
        state.stop()
        for m, flag in inplace:
            m.inplace = flag
