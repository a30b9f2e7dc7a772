"""Feature visualization by optimization: ``render(probe, objective)`` -> images that maximize it.

One step: the image parameterization gives a batch of images in [0, 1]; the robustness transforms move them
around; they are resized to the model's input size, normalised with the probe's mean/std, and run through
the model with hooks on the objective's layers only, stopping after the deepest one; the objective's sum is
maximized with Adam. The whole loop runs inside :func:`~neuro_widgets.engine.model_state.preserved`
(weights frozen, so no weight gradient is ever computed; eval mode; everything restored) — on return, on
error and on cancel. For the duration, ``inplace`` flags (``nn.ReLU(inplace=True)`` ...) are off, so that
hooked outputs are not overwritten by a later in-place op, during the first steps the ReLU modules run the
gradient-redirecting forward of :mod:`.relu_redirect`, and the model computes the same values with less work:
eval batch norms folded into the conv before them (:mod:`.bn_fold`) and the objective's conv sliced to the
channels it reads (:mod:`.channel_slice`); all of it is put back on the way out.
"""
from __future__ import annotations

import platform
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..._version import __version__
from ..export import Figured
from ..hooks import capture
from ..model_state import PausePoint, module_dtype, preserved
from ..probe import Probe
from ..progress import CancelToken, Cancelled, ProgressArg, check_cancel, make_reporter
from .adam import Adam
from .bn_fold import folding
from .channel_slice import channel_slice
from .objectives import OUTPUT, Objective, as_objective
from .param import ImageParam, as_param
from .receptive_field import receptive_field
from .relu_redirect import redirected_relus
from .taps import resolve_taps
from .transforms import Compose, as_transform

Size = Union[int, Tuple[int, int]]


@dataclass
class RenderResult(Figured):
    """What :func:`render` returns."""

    images: np.ndarray  # float32 (B, H, W, 3) in [0, 1]
    values: np.ndarray  # (steps_done, B): each image's objective value at each step (transforms applied)
    final_values: np.ndarray  # (B,): objective value of the final images, untransformed, at the model's size
    snapshots: Dict[int, np.ndarray]  # step -> images (B, H, W, 3) after that many steps
    objective: str  # the objective's description
    settings: Dict[str, Any]  # seed, parameters, package versions, model
    steps_done: int
    cancelled: bool = False

    def __repr__(self) -> str:
        state = " (cancelled)" if self.cancelled else ""
        return (f"RenderResult({self.images.shape[0]} images {self.images.shape[1]}x{self.images.shape[2]}, "
                f"{self.steps_done} steps{state}, objective: {self.objective})")

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_contact_sheet``)."""
        from ...figures import plot_contact_sheet

        return plot_contact_sheet(self, ax, **style)

def versions() -> Dict[str, str]:
    return {"neuro_widgets": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _pair(size: Size, what: str) -> Tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be an int or (height, width), got {size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{what} must be positive, got {size!r}")
    return h, w


def to_numpy_images(x: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) images -> float32 (B, H, W, 3) in [0, 1] (clamped before the layout change: half the time)."""
    return x.detach().float().clamp(0.0, 1.0).cpu().numpy().transpose(0, 2, 3, 1).copy()


#: a progress callback sees the forming images at about this many steps of a run (every step of a shorter one):
#: converting a batch of 224-px images costs ~10 ms, a tenth of a step, and nobody watches 500 frames
PREVIEWS = 32


class ModelInput:
    """Turns images in [0, 1] into the model's input: transforms, resize to ``input_size``, normalise."""

    def __init__(self, probe: Probe, transforms: Compose, input_size: Tuple[int, int],
                 channels_last: bool = False) -> None:
        self.spec = probe.input_spec
        self.layout = _channels_last if channels_last else probe.input_layout
        self.transforms = transforms
        self.input_size = input_size
        self.dtype = module_dtype(probe.module)

    def __call__(self, images: torch.Tensor, generator: Optional[torch.Generator], transform: bool = True) -> torch.Tensor:
        if transform:
            x = self.transforms(images, generator, out_size=self.input_size)
        elif tuple(images.shape[-2:]) != self.input_size:
            x = F.interpolate(images, size=self.input_size, mode="bilinear", align_corners=False)
        else:
            x = images
        if self.spec.channels == 1:
            x = x.mean(dim=1, keepdim=True)
        return self.layout(self.spec.normalize(x.to(self.dtype)))


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last)


def layer_calls(probe: Probe, layers: Sequence[str]) -> Dict[str, int]:
    return {n: probe.layer(n).calls for n in layers if n != OUTPUT}


#: per model: (layers, input size) -> per-image output shapes; architecture, not weights (the dry run took 5.6 ms
#: on the CIFAR ResNet-20, 3 % of a 32-step render)
_SHAPES: "weakref.WeakKeyDictionary[torch.nn.Module, Dict[Any, Dict[str, Tuple[int, ...]]]]" = \
    weakref.WeakKeyDictionary()


def layer_shapes(probe: Probe, layers: Sequence[str], input_size: Tuple[int, int]) -> Dict[str, Tuple[int, ...]]:
    """Per-image output shapes of ``layers`` (and OUTPUT) for inputs of ``input_size``, from one dry run per
    model, layers and size."""
    known = _SHAPES.setdefault(probe.module, {})
    key = (tuple(layers), tuple(input_size))
    if key not in known:
        known[key] = _measure_shapes(probe, layers, input_size)
    return dict(known[key])


def _measure_shapes(probe: Probe, layers: Sequence[str], input_size: Tuple[int, int]) -> Dict[str, Tuple[int, ...]]:
    taps = resolve_taps(probe, layers)
    spec = probe.input_spec
    x = torch.zeros(1, spec.channels, *input_size, dtype=module_dtype(probe.module), device=probe.device)
    need_output = OUTPUT in layers
    try:
        with preserved(probe.module), torch.no_grad(), \
                capture(probe.module, list(taps.calls), calls=taps.calls, stop_early=not need_output) as cap:
            out = cap.run(x)
            ctx = taps.context(cap, x, out)
    except (RuntimeError, ValueError, IndexError) as err:
        raise ValueError(
            f"the model does not accept {input_size[0]}x{input_size[1]} inputs up to the target layers "
            f"({type(err).__name__}: {err}). Use a larger image size (the model's own is {spec.size[0]}x"
            f"{spec.size[1]})."
        ) from err
    shapes = {n: tuple(t.shape[1:]) for n, t in ctx.acts.items()}
    if need_output:
        shapes[OUTPUT] = tuple(ctx.output.shape[1:])
    return shapes


#: receptive-field sizes (model-input pixels) per model and layer: they depend on the architecture, not on
#: the weights, and measuring one costs a forward and backward pass
_FIELD_SIZES: "weakref.WeakKeyDictionary[torch.nn.Module, Dict[str, Tuple[int, int]]]" = weakref.WeakKeyDictionary()


def unit_extent(probe: Probe, layers: Sequence[str], size: Tuple[int, int], input_size: Tuple[int, int]) -> float:
    """The widest receptive field among the objective's layers, in pixels of the optimized image (the
    whole image for the model output or when no layer is named): what the standard transforms scale to."""
    named = [n for n in layers if n != OUTPUT]
    if not named or OUTPUT in layers:
        return float(max(size))
    known = _FIELD_SIZES.setdefault(probe.module, {})
    for n in named:
        if n not in known:
            known[n] = receptive_field(probe, n).size
    return max(max(known[n][0] * size[0] / input_size[0], known[n][1] * size[1] / input_size[1]) for n in named)


@dataclass
class Plan:
    """Everything an optimization needs, validated up front (so bad input fails before any work)."""

    objective: Objective
    batch: int
    size: Tuple[int, int]
    input_size: Tuple[int, int]
    param: ImageParam
    transforms: Compose
    steps: int
    lr: float
    redirect_steps: int
    snapshots: Tuple[int, ...] = field(default_factory=tuple)


def make_plan(probe: Probe, objective: Union[str, Objective], *, batch: Optional[int], size: Optional[Size],
              input_size: Optional[Size], param: Any, transforms: Any, steps: int, lr: float,
              redirect_relu: Union[bool, int], snapshots: Sequence[int]) -> Plan:
    if not isinstance(probe, Probe):
        raise TypeError(f"the first argument must be an nw.Probe (e.g. nw.load_model(...)), not {type(probe).__name__}")
    objective = as_objective(objective)
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be a positive integer (the default is 512), got {steps!r}")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ValueError(f"lr must be a positive number (the default is 0.05), got {lr!r}")
    if batch is None:
        batch = objective.min_batch
    if not isinstance(batch, (int, np.integer)) or batch < 1:
        raise ValueError(f"batch must be a positive integer, got {batch!r}")
    size = _pair(size if size is not None else probe.input_spec.size, "size")
    input_size = _pair(input_size if input_size is not None else probe.input_spec.size, "input_size")
    resolve_taps(probe, objective.layers)  # layer names fail here, before anything is measured
    standard = isinstance(transforms, str) and transforms == "standard"
    field = unit_extent(probe, objective.layers, size, input_size) if standard else None
    tf = as_transform(transforms, min(size), field)
    if min(size) < 2:
        raise ValueError(f"size {size} is too small; images need at least 2x2 pixels")
    try:
        probe_img = tf(torch.full((1, 3, *size), 0.5), torch.Generator().manual_seed(0))
    except ValueError as err:
        raise ValueError(f"the transforms do not fit a {size[0]}x{size[1]} image: {err}. "
                         "Use a larger size or smaller transforms.") from err
    if min(probe_img.shape[-2:]) < 1:
        raise ValueError(f"the transforms leave nothing of a {size[0]}x{size[1]} image; use a larger size")
    if isinstance(redirect_relu, bool):
        redirect_steps = max(1, steps // 4) if redirect_relu else 0
    elif isinstance(redirect_relu, (int, np.integer)) and redirect_relu >= 0:
        redirect_steps = int(redirect_relu)
    else:
        raise ValueError(f"redirect_relu must be True, False or a number of steps, got {redirect_relu!r}")
    snaps = tuple(sorted({int(s) for s in snapshots}))
    if any(s < 0 or s > steps for s in snaps):
        raise ValueError(f"snapshots must be step counts between 0 and steps={steps}, got {list(snapshots)}")
    shapes = layer_shapes(probe, objective.layers, input_size)
    objective.validate(shapes, int(batch))
    return Plan(objective, int(batch), size, input_size, as_param(param), tf, int(steps), float(lr),
                redirect_steps, snaps)


def plan_settings(probe: Probe, plan: Plan, seed: int) -> Dict[str, Any]:
    return {
        "seed": seed, "steps": plan.steps, "lr": plan.lr, "batch": plan.batch, "size": plan.size,
        "input_size": plan.input_size, "param": plan.param.settings(), "transforms": repr(plan.transforms),
        "redirect_relu_steps": plan.redirect_steps, "objective": plan.objective.description,
        "model": probe.name, "model_fingerprint": probe.fingerprint(), "device": str(probe.device),
        "versions": versions(),
    }


def optimize(probe: Probe, plan: Plan, generator: torch.Generator, report: Callable[..., None],
             cancel: Optional[CancelToken], step_offset: int = 0, total_steps: Optional[int] = None,
             want_previews: bool = False, extra: Optional[Dict[str, Any]] = None) -> RenderResult:
    """The optimization loop shared by :func:`render` and ``render_layer`` (one batch)."""
    total = total_steps or plan.steps
    preview_every = max(1, plan.steps // PREVIEWS)
    live = plan.param.build(plan.batch, plan.size, generator, probe.device)
    layers = list(plan.objective.layers)
    fold = folding(probe, layers)
    to_input = ModelInput(probe, plan.transforms, plan.input_size, channels_last=fold.channels_last)
    taps = resolve_taps(probe, layers)
    forward = channel_slice(probe, plan.objective, plan.input_size, fold)
    opt = Adam(live.parameters(), lr=plan.lr)
    history: List[torch.Tensor] = []
    snaps: Dict[int, np.ndarray] = {}
    cancelled = False
    done = 0
    pause = PausePoint(probe.module, cancel)
    while True:  # one pass per stretch of steps between pauses (the model is left as found during a pause)
        with preserved(probe.module), fold.installed(), \
                redirected_relus(probe.module, active=done < plan.redirect_steps) as redirect, \
                capture(probe.module, list(taps.calls), calls=taps.calls, stop_early=OUTPUT not in layers) as cap:
            resumed = done
            while done < plan.steps and not cancelled:
                if done > resumed and pause.wanted():
                    break
                try:
                    check_cancel(cancel)
                except Cancelled:
                    cancelled = True
                    break
                step = done
                if step == plan.redirect_steps:
                    redirect.stop()
                opt.zero_grad()
                image = live()
                if step in plan.snapshots:
                    snaps[step] = to_numpy_images(image)
                out = forward.run(cap, to_input(image, generator))
                values = plan.objective(taps.context(cap, image, out))
                (-values.sum()).backward()
                opt.step()
                history.append(values.detach())
                done = step + 1
                if want_previews and (done % preview_every == 0 or done in (1, plan.steps)):
                    report(step_offset + done, total, images=to_numpy_images(image),
                           values=values.detach().cpu().numpy(), **(extra or {}))
                elif want_previews:
                    report(step_offset + done, total, values=values.detach().cpu().numpy(), **(extra or {}))
                else:
                    report(step_offset + done, total)
            if done >= plan.steps or cancelled:
                redirect.stop()
                with torch.no_grad():
                    image = live()
                    out = cap.run(to_input(image, None, transform=False))
                    final = plan.objective(taps.context(cap, image, out))
                break
        try:
            pause.wait()
        except Cancelled:
            cancelled = True  # the next pass only computes the final values
    if plan.steps in plan.snapshots and not cancelled:
        snaps[plan.steps] = to_numpy_images(image)
    values_np = torch.stack(history).cpu().numpy() if history else np.zeros((0, plan.batch), np.float32)
    return RenderResult(images=to_numpy_images(image), values=values_np, final_values=final.cpu().numpy(),
                        snapshots=snaps, objective=plan.objective.description, settings={}, steps_done=done,
                        cancelled=cancelled)


def render(
    probe: Probe,
    objective: Union[str, Objective],
    *,
    batch: Optional[int] = None,
    size: Optional[Size] = None,
    input_size: Optional[Size] = None,
    param: Union[str, ImageParam] = "fft",
    transforms: Any = "standard",
    steps: int = 512,
    lr: float = 0.05,
    seed: int = 0,
    redirect_relu: Union[bool, int] = True,
    snapshots: Sequence[int] = (),
    progress: ProgressArg = None,
    cancel: Optional[CancelToken] = None,
) -> RenderResult:
    """Optimize images to maximize ``objective`` on ``probe``'s model.

    ``size`` is the optimized image's size (default: the model's input size); images are resized to
    ``input_size`` (default: the model's) before the model. ``transforms``: ``"standard"`` (Lucid's stack,
    scaled to the image size), ``None``, or a list of transforms. ``redirect_relu``: ReLU-gradient
    redirection for the first quarter of the steps (``True``), never (``False``) or the first N steps.
    ``progress(step, total, values=...)`` is called every step, with ``images=`` (the images as they form) at
    the first and last step and about :data:`PREVIEWS` times in between; on ``cancel`` the images so far are
    returned with ``cancelled=True``. The model is left exactly as it was.

    >>> result = render(probe, objectives.channel("layer3", 5), steps=256)
    >>> result.images.shape   # (1, 32, 32, 3), floats in [0, 1]
    """
    plan = make_plan(probe, objective, batch=batch, size=size, input_size=input_size, param=param,
                     transforms=transforms, steps=steps, lr=lr, redirect_relu=redirect_relu, snapshots=snapshots)
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if cancel is not None and not isinstance(cancel, CancelToken):
        raise TypeError(f"cancel must be an nw.CancelToken or None, not {type(cancel).__name__}")
    report = make_reporter(progress, "render")
    generator = torch.Generator().manual_seed(int(seed))
    result = optimize(probe, plan, generator, report, cancel, want_previews=progress not in (None, False, True))
    result.settings = plan_settings(probe, plan, int(seed))
    return result
