"""The layer view: how much each channel of a clicked layer contributes to a target.

Captum's layer integrated gradients (or layer conductance) attributes F(x) - F(baseline) to every value of
the layer's output; summing over space gives one signed number per channel and image. Averaged over the
images and ranked, these are the bars a widget shows, each bar naming a channel whose optimal stimulus the
widget can open next.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from captum.attr import LayerConductance, LayerIntegratedGradients

from ..export import Figured, Tabular
from ..model_state import inplace_off, preserved
from ..probe import Probe, Stimuli
from ..progress import CancelToken, ProgressArg
from .budget import inputs_per_pass
from .baselines import BaselineArg, for_batches, merge_alias
from .core import check_layer, check_probe, prepare_inputs, quiet_captum, run_batches
from .ig_auto import WARN_ABOVE, check_completeness, relative_delta
from .registry import BASELINE_PARAM, Param, check_baseline
from .targets import TargetArg, check_runs_before, resolve_target

#: the parameters of :func:`layer_contributions`, in the registry's schema (for widget controls)
CONTRIBUTION_PARAMS = {p.name: p for p in (
    Param("method", "choice", "integrated_gradients",
          "captum's LayerIntegratedGradients (interpolates the layer's output) or LayerConductance",
          choices=("integrated_gradients", "conductance")),
    Param("n_steps", "int", 50, "integration steps", range=(1, 100_000)),
    BASELINE_PARAM,
    Param("internal_batch_size", "int", None, "inputs per pass; None chooses it from the memory budget",
          range=(1, None), nullable=True),
)}


@dataclass
class LayerContributions(Tabular, Figured):
    """Per-channel signed contributions of ``layer`` to a target.

    ``per_image``: (N, C) contributions summed over space. ``values``: (C,) their mean over images.
    ``ranking``: channels by ``values``, largest first. ``delta`` / ``relative_delta``: the completeness gap
    of each image (the contributions of all channels sum to F(x) - F(baseline) up to it); ``converged``: per
    image, whether that gap is within ``ig_auto.WARN_ABOVE`` (a CompletenessWarning names the others).
    """

    layer: str
    method: str
    target: str
    per_image: torch.Tensor
    values: torch.Tensor
    ranking: np.ndarray
    delta: torch.Tensor
    relative_delta: torch.Tensor
    classes: Optional[np.ndarray] = None
    converged: Optional[np.ndarray] = None
    baseline: Any = "zero"  # a name, a number or a tensor in model-input space
    settings: Dict[str, Any] = field(default_factory=dict)  # n_steps, internal_batch_size as used

    def to_numpy(self) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
        """(arrays, metadata): per-image and mean contributions, ranking and completeness as numpy; the
        layer, method, target and baselines that produced them."""
        arrays = {"per_image": self.per_image.numpy(), "values": self.values.numpy(), "ranking": self.ranking,
                  "delta": self.delta.numpy(), "relative_delta": self.relative_delta.numpy()}
        for name in ("classes", "converged"):
            if getattr(self, name) is not None:
                arrays[name] = np.asarray(getattr(self, name))
        baselines = self.baseline.numpy() if isinstance(self.baseline, torch.Tensor) else self.baseline
        return arrays, {"method": self.method, "target": self.target, "layer": self.layer, "baselines": baselines,
                        "settings": dict(self.settings)}

    def to_records(self, per_image: bool = False) -> List[Dict[str, Any]]:
        """One row per channel (its mean contribution and rank), or with ``per_image`` one per (image, channel)."""
        if per_image:
            v = self.per_image.double().numpy()
            return [{"layer": self.layer, "image": i, "channel": c, "contribution": float(v[i, c])}
                    for i in range(v.shape[0]) for c in range(v.shape[1])]
        rank = np.empty(len(self.ranking), dtype=int)
        rank[self.ranking] = np.arange(len(self.ranking))
        v = self.values.double().numpy()
        return [{"layer": self.layer, "channel": c, "contribution": float(v[c]), "rank": int(rank[c])}
                for c in range(len(v))]

    def top(self, k: int = 10, by: str = "positive") -> List[int]:
        """The ``k`` channels that push the target up most (``"positive"``), down most (``"negative"``),
        or matter most either way (``"abs"``)."""
        v = self.values.double().numpy()
        if by == "positive":
            order = np.argsort(-v, kind="stable")
        elif by == "negative":
            order = np.argsort(v, kind="stable")
        elif by == "abs":
            order = np.argsort(-np.abs(v), kind="stable")
        else:
            raise ValueError(f"by must be 'positive', 'negative' or 'abs', got {by!r}")
        return [int(c) for c in order[:k]]

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_layer_contributions``)."""
        from ...figures import plot_layer_contributions

        return plot_layer_contributions(self, ax, **style)

def layer_contributions(
    probe: Probe,
    layer: str,
    images: Stimuli,
    target: TargetArg = "predicted",
    *,
    method: str = "integrated_gradients",
    n_steps: int = 50,
    baseline: Optional[BaselineArg] = None,
    internal_batch_size: Optional[int] = None,
    progress: ProgressArg = None,
    cancel: Optional[CancelToken] = None,
    baselines: Optional[BaselineArg] = None,
) -> LayerContributions:
    """Each channel's contribution to ``target`` through ``layer``, per image and averaged, ranked.

    ``method``: ``"integrated_gradients"`` (captum's LayerIntegratedGradients: interpolates the layer's
    output) or ``"conductance"`` (LayerConductance: the input path, seen through the layer); see
    :data:`CONTRIBUTION_PARAMS`. ``baseline`` (or captum's ``baselines``; default ``"zero"``): a name, a number
    or a tensor in model-input space (see ``engine.attribution.baselines``).

    >>> c = nw.attribution.layer_contributions(probe, "layer3", stimuli, target=3)
    >>> c.top(5)  # the five channels that raise class 3 most, for the widget's bars
    """
    check_probe(probe, "layer_contributions")
    given = {k: v for k, v in (("baseline", baseline), ("baselines", baselines)) if v is not None}
    baseline = check_baseline("layer_contributions", merge_alias(given, "layer_contributions").get("baseline", "zero"))
    method, n_steps, internal_batch_size = (
        CONTRIBUTION_PARAMS[k].check("layer_contributions", v)
        for k, v in (("method", method), ("n_steps", n_steps), ("internal_batch_size", internal_batch_size)))
    n, source = prepare_inputs(probe, images)
    base = for_batches(probe.input_spec, baseline, n, probe.input_spec.size, "layer_contributions: baseline")
    layer = check_layer(probe, layer, "layer_contributions")
    plan = resolve_target(probe, target, n)
    check_runs_before(probe, layer, plan, "layer_contributions")
    module = probe.module.get_submodule(layer)
    algo_cls = LayerIntegratedGradients if method == "integrated_gradients" else LayerConductance
    with preserved(probe.module), inplace_off(probe.module):  # captum's layer input is a leaf: no in-place op on it
        ibs = internal_batch_size or max(2, min(inputs_per_pass(probe), n * n_steps))
        batch = min(n, max(1, ibs // 2))

        def step(x: torch.Tensor, rows: slice):
            with quiet_captum():
                attr, delta = algo_cls(plan.forward, module).attribute(
                    x, baselines=base(x, rows),
                    target=plan.captum_target(x, rows), n_steps=n_steps, internal_batch_size=ibs,
                    return_convergence_delta=True)
            return attr.detach().cpu(), delta.detach().reshape(-1).cpu()

        parts = run_batches(probe, source, n, batch, step, progress, cancel, f"layer contributions: {layer}")
    attr = torch.cat([a for a, _ in parts]).contiguous()  # channels-last inputs give such maps
    delta = torch.cat([d for _, d in parts])
    per_image = attr.reshape(n, attr.shape[1], -1).sum(dim=2) if attr.dim() > 2 else attr
    values = per_image.mean(dim=0)
    ranking = np.argsort(-values.double().numpy(), kind="stable")
    rel = relative_delta(attr, delta)
    converged = check_completeness(rel, WARN_ABOVE, f"layer_contributions ({method}, {layer})",
                                   np.full(n, n_steps))
    return LayerContributions(layer, method, plan.describe(target), per_image, values, ranking, delta, rel,
                              classes=None if plan.classes is None else plan.classes.copy(), converged=converged,
                              baseline=baseline, settings={"n_steps": n_steps, "internal_batch_size": ibs})
