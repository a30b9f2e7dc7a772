"""Neural data at the level of representational dissimilarity matrices (RDMs)."""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch

from .describe import brief
from .stimuli import stimulus_ids as stimulus_ids_of


def check_rdm_stack(t: torch.Tensor, where: str, atol: float = 1e-8) -> torch.Tensor:
    """A (K, N, N) view of one RDM (N, N) or a stack, checked: square, not empty, at least 4 stimuli, finite,
    symmetric and with a zero diagonal (both to ``atol`` of the largest value). The one set of RDM checks, for
    neural data (:func:`validate_rdms`) and every RDM the alignment engine compares."""
    if t.dim() == 2:
        t = t[None]
    if t.dim() != 3 or t.shape[1] != t.shape[2]:
        raise ValueError(f"{where}: RDMs must be square, (N, N) or a stack (K, N, N); got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{where}: the stack of RDMs is empty (shape {tuple(t.shape)}); give at least one RDM")
    if t.shape[1] < 4:
        raise ValueError(f"{where}: RDMs need at least 4 stimuli, got {t.shape[1]}")
    for bad_values, what, fix in ((torch.isnan(t), "NaN", "fill or drop those entries first"),
                                  (torch.isinf(t), "infinite values", "fix or drop those RDMs")):
        if bool(bad_values.any()):
            bad = torch.nonzero(bad_values.flatten(1).any(1)).flatten().tolist()
            raise ValueError(f"{where}: RDMs contain {what} (in RDM(s) {bad[:10]}); {fix}")
    scale = max(float(t.abs().max()), 1e-12)
    asym = float((t - t.transpose(1, 2)).abs().max())
    if asym > atol * scale:
        raise ValueError(f"{where}: RDMs must be symmetric; largest |d[i,j] - d[j,i]| is {asym:.3g}")
    diagonal = torch.diagonal(t, dim1=1, dim2=2)
    diag = float(diagonal.abs().max())
    if diag > atol * scale:
        hint = (" This looks like a similarity (correlation) matrix: pass 1 - r as dissimilarities."
                if torch.allclose(diagonal, torch.ones_like(diagonal)) else "")
        raise ValueError(f"{where}: RDMs must have a zero diagonal; largest |d[i,i]| is {diag:.3g}.{hint}")
    return t


def validate_rdms(rdms: np.ndarray, where: str, atol: float = 1e-8) -> np.ndarray:
    """float64 (S, N, N) stack, exactly symmetric with a zero diagonal; clear errors otherwise."""
    try:
        arr = np.asarray(rdms, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{where}: RDMs must be a numeric array (N, N) or (subjects, N, N), got {brief(rdms)}") from err
    arr = check_rdm_stack(torch.from_numpy(arr), where, atol).numpy()
    arr = (arr + arr.transpose(0, 2, 1)) / 2.0
    idx = np.arange(arr.shape[1])
    arr[:, idx, idx] = 0.0
    return arr


class NeuralRDMs:
    """RDM-level neural data: per brain region, one RDM per subject (or session), over named stimuli.

    >>> ds.neural.regions          # ['mIT', 'hIT']
    >>> ds.neural.rdms("hIT")      # float64 (8, 92, 92)
    >>> ds.neural.labels("hIT")    # [{'subject': 'BE', 'session': 1}, ...]
    """

    def __init__(self, rdms: Mapping[str, np.ndarray], stimulus_ids: Sequence[str],
                 labels: Optional[Mapping[str, Sequence[Mapping[str, object]]]] = None,
                 description: str = "") -> None:
        if not isinstance(rdms, Mapping):
            raise TypeError(f"NeuralRDMs takes a dict {{region: RDMs (subjects, N, N)}}, e.g. "
                            f"NeuralRDMs({{'IT': rdms}}, stimulus_ids); got {brief(rdms)}")
        if not rdms:
            raise ValueError("NeuralRDMs needs at least one region")
        if labels is not None and not isinstance(labels, Mapping):
            raise TypeError(f"NeuralRDMs: labels must be a dict {{region: [one dict per RDM]}}, got {brief(labels)}")
        unknown = [r for r in (labels or {}) if r not in rdms]
        if unknown:
            raise ValueError(f"NeuralRDMs: labels for region(s) {unknown} that have no RDMs; the regions are "
                             f"{list(rdms)}")
        self.stimulus_ids: List[str] = stimulus_ids_of(stimulus_ids, None, "NeuralRDMs", ("stimulus", "stimuli"))
        self.description = description
        self._rdms: Dict[str, np.ndarray] = {}
        self._labels: Dict[str, List[Dict[str, object]]] = {}
        for region, stack in rdms.items():
            if not isinstance(region, str):
                raise TypeError(f"NeuralRDMs: region names must be strings, got {brief(region)}")
            arr = validate_rdms(stack, f"region {region!r}")
            if arr.shape[1] != len(self.stimulus_ids):
                raise ValueError(
                    f"region {region!r}: RDMs are {arr.shape[1]}x{arr.shape[1]} but there are "
                    f"{len(self.stimulus_ids)} stimulus ids; give one id per RDM row"
                )
            arr.setflags(write=False)
            self._rdms[region] = arr
            lab = list((labels or {}).get(region) or [{"subject": str(i)} for i in range(len(arr))])
            if len(lab) != len(arr):
                raise ValueError(f"region {region!r}: {len(lab)} labels for {len(arr)} RDMs; give one label dict "
                                 "per RDM")
            bad = [x for x in lab if not isinstance(x, Mapping)]
            if bad:
                raise TypeError(f"region {region!r}: each label must be a dict such as {{'subject': 'S1'}}, got "
                                f"{brief(bad[0])}")
            self._labels[region] = [dict(x) for x in lab]

    @property
    def regions(self) -> List[str]:
        return list(self._rdms)

    def _check(self, region: str) -> None:
        if region not in self._rdms:
            raise KeyError(f"unknown region {region!r}; this data set has {self.regions}")

    def rdms(self, region: str) -> np.ndarray:
        """float64 (subjects, N, N), read-only."""
        self._check(region)
        return self._rdms[region]

    def labels(self, region: str) -> List[Dict[str, object]]:
        self._check(region)
        return [dict(x) for x in self._labels[region]]

    def __repr__(self) -> str:
        parts = ", ".join(f"{r}: {a.shape[0]} RDM(s)" for r, a in self._rdms.items())
        return f"NeuralRDMs({len(self.stimulus_ids)} stimuli; {parts})"
