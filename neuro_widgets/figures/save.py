"""Writing a figure to PNG, SVG or PDF, atomically (a reader never sees a half-written file)."""
from __future__ import annotations

import os
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Union

from matplotlib import rc_context
from matplotlib.figure import Figure

from .style import RC

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: the house style's output settings (text stays text in SVG/PDF), and fixed SVG ids and no creation date:
#: the same figure gives the same bytes (diffable, testable)
OUTPUT_RC = {**{k: v for k, v in RC.items() if k.startswith(("svg.", "pdf."))}, "svg.hashsalt": "neuro_widgets"}
UNDATED = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}


def to_bytes(fig: Figure, fmt: str, dpi: int = 300) -> bytes:
    """``fig`` as the bytes of a ``fmt`` file ("png", "svg" or "pdf"), at ``dpi`` for raster output."""
    if fmt not in FORMATS.values():
        raise ValueError(f"to_bytes: format must be one of {sorted(FORMATS.values())}, got {fmt!r}")
    if not isinstance(fig, Figure):
        raise TypeError(f"to_bytes: expected a matplotlib Figure (what .plot() returns), got {type(fig).__name__}")
    buf = BytesIO()
    with rc_context(OUTPUT_RC):
        fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight",
                    metadata=UNDATED.get(fmt))
    return buf.getvalue()


def save(fig: Figure, path: Union[str, os.PathLike], dpi: int = 300) -> Path:
    """Write ``fig`` to ``path`` in the format its suffix names (.png, .svg, .pdf); returns the path.

    The figure goes to a temporary file in the same folder first and is then moved into place."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"save: cannot tell the format of {str(path)!r} from its suffix {path.suffix!r}; "
                         f"use one of {sorted(FORMATS)}")
    if not isinstance(fig, Figure):
        raise TypeError(f"save: expected a matplotlib Figure (what .plot() returns), got {type(fig).__name__}")
    data = to_bytes(fig, fmt, dpi)
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"save: the folder {str(folder)!r} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
