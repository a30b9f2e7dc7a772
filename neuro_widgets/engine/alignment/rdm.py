"""Representational dissimilarity matrices (RDMs) from activations, in torch, for one layer or many.

Distances between the stimulus patterns (rows) of an (N, features) matrix:

* ``"correlation"`` (default): 1 - Pearson r between patterns (each pattern centred over its features);
* ``"euclidean"``: squared Euclidean distance divided by the number of features (rsatoolbox's convention);
* ``"cosine"``: 1 - cosine similarity.

Everything goes through the N x N Gram matrix, accumulated over feature chunks in float64, so a very wide
layer never needs more than one chunk converted at a time.
"""
from __future__ import annotations

from typing import Any, Iterator, Mapping, Optional, Sequence, Union

import numpy as np
import torch

from ..export import Figured, optional_import
from ._tensor import Device, features_2d, resolve_device

RDM_METHODS = ("correlation", "euclidean", "cosine")
#: what each method's dissimilarity is, for axis and colour-bar labels
RDM_METHOD_LABELS = {"correlation": "1 - Pearson r", "euclidean": "squared Euclidean / features",
                     "cosine": "1 - cosine similarity"}
#: bytes of the float64 block of features converted at a time when an RDM or Gram matrix is made
BLOCK_BYTES = 8 * 2 ** 20
MIN_BLOCK_FEATURES = 256  # fewer would make the Gram updates' matrix products inefficient


def block_features(n: int) -> int:
    """Features per float64 block for ``n`` stimuli: ``BLOCK_BYTES`` of them, or n / 2 (a block of half the Gram
    matrix's size) if more, so that the working memory stays within a few N x N matrices however wide the layer
    (the memory plan counts two blocks), while each Gram update, which reads and writes the whole N x N matrix,
    still adds many features."""
    return max(MIN_BLOCK_FEATURES, BLOCK_BYTES // (8 * max(n, 1)), n // 2)


def _blocks(x: torch.Tensor, device: Optional[torch.device] = None) -> Iterator[torch.Tensor]:
    """``x``'s feature blocks (N, k) in float64 on ``device`` (default ``x``'s)."""
    k = block_features(x.shape[0])
    for start in range(0, x.shape[1], k):
        yield x[:, start:start + k].to(device=device or x.device, dtype=torch.float64)


def check_rdm_method(method: str) -> str:
    if method not in RDM_METHODS:
        raise ValueError(f"unknown RDM method {method!r}; use one of {list(RDM_METHODS)}")
    return method


def _gram(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Gram matrix X Xᵀ in float64, converting a block of features at a time (:func:`block_features`)."""
    g = torch.zeros(x.shape[0], x.shape[0], dtype=torch.float64, device=device)
    for block in _blocks(x, device):
        g += block @ block.T
    return g


def mean_square(x: torch.Tensor) -> float:
    """Mean of the squared values, accumulated in float64 one block of features at a time."""
    total = 0.0
    for block in _blocks(x):
        total += float(block.pow(2).sum())
    return total / max(x.numel(), 1)


def variation_ratio(x: torch.Tensor) -> float:
    """Sum of squared deviations from the mean pattern over the sum of squares (0 for identical patterns,
    1 for patterns with zero mean); NaN for all-zero activations. Float64, one block of features at a time."""
    dev, total = 0.0, 0.0
    for block in _blocks(x):
        total += float(block.pow(2).sum())
        dev += float((block - block.mean(0)).pow(2).sum())
    return dev / total if total > 0 else float("nan")


def _rdm_one(x: torch.Tensor, method: str, device: torch.device) -> torch.Tensor:
    n, d = x.shape
    if method == "correlation":
        sums = torch.zeros(n, dtype=torch.float64, device=device)
        for block in _blocks(x, device):
            sums += block.sum(1)
        g = _gram(x, device) - torch.outer(sums, sums) / d  # Gram of row-centred patterns
    else:
        g = _gram(x, device)
    sq = torch.diagonal(g).clone()
    if method == "euclidean":
        out = (sq[:, None] + sq[None, :] - 2 * g).clamp_min(0) / d
    else:
        norm = sq.clamp_min(0).sqrt()
        if (norm == 0).any():
            bad = torch.nonzero(norm == 0).flatten()[:10].tolist()
            what = "constant" if method == "correlation" else "all-zero"
            raise ValueError(f"{method} distance is undefined for {what} patterns (stimulus rows {bad}); "
                             "use method='euclidean' or drop those stimuli")
        out = 1 - g / torch.outer(norm, norm)
    out = (out + out.T) / 2
    out.fill_diagonal_(0)
    return out


class ModelRDMs(dict, Figured):
    """``{layer: (N, N) float64 tensor}`` of one model, with the distance and the stimulus ids they cover.

    A plain dict otherwise; :meth:`plot` draws them, :meth:`to_rsatoolbox` gives them to rsatoolbox as one
    ``RDMs`` object.
    """

    def __init__(self, rdms: Mapping[str, torch.Tensor], method: str, stimulus_ids: Optional[Sequence[str]] = None,
                 model: Optional[str] = None) -> None:
        super().__init__(rdms)
        n = next(iter(self.values())).shape[0] if self else 0
        self.method = method
        self.stimulus_ids = [str(i) for i in range(n)] if stimulus_ids is None else list(stimulus_ids)
        self.model = model

    def plot(self, ax: Any = None, *, layers: Optional[Sequence[str]] = None,
             categories: Optional[Sequence[Any]] = None, sort: bool = True, **style: Any) -> Any:
        """The layers' RDMs side by side, each with its colour bar labelled by the distance; ``categories`` (one
        label per stimulus) groups the stimuli into labelled bands. ``ax``: draw one layer's RDM there (give
        ``layers=[name]``)."""
        from ...figures import plot_rdm, plot_rdms

        names = list(self) if layers is None else [str(name) for name in layers]
        unknown = [name for name in names if name not in self]
        if unknown or not names:
            raise ValueError(f"no RDM of layer(s) {unknown or names} here; these have one: {list(self)}")
        label = RDM_METHOD_LABELS[self.method]
        if ax is not None:
            if len(names) != 1:
                raise ValueError(f"ax= draws one RDM, got {len(names)} layers: pass layers=[name] (or no ax)")
            return plot_rdm(self[names[0]], ax, categories=categories, sort=sort, label=label,
                            **{"title": names[0], **style})
        return plot_rdms({name: self[name] for name in names}, categories=categories, sort=sort, label=label,
                         **style)
    def to_rsatoolbox(self) -> Any:
        """An ``rsatoolbox.rdm.RDMs``: one RDM per layer (rdm descriptor ``layer``), the stimulus ids as pattern
        descriptor ``stimulus_id``, the distance as ``dissimilarity_measure`` (the same numbers: rsatoolbox's
        ``calc_rdm`` gives them for "correlation" and "euclidean"), the model as descriptor ``model``."""
        rdm_module = optional_import("rsatoolbox.rdm", "rsatoolbox", "to_rsatoolbox()")
        if not self:
            raise ValueError("no RDMs to convert: compute at least one layer's RDM first")
        n = len(self.stimulus_ids)
        i, j = np.triu_indices(n, 1)  # squareform order, as rsatoolbox stores them
        vectors = np.stack([np.asarray(m.detach().cpu(), dtype=np.float64)[i, j] for m in self.values()])
        return rdm_module.RDMs(vectors, dissimilarity_measure=self.method,
                               rdm_descriptors={"layer": list(self)},
                               pattern_descriptors={"stimulus_id": list(self.stimulus_ids)},
                               descriptors={"model": self.model or "model"})


def rdm(features: Union[Any, Mapping[str, Any]], method: str = "correlation",
        device: Device = None) -> Union[torch.Tensor, ModelRDMs]:
    """RDM(s) of activations: an (N, ...) array gives an (N, N) float64 tensor; a mapping layer -> array
    (for example the result of ``probe.activations``) gives a :class:`ModelRDMs` dict of RDMs, which carries
    the activations' stimulus ids and converts to rsatoolbox (``.to_rsatoolbox()``).

    >>> acts = probe.activations(stimuli, ["layer2", "layer3"])
    >>> rdms = nw.alignment.rdm(acts)                 # {"layer2": (N, N), "layer3": (N, N)}
    >>> rdms.to_rsatoolbox()                          # rsatoolbox.rdm.RDMs, 2 RDMs, stimulus ids attached
    """
    check_rdm_method(method)
    if isinstance(features, Mapping):
        return ModelRDMs({name: rdm(x, method, device) for name, x in features.items()}, method,
                         getattr(features, "stimulus_ids", None), getattr(features, "model", None))
    if isinstance(features, (list, tuple)) and features and isinstance(features[0], torch.Tensor):
        raise TypeError("got a list of tensors (a module called several times?); pick one call with 'name@i'")
    x = features_2d(features, "rdm(features)", dtype=None)
    return _rdm_one(x, method, resolve_device(device, x.device))
