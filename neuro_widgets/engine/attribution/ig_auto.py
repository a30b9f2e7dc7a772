"""Integrated gradients to a completeness tolerance: raise ``n_steps`` per image until it is met.

Completeness says the attributions of an image sum to F(x) - F(baseline); captum reports the gap as the
convergence delta. With the default 50 Gauss-Legendre steps the gap is often several percent of
F(x) - F(baseline) on real networks, so a single step count either wastes time on easy images or leaves
hard ones inaccurate. Here every image starts at ``n_steps`` and only the images still above the tolerance
are recomputed with twice the steps, up to ``max_steps``; the steps used and the gap reached are returned.

Every integrated-gradients result carries its relative gap per image; :func:`check_completeness` warns (a
:class:`CompletenessWarning` naming the images) when any image is above :data:`WARN_ABOVE`, or above the
tolerance asked for in auto mode, so an inaccurate map is never shown without saying so.
"""
from __future__ import annotations

import warnings
from typing import Callable, Optional, Tuple

import numpy as np
import torch


#: relative completeness error above which a fixed-step result warns (at the default 50 steps real networks show a
#: median of a few percent and single images far above)
WARN_ABOVE = 0.05


class CompletenessWarning(UserWarning):
    """Integrated gradients' attributions of some images do not sum to F(x) - F(baseline) within the threshold."""


def check_completeness(rel: torch.Tensor, threshold: float, what: str, steps: Optional[np.ndarray] = None,
                       auto: bool = False) -> np.ndarray:
    """Per image: whether its relative completeness error is within ``threshold``; warns naming the others."""
    rel_np = rel.detach().double().cpu().numpy()
    ok = rel_np <= threshold
    if not ok.all():
        bad = np.flatnonzero(~ok)
        shown = ", ".join(f"{int(i)} ({rel_np[i]:.1%}" + (f" at {int(steps[i])} steps)" if steps is not None else ")")
                          for i in bad[:10])
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        fix = ("raise max_steps or the tolerance" if auto
               else "raise n_steps, or pass auto_steps=True to refine each image to a tolerance")
        warnings.warn(f"{what}: the attributions of {len(bad)} of {len(rel_np)} image(s) miss completeness by more "
                      f"than {threshold:.1%} of F(x) - F(baseline): image {shown}{more}. The maps are "
                      f"approximate; {fix}.", CompletenessWarning, stacklevel=3)
    return ok


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
