"""The untrained control: a randomly re-initialised copy of any model, never touching the original."""
from __future__ import annotations

import torch
from torch import nn

from ..model_state import private_copy
from ..rng import check_seed, drawing_from


def random_copy(module: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``module`` with every submodule that has ``reset_parameters()`` re-initialised from a private
    generator seeded with ``seed`` (batch-norm running statistics are reset too). The copy is taken under the
    model's lock, without the engine's hooks (see ``model_state.private_copy``); the original model and torch's
    global RNG are untouched, so concurrent calls and the user's own random draws do not disturb each other.

    >>> control = random_copy(probe.module, seed=0)
    """
    seed = check_seed(seed, "control seed")
    clone = private_copy(module)
    resettable = [m for m in clone.modules() if callable(getattr(m, "reset_parameters", None))]
    if not resettable:
        raise ValueError("control='random' needs a model with at least one module that has reset_parameters() "
                         "(standard layers such as Conv2d, Linear and BatchNorm have it)")
    with drawing_from(seed), torch.no_grad():
        for m in resettable:
            m.reset_parameters()
    return clone
