"""Modules that run another ``forward`` for a while: the render's cheaper computations (a sliced conv, a folded
batch norm) are installed this way on the model for one pass, under the model's lock, and always removed."""
from __future__ import annotations

from typing import Any, List, Mapping, Tuple

from torch import nn

_NONE = object()


class replaced_forwards:
    """Within the block each module runs the given ``forward`` (set as an instance attribute); on exit every
    module's previous instance ``forward``, if it had one, is back. Blocks nest: an inner one may replace a
    forward an outer one installed."""

    def __init__(self, forwards: Mapping[nn.Module, Any]) -> None:
        self.forwards = dict(forwards)
        self.before: List[Tuple[nn.Module, Any]] = []

    def __enter__(self) -> None:
        for module, forward in self.forwards.items():
            self.before.append((module, module.__dict__.get("forward", _NONE)))
            module.forward = forward

    def __exit__(self, *exc: Any) -> None:
        for module, forward in reversed(self.before):
            if forward is _NONE:
                del module.forward
            else:
                module.forward = forward
        self.before.clear()


def stock(module: Any, kind: type) -> bool:
    """``module`` is a ``kind`` running ``kind``'s own forward (a subclass may change what it computes), with
    no forward set on the instance and no hooks that would see a replaced computation."""
    return (isinstance(module, kind) and type(module).forward is kind.forward and "forward" not in module.__dict__
            and not module._forward_hooks and not module._forward_pre_hooks
            and not module._backward_hooks and not getattr(module, "_backward_pre_hooks", None))
