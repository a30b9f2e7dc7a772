"""A sweep as layer x region curves: trained model solid with its CI band, the random control dashed, the
noise-ceiling band of each region shaded behind."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from ..engine.alignment.ceiling import CEILING_FORMULA_TEXT
from .style import AxesArg, figure_axes, outside_legend, rc, resolve

METRIC_NAMES = {"rsa": "RSA", "encoding": "encoding", "cka": "CKA"}


def score_label(result: Any, ceiled: bool) -> str:
    """The y-axis label: the metric, its method, and for ceiled scores the ceiling formula."""
    metric = METRIC_NAMES.get(result.metric, result.metric)
    method = result.settings.get("method")
    what = f"{metric} score" + (f" ({method})" if method else "")
    if not ceiled:
        return what
    formula = result.settings.get("ceiling_formula")
    return f"ceiled {what}\n= {CEILING_FORMULA_TEXT.get(formula, formula)}"


def _band(result: Any, region: str) -> Optional[tuple]:
    """(low, high) of the region's ceiling band, from ``settings["ceiling_bands"]`` or the rows' ceiling."""
    band: Dict[str, Any] = result.settings.get("ceiling_bands", {}).get(region, {})
    low = band.get("lower", band.get("ceiling"))
    if low is None:
        low = next((r.ceiling for r in result.rows if r.region == region), np.nan)
    high = band.get("upper", np.nan)
    if not np.isfinite(high):  # no upper bound: the ceiling's CI is the band
        lo_ci, hi_ci = band.get("ci", (np.nan, np.nan))
        low, high = (lo_ci, hi_ci) if np.isfinite(lo_ci) and np.isfinite(hi_ci) else (low, low)
    return (float(low), float(high)) if np.isfinite(low) and np.isfinite(high) else None


def plot_sweep(result: Any, ax: AxesArg = None, *, ceiled: bool = False, **style: Any) -> Figure:
    """Score per layer for each region; ``ceiled=True`` plots the ceiled scores (the sweep must have been run
    with a ``ceiling_formula``) and omits the ceiling band (the ceiling is 1 on that scale)."""
    style = resolve(style, "plot_sweep")
    if ceiled and result.settings.get("ceiling_formula") is None:
        raise ValueError("plot_sweep: this sweep has no ceiled scores (run sweep(..., ceiling_formula='default')) "
                         "or plot ceiled=False")
    column = "ceiled" if ceiled else "score"
    regions = list(dict.fromkeys(r.region for r in result.rows))
    layers = list(dict.fromkeys(r.layer for r in result.rows))
    x = {layer: i for i, layer in enumerate(layers)}
    with rc_context(rc(style)):
        fig, (ax,) = figure_axes(ax, 1, style, (max(5.0, 0.35 * len(layers) + 3.2), 3.2), where="plot_sweep")
        for k, region in enumerate(regions):
            colour = style["colors"][k % len(style["colors"])]
            band = None if ceiled else _band(result, region)
            if band is not None:
                ax.axhspan(band[0], band[1], color=colour, alpha=0.12, lw=0, label=f"{region} noise ceiling")
                ax.axhline(band[0], color=colour, lw=0.6, alpha=0.6)
            for model, dash in (("trained", "-"), ("random", "--")):
                rows = [r for r in result.rows if r.region == region and r.model == model]
                if not rows:
                    continue
                xs = np.array([x[r.layer] for r in rows])
                ys = np.array([getattr(r, column) for r in rows])
                label = f"{region}, {'random init' if model == 'random' else 'trained'}"
                if not np.isfinite(ys).any():
                    label += " (no ceiled score)" if ceiled else " (not scored)"
                ax.plot(xs, ys, dash, color=colour, marker="o", ms=3, lw=1.4, label=label)
                if not ceiled:
                    ax.fill_between(xs, [r.ci_low for r in rows], [r.ci_high for r in rows], color=colour,
                                    alpha=0.25 if model == "trained" else 0.1, lw=0)
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_xticks(range(len(layers)), layers, rotation=60, ha="right")
        ax.set_xlabel("layer")
        ax.set_ylabel(score_label(result, ceiled))
        ci = result.settings.get("ci_kind")
        ax.set_title(style["title"] or (f"bands: {ci}" if ci and not ceiled else ""), fontsize="small", loc="left")
        outside_legend(ax)
    return fig
