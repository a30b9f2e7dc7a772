"""The untrained control: a randomly re-initialised copy of any model, never touching the original."""
from __future__ import annotations

import copy

import torch
from torch import nn


def random_copy(module: nn.Module, seed: int = 0) -> nn.Module:
    """A deep copy of ``module`` with every submodule that has ``reset_parameters()`` re-initialised under a
    generator seeded with ``seed`` (batch-norm running statistics are reset too). The global RNG state is
    restored afterwards and the original model is only read.

    >>> control = random_copy(probe.module, seed=0)
    """
    clone = copy.deepcopy(module)
    devices = sorted({p.device.index or 0 for p in clone.parameters() if p.device.type == "cuda"})
    resettable = [m for m in clone.modules() if callable(getattr(m, "reset_parameters", None))]
    if not resettable:
        raise ValueError("control='random' needs a model with at least one module that has reset_parameters() "
                         "(standard layers such as Conv2d, Linear and BatchNorm have it)")
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        for m in resettable:
            m.reset_parameters()
    return clone
