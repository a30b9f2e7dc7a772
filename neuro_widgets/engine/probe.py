"""The probe: wraps any PyTorch vision model and extracts layer activations from one forward pass."""
from __future__ import annotations

import hashlib
import itertools
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from .cache import ActivationCache
from .describe import brief
from .export import optional_import
from .hooks import capture, layer_list, layer_name, resolve_layers
from .model_state import model_lock, module_device, module_dtype, preserved
from .progress import CancelToken, ProgressArg, check_cancel, make_reporter, validate_cancel
from .reduce import normalize_reduce, reducer
from .stimuli import InputSpec, StimulusSet

#: the process-wide activation cache (2 GiB by default); ``nw.activation_cache.budget_bytes = ...`` changes it
activation_cache = ActivationCache()

Stimuli = Union[StimulusSet, torch.Tensor, np.ndarray]


@dataclass(frozen=True)
class LayerInfo:
    """One module of the model, as seen in a dry run on a single input of the probe's spec."""

    name: str
    type: str
    output_shape: Optional[Tuple[int, ...]]  # per stimulus (batch axis dropped); None when not a tensor
    n_params: int  # parameters in this module and its children
    calls: int  # times it runs per forward pass (> 1 for a reused module, e.g. a shared ReLU)
    depth: int  # nesting depth in the module tree (top-level children have depth 0)

    @property
    def reused(self) -> bool:
        return self.calls > 1


class Activations(dict):
    """``{layer: tensor (N, ...)}`` as returned by :meth:`Probe.activations`, plus what it was computed on.

    A plain dict in every other respect. ``stimulus_ids``: the StimulusSet's ids (positions "0", "1", ... for a
    tensor); ``model``: the probe's name; ``reduce``: the reduction applied (None for full activations).
    """

    def __init__(self, values: Dict[str, Any], stimulus_ids: Sequence[str], model: str, reduce: Any) -> None:
        super().__init__(values)
        self.stimulus_ids = list(stimulus_ids)
        self.model = model
        self.reduce = reduce

    def to_xarray(self) -> Any:
        """One ``xarray.DataArray`` (stimulus, unit) over every layer, in the Brain-Score manner.

        Coordinates: ``stimulus_id`` on ``stimulus``; on ``unit`` the ``layer`` (``"name@i"`` for each call
        of a reused module), ``channel`` and, for spatial maps, ``y`` / ``x`` (-1 for units without them).
        Select one layer with ``da.sel(unit=da.layer == "layer3")``, stimuli with ``da.sel(stimulus_id=[...])``.
        Attributes: model and reduce. The
        values are copied into one float array.
        """
        xr = optional_import("xarray", "xarray", "to_xarray()")
        blocks, layer, channel, ys, xs = [], [], [], [], []
        for name, value in self.items():
            calls = value if isinstance(value, list) else [value]
            for i, t in enumerate(calls):
                shape = tuple(t.shape[1:])
                units = int(np.prod(shape))
                where = np.unravel_index(np.arange(units), shape or (1,))  # in flattening order
                blocks.append(t.detach().reshape(len(t), -1).float().numpy())
                layer += [f"{name}@{i}" if len(calls) > 1 else name] * units
                channel.append(where[0])
                ys.append(where[1] if len(shape) == 3 else np.full(units, -1))
                xs.append(where[2] if len(shape) == 3 else np.full(units, -1))
        return xr.DataArray(
            np.concatenate(blocks, axis=1), dims=("stimulus", "unit"),
            coords={"stimulus_id": ("stimulus", self.stimulus_ids), "layer": ("unit", layer),
                    "channel": ("unit", np.concatenate(channel)), "y": ("unit", np.concatenate(ys)),
                    "x": ("unit", np.concatenate(xs))},
            name="activations", attrs={"model": self.model, "reduce": _reduce_text(self.reduce)}
        ).set_xindex("stimulus_id")


def _reduce_text(red: Optional[Tuple]) -> str:
    """A normalised reduction in words: "none", "avgpool", "random_projection(256, 0)"."""
    if red is None:
        return "none"
    return red[0] if len(red) == 1 else f"{red[0]}{tuple(red[1:])}"


def model_fingerprint(module: nn.Module) -> str:
    """Identifies a model object *and* the current values of its weights.

    Built from each tensor's identity, version counter and sum, so it changes when weights are
    modified in place (optimizer steps, ``load_state_dict``) at the cost of one pass over the weights.
    """
    h = hashlib.sha256(str(id(module)).encode())
    tensors = list(module.named_parameters()) + list(module.named_buffers())
    for name, t in tensors:
        h.update(f"{name}|{t.data_ptr()}|{t._version}|{tuple(t.shape)}|{t.dtype}|{t.device}".encode())
    with torch.no_grad():
        sums = [_sum64(t.detach()) for _, t in tensors if t.is_floating_point()]
        if sums:
            h.update(torch.stack(sums).cpu().numpy().tobytes())
    return h.hexdigest()


def _sum64(t: torch.Tensor) -> torch.Tensor:
    """Float64 sum in chunks: ``t.sum(dtype=float64)`` would first copy the whole tensor to float64 (300 MB for
    one AlexNet-sized fully connected layer)."""
    total = torch.zeros((), dtype=torch.float64, device=t.device)
    for chunk in t.reshape(-1).split(1 << 20):
        total += chunk.sum(dtype=torch.float64)
    return total


def _split_call(name: str) -> Tuple[str, Optional[int]]:
    """``"relu@2"`` -> ("relu", 2): one call of a module that runs several times per forward."""
    name = layer_name(name)
    if "@" in name:
        base, _, idx = name.rpartition("@")
        if idx.isdigit():
            return base, int(idx)
    return name, None


#: A model-ready tensor is refused when, mapped back to pixel units (``x * std + mean`` with the probe's
#: InputSpec), it leaves [-MARGIN, 1 + MARGIN]: images in [0, 1] plus ten image ranges on either side. The margin
#: lets noisy, augmented or adversarial inputs (and ``torch.randn`` test inputs) through, while raw 0-255 pixels
#: (which map back to values up to about 255) are caught.
MODEL_READY_MARGIN = 10.0


def positive_int(value: Any, name: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {brief(value)}")
    return int(value)


def check_devices(module: nn.Module) -> None:
    """A model the probe can feed: every parameter and buffer holds values, all on one device."""
    devices = {t.device for t in itertools.chain(module.parameters(), module.buffers())}
    if any(d.type == "meta" for d in devices):
        raise ValueError(
            "the model has parameters on the 'meta' device: they have shapes but no values (a model built "
            "with device='meta' or init_empty_weights). Materialise it first, e.g. model.to_empty(device='cpu') "
            "then model.load_state_dict(weights), or load_state_dict(weights, assign=True)."
        )
    if len(devices) > 1:
        names = sorted(str(d) for d in devices)
        raise ValueError(f"the model's parameters and buffers are spread over several devices ({', '.join(names)}); "
                         f"the probe feeds one device: move the whole model there, e.g. model.to({names[0]!r}).")


class Probe:
    """A model plus its input spec: the layer tree, and activations of any layers for any stimuli.

    The probe never changes the model: each call runs in eval mode with hooks only on the requested
    layers, and afterwards every hook is gone and the weights, ``training`` flags and ``requires_grad``
    are as before (also after errors, KeyboardInterrupt and cancel).

    >>> probe = nw.Probe(my_model, nw.InputSpec(size=(224, 224), mean=(0.485, 0.456, 0.406),
    ...                                         std=(0.229, 0.224, 0.225)))
    >>> acts = probe.activations(stimuli, layers=["features.3"], reduce="avgpool")
    """

    def __init__(self, module: nn.Module, input_spec: InputSpec, *, name: Optional[str] = None,
                 cache: Optional[ActivationCache] = None, channels_last: bool = False) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"Probe needs a torch.nn.Module, got {type(module).__name__}")
        if not isinstance(input_spec, InputSpec):
            raise TypeError("Probe needs an nw.InputSpec(size=(H, W), mean=..., std=...) as its second argument, "
                            f"got {brief(input_spec)}")
        if cache is not None and not isinstance(cache, ActivationCache):
            raise TypeError(f"cache must be an ActivationCache or None, got {brief(cache)}")
        check_devices(module)
        self.module = module
        self.input_spec = input_spec
        self.name = name or type(module).__name__
        self.cache = activation_cache if cache is None else cache
        if not isinstance(channels_last, bool):
            raise TypeError(f"channels_last must be True or False, got {brief(channels_last)}")
        self.channels_last = channels_last
        self._layers = self._dry_run()
        self._by_name = {info.name: info for info in self._layers}

    def sibling(self, module: nn.Module, name: str, cache: Optional[ActivationCache] = None) -> "Probe":
        """A probe of another module of the same architecture (a random-weights control, a copy): this probe's
        input spec and input layout."""
        return Probe(module, self.input_spec, name=name, cache=cache, channels_last=self.channels_last)

    def input_layout(self, x: torch.Tensor) -> torch.Tensor:
        """Model inputs (N, C, H, W) in the memory layout the model is fed: channels-last when the probe was
        made with ``channels_last=True``, as they are otherwise. The values agree to float32 rounding; oneDNN's
        convolutions on the CPU run faster on channels-last inputs (forward 1.45-1.6x, forward and backward
        1.3x for the zoo's MobileNet and EfficientNet: benchmarks/bench_input_layout.py), without converting the
        model's weights. Off by default: a model that ``view()``s its input would fail on it."""
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    # ---- layer tree -------------------------------------------------------------------------------
    def _dry_run(self) -> List[LayerInfo]:
        """One forward pass on a single blank input, hooking every module, to learn the layer tree.

        Besides order, call counts and shapes it records two facts about outputs that extraction relies on:
        which modules return the very tensor another module returned just before (a container returning its
        last child's output, an ``Identity``) — these *aliases* are captured once and shared — and which
        outputs are later modified in place (the conv before an ``inplace=True`` ReLU) — these are copied at
        capture time, or they would be stored with the later values.
        """
        spec = self.input_spec
        x = torch.zeros(1, spec.channels, *spec.size, dtype=module_dtype(self.module),
                        device=module_device(self.module))
        order: List[str] = []
        calls: Dict[str, int] = {}
        shapes: Dict[str, Optional[Tuple[int, ...]]] = {}
        seen: List[Tuple[str, torch.Tensor, int]] = []  # (name, output, its version when the hook fired)
        handles = []

        def pre(name):
            def hook(_m, _i):
                if name not in calls:
                    order.append(name)
                calls[name] = calls.get(name, 0) + 1
            return hook

        def post(name):
            def hook(_m, _i, out):
                t = first_tensor(out, strict=False)
                shapes.setdefault(name, tuple(t.shape[1:]) if t is not None else None)
                if t is not None and out is t:
                    seen.append((name, t, t._version))
            return hook

        named = [(n, m) for n, m in self.module.named_modules() if n]
        with model_lock(self.module):  # hooks on the shared model only while no other operation runs
            try:
                for n, m in named:
                    handles.append(m.register_forward_pre_hook(pre(n)))
                    handles.append(m.register_forward_hook(post(n)))
                with preserved(self.module), torch.no_grad():
                    self.module(x)
            except Exception as err:
                raise ValueError(
                    f"the model rejected an input of shape {tuple(x.shape)} built from its InputSpec "
                    f"(size={spec.size}, channels={spec.channels}): {type(err).__name__}: {err}. "
                    "Give the InputSpec the size and channels the model expects."
                ) from err
            finally:
                for h in handles:
                    h.remove()
        self._alias_of: Dict[str, str] = {}
        self._mutated: set = set()
        first_by_value: Dict[Tuple[int, int], str] = {}
        for name, t, version in seen:
            if calls[name] != 1:
                continue
            if t._version != version:
                self._mutated.add(name)
            rep = first_by_value.setdefault((id(t), version), name)
            if rep != name:
                self._alias_of[name] = rep
        modules = dict(named)
        return [
            LayerInfo(name=n, type=type(modules[n]).__name__, output_shape=shapes.get(n),
                      n_params=sum(p.numel() for p in modules[n].parameters()), calls=calls[n],
                      depth=n.count("."))
            for n in order
        ]

    def layer_names(self) -> List[str]:
        """Module paths (as in ``named_modules``) in the order they run in the forward pass."""
        return [info.name for info in self._layers]

    def layers(self) -> List[LayerInfo]:
        """Per layer: name, type, output shape, parameter count, calls per forward, depth."""
        return list(self._layers)

    def layer(self, name: str) -> LayerInfo:
        """The :class:`LayerInfo` of one layer (``"name"`` or ``"name@i"``)."""
        base, _ = _split_call(layer_name(name))
        if base not in self._by_name:
            resolve_layers(self.module, [base])  # raises with suggestions for unknown names
            raise KeyError(f"layer {base!r} exists but does not run in the model's forward pass")
        return self._by_name[base]

    @property
    def device(self) -> torch.device:
        return module_device(self.module)

    def fingerprint(self) -> str:
        return model_fingerprint(self.module)

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.module.parameters())
        return (f"Probe({self.name}, {len(self._layers)} layers, {n:,} parameters, "
                f"input {self.input_spec.channels}x{self.input_spec.size[0]}x{self.input_spec.size[1]})")

    # ---- inputs -----------------------------------------------------------------------------------
    def prepare(self, stimuli: Stimuli) -> Tuple[int, Any]:
        """(count, batch source) for a StimulusSet, a uint8 image array, or a model-ready tensor (validated)."""
        check_devices(self.module)
        if isinstance(stimuli, np.ndarray):
            stimuli = StimulusSet.from_arrays(stimuli)
        if isinstance(stimuli, StimulusSet):
            return len(stimuli), stimuli
        if isinstance(stimuli, torch.Tensor):
            self._check_model_ready(stimuli)
            return len(stimuli), stimuli.detach()
        hint = (" For a list of PIL images or file paths use nw.StimulusSet.from_images(list)."
                if isinstance(stimuli, (list, tuple)) else "")
        raise TypeError(
            f"stimuli must be an nw.StimulusSet, a uint8 image array (N, H, W, 3) or a model-ready tensor "
            f"(N, C, H, W), not {brief(stimuli)} ({type(stimuli).__name__}).{hint}"
        )

    def _check_model_ready(self, x: torch.Tensor) -> None:
        """A model-ready tensor: (N, C, H, W) of the spec's channels and size, floating point, finite, and
        normalised for this probe (see :data:`MODEL_READY_MARGIN`)."""
        spec = self.input_spec
        shape = tuple(x.shape)
        if x.dim() != 4 or x.shape[1] != spec.channels:
            hint = ""
            if x.dim() == 3 and x.shape[0] == spec.channels:
                hint = " One image needs a leading batch axis: x[None]."
            elif x.dim() == 4 and x.shape[-1] == spec.channels:
                hint = " This looks channels-last: x.permute(0, 3, 1, 2)."
            raise ValueError(
                f"a tensor of stimuli must be model-ready (N, {spec.channels}, H, W); got shape {shape}.{hint} "
                "Or pass images (N, H, W, 3), uint8 or float in [0, 1], through nw.StimulusSet.from_arrays to have "
                "them resized and normalised."
            )
        if shape[-2:] != spec.size:
            raise ValueError(
                f"model-ready images must be {spec.size[0]}x{spec.size[1]} (the probe's InputSpec.size); got "
                f"{shape[-2:]}. Pass a StimulusSet or uint8 array to have them resized, or resize the tensor."
            )
        if len(x) == 0:
            raise ValueError("the stimulus tensor is empty; give at least one image")
        if not x.is_floating_point():
            raise TypeError(
                f"a model-ready stimulus tensor must be floating point and normalised for this model; got dtype "
                f"{x.dtype}. Pass uint8 or 0-1 images through nw.StimulusSet.from_arrays(images) (channels-last, "
                "e.g. x.permute(0, 2, 3, 1).numpy()), which resizes and normalises them."
            )
        with torch.no_grad():  # per-channel extremes, reduced in place (no full-size temporary)
            lo = x.detach().amin(dim=(0, 2, 3)).double().cpu()
            hi = x.detach().amax(dim=(0, 2, 3)).double().cpu()
        if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
            counts = ((int(torch.isnan(x).sum()), "NaN"), (int(torch.isinf(x).sum()), "infinite"))
            what = " and ".join(f"{count} {kind}" for count, kind in counts if count)
            rows = torch.nonzero((~torch.isfinite(x)).flatten(1).any(1)).flatten()[:10].tolist()
            raise ValueError(f"the stimulus tensor contains {what} value(s) (in the images at positions {rows}); "
                             "replace or drop those images")
        mean, std = torch.tensor(spec.mean, dtype=torch.float64), torch.tensor(spec.std, dtype=torch.float64)
        if ((lo * std + mean) < -MODEL_READY_MARGIN).any() or ((hi * std + mean) > 1 + MODEL_READY_MARGIN).any():
            expected_lo, expected_hi = float((-mean / std).min()), float(((1 - mean) / std).max())
            raise ValueError(
                f"the stimulus tensor is not normalised for this probe: its values range over "
                f"[{float(lo.min()):.4g}, {float(hi.max()):.4g}], but images in [0, 1] normalised with the probe's "
                f"InputSpec (mean={spec.mean}, std={spec.std}) range over [{expected_lo:.3g}, {expected_hi:.3g}] "
                f"(ten times that range again on either side is accepted). Raw 0-255 pixels? Pass them through "
                "nw.StimulusSet.from_arrays(images), which scales, resizes and normalises, or normalise the "
                "tensor yourself: probe.input_spec.normalize(x / 255)."
            )

    def stimulus_key(self, source: Any) -> str:
        """Identifies a prepared source and its preprocessing (for cache keys)."""
        if isinstance(source, StimulusSet):
            return f"{source.fingerprint}|{self.input_spec.key}"
        t = source.cpu().contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy()  # bytes of any dtype (bfloat16 has no numpy twin)
        return f"tensor:{hashlib.sha256(raw.tobytes()).hexdigest()}|{tuple(t.shape)}|{t.dtype}"

    def batch(self, source: Any, start: int, stop: int) -> torch.Tensor:
        """Model-ready inputs for rows ``start:stop`` of a prepared source, on the model's device, in the
        probe's input layout (:meth:`input_layout`)."""
        if isinstance(source, StimulusSet):
            x = source.preprocess(self.input_spec, slice(start, stop))
        else:
            x = source[start:stop]
        return self.input_layout(x.to(device=self.device, dtype=module_dtype(self.module)))

    # ---- activations ------------------------------------------------------------------------------
    def activations(
        self,
        stimuli: Stimuli,
        layers: Union[str, Sequence[str]],
        batch_size: int = 64,
        reduce: Any = None,
        progress: ProgressArg = None,
        cancel: Optional[CancelToken] = None,
        use_cache: bool = True,
    ) -> Activations:
        """Activations of ``layers`` for every stimulus, from one batched forward pass under ``no_grad``.

        Returns ``{layer: tensor (N, ...)}`` on the CPU, as an :class:`Activations` dict (``.to_xarray()``).
        The pass stops after the deepest requested layer.
        A module that runs several times per forward (see ``LayerInfo.calls``) gives a list with one tensor
        per call; ask for ``"name@i"`` to get call ``i`` alone. ``reduce`` caps memory: ``"avgpool"``,
        ``"maxpool"`` or ``("random_projection", k, seed)``. Results are cached (see :attr:`cache`);
        cached tensors are shared, so do not modify them in place.
        """
        layers = list(dict.fromkeys(layer_list(layers)))
        if not layers:
            raise ValueError("layers is empty; name at least one layer (see probe.layer_names())")
        batch_size = positive_int(batch_size, "batch_size")
        red = normalize_reduce(reduce)
        report = make_reporter(progress, "activations")
        validate_cancel(cancel)
        for name in layers:
            base, idx = _split_call(name)
            info = self.layer(base)
            if idx is not None and idx >= info.calls:
                raise ValueError(f"layer {base!r} runs {info.calls} time(s) per forward, so {name!r} does not exist; "
                                 f"use {base}@0 to {base}@{info.calls - 1}, or {base!r} for every call")
        n, source = self.prepare(stimuli)
        result: Dict[str, Any] = {}
        if use_cache:
            model_key, stim_key = self.fingerprint(), self.stimulus_key(source)

            def key(name: str) -> Tuple:
                return (model_key, name, stim_key, red)

            for name in layers:
                hit = self.cache.get(key(name))
                if hit is not None:
                    result[name] = hit
        todo = [name for name in layers if name not in result]
        if todo:
            computed = self._extract(todo, n, source, batch_size, red, report, cancel)
            for name, value in computed.items():
                if use_cache:
                    self.cache.put(key(name), value)
                result[name] = value
        ids = source.ids if isinstance(source, StimulusSet) else [str(i) for i in range(n)]
        return Activations({name: result[name] for name in layers}, ids, self.name, red)

    def _extract(self, names: List[str], n: int, source: Any, batch_size: int, red: Optional[Tuple],
                 report: Callable[..., None], cancel: Optional[CancelToken]) -> Dict[str, Any]:
        wanted = list(dict.fromkeys(_split_call(nm)[0] for nm in names))
        source_of = {b: self._alias_of.get(b, b) for b in wanted}  # aliases are captured once, shared
        bases = list(dict.fromkeys(source_of.values()))
        calls = {b: self._by_name[b].calls for b in bases}
        # each layer's result is allocated once and filled batch by batch: no list of chunks to concatenate,
        # so the kept activations never exist twice
        stacked: Dict[str, List[Optional[torch.Tensor]]] = {b: [None] * calls[b] for b in bases}
        reduce_output = reducer(red)

        def keep(name: str, output: Any) -> Any:
            if red is None and name in self._mutated and isinstance(output, torch.Tensor):
                return output.detach().clone()  # a later in-place op would overwrite it
            return reduce_output(name, output)

        check_cancel(cancel)
        with preserved(self.module), torch.no_grad(), \
                capture(self.module, bases, calls=calls, transform=keep) as cap:
            for start in range(0, n, batch_size):
                check_cancel(cancel)
                stop = min(start + batch_size, n)
                cap.run(self.batch(source, start, stop))
                for b in bases:
                    outs = cap.outputs[b]
                    if len(outs) != calls[b]:
                        raise RuntimeError(
                            f"layer {b!r} ran {len(outs)} time(s) in this forward pass but {calls[b]} in the "
                            "dry run; models whose control flow depends on the input need 'name@i' layers"
                        )
                    for i, out in enumerate(outs):
                        if out.dim() == 0 or out.shape[0] != stop - start:
                            raise ValueError(
                                f"layer {b!r} gives an output of shape {tuple(out.shape)} for a batch of "
                                f"{stop - start} stimuli; its first axis must be the stimulus axis: pick another layer"
                            )
                        if stop - start == n:
                            stacked[b][i] = out.cpu().contiguous()
                        else:
                            if stacked[b][i] is None:
                                stacked[b][i] = torch.empty((n, *out.shape[1:]), dtype=out.dtype)
                            stacked[b][i][start:stop] = out
                report(stop, n)
        out: Dict[str, Any] = {}
        for name in names:
            base, idx = _split_call(name)
            per_call = stacked[source_of[base]]
            out[name] = per_call[idx] if idx is not None else (per_call[0] if len(per_call) == 1 else per_call)
        return out

    def predict(self, stimuli: Stimuli, batch_size: int = 64, progress: ProgressArg = None,
                cancel: Optional[CancelToken] = None) -> torch.Tensor:
        """The model's output (first tensor of a tuple/dict output) for every stimulus, on the CPU."""
        batch_size = positive_int(batch_size, "batch_size")
        report = make_reporter(progress, "predict")
        validate_cancel(cancel)
        n, source = self.prepare(stimuli)
        outs = []
        with preserved(self.module), torch.no_grad():
            for start in range(0, n, batch_size):
                check_cancel(cancel)
                stop = min(start + batch_size, n)
                outs.append(first_tensor(self.module(self.batch(source, start, stop))).cpu())
                report(stop, n)
        return torch.cat(outs).contiguous()  # a spatial output of a channels-last input is channels-last


def first_tensor(output: Any, strict: bool = True) -> Optional[torch.Tensor]:
    """The logits of a model whose output may be a tensor, a tuple/list, or a dict (first value)."""
    while not isinstance(output, torch.Tensor):
        if isinstance(output, dict) and output:
            output = next(iter(output.values()))
        elif isinstance(output, (tuple, list)) and output:
            output = output[0]
        elif strict:
            raise TypeError(f"the model's output holds no tensor ({type(output).__name__})")
        else:
            return None
    return output
