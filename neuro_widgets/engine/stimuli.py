"""Stimulus sets: images with ids and metadata, a content fingerprint, preprocessing and thumbnails."""
from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class InputSpec:
    """What a model expects: input size (H, W), per-channel normalisation, and class names if any."""

    size: Tuple[int, int]
    mean: Tuple[float, ...] = (0.0, 0.0, 0.0)
    std: Tuple[float, ...] = (1.0, 1.0, 1.0)
    class_names: Optional[Tuple[str, ...]] = None
    channels: int = 3

    def __post_init__(self) -> None:
        size = self.size
        if isinstance(size, int):
            size = (size, size)
        size = tuple(int(s) for s in size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"InputSpec.size must be (height, width) with positive values, got {self.size!r}")
        object.__setattr__(self, "size", size)
        mean = tuple(float(m) for m in np.broadcast_to(np.asarray(self.mean, float), (self.channels,)))
        std = tuple(float(s) for s in np.broadcast_to(np.asarray(self.std, float), (self.channels,)))
        if any(s <= 0 for s in std):
            raise ValueError(f"InputSpec.std must be positive, got {self.std!r}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))

    @property
    def key(self) -> Tuple:
        """What identifies the preprocessing (used in cache keys)."""
        return ("resize-bilinear-antialias", self.size, self.mean, self.std, self.channels)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], (N, C, H, W) -> model input."""
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return x * std + mean


def _as_uint8_image(img: Any, where: str) -> np.ndarray:
    """One image (PIL, path or array) -> uint8 (H, W, 3)."""
    if isinstance(img, (str, os.PathLike)):
        from PIL import Image

        path = Path(img)
        if not path.is_file():
            raise FileNotFoundError(f"{where}: no image file at {path}")
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    if hasattr(img, "convert") and hasattr(img, "size") and not isinstance(img, np.ndarray):
        return np.asarray(img.convert("RGB"))
    arr = np.asarray(img)
    return _to_uint8_hwc(arr[None], where)[0]


def _to_uint8_hwc(arr: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W[, C]) array of uint8 or float in [0, 1] -> uint8 (N, H, W, 3)."""
    if arr.ndim == 3:
        arr = arr[..., None]
    if arr.ndim != 4:
        raise ValueError(
            f"{where}: images must be an array (N, H, W, C) or (N, H, W) (grayscale); got shape {arr.shape}. "
            "A single image needs a leading batch axis: images[None]."
        )
    if arr.shape[-1] not in (1, 3, 4) and arr.shape[1] in (1, 3, 4):
        raise ValueError(
            f"{where}: images look channels-first {arr.shape}; pass channels-last (N, H, W, C), "
            "e.g. images.transpose(0, 2, 3, 1)."
        )
    if arr.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"{where}: images must have 1 (gray), 3 (RGB) or 4 (RGBA) channels, got {arr.shape[-1]} "
            f"(shape {arr.shape})."
        )
    if arr.dtype == np.uint8:
        out = arr
    elif np.issubdtype(arr.dtype, np.floating):
        if np.isnan(arr).any():
            bad = np.unique(np.nonzero(np.isnan(arr))[0])
            raise ValueError(f"{where}: images contain NaN pixels (in images {bad[:10].tolist()}); fix or drop them.")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{where}: float images must lie in [0, 1]; these range over [{lo:.3g}, {hi:.3g}]. "
                "Scale them (e.g. images / 255) or pass uint8."
            )
        out = np.round(arr * 255.0).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        if arr.min() < 0 or arr.max() > 255:
            raise ValueError(f"{where}: integer images must lie in 0..255.")
        out = arr.astype(np.uint8)
    else:
        raise TypeError(f"{where}: images of dtype {arr.dtype} are not supported; use uint8 or float in [0, 1].")
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    elif out.shape[-1] == 4:
        out = out[..., :3]
    return np.ascontiguousarray(out)


def _resize_uint8(images: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    t = torch.tensor(images).permute(0, 3, 1, 2).float()
    t = F.interpolate(t, size=size, mode="bilinear", antialias=True, align_corners=False)
    return t.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


_PREPROCESS_CHUNK = 256  # images preprocessed at a time


class StimulusSet:
    """A set of N RGB images (uint8, all of one size) with string ids and metadata columns.

    Build one with :meth:`from_arrays`, :meth:`from_images` (PIL images or paths) or :meth:`from_folder`.
    """

    #: preprocessed tensors larger than this are not kept (they are recomputed per batch instead)
    preprocess_cache_bytes = 512 * 2**20

    def __init__(
        self,
        images: np.ndarray,
        ids: Optional[Sequence[str]] = None,
        metadata: Optional[Mapping[str, Sequence[Any]]] = None,
        name: str = "stimuli",
    ) -> None:
        images = _to_uint8_hwc(np.asarray(images), "StimulusSet")
        n = len(images)
        if n == 0:
            raise ValueError("StimulusSet: the stimulus set is empty; give at least one image.")
        if ids is None:
            width = len(str(n - 1))
            ids = [f"{i:0{width}d}" for i in range(n)]
        ids = [str(i) for i in ids]
        if len(ids) != n:
            raise ValueError(f"StimulusSet: {len(ids)} ids for {n} images; give one id per image.")
        if len(set(ids)) != n:
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise ValueError(f"StimulusSet: ids must be unique; repeated: {dup}")
        meta: Dict[str, np.ndarray] = {}
        for key, col in (metadata or {}).items():
            col = np.asarray(col)
            if col.ndim == 0 or len(col) != n:
                got = "a scalar" if col.ndim == 0 else f"{len(col)} values"
                raise ValueError(
                    f"StimulusSet: metadata column {key!r} has {got} but there are {n} images; "
                    "give one value per image."
                )
            meta[str(key)] = col
        images.setflags(write=False)
        self._images = images
        self.ids: List[str] = ids
        self.metadata: Dict[str, np.ndarray] = meta
        self.name = name
        self._fingerprint: Optional[str] = None
        self._preprocessed: Dict[Tuple, torch.Tensor] = {}
        self._thumbs: Dict[int, List[bytes]] = {}

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, images: Any, ids: Optional[Sequence[str]] = None,
                    metadata: Optional[Mapping[str, Sequence[Any]]] = None, name: str = "stimuli") -> "StimulusSet":
        """From an array (N, H, W, 3|4|1) or (N, H, W), uint8 or float in [0, 1]."""
        if isinstance(images, torch.Tensor):
            images = images.detach().cpu().numpy()
        return cls(np.asarray(images), ids=ids, metadata=metadata, name=name)

    @classmethod
    def from_images(cls, images: Sequence[Any], ids: Optional[Sequence[str]] = None,
                    metadata: Optional[Mapping[str, Sequence[Any]]] = None,
                    size: Optional[Tuple[int, int]] = None, name: str = "stimuli") -> "StimulusSet":
        """From PIL images, file paths or single arrays. Images of different sizes need ``size=(H, W)``."""
        images = list(images)
        if not images:
            raise ValueError("StimulusSet: the stimulus set is empty; give at least one image.")
        arrays = [_as_uint8_image(im, f"image {i}") for i, im in enumerate(images)]
        sizes = sorted({a.shape[:2] for a in arrays})
        if size is not None:
            size = (size, size) if isinstance(size, int) else tuple(size)
            arrays = [a if a.shape[:2] == size else _resize_uint8(a[None], size)[0] for a in arrays]
        elif len(sizes) > 1:
            raise ValueError(
                f"StimulusSet: images have different sizes {sizes[:4]}{'…' if len(sizes) > 4 else ''}; "
                "pass size=(H, W) to resize them to one size."
            )
        return cls(np.stack(arrays), ids=ids, metadata=metadata, name=name)

    @classmethod
    def from_folder(cls, path: Union[str, os.PathLike], size: Optional[Tuple[int, int]] = None,
                    metadata: Optional[Mapping[str, Sequence[Any]]] = None) -> "StimulusSet":
        """Every image file in ``path`` (sorted by name); ids are the file names without suffix."""
        folder = Path(path)
        if not folder.is_dir():
            raise NotADirectoryError(f"StimulusSet.from_folder: {folder} is not a folder")
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(
                f"StimulusSet.from_folder: no image files in {folder} (looked for {sorted(IMAGE_SUFFIXES)})"
            )
        return cls.from_images(files, ids=[p.stem for p in files], metadata=metadata, size=size,
                               name=folder.name)

    # ---- access ---------------------------------------------------------------------------------
    @property
    def images(self) -> np.ndarray:
        """uint8 array (N, H, W, 3), read-only."""
        return self._images

    def __len__(self) -> int:
        return len(self._images)

    def __repr__(self) -> str:
        n, h, w, _ = self._images.shape
        cols = ", ".join(self.metadata) or "none"
        return f"StimulusSet({self.name!r}, {n} images of {h}x{w}, metadata: {cols})"

    def __getitem__(self, index: Any) -> "StimulusSet":
        """A subset (by int, slice, index array or boolean mask), keeping ids and metadata."""
        idx = np.arange(len(self))[index]
        idx = np.atleast_1d(idx)
        return StimulusSet(self._images[idx], ids=[self.ids[i] for i in idx],
                           metadata={k: v[idx] for k, v in self.metadata.items()}, name=self.name)

    def index_of(self, ids: Sequence[str]) -> np.ndarray:
        """Positions of the given ids; names the ids that are missing."""
        pos = {s: i for i, s in enumerate(self.ids)}
        missing = [s for s in ids if str(s) not in pos]
        if missing:
            raise KeyError(f"stimulus ids not in this set: {missing[:10]}{' …' if len(missing) > 10 else ''}")
        return np.array([pos[str(s)] for s in ids], dtype=np.int64)

    @property
    def fingerprint(self) -> str:
        """sha256 over the pixels, shape and ids: equal sets give equal fingerprints."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            h.update(repr(self._images.shape).encode())
            h.update(self._images.tobytes())
            h.update("\x00".join(self.ids).encode())
            self._fingerprint = h.hexdigest()
        return self._fingerprint

    # ---- preprocessing --------------------------------------------------------------------------
    def preprocess(self, spec: InputSpec, indices: Optional[Any] = None) -> torch.Tensor:
        """Float tensor (n, C, H, W) for a model: antialiased bilinear resize to ``spec.size``, then
        normalisation. The whole set is computed once per spec and kept when it fits
        :attr:`preprocess_cache_bytes`; larger sets are processed per call."""
        n = len(self)
        full_bytes = n * spec.channels * spec.size[0] * spec.size[1] * 4
        cached = self._preprocessed.get(spec.key)
        if cached is None and full_bytes <= self.preprocess_cache_bytes:
            cached = self._preprocess_rows(spec, np.arange(n))
            self._preprocessed[spec.key] = cached
        if cached is not None:
            return cached if indices is None else cached[torch.as_tensor(np.arange(n)[indices])]
        rows = np.arange(n) if indices is None else np.atleast_1d(np.arange(n)[indices])
        return self._preprocess_rows(spec, rows)

    def _preprocess_rows(self, spec: InputSpec, rows: np.ndarray) -> torch.Tensor:
        if spec.channels not in (1, 3):
            raise ValueError(f"InputSpec.channels must be 1 or 3, got {spec.channels}")
        if len(rows) <= _PREPROCESS_CHUNK:
            return self._preprocess_chunk(spec, rows)
        # in chunks written into the result, so the float intermediates of a large set never exist all at once
        # (10,000 images at 55 px peaked at about 3x the result's size before)
        out = torch.empty(len(rows), spec.channels, *spec.size)
        for start in range(0, len(rows), _PREPROCESS_CHUNK):
            out[start:start + _PREPROCESS_CHUNK] = self._preprocess_chunk(spec, rows[start:start + _PREPROCESS_CHUNK])
        return out

    def _preprocess_chunk(self, spec: InputSpec, rows: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(self._images[rows]).permute(0, 3, 1, 2).float().div_(255.0)
        if spec.channels == 1:
            x = x.mean(dim=1, keepdim=True)
        if tuple(x.shape[-2:]) != spec.size:
            x = F.interpolate(x, size=spec.size, mode="bilinear", antialias=True, align_corners=False)
        return spec.normalize(x).contiguous()

    # ---- thumbnails -----------------------------------------------------------------------------
    def thumbnails(self, size: int = 64) -> List[bytes]:
        """Small PNGs (longest side ``size``), one per image, for the widgets."""
        if size not in self._thumbs:
            from PIL import Image

            out = []
            for img in self._images:
                im = Image.fromarray(img)
                im.thumbnail((size, size), Image.LANCZOS)
                buf = io.BytesIO()
                im.save(buf, format="PNG", optimize=False)
                out.append(buf.getvalue())
            self._thumbs[size] = out
        return self._thumbs[size]
