"""Response-level neural data (stimuli x neuroids x repetitions) and conversions of RDM-level data.

:class:`NeuralResponses` holds responses with per-neuroid metadata (``region``, ``subject``, …) and stimulus
ids that align with a :class:`~neuro_widgets.engine.stimuli.StimulusSet`. Load it from numpy arrays, from an
xarray ``DataArray`` or from a Brain-Score ``NeuroidAssembly`` netCDF file (dims ``presentation x neuroid
[x time_bin]``, coords ``stimulus_id`` on presentations, ``neuroid_id`` and ``region`` on neuroids;
repetitions are repeated ``stimulus_id`` rows). :meth:`NeuralResponses.to_rdms` turns it into RDM-level
:class:`~neuro_widgets.engine.neural.NeuralRDMs`; :func:`to_rsatoolbox` / :func:`from_rsatoolbox` convert
RDM-level data to and from rsatoolbox's ``RDMs`` objects (rsatoolbox and xarray are imported only there).

Stimuli may have different numbers of repetitions: the third axis is then NaN-padded. A missing repetition is
NaN for every neuroid of that stimulus (a presentation that did not happen); any other NaN is refused.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..describe import brief
from ..neural import NeuralRDMs
from ..stimuli import stimulus_ids as stimulus_ids_of
from .rdm import check_rdm_method, rdm


def present_repetitions(data: np.ndarray, where: str = "responses") -> np.ndarray:
    """(stimuli, repetitions) bool, True where a repetition of a (stimuli, neuroids, repetitions) array is present.

    A missing repetition must be NaN for every neuroid (NaN padding) and every stimulus needs at least one
    present repetition; a NaN anywhere else, or an infinite value, is a clear error.
    """
    nan = np.isnan(data)
    missing = nan.all(1)
    partial = nan.any(1) & ~missing
    if partial.any():
        s, r = np.argwhere(partial)[0]
        k = np.flatnonzero(nan[s, :, r])
        raise ValueError(
            f"{where} contain NaN for some neuroids of a presentation but not others, e.g. stimulus {s}, "
            f"repetition {r}: NaN for {len(k)} of {data.shape[1]} neuroids (first {k[:5].tolist()}). NaN may only "
            "pad missing repetitions (NaN for every neuroid); drop those neuroids or fill their values first")
    present = ~missing
    empty = np.flatnonzero(~present.any(1))
    if len(empty):
        raise ValueError(f"{where}: {len(empty)} stimulus/stimuli have no repetition at all (all NaN), e.g. rows "
                         f"{empty[:5].tolist()}; drop those stimuli")
    if np.isinf(data).any():
        at = np.argwhere(np.isinf(data))[:5].tolist()
        raise ValueError(f"{where} contain {int(np.isinf(data).sum())} infinite value(s), e.g. at (stimulus, "
                         f"neuroid, repetition) {at}; drop or fix those entries first")
    return present


def repetition_mean(data: Any, present: Optional[np.ndarray] = None) -> np.ndarray:
    """(stimuli, neuroids) mean of (stimuli, neuroids, repetitions) over each stimulus's present repetitions."""
    arr = np.asarray(data, dtype=np.float64)
    if present is None:
        present = present_repetitions(arr)
    total = np.where(present[:, None, :], arr, 0.0).sum(2)
    return total / present.sum(1)[:, None]


class NeuralResponses:
    """Responses ``data`` (stimuli, neuroids, repetitions) float64, read-only; missing repetitions NaN-padded.

    ``present`` (stimuli, repetitions) marks the repetitions that exist; :meth:`mean` averages those only.

    >>> resp = NeuralResponses(arr, stimulus_ids=ids, neuroids={"region": regions, "subject": subjects})
    >>> resp.regions, resp.region("IT").data.shape, resp.mean().shape
    """

    def __init__(self, data: Any, stimulus_ids: Sequence[str], neuroids: Optional[Mapping[str, Sequence]] = None,
                 name: str = "responses") -> None:
        if data is None:
            raise TypeError("responses is None; give an array (stimuli, neuroids) or (stimuli, neuroids, repetitions)")
        try:
            arr = np.array(data, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError("responses must be a numeric array (stimuli, neuroids[, repetitions]), got "
                            f"{brief(data)}") from err
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3:
            raise ValueError("responses must be (stimuli, neuroids) or (stimuli, neuroids, repetitions); got "
                             f"shape {arr.shape}")
        present = present_repetitions(arr)
        if arr.shape[0] < 4:
            raise ValueError(f"responses need at least 4 stimuli, got {arr.shape[0]}")
        ids = stimulus_ids_of(stimulus_ids, arr.shape[0], "NeuralResponses", ("stimulus row", "stimulus rows"),
                              repeated_hint=" (repetitions go on the third axis, not in repeated rows)")
        if neuroids is not None and not isinstance(neuroids, Mapping):
            raise TypeError(f"neuroids must be a dict of columns {{'region': [...], ...}}, one value per neuroid; "
                            f"got {brief(neuroids)}")
        meta: Dict[str, np.ndarray] = {}
        for key, col in (neuroids or {}).items():
            col = np.asarray(col)
            if col.shape != (arr.shape[1],):
                raise ValueError(f"neuroid metadata {key!r} has shape {col.shape}; give one value per neuroid "
                                 f"({arr.shape[1]})")
            meta[str(key)] = col
        meta.setdefault("region", np.array(["all"] * arr.shape[1]))
        meta.setdefault("neuroid_id", np.array([str(i) for i in range(arr.shape[1])]))
        arr.setflags(write=False)
        present.setflags(write=False)
        self.data = arr
        self.present = present
        self.stimulus_ids: List[str] = ids
        self.neuroids = meta
        self.name = name

    @property
    def n_repetitions(self) -> int:
        """The length of the repetition axis (the most repetitions any stimulus has)."""
        return self.data.shape[2]

    @property
    def repetition_counts(self) -> np.ndarray:
        """(stimuli,) number of present repetitions of each stimulus."""
        return self.present.sum(1)

    @property
    def regions(self) -> List[str]:
        return list(dict.fromkeys(self.neuroids["region"].astype(str).tolist()))

    def mean(self) -> np.ndarray:
        """(stimuli, neuroids) mean over each stimulus's present repetitions."""
        return repetition_mean(self.data, self.present)

    def select(self, mask: Any) -> "NeuralResponses":
        mask = np.asarray(mask)
        return NeuralResponses(self.data[:, mask], self.stimulus_ids, {k: v[mask] for k, v in self.neuroids.items()},
                               self.name)

    def region(self, region: str) -> "NeuralResponses":
        if region not in self.regions:
            raise KeyError(f"unknown region {region!r}; these responses have {self.regions}")
        return self.select(self.neuroids["region"].astype(str) == region)

    def subset(self, stimulus_ids: Sequence[str]) -> "NeuralResponses":
        """The same neuroids for the given stimuli, in that order; names any missing ids."""
        pos = {s: i for i, s in enumerate(self.stimulus_ids)}
        missing = [s for s in stimulus_ids if str(s) not in pos]
        if missing:
            raise KeyError(f"stimulus ids not in these responses: {missing[:10]}")
        idx = [pos[str(s)] for s in stimulus_ids]
        return NeuralResponses(self.data[idx], [self.stimulus_ids[i] for i in idx], self.neuroids, self.name)

    def to_rdms(self, method: str = "correlation", by: str = "subject") -> NeuralRDMs:
        """RDM-level data: per region, one RDM per value of the neuroid column ``by`` (one RDM if absent)."""
        check_rdm_method(method)
        stacks, labels = {}, {}
        mean = self.mean()
        for region in self.regions:
            in_region = self.neuroids["region"].astype(str) == region
            groups = (list(dict.fromkeys(self.neuroids[by][in_region].tolist())) if by in self.neuroids
                      else [None])
            rdms, labs = [], []
            for g in groups:
                mask = in_region if g is None else in_region & (self.neuroids[by] == g)
                rdms.append(rdm(mean[:, mask], method).cpu().numpy())
                labs.append({by: "all" if g is None else g})
            stacks[region], labels[region] = np.stack(rdms), labs
        return NeuralRDMs(stacks, self.stimulus_ids, labels, description=f"{method} RDMs of {self.name}")

    # ---- loading -----------------------------------------------------------------------------------
    @classmethod
    def from_xarray(cls, assembly: Any, time_bin: Union[None, int] = None, name: str = "") -> "NeuralResponses":
        """From a DataArray with dims presentation x neuroid [x time_bin] (Brain-Score layout).

        Repetitions are the rows that share a ``stimulus_id``; every stimulus needs the same count.
        Time bins are averaged unless ``time_bin`` picks one.
        """
        return cls._from_assembly(assembly, time_bin, name, "NeuralResponses.from_xarray")

    @classmethod
    def _from_assembly(cls, da: Any, time_bin: Union[None, int], name: str, where: str) -> "NeuralResponses":
        import xarray as xr

        expected = ("expected a Brain-Score NeuroidAssembly: dims ('presentation', 'neuroid'[, 'time_bin']), "
                    "coordinate 'stimulus_id' on 'presentation'")
        if isinstance(da, xr.Dataset):
            raise TypeError(f"{where}: got an xarray Dataset with variables {list(da.data_vars)}; pass one "
                            "DataArray, e.g. ds[name]")
        if not isinstance(da, xr.DataArray):
            raise TypeError(f"{where}: {expected}; got {brief(da)}")
        dims = tuple(da.dims)
        if "presentation" not in dims or "neuroid" not in dims or not set(dims) <= {"presentation", "neuroid",
                                                                                  "time_bin"}:
            raise ValueError(f"{where}: {expected}; its dims are {dims}")
        if "stimulus_id" not in da.coords or da.coords["stimulus_id"].dims != ("presentation",):
            found = "no 'stimulus_id' coordinate" if "stimulus_id" not in da.coords else \
                f"'stimulus_id' on dims {da.coords['stimulus_id'].dims}"
            raise ValueError(f"{where}: {expected}; it has {found}")
        if "time_bin" in dims:
            if time_bin is None:
                da = da.mean("time_bin")
            else:
                n_bins = da.sizes["time_bin"]
                if not isinstance(time_bin, (int, np.integer)) or isinstance(time_bin, bool) \
                        or not -n_bins <= time_bin < n_bins:
                    raise ValueError(f"{where}: time_bin must be an index into the {n_bins} time bins "
                                     f"(0..{n_bins - 1}) or None to average them; got {brief(time_bin)}")
                da = da.isel(time_bin=int(time_bin))
        elif time_bin is not None:
            raise ValueError(f"{where}: time_bin={time_bin!r} was given but the assembly has no 'time_bin' dim; "
                             "leave time_bin=None")
        values = np.asarray(da.transpose("presentation", "neuroid").values, dtype=np.float64)
        stim = np.asarray(da.coords["stimulus_id"].values).astype(str)
        ids = list(dict.fromkeys(stim.tolist()))
        rows = [np.flatnonzero(stim == s) for s in ids]
        counts = sorted({len(r) for r in rows})
        if len(counts) > 1:
            raise ValueError(f"{where}: stimuli have different numbers of repetitions ({counts}); select an equal "
                             "number of presentations per stimulus_id first")
        data = np.stack([values[r].T for r in rows])  # (stimuli, neuroids, reps)
        meta = {}
        for cname, coord in da.coords.items():
            if coord.dims == ("neuroid",) and cname != "neuroid":
                meta[cname] = np.asarray(coord.values)
        return cls(data, ids, meta, name=name or str(da.name or "assembly"))

    @classmethod
    def from_netcdf(cls, path: Union[str, os.PathLike], time_bin: Union[None, int] = None) -> "NeuralResponses":
        """From a Brain-Score ``NeuroidAssembly`` netCDF file holding one DataArray (needs xarray and a netCDF
        engine)."""
        try:
            import xarray as xr
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("loading netCDF needs xarray (and h5netcdf or netCDF4): pip install xarray "
                              "h5netcdf") from err
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"NeuralResponses.from_netcdf takes a file path, got {brief(path)}")
        where = f"NeuralResponses.from_netcdf({str(path)!r})"
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{where}: no file at {path}" + (" (it is a folder)" if os.path.isdir(path)
                                                                        else ""))
        try:
            ds = xr.open_dataset(path)
        except Exception as err:  # xarray raises ValueError/OSError/... depending on the backend it tried
            raise ValueError(f"{where}: the file is not a netCDF file xarray can read (is it truncated, or a "
                             "different format with a .nc name?). Save assemblies with DataArray.to_netcdf(path)."
                             ) from err
        with ds:
            variables = list(ds.data_vars)
            if len(variables) != 1:
                raise ValueError(f"{where}: the file holds {len(variables)} data variables {variables[:10]}; it "
                                 "needs exactly one (a NeuroidAssembly saved with DataArray.to_netcdf). Pick one "
                                 "with xarray.open_dataset(path)[name] and pass it to NeuralResponses.from_xarray.")
            da = ds[variables[0]].load()
        return cls._from_assembly(da, time_bin, os.path.basename(str(path)), where)

    @classmethod
    def from_numpy(cls, data: Any, stimulus_ids: Sequence[str], **neuroids: Sequence) -> "NeuralResponses":
        """``NeuralResponses.from_numpy(arr, ids, region=regions, subject=subjects)``."""
        return cls(data, stimulus_ids, neuroids)

    def __repr__(self) -> str:
        s, n, r = self.data.shape
        counts = self.repetition_counts
        reps = f"{r}" if counts.min() == r else f"up to {r} ({counts.min()}-{counts.max()} present)"
        return f"NeuralResponses({self.name}: {s} stimuli x {n} neuroids x {reps} repetitions; regions {self.regions})"


def response_matrix(responses: Any) -> Any:
    """(stimuli, neuroids): a NeuralResponses averaged over repetitions, or the array as given."""
    return responses.mean() if isinstance(responses, NeuralResponses) else responses


def subject_groups(neural: NeuralRDMs, region: str) -> Optional[List[Any]]:
    """The ``subject`` label of each RDM of ``region``, or None when every RDM is its own subject (no labels,
    or all distinct). Sessions of one subject share a label; ceilings and bootstraps then resample subjects."""
    subjects = [lab.get("subject") for lab in neural.labels(region)]
    if any(s is None for s in subjects) or len(set(subjects)) == len(subjects):
        return None
    return subjects


def to_rsatoolbox(neural: NeuralRDMs, region: str) -> Any:
    """One region of RDM-level data as an rsatoolbox ``RDMs`` (descriptors: labels; stimulus ids as pattern
    descriptor ``stimulus_id``)."""
    from rsatoolbox.rdm import RDMs
    from scipy.spatial.distance import squareform

    stack = neural.rdms(region)
    labels = neural.labels(region)
    vectors = np.stack([squareform(m, checks=False) for m in stack])
    rdm_desc = {k: np.array([lab.get(k) for lab in labels]) for k in labels[0]} if labels else {}
    return RDMs(vectors, dissimilarity_measure="unknown", rdm_descriptors=rdm_desc,
                pattern_descriptors={"stimulus_id": list(neural.stimulus_ids)}, descriptors={"region": region})


def from_rsatoolbox(rdms: Any, region: str = "region", stimulus_ids: Optional[Sequence[str]] = None) -> NeuralRDMs:
    """An rsatoolbox ``RDMs`` object as one region of RDM-level data."""
    if not hasattr(rdms, "get_matrices") or not hasattr(rdms, "pattern_descriptors"):
        raise TypeError(f"from_rsatoolbox takes an rsatoolbox.rdm.RDMs object, got {brief(rdms)}; for RDMs in an "
                        "array use nw.NeuralRDMs({region: rdms}, stimulus_ids)")
    mats = np.asarray(rdms.get_matrices(), dtype=np.float64)
    ids = stimulus_ids
    if ids is None:
        ids = rdms.pattern_descriptors.get("stimulus_id", rdms.pattern_descriptors.get("index"))
    ids = [str(s) for s in ids]
    keys = [k for k in rdms.rdm_descriptors if k != "index"]
    labels = [{k: rdms.rdm_descriptors[k][i] for k in keys} or {"subject": str(i)} for i in range(len(mats))]
    return NeuralRDMs({region: mats}, ids, {region: labels})
