"""Robustness transforms: random, seeded, differentiable operations applied to the batch before each step.

Each transform is a callable ``t(images, generator) -> images`` on float images (B, 3, H, W) in [0, 1];
random draws come from the render's own ``torch.Generator`` (on the CPU), so a seed fixes them. Jitter shifts
by an integer offset drawn from ``-d..d`` in each direction (both signs — Lucent's jitter only shifts one
way) and crops ``2d`` pixels; scale and rotation draw one value per image; uncovered areas are mid-gray.

The geometric transforms (pad, jitter, scale, rotation) are affine maps, so :class:`Compose` chains runs of
them into one matrix per image and resamples once, straight to the model's input size when asked
(``out_size``): one ``grid_sample`` replaces a pad, two crops, two resamplings and a resize, and the image
is interpolated once instead of three times. The 3x3 matrices are small float64 numpy arrays (a few
microseconds each, where torch spends tens on every tiny tensor), turned into one tensor per step.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

Transform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
Size = Tuple[int, int]

_LUCID_SIZE = 128  # the image size Lucid's pixel amounts were chosen for
_FULL_STRENGTH_EXTENT = 64  # below this many pixels the scale and rotation ranges shrink in proportion
_FILL = 0.5  # mid-gray where a transform uncovers the image
SCALES = tuple(round(0.90 + 0.02 * i, 2) for i in range(11))  # 0.90, 0.92, ..., 1.10
ANGLES = tuple(range(-10, 11)) + (0,) * 5  # degrees; 0 weighted 6 of 26


def _pick(values: Sequence[float], n: int, generator: torch.Generator) -> np.ndarray:
    idx = torch.randint(len(values), (n,), generator=generator)
    return np.asarray(values, dtype=np.float64)[idx.numpy()]


_EYE = np.eye(3)


def _eye(n: int) -> np.ndarray:
    return _EYE[None].repeat(n, 0)  # a fifth of np.tile's time; seven per step


class Geometric:
    """An affine transform. ``matrices`` gives, per image, the 3x3 map from output to input coordinates in
    ``grid_sample``'s normalised units (-1..1 across each axis, ``align_corners=False``) and the output size."""

    def matrices(self, n: int, size: Size, generator: torch.Generator) -> Tuple[np.ndarray, Size]:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return Compose([self])(x, generator)


class Pad(Geometric):
    """Pad every side by ``width`` pixels of mid-gray."""

    def __init__(self, width: int) -> None:
        if width < 0:
            raise ValueError(f"pad width must be >= 0, got {width}")
        self.width = int(width)

    def matrices(self, n: int, size: Size, generator: torch.Generator) -> Tuple[np.ndarray, Size]:
        h, w = size
        out = (h + 2 * self.width, w + 2 * self.width)
        m = _eye(n)
        m[:, 0, 0] = out[1] / w
        m[:, 1, 1] = out[0] / h
        return m, out

    def __repr__(self) -> str:
        return f"pad({self.width})"


class Jitter(Geometric):
    """Shift by (dy, dx), each drawn uniformly from ``-d..d`` for the whole batch; crops ``2d`` pixels."""

    def __init__(self, d: int) -> None:
        if d < 0:
            raise ValueError(f"jitter must be >= 0 pixels, got {d}")
        self.d = int(d)

    def matrices(self, n: int, size: Size, generator: torch.Generator) -> Tuple[np.ndarray, Size]:
        h, w = size
        d = self.d
        if h <= 2 * d or w <= 2 * d:
            raise ValueError(f"jitter({d}) needs images larger than {2 * d} pixels; got {h}x{w}")
        oy, ox = torch.randint(0, 2 * d + 1, (2,), generator=generator).tolist()
        out = (h - 2 * d, w - 2 * d)
        m = _eye(n)
        # output pixel j reads input pixel j + offset: in normalised units a scale and a shift
        m[:, 0, 0], m[:, 0, 2] = out[1] / w, 2.0 * (ox - d) / w
        m[:, 1, 1], m[:, 1, 2] = out[0] / h, 2.0 * (oy - d) / h
        return m, out

    def __repr__(self) -> str:
        return f"jitter({self.d})"


class RandomScale(Geometric):
    """Zoom each image by a factor drawn from ``scales`` about its centre (the size is kept)."""

    def __init__(self, scales: Sequence[float] = SCALES) -> None:
        if not scales or min(scales) <= 0:
            raise ValueError("random_scale needs a non-empty list of positive factors")
        self.scales = tuple(float(s) for s in scales)

    def matrices(self, n: int, size: Size, generator: torch.Generator) -> Tuple[np.ndarray, Size]:
        s = _pick(self.scales, n, generator)
        m = _eye(n)
        m[:, 0, 0] = 1.0 / s
        m[:, 1, 1] = 1.0 / s
        return m, size

    def __repr__(self) -> str:
        return f"random_scale({min(self.scales)}..{max(self.scales)})"


class RandomRotate(Geometric):
    """Rotate each image about its centre by an angle (degrees) drawn from ``angles``."""

    def __init__(self, angles: Sequence[float] = ANGLES) -> None:
        if not angles:
            raise ValueError("random_rotate needs a non-empty list of angles")
        self.angles = tuple(float(a) for a in angles)

    def matrices(self, n: int, size: Size, generator: torch.Generator) -> Tuple[np.ndarray, Size]:
        h, w = size
        a = _pick(self.angles, n, generator) * (math.pi / 180.0)
        cos, sin = np.cos(a), np.sin(a)
        m = _eye(n)
        # a rotation in pixel units, seen in normalised units (which stretch x by w/2 and y by h/2)
        m[:, 0, 0], m[:, 0, 1] = cos, -sin * h / w
        m[:, 1, 0], m[:, 1, 1] = sin * w / h, cos
        return m, size

    def __repr__(self) -> str:
        return f"random_rotate({min(self.angles):g}..{max(self.angles):g} deg)"


def _resample(x: torch.Tensor, theta: np.ndarray, size: Size) -> torch.Tensor:
    theta = torch.from_numpy(np.ascontiguousarray(theta[:, :2])).to(device=x.device, dtype=x.dtype)
    h, w = size
    grid = torch.matmul(_base_grid(h, w, x.dtype, x.device), theta.transpose(1, 2)).view(x.shape[0], h, w, 2)
    return F.grid_sample(x - _FILL, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + _FILL


@functools.lru_cache(maxsize=8)
def _base_grid(h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``F.affine_grid``'s (x, y, 1) of each output pixel, (h * w, 3). A matrix's grid is this times the matrix,
    the product affine_grid computes (bit for bit), without building the base grid every step: 18 instead of
    37 us for one 32-pixel image."""
    eye = torch.eye(2, 3, dtype=dtype, device=device)[None]
    xy = F.affine_grid(eye, [1, 1, h, w], align_corners=False).view(h * w, 2)  # times the identity: exact
    return torch.cat([xy, torch.ones_like(xy[:, :1])], dim=1)


class Compose:
    """Apply transforms in order; runs of geometric ones are fused into one resampling (see module doc)."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms: List[Transform] = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"a transform must be callable t(images, generator), got {t!r}")

    def __call__(self, x: torch.Tensor, generator: torch.Generator, out_size: Optional[Size] = None) -> torch.Tensor:
        """``out_size``: also resize the result to this size (fused into the last resampling if possible)."""
        i, ts = 0, self.transforms
        while i < len(ts):
            if not isinstance(ts[i], Geometric):
                x = ts[i](x, generator)
                i += 1
                continue
            size: Size = tuple(x.shape[-2:])
            theta = _eye(x.shape[0])
            while i < len(ts) and isinstance(ts[i], Geometric):
                m, size = ts[i].matrices(x.shape[0], size, generator)
                theta = theta @ m
                i += 1
            last = i == len(ts)
            if last and out_size is not None:
                size, out_size = tuple(out_size), None
            if np.array_equal(theta, _eye(x.shape[0])) and size == tuple(x.shape[-2:]):
                continue
            x = _resample(x, theta, size)
        if out_size is not None and tuple(x.shape[-2:]) != tuple(out_size):
            x = F.interpolate(x, size=tuple(out_size), mode="bilinear", align_corners=False)
        return x

    def __repr__(self) -> str:
        return " -> ".join(repr(t) for t in self.transforms) or "none"


def pad(width: int) -> Pad:
    return Pad(width)


def jitter(d: int) -> Jitter:
    return Jitter(d)


def random_scale(scales: Sequence[float] = SCALES) -> RandomScale:
    return RandomScale(scales)


def random_rotate(angles: Sequence[float] = ANGLES) -> RandomRotate:
    return RandomRotate(angles)


def standard_transforms(size: int = _LUCID_SIZE, receptive_field: Optional[float] = None) -> Compose:
    """Lucid's stack — pad 12, jitter 8, random scale 0.9–1.1, random rotation ±10°, jitter 4 — scaled to
    what the target unit sees: its extent is the image size, or the receptive field (in image pixels) when
    that is smaller.

    The pixel amounts scale with ``extent / 128`` (rounded down; an amount under one pixel drops that
    transform), so a 32-pixel CIFAR image is not swamped by 12 pixels of padding; the scale and rotation
    ranges shrink with ``extent / 64`` below 64 pixels. A first-layer unit with a 9-pixel field is then moved
    by a fraction of a pixel, not by half the period of the filter it is tuned to — Lucid's amounts, tuned for
    fields of a hundred pixels and more, cut the recovery of a known 9-pixel Gabor from 0.6 to 0.3.

    >>> standard_transforms(128)
    pad(12) -> jitter(8) -> random_scale(0.9..1.1) -> random_rotate(-10..10 deg) -> jitter(4)
    """
    extent = float(size) if receptive_field is None else min(float(size), float(receptive_field))
    k = extent / _LUCID_SIZE
    r = min(1.0, extent / _FULL_STRENGTH_EXTENT)
    steps: List[Transform] = []
    if int(12 * k):
        steps.append(pad(int(12 * k)))
    if int(8 * k):
        steps.append(jitter(int(8 * k)))
    steps += [random_scale(tuple(round(1.0 + (s - 1.0) * r, 4) for s in SCALES)),
              random_rotate(tuple(a * r for a in ANGLES))]
    if int(4 * k):
        steps.append(jitter(int(4 * k)))
    return Compose(steps)


def as_transform(transforms: Union[None, str, Transform, Sequence[Transform]], size: int,
                 receptive_field: Optional[float] = None) -> Compose:
    if transforms is None:
        return Compose([])
    if isinstance(transforms, str):
        if transforms != "standard":
            raise ValueError(f"transforms must be 'standard', None or a list of transforms, not {transforms!r}")
        return standard_transforms(size, receptive_field)
    if isinstance(transforms, Compose):
        return transforms
    if callable(transforms):
        return Compose([transforms])
    return Compose(list(transforms))
