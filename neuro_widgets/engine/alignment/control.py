"""The untrained control: a randomly re-initialised copy of any model, never touching the original."""
from __future__ import annotations

from torch import nn

from ..model_state import private_copy
from ..rng import check_seed, reinitialise


def random_copy(module: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``module`` with fresh weights drawn from a private generator seeded with ``seed``
    (``rng.reinitialise``: each submodule's ``reset_parameters()``, batch-norm running statistics included;
    parameters of modules without one get a normal draw with their own spread). The copy is taken under the
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
    reinitialise(clone.modules(), seed)
    return clone
