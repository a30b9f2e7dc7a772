"""``attribute``: one call for every method in the registry, run by captum on the user's model.

Captum does the mathematics; this module picks the captum class and arguments for a method name,
chooses batch sizes from the memory budget, routes DeepLift/guided backprop through a ReLU-safe private
copy when needed, and returns an :class:`AttributionResult` with the signed maps and, where the method has
one, the convergence delta.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from captum.attr import (DeepLift, GradientShap, GuidedBackprop, GuidedGradCam, InputXGradient,
                         IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Occlusion, Saliency)
from torch import nn

from ..export import Figured, Tabular
from ..model_state import inplace_off, preserved
from ..probe import Probe, Stimuli
from ..progress import CancelToken, ProgressArg
from .budget import inputs_per_pass
from ..rng import drawing_from
from .baselines import BatchBaseline, for_batches, uniform_noise
from .core import check_layer, check_probe, prepare_inputs, quiet_captum, run_batches, subset_target
from .ig_auto import WARN_ABOVE, check_completeness, integrate_to_tolerance, relative_delta
from .registry import MethodSpec, get_method, resolve_params
from .relu_fix import relu_safe_model
from .targets import TargetArg, TargetPlan, check_runs_before, resolve_target


@dataclass
class AttributionResult(Tabular, Figured):
    """Signed attributions of one method for N images.

    ``attributions``: (N, C, H, W) for input methods, (N, H, W) for Grad-CAM — on the CPU, in the model's
    input space. ``delta``: the convergence delta sum(attributions) - (F(x) - F(baseline)) per image for
    methods that have one, and ``relative_delta`` = |delta| / |F(x) - F(baseline)|. ``n_steps``: the
    integration steps each image used (integrated gradients). ``converged`` (integrated gradients): per image,
    whether ``relative_delta`` is within ``completeness_threshold`` (the tolerance in auto mode, else
    ``ig_auto.WARN_ABOVE``); a CompletenessWarning names the others. ``classes``: the explained class per image
    for class targets. ``params``: every parameter as used, automatic choices filled in.
    """

    method: str
    attributions: torch.Tensor
    params: Dict[str, Any]
    target: str
    classes: Optional[np.ndarray] = None
    delta: Optional[torch.Tensor] = None
    relative_delta: Optional[torch.Tensor] = None
    n_steps: Optional[np.ndarray] = None
    private_copy: bool = False
    converged: Optional[np.ndarray] = None
    completeness_threshold: Optional[float] = None

    @property
    def not_converged(self) -> List[int]:
        """The images whose completeness error is above the threshold (integrated gradients; else empty)."""
        return [] if self.converged is None else [int(i) for i in np.flatnonzero(~self.converged)]

    def maps(self) -> torch.Tensor:
        """(N, H, W) signed maps: the channel sum of input attributions (Grad-CAM maps as they are)."""
        a = self.attributions
        return a.sum(dim=1) if a.dim() == 4 else a

    def __len__(self) -> int:
        return len(self.attributions)

    def to_numpy(self) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
        """(arrays, metadata): the attributions and every per-image array as numpy (``np.savez(path, **arrays)``),
        and what produced them: method, target, layer, baselines (a name, a number or an array in model-input
        space) and the other settings as used."""
        arrays = {"attributions": self.attributions.numpy()}
        for name in ("delta", "relative_delta", "n_steps", "converged", "classes"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        settings = {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in self.params.items()}
        metadata = {"method": self.method, "target": self.target, "layer": settings.pop("layer", None),
                    "baselines": settings.pop("baseline", None), "settings": settings,
                    "completeness_threshold": self.completeness_threshold, "private_copy": self.private_copy}
        return arrays, metadata

    def to_records(self) -> List[Dict[str, Any]]:
        """One row per image: the explained class, the sum of its attributions and, where the method has them,
        the completeness delta, relative delta, integration steps and whether it converged."""
        arrays, _ = self.to_numpy()
        totals = arrays.pop("attributions").reshape(len(self), -1).sum(1)
        return [{"image": i, "method": self.method, "target": self.target, "total": float(totals[i]),
                 **{k: a[i].item() for k, a in arrays.items()}} for i in range(len(self))]

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_attribution``)."""
        from ...figures import plot_attribution

        return plot_attribution(self, ax, **style)

def _occlusion_geometry(p: Dict[str, Any], size: Tuple[int, int]) -> Tuple[int, int]:
    side = min(size)
    window = p["window"] if p["window"] is not None else max(1, round(side / 8))
    if window > side:
        raise ValueError(f"occlusion: window {window} is larger than the input ({size[0]}x{size[1]}); "
                         f"use a window of at most {side} pixels")
    stride = p["stride"] if p["stride"] is not None else max(1, window // 2)
    if stride > side:
        raise ValueError(f"occlusion: stride {stride} is larger than the input ({size[0]}x{size[1]})")
    return window, stride


def _batch_plan(spec: MethodSpec, p: Dict[str, Any], per_pass: int, n: int,
                size: Tuple[int, int]) -> Tuple[int, Dict[str, Any]]:
    """(images per call, automatic parameter values) so that one pass through the model fits the budget."""
    auto: Dict[str, Any] = {}
    name = spec.name
    if name == "integrated_gradients" or (name == "smoothgrad" and p["base"] == "integrated_gradients"):
        ibs = p["internal_batch_size"] or max(1, min(per_pass, n * p["n_steps"]))
        auto["internal_batch_size"] = ibs
        batch = min(n, max(1, ibs // 2))  # captum needs internal_batch_size >= images per call
        if name == "smoothgrad":
            auto["nt_samples_batch_size"] = 1
        return batch, auto
    if name == "smoothgrad":
        if p["internal_batch_size"] is not None:
            per_pass = p["internal_batch_size"]
        batch = min(n, max(1, per_pass // p["nt_samples"]))
        auto["nt_samples_batch_size"] = max(1, min(p["nt_samples"], per_pass // batch))
        return batch, auto
    if name == "gradient_shap":
        return min(n, max(1, per_pass // p["n_samples"])), auto
    if name == "deeplift":
        return min(n, max(1, per_pass // 2)), auto  # inputs and baselines go through together
    if name == "occlusion":
        window, stride = _occlusion_geometry(p, size)
        auto["window"], auto["stride"] = window, stride
        batch = min(n, per_pass)
        auto["perturbations_per_eval"] = p["perturbations_per_eval"] or max(1, per_pass // batch)
        return batch, auto
    return min(n, per_pass), auto


def _captum_call(spec: MethodSpec, p: Dict[str, Any], probe: Probe, forward: nn.Module, model: nn.Module,
                 x: torch.Tensor, target: Any, baseline: Any = None,
                 n_steps: Optional[int] = None) -> Tuple[torch.Tensor, Any]:
    """One captum call on a batch: (attributions, delta or None); ``baseline`` is captum's ``baselines`` for
    this batch, for the methods that take one."""
    name = spec.name
    if name == "saliency":
        return Saliency(forward).attribute(x, target=target, abs=p["abs"]), None
    if name == "integrated_gradients":
        return IntegratedGradients(forward).attribute(
            x, baselines=baseline, target=target,
            n_steps=n_steps or p["n_steps"], method=p["integration"],
            internal_batch_size=p["internal_batch_size"], return_convergence_delta=True)
    if name == "smoothgrad":
        if p["base"] == "saliency":
            algo, kwargs = Saliency(forward), {"abs": False}
        else:
            algo = IntegratedGradients(forward)
            kwargs = {"n_steps": p["n_steps"], "internal_batch_size": p["internal_batch_size"]}
        stdevs = p["noise_level"] / float(np.mean(probe.input_spec.std))
        return NoiseTunnel(algo).attribute(
            x, nt_type=p["nt_type"], nt_samples=p["nt_samples"], nt_samples_batch_size=p["nt_samples_batch_size"],
            stdevs=stdevs, target=target, **kwargs), None
    if name == "gradient_shap":
        baselines = uniform_noise(probe.input_spec, tuple(x.shape[-2:]), p["n_baselines"], p["seed"])
        stdevs = p["noise_level"] / float(np.mean(probe.input_spec.std))
        return GradientShap(forward).attribute(
            x, baselines=baselines.to(device=x.device, dtype=x.dtype), n_samples=p["n_samples"], stdevs=stdevs,
            target=target), None
    if name == "deeplift":
        return DeepLift(forward).attribute(x, baselines=baseline, target=target,
                                           return_convergence_delta=True)
    if name == "input_x_gradient":
        return InputXGradient(forward).attribute(x, target=target), None
    if name == "guided_backprop":
        return GuidedBackprop(forward).attribute(x, target=target), None
    if name == "occlusion":
        c, w, s = x.shape[1], p["window"], p["stride"]
        return Occlusion(forward).attribute(
            x, sliding_window_shapes=(c, w, w), strides=(c, s, s), baselines=baseline,
            target=target, perturbations_per_eval=p["perturbations_per_eval"]), None
    layer = model.get_submodule(p["layer"])
    if name == "gradcam":
        cam = LayerGradCam(forward, layer).attribute(x, target=target, relu_attributions=p["relu"])
        return LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode=p["interpolation"])[:, 0], None
    if name == "guided_gradcam":
        return GuidedGradCam(forward, layer).attribute(x, target=target, interpolate_mode=p["interpolation"]), None
    raise AssertionError(f"no captum call for {name}")  # every registry entry is handled above


def attribute(
    probe: Probe,
    images: Stimuli,
    method: str,
    target: TargetArg = "predicted",
    *,
    batch_size: Optional[int] = None,
    progress: ProgressArg = None,
    cancel: Optional[CancelToken] = None,
    **params: Any,
) -> AttributionResult:
    """Attribute ``target`` to the input pixels of each image with ``method`` (see :func:`methods`).

    ``images``: a StimulusSet, a uint8 array (N, H, W, 3) or a model-ready tensor. ``target``: a class index,
    ``"predicted"``, one class index per image, ``Unit(layer, channel[, (y, x)])`` or
    ``Readout(layer, weights)``. ``params``: the method's parameters (``methods()`` lists them);
    ``baseline`` (or captum's ``baselines``) takes a name, a number or a tensor in model-input space (see
    ``engine.attribution.baselines``).
    ``batch_size`` (images per captum call) and the methods' internal batch sizes are chosen from
    ``budget.budget_bytes`` unless given. The model is left exactly as it was.

    >>> res = nw.attribution.attribute(probe, stimuli[:4], "integrated_gradients", target=3, n_steps=100)
    >>> res.attributions.shape, res.relative_delta
    """
    check_probe(probe, "attribute")
    spec = get_method(method)
    p = resolve_params(spec, params)
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    n, source = prepare_inputs(probe, images)
    if spec.needs_layer:
        p["layer"] = check_layer(probe, p["layer"], spec.name, spatial=True)
    base = (for_batches(probe.input_spec, p["baseline"], n, probe.input_spec.size, f"{spec.name}: baseline")
            if "baseline" in p else None)
    resolve_target(probe, target, n)  # checks the target before any copy is made
    with preserved(probe.module):
        model = relu_safe_model(probe, spec.name) if spec.needs_relu_modules else probe.module
        plan = resolve_target(probe, target, n, model=None if model is probe.module else model)
        if spec.needs_layer:
            check_runs_before(probe, p["layer"], plan, spec.name)
        batch, auto = _batch_plan(spec, p, inputs_per_pass(probe), n, probe.input_spec.size)
        if batch_size is not None:
            batch = batch_size
            if "internal_batch_size" in auto and p["internal_batch_size"] is None:  # room for every image
                auto["internal_batch_size"] = max(auto["internal_batch_size"], batch)
        p.update(auto)
        draws = drawing_from(p["seed"]) if spec.stochastic else contextlib.nullcontext()
        with draws, quiet_captum(), inplace_off(model):
            parts = run_batches(probe, source, n, batch,
                                lambda x, rows: _one_batch(spec, p, probe, plan, model, base, x, rows),
                                progress, cancel, f"attribution: {spec.name}")
    attributions = torch.cat([a for a, _, _ in parts]).contiguous()  # channels-last inputs give such maps
    result = AttributionResult(spec.name, attributions, p, plan.describe(target),
                               classes=None if plan.classes is None else plan.classes.copy(),
                               private_copy=model is not probe.module)
    if spec.has_delta:
        result.delta = torch.cat([d for _, d, _ in parts])
        result.relative_delta = relative_delta(attributions, result.delta)
    if spec.name == "integrated_gradients":
        result.n_steps = np.concatenate([s for _, _, s in parts])
        result.completeness_threshold = p["tolerance"] if p["auto_steps"] else WARN_ABOVE
        result.converged = check_completeness(result.relative_delta, result.completeness_threshold,
                                              "integrated_gradients", result.n_steps, auto=p["auto_steps"])
    return result


def _one_batch(spec: MethodSpec, p: Dict[str, Any], probe: Probe, plan: TargetPlan, model: nn.Module,
               base: Optional[BatchBaseline], x: torch.Tensor, rows: slice) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[np.ndarray]]:
    target = plan.captum_target(x, rows)
    baseline = None if base is None else base(x, rows)
    if spec.name == "integrated_gradients" and p["auto_steps"]:
        def run(idx: np.ndarray, steps: int) -> Tuple[torch.Tensor, torch.Tensor]:
            sub = baseline[idx] if isinstance(baseline, torch.Tensor) else baseline
            return _captum_call(spec, p, probe, plan.forward, model, x[idx], subset_target(target, idx), sub,
                                steps)

        attr, delta, steps = integrate_to_tolerance(run, len(x), p["n_steps"], p["tolerance"], p["max_steps"])
    else:
        attr, delta = _captum_call(spec, p, probe, plan.forward, model, x, target, baseline)
        steps = np.full(len(x), p["n_steps"]) if spec.name == "integrated_gradients" else None
    attr = attr.detach().cpu()
    return attr, None if delta is None else delta.detach().reshape(-1).cpu(), steps
