"""Whole-layer contact sheets: one optimized image per channel, many channels per optimization.

Each image in a batch has its own target (image ``i`` maximizes channel ``channels[i]``), so a layer of C
channels needs ``ceil(C / batch_size)`` optimizations instead of C. The batch size is chosen to fit a memory
budget from a measurement: one forward at batch 1 under ``saved_tensors_hooks`` counts the bytes autograd
keeps per image for the backward.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
import torch

from ..export import Figured
from ..hooks import capture, layer_name
from ..model_state import preserved
from ..probe import Probe
from ..progress import CancelToken, ProgressArg, make_reporter
from .objectives import channel, channel_list
from .param import ImageParam
from .render import ModelInput, Plan, Size, layer_calls, layer_shapes, make_plan, optimize, plan_settings
from .taps import resolve_taps

_CPU_BUDGET = 2 * 2**30
_GPU_FRACTION = 0.5  # of the free device memory
_OVERHEAD = 3.0  # saved tensors x this ~ peak (gradients of activations, optimizer state, transients)


@dataclass
class LayerSheet(Figured):
    """What :func:`render_layer` returns: one image per rendered channel."""

    layer: str
    channels: np.ndarray  # (C,) channel indices, in the order of ``images``
    images: np.ndarray  # float32 (C, H, W, 3) in [0, 1]
    activations: np.ndarray  # (C,) mean activation each final image gives its own channel (no transforms)
    values: np.ndarray  # (steps_done, C) objective history
    settings: Dict[str, Any]  # seed, parameters, versions; ``settings["arguments"]`` reproduces the call
    cancelled: bool = False

    def __repr__(self) -> str:
        state = ", cancelled" if self.cancelled else ""
        return f"LayerSheet({self.layer!r}, {len(self.channels)} channels{state})"

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_contact_sheet``)."""
        from ...figures import plot_contact_sheet

        return plot_contact_sheet(self, ax, **style)

def _never_unpacked(_: None) -> torch.Tensor:
    raise RuntimeError("bytes_per_image measures a forward pass only; it never runs the backward")


def bytes_per_image(probe: Probe, plan: Plan) -> int:
    """Bytes autograd saves for the backward per image in one step (measured at batch 1).

    The pack hook only counts: it keeps no tensor (a kept tensor that is the output of the node saving it
    closes a reference cycle through autograd's C++ graph that the garbage collector cannot free), so
    nothing of the measurement outlives the call.
    """
    total = 0

    def pack(t: torch.Tensor) -> None:
        nonlocal total
        total += t.numel() * t.element_size()

    one = Plan(**{**plan.__dict__, "batch": 1, "objective": channel(plan.objective.layers[0], 0)})
    live = one.param.build(1, one.size, torch.Generator().manual_seed(0), probe.device)
    layer = one.objective.layers[0]
    with preserved(probe.module), capture(probe.module, [layer], calls=layer_calls(probe, [layer])) as cap, \
            torch.autograd.graph.saved_tensors_hooks(pack, _never_unpacked):
        cap.run(ModelInput(probe, one.transforms, one.input_size)(live(), torch.Generator().manual_seed(0)))
    return max(total, 1)


def choose_batch(probe: Probe, plan: Plan, n_channels: int, memory_budget: Optional[int]) -> int:
    if memory_budget is None:
        if probe.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(probe.device)
            memory_budget = int(free * _GPU_FRACTION)
        else:
            memory_budget = _CPU_BUDGET
    per_image = bytes_per_image(probe, plan) * _OVERHEAD
    return int(max(1, min(n_channels, memory_budget // per_image)))


def render_layer(
    probe: Probe,
    layer: str,
    channels: Optional[Sequence[int]] = None,
    *,
    batch_size: Optional[int] = None,
    memory_budget: Optional[int] = None,
    size: Optional[Size] = None,
    input_size: Optional[Size] = None,
    param: Union[str, ImageParam] = "fft",
    transforms: Any = "standard",
    steps: int = 512,
    lr: float = 0.05,
    seed: int = 0,
    redirect_relu: Union[bool, int] = True,
    progress: ProgressArg = None,
    cancel: Optional[CancelToken] = None,
) -> LayerSheet:
    """Render every channel of ``layer`` (or the given ``channels``), one image per channel.

    ``batch_size`` channels are optimized together; by default as many as fit ``memory_budget`` bytes
    (default: half the free GPU memory, or 2 GiB on the CPU). ``progress(done, total, values=, channels=)``
    counts steps over all batches, with ``images=`` as :func:`~.render.render` passes them. On cancel, the
    channels finished so far (and the current batch's images so far) are returned with ``cancelled=True``.

    >>> sheet = render_layer(probe, "layer3", steps=256)
    >>> sheet.images.shape, sheet.activations.shape   # (64, 32, 32, 3), (64,)
    """
    if not isinstance(probe, Probe):
        raise TypeError(f"the first argument must be an nw.Probe, not {type(probe).__name__}")
    taps = resolve_taps(probe, [layer_name(layer)])
    shape = layer_shapes(probe, [layer], probe.input_spec.size)[layer]
    if not shape:
        raise ValueError(f"layer {layer!r} has no tensor output with channels")
    n_all = shape[0]
    if isinstance(channels, str):
        raise TypeError(f"render_layer: channels must be None (every channel of the layer) or a list of channel "
                        f"indices, got {channels!r}; for every channel pass channels=None")
    chans = list(range(n_all)) if channels is None else channel_list(channels, "render_layer")
    if not chans:
        raise ValueError("channels is empty; pass None for every channel or a list of channel indices")
    bad = [c for c in chans if not 0 <= c < n_all]
    if bad:
        raise ValueError(f"channel {bad[0]} is out of range; layer {layer!r} has {n_all} channels (0..{n_all - 1})")
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    if cancel is not None and not isinstance(cancel, CancelToken):
        raise TypeError(f"cancel must be an nw.CancelToken or None, not {type(cancel).__name__}")
    common = dict(size=size, input_size=input_size, param=param, transforms=transforms, steps=steps, lr=lr,
                  redirect_relu=redirect_relu, snapshots=())
    first = make_plan(probe, channel(layer, chans[:1]), batch=1, **common)
    # the memory is measured through the layer's module, up to its last call (an upper bound for "name@k")
    sizing = Plan(**{**first.__dict__, "objective": channel(taps.picks[layer][0], chans[:1])})
    bs = int(batch_size) if batch_size is not None else choose_batch(probe, sizing, len(chans), memory_budget)
    chunks = [chans[i:i + bs] for i in range(0, len(chans), bs)]
    report = make_reporter(progress, f"render {layer}")
    previews = progress not in (None, False, True)
    generator = torch.Generator().manual_seed(int(seed))
    images, acts, values = [], [], []
    done_channels = []
    cancelled = False
    for i, chunk in enumerate(chunks):
        plan = Plan(**{**first.__dict__, "objective": channel(layer, chunk), "batch": len(chunk)})
        res = optimize(probe, plan, generator, report, cancel, step_offset=i * plan.steps,
                       total_steps=len(chunks) * plan.steps, want_previews=previews,
                       extra={"channels": np.asarray(chunk)})
        if res.steps_done == 0 and res.cancelled:
            cancelled = True
            break
        images.append(res.images)
        acts.append(res.final_values)
        values.append(res.values)
        done_channels.extend(chunk)
        if res.cancelled:
            cancelled = True
            break
    arguments = {"layer": layer, "channels": chans, "batch_size": bs, "size": first.size,
                 "input_size": first.input_size, "param": first.param, "transforms": transforms, "steps": steps,
                 "lr": lr, "seed": int(seed), "redirect_relu": redirect_relu}
    settings = plan_settings(probe, first, int(seed))
    settings.update(batch=bs, objective=f"channels of {layer} (mean over space), one per image",
                    arguments=arguments)
    h, w = first.size
    steps_done = min((v.shape[0] for v in values), default=0)
    return LayerSheet(
        layer=layer,
        channels=np.asarray(done_channels, dtype=np.int64),
        images=np.concatenate(images) if images else np.zeros((0, h, w, 3), np.float32),
        activations=np.concatenate(acts) if acts else np.zeros(0, np.float32),
        values=np.concatenate([v[:steps_done] for v in values], axis=1) if values else np.zeros((0, 0), np.float32),
        settings=settings,
        cancelled=cancelled,
    )
