"""Physiology stimuli: sinusoidal gratings (full-field or in a circular aperture) and sparse noise.

Stimuli are *described* by one row of parameters per image and drawn batch by batch (:meth:`images`), so a
survey of thousands of 224-pixel gratings never holds them all in memory. Images are luminance in [0, 1]
(mean grey 0.5), shown identically on every colour channel.

Conventions (the same everywhere in ``engine/physiology``):

* positions are (row, column) in input pixels, pixel centres at integer coordinates;
* ``orientation`` is the orientation of the bars in degrees, counter-clockwise from horizontal with the y axis
  pointing up (0 = horizontal bars, 90 = vertical bars), taken modulo 180;
* ``sf`` (spatial frequency) is in cycles per pixel; cycles per degree = ``sf * pixels_per_degree``;
* ``phase`` is in degrees; phase 0 puts a bright bar through the aperture centre;
* ``contrast`` is Michelson contrast (the sinusoid spans ``0.5 ± 0.5 * contrast``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

import numpy as np
import torch

from ..describe import brief
from ..stimuli import image_size

BACKGROUND = 0.5


def float_values(values: Any, name: str, *, low: float = -math.inf, high: float = math.inf,
            low_open: bool = False) -> np.ndarray:
    """A 1-D float array of the user's values, each finite and in range; a clear error otherwise."""
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or a list of numbers, got {brief(values)}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty list of numbers, got {brief(values)}")
    bad = ~np.isfinite(arr) | (arr < low) | (arr > high) | ((arr <= low) if low_open else False)
    if name.startswith("diameter"):
        bad &= ~np.isposinf(arr)  # inf = full field
    if bad.any():
        bound = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise ValueError(f"{name} must lie in {bound}; got {arr[bad][:5].tolist()}")
    return arr


def centre_of(size: Tuple[int, int], centre: Optional[Sequence[float]]) -> Tuple[float, float]:
    """The (row, column) centre of an image of ``size``, or the user's centre checked to lie inside it."""
    h, w = size
    if centre is None:
        return (h - 1) / 2, (w - 1) / 2
    c = float_values(centre, "centre")
    if c.size != 2 or not (0 <= c[0] <= h - 1 and 0 <= c[1] <= w - 1):
        raise ValueError(f"centre must be (row, column) inside the {h}x{w} image, got {brief(centre)}")
    return float(c[0]), float(c[1])


@dataclass(frozen=True)
class GratingSet:
    """Sinusoidal gratings, one row of parameters per image (see the module docstring for units)."""

    size: Tuple[int, int]
    orientation: np.ndarray
    sf: np.ndarray
    phase: np.ndarray
    contrast: np.ndarray
    diameter: np.ndarray  # pixels; inf = full field
    centre: Tuple[float, float]

    def __len__(self) -> int:
        return len(self.orientation)

    def images(self, start: int = 0, stop: Optional[int] = None, out: Optional[torch.Tensor] = None
               ) -> torch.Tensor:
        """Luminance images ``start:stop`` as a float32 tensor (n, H, W) in [0, 1] (written into ``out`` if given).

        The sinusoid is separable, ``cos(A_x + B_y) = cos A cos B - sin A sin B``, so each image is one batched
        (H, 2) x (2, W) product: the full-size image is written once."""
        sl = slice(start, len(self) if stop is None else stop)
        h, w = self.size
        y = (self.centre[0] - torch.arange(h, dtype=torch.float64)).view(1, h)  # up is positive
        x = (torch.arange(w, dtype=torch.float64) - self.centre[1]).view(1, w)

        def col(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a[sl], dtype=torch.float64).view(-1, 1)

        theta, k = torch.deg2rad(col(self.orientation)), 2 * math.pi * col(self.sf)
        # phase argument k * (-x sin theta + y cos theta) + phase: bars at ``orientation``
        a = -k * torch.sin(theta) * x + torch.deg2rad(col(self.phase))  # (n, W)
        b = k * torch.cos(theta) * y  # (n, H)
        amplitude = 0.5 * col(self.contrast)
        rows = torch.stack([torch.cos(b), -torch.sin(b)], -1) * amplitude[:, :, None]  # (n, H, 2)
        cols = torch.stack([torch.cos(a), torch.sin(a)], 1)  # (n, 2, W)
        lum = torch.bmm(rows.float(), cols.float(), out=out).add_(BACKGROUND)
        diameter = self.diameter[sl]
        if np.isfinite(diameter).any():
            radius2 = torch.as_tensor(diameter / 2, dtype=torch.float32).view(-1, 1, 1) ** 2
            outside = (x.float() ** 2).view(1, 1, w) + (y.float() ** 2).view(1, h, 1) > radius2
            lum.masked_fill_(outside, BACKGROUND)
        return lum


def gratings(size: Any, orientations: Any, sfs: Any, phases: Any, contrasts: Any = 1.0, diameters: Any = math.inf,
             centre: Optional[Sequence[float]] = None) -> GratingSet:
    """Every combination of the given parameters, ordered with ``sfs`` outermost, then diameters, contrasts,
    orientations and phases innermost (so the first images complete whole orientation curves at one SF).

    >>> g = gratings(64, orientations=np.arange(0, 180, 15), sfs=[0.05, 0.1], phases=np.arange(0, 360, 45))
    >>> g.images(0, 8).shape
    torch.Size([8, 64, 64])
    """
    ori = float_values(orientations, "orientations")
    sf = float_values(sfs, "sfs (cycles per pixel)", low=0.0, high=0.5, low_open=True)
    ph = float_values(phases, "phases (degrees)")
    con = float_values(contrasts, "contrasts", low=0.0, high=1.0)
    dia = float_values(diameters, "diameters (pixels)", low=0.0, low_open=True)
    grids = np.meshgrid(sf, dia, con, ori, ph, indexing="ij")
    sf_, dia_, con_, ori_, ph_ = (g.ravel() for g in grids)
    return grating_rows(size, ori_, sf_, ph_, con_, dia_, centre)


def grating_rows(size: Any, orientation: np.ndarray, sf: np.ndarray, phase: np.ndarray, contrast: np.ndarray,
                 diameter: np.ndarray, centre: Optional[Sequence[float]] = None) -> GratingSet:
    """Gratings from explicit per-image parameter arrays (all of one length)."""
    size = image_size(size, "size")
    cols = [np.asarray(a, dtype=np.float64).ravel() for a in (orientation, sf, phase, contrast, diameter)]
    if len({len(c) for c in cols}) != 1 or len(cols[0]) == 0:
        raise ValueError("grating parameters must be non-empty arrays of one length each")
    return GratingSet(size=size, orientation=cols[0] % 180.0, sf=cols[1], phase=cols[2], contrast=cols[3],
                      diameter=cols[4], centre=centre_of(size, centre))


@dataclass(frozen=True)
class SparseNoiseSet:
    """Single bright or dark squares on mean grey: ``patch`` pixels wide, top-left corners at ``positions``."""

    size: Tuple[int, int]
    positions: np.ndarray  # (n, 2) rows, columns of the top-left corners
    polarity: np.ndarray  # +1 bright, -1 dark
    patch: int
    contrast: float

    def __len__(self) -> int:
        return len(self.polarity)

    def images(self, start: int = 0, stop: Optional[int] = None, out: Optional[torch.Tensor] = None
               ) -> torch.Tensor:
        stop = len(self) if stop is None else stop
        h, w = self.size
        out = torch.full((stop - start, h, w), BACKGROUND) if out is None else out.fill_(BACKGROUND)
        for i, ((r, c), s) in enumerate(zip(self.positions[start:stop], self.polarity[start:stop])):
            out[i, r:r + self.patch, c:c + self.patch] = BACKGROUND + 0.5 * self.contrast * float(s)
        return out


def sparse_noise(size: Any, region: Tuple[int, int, int, int], patch: int, contrast: float = 1.0) -> SparseNoiseSet:
    """A bright and a dark ``patch``-pixel square at every position of a grid with step ``patch`` covering
    ``region`` = (top, left, bottom, right) of the image (clipped to it)."""
    h, w = image_size(size, "size")
    if not isinstance(patch, (int, np.integer)) or isinstance(patch, bool) or patch < 1:
        raise ValueError(f"patch must be a positive number of pixels, got {brief(patch)}")
    if not 0 < contrast <= 1:
        raise ValueError(f"contrast must lie in (0, 1], got {contrast!r}")
    top, left, bottom, right = max(0, region[0]), max(0, region[1]), min(h, region[2]), min(w, region[3])
    if bottom <= top or right <= left:
        raise ValueError(f"region {tuple(region)} does not overlap the {h}x{w} image")
    rows, cols = np.arange(top, bottom, patch), np.arange(left, right, patch)
    grid = np.stack(np.meshgrid(rows, cols, indexing="ij"), -1).reshape(-1, 2)
    positions = np.repeat(grid, 2, axis=0)
    polarity = np.tile([1.0, -1.0], len(grid))
    return SparseNoiseSet(size=(h, w), positions=positions, polarity=polarity, patch=int(patch),
                          contrast=float(contrast))
