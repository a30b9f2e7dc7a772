"""Per-neuron predictivity of one layer from an encoding sweep: each neuron's held-out r (mean over splits), its
reliability, its ceiled value, and the layer curve of median ceiled predictivity over the sweep's layers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..describe import brief
from ..export import Figured, Tabular
from .ceiling import CEILING_FORMULA_TEXT, CEILING_FORMULAS, DEFAULT_CEILING_FORMULA, ceiled

#: the held-out r at which a neuron of reliability c scores ceiled = 1, per formula
R_AT_CEILING = {"r/c": lambda c: c, "(r/c)^2": lambda c: c, "r^2/c": np.sqrt, "r/sqrt(c)": np.sqrt}


def finite_median(values: Any) -> float:
    """The median of the finite values; NaN (without a warning) when there are none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else np.nan


@dataclass
class NeuronPredictivity(Tabular, Figured):
    """Held-out r per neuron of ``layer`` against each neuron's ``reliability`` (split-half consistency)."""

    layer: str
    ids: List[str]
    r: np.ndarray                # (neurons,) held-out Pearson r, mean over splits
    reliability: np.ndarray      # (neurons,)
    formula: str                 # the ceiling formula's name (CEILING_FORMULAS)
    layers: List[str]            # the sweep's layers (the curve)
    median_ceiled: np.ndarray    # (layers,) median ceiled value of each layer

    def __post_init__(self) -> None:
        self.ceiled = np.array([ceiled(float(v), float(c), self.formula) for v, c in zip(self.r, self.reliability)])

    @property
    def formula_text(self) -> str:
        return CEILING_FORMULA_TEXT[self.formula]

    @property
    def ceiling_r(self) -> float:
        """The held-out r at which the median-reliability neuron's ceiled value is 1 (the ceiling on the r axis)."""
        median = finite_median(self.reliability)
        return float(R_AT_CEILING[self.formula](median)) if median > 0 else np.nan  # no ceiling without reliability

    def to_records(self) -> List[Dict[str, Any]]:
        """One row per neuron: held-out r, reliability and ceiled value."""
        return [{"layer": self.layer, "neuron": i, "r": float(r), "reliability": float(c), "ceiled": float(v)}
                for i, r, c, v in zip(self.ids, self.r, self.reliability, self.ceiled)]

    def __repr__(self) -> str:
        return (f"NeuronPredictivity({self.layer!r}: {len(self.ids)} neurons, median held-out r "
                f"{finite_median(self.r):.3f}, median reliability {finite_median(self.reliability):.3f})")

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_neuron_predictivity``)."""
        from ...figures import plot_neuron_predictivity

        return plot_neuron_predictivity(self, ax, **style)

def neuron_predictivity(result: Any, layer: str, reliability: Sequence[float], ids: Optional[Sequence[str]] = None,
                        formula: str = DEFAULT_CEILING_FORMULA["encoding"]) -> NeuronPredictivity:
    """Per-neuron predictivity of ``layer`` from an encoding ``SweepResult`` (its trained rows' per-neuroid raw
    scores), given each neuron's ``reliability``."""
    if formula not in CEILING_FORMULAS:
        raise ValueError(f"unknown ceiling formula {formula!r}; use one of {list(CEILING_FORMULAS)}")
    rows = {r.layer: r for r in getattr(result, "rows", []) if r.model == "trained"}
    if getattr(result, "metric", None) != "encoding" or not rows:
        raise TypeError(f"neuron_predictivity needs an encoding sweep (nw.alignment.sweep(..., metric='encoding')), "
                        f"got {brief(result)}")
    if layer not in rows:
        raise KeyError(f"layer {layer!r} is not in the sweep; its layers are {list(rows)}")
    rel = np.asarray(reliability, dtype=np.float64)

    def per_neuron(name: str) -> np.ndarray:
        return np.nanmean(np.asarray(rows[name].raw, dtype=np.float64), axis=0)

    r = per_neuron(layer)
    if rel.shape != r.shape:
        raise ValueError(f"reliability has {rel.shape} values but the sweep scored {len(r)} neurons")
    ids = [str(i) for i in range(len(r))] if ids is None else [str(i) for i in ids]
    layers = list(rows)
    curve = np.array([finite_median([ceiled(float(v), float(c), formula) for v, c in zip(per_neuron(k), rel)])
                      for k in layers])
    return NeuronPredictivity(layer, ids, r, rel, formula, layers, curve)
