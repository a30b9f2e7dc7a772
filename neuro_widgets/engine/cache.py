"""An in-memory LRU cache of activations with a byte budget."""
from __future__ import annotations

import numbers
import threading
from collections import OrderedDict
from typing import Hashable, Optional

import torch

from .describe import brief

DEFAULT_BUDGET_BYTES = 2 * 2**30


def tensor_bytes(value: object) -> int:
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return 0


class ActivationCache:
    """Keeps recently used activations while their total size stays within ``budget_bytes``.

    An entry larger than the whole budget is never stored. Thread-safe (widgets extract in a worker thread).
    Cached tensors are shared with callers: treat them as read-only.
    """

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self._entries: "OrderedDict[Hashable, object]" = OrderedDict()
        self._sizes: dict = {}
        self._lock = threading.Lock()
        self._budget = 0
        self.budget_bytes = budget_bytes
        self.hits = 0
        self.misses = 0

    @property
    def budget_bytes(self) -> int:
        return self._budget

    @budget_bytes.setter
    def budget_bytes(self, value: int) -> None:
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value >= 0 \
                or value == float("inf"):
            raise ValueError(f"cache budget must be a number of bytes >= 0 (e.g. 2 * 2**30 for 2 GiB; 0 turns "
                             f"caching off), got {brief(value)}")
        value = int(value)
        with self._lock:
            self._budget = value
            self._evict()

    @property
    def used_bytes(self) -> int:
        return sum(self._sizes.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Optional[object]:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
            self.misses += 1
            return None

    def put(self, key: Hashable, value: object) -> None:
        size = tensor_bytes(value)
        with self._lock:
            if key in self._entries:
                del self._entries[key]
                del self._sizes[key]
            if size > self._budget:
                return
            self._entries[key] = value
            self._sizes[key] = size
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._sizes.clear()

    def _evict(self) -> None:
        while self._entries and sum(self._sizes.values()) > self._budget:
            key, _ = self._entries.popitem(last=False)
            del self._sizes[key]
