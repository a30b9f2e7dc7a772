"""Attribution maps over their images with one shared, labelled colour bar; layer contributions as ranked
bars on a value axis; the sanity-check cascade as a curve."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
from matplotlib import colormaps, rc_context
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure

from ..engine.attribution.display import _check_sign, _shown, as_maps, common_scale
from .style import AxesArg, figure_axes, outside_legend, rc, resolve


def _images(images: Any, n: int) -> Optional[np.ndarray]:
    if images is None:
        return None
    arr = np.asarray(getattr(images, "images", images))
    if arr.ndim == 3:
        arr = arr[None]
    if len(arr) != n or arr.ndim != 4:
        raise ValueError(f"plot_attribution: images must be (N, H, W, 3) with N = {n} maps (or a StimulusSet); "
                         f"got shape {arr.shape}")
    return arr / 255.0 if arr.dtype == np.uint8 else arr


SIGN_WORDS = {"all": "signed", "positive": "positive part", "negative": "negative part (magnitude)",
              "absolute": "|value|"}


def _map_panel(a: Any, shown: np.ndarray, pic: Optional[np.ndarray], cmap: Any, norm: Any, alpha: float) -> Any:
    """One map (over its grey image when given) on axes without ticks; returns the map's image artist."""
    h, w = shown.shape
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    if pic is not None:
        a.imshow(pic.mean(-1), cmap="gray", vmin=0, vmax=1, extent=extent)
    im = a.imshow(shown, cmap=cmap, norm=norm, alpha=alpha if pic is not None else 1.0, extent=extent,
                  interpolation="antialiased")
    a.set_xticks([])
    a.set_yticks([])
    for spine in a.spines.values():
        spine.set_visible(False)
    return im


def _norm(scale: float, signed: bool) -> Any:
    return TwoSlopeNorm(0.0, -scale, scale) if signed else Normalize(0.0, scale)


def plot_attribution(result: Any, ax: AxesArg = None, *, images: Any = None, sign: str = "all",
                     percentile: float = 99.5, alpha: float = 0.7, **style: Any) -> Figure:
    """One panel per image: its map (over the grey image when ``images`` are given), every panel on one
    colour scale (``percentile`` of the shown values), one colour bar. Signed maps (``sign="all"``) use the
    diverging map centred at 0; ``positive`` / ``negative`` / ``absolute`` show magnitudes in viridis."""
    style = resolve(style, "plot_attribution")
    _check_sign(sign)
    maps = as_maps(result)
    n = len(maps)
    pics = _images(images, n)
    scale = common_scale(maps, sign=sign, percentile=percentile) or 1.0
    signed = sign == "all"
    shown = maps if signed else _shown(maps, sign)
    norm = _norm(scale, signed)
    cmap = colormaps[style["signed_cmap"] if signed else style["unsigned_cmap"]]
    method = getattr(result, "method", "attribution")
    target = getattr(result, "target", None)
    classes = getattr(result, "classes", None)
    with rc_context(rc(style)):
        fig, axes = figure_axes(ax, n, style, (1.8 * min(n, 6) + 0.8, 1.9 * -(-n // 6)), ncols=min(n, 6),
                                where="plot_attribution")
        for i, a in enumerate(axes):
            im = _map_panel(a, shown[i], None if pics is None else pics[i], cmap, norm, alpha)
            a.set_title(f"image {i}" + (f", class {int(classes[i])}" if classes is not None else ""),
                        fontsize="small")
        fig.colorbar(im, ax=axes, label=f"{method} attribution, {SIGN_WORDS[sign]}", shrink=0.8)
        if style["title"] or target:
            fig.suptitle(style["title"] or f"{method} → {target}", fontsize="medium")
    return fig


def plot_attribution_methods(results: Sequence[Any], ax: AxesArg = None, *, images: Any = None,
                             labels: Optional[Sequence[str]] = None, sign: str = "all", shared_scale: bool = True,
                             percentile: float = 99.5, alpha: float = 0.7, **style: Any) -> Figure:
    """Several methods' maps of one image side by side (what the widget's attribution panel shows): with
    ``shared_scale`` one colour scale (``percentile`` of every shown value) and one colour bar, else each map
    on its own scale with its own colour bar."""
    style = resolve(style, "plot_attribution_methods")
    _check_sign(sign)
    maps = [as_maps(r)[0] for r in results]
    if not maps:
        raise ValueError("plot_attribution_methods: give at least one attribution result")
    labels = list(labels) if labels is not None else [getattr(r, "method", f"method {i}") for i, r in enumerate(results)]
    if len(labels) != len(maps):
        raise ValueError(f"plot_attribution_methods: {len(labels)} labels for {len(maps)} results")
    pic = _images(images, 1)
    signed = sign == "all"
    shown = [m if signed else _shown(m, sign) for m in maps]
    scales = [common_scale(*maps, sign=sign, percentile=percentile) or 1.0] * len(maps) if shared_scale else \
        [common_scale(m, sign=sign, percentile=percentile) or 1.0 for m in maps]
    cmap = colormaps[style["signed_cmap"] if signed else style["unsigned_cmap"]]
    n = len(maps)
    with rc_context(rc(style)):
        fig, axes = figure_axes(ax, n, style, (1.9 * n + 0.9, 2.3), where="plot_attribution_methods")
        for a, m, label, scale in zip(axes, shown, labels, scales):
            im = _map_panel(a, m, None if pic is None else pic[0], cmap, _norm(scale, signed), alpha)
            a.set_title(label, fontsize="small")
            if not shared_scale:
                fig.colorbar(im, ax=a, shrink=0.7, label=SIGN_WORDS[sign])
        if shared_scale:
            fig.colorbar(im, ax=axes, label=f"attribution, {SIGN_WORDS[sign]} (one scale)", shrink=0.8)
        target = getattr(results[0], "target", None)
        if style["title"] or target:
            fig.suptitle(style["title"] or f"→ {target}", fontsize="medium")
    return fig


def plot_layer_contributions(result: Any, ax: AxesArg = None, *, k: int = 15, by: str = "abs",
                             **style: Any) -> Figure:
    """The ``k`` channels that matter most (``by`` as in ``LayerContributions.top``), ranked, as bars on a
    labelled value axis, coloured by the same diverging map as signed attribution maps."""
    style = resolve(style, "plot_layer_contributions")
    channels = result.top(k, by=by)
    values = result.values.double().numpy()[channels]
    scale = float(np.abs(values).max()) or 1.0
    cmap = colormaps[style["signed_cmap"]]
    colours = cmap(TwoSlopeNorm(0.0, -scale, scale)(values))
    with rc_context(rc(style)):
        fig, (ax,) = figure_axes(ax, 1, style, (4.0, 0.22 * len(channels) + 1.0), where="plot_layer_contributions")
        ys = np.arange(len(channels))
        ax.barh(ys, values, color=colours, edgecolor="0.3", lw=0.4)
        ax.axvline(0, color="0.3", lw=0.6)
        ax.set_yticks(ys, [f"ch {c}" for c in channels])
        ax.invert_yaxis()
        ax.set_xlabel(f"contribution to {result.target} ({result.method}, mean over images)")
        ax.set_ylabel(f"channel of {result.layer}")
        ax.set_title(style["title"] or f"top {len(channels)} channels by {by}", loc="left")
    return fig


def plot_sanity_check(curve: Any, ax: AxesArg = None, **style: Any) -> Figure:
    """Mean rank correlation of each step's maps with the trained model's, block by block re-initialised
    (Adebayo et al. 2018): a faithful method falls towards 0."""
    style = resolve(style, "plot_sanity_check")
    xs = np.arange(len(curve.steps))
    with rc_context(rc(style)):
        fig, (ax,) = figure_axes(ax, 1, style, (max(3.5, 0.35 * len(xs) + 1.5), 3.0), where="plot_sanity_check")
        with np.errstate(all="ignore"):
            absolute = np.nanmean(curve.rank_corr_abs, axis=1)
        ax.plot(xs, curve.correlations, "o-", ms=3, label="signed maps")
        ax.plot(xs, absolute, "s--", ms=3, label="absolute maps")
        ax.axhline(0, color="0.6", lw=0.5)
        ax.set_xticks(xs, curve.steps, rotation=60, ha="right")
        ax.set_xlabel("re-initialised up to block (cascading)")
        ax.set_ylabel("Spearman ρ with trained maps")
        ax.set_title(style["title"] or f"sanity check: {curve.method}", loc="left")
        outside_legend(ax)
    return fig
