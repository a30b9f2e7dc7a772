"""Attribution maps as pictures: overlays rendered to PNG bytes for the widgets.

* Colour maps are colour-blind safe: a diverging red-blue map (ColorBrewer RdBu) for signed maps and
  viridis for one-signed ones.
* Sign modes: ``"all"`` (signed), ``"positive"``, ``"negative"`` (shown as positive magnitudes) and
  ``"absolute"``.
* One absolute scale can be shared across images and methods (captum#1103: per-map normalisation makes
  maps incomparable); the scale is a high percentile of |value| so a few extreme pixels do not wash out the
  rest. Zero stays transparent, and an all-zero map renders as the bare image (captum#959 crashed).
"""
from __future__ import annotations

import io
from functools import lru_cache
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

SIGN_MODES = ("all", "positive", "negative", "absolute")
SIGNED_CMAP = "RdBu_r"
UNSIGNED_CMAP = "viridis"


@lru_cache(maxsize=8)
def colormap(name: str) -> np.ndarray:
    """A 256-entry RGB lookup table (uint8) of a matplotlib colour map."""
    from matplotlib import colormaps

    if name not in colormaps:
        raise ValueError(f"unknown colour map {name!r}; use a matplotlib colour map name such as 'viridis'")
    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def as_maps(result: Any) -> np.ndarray:
    """(N, H, W) float maps from an AttributionResult, a tensor or an array ((N, C, H, W) is summed over C)."""
    m = result.maps() if hasattr(result, "maps") else result
    m = m.detach().cpu().double().numpy() if isinstance(m, torch.Tensor) else np.asarray(m, dtype=np.float64)
    if m.ndim == 2:
        m = m[None]
    if m.ndim == 4:
        m = m.sum(axis=1)
    if m.ndim != 3:
        raise ValueError(f"attribution maps must be (H, W), (N, H, W) or (N, C, H, W); got shape {m.shape}")
    return m


def common_scale(*results: Any, sign: str = "all", percentile: float = 99.5) -> float:
    """One absolute scale for several results (methods and/or images): the ``percentile`` of the values
    shown in ``sign`` mode. 0.0 when everything is zero (renderers then draw nothing)."""
    _check_sign(sign)
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must lie in (0, 100], got {percentile}")
    vals = np.concatenate([_shown(as_maps(r), sign).ravel() for r in results]) if results else np.zeros(1)
    vals = vals[np.isfinite(vals)]
    return float(np.percentile(vals, percentile)) if vals.size else 0.0


def _check_sign(sign: str) -> None:
    if sign not in SIGN_MODES:
        raise ValueError(f"sign must be one of {SIGN_MODES}, got {sign!r}")


def _shown(m: np.ndarray, sign: str) -> np.ndarray:
    """The magnitudes a sign mode displays (>= 0)."""
    if sign == "positive":
        return np.clip(m, 0, None)
    if sign == "negative":
        return np.clip(-m, 0, None)
    return np.abs(m)


def colorize(map2d: np.ndarray, scale: float, sign: str = "all", cmap: Optional[str] = None) -> np.ndarray:
    """RGBA uint8 (H, W, 4): colour from the map, opacity from |value| / scale (zero is transparent)."""
    _check_sign(sign)
    m = np.nan_to_num(np.asarray(map2d, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    s = scale if np.isfinite(scale) and scale > 0 else 1.0
    if sign == "all":
        v = np.clip(m / s, -1.0, 1.0)
        rgb = colormap(cmap or SIGNED_CMAP)[np.round((v + 1.0) * 127.5).astype(np.int64)]
        a = np.abs(v)
    else:
        v = np.clip(_shown(m, sign) / s, 0.0, 1.0)
        rgb = colormap(cmap or UNSIGNED_CMAP)[np.round(v * 255).astype(np.int64)]
        a = v
    if not (np.isfinite(scale) and scale > 0):
        a = np.zeros_like(a)  # nothing to show
    return np.dstack([rgb, np.round(a * 255).astype(np.uint8)])


def _resize(arr: np.ndarray, hw: Tuple[int, int]) -> np.ndarray:
    if arr.shape[:2] == hw:
        return arr
    t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
    t = t[None, None] if t.dim() == 2 else t.permute(2, 0, 1)[None]
    t = F.interpolate(t, size=hw, mode="bilinear", align_corners=False)[0]
    return (t[0] if arr.ndim == 2 else t.permute(1, 2, 0)).numpy()


def overlay_png(map2d: np.ndarray, image: Optional[np.ndarray] = None, *, scale: Optional[float] = None,
                sign: str = "all", alpha: float = 0.75, size: Optional[int] = None,
                cmap: Optional[str] = None) -> bytes:
    """One map as PNG bytes, over ``image`` (uint8 (H, W, 3), resized to the map) or on transparency.

    ``scale`` None: this map's own scale (see :func:`common_scale`). ``size``: the PNG's longest side.
    """
    from PIL import Image

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    m = as_maps(map2d)[0]
    if scale is None:
        scale = common_scale(m, sign=sign)
    rgba = colorize(m, scale, sign, cmap).astype(np.float64)
    if image is not None:
        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f"the background image must be uint8 (H, W, 3), got shape {img.shape}")
        img = _resize(img.astype(np.float64), m.shape)
        a = rgba[..., 3:] / 255.0 * alpha
        out = Image.fromarray(np.clip(img * (1 - a) + rgba[..., :3] * a, 0, 255).round().astype(np.uint8), "RGB")
    else:
        rgba[..., 3] *= alpha
        out = Image.fromarray(rgba.round().astype(np.uint8), "RGBA")
    if size is not None:
        h, w = m.shape
        k = size / max(h, w)
        out = out.resize((max(1, round(w * k)), max(1, round(h * k))), Image.BILINEAR)
    buf = io.BytesIO()
    out.save(buf, format="PNG")
    return buf.getvalue()


def overlay_pngs(results: Sequence[Any], images: Any = None, *, shared_scale: Union[bool, float] = True,
                 sign: str = "all", percentile: float = 99.5, alpha: float = 0.75, size: Optional[int] = None,
                 cmap: Optional[str] = None) -> Tuple[List[bytes], Optional[float]]:
    """PNG overlays for several results (e.g. one per method), image by image, and the scale used.

    ``images``: a StimulusSet or uint8 array (N, H, W, 3) drawn under the maps (None: maps alone).
    ``shared_scale``: True for one scale over every map of every result, False for one per map, or a
    number to use as the scale. Returns ``[png of result 0 image 0, result 0 image 1, ..., result 1 ...]``.

    >>> pngs, scale = nw.attribution.overlay_pngs([sal, ig], stimuli[:1], size=160)
    """
    maps = [as_maps(r) for r in results]
    pics = None if images is None else np.asarray(getattr(images, "images", images))
    if pics is not None and any(len(m) != len(pics) for m in maps):
        raise ValueError(f"{len(pics)} background images for maps of {[len(m) for m in maps]} images")
    if isinstance(shared_scale, bool):
        scale = common_scale(*maps, sign=sign, percentile=percentile) if shared_scale else None
    else:
        scale = float(shared_scale)
    pngs = [overlay_png(m, None if pics is None else pics[i], scale=scale, sign=sign, alpha=alpha, size=size,
                        cmap=cmap)
            for ms in maps for i, m in enumerate(ms)]
    return pngs, scale
