"""A noise ceiling: each subject's lower and upper values, and the band between the two means."""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

from .style import AxesArg, figure_axes, outside_legend, rc, resolve


def plot_noise_ceiling(ceiling: Any, ax: AxesArg = None, **style: Any) -> Figure:
    style = resolve(style, "plot_noise_ceiling")
    lower, upper = np.asarray(ceiling.lower_per_subject), np.asarray(ceiling.upper_per_subject)
    s = len(upper)
    names = [str(x) for x in ceiling.subjects] if ceiling.subjects is not None else [str(i + 1) for i in range(s)]
    xs = np.arange(s)
    with rc_context(rc(style)):
        fig, (ax,) = figure_axes(ax, 1, style, (max(4.5, 0.3 * s + 3.0), 3.0), where="plot_noise_ceiling")
        ax.axhspan(ceiling.lower, ceiling.upper, color="0.8", lw=0,
                   label=f"noise ceiling [{ceiling.lower:.3f}, {ceiling.upper:.3f}]")
        ax.vlines(xs, lower, upper, color="0.5", lw=0.8)
        ax.plot(xs, lower, "o", color=style["colors"][1], ms=4, label="lower (vs other subjects)")
        ax.plot(xs, upper, "o", color=style["colors"][5], ms=4, label="upper (vs all subjects)")
        ax.set_xticks(xs, names, rotation=60 if s > 12 else 0)
        ax.set_xlabel("subject")
        ax.set_ylabel(f"{ceiling.method}{'²' if ceiling.squared else ''} with the pooled RDM")
        ax.set_title(style["title"] or "RSA noise ceiling", loc="left")
        outside_legend(ax)
    return fig
