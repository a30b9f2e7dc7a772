"""Batch norm folded into the convolution before it, for a render's forward passes.

In eval mode ``bn(conv(x))`` is one convolution: the conv's weight scaled per output channel by
``gamma / sqrt(running_var + eps)``, and a bias ``beta + (b - running_mean) * scale``. At batch 1 on a small
image (the CIFAR ResNet-20 at 32 px) a step's cost is mostly per-operation overhead, so one op fewer forward
and one fewer backward per pair (19 of each there) is worth having. The folded weights are also stored
channels-last, and a folding render feeds the model channels-last images, on which the CPU convolutions of
these small maps run faster (``benchmarks/bench_featurevis.py --ablation`` measures both): these are the
render's own tensors, the model's weights are never converted.

Which pairs fold is measured on the model once (it is architecture, not weights). In a dry run at the model's
input size, a stock ``nn.BatchNorm2d`` with running statistics, called once, whose call completes right after
that of a stock ``nn.Conv2d`` called once, and whose output equals batch norm applied to that conv's output,
is a candidate. Then a pass with every candidate folded must reproduce the output of every module (but the
folded convs) and of the model to 1e-5 relative; otherwise (say a conv output that also feeds something
else) nothing is folded.

For each render the folded weights are computed from the model's current weights (in float64), and the pairs
are installed as instance ``forward`` methods on the conv (the folded conv) and the batch norm (passing its
input on) for one pass at a time, under the model's lock the render holds, so the model is never seen with
them. A pair whose conv the objective reads, or with a hook on either module, is left as it is.
"""
from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..hooks import capture
from ..model_state import module_dtype, preserved
from ..probe import Probe
from .forwards import replaced_forwards, stock
from .taps import resolve_taps

#: per model: the (conv, batch norm) names that fold; architecture, not weights
_PAIRS: "weakref.WeakKeyDictionary[nn.Module, Tuple[Tuple[str, str], ...]]" = weakref.WeakKeyDictionary()

#: folded outputs must match the model's to this, relative to each output's largest magnitude
RTOL = 1e-5

ConvWeights = Tuple[torch.Tensor, Optional[torch.Tensor]]


@dataclass
class Folding:
    """The folded convolutions of one render: ``weights[conv]`` replaces ``conv``'s weight and bias, and
    ``passed`` are the batch norms that pass their input on (see the module doc). Empty: nothing folds."""

    weights: Dict[nn.Conv2d, ConvWeights] = field(default_factory=dict)
    passed: List[nn.Module] = field(default_factory=list)
    channels_last: bool = False  # feed the model channels-last images (the folded weights are channels-last)

    def conv_weights(self, conv: nn.Conv2d) -> ConvWeights:
        """The weight and bias ``conv`` computes with in this render."""
        return self.weights.get(conv, (conv.weight, conv.bias))

    def installed(self) -> replaced_forwards:
        forwards: Dict[nn.Module, Any] = {bn: _pass_on for bn in self.passed}
        for conv, (w, b) in self.weights.items():
            forwards[conv] = functools.partial(conv._conv_forward, weight=w, bias=b)
        return replaced_forwards(forwards)


def _pass_on(x: torch.Tensor) -> torch.Tensor:
    return x


def folding(probe: Probe, layers: Sequence[str]) -> Folding:
    """The pairs of ``probe``'s model that fold for an objective reading ``layers``, with their weights now."""
    module = probe.module
    if module not in _PAIRS:  # a model without batch norm is spared the dry runs
        has_bn = any(isinstance(m, nn.BatchNorm2d) for m in module.modules())
        _PAIRS[module] = _measure_pairs(probe) if has_bn else ()
    read = {m for m, _ in resolve_taps(probe, layers).picks.values()}
    modules = dict(module.named_modules())
    return _fold([(modules.get(c), modules.get(b)) for c, b in _PAIRS[module] if c not in read])


def _fold(pairs: Sequence[Tuple[Any, Any]]) -> Folding:
    """The folding of those (conv, batch norm) pairs that are still stock modules without hooks."""
    fold = Folding()
    for conv, bn in pairs:
        if stock(conv, nn.Conv2d) and stock(bn, nn.BatchNorm2d):
            fold.weights[conv] = tuple(_channels_last(t) for t in folded_weights(conv, bn))
            fold.passed.append(bn)
    fold.channels_last = bool(fold.weights)
    return fold


def folded_weights(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> ConvWeights:
    """``conv`` followed by ``bn`` (eval mode) as one convolution's weight and bias (computed in float64)."""
    with torch.no_grad():
        scale = bn.running_var.double().add(bn.eps).rsqrt()
        if bn.weight is not None:
            scale = scale * bn.weight.double()
        shift = -bn.running_mean.double() if conv.bias is None else conv.bias.double() - bn.running_mean.double()
        bias = shift * scale
        if bn.bias is not None:
            bias = bias + bn.bias.double()
        weight = conv.weight.double() * scale.view(-1, *([1] * (conv.weight.dim() - 1)))
    return weight.to(conv.weight.dtype), bias.to(conv.weight.dtype)


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t


def _measure_pairs(probe: Probe) -> Tuple[Tuple[str, str], ...]:
    """The pairs that fold (see the module doc), measured in dry runs at the model's input size."""
    module = probe.module
    x = _dry_input(probe)
    modules = dict(module.named_modules())
    with preserved(module), torch.no_grad():
        plain = _outputs(module, x)
        if plain is None:
            return ()
        order, outs = plain
        pairs = [(c, b) for c, b in zip(order, order[1:]) if _folds(modules[c], modules[b], outs[c], outs[b])]
        if not pairs:
            return ()
        with _fold([(modules[c], modules[b]) for c, b in pairs]).installed():
            folded = _outputs(module, _channels_last(x))  # as a render runs it
    convs = {c for c, _ in pairs}
    if folded is None or folded[0] != order:
        return ()
    same = all(len(folded[1][n]) == len(outs[n]) and all(map(_close, folded[1][n], outs[n]))
               for n in outs if n not in convs)
    return tuple(pairs) if same else ()


def _folds(conv: nn.Module, bn: nn.Module, conv_outs: List[Any], bn_outs: List[Any]) -> bool:
    """A stock conv and a stock batch norm with running statistics, each called once, the batch norm's output
    that of batch norm on the conv's output."""
    if not (stock(conv, nn.Conv2d) and stock(bn, nn.BatchNorm2d) and bn.running_var is not None
            and len(conv_outs) == 1 and len(bn_outs) == 1 and isinstance(conv_outs[0], torch.Tensor)):
        return False
    expected = F.batch_norm(conv_outs[0], bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    return _close(bn_outs[0], expected)


def _outputs(module: nn.Module, x: torch.Tensor) -> Optional[Tuple[List[str], Dict[str, List[Any]]]]:
    """Every module's outputs (tensors cloned) in one forward pass and the order in which their calls
    completed; the model's own output under the name ``""``. None when the pass fails."""
    order: List[str] = []

    def record(name: str, out: Any) -> Any:
        order.append(name)
        return out.clone() if isinstance(out, torch.Tensor) else out  # safe from a later in-place op

    names = [n for n, _ in module.named_modules() if n]
    try:
        with capture(module, names, stop_early=False, transform=record) as cap:
            out = cap.run(x)
            outs = {n: list(v) for n, v in cap.outputs.items()}
    except (RuntimeError, ValueError, IndexError, TypeError):
        return None
    outs[""] = [out]
    return order, outs


def _close(a: Any, b: Any) -> bool:
    """Equal structure, and tensors equal to ``RTOL`` of their largest magnitude (exactly, if not floating)."""
    ta, tb = _tensors(a), _tensors(b)
    if len(ta) != len(tb):
        return False
    for u, v in zip(ta, tb):
        if u.shape != v.shape or u.dtype != v.dtype:
            return False
        if not u.is_floating_point():
            if not torch.equal(u, v):
                return False
        elif v.numel() and not bool(((u - v).abs() <= RTOL * v.abs().max() + 1e-7).all()):
            return False
    return True


def _tensors(x: Any) -> List[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for item in x for t in _tensors(item)]
    if isinstance(x, dict):
        return [t for item in x.values() for t in _tensors(item)]
    return []


def _dry_input(probe: Probe) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, probe.input_spec.channels, *probe.input_spec.size, generator=g)  # every output is kept
    return probe.input_spec.normalize(x.to(module_dtype(probe.module)).to(probe.device))
