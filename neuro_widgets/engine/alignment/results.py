"""Result objects of a sweep: one row per (model, region, layer), the best layer per region, and the
trained-minus-control differences. Raw values (per subject / per neuroid / bootstrap samples) are kept."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

from ..export import Figured, Tabular, optional_import, plain_attrs

#: the per-row numbers of a sweep, one variable each in :meth:`SweepResult.to_xarray`
_ROW_FIELDS = ("score", "ci_low", "ci_high", "ceiling", "ceiled", "n_stimuli")


@dataclass
class LayerScore:
    """The score of one layer of one model for one region."""

    model: str                    # "trained" (the user's model) or "random" (the control)
    region: str
    layer: str
    score: float
    ci_low: float
    ci_high: float
    ceiling: float                # NaN where no ceiling can be computed (see ``ceiling_note``)
    ceiled: float
    n_stimuli: int
    raw: np.ndarray = field(repr=False)  # per subject (RSA) or (splits, neuroids) (encoding) or (1,) (CKA)
    ceiling_note: str = ""
    note: str = ""                # why the layer was not scored (score NaN), e.g. constant activations


@dataclass
class BestLayer:
    """The layer chosen on the selection half and its held-out score.

    With cross-fitting the halves swap roles: ``fold_layers`` / ``fold_scores`` hold the layer chosen on each
    half and its score on the other half, and ``score`` is their mean. ``layer`` is the one chosen on the
    selection half of ``SweepResult.split``.
    """

    model: str
    region: str
    layer: str
    selection_score: float
    score: float
    ci_low: float
    ci_high: float
    ceiling: float
    ceiled: float
    raw: Any = field(repr=False)
    samples: Optional[np.ndarray] = field(default=None, repr=False)  # resampled held-out scores (paired)
    fold_layers: List[str] = field(default_factory=list)
    fold_scores: List[float] = field(default_factory=list)


@dataclass
class Difference:
    """Trained minus control, best layer vs best layer, held-out scores, with a paired CI."""

    region: str
    trained_layer: str
    control_layer: str
    difference: float
    ci_low: float
    ci_high: float
    method: str

    @property
    def excludes_zero(self) -> bool:
        return self.ci_low > 0 or self.ci_high < 0


@dataclass
class SweepResult(Tabular, Figured):
    """Every layer x every region (x trained/control), plus the held-out best layer per region.

    >>> res = nw.alignment.sweep(probe, ds, control="random")
    >>> res.to_pandas()            # one row per (model, region, layer)
    >>> res.to_xarray()            # score, CIs, ceilings over (model, region, layer); the split over stimulus
    >>> res.best, res.differences, res.split
    """

    metric: str
    rows: List[LayerScore]
    best: List[BestLayer]
    differences: List[Difference]
    split: Dict[str, Any]          # selection / evaluation stimulus ids and the seed
    settings: Dict[str, Any]

    def to_records(self, raw: bool = False) -> List[Dict[str, Any]]:
        out = []
        for row in self.rows:
            d = asdict(row)
            if not raw:
                d.pop("raw")
            out.append(d)
        return out

    def to_pandas(self, raw: bool = False) -> Any:
        """A pandas DataFrame of the rows (``raw=True`` keeps the raw arrays in a column)."""
        return super().to_pandas(raw=raw)

    def to_xarray(self) -> Any:
        """An ``xarray.Dataset``: every row's numbers over (model, region, layer) — NaN where a combination was
        not run — the best layer per (model, region), the trained-minus-control difference per region, and
        which half of the split each stimulus was in (``split`` over ``stimulus``, ids as coordinates).
        Settings, the metric and the split's seed are attributes."""
        xr = optional_import("xarray", "xarray", "SweepResult.to_xarray()")
        models = list(dict.fromkeys(r.model for r in self.rows))
        regions = list(dict.fromkeys(r.region for r in self.rows))
        layers = list(dict.fromkeys(r.layer for r in self.rows))
        grid = {k: np.full((len(models), len(regions), len(layers)), np.nan) for k in _ROW_FIELDS}
        for r in self.rows:
            at = (models.index(r.model), regions.index(r.region), layers.index(r.layer))
            for k in _ROW_FIELDS:
                grid[k][at] = getattr(r, k)
        dims = ("model", "region", "layer")
        data = {k: (dims, v) for k, v in grid.items()}
        best_layer = np.full((len(models), len(regions)), "", dtype=object)
        best = {k: np.full((len(models), len(regions)), np.nan) for k in ("score", "ci_low", "ci_high")}
        for b in self.best:
            at = (models.index(b.model), regions.index(b.region))
            best_layer[at] = b.layer
            for k in best:
                best[k][at] = getattr(b, k)
        data["best_layer"] = (("model", "region"), best_layer.astype(str))
        data.update({f"best_{k}": (("model", "region"), v) for k, v in best.items()})
        if self.differences:
            diff = {k: np.full(len(regions), np.nan) for k in ("difference", "ci_low", "ci_high")}
            for d in self.differences:
                for k in diff:
                    diff[k][regions.index(d.region)] = getattr(d, k)
            data.update({"difference" if k == "difference" else f"difference_{k}": ("region", v)
                         for k, v in diff.items()})
        ids = list(self.split.get("selection", [])) + list(self.split.get("evaluation", []))
        coords = {"model": models, "region": regions, "layer": layers}
        if ids:
            data["split"] = ("stimulus", ["selection"] * len(self.split["selection"])
                             + ["evaluation"] * len(self.split["evaluation"]))
            coords["stimulus_id"] = ("stimulus", ids)
        attrs = plain_attrs({**self.settings, "metric": self.metric, "split_seed": self.split.get("seed"),
                             "split_stratified_by": self.split.get("stratified_by")})
        out = xr.Dataset(data, coords=coords, attrs=attrs)
        return out.set_xindex("stimulus_id") if ids else out

    def scores(self, model: str = "trained", region: Optional[str] = None) -> Dict[str, np.ndarray]:
        """Plot-ready arrays for one model and region: layer names, scores, CI bounds, ceilings."""
        region = region or self.rows[0].region
        rows = [r for r in self.rows if r.model == model and r.region == region]
        if not rows:
            raise KeyError(f"no rows for model {model!r}, region {region!r}")
        return {"layer": np.array([r.layer for r in rows]), "score": np.array([r.score for r in rows]),
                "ci_low": np.array([r.ci_low for r in rows]), "ci_high": np.array([r.ci_high for r in rows]),
                "ceiling": np.array([r.ceiling for r in rows]), "ceiled": np.array([r.ceiled for r in rows])}

    def __repr__(self) -> str:
        lines = [f"SweepResult({self.metric}, {len(self.rows)} rows; ceiled by {self.settings.get('ceiling_formula')})"]
        for b in self.best:
            lines.append(f"  best {b.model:8s} {b.region:6s} {b.layer:24s} {b.score:.4f} "
                         f"[{b.ci_low:.4f}, {b.ci_high:.4f}] ceiling {b.ceiling:.4f}")
        for d in self.differences:
            lines.append(f"  trained - random {d.region:6s} {d.difference:+.4f} [{d.ci_low:+.4f}, {d.ci_high:+.4f}]")
        return "\n".join(lines)

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_sweep``)."""
        from ...figures import plot_sweep

        return plot_sweep(self, ax, **style)