"""The study's result store on disk: one Parquet file per (model, data set, metric, settings).

Each file holds the sweep's layer rows as a table (``pandas.read_parquet(folder)`` reads the whole study) and
the complete :class:`SweepResult` (raw values, bootstrap samples, split) pickled in the file's metadata, so a
re-run restores it exactly. Files are written to a temporary name in the same folder and renamed with
``os.replace`` (atomic on POSIX and Windows): an interrupted write never leaves a half file under a real name.
The settings digest is part of the file name, so results made with other settings are never reused.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Union

from ..engine.alignment.results import SweepResult
from .tasks import TaskKey

_META = b"neuro_widgets.sweep_result"


def settings_digest(settings: Dict[str, Any]) -> str:
    """A short digest of the settings that change a sweep's numbers."""
    text = json.dumps(settings, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:60]


class ResultStore:
    """Finished results in ``folder`` (created if needed); ``digest(key)`` names the settings of a key's sweep."""

    def __init__(self, folder: Union[str, os.PathLike], digest: Callable[[TaskKey], str]) -> None:
        try:
            import pyarrow  # noqa: F401
        except ImportError as err:
            raise ImportError("a study's result store is written as Parquet: pip install 'neuro_widgets[dask]' "
                              "(or pyarrow), or run the study with store=None") from err
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.digest = digest

    def path(self, key: TaskKey) -> Path:
        ident = hashlib.sha256(json.dumps([key.model, key.data, key.metric]).encode()).hexdigest()[:8]
        return self.folder / f"{_safe(key.model)}__{_safe(key.data)}__{key.metric}__{ident}-{self.digest(key)}.parquet"

    def has(self, key: TaskKey) -> bool:
        return self.path(key).is_file()

    def save(self, key: TaskKey, result: SweepResult) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(rows_frame(key, result), preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[_META] = base64.b64encode(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        table = table.replace_schema_metadata(meta)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".parquet")
        os.close(fd)
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, self.path(key))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    def load(self, key: TaskKey) -> SweepResult:
        import pyarrow.parquet as pq

        meta = pq.read_schema(self.path(key)).metadata
        return pickle.loads(base64.b64decode(meta[_META]))


def rows_frame(key: TaskKey, result: SweepResult):
    """The sweep's rows with the study's model, data set and metric; ``variant`` is trained or the control."""
    df = result.to_pandas().rename(columns={"model": "variant"})
    df.insert(0, "metric", key.metric)
    df.insert(0, "data", key.data)
    df.insert(0, "model", key.model)
    return df
