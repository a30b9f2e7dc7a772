"""Stimulus sets: images with ids and metadata, a content fingerprint, preprocessing and thumbnails."""
from __future__ import annotations

import hashlib
import io
import numbers
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from .describe import brief

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


def image_size(size: Any, where: str) -> Tuple[int, int]:
    """``size`` as (height, width) in pixels: an int (square) or a pair of positive ints."""
    pair = (size, size) if isinstance(size, numbers.Integral) else size
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in pair):
        raise TypeError(f"{where} must be (height, width) in pixels, e.g. (224, 224), or one int for a square; "
                        f"got {brief(size)}")
    if min(pair) < 1:
        raise ValueError(f"{where} must be positive (height, width) in pixels, got {tuple(int(s) for s in pair)}")
    return int(pair[0]), int(pair[1])


def _per_channel(value: Any, default: float, channels: int, name: str) -> Tuple[float, ...]:
    """A mean/std argument as one float per channel (a single number applies to every channel)."""
    if value is None:
        return (default,) * channels
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or isinstance(value, (str, bytes)) or arr.ndim > 1:
        raise TypeError(f"InputSpec.{name} must be a number or one number per channel, got {brief(value)}")
    arr = np.repeat(arr.reshape(-1), channels) if arr.size == 1 else arr.reshape(-1)
    if arr.size != channels:
        raise ValueError(
            f"InputSpec.{name} has {arr.size} values but channels={channels}; give one value per channel or a "
            "single number."
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"InputSpec.{name} must be finite, got {tuple(arr.tolist())}")
    return tuple(float(v) for v in arr)


_UNITS_HINT = ("InputSpec.mean and std are in units of images scaled to [0, 1] (ImageNet: mean=(0.485, 0.456, 0.406), "
               "std=(0.229, 0.224, 0.225))")


@dataclass(frozen=True)
class InputSpec:
    """What a model expects: input size (H, W), per-channel normalisation, and class names if any.

    ``mean`` and ``std`` are per channel, in units of images scaled to [0, 1] (model input =
    ``(image - mean) / std``); a single number applies to every channel. By default there is no
    normalisation: mean 0 and std 1 for each of the ``channels`` channels (3 for RGB, 1 for grayscale).
    """

    size: Tuple[int, int]
    mean: Optional[Tuple[float, ...]] = None
    std: Optional[Tuple[float, ...]] = None
    class_names: Optional[Tuple[str, ...]] = None
    channels: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "size", image_size(self.size, "InputSpec.size"))
        if not isinstance(self.channels, numbers.Integral) or isinstance(self.channels, bool) or self.channels < 1:
            raise TypeError(f"InputSpec.channels must be a positive int (3 for RGB, 1 for grayscale), "
                            f"got {brief(self.channels)}")
        channels = int(self.channels)
        object.__setattr__(self, "channels", channels)
        mean = _per_channel(self.mean, 0.0, channels, "mean")
        std = _per_channel(self.std, 1.0, channels, "std")
        if any(m > 1 for m in mean) or any(s > 1 for s in std):
            raise ValueError(f"{_UNITS_HINT}; mean={mean}, std={std} look like 0-255 units: divide them by 255.")
        if any(m < 0 for m in mean):
            raise ValueError(f"InputSpec.mean must lie in [0, 1] (the mean pixel value of images scaled to [0, 1]), "
                             f"got {mean}. {_UNITS_HINT}.")
        if any(s <= 0 for s in std):
            raise ValueError(f"InputSpec.std must be positive, got {std}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)
        if self.class_names is not None:
            names = self.class_names
            if isinstance(names, (str, bytes)) or not isinstance(names, Iterable):
                raise TypeError(f"InputSpec.class_names must be a list of names, one per output class, "
                                f"got {brief(names)}")
            object.__setattr__(self, "class_names", tuple(str(c) for c in names))

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


def stimulus_ids(ids: Any, n: Optional[int], where: str, items: Tuple[str, str] = ("image", "images"),
                 repeated_hint: str = "") -> List[str]:
    """Ids as a list of unique strings (integers are accepted and written as strings), one per item when ``n``
    is given; ``items`` names the items (singular, plural) in error messages, ``repeated_hint`` is added to the
    error for repeated ids."""
    one, many = items
    if isinstance(ids, (np.ndarray, torch.Tensor)):
        ids = ids.tolist()
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"{where}: ids must be a list of strings, one per {one}; got {brief(ids)}")
    ids = list(ids)
    for i, s in enumerate(ids):
        if not isinstance(s, (str, numbers.Integral)) or isinstance(s, bool):
            raise TypeError(f"{where}: id {i} is {brief(s)} ({type(s).__name__}); ids must be strings (or ints)")
    out = [str(s) for s in ids]
    if n is not None and len(out) != n:
        raise ValueError(f"{where}: {len(out)} ids for {n} {many}; give one id per {one}.")
    if len(set(out)) != len(out):
        dup = [s for s, count in Counter(out).items() if count > 1]
        raise ValueError(f"{where}: ids must be unique; repeated: {dup[:5]}{' …' if len(dup) > 5 else ''}. "
                         f"Give each {one} its own id{repeated_hint}.")
    return out


def _read_image_file(path: Path, where: str) -> np.ndarray:
    from PIL import Image

    if not path.is_file():
        raise FileNotFoundError(f"{where}: no image file at {path}")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as err:  # PIL: unknown format, truncated or corrupt data
        raise ValueError(f"{where}: cannot read the image file {path} ({err}); it is truncated, corrupt or not "
                         "an image. Replace or remove it.") from err


def _as_uint8_image(img: Any, where: str) -> np.ndarray:
    """One image (PIL, path or array (H, W), (H, W, 1|3|4)) -> uint8 (H, W, 3)."""
    if isinstance(img, (str, os.PathLike)):
        return _read_image_file(Path(img), where)
    if hasattr(img, "convert") and hasattr(img, "size") and not isinstance(img, np.ndarray):
        try:
            return np.asarray(img.convert("RGB"))
        except (OSError, ValueError) as err:
            raise ValueError(f"{where}: cannot read this PIL image ({err}); it is truncated or corrupt.") from err
    if isinstance(img, torch.Tensor):
        img = img.detach().cpu().numpy()
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3:
        raise ValueError(f"{where}: one image must be an array (H, W, C) or (H, W) (grayscale), a PIL image or a "
                         f"file path; got {brief(img)}")
    return _to_uint8_hwc(arr[None], where)[0]


def _image_batch(arr: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W, C) from what users pass: a batch (N, H, W, C), grayscale (N, H, W), or ONE image (H, W, 3|4).

    A 3-D array whose last axis is 3 or 4 is one RGB(A) image, never N grayscale images 3 or 4 pixels wide
    (pass such a stack as (N, H, W, 1)).
    """
    if arr.ndim == 3:
        return arr[None] if arr.shape[-1] in (3, 4) else arr[..., None]
    if arr.ndim != 4:
        raise ValueError(
            f"{where}: images must be an array (N, H, W, C), (N, H, W) (grayscale) or one image (H, W, 3); "
            f"got shape {arr.shape}."
        )
    return arr


def _to_uint8_hwc(arr: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W, C) array of uint8, bool, or float in [0, 1] -> uint8 (N, H, W, 3)."""
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
    if min(arr.shape[1:3]) < 1:
        raise ValueError(f"{where}: images have no pixels (shape {arr.shape}); give images of at least 1x1.")
    if arr.dtype == np.uint8:
        out = arr
    elif arr.dtype == bool:
        out = arr.astype(np.uint8) * np.uint8(255)  # a binary image: True is white
    elif np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            bad = np.unique(np.nonzero(~np.isfinite(arr))[0])
            kind = " and ".join(k for k, f in (("NaN", np.isnan), ("infinite", np.isinf)) if f(arr).any())
            raise ValueError(f"{where}: images contain {kind} pixels (in images {bad[:10].tolist()}); "
                             "fix or drop them.")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"{where}: float images must lie in [0, 1]; these range over [{lo:.3g}, {hi:.3g}]. "
                "Scale them (e.g. images / 255) or pass uint8."
            )
        out = np.round(arr * 255.0).astype(np.uint8)
    elif np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 255:
            raise ValueError(f"{where}: integer images must lie in 0..255; these range over [{lo}, {hi}]. "
                             "Scale them to 0..255 (16-bit: images // 257) or pass floats in [0, 1].")
        out = arr.astype(np.uint8)
    else:
        raise TypeError(f"{where}: images of dtype {arr.dtype} are not supported; use uint8 or float in [0, 1].")
    if out.shape[-1] == 1:
        out = np.repeat(out, 3, axis=-1)
    elif out.shape[-1] == 4:
        out = out[..., :3]
    return np.ascontiguousarray(out)


def _as_array(images: Any, where: str) -> np.ndarray:
    """A numpy array from an array, a tensor or a (nested) list of equally shaped images."""
    if isinstance(images, torch.Tensor):
        if images.dim() == 3 and images.shape[0] in (3, 4) and images.shape[-1] not in (3, 4):
            raise ValueError(f"{where}: a tensor of shape {tuple(images.shape)} looks like one channels-first image; "
                             "pass x.permute(1, 2, 0) for one RGB image, or x.unsqueeze(-1) for a stack of "
                             "grayscale images.")
        images = images.detach().cpu()
        return (images.float() if images.dtype == torch.bfloat16 else images).numpy()
    if images is None:
        raise TypeError(f"{where}: images is None; give an array (N, H, W, C) of uint8 or floats in [0, 1]")
    if isinstance(images, (str, os.PathLike)):
        raise TypeError(f"{where}: got a path ({images}); for image files use StimulusSet.from_folder(folder) or "
                        "StimulusSet.from_images([paths])")
    try:
        arr = np.asarray(images)
    except ValueError as err:  # numpy: "inhomogeneous shape"
        raise ValueError(f"{where}: the images have different shapes, so they do not form one array; use "
                         "StimulusSet.from_images(list_of_images, size=(H, W)) to resize them to one size.") from err
    if arr.dtype == object:
        raise TypeError(f"{where}: images must be a numeric array (N, H, W, C), got {brief(images)} holding "
                        "Python objects; for PIL images or file paths use StimulusSet.from_images.")
    return arr


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
        raw = _as_array(images, "StimulusSet")
        if raw.size == 0:
            empty = raw.ndim < 3 or raw.shape[0] == 0
            raise ValueError(f"StimulusSet: {'the stimulus set is empty' if empty else 'the images have no pixels'} "
                             f"(shape {raw.shape}); give at least one image of at least 1x1 pixels.")
        images = _to_uint8_hwc(_image_batch(raw, "StimulusSet"), "StimulusSet")
        if np.may_share_memory(images, raw):
            images = images.copy()  # the set's pixels are read-only; the caller's array stays as it was
        n = len(images)
        if ids is None:
            width = len(str(n - 1))
            ids = [f"{i:0{width}d}" for i in range(n)]
        ids = stimulus_ids(ids, n, "StimulusSet")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise TypeError(f"StimulusSet: metadata must be a dict of columns {{name: one value per image}}, "
                            f"got {brief(metadata)}")
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
        self.name = str(name)
        self._fingerprint: Optional[str] = None
        self._preprocessed: Dict[Tuple, torch.Tensor] = {}
        self._thumbs: Dict[int, List[bytes]] = {}

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, images: Any, ids: Optional[Sequence[str]] = None,
                    metadata: Optional[Mapping[str, Sequence[Any]]] = None, name: str = "stimuli") -> "StimulusSet":
        """From an array (N, H, W, 3|4|1), grayscale (N, H, W), or one image (H, W, 3|4); uint8, bool or float
        in [0, 1]; numpy arrays or CPU/GPU tensors. A 3-D array whose last axis is 3 or 4 is read as one RGB(A)
        image: pass a stack of grayscale images that are 3 or 4 pixels wide as (N, H, W, 1). A 3-D *tensor*
        (3|4, H, W) is refused: in torch's layout it is one channels-first image, not 3 grayscale images."""
        return cls(images, ids=ids, metadata=metadata, name=name)

    @classmethod
    def from_images(cls, images: Sequence[Any], ids: Optional[Sequence[str]] = None,
                    metadata: Optional[Mapping[str, Sequence[Any]]] = None,
                    size: Optional[Tuple[int, int]] = None, name: str = "stimuli") -> "StimulusSet":
        """From PIL images, file paths or single arrays. Images of different sizes need ``size=(H, W)``."""
        if isinstance(images, (str, os.PathLike)):
            raise TypeError(f"StimulusSet.from_images takes a list of images or file paths, not one path "
                            f"({images}); for a folder use StimulusSet.from_folder(path), for one file "
                            "from_images([path]).")
        if isinstance(images, np.ndarray) or not isinstance(images, Iterable):
            raise TypeError(f"StimulusSet.from_images takes a list of PIL images, file paths or (H, W, C) arrays, "
                            f"got {brief(images)}; for one array of images use StimulusSet.from_arrays.")
        images = list(images)
        if not images:
            raise ValueError("StimulusSet: the stimulus set is empty; give at least one image.")
        if size is not None:
            size = image_size(size, "StimulusSet.from_images: size")
        arrays = [_as_uint8_image(im, f"image {i}") for i, im in enumerate(images)]
        sizes = sorted({a.shape[:2] for a in arrays})
        if size is not None:
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
        """Every image file in ``path`` (sorted by name; hidden files skipped); ids are the file names without
        suffix."""
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"StimulusSet.from_folder takes the path of a folder, got {brief(path)}")
        folder = Path(path)
        if not folder.exists():
            raise FileNotFoundError(f"StimulusSet.from_folder: no folder at {folder}")
        if not folder.is_dir():
            raise NotADirectoryError(f"StimulusSet.from_folder: {folder} is a file, not a folder; for one image "
                                     "use StimulusSet.from_images([path])")
        files = sorted(p for p in folder.iterdir()
                       if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file())
        if not files:
            raise ValueError(
                f"StimulusSet.from_folder: no image files in {folder} (looked for {sorted(IMAGE_SUFFIXES)})"
            )
        stems = Counter(p.stem for p in files)
        clash = [p.name for p in files if stems[p.stem] > 1]
        if clash:
            raise ValueError(f"StimulusSet.from_folder: file names are the ids, but {clash[:6]} share a name up to "
                             "the suffix; rename or move one of each.")
        arrays = [_read_image_file(p, "StimulusSet.from_folder") for p in files]
        return cls.from_images(arrays, ids=[p.stem for p in files], metadata=metadata, size=size,
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
        n = len(self)
        if isinstance(index, str) or (isinstance(index, (list, tuple)) and index
                                      and all(isinstance(i, str) for i in index)):
            raise TypeError(f"a StimulusSet is indexed by position; for ids use stimuli[stimuli.index_of({index!r})]")
        try:
            idx = np.atleast_1d(np.arange(n)[index])
        except IndexError as err:
            raise IndexError(f"cannot index a set of {n} stimuli with {brief(index)}: use positions 0..{n - 1} "
                             f"(or negative from the end), a slice, or a boolean mask of length {n}") from err
        if idx.size == 0:
            raise ValueError(f"the index {brief(index)} selects no stimuli; a StimulusSet needs at least one image")
        return StimulusSet(self._images[idx], ids=[self.ids[i] for i in idx],
                           metadata={k: v[idx] for k, v in self.metadata.items()}, name=self.name)

    def index_of(self, ids: Sequence[str]) -> np.ndarray:
        """Positions of the given ids (a list, or one id); names the ids that are missing."""
        if isinstance(ids, (str, numbers.Integral)):
            ids = [ids]
        if not isinstance(ids, Iterable):
            raise TypeError(f"index_of takes a list of stimulus ids (or one id), got {brief(ids)}")
        pos = {s: i for i, s in enumerate(self.ids)}
        missing = [s for s in ids if str(s) not in pos]
        if missing:
            raise KeyError(f"stimulus ids not in this set: {missing[:10]}{' …' if len(missing) > 10 else ''}; "
                           f"its ids are {self.ids[:3]}{' …' if len(self.ids) > 3 else ''}")
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
        if not isinstance(spec, InputSpec):
            raise TypeError(f"preprocess needs an nw.InputSpec (e.g. probe.input_spec), got {brief(spec)}")
        if spec.channels not in (1, 3):
            raise ValueError(f"a StimulusSet of RGB images feeds models with InputSpec.channels 3 (RGB) or 1 "
                             f"(grayscale), not {spec.channels}; pass model-ready tensors (N, {spec.channels}, H, W) "
                             "instead.")
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
        if not isinstance(size, numbers.Integral) or isinstance(size, bool) or size < 1:
            raise ValueError(f"thumbnail size must be a positive number of pixels, got {brief(size)}")
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
