"""The house style of every figure: one rc dict, Okabe-Ito colours, one diverging map for signed values and
viridis for unsigned ones. Figures are built as ``matplotlib.figure.Figure`` objects (no pyplot state)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from cycler import cycler
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..engine.attribution.display import (  # the one colour-map source
    SIGNED_CMAP,
    UNSIGNED_CMAP,
)

#: Okabe & Ito (2008) colour-blind-safe palette, black last
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")

RC: Dict[str, Any] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "image.cmap": UNSIGNED_CMAP,
    "savefig.dpi": 300,
    "savefig.bbox": "tight",
    "svg.fonttype": "none",  # text stays text in SVG
    "pdf.fonttype": 42,  # TrueType in PDF (editable in Illustrator)
}

#: the keyword arguments every ``plot_*`` accepts as ``**style``
STYLE_KEYS = ("figsize", "font_size", "colors", "signed_cmap", "unsigned_cmap", "title")


def resolve(style: Dict[str, Any], where: str) -> Dict[str, Any]:
    """``style`` with defaults filled in; a clear error for an unknown key."""
    unknown = sorted(set(style) - set(STYLE_KEYS))
    if unknown:
        raise TypeError(f"{where}: unknown style option(s) {unknown}; use any of {list(STYLE_KEYS)}")
    out = {"figsize": None, "font_size": RC["font.size"], "colors": OKABE_ITO, "signed_cmap": SIGNED_CMAP,
           "unsigned_cmap": UNSIGNED_CMAP, "title": None}
    out.update(style)
    return out


def rc(style: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The rc dict, with font sizes scaled to ``style["font_size"]`` when given."""
    out = dict(RC)
    size = (style or {}).get("font_size")
    if size is not None:
        ratio = size / RC["font.size"]
        for key in ("font.size", "axes.titlesize", "axes.labelsize", "xtick.labelsize", "ytick.labelsize",
                    "legend.fontsize"):
            out[key] = RC[key] * ratio
    return out


@contextmanager
def house_style(**style: Any) -> Iterator[Dict[str, Any]]:
    """Apply the house rc settings inside the block (for the user's own figures too)."""
    with rc_context(rc(style)):
        yield rc(style)


def tidy(ax: Axes) -> None:
    """No top/right spines also on axes the caller made outside the house style."""
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


AxesArg = Union[None, Axes, Sequence[Axes]]


def figure_axes(ax: AxesArg, n: int, style: Dict[str, Any], default_size: Tuple[float, float],
                ncols: Optional[int] = None, where: str = "plot") -> Tuple[Figure, List[Axes]]:
    """``n`` axes: new ones on a new figure when ``ax`` is None, else the caller's (one Axes when n == 1,
    otherwise a sequence of n)."""
    if ax is None:
        ncols = ncols or n
        nrows = -(-n // ncols)
        fig = Figure(figsize=style["figsize"] or default_size, layout="constrained")
        grid = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for extra in grid[n:]:
            extra.remove()
        return fig, list(grid[:n])
    axes = [ax] if isinstance(ax, Axes) else list(ax)
    if len(axes) != n or not all(isinstance(a, Axes) for a in axes):
        raise ValueError(f"{where} draws {n} panel(s): pass ax=None (a new figure) or "
                         f"{'one matplotlib Axes' if n == 1 else f'a sequence of {n} Axes'}; got {ax!r}")
    for a in axes:
        tidy(a)
    return axes[0].figure, axes


def outside_legend(ax: Axes) -> None:
    """The legend right of the plot, where it hides no data."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
