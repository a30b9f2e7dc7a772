"""Results travel: what every result's ``to_pandas`` / ``to_xarray`` / ``to_rsatoolbox`` shares.

:class:`Tabular` gives a result with one row per item (a layer, a channel, an image) its ``to_pandas()``
from its ``to_records()``; :func:`optional_import` loads a peer library only when a conversion asks for it,
with an error that says how to install it; :func:`plain_attrs` turns a result's settings into attributes
that xarray can write to netCDF (numbers, strings, and lists of them; anything else as text).
"""
from __future__ import annotations

import importlib
import json
import numbers
from typing import Any, Dict, List, Mapping

import numpy as np


def optional_import(module: str, package: str, what: str) -> Any:
    """``import module``, or an ImportError naming the ``pip install`` that makes ``what`` work."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"{what} needs the {package!r} package, which is not installed: "
                          f"pip install {package}") from err


class Tabular:
    """A result with one row per item: ``to_records()`` gives the rows, ``to_pandas()`` a DataFrame of them."""

    def to_records(self, **options: Any) -> List[Dict[str, Any]]:
        raise NotImplementedError

    def to_pandas(self, **options: Any) -> Any:
        """A pandas DataFrame with one row per record of :meth:`to_records` (same options)."""
        import pandas as pd

        return pd.DataFrame(self.to_records(**options))


class Figured:
    """A result with a ``plot(**style)``: :meth:`save` writes that figure to a file."""

    def save(self, path: Any, **style: Any) -> Any:
        """Write :meth:`plot`'s figure to ``path`` (.png, .svg or .pdf, from its suffix); returns the path."""
        from ..figures import save

        return save(self.plot(**style), path)  # type: ignore[attr-defined]


def per_channel_records(layer: str, channels: Any, columns: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """One record per channel: its layer, index, and the value of every per-channel array in ``columns``."""
    arrays = {k: np.asarray(v) for k, v in columns.items()}
    return [{"layer": layer, "channel": int(c), **{k: a[i].item() for k, a in arrays.items()}}
            for i, c in enumerate(np.asarray(channels))]


def _plain(value: Any) -> Any:
    if isinstance(value, (str, bool, np.bool_)):
        return str(value) if isinstance(value, str) else int(value)
    if isinstance(value, numbers.Number):
        return value.item() if isinstance(value, np.generic) else value
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(np.asarray(value).tolist()) if isinstance(value, np.ndarray) else list(value)
        if items and all(isinstance(v, numbers.Number) and not isinstance(v, bool) for v in items):
            return np.asarray(items)
        if items and all(isinstance(v, str) for v in items):
            return items
    return json.dumps(value, default=str)


def plain_attrs(settings: Mapping[str, Any]) -> Dict[str, Any]:
    """``settings`` as netCDF-safe attributes: None becomes "none", nested values JSON text."""
    return {str(k): "none" if v is None else _plain(v) for k, v in settings.items()}
