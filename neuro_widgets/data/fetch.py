"""Find a data or model file locally, or download it with a sha256 check and an atomic write.

Where a file ``<kind>/<family>/<relpath>`` (kind is ``data`` or ``models``) is looked for, in order:

1. the ``root=`` folder the caller gives (it holds ``<relpath>`` directly);
2. ``$NEURO_WIDGETS_HOME/<kind>/<family>/<relpath>`` (the layout of the project's ``shared/`` folder);
3. the user cache, ``$XDG_CACHE_HOME/neuro_widgets`` (default ``~/.cache/neuro_widgets``), same layout;
4. otherwise it is downloaded from its public URL into the user cache: streamed to a temporary file with a
   progress bar, checked against its sha256, then renamed into place. A bad or truncated download is
   deleted, never kept.

Local files are checked against the same sha256 (found files are read-only to us: a bad one is reported, not
deleted, except in our own cache).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

HOME_ENV = "NEURO_WIDGETS_HOME"


class DataFileError(RuntimeError):
    """A data or model file is missing, cannot be downloaded, or fails its checksum."""


@dataclass(frozen=True)
class RemoteFile:
    kind: str  # "data" or "models"
    family: str  # e.g. "kriegeskorte2008"
    relpath: str  # path inside the family folder
    url: str
    sha256: str  # full hex digest, or a prefix (as in torch hub file names) when only that is published

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.family}/{self.relpath}"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "neuro_widgets"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _matches(digest: str, expected: str) -> bool:
    return digest.startswith(expected.lower())


def _unwritable(folder: Path, spec: RemoteFile, err: OSError) -> DataFileError:
    """The error for a cache folder we cannot write to: which folder, and the three ways around it."""
    reason = err.strerror or type(err).__name__
    return DataFileError(
        f"cannot write to the download cache folder {folder} ({reason}), so {spec.relpath} cannot be downloaded "
        f"there. Make that folder writable, or point the cache at a writable folder with the environment variable "
        f"XDG_CACHE_HOME, or put the file yourself under ${HOME_ENV}/{spec.kind}/{spec.family}/ (set {HOME_ENV}) "
        "or in a folder passed as root=. Nothing was written."
    )


def _check(path: Path, spec: RemoteFile, delete_if_bad: bool) -> Path:
    try:
        digest = file_sha256(path)
    except OSError as err:
        raise DataFileError(f"cannot read {path} ({err.strerror or err}); make it readable or replace it with a "
                            f"good copy of {spec.url}") from err
    if _matches(digest, spec.sha256):
        return path
    size = path.stat().st_size
    if delete_if_bad:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            delete_if_bad = False  # a read-only cache: reported below as kept
    raise DataFileError(
        f"{path} has the wrong checksum (sha256 {digest[:16]}…, expected {spec.sha256[:16]}…, {size} bytes): "
        f"the file is corrupt or truncated{' and was deleted' if delete_if_bad else ''}. "
        f"Replace it with a good copy of {spec.url}"
    )


def candidate_paths(spec: RemoteFile, root: Optional[os.PathLike] = None) -> list:
    paths = []
    if root is not None:
        paths.append(Path(root) / spec.relpath)
    home = os.environ.get(HOME_ENV)
    if home:
        paths.append(Path(home) / spec.kind / spec.family / spec.relpath)
    paths.append(cache_dir() / spec.kind / spec.family / spec.relpath)
    return paths


def locate(spec: RemoteFile, root: Optional[os.PathLike] = None, download: bool = True,
           progress: bool = True) -> Path:
    """The local path of ``spec``, downloading it into the user cache if it is nowhere local."""
    if root is not None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be the path of a folder holding the data files, or None; got "
                            f"{type(root).__name__}")
        if not Path(root).is_dir():
            problem = "is a file" if Path(root).exists() else "does not exist"
            raise DataFileError(f"root={root} {problem}; pass the folder that holds {spec.relpath}, or leave "
                                f"root=None to use ${HOME_ENV} or the download cache.")
    candidates = candidate_paths(spec, root)
    cached = candidates[-1]
    for path in candidates:
        if path.is_file():
            return _check(path, spec, delete_if_bad=(path == cached))
    if root is not None:
        raise DataFileError(
            f"{spec.relpath} is not in the folder root={root}. Put the file there, or leave root=None to use "
            f"${HOME_ENV} or the download cache."
        )
    if not download:
        raise DataFileError(f"{spec.name} is not available locally and download=False")
    return _download(spec, cached, progress)


def _download_bar(name: str, response, progress: bool):
    """A ``tqdm.auto`` byte counter for one download (a disabled one without ``progress``)."""
    from tqdm.auto import tqdm

    total = int(response.headers.get("Content-Length") or 0) or None
    return tqdm(total=total, desc=f"downloading {name}", unit="B", unit_scale=True, unit_divisor=1024,
                disable=not progress)


def _download(spec: RemoteFile, dest: Path, progress: bool) -> Path:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    except OSError as err:
        raise _unwritable(dest.parent, spec, err) from err
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(spec.url, timeout=30)
            except (urllib.error.URLError, OSError) as err:
                raise DataFileError(
                    f"{spec.relpath} ({spec.name}) is not available locally and could not be downloaded from "
                    f"{spec.url}: {err}. Offline? Put the file under ${HOME_ENV}/{spec.kind}/{spec.family}/ "
                    f"(set the environment variable {HOME_ENV}) or pass root= a folder holding it."
                ) from err
            with response, _download_bar(spec.relpath, response, progress) as bar:
                total = int(response.headers.get("Content-Length") or 0)
                done = 0
                while True:
                    try:
                        block = response.read(1 << 16)
                    except OSError as err:
                        raise DataFileError(f"the download of {spec.url} was interrupted ({err}); nothing was kept. "
                                            "Try again.") from err
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    bar.update(len(block))
                if total and done != total:
                    raise DataFileError(
                        f"download of {spec.url} was truncated ({done} of {total} bytes); nothing was kept. Try again."
                    )
        digest = file_sha256(tmp)
        if not _matches(digest, spec.sha256):
            raise DataFileError(
                f"download of {spec.url} has the wrong checksum (sha256 {digest[:16]}…, expected "
                f"{spec.sha256[:16]}…): the file is corrupt or truncated and was not kept."
            )
        os.replace(tmp, dest)
        return dest
    except OSError as err:  # a full disk or a folder that turned read-only mid-download
        raise DataFileError(f"could not write {dest} ({err.strerror or err}); nothing was kept. Free some space or "
                            f"use a writable cache folder (XDG_CACHE_HOME), or put the file under "
                            f"${HOME_ENV}/{spec.kind}/{spec.family}/.") from err
    finally:
        tmp.unlink(missing_ok=True)
