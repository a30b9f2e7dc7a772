"""A model's layer RDMs for a sweep, computed and prepared once and shared by every region.

Each layer's RDM is kept condensed (the N(N-1)/2 upper triangle, half a square matrix). A layer whose RDM is
undefined (a constant pattern under the correlation distance) or numerically constant — every dissimilarity
equal to within ``CONSTANT_TOL`` of the distance's scale, as for identical images or zero-initialised
weights, where what is left is floating-point noise — is not scored: it gets a note instead. The rows that
score all stimuli and the sort orders of the bootstrap are computed once per layer, not per region.

Those rows and sort orders take 3.5 times the RDMs' own memory. When they cannot all be held (thousands of
stimuli, every layer: ``group`` smaller than the number of layers, set by the sweep's memory plan), they are
made for a group of layers at a time, used and dropped, and made again for each region: every layer's values
are the same either way.
"""
from __future__ import annotations

from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

import numpy as np
import torch

from .compare import Prepared, comparable_rows, compare_vectors
from .rdm import _rdm_one, mean_square, variation_ratio

CONSTANT_TOL = 1e-10


def condensed_positions(idx: np.ndarray, n: int) -> torch.Tensor:
    """Positions in an N-stimulus condensed RDM of the pairs (a < b) of the stimuli ``idx`` (in their order)."""
    k = len(idx)
    i, j = np.triu_indices(k, 1)
    a, b = np.asarray(idx)[i], np.asarray(idx)[j]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return torch.as_tensor(lo * n - lo * (lo + 1) // 2 + hi - lo - 1)


def constant_note(v: torch.Tensor, method: str, scale: float) -> str:
    """A note if the condensed RDM ``v`` is (numerically) constant, else ""."""
    spread = float(v.max() - v.min())
    if spread <= CONSTANT_TOL * scale:
        return (f"not scored: the layer's RDM is constant (every {method} dissimilarity within {spread:.2g} of "
                "the others: identical or constant activations, e.g. identical images or zero-initialised weights)")
    return ""


def constant_features_note(x: torch.Tensor) -> str:
    """A note if the activations (N, D) are the same for every stimulus to within ``CONSTANT_TOL`` of their
    mean square (or all zero), else ""."""
    ratio = variation_ratio(x)
    if not ratio > CONSTANT_TOL:  # NaN (all zero) included
        return ("not scored: the layer's activations are constant over the stimuli (relative variation "
                f"{ratio:.2g}: identical images or zero-initialised weights?)")
    return ""


class LayerRDMs:
    """Condensed RDMs (L, M) of the scorable layers of one model; ``notes`` names the others."""

    def __init__(self, feats: Iterable[torch.Tensor], n_layers: int, n: int, method: str, device: torch.device,
                 group: Optional[int] = None) -> None:
        """``feats``: the ``n_layers`` layers' activations (``n`` stimuli each), taken one at a time, so that a
        stream made a group of layers at a time never holds them all."""
        self.notes: Dict[int, str] = {}
        self.n = n
        v = torch.empty(n_layers, self.n * (self.n - 1) // 2, dtype=torch.float64, device=device)
        i_up, j_up = torch.triu_indices(self.n, self.n, 1, device=device)
        flat = i_up * self.n + j_up  # squareform order in a flattened N x N matrix
        del i_up, j_up
        kept = 0
        for i, f in enumerate(feats):
            try:
                torch.index_select(_rdm_one(f, method, device).flatten(), 0, flat, out=v[kept])
            except ValueError as err:  # e.g. a constant pattern has no correlation distance
                self.notes[i] = f"not scored: {err}"
                continue
            # correlation and cosine distances are on [0, 2]; squared Euclidean / d scales with the mean square
            scale = 1.0 if method != "euclidean" else 2 * mean_square(f)
            note = constant_note(v[kept], method, scale)
            if note:
                self.notes[i] = note
            else:
                kept += 1
        self.valid = [i for i in range(n_layers) if i not in self.notes]
        self.v = v[:kept]
        self.group = kept if group is None else max(1, min(int(group), kept))
        self._rows: Dict[Tuple[str, bytes], torch.Tensor] = {}
        self._prepared: Dict[str, Prepared] = {}

    @property
    def whole(self) -> bool:
        """Every layer's rows and sort orders are held at once (and kept for the next region)."""
        return self.group >= len(self.v)

    def groups(self, layers: Optional[List[int]] = None) -> List[Union[slice, List[int]]]:
        """``layers`` (default all, in order) a group at a time."""
        if layers is None:
            return [slice(i, i + self.group) for i in range(0, len(self.v), self.group)]
        return [layers[i:i + self.group] for i in range(0, len(layers), self.group)]

    def everything(self, idx: Optional[np.ndarray]) -> bool:
        """``idx`` is every stimulus in order (None counts as that)."""
        return idx is None or (len(idx) == self.n and np.array_equal(idx, np.arange(self.n)))

    def sub(self, idx: np.ndarray, layers: Union[None, slice, List[int]] = None) -> torch.Tensor:
        v = self.v if layers is None else self.v[layers]
        if self.everything(idx):
            return v
        return v[:, condensed_positions(idx, self.n).to(v.device)]

    def compare(self, brain: torch.Tensor, idx: np.ndarray, method: str) -> torch.Tensor:
        """(layers, subjects) similarities on the stimuli ``idx`` with the condensed brain RDMs (S, M)."""
        if method == "tau-a":
            return torch.cat([compare_vectors(self.sub(idx, g), brain, method) for g in self.groups()])
        brain_rows = comparable_rows(brain, method).T
        if not self.whole:
            return torch.cat([comparable_rows(self.sub(idx, g), method) @ brain_rows for g in self.groups()])
        key = (method, np.asarray(idx).tobytes())
        if key not in self._rows:  # once per layer and stimulus subset, shared by the regions
            self._rows[key] = comparable_rows(self.sub(idx), method)
        return self._rows[key] @ brain_rows

    def prepared(self, method: str, layers: Optional[List[int]] = None,
                 idx: Optional[np.ndarray] = None) -> Iterator[Prepared]:
        """The bootstrap's preparation (sort orders) of ``layers`` (default all) on the stimuli ``idx`` (default
        all), a group at a time; that of all layers on all stimuli is made once and kept when it fits."""
        if layers is None and self.everything(idx) and self.whole:
            if method not in self._prepared:
                self._prepared[method] = Prepared(self.v, method)
            yield self._prepared[method]
            return
        idx = np.arange(self.n) if idx is None else idx
        for g in self.groups(layers):
            yield Prepared(self.sub(idx, g), method)

    def nbytes(self) -> int:
        return self.v.numel() * 8
