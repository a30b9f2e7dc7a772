"""Small shared helpers: turning inputs into float64 tensors with clear errors."""
from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator, Optional, Union

import numpy as np
import torch

Device = Union[None, str, torch.device]


def as_tensor(x: Any, where: str, device: Device = None,
              dtype: Optional[torch.dtype] = torch.float64) -> torch.Tensor:
    """A float tensor on ``device`` (default: where it already is, CPU for arrays); NaN/inf rejected.

    ``dtype=None`` keeps a floating tensor's own precision (no float64 copy of a huge float32 layer).
    """
    if x is None:
        raise TypeError(f"{where}: got None; pass a numeric array or tensor")
    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        try:
            t = torch.from_numpy(np.array(x, dtype=np.float64))  # a writable copy
        except (TypeError, ValueError) as err:
            raise TypeError(f"{where}: expected a numeric array or tensor, got {type(x).__name__}") from err
    if dtype is None:
        dtype = t.dtype if t.is_floating_point() else torch.float64
    t = t.to(device=resolve_device(device, t.device), dtype=dtype)
    # a finite sum proves every value finite (NaN and inf propagate) without isfinite's full-size temporaries;
    # only a non-finite sum (or an overflow) needs the element-wise check
    if not torch.isfinite(t.sum()) and not torch.isfinite(t).all():
        n_nan = int(torch.isnan(t).sum())
        raise ValueError(
            f"{where}: contains {n_nan} NaN and {int((~torch.isfinite(t)).sum()) - n_nan} infinite value(s); "
            "drop or fill them before computing alignment scores"
        )
    return t


def features_2d(x: Any, where: str, device: Device = None,
                dtype: Optional[torch.dtype] = torch.float64) -> torch.Tensor:
    """(N, ...) activations flattened to (N, D)."""
    t = as_tensor(x, where, device, dtype)
    if t.dim() < 2:
        raise ValueError(f"{where}: expected (stimuli, features...) with at least 2 dimensions, got shape "
                         f"{tuple(t.shape)}")
    if t.shape[0] < 4:
        raise ValueError(f"{where}: needs at least 4 stimuli, got {t.shape[0]}")
    return t.reshape(t.shape[0], -1)


def resolve_device(device: Device, fallback: Optional[torch.device] = None) -> torch.device:
    """``device`` as a torch.device (``fallback``, else CPU, for None); a clear error for a malformed name or a
    device this machine does not have."""
    if device is None:
        return fallback if fallback is not None else torch.device("cpu")
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda:0' or a torch.device, got "
                        f"{type(device).__name__}")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:0' or 'mps'") from err
    available = {"cpu": True, "meta": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if not available.get(dev.type, True):
        raise ValueError(f"device {device!r} is not available on this machine; use device='cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} CUDA "
                         "device(s)")
    return dev


@contextlib.contextmanager
def single_threaded(device: torch.device) -> Iterator[None]:
    """Run CPU torch ops on one intra-op thread (restored afterwards), when called from the main thread; a no-op
    from any other thread and on other devices.

    Loops of many small ops (bootstrap resamples, rank updates) and LAPACK's ``eigh`` gain nothing from a
    second thread and stall badly when the machine is busy: measured here under load, one Spearman bootstrap
    step over 81 layers took 1.16 s on 2 threads and 0.06 s on 1; a 108 x 108 ``eigh`` 1.2 s vs 1.5 ms.
    ``torch.set_num_threads`` is process-wide, though: from a worker thread (a widget's job) it would change the
    thread count under the user's own code running meanwhile in the main thread, and two overlapping workers
    would restore each other's value in the wrong order. So only a call made where the user's code runs (the
    main thread, which then runs nothing else until the block ends) lowers it; worker threads keep torch's
    setting, whatever the user chose.
    """
    if device.type != "cpu" or threading.current_thread() is not threading.main_thread():
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
