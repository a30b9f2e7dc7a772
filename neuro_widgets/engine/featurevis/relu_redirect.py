"""ReLU gradient redirection (Lucid's ``relu_gradient_override``), installed only for one render.

A unit whose input sits behind a ReLU that is off for the whole image gets a zero gradient and stays gray.
While redirection is active, every ``nn.ReLU`` module's output is replaced by the same values whose
backward is: the ordinary ReLU gradient for images where any of it is non-zero; otherwise (the ReLU is off
everywhere for that image) the incoming gradient, except where it would push an already negative input
further down. So the optimization can climb out of the dead region instead of stalling.

:func:`redirected_relus` installs forward hooks on the ReLU modules and, because the backward needs the
ReLU's input, turns any ``inplace=True`` flag off for the duration; hooks and flags are restored on exit
(also on errors). ``F.relu`` calls inside ``forward`` methods are not redirected.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, List

import torch
from torch import nn


class _RedirectedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        negative = x < 0
        relu_grad = grad.masked_fill(negative, 0.0)
        if x.dim() == 0:
            return relu_grad
        passed = relu_grad.flatten(1).any(dim=1)  # per image: did the ReLU pass any gradient (NaN counts)?
        if bool(passed.all()):
            return relu_grad
        dead = ~passed
        # the loss is minimized, so grad > 0 at a negative input means "push it lower": block only that
        redirected = grad[dead].masked_fill(negative[dead] & (grad[dead] > 0), 0.0)
        relu_grad[dead] = redirected
        return relu_grad


class Redirect:
    """Yielded by :func:`redirected_relus`; :meth:`stop` removes the ReLU hooks (redirection is for the
    early steps only, after which the model carries hooks on the target layers alone)."""

    def __init__(self) -> None:
        self.handles: List[Any] = []

    @property
    def active(self) -> bool:
        return bool(self.handles)

    def stop(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    @staticmethod
    def hook(module: nn.Module, inputs: Any, output: Any) -> Any:
        if not inputs or not isinstance(inputs[0], torch.Tensor):
            return None
        x = inputs[0]
        if not (x.requires_grad and x.is_floating_point()):
            return None
        return _RedirectedReLU.apply(x)


@contextlib.contextmanager
def redirected_relus(module: nn.Module, active: bool = True) -> Iterator[Redirect]:
    """Redirect the gradients of ``module``'s ``nn.ReLU`` modules until ``stop()`` or the block ends."""
    state = Redirect()
    inplace = [(m, m.inplace) for m in module.modules() if getattr(m, "inplace", False) is True]
    try:
        for m, _ in inplace:
            m.inplace = False
        if active:
            for m in module.modules():
                if isinstance(m, nn.ReLU):
                    state.handles.append(m.register_forward_hook(state.hook))
        yield state
    finally:
        state.stop()
        for m, flag in inplace:
            m.inplace = flag
