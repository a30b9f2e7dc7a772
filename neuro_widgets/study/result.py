"""A study's results: one :class:`SweepResult` per (model, data set, metric), and the tasks that failed."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ..engine.alignment.results import SweepResult
from .store import rows_frame
from .tasks import TaskFailure, TaskKey


@dataclass
class StudyResult:
    """Every finished sweep of a study, keyed by (model, data set, metric), and the failures.

    >>> result.to_pandas()          # one row per (model, data set, metric, trained/control, region, layer)
    >>> result.best_layers()        # the held-out best layer per (model, data set, metric, region), as in sweep()
    >>> result.failures             # the tasks that raised, with their error
    """

    sweeps: Dict[TaskKey, SweepResult]
    failures: List[TaskFailure] = field(default_factory=list)
    models: List[str] = field(default_factory=list)
    data: List[str] = field(default_factory=list)
    metrics: List[str] = field(default_factory=list)
    #: the Study that made it (its models and data sets: what ``nw.StudyWidget`` opens a LayerExplorer on)
    study: Any = field(default=None, repr=False, compare=False)

    def _keys(self) -> List[TaskKey]:
        order = [TaskKey(m, d, x) for m in self.models for d in self.data for x in self.metrics]
        return [k for k in order if k in self.sweeps]

    def sweep(self, model: str, data: str, metric: str) -> SweepResult:
        """The SweepResult of one model on one data set for one metric."""
        key = TaskKey(model, data, metric)
        if key not in self.sweeps:
            failed = [f.error for f in self.failures if key in f.keys]
            why = f" (it failed: {failed[0]})" if failed else ""
            raise KeyError(f"no result for model {model!r}, data {data!r}, metric {metric!r}{why}")
        return self.sweeps[key]

    def to_pandas(self):
        """All layer rows: model, data, metric, variant (trained / random), region, layer, score, CI, ceiling."""
        import pandas as pd

        frames = [rows_frame(k, self.sweeps[k]) for k in self._keys()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def best_layers(self):
        """The held-out best layer of every (model, data set, metric, variant, region), from ``sweep()``'s
        commitment: chosen on the selection half, scored on the evaluation half (cross-fitted by default)."""
        import pandas as pd

        rows = []
        for key in self._keys():
            for b in self.sweeps[key].best:
                rows.append({"model": key.model, "data": key.data, "metric": key.metric, "variant": b.model,
                             "region": b.region, "layer": b.layer, "selection_score": b.selection_score,
                             "score": b.score, "ci_low": b.ci_low, "ci_high": b.ci_high, "ceiling": b.ceiling,
                             "ceiled": b.ceiled, "fold_layers": list(b.fold_layers)})
        return pd.DataFrame(rows)

    def plot(self, metric: Optional[str] = None, ax_size: float = 3.2) -> Any:
        """Layer curves (score with its CI per region; the control dashed), one panel per model x data set."""
        import matplotlib.pyplot as plt

        metric = metric or (self.metrics[0] if self.metrics else None)
        if metric not in self.metrics:
            raise ValueError(f"metric {metric!r} is not in this study; it has {self.metrics}")
        fig, axes = plt.subplots(len(self.data), len(self.models), squeeze=False,
                                 figsize=(ax_size * len(self.models), ax_size * len(self.data)))
        for i, data in enumerate(self.data):
            for j, model in enumerate(self.models):
                ax = axes[i][j]
                ax.set_title(f"{model}\n{data}", fontsize=8)
                key = TaskKey(model, data, metric)
                if key not in self.sweeps:
                    ax.text(0.5, 0.5, "failed" if any(key in f.keys for f in self.failures) else "missing",
                            ha="center", va="center", transform=ax.transAxes)
                    continue
                res = self.sweeps[key]
                for region in dict.fromkeys(r.region for r in res.rows):
                    for variant, style in (("trained", "-"), ("random", "--")):
                        if not any(r.model == variant and r.region == region for r in res.rows):
                            continue
                        s = res.scores(variant, region)
                        x = range(len(s["layer"]))
                        line, = ax.plot(x, s["score"], style, label=f"{region} ({variant})")
                        ax.fill_between(x, s["ci_low"], s["ci_high"], color=line.get_color(), alpha=0.15)
                ax.set_xlabel("layer (forward order)", fontsize=7)
                ax.set_ylabel(metric, fontsize=7)
                ax.legend(fontsize=6)
        fig.tight_layout()
        return fig

    def __repr__(self) -> str:
        lines = [f"StudyResult({len(self.sweeps)} sweeps: {len(self.models)} models x {len(self.data)} data sets x "
                 f"{len(self.metrics)} metrics; {len(self.failures)} failed tasks)"]
        for f in self.failures:
            lines.append(f"  failed {[(k.model, k.data, k.metric) for k in f.keys]}: {f.error}")
        return "\n".join(lines)
