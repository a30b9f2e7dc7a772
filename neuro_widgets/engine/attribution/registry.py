"""The attribution methods by name, each with a typed parameter schema that widgets turn into controls.

A :class:`MethodSpec` says what a method needs (a layer? a ReLU-per-use model?) and which parameters it
takes; :func:`resolve_params` checks a user's ``**params`` against the schema and fills in defaults, so
that every bad value is reported before any work starts.
"""
from __future__ import annotations

import difflib
import numbers
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np

from ..describe import brief
from . import baselines

Number = float


@dataclass(frozen=True)
class Param:
    """One parameter of a method: what a widget needs to build a control and what we need to check it.

    ``type`` is one of ``"int"``, ``"float"``, ``"bool"``, ``"choice"``, ``"layer"`` (a layer name of the
    probe). ``range`` bounds numbers (inclusive; ``None`` for an open side). ``nullable`` parameters accept
    ``None``, which always means "chosen automatically" (the help text says how).
    """

    name: str
    type: str
    default: Any
    help: str
    range: Optional[Tuple[Optional[Number], Optional[Number]]] = None
    choices: Optional[Tuple[str, ...]] = None
    nullable: bool = False

    def check(self, method: str, value: Any) -> Any:
        where = f"{method}: parameter {self.name!r}"
        if value is None:
            if self.nullable or self.default is None:
                return None
            raise ValueError(f"{where} cannot be None; {self.help}")
        if self.type == "bool":
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{where} must be True or False, got {brief(value)}")
            return bool(value)
        if self.type in ("int", "float"):
            kind = numbers.Integral if self.type == "int" else numbers.Real
            if isinstance(value, bool) or not isinstance(value, kind):
                raise TypeError(f"{where} must be {'an int' if self.type == 'int' else 'a number'}, got {brief(value)}")
            value = int(value) if self.type == "int" else float(value)
            lo, hi = self.range or (None, None)
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                raise ValueError(f"{where} must lie in [{lo if lo is not None else '-inf'}, "
                                 f"{hi if hi is not None else 'inf'}], got {value}")
            return value
        if self.type == "choice":
            if not isinstance(value, str) or value not in (self.choices or ()):
                raise ValueError(f"{where} must be one of {list(self.choices or ())}, got {brief(value)}")
            return value
        if self.type == "layer":
            if not isinstance(value, str):
                raise TypeError(f"{where} must be a layer name (str, see probe.layer_names()), got {brief(value)}")
            return value
        raise AssertionError(f"unknown parameter type {self.type}")  # a bug in the registry itself

    def as_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "type": self.type, "default": self.default, "help": self.help,
                "range": self.range, "choices": self.choices, "nullable": self.nullable}


@dataclass(frozen=True)
class MethodSpec:
    """A method: its name, a one-line description, its parameters and what it requires.

    ``needs_layer``: the method attributes through a layer and refuses to run without ``layer=``.
    ``needs_relu_modules``: the method rewrites the gradient of activation *modules* (DeepLift,
    guided backprop), so it needs one module per use and no functional activations (see ``relu_fix``).
    ``has_delta``: the method reports a convergence delta (completeness error) per image.
    ``output``: ``"input"`` for (N, C, H, W) maps, ``"spatial"`` for (N, H, W) maps.
    """

    name: str
    label: str
    description: str
    params: Tuple[Param, ...] = field(default_factory=tuple)
    needs_layer: bool = False
    needs_relu_modules: bool = False
    has_delta: bool = False
    stochastic: bool = False
    output: str = "input"

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> Dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def as_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "label": self.label, "description": self.description,
                "params": [p.as_dict() for p in self.params], "needs_layer": self.needs_layer,
                "needs_relu_modules": self.needs_relu_modules, "has_delta": self.has_delta,
                "stochastic": self.stochastic, "output": self.output}


BASELINE_PARAM = Param("baseline", "choice", "zero",
                  "reference input (also as captum's baselines=): 'zero' (all zeros in model-input space, i.e. the "
                  "data mean), 'black' or 'white' (pixel value 0 or 1, normalised), 'blur' (the input strongly "
                  "blurred), 'uniform noise' (a fixed seeded noise image); or a number or a tensor in model-input "
                  "space", choices=baselines.BASELINE_NAMES)
_N_STEPS = Param("n_steps", "int", 50, "integration steps along the path from baseline to input", range=(1, 100_000))
_IG_RULE = Param("integration", "choice", "gausslegendre", "quadrature rule for the path integral",
                 choices=("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle"))
_INTERNAL = Param("internal_batch_size", "int", None,
                  "inputs per forward/backward pass inside the method; None chooses it from the memory budget",
                  range=(1, None), nullable=True)
_SEED = Param("seed", "int", 0, "seed of the random draws (the global torch RNG is left as it was)", range=(0, None))
_LAYER = Param("layer", "layer", None, "the layer to attribute through (a name from probe.layer_names())")

METHODS: Dict[str, MethodSpec] = {
    spec.name: spec
    for spec in (
        MethodSpec("saliency", "Saliency", "gradient of the target with respect to the input pixels",
                   (Param("abs", "bool", False, "take the absolute value of the gradient (captum's default is "
                                                "True; we keep the sign)"),)),
        MethodSpec("integrated_gradients", "Integrated gradients",
                   "path integral of gradients from a baseline to the input; sums to F(x) - F(baseline)",
                   (BASELINE_PARAM, _N_STEPS, _IG_RULE, _INTERNAL,
                    Param("auto_steps", "bool", False,
                          "raise n_steps per image until the relative completeness error is under `tolerance`"),
                    Param("tolerance", "float", 0.05, "relative completeness error to reach in auto_steps mode",
                          range=(1e-6, 1.0)),
                    Param("max_steps", "int", 1000, "step budget per image in auto_steps mode", range=(1, 100_000))),
                   has_delta=True),
        MethodSpec("smoothgrad", "SmoothGrad", "noise tunnel: the average of a base method over noisy copies",
                   (Param("base", "choice", "saliency", "the method averaged over noisy inputs",
                          choices=("saliency", "integrated_gradients")),
                    Param("nt_type", "choice", "smoothgrad", "how the noisy maps are combined",
                          choices=("smoothgrad", "smoothgrad_sq", "vargrad")),
                    Param("nt_samples", "int", 10, "noisy copies per image", range=(1, 10_000)),
                    Param("noise_level", "float", 0.15,
                          "noise standard deviation as a fraction of the pixel range [0, 1]", range=(0.0, 10.0)),
                    _N_STEPS, _INTERNAL, _SEED),
                   stochastic=True),
        MethodSpec("gradient_shap", "GradientSHAP",
                   "expected gradients x (input - baseline) over random baselines and points on the path",
                   (Param("n_samples", "int", 16, "random (baseline, path point) draws per image", range=(1, 10_000)),
                    Param("n_baselines", "int", 8, "uniform-noise baseline images in the distribution",
                          range=(1, 1000)),
                    Param("noise_level", "float", 0.0, "noise added to each input draw, fraction of pixel range",
                          range=(0.0, 10.0)),
                    _SEED),
                   stochastic=True),
        MethodSpec("deeplift", "DeepLift", "rescale rule relative to a baseline; sums to F(x) - F(baseline)",
                   (BASELINE_PARAM,), needs_relu_modules=True, has_delta=True),
        MethodSpec("input_x_gradient", "Input x gradient", "input times the gradient of the target", ()),
        MethodSpec("guided_backprop", "Guided backprop",
                   "gradient with negative gradients stopped at every ReLU", (), needs_relu_modules=True),
        MethodSpec("occlusion", "Occlusion",
                   "drop in the target when a square window of the input is replaced by the baseline",
                   (Param("window", "int", None, "side of the occluding square in pixels; None: 1/8 of the "
                                                 "input side", range=(1, None), nullable=True),
                    Param("stride", "int", None, "step between windows in pixels; None: half the window",
                          range=(1, None), nullable=True),
                    BASELINE_PARAM,
                    Param("perturbations_per_eval", "int", None,
                          "occluded copies per forward pass; None chooses it from the memory budget",
                          range=(1, None), nullable=True))),
        MethodSpec("gradcam", "Grad-CAM",
                   "layer activations weighted by their mean gradient, upsampled to the input",
                   (_LAYER, Param("relu", "bool", True, "keep only positive evidence (as in the Grad-CAM paper)"),
                    Param("interpolation", "choice", "bilinear", "how the layer map is upsampled to the input",
                          choices=("bilinear", "nearest", "bicubic"))),
                   needs_layer=True, output="spatial"),
        MethodSpec("guided_gradcam", "Guided Grad-CAM", "guided backprop times the upsampled Grad-CAM map",
                   (_LAYER, Param("interpolation", "choice", "nearest", "how the layer map is upsampled",
                                  choices=("bilinear", "nearest", "bicubic"))),
                   needs_layer=True, needs_relu_modules=True),
    )
}


def check_baseline(where: str, value: Any) -> Any:
    """A baseline name (checked against :data:`BASELINE_PARAM`'s choices), a number or a tensor."""
    if isinstance(value, str):
        return BASELINE_PARAM.check(where, value)
    return baselines.check_value(value, f"{where}: parameter 'baseline'")


def methods() -> List[MethodSpec]:
    """Every attribution method with its parameter schema.

    >>> [m.name for m in nw.attribution.methods()][:3]
    ['saliency', 'integrated_gradients', 'smoothgrad']
    """
    return list(METHODS.values())


def get_method(name: Any) -> MethodSpec:
    if isinstance(name, MethodSpec):
        return name
    if not isinstance(name, str) or name not in METHODS:
        close = difflib.get_close_matches(str(name), list(METHODS), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(f"unknown attribution method {name!r}.{hint} Known methods: {', '.join(METHODS)}")
    return METHODS[name]


def resolve_params(spec: MethodSpec, params: Mapping[str, Any]) -> Dict[str, Any]:
    """Defaults overridden by ``params``, each checked against the schema; unknown names are errors.

    ``baselines=`` (captum's name) is read as ``baseline=``, which also takes a number or a tensor (its shape is
    checked against the images later, see ``baselines.for_batches``)."""
    params = baselines.merge_alias(params, spec.name)
    known = {p.name for p in spec.params}
    if "baseline" in params and "baseline" not in known:
        takers = [m.name for m in METHODS.values() if any(p.name == "baseline" for p in m.params)]
        raise TypeError(f"{spec.name} takes no baseline; the methods that do: {', '.join(takers)} "
                        "(gradient_shap draws its own: n_baselines uniform-noise images)")
    unknown = [k for k in params if k not in known]
    if unknown:
        raise TypeError(f"{spec.name} has no parameter(s) {unknown}; its parameters are: "
                        f"{', '.join(sorted(known)) or 'none'}")
    out = spec.defaults()
    for k, v in params.items():
        out[k] = check_baseline(spec.name, v) if k == "baseline" else spec.param(k).check(spec.name, v)
    if spec.needs_layer and out.get("layer") is None:
        raise ValueError(f"{spec.name} attributes through a layer: pass layer='<name>' "
                         "(one of probe.layer_names(), usually the last convolutional block)")
    return out
