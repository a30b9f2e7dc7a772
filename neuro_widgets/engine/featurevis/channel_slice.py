"""Compute only the channels an objective reads: the target layer's last convolution, sliced to them.

``channel("layer3", 5)`` reads one of layer3's 64 channels, yet a plain forward computes all 64 in the
convolution that makes them. When the layer's channels come from the output channels of one ``nn.Conv2d``
through channel-wise operations only (its bias, batch norm in eval mode, ReLU, a residual sum with a
branch that does not read that convolution), each step may run that convolution with its weight sliced to
the channels read; they are put back at their places in a zero tensor of the full channel count. The
channels the objective reads (and their gradients) equal the full computation's to float rounding; the
others hold wrong values nobody reads, since the forward pass stops at the layer (one layer, called once).

Which convolution, and whether its path to the layer is channel-wise, is measured on the model itself, once
per model and layer: a dry run records the last ``nn.Conv2d`` (ungrouped, called once) inside the layer's
module, then the conv's output channels outside a random half are replaced by noise, for each half of two
splits of the channels, and the layer's channels inside must come out unchanged. A channel shuffle, a
squeeze that mixes channels after the conv, or a conv feeding something else fails this and is not sliced.

The slice is installed for one forward pass at a time (an instance ``forward`` on the conv, removed before
the pass returns, under the model's lock held by the render), so the model is never seen with it.
"""
from __future__ import annotations

import weakref
from typing import Any, Dict, Optional, Tuple

import torch
from torch import nn

from ..hooks import capture
from ..model_state import module_dtype, preserved
from ..probe import Probe, _split_call as split_call
from .bn_fold import ConvWeights, Folding
from .forwards import replaced_forwards, stock
from .objectives import OUTPUT, Objective

#: per model: layer -> name of its sliceable conv (None: the layer cannot be sliced); architecture, not weights
_SLICEABLE: "weakref.WeakKeyDictionary[nn.Module, Dict[str, Optional[str]]]" = weakref.WeakKeyDictionary()


class FullForward:
    """No slicing: the forward pass as it is."""

    def run(self, cap: Any, x: torch.Tensor) -> Any:
        return cap.run(x)


FULL = FullForward()


class ChannelSlice(FullForward):
    """``conv`` computes only the output channels in ``index`` during :meth:`run`, with ``weights`` (its own
    weight and bias, or the render's folded ones: :mod:`.bn_fold`)."""

    def __init__(self, conv: nn.Conv2d, index: torch.Tensor, weights: Optional[ConvWeights] = None) -> None:
        self.conv = conv
        self.index = index
        weight, bias = weights or (conv.weight, conv.bias)
        self.weight = weight.detach().index_select(0, index)  # frozen for the render: no weight gradient
        self.bias = None if bias is None else bias.detach().index_select(0, index)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv._conv_forward(x, self.weight, self.bias)
        full = y.new_zeros((y.shape[0], self.conv.out_channels, *y.shape[2:]))
        return full.index_copy(1, self.index, y)

    def run(self, cap: Any, x: torch.Tensor) -> Any:
        with replaced_forwards({self.conv: self.forward}):
            return cap.run(x)

    def __repr__(self) -> str:
        return f"ChannelSlice({self.index.tolist()} of {self.conv.out_channels})"


def channel_slice(probe: Probe, objective: Objective, input_size: Tuple[int, int],
                  fold: Optional[Folding] = None) -> FullForward:
    """The cheapest exact forward for ``objective``: a :class:`ChannelSlice` when it reads some channels of
    one layer whose last conv may be sliced (see the module doc), else :data:`FULL`. ``fold``: the render's
    folded batch norms (a folded conv is sliced from its folded weights)."""
    layers = objective.layers
    if len(layers) != 1 or layers[0] == OUTPUT or objective.reads.get(layers[0]) is None:
        return FULL
    base, call = split_call(layers[0])
    if call not in (None, 0) or probe.layer(base).calls != 1:
        return FULL
    known = _SLICEABLE.setdefault(probe.module, {})
    if base not in known:
        known[base] = _find_sliceable_conv(probe, base, input_size)
    modules = dict(probe.module.named_modules())
    conv = modules.get(known[base]) if known[base] is not None else None
    if not stock(conv, nn.Conv2d):
        return FULL
    need = sorted({int(k) % conv.out_channels for k in objective.reads[layers[0]]})
    if len(need) >= conv.out_channels:
        return FULL
    index = torch.tensor(need, dtype=torch.long, device=conv.weight.device)
    return ChannelSlice(conv, index, None if fold is None else fold.conv_weights(conv))


def _find_sliceable_conv(probe: Probe, base: str, input_size: Tuple[int, int]) -> Optional[str]:
    modules = dict(probe.module.named_modules())
    root = modules[base]
    convs = [base] if isinstance(root, nn.Conv2d) else \
        [f"{base}.{n}" for n, m in root.named_modules() if isinstance(m, nn.Conv2d) and n]
    if not convs:
        return None
    order = []

    def record(name: str, out: Any) -> Any:
        order.append(name)
        return out.clone() if isinstance(out, torch.Tensor) else out  # safe from a later in-place ReLU

    x = _dry_input(probe, input_size)
    names = list(dict.fromkeys([base] + convs))
    try:
        with preserved(probe.module), torch.no_grad(), \
                capture(probe.module, names, transform=record) as cap:
            cap.run(x)
            counts = {n: len(cap.outputs[n]) for n in names}
            layer_out = cap.outputs[base][0] if counts[base] == 1 else None
    except (RuntimeError, ValueError, IndexError):
        return None
    called = [n for n in order if n in convs]
    if not called or not isinstance(layer_out, torch.Tensor) or layer_out.dim() != 4:
        return None
    name = called[-1]
    conv = modules[name]
    if counts[name] != 1 or conv.groups != 1 or type(conv).forward is not nn.Conv2d.forward \
            or conv.out_channels != layer_out.shape[1]:
        return None
    return name if _channelwise(probe, base, conv, x, layer_out) else None


def _dry_input(probe: Probe, input_size: Tuple[int, int]) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, probe.input_spec.channels, *input_size, generator=g)
    return probe.input_spec.normalize(x.to(module_dtype(probe.module)).to(probe.device))


def _channelwise(probe: Probe, base: str, conv: nn.Conv2d, x: torch.Tensor, reference: torch.Tensor) -> bool:
    """True when each channel of the layer depends on the same channel of ``conv``'s output alone."""
    g = torch.Generator().manual_seed(1)
    c = conv.out_channels
    for _ in range(2):
        keep = torch.randperm(c, generator=g)[: max(1, c // 2)]
        for kept in (keep, _complement(keep, c)):
            if len(kept) == 0:
                continue
            mask = torch.zeros(c, dtype=torch.bool)
            mask[kept] = True
            mask = mask.to(x.device)

            def noisy(inp: torch.Tensor, mask: torch.Tensor = mask) -> torch.Tensor:
                y = conv._conv_forward(inp, conv.weight, conv.bias)
                noise = torch.randn(y.shape, generator=g).to(y) * (4 * y.std() + 1)
                return torch.where(mask.view(1, -1, 1, 1), y, noise)

            with preserved(probe.module), torch.no_grad(), capture(probe.module, [base]) as cap, \
                    replaced_forwards({conv: noisy}):
                cap.run(x)
                out = cap.outputs[base][0]
            if not torch.allclose(out[:, mask], reference[:, mask], rtol=1e-6, atol=1e-7):
                return False
    return True


def _complement(idx: torch.Tensor, n: int) -> torch.Tensor:
    mask = torch.ones(n, dtype=torch.bool)
    mask[idx] = False
    return torch.nonzero(mask).flatten()
