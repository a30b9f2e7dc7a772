"""Single-neuron figures: per-neuron predictivity of a layer (histogram of held-out r with the ceiling marked, and
the layer curve of median ceiled predictivity), one neuron's readout (prediction against recording), and what a
neuron wants (its optimal stimulus beside its readout)."""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .style import AxesArg, figure_axes, outside_legend, rc, resolve


def plot_neuron_predictivity(result: Any, ax: AxesArg = None, *, bins: int = 16, **style: Any) -> Figure:
    """Two panels: held-out r per neuron (histogram, the ceiling and the median marked), and the median ceiled
    predictivity of every layer of the sweep (the selected layer highlighted)."""
    style = resolve(style, "plot_neuron_predictivity")
    r = np.asarray(result.r, dtype=np.float64)
    finite = r[np.isfinite(r)]
    ceiling = result.ceiling_r
    lo = min(0.0, float(finite.min())) if finite.size else 0.0
    hi = max(1.0, float(finite.max()) if finite.size else 0.0, ceiling if np.isfinite(ceiling) else 0.0)
    xs = np.arange(len(result.layers))
    with rc_context(rc(style)):
        fig, (a, b) = figure_axes(ax, 2, style, (9.0, 3.2), where="plot_neuron_predictivity")
        a.hist(finite, bins=bins, range=(lo, hi), color=style["colors"][4], alpha=0.85)
        if np.isfinite(ceiling):
            a.axvline(ceiling, color="k", ls="--", lw=1.0, label=f"ceiling {ceiling:.2f} (ceiled = 1 at the median "
                                                                 f"reliability)")
        median = float(np.median(finite)) if finite.size else np.nan
        a.axvline(median, color=style["colors"][5], lw=1.0, label=f"median {median:.2f}")
        a.set_xlabel("held-out r (Pearson, mean over splits)")
        a.set_ylabel("neurons")
        a.yaxis.set_major_locator(MaxNLocator(integer=True))
        a.set_title(f"{result.layer}: {len(r)} neurons", fontsize="small", loc="left")
        a.legend(loc="upper left", fontsize="x-small")
        b.plot(xs, result.median_ceiled, "o-", ms=3, color=style["colors"][4])
        if result.layer in result.layers:
            k = result.layers.index(result.layer)
            b.plot([k], [result.median_ceiled[k]], "o", ms=7, mfc="none", color=style["colors"][5],
                   label=f"{result.layer} (selected)")
            b.legend(loc="best", fontsize="x-small")
        b.set_xticks(xs, result.layers, rotation=60, ha="right")
        b.set_xlabel("layer")
        b.set_ylabel(f"median ceiled r\n= {result.formula_text}")
        if ax is None:
            fig.suptitle(style["title"] or "per-neuron predictivity", fontsize="medium")
    return fig


def plot_neuron_readout(readout: Any, ax: AxesArg = None, **style: Any) -> Figure:
    """Each stimulus's recorded response against its out-of-fold prediction; held-out stimuli highlighted, the
    held-out r with its bootstrap CI in the title."""
    style = resolve(style, "plot_neuron_readout")
    held = np.zeros(len(readout.observed), dtype=bool)
    held[readout.test] = True
    lo_ci, hi_ci = readout.heldout_r_ci
    with rc_context(rc(style)):
        fig, (ax,) = figure_axes(ax, 1, style, (4.8, 3.4), where="plot_neuron_readout")
        for mask, colour, label in ((~held, "0.6", "training stimuli"), (held, style["colors"][5],
                                                                         "held-out stimuli")):
            ax.plot(readout.oof_prediction[mask], readout.observed[mask], "o", ms=3, color=colour, label=label)
        both = np.concatenate([readout.oof_prediction, readout.observed])
        span = [float(both.min()), float(both.max())]
        ax.plot(span, span, color="0.4", lw=0.6, ls=":", label="prediction = recording")
        ax.set_xlabel("predicted response (out-of-fold)")
        ax.set_ylabel("recorded response (mean over repetitions)")
        ax.set_title(style["title"] or f"neuron {readout.neuron}: held-out r {readout.heldout_r:.2f} "
                     f"[{lo_ci:.2f}, {hi_ci:.2f}], {len(readout.test)} images", fontsize="small", loc="left")
        outside_legend(ax)
    return fig


def plot_neuron_wants(want: Any, ax: AxesArg = None, **style: Any) -> Figure:
    """The neuron's optimal stimulus with its predicted response, beside its readout (:func:`plot_neuron_readout`)."""
    full = resolve(style, "plot_neuron_wants")
    inner = {k: v for k, v in style.items() if k != "title"}
    with rc_context(rc(full)):
        fig, (a, b) = figure_axes(ax, 2, full, (9.0, 3.6), where="plot_neuron_wants")
        a.imshow(np.clip(want.image, 0, 1), interpolation="nearest")
        a.set_xticks([])
        a.set_yticks([])
        a.set_title(f"optimal stimulus: predicted {want.predicted:.3g} ± {want.predicted_spread:.2g}\n"
                    f"(recorded max {want.recorded_max:.3g})", fontsize="small")
        plot_neuron_readout(want.readout, b, **inner)
        if ax is None:
            fig.suptitle(full["title"] or f"what neuron {want.readout.neuron} wants from {want.layer}",
                         fontsize="medium")
    return fig
