"""Short descriptions of user values for error messages: an error names what it got without printing a whole
tensor, array or list."""
from __future__ import annotations

from typing import Any

_MAX_REPR = 60


def brief(value: Any) -> str:
    """``tensor of shape (1, 3, 32, 32), dtype torch.float32`` for arrays and tensors; the repr, cut to a line,
    for anything else."""
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None and len(tuple(shape)) > 0 and not isinstance(value, (str, bytes)):
        kind = "tensor" if type(value).__module__.startswith("torch") else type(value).__name__
        return f"a {kind} of shape {tuple(shape)}, dtype {dtype}"
    if isinstance(value, (list, tuple)) and any(hasattr(v, "shape") or isinstance(v, (list, tuple)) for v in value):
        kinds = sorted({type(v).__name__ for v in value})
        return f"a {type(value).__name__} of {len(value)} ({', '.join(kinds)})"
    text = repr(value)
    if len(text) > _MAX_REPR:
        text = text[:_MAX_REPR - 1] + "…"
    return text
