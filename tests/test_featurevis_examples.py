"""Dataset examples and receptive fields, checked against brute force and hand-derived geometry."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from conftest import assert_untouched, snapshot
from neuro_widgets.engine.featurevis import dataset_examples, receptive_field


@pytest.fixture(scope="module")
def layer2_examples(resnet20, k92):
    return dataset_examples(resnet20, "layer2", k92.stimuli, k=5, batch_size=40)


def test_examples_match_brute_force(resnet20, k92, layer2_examples):
    ex = layer2_examples
    maps = resnet20.activations(k92.stimuli, "layer2")["layer2"]  # (92, 32, 16, 16), full maps
    flat = maps.flatten(2)
    m = flat.max(dim=2).values
    order = torch.argsort(m, dim=0, descending=True, stable=True)
    assert np.array_equal(ex.top, order[:5].T.numpy())
    assert np.array_equal(ex.bottom, order.flip(0)[:5].T.numpy())
    assert np.allclose(ex.max_activations, m.numpy())
    for c in (0, 7, 31):
        for r in range(5):
            i = ex.top[c, r]
            assert np.isclose(ex.top_values[c, r], m[i, c])
            y, x = ex.top_positions[c, r]
            assert maps[i, c, y, x] == m[i, c]
    assert np.all(np.diff(ex.top_values, axis=1) <= 0) and np.all(np.diff(ex.bottom_values, axis=1) >= 0)


def test_crops_are_the_receptive_field_in_stimulus_pixels(resnet20, k92, layer2_examples):
    ex = layer2_examples
    rf = ex.receptive_field
    scale = k92.stimuli.images.shape[1] / 32  # 175-pixel stimuli, 32-pixel model input
    for c in (3, 11):
        crop = ex.crop(c, 0)
        t, l, b, r = ex.top_boxes[c, 0]
        assert crop.shape == (b - t, r - l, 3)
        assert np.array_equal(crop, k92.stimuli.images[ex.top[c, 0], t:b, l:r])
        y, x = ex.top_positions[c, 0]
        # the unit's own location (its stride cell) lies inside the box
        assert t <= (y + 0.5) * rf.stride[0] * scale <= b and l <= (x + 0.5) * rf.stride[1] * scale <= r


def test_receptive_field_of_known_geometry():
    # conv 5x5 (pad 2) -> max-pool 2 -> conv 3x3 (pad 1): field 5 + 1 + 2*2 = 10 pixels, stride 2
    net = nn.Sequential(nn.Conv2d(3, 4, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, padding=1))
    probe = nw.Probe(net, nw.InputSpec(size=(32, 32)))
    rf = receptive_field(probe, "3")
    assert rf.size == (10, 10) and rf.stride == (2.0, 2.0) and rf.map_size == (16, 16)
    # unit (8, 8) sees pool cells 7..9 -> conv1 outputs 14..19 -> input pixels 12..21
    assert rf.box(8, 8) == (12, 12, 22, 22)
    assert rf.box(0, 0) == (0, 0, 6, 6)  # clipped at the border
    first = receptive_field(probe, "0")
    assert first.size == (5, 5) and first.box(10, 4) == (8, 2, 13, 7)


def test_examples_leave_the_model_untouched_and_reject_bad_input(resnet20, k92):
    before = snapshot(resnet20.module)
    small = k92.stimuli[:6]
    ex = dataset_examples(resnet20, "layer1.0", small, k=2)
    assert ex.top.shape == (16, 2) and ex.top_boxes.shape == (16, 2, 4)
    with pytest.raises(ValueError, match="k=7 is larger than the 6 stimuli"):
        dataset_examples(resnet20, "layer1.0", small, k=7)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        dataset_examples(resnet20, "layer1.0", small, k=0)
    with pytest.raises(KeyError, match="Did you mean"):
        dataset_examples(resnet20, "layer1.O", small)
    with pytest.raises(TypeError, match="StimulusSet"):
        dataset_examples(resnet20, "layer1.0", [1, 2, 3])
    with pytest.raises(ValueError, match="'top' or 'bottom'"):
        ex.crop(0, 0, which="best")
    token = nw.CancelToken()
    token.cancel()
    with pytest.raises(nw.Cancelled):
        dataset_examples(resnet20, "layer1.0", small, k=2, cancel=token)
    assert_untouched(resnet20.module, before)
