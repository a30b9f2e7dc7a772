"""Reductions that cap the memory of wide layers: spatial mean/max pooling and random projection.

``reduce=`` accepts ``None``, ``"avgpool"``, ``"maxpool"`` or ``("random_projection", k, seed)``. Every
reduction is deterministic: the projection matrix is drawn from a generator seeded with ``seed`` (in
fixed-size row blocks, so a very wide layer never needs its whole matrix in memory at once).
"""
from __future__ import annotations

import numbers
from typing import Any, Callable, Hashable, Optional, Tuple

import torch

from .cache import ActivationCache
from .describe import brief

_BLOCK_ROWS = 8192
# projection blocks are reused across batches while they fit this budget, and regenerated otherwise
_BLOCKS = ActivationCache(256 * 2**20)


def normalize_reduce(reduce: Any) -> Optional[Tuple]:
    """Validate a ``reduce=`` argument and return a hashable canonical form."""
    if reduce is None:
        return None
    if isinstance(reduce, str) and reduce in ("avgpool", "maxpool"):
        return (reduce,)
    if isinstance(reduce, (tuple, list)) and len(reduce) == 3 and isinstance(reduce[0], str) \
            and reduce[0] == "random_projection":
        _, k, seed = reduce
        for what, value, low in (("dimension k", k, 1), ("seed", seed, 0)):
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
                raise ValueError(f"random_projection needs a {'positive' if low else 'non-negative'} integer "
                                 f"{what}, got {brief(value)}; e.g. reduce=('random_projection', 1024, 0)")
        return ("random_projection", int(k), int(seed))
    raise ValueError(
        f"unknown reduce={brief(reduce)}; use None, 'avgpool', 'maxpool' or ('random_projection', k, seed)"
    )


def _projection_block(start: int, stop: int, k: int, seed: int, device: torch.device) -> torch.Tensor:
    key = (start, stop, k, seed, str(device))
    block = _BLOCKS.get(key)
    if block is None:
        g = torch.Generator(device="cpu").manual_seed(seed * 1_000_003 + start // _BLOCK_ROWS)
        block = (torch.randn(stop - start, k, generator=g) / (k ** 0.5)).to(device)
        _BLOCKS.put(key, block)
    return block


def apply_reduce(x: torch.Tensor, reduce: Optional[Hashable]) -> torch.Tensor:
    """Apply a canonical reduction to a batch (N, ...)."""
    if reduce is None:
        return x
    kind = reduce[0]
    if kind in ("avgpool", "maxpool"):
        if x.dim() <= 2:
            return x
        flat = x.flatten(2)
        return flat.mean(-1) if kind == "avgpool" else flat.amax(-1)
    _, k, seed = reduce
    flat = x.flatten(1).float()
    d = flat.shape[1]
    out = torch.zeros(flat.shape[0], k, device=x.device)
    for start in range(0, d, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, d)
        out += flat[:, start:stop] @ _projection_block(start, stop, k, seed, x.device)
    return out


def pull_back(weights: torch.Tensor, width: int, reduce: Optional[Hashable]) -> torch.Tensor:
    """Weights (k,) on randomly projected features as weights (width,) on the original flattened features:
    ``apply_reduce(x) @ w == x.flatten(1) @ pull_back(w)`` (the projection is linear). ``None`` passes through."""
    if reduce is None:
        return weights
    if reduce[0] != "random_projection":
        raise ValueError(f"weights on {reduce[0]} features have no unique pull-back to the original features")
    _, k, seed = reduce
    w = weights.to(torch.float32)
    return torch.cat([_projection_block(start, min(start + _BLOCK_ROWS, width), k, seed, w.device) @ w
                      for start in range(0, width, _BLOCK_ROWS)])


def reducer(reduce: Optional[Hashable]) -> Callable[[str, Any], Any]:
    """A capture transform: detach, reduce."""
    def transform(_name: str, output: Any) -> Any:
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"layer output is a {type(output).__name__}, not a tensor; pick one of its tensor-valued submodules"
            )
        return apply_reduce(output.detach(), reduce)

    return transform
