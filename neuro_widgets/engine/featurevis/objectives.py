"""Objectives: what a render maximizes. Composable with ``+ - * /`` and scalars.

An :class:`Objective` maps a step's :class:`Context` (the target layers' activations, the image, the model
output) to one value per image, shape (B,); the render maximizes their sum. Per-image values let one
optimization hold many independent targets (``batch=i`` targets image ``i`` only; ``channel(layer, [c0, c1,
...])`` gives image ``i`` its own channel) and let a widget plot each image's curve. Every objective carries a
human-readable ``description`` and checks its arguments against the real layer shapes before a render starts.

>>> obj = channel("layer3", 5) - 0.05 * total_variation()
>>> obj = as_objective("layer3:5")   # the "layer:n" shorthand for a channel
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..describe import brief

#: pseudo layer name for the model's final output (class logits); needs the full forward pass
OUTPUT = "<output>"
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}

Shapes = Dict[str, Tuple[int, ...]]  # per-image shape of each needed layer (and OUTPUT), batch axis dropped
Check = Callable[[Shapes, int], None]
BatchSel = Union[None, int, Sequence[int]]
Reads = Dict[str, Optional[FrozenSet[int]]]  # layer -> the channels an objective reads (None: any of them)


@dataclass
class Context:
    """What an objective sees at one step."""

    acts: Dict[str, torch.Tensor]  # layer -> activations (B, ...)
    image: torch.Tensor  # the parameterized images (B, 3, H, W) in [0, 1], before transforms
    output: Optional[torch.Tensor] = None  # model output, when an objective needs OUTPUT
    batch: int = field(init=False)

    def __post_init__(self) -> None:
        self.batch = self.image.shape[0]


class Objective:
    """A differentiable function of a render step giving one value per image (higher is better)."""

    def __init__(self, fn: Callable[[Context], torch.Tensor], layers: Sequence[str] = (), description: str = "",
                 checks: Sequence[Check] = (), min_batch: int = 1, precedence: int = 3,
                 reads: Optional[Mapping[str, Optional[Sequence[int]]]] = None) -> None:
        self.fn = fn
        self.precedence = precedence  # of the description's top-level operator (for parentheses)
        self.layers: Tuple[str, ...] = tuple(dict.fromkeys(layers))
        # the channels of each layer that ``fn`` reads (None: possibly all), so that a render may compute
        # only those (see channel_slice); a layer left out of ``reads`` counts as read whole
        given = dict(reads or {})
        self.reads: Reads = {n: None if given.get(n) is None else frozenset(given[n]) for n in self.layers}
        self.description = description
        self.checks: Tuple[Check, ...] = tuple(checks)
        self.min_batch = int(min_batch)

    def __call__(self, ctx: Context) -> torch.Tensor:
        v = self.fn(ctx)
        return v.expand(ctx.batch) if v.dim() == 0 else v

    def validate(self, shapes: Shapes, batch: int) -> None:
        """Raise ValueError if this objective cannot run on layers of these shapes with this batch size."""
        if batch < self.min_batch:
            raise ValueError(f"{self.description} needs a batch of at least {self.min_batch} images, got {batch}")
        for check in self.checks:
            check(shapes, batch)

    def __repr__(self) -> str:
        return f"Objective({self.description})"

    # ---- arithmetic -------------------------------------------------------------------------------
    def _combine(self, other: Any, op: Callable, symbol: str, reverse: bool = False) -> "Objective":
        other = _lift(other)
        if other is None:
            return NotImplemented
        a, b = (other, self) if reverse else (self, other)
        prec = _PRECEDENCE[symbol]
        left = f"({a.description})" if a.precedence < prec else a.description
        right = f"({b.description})" if b.precedence < prec or (b.precedence == prec and symbol in "-/") \
            else b.description
        return Objective(lambda ctx: op(a(ctx), b(ctx)), a.layers + b.layers, f"{left} {symbol} {right}",
                         a.checks + b.checks, max(a.min_batch, b.min_batch), prec, _merge_reads(a.reads, b.reads))

    def __add__(self, other: Any) -> "Objective":
        return self._combine(other, torch.add, "+")

    def __radd__(self, other: Any) -> "Objective":
        return self if (isinstance(other, numbers.Number) and other == 0) else self._combine(other, torch.add, "+", True)

    def __sub__(self, other: Any) -> "Objective":
        return self._combine(other, torch.sub, "-")

    def __rsub__(self, other: Any) -> "Objective":
        return self._combine(other, torch.sub, "-", True)

    def __mul__(self, other: Any) -> "Objective":
        return self._combine(other, torch.mul, "*")

    def __rmul__(self, other: Any) -> "Objective":
        return self._combine(other, torch.mul, "*", True)

    def __truediv__(self, other: Any) -> "Objective":
        return self._combine(other, torch.div, "/")

    def __rtruediv__(self, other: Any) -> "Objective":
        return self._combine(other, torch.div, "/", True)

    def __neg__(self) -> "Objective":
        inner = self.description if self.precedence == 3 else f"({self.description})"
        return Objective(lambda ctx: -self(ctx), self.layers, f"-{inner}", self.checks, self.min_batch, 2, self.reads)


def _merge_reads(a: Reads, b: Reads) -> Reads:
    both = {**a, **b}
    for n in set(a) & set(b):
        both[n] = None if a[n] is None or b[n] is None else a[n] | b[n]
    return both


def _lift(x: Any) -> Optional[Objective]:
    if isinstance(x, Objective):
        return x
    if isinstance(x, str):
        return as_objective(x)
    if isinstance(x, numbers.Real):
        value = float(x)
        return Objective(lambda ctx: torch.tensor(value, device=ctx.image.device), (), f"{value:g}")
    return None


def as_objective(obj: Union[str, Objective]) -> Objective:
    """An Objective as is; ``"layer:n"`` is the shorthand for ``channel(layer, n)``."""
    if isinstance(obj, Objective):
        return obj
    if isinstance(obj, str):
        layer, sep, n = obj.rpartition(":")
        if not sep or not layer or not n.strip().lstrip("-").isdigit():
            raise ValueError(f"objective shorthand must be 'layer:channel', e.g. 'layer3:5'; got {obj!r}")
        return channel(layer, int(n))
    raise TypeError(f"objective must be an Objective or a 'layer:channel' string, not {type(obj).__name__}")


# ---- helpers ----------------------------------------------------------------------------------------
def _batch_mask(values: torch.Tensor, batch: BatchSel) -> torch.Tensor:
    if batch is None:
        return values
    idx = [batch] if isinstance(batch, int) else list(batch)
    mask = torch.zeros_like(values)
    mask[idx] = 1.0
    return values * mask


def _validate_batch(batch: BatchSel, what: str) -> None:
    """Image indices must be non-negative ints; that they fit the batch is checked through ``min_batch``."""
    if batch is None:
        return
    idx = [batch] if isinstance(batch, (int, np.integer)) else list(batch)
    if not idx or any(not isinstance(i, (int, np.integer)) or i < 0 for i in idx):
        raise ValueError(f"{what}: batch must be a non-negative image index or a list of them, got {batch!r}")


def _batch_need(batch: BatchSel, what: str) -> int:
    _validate_batch(batch, what)
    if batch is None:
        return 1
    return (batch if isinstance(batch, (int, np.integer)) else max(batch)) + 1


def _channel_check(layer: str, n: Sequence[int], what: str) -> Check:
    def check(shapes: Shapes, b: int) -> None:
        shape = shapes[layer]
        if not shape:
            raise ValueError(f"{what}: layer {layer!r} has no channel axis (output shape {shape})")
        c = shape[0]
        bad = [k for k in n if not -c <= k < c]
        if bad:
            raise ValueError(f"{what}: channel {bad[0]} is out of range; layer {layer!r} has {c} channels "
                             f"(0..{c - 1})")
    return check


def _where(layer: str) -> str:
    return "the model output" if layer == OUTPUT else f"layer {layer!r}"


def _space_mean(a: torch.Tensor) -> torch.Tensor:
    return a.reshape(a.shape[0], -1).mean(dim=1)


# ---- unit objectives --------------------------------------------------------------------------------
def channel(layer: str, n: Union[int, Sequence[int]], batch: BatchSel = None) -> Objective:
    """Mean activation of channel ``n`` over space. A list ``n`` of length B gives image ``i`` channel
    ``n[i]`` (one optimization, one image per channel).

    >>> channel("layer3", 5)
    """
    _check_layer_name(layer)
    what = f"channel objective on {layer!r}"
    chans = channel_list(n, what)
    many = np.ndim(n) == 1
    if many and not chans:
        raise ValueError(f"{what}: the list of channels is empty")
    if many and batch is not None:
        raise ValueError(f"{what}: give either a list of channels (one per image) or batch=, not both")

    if many:
        def fn(ctx: Context) -> torch.Tensor:
            a = ctx.acts[layer]
            rows = torch.arange(len(chans), device=a.device)
            return _space_mean(a[rows, torch.as_tensor(chans, device=a.device)])
        desc = f"channels {_short_list(chans)} of {layer} (one per image, mean over space)"
        checks = [_channel_check(layer, chans, what), _exact_batch(len(chans), what)]
        return Objective(fn, [layer], desc, checks, len(chans), reads={layer: chans})

    k = chans[0]
    desc = f"channel {k} of {layer} (mean over space)" + _batch_desc(batch)
    return Objective(lambda ctx: _batch_mask(_space_mean(ctx.acts[layer][:, k]), batch), [layer], desc,
                     [_channel_check(layer, chans, what)], _batch_need(batch, what), reads={layer: [k]})


def neuron(layer: str, n: int, x: Optional[int] = None, y: Optional[int] = None,
           batch: BatchSel = None) -> Objective:
    """Activation of channel ``n`` at one position (row ``y``, column ``x``); the default is the centre
    ``(H // 2, W // 2)`` of the map, whatever its aspect ratio.

    >>> neuron("layer2", 3, x=4, y=7)
    """
    _check_layer_name(layer)
    what = f"neuron objective on {layer!r}"
    pos = "centre" if x is None and y is None else f"(y={'centre' if y is None else y}, x={'centre' if x is None else x})"

    def where(shape: Tuple[int, ...]) -> Tuple[int, int]:
        h, w = shape[-2:]
        return (h // 2 if y is None else y), (w // 2 if x is None else x)

    def check(shapes: Shapes, b: int) -> None:
        shape = shapes[layer]
        if len(shape) != 3:
            raise ValueError(f"{what}: needs a spatial map (C, H, W); layer {layer!r} gives {shape}. "
                             "Use channel() for layers without space.")
        yy, xx = where(shape)
        h, w = shape[-2:]
        if not (0 <= yy < h and 0 <= xx < w):
            raise ValueError(f"{what}: position (y={yy}, x={xx}) is outside the layer's {h}x{w} map "
                             f"(y in 0..{h - 1}, x in 0..{w - 1})")

    def fn(ctx: Context) -> torch.Tensor:
        a = ctx.acts[layer]
        yy, xx = where(tuple(a.shape[1:]))
        return _batch_mask(a[:, n, yy, xx], batch)

    desc = f"neuron {pos} of channel {n} of {layer}" + _batch_desc(batch)
    return Objective(fn, [layer], desc, [_channel_check(layer, [n], what), check],
                     _batch_need(batch, what), reads={layer: [n]})


def layer(name: str, batch: BatchSel = None) -> Objective:
    """Mean squared activation of the whole layer ("deepdream")."""
    _check_layer_name(name)
    return Objective(lambda ctx: _batch_mask(_space_mean(ctx.acts[name] ** 2), batch), [name],
                     f"deepdream of {name} (mean squared activation)" + _batch_desc(batch),
                     [], _batch_need(batch, f"layer objective on {name!r}"))


deepdream = layer


def direction(layer: str, vector: Any, batch: BatchSel = None, cossim_pow: float = 1.0) -> Objective:
    """Activation along a direction in channel space: at each position ``(a . v/|v|) * max(cos, 0.1) **
    cossim_pow``, averaged over positions — the projection, weighted towards pointing the same way.

    >>> direction("layer3", torch.randn(64))
    """
    _check_layer_name(layer)
    what = f"direction objective on {layer!r}"
    v = _as_float_tensor(vector, what)
    if v.dim() != 1:
        raise ValueError(f"{what}: the direction must be a vector (C,), got shape {tuple(v.shape)}")
    if not torch.isfinite(v).all() or v.norm() == 0:
        raise ValueError(f"{what}: the direction must be finite and non-zero")
    unit = v / v.norm()

    def check(shapes: Shapes, b: int) -> None:
        if not shapes[layer] or shapes[layer][0] != len(unit):
            raise ValueError(f"{what}: the vector has {len(unit)} entries but layer {layer!r} has "
                             f"{shapes[layer][0] if shapes[layer] else 0} channels (output {shapes[layer]})")

    def fn(ctx: Context) -> torch.Tensor:
        a = ctx.acts[layer]
        u = unit.to(a.device, a.dtype).view(1, -1, *([1] * (a.dim() - 2)))
        dot = (a * u).sum(1)
        cos = dot / (a.norm(dim=1) + 1e-8)
        return _batch_mask(_space_mean(dot * cos.clamp(min=0.1) ** cossim_pow), batch)

    return Objective(fn, [layer], f"direction in {layer} ({len(unit)}-vector)" + _batch_desc(batch),
                     [check], _batch_need(batch, what))


def linear_readout(layer: str, weights: Any, bias: float = 0.0, batch: BatchSel = None,
                   name: Optional[str] = None) -> Objective:
    """A linear readout of a layer: ``weights`` (C,) over the channels' spatial means, or (C, H, W) over
    the whole map, plus ``bias`` — e.g. a fitted encoding model of a recorded site ("what does it want?").

    >>> linear_readout("layer3", fitted_weights, name="IT site 12")
    """
    _check_layer_name(layer)
    what = f"linear readout of {layer!r}"
    w = _as_float_tensor(weights, what)
    if w.dim() not in (1, 3):
        raise ValueError(f"{what}: weights must be (C,) or (C, H, W), got shape {tuple(w.shape)}")
    if not torch.isfinite(w).all():
        raise ValueError(f"{what}: weights contain NaN or infinite values")

    def check(shapes: Shapes, b: int) -> None:
        shape = shapes[layer]
        ok = (w.dim() == 1 and len(shape) >= 1 and shape[0] == w.shape[0]) or \
             (w.dim() == 3 and tuple(shape) == tuple(w.shape))
        if not ok:
            want = f"({shape[0]},) or {tuple(shape)}" if shape else "(C,)"
            raise ValueError(f"{what}: weights of shape {tuple(w.shape)} do not fit the layer's output "
                             f"{tuple(shape)}; give {want}")

    def fn(ctx: Context) -> torch.Tensor:
        a = ctx.acts[layer]
        ww = w.to(a.device, a.dtype)
        if ww.dim() == 1:
            feats = a.reshape(a.shape[0], a.shape[1], -1).mean(-1)
            return _batch_mask(feats @ ww + bias, batch)
        return _batch_mask((a * ww).reshape(a.shape[0], -1).sum(1) + bias, batch)

    label = name or f"linear readout of {layer} ({'x'.join(map(str, w.shape))} weights)"
    return Objective(fn, [layer], label + _batch_desc(batch), [check],
                     _batch_need(batch, what))


def class_logit(n: int, batch: BatchSel = None) -> Objective:
    """The model's output ``n`` (a class logit); needs the whole forward pass."""
    what = "class_logit objective"

    def check(shapes: Shapes, b: int) -> None:
        shape = shapes[OUTPUT]
        if len(shape) != 1:
            raise ValueError(f"{what}: the model output has per-image shape {shape}, not a vector of logits")
        if not 0 <= n < shape[0]:
            raise ValueError(f"{what}: class {n} is out of range; the model has {shape[0]} outputs")

    return Objective(lambda ctx: _batch_mask(ctx.output[:, n], batch), [OUTPUT], f"logit of class {n}"
                     + _batch_desc(batch), [check], _batch_need(batch, what))


def diversity(layer: str) -> Objective:
    """Rewards images that differ in style: per image, minus its mean cosine similarity to the others'
    Gram matrices of ``layer``. Add it with a weight, e.g. ``channel(...) + 10 * diversity(layer)``."""
    _check_layer_name(layer)

    def fn(ctx: Context) -> torch.Tensor:
        a = ctx.acts[layer]
        b, c = a.shape[:2]
        feats = a.reshape(b, c, -1)
        gram = feats @ feats.transpose(1, 2) / feats.shape[-1]
        g = F.normalize(gram.reshape(b, -1), dim=1)
        sim = g @ g.t()
        return -(sim.sum(1) - sim.diagonal()) / (b - 1)

    return Objective(fn, [layer], f"diversity of {layer}", [], min_batch=2)


# ---- image penalties (subtract them) ----------------------------------------------------------------
def total_variation() -> Objective:
    """Mean absolute difference between neighbouring pixels of each image (subtract it to smooth)."""
    def fn(ctx: Context) -> torch.Tensor:
        x = ctx.image
        dy = (x[..., 1:, :] - x[..., :-1, :]).abs().reshape(x.shape[0], -1).mean(1)
        dx = (x[..., :, 1:] - x[..., :, :-1]).abs().reshape(x.shape[0], -1).mean(1)
        return dy + dx
    return Objective(fn, [], "total variation")


def l1(constant: float = 0.5) -> Objective:
    """Mean |image - constant| per image (subtract it to keep images near gray)."""
    return Objective(lambda ctx: _space_mean((ctx.image - constant).abs()), [], f"L1 of image - {constant:g}")


def l2(constant: float = 0.5) -> Objective:
    """Mean (image - constant)^2 per image (subtract it to keep images near gray)."""
    return Objective(lambda ctx: _space_mean((ctx.image - constant) ** 2), [], f"L2 of image - {constant:g}")


# ---- small utilities --------------------------------------------------------------------------------
def channel_list(n: Any, what: str) -> List[int]:
    """Channel indices (one int, or a flat list/array of ints) as a list; anything else — a name such as
    ``"all"``, floats, booleans, nested lists — is refused with what to pass instead."""
    try:
        arr = np.asarray(n.detach().cpu() if isinstance(n, torch.Tensor) else n)
    except (TypeError, ValueError):
        arr = np.asarray(None)
    if arr.dtype.kind not in "iu" or arr.ndim > 1:
        raise TypeError(f"{what}: channels must be an int index or a list of int indices (e.g. 5 or [0, 3, 7]), "
                        f"got {brief(n)}")
    return [int(k) for k in arr.reshape(-1)]


def _check_layer_name(layer: Any) -> None:
    if not isinstance(layer, str) or not layer:
        raise TypeError(f"the layer must be a layer name (a string, see probe.layer_names()), got {layer!r}")


def _as_float_tensor(x: Any, what: str) -> torch.Tensor:
    try:
        return torch.as_tensor(np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x),
                               dtype=torch.float32)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what}: expected an array of numbers, got {type(x).__name__}") from err


def _exact_batch(n: int, what: str) -> Check:
    def check(shapes: Shapes, b: int) -> None:
        if b != n:
            raise ValueError(f"{what}: {n} channels (one per image) need a batch of exactly {n}, got {b}")
    return check


def _batch_desc(batch: BatchSel) -> str:
    return "" if batch is None else f" [image {batch}]"


def _short_list(xs: Sequence[int]) -> str:
    if len(xs) > 2 and list(xs) == list(range(xs[0], xs[0] + len(xs))):
        return f"{xs[0]}..{xs[-1]}"
    return ", ".join(map(str, xs[:6])) + (", ..." if len(xs) > 6 else "")
