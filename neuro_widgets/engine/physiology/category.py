"""Category selectivity of every channel, as fMRI localizers measure it (FFA, EBA, PPA, VWFA).

For each domain (faces, bodies, places, words by default, the fLoc domains of Stigliani et al. 2015) and each
channel (its spatial-mean response), ``d' = (mean_domain - mean_rest) / sqrt((var_domain + var_rest) / 2)``
against every other image. A channel is *selective* for a domain when ``d' > threshold`` and its one-sided
permutation p-value (image labels shuffled, the same shuffles for every channel) is below ``alpha``. For the
layer, the fraction of channels with ``d' > threshold`` is compared with its distribution under the same
shuffles (``fraction_p``). ``control="random"`` repeats everything on a randomly initialised copy of the
model: selectivity that also appears there comes from the architecture and the image statistics, not learning.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..alignment.control import random_copy
from ..describe import brief
from ..export import Figured, Tabular
from ..probe import Probe, positive_int
from ..progress import CancelToken, ProgressArg, validate_cancel
from ..stimuli import StimulusSet
from .responses import check_probe_layer

#: fLoc domains -> their categories (``nw.datasets.floc()`` metadata "category")
FLOC_DOMAINS: Dict[str, Tuple[str, ...]] = {
    "faces": ("adult", "child"),
    "bodies": ("body", "limb"),
    "places": ("corridor", "house"),
    "words": ("word", "number"),
}


def d_prime(responses: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """d' (M, C) of responses (N, C) for each boolean image mask (M, N) against the other images."""
    a = np.asarray(responses, dtype=np.float64)
    m = np.asarray(masks, dtype=np.float64)
    n_in, n_out = m.sum(1, keepdims=True), (1 - m).sum(1, keepdims=True)
    mean_in, mean_out = m @ a / n_in, (1 - m) @ a / n_out
    var_in = (m @ a ** 2 - n_in * mean_in ** 2) / (n_in - 1)
    var_out = ((1 - m) @ a ** 2 - n_out * mean_out ** 2) / (n_out - 1)
    pooled = np.sqrt(np.maximum((var_in + var_out) / 2, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pooled > 0, (mean_in - mean_out) / np.where(pooled > 0, pooled, 1), 0.0)


@dataclass
class CategorySelectivity(Tabular, Figured):
    """Per channel x domain: d', permutation p, selective; per domain: fraction selective and its p."""

    layer: str
    domains: Tuple[str, ...]
    d_prime: np.ndarray = field(repr=False)  # (C, D)
    p_value: np.ndarray = field(repr=False)  # (C, D)
    selective: np.ndarray = field(repr=False)  # (C, D) bool
    fraction: np.ndarray  # (D,) fraction of channels with d' > threshold
    fraction_p: np.ndarray  # (D,)
    category_means: Dict[str, np.ndarray] = field(repr=False)  # category -> (C,) mean response
    threshold: float = 1.0
    alpha: float = 0.05
    n_perm: int = 1000
    control: Optional["CategorySelectivity"] = field(default=None, repr=False)

    def table(self) -> Dict[str, Dict[str, float]]:
        """Per domain: fraction (d' > threshold), its permutation p, the fraction selective (d' and p), the
        best channel and its d' — and the control's fraction when there is one."""
        out = {}
        for j, d in enumerate(self.domains):
            best = int(np.argmax(self.d_prime[:, j]))
            row = {"fraction": float(self.fraction[j]), "fraction_p": float(self.fraction_p[j]),
                   "fraction_selective": float(self.selective[:, j].mean()), "best_channel": best,
                   "best_d_prime": float(self.d_prime[best, j])}
            if self.control is not None:
                row["control_fraction"] = float(self.control.fraction[j])
            out[d] = row
        return out

    def to_records(self) -> List[Dict[str, Any]]:
        """One row per (channel, domain): d', its permutation p and whether the channel counts as selective
        (``table()`` has the per-domain summary)."""
        return [{"layer": self.layer, "channel": c, "domain": d, "d_prime": float(self.d_prime[c, j]),
                 "p_value": float(self.p_value[c, j]), "selective": bool(self.selective[c, j])}
                for c in range(self.d_prime.shape[0]) for j, d in enumerate(self.domains)]

    def channel(self, c: int) -> Dict[str, Any]:
        cats = list(self.category_means)
        return {"channel": int(c), "layer": self.layer,
                "d_prime": {d: float(self.d_prime[c, j]) for j, d in enumerate(self.domains)},
                "p_value": {d: float(self.p_value[c, j]) for j, d in enumerate(self.domains)},
                "selective_for": [d for j, d in enumerate(self.domains) if self.selective[c, j]],
                "category_means": {"x": cats, "y": np.array([self.category_means[k][c] for k in cats]),
                                   "x_label": "fLoc category", "y_label": "mean response (spatial mean)"}}

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_category_selectivity``)."""
        from ...figures import plot_category_selectivity

        return plot_category_selectivity(self, ax, **style)

def _check_domains(domains: Any, categories: np.ndarray) -> Dict[str, Tuple[str, ...]]:
    if not isinstance(domains, Mapping) or not domains:
        raise TypeError(f"domains must be a dict {{domain: [categories]}}, got {brief(domains)}")
    present = set(categories.tolist())
    out = {}
    for name, cats in domains.items():
        cats = (cats,) if isinstance(cats, str) else tuple(cats)
        missing = [c for c in cats if c not in present]
        if missing or not cats:
            raise ValueError(f"domain {name!r} names categories {missing or cats} that are not in the stimuli's "
                             f"'category' metadata; present: {sorted(present)}")
        out[str(name)] = cats
    return out


def category_selectivity(probe: Probe, layer: str, stimuli: Optional[StimulusSet] = None,
                         domains: Mapping[str, Sequence[str]] = FLOC_DOMAINS, category_key: str = "category",
                         threshold: float = 1.0, alpha: float = 0.05, n_perm: int = 1000,
                         control: Optional[str] = None, seed: int = 0, batch_size: int = 64,
                         progress: ProgressArg = None, cancel: Optional[CancelToken] = None) -> CategorySelectivity:
    """Category selectivity of every channel of ``layer`` (see the module docstring). ``stimuli`` default:
    ``nw.datasets.floc()``; any StimulusSet with a ``category_key`` metadata column works."""
    check_probe_layer(probe, layer)
    if stimuli is None:
        from ...data.datasets import floc

        stimuli = floc()
    if not isinstance(stimuli, StimulusSet) or category_key not in stimuli.metadata:
        raise ValueError(f"stimuli must be a StimulusSet with a {category_key!r} metadata column (e.g. "
                         f"nw.datasets.floc()), got {brief(stimuli)}")
    if control not in (None, "random"):
        raise ValueError(f"control must be None or 'random' (a randomly initialised copy), got {brief(control)}")
    n_perm = positive_int(n_perm, "n_perm")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    validate_cancel(cancel)
    categories = np.asarray(stimuli.metadata[category_key]).astype(str)
    doms = _check_domains(domains, categories)
    masks = np.stack([np.isin(categories, cats) for cats in doms.values()])
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(len(categories)) for _ in range(n_perm)])

    def measure(p: Probe) -> CategorySelectivity:
        acts = p.activations(stimuli, [layer], reduce="avgpool", batch_size=batch_size, progress=progress,
                             cancel=cancel)[layer]
        a = acts.reshape(len(acts), -1).double().numpy()
        obs = d_prime(a, masks).T  # (C, D)
        null = np.stack([d_prime(a, masks[:, perms[i]]) for i in range(n_perm)])  # (n_perm, D, C)
        p_value = (1 + (null >= obs.T[None]).sum(0)).T / (1 + n_perm)
        fraction = (obs > threshold).mean(0)
        null_fraction = (null > threshold).mean(2)  # (n_perm, D)
        fraction_p = (1 + (null_fraction >= fraction[None]).sum(0)) / (1 + n_perm)
        means = {c: a[categories == c].mean(0) for c in dict.fromkeys(categories.tolist())}
        return CategorySelectivity(layer, tuple(doms), obs, p_value, (obs > threshold) & (p_value < alpha),
                                   fraction, fraction_p, means, float(threshold), float(alpha), n_perm)

    result = measure(probe)
    if control == "random":
        result.control = measure(probe.sibling(random_copy(probe.module, seed), "random"))
    return result
