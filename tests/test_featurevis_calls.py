"""Objectives on a module that runs more than once per forward: ``name@k`` names one call, as in activations()."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from conftest import assert_untouched, snapshot
from neuro_widgets.engine.featurevis import dataset_examples, render, render_layer
from neuro_widgets.engine.featurevis.param import ImageParam

PLAIN = dict(param=ImageParam("pixel", decorrelate=False), transforms=None)


class SharedReLU(nn.Module):
    """One ``relu`` module applied after conv ``a`` (call 0) and after conv ``b`` (call 1)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a = nn.Conv2d(3, 4, 3)
        self.b = nn.Conv2d(4, 6, 3)  # a different channel count, so the two calls cannot be confused
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.b(self.relu(self.a(x))))


@pytest.fixture()
def shared():
    return nw.Probe(SharedReLU(), nw.InputSpec(size=(12, 12), mean=0.5, std=0.5))


def channel_mean(probe, name, images, c):
    uint8 = np.round(images * 255).astype(np.uint8)
    return probe.activations(nw.StimulusSet.from_arrays(uint8), name, use_cache=False)[name].mean(dim=(2, 3))[:, c]


@pytest.mark.parametrize("call, c", [(0, 3), (1, 5)])
def test_objective_on_one_call_optimizes_that_call(shared, call, c):
    res = render(shared, f"relu@{call}:{c}", steps=30, lr=0.1, **PLAIN)
    # the recorded value is the activation that probe.activations gives for the same call
    measured = channel_mean(shared, f"relu@{call}", res.images, c)
    assert np.allclose(res.final_values, measured.numpy(), atol=0.02)
    assert res.values[-1, 0] > res.values[0, 0]


def test_bare_name_of_a_module_that_runs_twice_is_refused(shared):
    before = snapshot(shared.module)
    for call in (lambda: render(shared, "relu:0"), lambda: render_layer(shared, "relu", steps=1)):
        with pytest.raises(ValueError, match=r"'relu' runs 2 times per forward pass.*'relu@0', 'relu@1'"):
            call()
    with pytest.raises(ValueError, match=r"'relu@2' does not exist; use 'relu@0', 'relu@1'"):
        render(shared, "relu@2:0")
    assert_untouched(shared.module, before)


def test_layer_sheet_and_dataset_examples_of_one_call(shared):
    sheet = render_layer(shared, "relu@1", steps=2)
    assert sheet.images.shape == (6, 12, 12, 3) and list(sheet.channels) == list(range(6))
    with pytest.raises(ValueError, match="channel 4 is out of range; layer 'relu@0' has 4 channels"):
        render_layer(shared, "relu@0", channels=[4], steps=1)
    images = np.random.default_rng(0).integers(0, 256, (5, 12, 12, 3), dtype=np.uint8)
    ex = dataset_examples(shared, "relu@1", images, k=2)
    acts = shared.activations(nw.StimulusSet.from_arrays(images), "relu@1", use_cache=False)["relu@1"]
    assert np.allclose(ex.max_activations, acts.flatten(2).max(dim=2).values.numpy(), atol=1e-6)
    assert ex.receptive_field.size == (5, 5)  # two 3x3 convolutions; call 0 alone would give 3x3
