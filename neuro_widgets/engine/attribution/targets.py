"""What an attribution explains: a class logit, the predicted class, one unit of a layer, or a linear
readout over a layer (for example the weights of a fitted encoding model).

:func:`resolve_target` checks the target against the model and returns a :class:`TargetPlan`: the
callable handed to captum (the model itself for class targets, a small wrapper module that reads the
layer for unit/readout targets) and the per-batch ``target`` argument.
"""
from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from ..hooks import capture
from ..model_state import module_dtype, preserved
from ..probe import Probe, _split_call, first_tensor


@dataclass(frozen=True)
class Unit:
    """One unit of a layer: a channel (averaged over space) or a channel at one position ``(y, x)``.

    ``nw.attribution.Unit("layer3.2", 5)`` asks which pixels drive channel 5 of ``layer3.2``;
    ``Unit("layer3.2", 5, (3, 4))`` the unit at row 3, column 4 of that channel's map. For a layer with a
    flat output (a ``Linear``), ``channel`` is the feature index and there is no position.
    """

    layer: str
    channel: int
    position: Optional[Tuple[int, int]] = None


@dataclass(frozen=True, eq=False)
class Readout:
    """A linear readout over a layer: ``weights @ features + bias`` with weights (D,) or (K, D).

    ``pool="flatten"`` reads the whole flattened output (D = C*H*W), ``"avgpool"`` the channel means
    (D = C). With K outputs, ``output`` picks which one is explained.
    """

    layer: str
    weights: Any
    bias: Any = None
    pool: str = "flatten"
    output: Optional[int] = None


TargetArg = Union[int, str, Sequence[int], Unit, Readout]


class _LayerTarget(nn.Module):
    """Runs the model up to ``layer`` (the rest is skipped) and returns ``read(activation)``, (N,) or (N, K)."""

    def __init__(self, model: nn.Module, layer: str, calls: int, call_index: int,
                 read: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.model = model
        self.layer = layer
        self.calls = calls
        self.call_index = call_index
        self.read = read

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with capture(self.model, [self.layer], calls={self.layer: self.calls}) as cap:
            cap.run(x)
            out = first_tensor(cap.outputs[self.layer][self.call_index])
        return self.read(out)


class _FirstOutput(nn.Module):
    """For models whose output is a tuple or dict: the logits tensor, so captum sees one tensor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return first_tensor(self.model(x))


_OUTPUTS: "weakref.WeakKeyDictionary[nn.Module, Tuple[int, bool]]" = weakref.WeakKeyDictionary()


def output_info(probe: Probe) -> Tuple[int, bool]:
    """(number of outputs, whether the raw output is a plain tensor), from one zero input, kept per model."""
    hit = _OUTPUTS.get(probe.module)
    if hit is None:
        spec = probe.input_spec
        x = torch.zeros(1, spec.channels, *spec.size, dtype=module_dtype(probe.module), device=probe.device)
        with preserved(probe.module), torch.no_grad():
            raw = probe.module(x)
        out = first_tensor(raw)
        hit = (int(math.prod(out.shape[1:])), isinstance(raw, torch.Tensor))
        _OUTPUTS[probe.module] = hit
    return hit


@dataclass
class TargetPlan:
    """How to run captum for one target: ``forward`` to attribute, ``captum_target(x, rows)`` per batch."""

    kind: str  # "class", "predicted", "unit", "readout"
    forward: nn.Module
    layer: Optional[str] = None  # the layer a unit/readout target reads
    classes: Optional[np.ndarray] = None  # per-image class indices (class targets), filled for "predicted"
    index: Optional[int] = None  # output index handed to captum for a readout with K > 1

    def describe(self, target: Any) -> str:
        """A short label of what is explained (for result objects and widgets)."""
        if self.kind == "predicted":
            return "predicted class"
        if self.kind == "class":
            same = (self.classes == self.classes[0]).all()
            return f"class {int(self.classes[0])}" if same else "class per image"
        return repr(target)

    def captum_target(self, x: torch.Tensor, rows: slice) -> Any:
        if self.kind == "predicted":
            with torch.no_grad():
                pred = first_tensor(self.forward(x)).reshape(len(x), -1).argmax(dim=1).cpu().numpy()
            self.classes[rows] = pred
            return pred.tolist()
        if self.kind == "class":
            chunk = self.classes[rows]
            return int(chunk[0]) if (chunk == chunk[0]).all() else chunk.tolist()
        return self.index


def _check_index(value: Any, n: int, what: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an integer, got {value!r}")
    if not 0 <= int(value) < n:
        raise ValueError(f"{what} {int(value)} is out of range: {fix} (0..{n - 1})")
    return int(value)


def _layer_info(probe: Probe, layer: str) -> Tuple[str, int, int, Tuple[int, ...]]:
    if not isinstance(layer, str):
        raise TypeError(f"the target's layer must be a layer name (str), got {layer!r}")
    base, idx = _split_call(layer)
    info = probe.layer(base)  # unknown names raise with suggestions
    if idx is not None and idx >= info.calls:
        raise ValueError(f"layer {base!r} runs {info.calls} time(s) per forward; call index {idx} is out of range")
    if idx is None and info.calls > 1:
        raise ValueError(f"layer {base!r} runs {info.calls} times per forward (a reused module); "
                         f"name one call, e.g. '{base}@0'")
    if info.output_shape is None:
        raise ValueError(f"layer {base!r} does not output a tensor; pick another layer")
    return base, info.calls, idx or 0, info.output_shape


def resolve_target(probe: Probe, target: TargetArg, n_images: int, model: Optional[nn.Module] = None) -> TargetPlan:
    """Check ``target`` against the model (ranges, layers, shapes) and plan how captum should run it.

    ``model`` replaces the probe's module in the plan (a private copy with the same layers, see ``relu_fix``).
    """
    n_out, plain = output_info(probe)
    base_model = probe.module if model is None else model
    model = base_model if plain else _FirstOutput(base_model)
    if target is None or (isinstance(target, str) and target == "predicted"):
        return TargetPlan("predicted", model, classes=np.zeros(n_images, dtype=np.int64))
    if isinstance(target, str):
        raise ValueError(f"unknown target {target!r}: use a class index, 'predicted', a list of class indices "
                         "(one per image), nw.attribution.Unit(layer, channel[, (y, x)]) or "
                         "nw.attribution.Readout(layer, weights)")
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        c = _check_index(target, n_out, "target class", f"the model has {n_out} outputs")
        return TargetPlan("class", model, classes=np.full(n_images, c, dtype=np.int64))
    if isinstance(target, Unit):
        return _unit_plan(probe, target, base_model)
    if isinstance(target, Readout):
        return _readout_plan(probe, target, base_model)
    if isinstance(target, (list, tuple, np.ndarray, torch.Tensor)):
        vals = list(np.asarray(target).reshape(-1)) if not isinstance(target, (list, tuple)) else list(target)
        if len(vals) != n_images:
            raise ValueError(f"a list of target classes needs one per image: got {len(vals)} for {n_images} images")
        classes = np.array([_check_index(v, n_out, "target class", f"the model has {n_out} outputs")
                            for v in vals], dtype=np.int64)
        return TargetPlan("class", model, classes=classes)
    raise TypeError(f"target must be a class index, 'predicted', a list of class indices, a Unit or a Readout; "
                    f"got {type(target).__name__}")


def _unit_plan(probe: Probe, unit: Unit, model: nn.Module) -> TargetPlan:
    base, calls, call_index, shape = _layer_info(probe, unit.layer)
    c = _check_index(unit.channel, shape[0], "unit channel", f"layer {unit.layer!r} has {shape[0]} channels")
    pos = unit.position
    if pos is not None:
        if len(shape) != 3:
            raise ValueError(f"layer {unit.layer!r} has output shape {shape}: a position (y, x) needs a "
                             "(C, H, W) map; leave position=None")
        if len(pos) != 2:
            raise ValueError(f"a unit position is (y, x), got {pos!r}")
        y = _check_index(pos[0], shape[1], "unit row y", f"layer {unit.layer!r} maps are {shape[1]}x{shape[2]}")
        x = _check_index(pos[1], shape[2], "unit column x", f"layer {unit.layer!r} maps are {shape[1]}x{shape[2]}")

        def read(a: torch.Tensor) -> torch.Tensor:
            return a[:, c, y, x]
    else:
        def read(a: torch.Tensor) -> torch.Tensor:
            return a[:, c].reshape(len(a), -1).mean(dim=1)
    return TargetPlan("unit", _LayerTarget(model, base, calls, call_index, read), layer=base)


def _readout_plan(probe: Probe, ro: Readout, model: nn.Module) -> TargetPlan:
    base, calls, call_index, shape = _layer_info(probe, ro.layer)
    if ro.pool not in ("flatten", "avgpool"):
        raise ValueError(f"Readout.pool must be 'flatten' or 'avgpool', got {ro.pool!r}")
    w = torch.as_tensor(np.asarray(ro.weights, dtype=np.float64))
    if w.dim() == 1:
        w = w[None]
    if w.dim() != 2:
        raise ValueError(f"Readout.weights must be (D,) or (K, D), got shape {tuple(w.shape)}")
    d = shape[0] if ro.pool == "avgpool" else int(math.prod(shape))
    if w.shape[1] != d:
        raise ValueError(f"Readout.weights have {w.shape[1]} features but layer {ro.layer!r} gives {d} "
                         f"({'channels' if ro.pool == 'avgpool' else 'flattened values'} of output {shape})")
    k = w.shape[0]
    index = None
    if k > 1:
        if ro.output is None:
            raise ValueError(f"the readout has {k} outputs; pick one with Readout(..., output=i)")
        index = _check_index(ro.output, k, "readout output", f"the readout has {k} outputs")
    elif ro.output not in (None, 0):
        raise ValueError(f"the readout has a single output; Readout.output must be None or 0, got {ro.output!r}")
    b = None if ro.bias is None else torch.as_tensor(np.asarray(ro.bias, dtype=np.float64)).reshape(-1)
    if b is not None and b.numel() != k:
        raise ValueError(f"Readout.bias needs {k} value(s), got {b.numel()}")
    dtype, device = module_dtype(probe.module), probe.device
    w = w.to(dtype=dtype, device=device)
    b = None if b is None else b.to(dtype=dtype, device=device)
    pool = ro.pool

    def read(a: torch.Tensor) -> torch.Tensor:
        feats = a.reshape(len(a), a.shape[1], -1).mean(dim=2) if pool == "avgpool" else a.reshape(len(a), -1)
        out = feats @ w.T
        if b is not None:
            out = out + b
        return out if k > 1 else out[:, 0]

    return TargetPlan("readout", _LayerTarget(model, base, calls, call_index, read), layer=base, index=index)


def check_runs_before(probe: Probe, layer: str, plan: TargetPlan, what: str) -> None:
    """A unit/readout target stops the forward pass at its layer, so ``layer`` must finish before it does:
    the same layer, a submodule of it, or a layer that starts earlier and does not contain it."""
    if plan.layer is None:
        return
    mine, theirs = _split_call(layer)[0], plan.layer
    order = {n: i for i, n in enumerate(probe.layer_names())}
    inside = mine == theirs or mine.startswith(theirs + ".")
    before = order[mine] < order[theirs] and not theirs.startswith(mine + ".")
    if not (inside or before):
        raise ValueError(f"{what} layer {layer!r} does not finish before the target's layer {theirs!r}, so the "
                         f"target does not depend on it. Pick a layer that runs before {theirs!r}.")
