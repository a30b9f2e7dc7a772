"""Forward hooks on named layers, always removed, with an early stop after the deepest target.

:func:`capture` is the one place in the engine that registers forward hooks. It hooks only the requested
layers, removes every hook on exit (also on exceptions, KeyboardInterrupt and cancel), and — when
``stop_early`` is set — aborts the forward pass as soon as every requested layer has produced all the calls
it makes per forward, so the rest of the network is never paid for. The hooks are set and removed under the
model's lock (see ``model_state``), so no other engine operation, nor a copy of the model, ever sees them.
"""
from __future__ import annotations

import contextlib
import difflib
import numbers
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence

from torch import nn

from .describe import brief
from .model_state import model_lock


class _StopForward(Exception):
    """Raised from a hook to end a forward pass once everything needed has been captured."""


def layer_name(name: Any, where: str = "layer") -> str:
    """``name`` if it is a layer name (a string); a TypeError that says what to pass otherwise."""
    if isinstance(name, str):
        return name
    hint = (f" (for the layer at position {name} use probe.layer_names()[{name}])"
            if isinstance(name, numbers.Integral) and not isinstance(name, bool) else "")
    raise TypeError(f"{where} must be a layer name (a string, one of probe.layer_names()), got {brief(name)}{hint}")


def layer_list(layers: Any, where: str = "layers") -> List[str]:
    """A ``layers=`` argument (one name, or a list/tuple of names) as a list of names, in order, each checked."""
    if isinstance(layers, str):
        return [layers]
    if layers is None or isinstance(layers, (Mapping, bytes)) or not isinstance(layers, Iterable):
        raise TypeError(f"{where} must be a layer name or a list of layer names (see probe.layer_names()), "
                        f"got {brief(layers)}")
    return [layer_name(n, f"{where}[{i}]") for i, n in enumerate(layers)]


def resolve_layers(module: nn.Module, names: Any) -> Dict[str, nn.Module]:
    """Map layer names (paths as in ``named_modules``) to submodules; unknown names get close suggestions."""
    names = layer_list(names)
    table = dict(module.named_modules())
    out: Dict[str, nn.Module] = {}
    for name in names:
        if name not in table or name == "":
            close = difflib.get_close_matches(name, [n for n in table if n], n=5, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise KeyError(
                f"unknown layer {name!r}.{hint} Use probe.layer_names() to list the model's layers."
            )
        out[name] = table[name]
    return out


class Capture:
    """What :func:`capture` yields: per layer, the outputs of each call made during the last forward."""

    def __init__(self, module: nn.Module, expected_calls: Mapping[str, int], stop_early: bool) -> None:
        self.module = module
        self.expected_calls = dict(expected_calls)
        self.stop_early = stop_early
        self.outputs: Dict[str, List[Any]] = {name: [] for name in expected_calls}
        self.stopped_early = False

    def reset(self) -> None:
        for v in self.outputs.values():
            v.clear()
        self.stopped_early = False

    def _complete(self) -> bool:
        return all(len(self.outputs[n]) >= k for n, k in self.expected_calls.items())

    def run(self, *args: Any, **kwargs: Any) -> Optional[Any]:
        """Call the module; returns its output, or None when the pass was stopped early."""
        self.reset()
        try:
            return self.module(*args, **kwargs)
        except _StopForward:
            self.stopped_early = True
            return None


@contextlib.contextmanager
def capture(
    module: nn.Module,
    layers: Sequence[str],
    *,
    calls: Optional[Mapping[str, int]] = None,
    stop_early: bool = True,
    transform: Optional[Callable[[str, Any], Any]] = None,
) -> Iterator[Capture]:
    """Hook ``layers`` of ``module`` for the duration of the block.

    ``calls`` gives how many times each layer runs per forward (default 1); the early stop waits for all of
    them. ``transform(name, output)`` is applied to each output before it is kept (for example a
    reduction, or ``detach``); by default outputs are kept as produced, graph included, so that gradients
    can flow from them.
    """
    targets = resolve_layers(module, layers)
    expected = {name: int((calls or {}).get(name, 1)) for name in targets}
    cap = Capture(module, expected, stop_early)
    handles = []

    def make_hook(name: str):
        def hook(_mod: nn.Module, _inp: Any, output: Any) -> None:
            cap.outputs[name].append(transform(name, output) if transform else output)
            if cap.stop_early and cap._complete():
                raise _StopForward()

        return hook

    with model_lock(module):
        try:
            for name, sub in targets.items():
                handles.append(sub.register_forward_hook(make_hook(name)))
            yield cap
        finally:
            for h in handles:
                h.remove()
            cap.reset()


def has_hooks(module: nn.Module) -> bool:
    """True when any submodule carries a forward, pre-forward or backward hook (used by tests and guards)."""
    for m in module.modules():
        if m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or getattr(m, "_backward_pre_hooks", None):
            return True
    return False
