"""An RDM as an image with its colour bar, and category bands and labels along both edges."""
from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .style import AxesArg, figure_axes, rc, resolve


def _as_matrix(rdm: Any) -> np.ndarray:
    m = rdm.detach().cpu().numpy() if hasattr(rdm, "detach") else np.asarray(rdm, dtype=float)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"plot_rdm: an RDM is a square (N, N) matrix; got shape {m.shape}")
    return m


def category_runs(labels: Sequence[Any]) -> List[Tuple[Any, int, int]]:
    """(label, start, stop) of each run of equal consecutive labels."""
    runs: List[Tuple[Any, int, int]] = []
    for i, lab in enumerate(labels):
        if runs and runs[-1][0] == lab:
            runs[-1] = (lab, runs[-1][1], i + 1)
        else:
            runs.append((lab, i, i + 1))
    return runs


def plot_rdm(rdm: Any, ax: AxesArg = None, *, categories: Optional[Sequence[Any]] = None, sort: bool = True,
             label: str = "dissimilarity", **style: Any) -> Figure:
    """``categories``: one label per stimulus; with ``sort`` the stimuli are grouped by category (stable, in
    order of first appearance) so each category is one band. ``label`` names the colour bar."""
    style = resolve(style, "plot_rdm")
    m = _as_matrix(rdm)
    n = len(m)
    if categories is not None:
        categories = list(categories)
        if len(categories) != n:
            raise ValueError(f"plot_rdm: {len(categories)} category labels for a {n} x {n} RDM; give one per stimulus")
        if sort:
            first = {c: i for i, c in reversed(list(enumerate(categories)))}
            order = sorted(range(n), key=lambda i: (first[categories[i]], i))
            m = m[np.ix_(order, order)]
            categories = [categories[i] for i in order]
    with rc_context(rc(style)):
        fig, (ax,) = figure_axes(ax, 1, style, (5.0, 4.4), where="plot_rdm")
        # the colours span the off-diagonal values (as in the widget): the zero diagonal would waste the scale
        off = m[~np.eye(n, dtype=bool)]
        off = off[np.isfinite(off)]
        limits = (float(off.min()), float(off.max())) if off.size and off.min() < off.max() else (None, None)
        im = ax.imshow(m, cmap=style["unsigned_cmap"], interpolation="nearest", vmin=limits[0], vmax=limits[1])
        fig.colorbar(im, ax=ax, label=label, shrink=0.85)
        ax.set_xlabel("stimulus")
        ax.set_ylabel("stimulus")
        if categories is not None:
            runs = category_runs(categories)
            colours = {c: style["colors"][k % len(style["colors"])]
                       for k, c in enumerate(dict.fromkeys(categories))}
            width = max(n * 0.025, 0.8)
            for lab, start, stop in runs:
                for rect in (Rectangle((-0.5 - width, start - 0.5), width, stop - start),
                             Rectangle((start - 0.5, -0.5 - width), stop - start, width)):
                    rect.set(facecolor=colours[lab], edgecolor="none", clip_on=False)
                    ax.add_patch(rect)
                if start:
                    ax.axhline(start - 0.5, color="white", lw=0.5)
                    ax.axvline(start - 0.5, color="white", lw=0.5)
            centres = [(a + b - 1) / 2 for _, a, b in runs]
            names = [str(lab) for lab, _, _ in runs]
            ax.set_xticks(centres, names, rotation=60, ha="right")
            ax.set_yticks(centres, names)
            ax.tick_params(length=0, pad=8)
            ax.set_xlabel("")
            ax.set_ylabel("")
            ax.set_xlim(-0.5 - width, n - 0.5)
            ax.set_ylim(n - 0.5, -0.5 - width)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if style["title"]:
            ax.set_title(style["title"])
    return fig


def plot_rdms(rdms: Mapping[str, Any], *, categories: Optional[Sequence[Any]] = None, sort: bool = True,
              label: str = "dissimilarity", **style: Any) -> Figure:
    """Several RDMs of the same stimuli side by side (e.g. a layer's and a brain region's), each titled by its
    key and with its own colour bar (their scales differ), the category bands on each."""
    if not rdms:
        raise ValueError("plot_rdms: give at least one RDM, e.g. {'layer3': rdm}")
    style = resolve(style, "plot_rdms")
    title = style.pop("title")
    n = len(rdms)
    with rc_context(rc(style)):
        fig, axes = figure_axes(None, n, style, (4.6 * n, 4.2), where="plot_rdms")
        for a, (name, m) in zip(axes, rdms.items()):
            plot_rdm(m, a, categories=categories, sort=sort, label=label, title=str(name), **style)
        if title:
            fig.suptitle(title, fontsize="medium")
    return fig
