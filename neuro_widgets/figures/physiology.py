"""A grating tuning survey: histograms over channels of preferred orientation, OSI and F1/F0, and one
channel's orientation and spatial-frequency curves."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

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
            c = one[key]
            a.plot(c["x"], c["y"], "o-", ms=3, color=style["colors"][5])
            a.set_xlabel(c["x_label"])
            a.set_ylabel(c["y_label"])
            if log:
                a.set_xscale("log", base=2)
        axes[3].set_title(f"ch {channel}: pref {one['preferred_orientation_deg']:.0f}°, OSI {one['osi']:.2f}",
                          fontsize="small")
        axes[4].set_title(f"ch {channel}: {one['cell_type']}, F1/F0 {one['f1f0']:.2f}", fontsize="small")
        fig.suptitle(style["title"] or f"{survey.layer}: grating tuning", fontsize="medium")
    return fig
