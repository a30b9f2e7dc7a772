"""Module calls behind an objective's layer names: ``"relu@1"`` is the second call of a module that runs twice.

A module may run several times in one forward pass (a shared ``self.relu``, a block applied in a loop). Layer
names follow ``probe.activations``: ``"name"`` for a module that runs once, ``"name@k"`` for its call ``k``. A bare
name of a module that runs more than once is refused, never silently read as its first call.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Sequence, Tuple

import torch

from ..probe import Probe, _split_call as split_call, first_tensor
from .objectives import OUTPUT, Context


@dataclass(frozen=True)
class Taps:
    """Which module call feeds each layer an objective names: ``"relu@1"`` is the second call of ``relu``
    in a forward pass (the same syntax as ``probe.activations``)."""

    picks: Dict[str, Tuple[str, int]]  # objective layer name -> (module name, call index)
    calls: Dict[str, int]  # module name -> how many of its calls to capture (the early stop waits for them)

    def acts(self, cap: Any) -> Dict[str, torch.Tensor]:
        return {n: first_tensor(cap.outputs[m][i]) for n, (m, i) in self.picks.items()}

    def context(self, cap: Any, image: torch.Tensor, output: Any) -> Context:
        return Context(acts=self.acts(cap), image=image, output=None if output is None else first_tensor(output))


def resolve_taps(probe: Probe, layers: Sequence[str]) -> Taps:
    """The module calls behind ``layers``. A module that runs more than once per forward must be named with
    its call (``name@k``): a bare name would silently mean one of them."""
    picks: Dict[str, Tuple[str, int]] = {}
    for n in layers:
        if n == OUTPUT:
            continue
        base, idx = split_call(n)
        runs = probe.layer(base).calls  # unknown layers raise KeyError with suggestions
        names = ", ".join(repr(f"{base}@{i}") for i in range(runs))
        if idx is None and runs > 1:
            raise ValueError(f"layer {base!r} runs {runs} times per forward pass, so {n!r} is ambiguous; name one "
                             f"call: {names} (e.g. '{base}@0:5' for channel 5 of the first call)")
        if idx is not None and idx >= runs:
            raise ValueError(f"layer {base!r} runs {runs} time(s) per forward pass, so {n!r} does not exist; "
                             f"use {names}")
        picks[n] = (base, idx or 0)
    calls: Dict[str, int] = {}
    for base, idx in picks.values():
        calls[base] = max(calls.get(base, 0), idx + 1)
    return Taps(picks, calls)
