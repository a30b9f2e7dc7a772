"""Integrated gradients to a completeness tolerance: raise ``n_steps`` per image until it is met.

Completeness says the attributions of an image sum to F(x) - F(baseline); captum reports the gap as the
convergence delta. With the default 50 Gauss-Legendre steps the gap is often several percent of
F(x) - F(baseline) on real networks, so a single step count either wastes time on easy images or leaves
hard ones inaccurate. Here every image starts at ``n_steps`` and only the images still above the tolerance
are recomputed with twice the steps, up to ``max_steps``; the steps used and the gap reached are returned.
"""
from __future__ import annotations

from typing import Callable, Tuple

import numpy as np
import torch


def relative_delta(attributions: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """|delta| / |F(x) - F(baseline)| per image, where F(x) - F(baseline) = sum(attributions) - delta."""
    total = attributions.reshape(len(attributions), -1).sum(dim=1).double()
    change = total - delta.double()
    tiny = torch.finfo(torch.float64).tiny
    return (delta.double().abs() / change.abs().clamp_min(tiny)).to(delta.dtype)


def integrate_to_tolerance(
    run: Callable[[np.ndarray, int], Tuple[torch.Tensor, torch.Tensor]],
    n: int,
    start_steps: int,
    tolerance: float,
    max_steps: int,
) -> Tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """``run(rows, n_steps) -> (attributions, delta)`` for a subset of ``n`` images, refined per image.

    Returns (attributions, delta, steps used per image). Images whose relative delta is still above
    ``tolerance`` at ``max_steps`` keep their ``max_steps`` result (their relative delta tells the caller).
    """
    steps_now = min(start_steps, max_steps)
    rows = np.arange(n)
    attr, delta = run(rows, steps_now)
    attr, delta = attr.detach().clone(), delta.detach().reshape(-1).clone()
    steps = np.full(n, steps_now)
    todo = (relative_delta(attr, delta) > tolerance).cpu().numpy()
    while todo.any() and steps_now < max_steps:
        steps_now = min(2 * steps_now, max_steps)
        idx = rows[todo]
        a, d = run(idx, steps_now)
        sel = torch.as_tensor(idx, device=attr.device)
        attr[sel] = a.detach()
        delta[sel] = d.detach().reshape(-1)
        steps[idx] = steps_now
        todo[idx] = (relative_delta(attr[sel], delta[sel]) > tolerance).cpu().numpy()
    return attr, delta, steps
