"""Writing a figure to PNG, SVG or PDF, atomically (a reader never sees a half-written file)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

from matplotlib.figure import Figure

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}


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
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"save: the folder {str(folder)!r} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path
