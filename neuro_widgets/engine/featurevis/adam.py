"""Adam for the render's image tensors: ``torch.optim.Adam``'s arithmetic, op for op, without its bookkeeping.

``torch.optim.Adam.step`` on the CPU runs, per call, a profiler range, the choice between its fused, foreach
and single-tensor paths, graph-capture checks and hook dispatch before the seven tensor ops of the update;
for one 32-pixel image that bookkeeping is most of the 0.3 ms the step takes inside a render (5 % of a step
of the CIFAR ResNet-20). This class runs the same ops in the same order as torch's single-tensor path (the
one it takes on the CPU with the defaults: no weight decay, no amsgrad), so images come out bit-identical.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import torch


class Adam:
    """``torch.optim.Adam(params, lr)`` with the default betas and eps (``zero_grad`` sets grads to None)."""

    def __init__(self, params: Sequence[torch.Tensor], lr: float, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.params: List[torch.Tensor] = list(params)
        self.lr, self.betas, self.eps = float(lr), betas, eps
        self.steps = [0.0] * len(self.params)  # per tensor, as torch counts them: a step without a grad skips it
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        for i, (p, exp_avg, exp_avg_sq) in enumerate(zip(self.params, self.exp_avg, self.exp_avg_sq)):
            if p.grad is None:
                continue
            self.steps[i] += 1.0
            exp_avg.lerp_(p.grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            step_size = self.lr / (1 - beta1 ** self.steps[i])
            denom = (exp_avg_sq.sqrt() / (1 - beta2 ** self.steps[i]) ** 0.5).add_(self.eps)
            p.addcdiv_(exp_avg, denom, value=-step_size)
