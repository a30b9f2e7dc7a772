"""Image parameterizations: what the optimizer actually changes, and how it becomes an RGB image in [0, 1].

An :class:`ImageParam` is a small, picklable recipe (kind, spectrum scale, colour handling); ``build`` turns
it into a :class:`LiveImage` holding the trainable tensors for a batch of images. Two kinds:

* ``"fft"`` — the image's 2-D Fourier spectrum, scaled by ``1 / max(freq, 1/max(h, w)) ** decay_power`` so
  that low frequencies dominate (natural-image statistics), brought back with an orthonormal inverse FFT.
* ``"pixel"`` — the pixels themselves (plain gradient ascent; used by the ground-truth tests).

Both then pass through colour decorrelation (a 3x3 matrix: the ImageNet one, or one estimated from a
stimulus set with :func:`color_matrix`) and a sigmoid that squashes the result into [0, 1]. ``grayscale``
optimizes one channel and repeats it, for gray stimulus sets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Sequence, Tuple

import numpy as np
import torch

# Colour correlation of ImageNet pixels (the square root of their 3x3 covariance), as used by Lucid.
IMAGENET_COLOR = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))
# the inverse FFT of a spectrum initialised at sd 0.01 is divided by this so the start is close to gray
_FFT_DAMPING = 4.0  # a power of two (see LiveImage)
#: the parameterizations ``ImageParam(kind=...)`` knows, each with a label (the first is the default)
PARAM_KINDS = {"fft": "Fourier + decorrelated", "pixel": "pixel"}


def color_matrix(stimuli: Any) -> Tuple[Tuple[float, ...], ...]:
    """A colour-decorrelation matrix estimated from a stimulus set (uint8 array or StimulusSet).

    The square root of the pixels' 3x3 colour covariance (``U sqrt(L)`` from its eigendecomposition, the
    Karhunen-Loeve transform), so that independent unit-variance noise mapped through it has the colour
    statistics of the stimuli. For a gray set the matrix has rank one and optimized images come out gray.

    >>> matrix = color_matrix(nw.datasets.kriegeskorte2008().stimuli)
    >>> render(probe, "layer3:5", param=ImageParam(color=matrix))  # or ImageParam(color=stimulus_set)
    """
    images = getattr(stimuli, "images", stimuli)
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"color_matrix needs RGB images (N, H, W, 3); got shape {arr.shape}")
    pixels = arr.reshape(-1, 3).astype(np.float64)
    if arr.dtype == np.uint8:
        pixels /= 255.0
    if len(pixels) > 1_000_000:  # a fixed, even subsample keeps this fast and deterministic
        pixels = pixels[:: len(pixels) // 1_000_000]
    cov = np.cov(pixels, rowvar=False)
    evals, evecs = np.linalg.eigh(cov)
    sqrt_cov = evecs * np.sqrt(np.clip(evals, 0.0, None))[None, :]
    return tuple(tuple(float(v) for v in row) for row in sqrt_cov)


def _normalized_color(matrix: Sequence[Sequence[float]]) -> torch.Tensor:
    m = torch.tensor(np.asarray(matrix, dtype=np.float64), dtype=torch.float32)
    if m.shape != (3, 3):
        raise ValueError(f"a colour matrix must be 3x3, got shape {tuple(m.shape)}")
    norm = m.norm(dim=0).max()
    if not torch.isfinite(norm) or norm <= 0:
        raise ValueError("the colour matrix is all zeros; estimate it from images that are not blank")
    return m / norm


@dataclass(frozen=True)
class ImageParam:
    """How images are parameterized. ``ImageParam()`` is the Lucid default (FFT, decorrelated, sigmoid).

    >>> render(probe, "layer3:5", param=ImageParam("pixel", decorrelate=False))
    """

    kind: str = next(iter(PARAM_KINDS))
    sd: float = 0.01
    decay_power: float = 1.0
    decorrelate: bool = True
    color: Any = None  # a 3x3 matrix, or a StimulusSet / image array to estimate one from; None = IMAGENET_COLOR
    grayscale: bool = False

    def __post_init__(self) -> None:
        if self.kind not in PARAM_KINDS:
            raise ValueError(f"ImageParam kind must be {' or '.join(map(repr, PARAM_KINDS))}, got {self.kind!r}")
        if not self.sd > 0:
            raise ValueError(f"ImageParam sd must be positive, got {self.sd!r}")
        if self.color is not None:
            color = self.color
            if hasattr(color, "images") or np.asarray(color).ndim == 4:
                color = color_matrix(color)
            object.__setattr__(self, "color", tuple(tuple(float(v) for v in row) for row in color))
            _normalized_color(self.color)  # validates the shape now, not mid-render

    def build(self, batch: int, size: Tuple[int, int], generator: torch.Generator,
              device: torch.device) -> "LiveImage":
        return LiveImage(self, batch, size, generator, device)

    def settings(self) -> dict:
        return {"kind": self.kind, "sd": self.sd, "decay_power": self.decay_power, "decorrelate": self.decorrelate,
                "color": self.color, "grayscale": self.grayscale}


def as_param(param: Any) -> ImageParam:
    if isinstance(param, ImageParam):
        return param
    if isinstance(param, str):
        return ImageParam(kind=param)
    raise TypeError(f"param must be {', '.join(map(repr, PARAM_KINDS))} or an ImageParam, not {type(param).__name__}")


class LiveImage:
    """The trainable tensors of one batch of images; calling it gives images (B, 3, H, W) in [0, 1]."""

    def __init__(self, recipe: ImageParam, batch: int, size: Tuple[int, int], generator: torch.Generator,
                 device: torch.device) -> None:
        self.recipe = recipe
        h, w = size
        channels = 1 if recipe.grayscale else 3
        if recipe.kind == "fft":
            shape = (batch, channels, h, w // 2 + 1, 2)
            fy = torch.fft.fftfreq(h)[:, None]
            fx = torch.fft.rfftfreq(w)[None, :]
            freq = torch.sqrt(fx * fx + fy * fy)
            scale = 1.0 / torch.clamp(freq, min=1.0 / max(h, w)) ** recipe.decay_power
            # the damping is a power of two, so dividing the spectrum instead of the image is exact
            self._scale = (scale / _FFT_DAMPING)[None, None, :, :, None].to(device)
        else:
            shape = (batch, channels, h, w)
            self._scale = None
        init = torch.randn(shape, generator=generator) * recipe.sd
        self.tensor = init.to(device).requires_grad_(True)
        self.size = (h, w)
        self._color = None
        if recipe.decorrelate and not recipe.grayscale:
            self._color = _normalized_color(recipe.color or IMAGENET_COLOR).to(device)

    def parameters(self) -> List[torch.Tensor]:
        return [self.tensor]

    def __call__(self) -> torch.Tensor:
        t = self.tensor
        if self._scale is not None:
            spectrum = torch.view_as_complex((t * self._scale).contiguous())
            t = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")
        if self._color is not None:  # a batched matmul: much faster on the CPU than the equivalent einsum
            t = torch.matmul(self._color, t.reshape(t.shape[0], 3, -1)).reshape(t.shape)
        img = torch.sigmoid(t)
        if img.shape[1] == 1:
            img = img.expand(-1, 3, -1, -1)
        return img
