"""The model-randomisation sanity check of Adebayo et al. (2018), cascading from the top layer down.

A faithful attribution method must depend on the weights: as the layers of a trained model are
re-initialised one after another, starting at the output, its maps should stop resembling the original
ones. Each step here re-initialises one more block of a private deep copy (the user's model is never
touched) and reports the Spearman rank correlation between the original and the new map of every image.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from scipy.stats import rankdata

from ..export import Figured, Tabular
from ..hooks import layer_list, resolve_layers
from ..model_state import private_copy
from ..probe import Probe, Stimuli
from ..progress import CancelToken, ProgressArg, check_cancel, make_reporter
from ..rng import check_seed, reinitialise
from .core import check_probe
from .methods import attribute
from .registry import get_method, resolve_params
from .targets import TargetArg


@dataclass
class SanityCurve(Tabular, Figured):
    """The cascade: ``steps[k]`` names the block re-initialised at step k (step 0 is the trained model).

    ``rank_corr`` (steps, N): Spearman correlation of each image's signed map with its original map;
    ``rank_corr_abs`` the same for absolute maps (NaN where a map is constant). ``correlations``: the mean
    over images per step, the curve a widget plots.
    """

    method: str
    steps: List[str]
    rank_corr: np.ndarray
    rank_corr_abs: np.ndarray

    @property
    def correlations(self) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a step where every map is constant gives NaN
            return np.nanmean(self.rank_corr, axis=1)

    def to_records(self) -> List[Dict[str, Any]]:
        """One row per (step, image): the re-initialised block and the rank correlations with the original map."""
        return [{"method": self.method, "step": k, "reinitialised": block, "image": i,
                 "rank_corr": float(self.rank_corr[k, i]), "rank_corr_abs": float(self.rank_corr_abs[k, i])}
                for k, block in enumerate(self.steps) for i in range(self.rank_corr.shape[1])]

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_sanity_check``)."""
        from ...figures import plot_sanity_check

        return plot_sanity_check(self, ax, **style)

def _rank_corr(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def default_blocks(probe: Probe) -> List[str]:
    """Every module with parameters of its own, from the output back to the input."""
    modules = dict(probe.module.named_modules())
    return [n for n in reversed(probe.layer_names()) if any(True for _ in modules[n].parameters(recurse=False))]


def sanity_check(
    probe: Probe,
    images: Stimuli,
    method: str = "saliency",
    target: TargetArg = "predicted",
    *,
    blocks: Optional[Sequence[str]] = None,
    seed: int = 0,
    progress: ProgressArg = None,
    cancel: Optional[CancelToken] = None,
    **params: Any,
) -> SanityCurve:
    """Cascading randomisation: re-initialise ``blocks`` one after another (default: every module with
    weights, top layer first) in a private copy, and correlate each image's map with the original.

    The target is fixed before randomising ("predicted" means the trained model's prediction).

    >>> curve = nw.attribution.sanity_check(probe, stimuli[:8], "integrated_gradients")
    >>> list(zip(curve.steps, curve.correlations.round(2)))
    """
    check_probe(probe, "sanity_check")
    spec = get_method(method)
    resolve_params(spec, params)  # bad parameters fail before any work
    seed = check_seed(seed, "sanity_check: seed")
    if blocks is None:
        blocks = default_blocks(probe)
    else:
        blocks = layer_list(blocks, "blocks")  # one name is one block, not a list of its letters
        resolve_layers(probe.module, blocks)
    if not blocks:
        raise ValueError("the model has no parameters to randomise")
    report = make_reporter(progress, f"sanity check: {spec.name}")
    original = attribute(probe, images, spec.name, target, cancel=cancel, **params)
    fixed_target: Any = original.classes.tolist() if original.classes is not None else target
    twin = private_copy(probe.module)
    for p in twin.parameters():
        p.requires_grad_(False)
    twin_probe = probe.sibling(twin, f"{probe.name} (randomised copy)")
    base = original.maps().double().numpy().reshape(len(original), -1)
    rows = [[_rank_corr(a, a) for a in base]]  # 1, or NaN for a constant map
    rows_abs = [[_rank_corr(np.abs(a), np.abs(a)) for a in base]]
    total = len(blocks)
    report(0, total)
    for k, name in enumerate(blocks):
        check_cancel(cancel)
        reinitialise(twin.get_submodule(name).modules(), seed + k)
        maps = attribute(twin_probe, images, spec.name, fixed_target, cancel=cancel, **params)
        new = maps.maps().double().numpy().reshape(len(base), -1)
        rows.append([_rank_corr(a, b) for a, b in zip(base, new)])
        rows_abs.append([_rank_corr(np.abs(a), np.abs(b)) for a, b in zip(base, new)])
        report(k + 1, total)
    return SanityCurve(spec.name, ["original", *blocks], np.array(rows), np.array(rows_abs))
