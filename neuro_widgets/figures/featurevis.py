"""Feature visualisations as contact sheets (one labelled tile per channel or image) and dataset examples as
one strip of top-k stimuli per channel, receptive fields outlined."""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .style import AxesArg, figure_axes, rc, resolve


def plot_contact_sheet(result: Any, ax: AxesArg = None, *, columns: Optional[int] = None,
                       labels: Optional[Sequence[str]] = None, smooth: bool = False, **style: Any) -> Figure:
    """A RenderResult (one tile per image, labelled with its objective value) or a LayerSheet (one tile per
    channel, labelled with the channel index). Pixels are shown as pixels; ``smooth=True`` upsamples each
    tile smoothly instead (tiles are drawn separately, so nothing bleeds between them)."""
    style = resolve(style, "plot_contact_sheet")
    images = np.clip(np.asarray(result.images, dtype=float)[..., :3], 0, 1)
    b, h, w = images.shape[:3]
    if labels is None:
        if hasattr(result, "channels"):
            labels = [f"ch {int(c)}" for c in result.channels]
        else:
            labels = [f"#{i}: {v:.3g}" for i, v in enumerate(np.asarray(result.final_values))]
    if len(labels) != b:
        raise ValueError(f"plot_contact_sheet: {len(labels)} labels for {b} images")
    columns = columns or int(np.ceil(np.sqrt(b)))
    rows = -(-b // columns)
    dx, dy = w * 1.08, h * 1.25  # tile pitch: a thin gap across, room for the label below
    with rc_context(rc(style)):
        fig, (ax,) = figure_axes(ax, 1, style, (1.3 * columns, 1.45 * rows + 0.4), where="plot_contact_sheet")
        for i, (img, text) in enumerate(zip(images, labels)):
            r, c = divmod(i, columns)
            x0, y0 = c * dx, r * dy
            ax.imshow(img, extent=(x0, x0 + w, y0 + h, y0), interpolation="lanczos" if smooth else "nearest")
            ax.text(x0 + w / 2, y0 + h + 0.04 * h, text, ha="center", va="top", fontsize="x-small")
        ax.set_xlim(0, (columns - 1) * dx + w)
        ax.set_ylim(rows * dy, 0)
        ax.set_axis_off()
        title = getattr(result, "layer", None) or getattr(result, "objective", "")
        ax.set_title(style["title"] or str(title), loc="left")
    return fig


def plot_dataset_examples(examples: Any, ax: AxesArg = None, *, channels: Optional[Sequence[int]] = None,
                          k: Optional[int] = None, which: str = "top", boxes: bool = True, **style: Any) -> Figure:
    """One row per channel (default: the first 8), its ``k`` strongest (``which="top"``) or weakest stimuli,
    each with the receptive field of the maximum outlined."""
    style = resolve(style, "plot_dataset_examples")
    if which not in ("top", "bottom"):
        raise ValueError(f"plot_dataset_examples: which must be 'top' or 'bottom', got {which!r}")
    idx, rf = (examples.top, examples.top_boxes) if which == "top" else (examples.bottom, examples.bottom_boxes)
    n_channels, k_all = idx.shape
    channels: List[int] = list(range(min(8, n_channels))) if channels is None else [int(c) for c in channels]
    bad = [c for c in channels if not 0 <= c < n_channels]
    if bad:
        raise ValueError(f"plot_dataset_examples: channels {bad} out of range [0, {n_channels})")
    k = min(k or k_all, k_all)
    stim = examples.stimuli.images
    h, w = stim.shape[1:3]
    dx, dy = w * 1.08, h * 1.08
    with rc_context(rc(style)):
        fig, (ax,) = figure_axes(ax, 1, style, (1.0 * k + 1.0, 1.0 * len(channels) + 0.6),
                                 where="plot_dataset_examples")
        for r, c in enumerate(channels):
            for j in range(k):
                x0, y0 = j * dx, r * dy
                ax.imshow(stim[idx[c, j]], extent=(x0, x0 + w, y0 + h, y0), interpolation="nearest")
                if boxes:
                    t, l, b, rr = rf[c, j]
                    ax.add_patch(Rectangle((x0 + l, y0 + t), rr - l, b - t, fill=False,
                                           edgecolor=style["colors"][0], lw=0.8))
        ax.set_xlim(0, (k - 1) * dx + w)
        ax.set_ylim((len(channels) - 1) * dy + h, 0)
        ax.set_yticks([r * dy + h / 2 for r in range(len(channels))], [f"ch {c}" for c in channels])
        ax.set_xticks([j * dx + w / 2 for j in range(k)], [str(j + 1) for j in range(k)])
        ax.set_xlabel(f"rank ({which} {k} by max activation)")
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_title(style["title"] or f"{examples.layer}: dataset examples", loc="left")
    return fig
