"""Data sets too large for memory: stimuli read from a netCDF (HDF5) file in chunks, as the extraction asks.

Layout of the file (netCDF-4, readable with ``xarray.open_dataset(path, engine="h5netcdf")``)::

    dims       stimulus_id (N), y (H), x (W), channel (3), neuroid (K), repetition (R)
    stimulus_id(stimulus_id)                str       the ids (the neural data's order)
    stimuli    (stimulus_id, y, x, channel) uint8     RGB pixels, HDF5-chunked by ``chunk`` images
    responses  (stimulus_id, neuroid, repetition) float64, NaN = a missing repetition   (or no responses)
    <column>   (neuroid)                    str|num   neuroid metadata; ``region`` is required with responses
    meta_<col> (stimulus_id)                str|num   stimulus metadata columns (e.g. meta_category)
    attrs      name, citation

:func:`write_dataset` writes one (from a Dataset, an array, or an iterable of image batches, so a set larger than
memory never has to be in memory to be written); :func:`open_dataset` returns a ``Dataset`` whose stimuli are a
:class:`StreamedStimulusSet`: ``sweep()``, ``probe.activations()`` and ``nw.Study`` read only the batch they are
extracting (no preprocessed copy of the whole set is kept). The responses are read into memory: every metric
scores on all of them at once. The file path is all that pickles, so a Dask worker opens the file itself.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..engine.alignment.neural_data import NeuralResponses
from ..engine.stimuli import StimulusSet
from .datasets import Dataset

PathLike = Union[str, os.PathLike]
_LAYOUT = {"stimulus_id", "stimuli", "responses", "y", "x", "channel", "neuroid", "repetition"}  # not columns
_READ_ROWS = 1024  # images read at a time when the whole set is walked (fingerprint, iteration)


def _need(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"streamed data sets are netCDF-4 files read with {module}: pip install h5netcdf "
                          "xarray") from err


class LazyImages:
    """The pixels (N, H, W, 3) uint8 of a file, read on indexing; ``np.asarray`` reads them all."""

    def __init__(self, path: PathLike, variable: str = "stimuli") -> None:
        self.path = str(path)
        self.variable = variable
        self._file = None
        self.shape: Tuple[int, ...] = tuple(self._dataset().shape)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 4

    def _dataset(self) -> Any:
        if self._file is None:
            self._file = _need("h5py").File(self.path, "r")
        return self._file[self.variable]

    def __getstate__(self) -> Dict[str, Any]:  # the path travels, not the open file
        return {**self.__dict__, "_file": None}

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> np.ndarray:
        rest: Tuple = ()
        if isinstance(index, tuple):
            index, rest = index[0], index[1:]
        ds = self._dataset()
        if isinstance(index, slice) or np.isscalar(index):
            out = ds[index]
        else:
            rows = np.arange(self.shape[0])[np.asarray(index)]
            if rows.size and np.all(np.diff(rows) == 1):  # one contiguous run: a plain slice read
                out = ds[int(rows[0]):int(rows[-1]) + 1]
            else:  # HDF5 reads increasing unique rows; put them back in the asked order
                unique, inverse = np.unique(rows, return_inverse=True)
                out = ds[unique.tolist()][inverse] if unique.size else np.empty((0, *self.shape[1:]), np.uint8)
        return out[(slice(None), *rest)] if rest else out

    def __iter__(self) -> Iterator[np.ndarray]:
        for block in self.blocks():
            yield from block

    def blocks(self, rows: int = _READ_ROWS) -> Iterator[np.ndarray]:
        """The pixels in consecutive blocks of ``rows`` images."""
        for start in range(0, self.shape[0], rows):
            yield self[start:start + rows]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


class StreamedStimulusSet(StimulusSet):
    """A StimulusSet whose pixels stay in a file (see :func:`open_dataset`): every read is of the rows asked for.

    Indexing (``stimuli[idx]``) returns an ordinary in-memory StimulusSet of those rows; ``.images`` is the lazy
    :class:`LazyImages` (index it; ``np.asarray(stimuli.images)`` reads everything)."""

    preprocess_cache_bytes = 0  # never keep a preprocessed copy of the whole set

    def __init__(self, images: LazyImages, ids: Sequence[str], metadata: Optional[Mapping[str, Any]] = None,
                 name: str = "stimuli") -> None:
        if len(images.shape) != 4 or images.shape[3] != 3:
            raise ValueError(f"{images.path}: the stimuli variable must be (stimulus_id, y, x, channel=3) uint8, "
                             f"got shape {images.shape}")
        if len(ids) != images.shape[0]:
            raise ValueError(f"{images.path}: {len(ids)} stimulus ids for {images.shape[0]} images")
        self._images = images
        self.ids = [str(s) for s in ids]
        self.metadata = {str(k): np.asarray(v) for k, v in (metadata or {}).items()}
        self.name = str(name)
        self._fingerprint = None
        self._preprocessed = {}
        self._thumbs = {}

    def __repr__(self) -> str:
        n, h, w, _ = self._images.shape
        return f"StreamedStimulusSet({self.name!r}, {n} images of {h}x{w} in {self._images.path})"

    @property
    def fingerprint(self) -> str:
        """The same digest as an in-memory StimulusSet of the same pixels and ids, computed block by block."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(repr(tuple(self._images.shape)).encode())
            for block in self._images.blocks():
                h.update(np.ascontiguousarray(block).tobytes())
            h.update("\x00".join(self.ids).encode())
            self._fingerprint = h.hexdigest()
        return self._fingerprint


def _image_batches(images: Any) -> Iterator[np.ndarray]:
    if isinstance(images, StimulusSet):
        images = images.images
    if isinstance(images, (np.ndarray, LazyImages)):
        for start in range(0, len(images), _READ_ROWS):
            yield np.asarray(images[start:start + _READ_ROWS])
        return
    for batch in images:
        yield np.asarray(batch)


def write_dataset(path: PathLike, images: Any, ids: Sequence[str], responses: Optional[Any] = None, *,
                  neuroids: Optional[Mapping[str, Sequence[Any]]] = None,
                  metadata: Optional[Mapping[str, Sequence[Any]]] = None, image_size: Optional[Tuple[int, int]] = None,
                  name: str = "", citation: str = "", chunk: int = 256) -> Path:
    """Write a streamable data set (the layout in this module's docstring) and return its path.

    ``images``: a StimulusSet, an (N, H, W, 3) uint8 array, or an iterable of (n, H, W, 3) uint8 batches (then
    ``image_size=(H, W)`` is needed, and the set is never in memory whole). ``responses``: (N, neuroids[,
    repetitions]) or a NeuralResponses (its ``neuroids`` columns are written), or None. Written to a temporary
    name and renamed, so an interrupted write leaves no file under ``path``.

    >>> write_dataset("big.nc", dataset.stimuli, dataset.stimuli.ids, dataset.neural, name="big")
    >>> big = open_dataset("big.nc")     # a Dataset for sweep() / nw.Study, its stimuli read in chunks
    """
    h5netcdf = _need("h5netcdf")
    h5py = _need("h5py")
    ids = [str(s) for s in ids]
    n = len(ids)
    if len(set(ids)) != n:
        raise ValueError("write_dataset: stimulus ids must be distinct")
    if isinstance(responses, NeuralResponses):
        if list(responses.stimulus_ids) != ids:
            raise ValueError("write_dataset: the responses' stimulus_ids must be the given ids, in that order")
        neuroids = dict(responses.neuroids, **(neuroids or {}))
        responses = responses.data
    if responses is not None:
        responses = np.asarray(responses, dtype=np.float64)
        responses = responses[:, :, None] if responses.ndim == 2 else responses
        if responses.ndim != 3 or responses.shape[0] != n:
            raise ValueError(f"write_dataset: responses must be ({n}, neuroids[, repetitions]), got "
                             f"{responses.shape}")
        if "region" not in (neuroids or {}):
            raise ValueError("write_dataset: give neuroids={'region': [...]} (one region per neuroid)")
    if image_size is None:
        first = images.images.shape if isinstance(images, StimulusSet) else getattr(images, "shape", None)
        if first is None:
            raise ValueError("write_dataset: images given as batches need image_size=(H, W)")
        image_size = tuple(first[1:3])
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        with h5netcdf.File(tmp, "w") as f:
            f.attrs["name"] = name or path.stem
            f.attrs["citation"] = citation
            f.dimensions = {"stimulus_id": n, "y": image_size[0], "x": image_size[1], "channel": 3}
            f.create_variable("stimulus_id", ("stimulus_id",), h5py.string_dtype(), data=np.array(ids, dtype=object))
            pixels = f.create_variable("stimuli", ("stimulus_id", "y", "x", "channel"), np.uint8,
                                       chunks=(min(chunk, n), *image_size, 3))
            done = 0
            for batch in _image_batches(images):
                if batch.dtype != np.uint8 or batch.shape[1:] != (*image_size, 3):
                    raise ValueError(f"write_dataset: image batches must be (n, {image_size[0]}, {image_size[1]}, 3) "
                                     f"uint8, got {batch.shape} {batch.dtype}")
                if done + len(batch) > n:
                    raise ValueError(f"write_dataset: more images than the {n} ids")
                pixels[done:done + len(batch)] = batch
                done += len(batch)
            if done != n:
                raise ValueError(f"write_dataset: {done} images for {n} ids")
            for key, col in (metadata or {}).items():
                _column(f, h5py, f"meta_{key}", "stimulus_id", col, n)
            if responses is not None:
                f.dimensions.update({"neuroid": responses.shape[1], "repetition": responses.shape[2]})
                f.create_variable("responses", ("stimulus_id", "neuroid", "repetition"), np.float64, data=responses,
                                  chunks=(min(chunk, n), *responses.shape[1:]))
                for key, col in (neuroids or {}).items():
                    _column(f, h5py, str(key), "neuroid", col, responses.shape[1])
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _column(f: Any, h5py: Any, name: str, dim: str, values: Any, n: int) -> None:
    col = np.asarray(values)
    if col.shape != (n,):
        raise ValueError(f"write_dataset: column {name!r} has shape {col.shape}; give one value per {dim} ({n})")
    if col.dtype.kind in "US O":
        f.create_variable(name, (dim,), h5py.string_dtype(), data=col.astype(str).astype(object))
    else:
        f.create_variable(name, (dim,), col.dtype, data=col)


def _strings(values: Any) -> np.ndarray:
    return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values])


def open_dataset(path: PathLike) -> Dataset:
    """A Dataset over a file written by :func:`write_dataset`: the stimuli stream from the file; the responses
    (needed whole by every metric) are read into memory. Fails if the file has no responses."""
    h5py = _need("h5py")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"open_dataset: no file at {path}")
    with h5py.File(path, "r") as f:
        missing = [v for v in ("stimulus_id", "stimuli", "responses") if v not in f]
        if missing:
            raise ValueError(f"open_dataset: {path} lacks {missing}; write it with "
                             "neuro_widgets.data.streaming.write_dataset")
        ids = _strings(f["stimulus_id"][:])
        meta = {k[5:]: _read_column(f[k]) for k in f if k.startswith("meta_")}
        data = f["responses"][:]
        neuroids = {k: _read_column(f[k]) for k in f if k not in _LAYOUT and not k.startswith("meta_")}
        name = _attr(f.attrs.get("name", path.stem))
        citation = _attr(f.attrs.get("citation", ""))
    stimuli = StreamedStimulusSet(LazyImages(path), ids, meta, name=name)
    return Dataset(name, stimuli, NeuralResponses(data, list(ids), neuroids, name=name), citation)


def _read_column(ds: Any) -> np.ndarray:
    values = ds[:]
    return _strings(values) if values.dtype.kind in "OS" else values


def _attr(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
