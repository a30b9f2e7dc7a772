"""The one codec between the kernel and the front end: images as PNG bytes, arrays as raw little-endian bytes.

Every ``bytes`` value placed anywhere inside a synced trait travels as a binary websocket buffer (ipywidgets
splits them out of the JSON), so nothing here is ever base64-encoded. The front end reads them as ``DataView``.

Arrays are sent as ``{"dtype": "float32", "shape": [n, m], "data": <bytes>}`` (C order, little endian); the
front end's ``decodeArray`` (``js/src/codec.js``) turns that into a typed array with the same shape.
"""
from __future__ import annotations

import io
from typing import Any, Dict, Iterable, List

import numpy as np

#: dtypes the front end can decode (each maps to a JS typed array)
ARRAY_DTYPES = ("uint8", "int32", "float32", "float64")

#: the largest payload one synced trait may carry; large sheets are paged well below the ~10 MB websocket cap
MAX_MESSAGE_BYTES = 4 * 2**20


def to_uint8_image(image: Any) -> np.ndarray:
    """(H, W), (H, W, 1|3|4) uint8 or float in [0, 1] (values outside are clipped) -> uint8 (H, W, 3|4)."""
    arr = np.asarray(image)
    if hasattr(image, "detach"):
        arr = image.detach().cpu().numpy()
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channels-first (C, H, W)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3, 4):
        raise ValueError(f"an image must be (H, W) or (H, W, 1|3|4); got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.nan_to_num(arr.astype(np.float64), nan=0.0)
        arr = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.ascontiguousarray(arr)


def png_bytes(image: Any, size: int | None = None) -> bytes:
    """One image as PNG bytes; ``size`` resizes so the longest side is ``size`` pixels (nearest for upscaling).

    >>> png_bytes(np.zeros((8, 8, 3)))[:4]
    b'\\x89PNG'
    """
    from PIL import Image

    im = Image.fromarray(to_uint8_image(image))
    if size is not None and max(im.size) != size:
        scale = size / max(im.size)
        new = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
        im = im.resize(new, Image.NEAREST if scale > 1 else Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def png_list(images: Iterable[Any], size: int | None = None) -> List[bytes]:
    return [png_bytes(img, size) for img in images]


def encode_array(array: Any, dtype: str = "float32") -> Dict[str, Any]:
    """A numeric array as ``{"dtype", "shape", "data": bytes}`` for a synced trait."""
    if dtype not in ARRAY_DTYPES:
        raise ValueError(f"dtype must be one of {ARRAY_DTYPES}, got {dtype!r}")
    arr = np.asarray(array.detach().cpu().numpy() if hasattr(array, "detach") else array)
    arr = np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "shape": list(arr.shape), "data": arr.tobytes()}


def decode_array(payload: Dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode_array` (also accepts the memoryview a front-end message arrives as)."""
    dtype = payload.get("dtype")
    if dtype not in ARRAY_DTYPES:
        raise ValueError(f"unknown array dtype {dtype!r}; expected one of {ARRAY_DTYPES}")
    data = bytes(payload["data"])
    return np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<")).reshape(payload["shape"]).copy()


def payload_bytes(value: Any) -> int:
    """Binary bytes inside a (nested) trait value: what one sync message of it would carry."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, dict):
        return sum(payload_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(payload_bytes(v) for v in value)
    return 0


def check_message_size(value: Any, what: str) -> Any:
    """``value`` unchanged, or a clear error when one sync of it would carry more than MAX_MESSAGE_BYTES."""
    size = payload_bytes(value)
    if size > MAX_MESSAGE_BYTES:
        raise ValueError(f"{what} would send {size / 2**20:.1f} MiB in one message (limit "
                         f"{MAX_MESSAGE_BYTES / 2**20:.0f} MiB); show fewer items per page")
    return value
