"""Nothing a layer click computes outlives it: the render's memory measurement keeps no tensors, and the
widgets' result cache stays within its byte budget."""
from __future__ import annotations

import gc

import numpy as np
import torch

from neuro_widgets.engine.featurevis.layer_sheet import bytes_per_image
from neuro_widgets.engine.featurevis.objectives import channel
from neuro_widgets.engine.featurevis.render import make_plan
from neuro_widgets.widgets.jobs import JobRunner, result_nbytes


def live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def test_bytes_per_image_keeps_no_tensors(resnet20):
    plan = make_plan(resnet20, channel("layer2", [0]), batch=1, size=None, input_size=None, param="fft",
                     transforms="standard", steps=4, lr=0.05, redirect_relu=True, snapshots=())
    first = bytes_per_image(resnet20, plan)
    before = live_tensors()
    sizes = [bytes_per_image(resnet20, plan) for _ in range(20)]
    assert live_tensors() - before <= 0  # before the fix: about 63 more live tensors per call
    # still a measurement: the same positive number every time, at least the layer's own output (16x16x32 float)
    assert sizes == [first] * 20 and first >= 32 * 16 * 16 * 4


class Sheet:
    def __init__(self, n):
        self.images = np.zeros(n, np.uint8)
        self.values = torch.zeros(n // 4)  # float32: n bytes
        self.meta = {"png": [b"x" * n]}


def test_result_nbytes_counts_arrays_tensors_and_bytes():
    sheet = Sheet(1000)
    assert result_nbytes(sheet) == 3000
    assert result_nbytes({"a": sheet, "b": [sheet, sheet.images]}) == 3000  # shared objects counted once


def test_cache_kept_within_its_byte_budget():
    runner = JobRunner(lambda slot, status: None, cache_bytes=10_000)
    for i in range(10):
        runner.remember(i, Sheet(1000))  # 3,000 bytes each
    assert runner.cache_nbytes() == 9000
    assert [runner.cached(i) is not None for i in range(10)] == [False] * 7 + [True] * 3  # oldest gone first
    runner.cached(7)  # used: now the most recent
    runner.remember("new", Sheet(1000))
    assert runner.cached(7) is not None and runner.cached(8) is None
    runner.remember("huge", Sheet(10_000))  # larger than the whole budget: not kept, nothing evicted for it
    assert runner.cached("huge") is None and runner.cache_nbytes() == 9000
