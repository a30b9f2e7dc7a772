"""How many model inputs fit in one forward/backward pass under a memory budget.

Attribution methods expand each image many times (integrated gradients: ``n_steps`` points on a path;
occlusion: one copy per window; SmoothGrad: one per noise draw) and run out of memory when the expanded
batch goes through the model at once (captum#245, #538, #632). We estimate the memory of one input from the
layer output shapes the probe recorded, and chunk the expanded batch to fit :data:`budget_bytes`.
"""
from __future__ import annotations

import math
import weakref
from typing import Optional

import torch
from torch import nn

from ..model_state import module_dtype
from ..probe import Probe

#: memory one expanded batch may use; None: 1 GiB on the CPU, a quarter of the free memory on a GPU
budget_bytes: Optional[int] = None

#: bytes kept per value of an activation: the forward value, its gradient, and working space
_FACTOR = 3

_PER_INPUT: "weakref.WeakKeyDictionary[nn.Module, int]" = weakref.WeakKeyDictionary()


def bytes_per_input(probe: Probe) -> int:
    """Estimated bytes one input needs in a forward + backward pass (leaf-layer outputs x a safety factor)."""
    hit = _PER_INPUT.get(probe.module)
    if hit is None:
        modules = dict(probe.module.named_modules())
        total = 0
        for info in probe.layers():
            if info.output_shape is not None and not any(True for _ in modules[info.name].children()):
                total += math.prod(info.output_shape) * info.calls
        spec = probe.input_spec
        total += spec.channels * spec.size[0] * spec.size[1]
        itemsize = torch.finfo(module_dtype(probe.module)).bits // 8
        hit = max(1, total * itemsize * _FACTOR)
        _PER_INPUT[probe.module] = hit
    return hit


def current_budget(device: torch.device) -> int:
    if budget_bytes is not None:
        return int(budget_bytes)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free // 4)
    return 2**30


def inputs_per_pass(probe: Probe) -> int:
    """How many inputs one pass may hold: the budget divided by the cost of one input (at least 1)."""
    return max(1, current_budget(probe.device) // bytes_per_input(probe))
