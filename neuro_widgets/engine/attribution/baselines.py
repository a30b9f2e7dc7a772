"""Baselines (reference inputs) for the path and perturbation methods, the way captum users give them.

``baseline=`` or captum's own name ``baselines=`` (not both) takes

* a name: ``"zero"`` (all zeros in model-input space, i.e. the data mean), ``"black"`` / ``"white"`` (the
  image of pixel value 0 / 1 *before* the model's normalisation, normalised with the probe's InputSpec),
  ``"blur"`` (each input under a strong Gaussian blur: sigma :data:`BLUR_SIGMA` of the image's shorter side,
  edges replicated), ``"uniform noise"`` (one image of uniform [0, 1] pixels, normalised, drawn from a
  private generator seeded with :data:`NOISE_SEED`: the same for every image and every run);
* a number: that value at every input position, in model-input space (as captum reads it);
* a tensor (or array) in model-input space, normalised like the inputs: (C, H, W) or (1, C, H, W) for all
  images, or (N, C, H, W) with one baseline per image.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Dict, Mapping, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..describe import brief
from ..rng import generator
from ..stimuli import InputSpec

BASELINE_NAMES = ("zero", "black", "white", "blur", "uniform noise")
BLUR_SIGMA = 0.1  # of the shorter image side: 22 px at 224 px, where an object's shape is gone
NOISE_SEED = 0

BaselineArg = Union[str, float, torch.Tensor, np.ndarray]
#: (batch of model-ready inputs, their rows in the whole set) -> what captum gets as ``baselines``
BatchBaseline = Callable[[torch.Tensor, slice], Union[float, torch.Tensor]]


def merge_alias(params: Mapping[str, Any], where: str) -> Dict[str, Any]:
    """``params`` with captum's ``baselines=`` renamed to ``baseline=``; both at once is an error."""
    out = dict(params)
    if "baselines" in out:
        if "baseline" in out:
            raise TypeError(f"{where}: got both baseline= and baselines= (captum's name for the same thing); "
                            "pass only one of them")
        out["baseline"] = out.pop("baselines")
    return out


def check_value(value: Any, where: str) -> Union[float, torch.Tensor]:
    """A number or a finite tensor (what a baseline other than a name may be), on the CPU; else a clear error."""
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        if not math.isfinite(float(value)):
            raise ValueError(f"{where}: a baseline number must be finite, got {value}")
        return float(value)
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiu":
        value = torch.from_numpy(np.array(value, dtype=np.float32))
    if isinstance(value, torch.Tensor):
        if not (value.is_floating_point() or value.dtype in (torch.uint8, torch.int32, torch.int64)):
            raise TypeError(f"{where}: a baseline tensor must hold numbers, got dtype {value.dtype}")
        t = value.detach().cpu()
        if not torch.isfinite(t).all():
            raise ValueError(f"{where}: the baseline tensor of shape {tuple(t.shape)} contains NaN or infinite "
                             "values")
        return t
    raise TypeError(f"{where}: a baseline is a name ({', '.join(repr(n) for n in BASELINE_NAMES)}), a number or "
                    f"a tensor in model-input space; got {brief(value)}")


def blur(x: torch.Tensor, sigma_fraction: float = BLUR_SIGMA) -> torch.Tensor:
    """Each image of ``x`` (N, C, H, W) under a separable Gaussian blur, sigma ``sigma_fraction`` of the shorter
    side, truncated at 3 sigma as scipy's ``gaussian_filter`` does, edges replicated (its ``mode="nearest"``).
    Per-channel normalisation commutes with it, so blurring model-ready inputs equals normalising blurred
    pixels."""
    sigma = sigma_fraction * min(x.shape[-2:])
    radius = max(1, int(3 * sigma + 0.5))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-offsets ** 2 / (2 * sigma ** 2))
    kernel = (kernel / kernel.sum()).to(device=x.device, dtype=x.dtype)
    c = x.shape[1]
    out = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def uniform_noise(spec: InputSpec, size: Any, n: int = 1, seed: int = NOISE_SEED) -> torch.Tensor:
    """``n`` images (n, C, H, W) of uniform [0, 1] pixels, normalised for the model, from a private generator
    seeded with ``seed`` (the 'uniform noise' baseline; GradientSHAP's baseline distribution)."""
    return spec.normalize(torch.rand(n, spec.channels, *size, generator=generator(seed)))


def for_batches(spec: InputSpec, value: BaselineArg, n: int, size: Any, where: str) -> BatchBaseline:
    """What captum gets as ``baselines`` for each batch: a float, or a tensor shaped like the batch."""
    if isinstance(value, str):
        if value == "zero":
            return lambda x, rows: 0.0
        if value == "blur":
            return lambda x, rows: blur(x.detach())
        if value == "uniform noise":
            image = uniform_noise(spec, size)
        else:
            pixel = 0.0 if value == "black" else 1.0
            image = spec.normalize(torch.full((1, spec.channels, *size), pixel))
        return lambda x, rows: image.to(device=x.device, dtype=x.dtype).expand_as(x)
    value = check_value(value, where)
    if isinstance(value, float):
        return lambda x, rows: value
    one = (spec.channels, *size)
    shape = tuple(value.shape)
    if shape == one or shape == (1, *one):
        image = value.reshape(1, *one)
        return lambda x, rows: image.to(device=x.device, dtype=x.dtype).expand_as(x)
    if shape == (n, *one):
        return lambda x, rows: value[rows].to(device=x.device, dtype=x.dtype)
    raise ValueError(f"{where}: a baseline tensor of shape {shape} does not fit {n} image(s) of shape {one}; give "
                     f"{one} or {(1, *one)} (one baseline for all images) or {(n, *one)} (one per image), in "
                     "model-input space (normalised like the inputs)")
