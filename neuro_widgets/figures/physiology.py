"""Physiology figures: a grating tuning survey (histograms over channels of preferred orientation, OSI and F1/F0,
and one channel's orientation and spatial-frequency curves), contrast response with its Naka-Rushton fit, size
tuning, receptive-field maps on one colour scale, category selectivity, and one channel's whole measurement."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from ..engine.physiology.contrast import naka_rushton

from .style import AxesArg, figure_axes, rc, resolve


def plot_tuning_survey(survey: Any, ax: AxesArg = None, *, channel: Optional[int] = None,
                       osi_threshold: float = 0.2, **style: Any) -> Figure:
    """Five panels (``ax`` may be a sequence of 5 Axes). ``channel`` defaults to the most selective one."""
    style = resolve(style, "plot_tuning_survey")
    summary = survey.summary(osi_threshold=osi_threshold)
    if channel is None:
        osi = np.nan_to_num(survey.osi, nan=-1.0)
        channel = int(np.argmax(osi))
    one = survey.channel(channel)
    colour = style["colors"][4]
    with rc_context(rc(style)):
        fig, axes = figure_axes(ax, 5, style, (12.0, 2.6), where="plot_tuning_survey")
        for a, key in zip(axes[:3], ("preferred_orientation", "osi", "f1f0")):
            h = summary[key]
            a.stairs(h["counts"], h["edges"], fill=True, color=colour, alpha=0.8)
            a.set_xlabel(h["x_label"])
            a.set_ylabel(h["y_label"])
        axes[0].set_title(f"{summary['n_tuned']} channels with OSI ≥ {osi_threshold}", fontsize="small")
        axes[1].set_title(f"{summary['n_responsive']}/{summary['n_channels']} responsive", fontsize="small")
        axes[2].axvline(1.0, color="0.4", lw=0.6, ls=":")
        axes[2].set_title(f"simple: {summary['fraction_simple']:.0%}", fontsize="small")
        for a, key, log in ((axes[3], "orientation_curve", False), (axes[4], "sf_curve", True)):
            _curve(a, one[key], style["colors"][5], log)
        axes[3].set_title(f"ch {channel}: pref {one['preferred_orientation_deg']:.0f}°, OSI {one['osi']:.2f}",
                          fontsize="small")
        axes[4].set_title(f"ch {channel}: {one['cell_type']}, F1/F0 {one['f1f0']:.2f}", fontsize="small")
        fig.suptitle(style["title"] or f"{survey.layer}: grating tuning", fontsize="medium")
    return fig


def _curve(ax: Axes, curve: Dict[str, Any], colour: str, log: bool = False, label: Optional[str] = None) -> None:
    """One measured curve {x, y, x_label, y_label} as points joined by lines, with its axis titles."""
    ax.plot(curve["x"], curve["y"], "o-", ms=3, color=colour, label=label)
    ax.set_xlabel(curve["x_label"])
    ax.set_ylabel(curve["y_label"])
    if log:
        ax.set_xscale("log", base=2)


def _first(result: Any, channel: Optional[int]) -> int:
    return int(result.channels[0]) if channel is None else channel


def plot_contrast_response(result: Any, ax: AxesArg = None, *, channel: Optional[int] = None,
                           **style: Any) -> Figure:
    """One measured channel's contrast response (default the first) with its Naka-Rushton fit and c50; a log
    contrast axis when every contrast is above 0."""
    style = resolve(style, "plot_contrast_response")
    channel = _first(result, channel)
    one = result.channel(channel)
    contrasts = np.asarray(result.contrasts, dtype=np.float64)
    log = bool(contrasts.min() > 0)
    grid = np.geomspace(contrasts.min(), contrasts.max(), 100) if log else np.linspace(0, contrasts.max(), 100)
    with rc_context(rc(style)):
        fig, (ax,) = figure_axes(ax, 1, style, (3.6, 2.8), where="plot_contrast_response")
        ax.plot(one["curve"]["x"], one["curve"]["y"], "o", ms=4, color=style["colors"][4], label="measured")
        if np.isfinite(one["rmax"]):
            ax.plot(grid, naka_rushton(grid, one["rmax"], one["c50"], one["n"]), "-", color=style["colors"][5],
                    label=f"Naka–Rushton fit (R² {one['r2']:.2f})")
            if contrasts.min() <= one["c50"] <= contrasts.max():
                ax.axvline(one["c50"], color="0.4", lw=0.6, ls=":", label=f"c50 = {one['c50']:.3g}")
        ax.set_xlabel(one["curve"]["x_label"])
        ax.set_ylabel(one["curve"]["y_label"])
        if log:
            ax.set_xscale("log")
        fit = f"c50 {one['c50']:.2f}, n {one['n']:.1f}" if np.isfinite(one["rmax"]) else "no fit (flat response)"
        ax.set_title(style["title"] or f"{result.layer} ch {channel}: {fit}", fontsize="small", loc="left")
        ax.legend(loc="upper left")
    return fig


def plot_size_tuning(result: Any, ax: AxesArg = None, *, channel: Optional[int] = None, **style: Any) -> Figure:
    """One measured channel's size tuning (default the first): response over aperture diameter (in degrees when
    the result knows pixels per degree), the preferred diameter, and the surround-suppression index."""
    style = resolve(style, "plot_size_tuning")
    channel = _first(result, channel)
    one = result.channel(channel)
    c = one["curve"]
    scale = 1.0 if c["x_deg"] is None else 1.0 / result.pixels_per_degree
    unit = "pixels" if c["x_deg"] is None else "deg"
    curve = {**c, "x": c["x"] * scale, "x_label": f"aperture diameter ({unit})"}
    with rc_context(rc(style)):
        fig, (ax,) = figure_axes(ax, 1, style, (3.6, 2.8), where="plot_size_tuning")
        _curve(ax, curve, style["colors"][4], label="measured")
        ax.set_xscale("log")
        preferred = one["preferred_diameter_px"] * scale
        ax.axvline(preferred, color="0.4", lw=0.6, ls=":", label=f"preferred {preferred:.3g} {unit}")
        ax.axhline(c["y"][-1], color=style["colors"][5], lw=0.8, ls="--", label="largest aperture")
        ax.set_title(style["title"] or f"{result.layer} ch {channel}: suppression index "
                     f"{one['suppression_index']:.2f}", fontsize="small", loc="left")
        ax.legend(loc="best")
    return fig


RF_LABELS = {("sparse_noise", True): "ON − OFF response (blank-subtracted)",
             ("sparse_noise", False): "|ON| + |OFF| response (blank-subtracted)",
             ("gradient", True): "mean input gradient", ("gradient", False): "mean |input gradient|"}
RF_METHODS = {"sparse_noise": "sparse noise", "gradient": "gradient"}


def plot_rf_maps(maps: Any, ax: AxesArg = None, *, channels: Optional[Sequence[int]] = None, signed: bool = True,
                 **style: Any) -> Figure:
    """Receptive-field maps of ``channels`` (default all mapped) over the mapped region, in input pixels, on one
    shared colour scale (signed: ± the largest absolute value shown; else 0 to the largest magnitude), each with
    its centre (+) and size (circle of the FWHM diameter)."""
    style = resolve(style, "plot_rf_maps")
    chans = [int(c) for c in (maps.channels if channels is None else channels)]
    rows = [maps.index(c) for c in chans]
    top, left, bottom, right = maps.region
    data = (maps.signed if signed else maps.magnitude)[rows, top:bottom, left:right]
    peak = float(np.abs(data).max()) or 1.0
    lo, cmap = (-peak, style["signed_cmap"]) if signed else (0.0, style["unsigned_cmap"])
    n = len(chans)
    ncols = min(n, 6)
    with rc_context(rc(style)):
        fig, axes = figure_axes(ax, n, style, (2.2 * ncols + 1.0, 2.2 * -(-n // ncols) + 0.4), ncols=ncols,
                                where="plot_rf_maps")
        for a, c, i, m in zip(axes, chans, rows, data):
            im = a.imshow(m, cmap=cmap, vmin=lo, vmax=peak, interpolation="nearest",
                          extent=(left - 0.5, right - 0.5, bottom - 0.5, top - 0.5))
            row, col = maps.centre[i]
            if np.isfinite(row):
                a.plot([col], [row], "+", color="k", ms=8, mew=1.2)
                a.add_patch(Circle((col, row), maps.size_px[i] / 2, fill=False, ec="k", lw=0.8, ls="--"))
            size = "" if not np.isfinite(maps.size_px[i]) else f": {maps.size_px[i]:.3g} px" + (
                "" if maps.size_deg is None else f" ({maps.size_deg[i]:.2g}°)")
            a.set_title(f"{RF_METHODS[maps.method]}, ch {c}{size}", fontsize="small")
            a.set_xlabel("column (pixels)")
            a.set_ylabel("row (pixels)")
        fig.colorbar(im, ax=axes, label=RF_LABELS[(maps.method, signed)], shrink=0.9)
        if ax is None:
            fig.suptitle(style["title"] or f"{maps.layer}: receptive fields", fontsize="medium")
    return fig


def plot_category_selectivity(result: Any, ax: AxesArg = None, **style: Any) -> Figure:
    """Two panels: per domain the fraction of channels with d' above the threshold (beside the random-weights
    control's, when measured) with its permutation p; and every channel's d' per domain."""
    style = resolve(style, "plot_category_selectivity")
    domains = list(result.domains)
    xs = np.arange(len(domains))
    control = result.control
    width = 0.4 if control is not None else 0.6
    with rc_context(rc(style)):
        fig, (a, b) = figure_axes(ax, 2, style, (max(6.0, 1.2 * len(domains) + 3.5), 2.9),
                                  where="plot_category_selectivity")
        shift = -width / 2 if control is not None else 0.0
        bars = a.bar(xs + shift, result.fraction, width, color=style["colors"][4], label="trained")
        if control is not None:
            a.bar(xs + width / 2, control.fraction, width, color="0.7", label="random weights")
        for bar, p in zip(bars, result.fraction_p):
            a.annotate(f"p={p:.2g}", (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                       va="bottom", fontsize="x-small", xytext=(0, 1), textcoords="offset points")
        a.set_xticks(xs, domains)
        a.set_xlabel("domain")
        a.set_ylabel(f"fraction of channels with d′ > {result.threshold:g}")
        a.legend(loc="upper right")
        rng = np.random.default_rng(0)
        for j in range(len(domains)):
            d = result.d_prime[:, j]
            b.plot(j + rng.uniform(-0.2, 0.2, len(d)), d, "o", ms=2.5, alpha=0.7, color=style["colors"][4])
        b.axhline(result.threshold, color=style["colors"][5], lw=0.8, ls="--", label=f"threshold {result.threshold:g}")
        b.axhline(0, color="0.6", lw=0.5)
        b.set_xticks(xs, domains)
        b.set_xlabel("domain")
        b.set_ylabel("d′ (domain vs other images)")
        b.legend(loc="upper right")
        if ax is None:
            fig.suptitle(style["title"] or f"{result.layer}: category selectivity ({result.d_prime.shape[0]} "
                         "channels)", fontsize="medium")
    return fig


def plot_channel_physiology(survey: Any, sparse: Any, gradient: Any, contrast: Any, size: Any, channel: int,
                            ax: AxesArg = None, **style: Any) -> Figure:
    """One channel measured as the physiology panel shows it: orientation, spatial-frequency and phase curves,
    contrast response and size tuning, and its receptive field mapped by sparse noise and by gradient."""
    full = resolve(style, "plot_channel_physiology")
    inner = {k: v for k, v in style.items() if k != "title"}  # the title is the whole figure's
    one = survey.channel(channel)
    colour = full["colors"][5]
    with rc_context(rc(full)):
        fig, axes = figure_axes(ax, 7, full, (12.0, 5.6), ncols=4, where="plot_channel_physiology")
        for a, key, log in zip(axes, ("orientation_curve", "sf_curve", "phase_curve"), (False, True, False)):
            _curve(a, one[key], colour, log)
        axes[0].set_title(f"pref {one['preferred_orientation_deg']:.0f}°, OSI {one['osi']:.2f}", fontsize="small")
        axes[1].set_title(f"pref {one['preferred_sf_cpp']:.3g} c/px", fontsize="small")
        axes[2].set_title(f"{one['cell_type']}, F1/F0 {one['f1f0']:.2f}", fontsize="small")
        plot_contrast_response(contrast, axes[3], channel=channel, **inner)
        plot_size_tuning(size, axes[4], channel=channel, **inner)
        plot_rf_maps(sparse, [axes[5]], channels=[channel], **inner)
        plot_rf_maps(gradient, [axes[6]], channels=[channel], **inner)
        if ax is None:
            fig.suptitle(full["title"] or f"{survey.layer} channel {channel}", fontsize="medium")
    return fig
