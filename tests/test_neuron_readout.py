"""One neuron's readout (fit on training images only) and "what does this neuron want?" — against ridge fitted
directly, a simulated neuron with known weights, and a model-made neuron whose optimum is known to beat every real
image."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from neuro_widgets.engine.alignment.readout import fit_readout
from neuro_widgets.engine.alignment.regression import ridge_fit
from neuro_widgets.engine.featurevis.neuron_wants import neuron_wants
from neuro_widgets.engine.reduce import apply_reduce, pull_back

from conftest import assert_untouched, snapshot


@pytest.fixture(scope="module")
def simulated():
    """A neuron that is a known linear function of 300 features, recorded with noise over 6 repetitions."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 300))
    w = rng.normal(size=300) / np.sqrt(300)
    y = (x @ w)[:, None, None] + 0.3 * rng.normal(size=(240, 1, 6))
    return x, w, y


def test_readout_equals_ridge_fitted_directly_on_the_training_stimuli(simulated):
    x, _, y = simulated
    ro = fit_readout(x, y, 0, seed=3, n_boot=5)
    direct = ridge_fit(x[ro.train], y.mean(2)[ro.train])
    assert ro.alpha == float(direct.alphas[0])
    np.testing.assert_allclose(ro.weights, direct.coef[:, 0].numpy(), atol=1e-12)
    assert abs(ro.bias - float(direct.intercept[0])) < 1e-12
    assert set(ro.train).isdisjoint(ro.test) and len(ro.train) + len(ro.test) == 240


def test_readout_sees_only_its_training_stimuli(simulated):
    x, _, y = simulated
    ro = fit_readout(x, y, 0, seed=3, n_boot=5)
    scrambled = y.copy()
    scrambled[ro.test] = np.random.default_rng(1).normal(size=scrambled[ro.test].shape)
    again = fit_readout(x, scrambled, 0, seed=3, n_boot=5)
    np.testing.assert_array_equal(again.weights, ro.weights)
    assert ro.heldout_r > 0.5 and abs(again.heldout_r) < 0.35


def test_readout_recovers_a_known_neuron_and_brackets_its_held_out_r(simulated):
    x, w, y = simulated
    ro = fit_readout(x, y, 0, seed=0, n_boot=40)
    lo, hi = ro.heldout_r_ci
    assert lo < ro.heldout_r < hi
    rng = np.random.default_rng(5)
    new = rng.normal(size=(200, 300))
    pred, spread = ro.predict(new)
    assert np.corrcoef(pred, new @ w)[0, 1] > 0.6
    assert (spread > 0).all()
    # the fold predictions: stimulus i predicted by a fit that never saw it, so they track the signal too
    assert np.corrcoef(ro.oof_prediction, x @ w)[0, 1] > 0.5


def test_random_projection_pulls_back_exactly():
    x = torch.randn(7, 3, 30, 30)
    w = torch.randn(64)
    red = ("random_projection", 64, 2)
    np.testing.assert_allclose((apply_reduce(x, red) @ w).numpy(), (x.flatten(1) @ pull_back(w, 2700, red)).numpy(),
                               rtol=1e-4, atol=1e-4)


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 5, stride=2)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


def test_what_does_this_neuron_want_on_a_neuron_the_model_can_explain():
    probe = nw.Probe(_Tiny().eval(), nw.InputSpec(size=(24, 24), mean=(0.5,) * 3, std=(0.5,) * 3))
    rng = np.random.default_rng(0)
    stimuli = nw.StimulusSet.from_arrays(rng.random((80, 24, 24, 3)).astype(np.float32))
    # a "recorded" neuron that is channel 2 of layer `pool` (the mean of its ReLU map), plus trial noise
    acts = probe.activations(stimuli, "pool")["pool"]
    truth = acts[:, 2].flatten().numpy()
    recorded = truth[:, None, None] + 0.05 * truth.std() * rng.normal(size=(80, 1, 4))
    before = snapshot(probe.module)
    want = neuron_wants(probe, stimuli, recorded, "pool", 0, steps=40, top_k=5, readout={"n_boot": 10})
    assert_untouched(probe.module, before)
    assert want.readout.heldout_r > 0.9
    # the readout's prediction for the rendered image is the render's own final objective value
    assert want.predicted == pytest.approx(float(want.render.final_values[0]), rel=1e-3)
    assert want.predicted > want.recorded_max
    assert want.image.shape == (24, 24, 3)
    np.testing.assert_array_equal(want.recorded_top, np.argsort(-want.readout.observed)[:5])
    assert np.intersect1d(want.predicted_top, np.argsort(-truth)[:10]).size >= 3


@pytest.mark.parametrize("kwargs, error, match", [
    ({"neuron": 5}, IndexError, "out of range"),
    ({"neuron": "nope"}, KeyError, "no neuron 'nope'"),
    ({"neuron": 1.5}, TypeError, "index or a neuroid id"),
    ({"top_k": 0}, ValueError, "top_k must be"),
    ({"max_features": 0}, ValueError, "max_features"),
    ({"layer": "fc@3"}, ValueError, "does not exist"),
])
def test_bad_inputs_are_refused_before_any_work(kwargs, error, match):
    probe = nw.Probe(_Tiny().eval(), nw.InputSpec(size=(24, 24), mean=(0.5,) * 3, std=(0.5,) * 3))
    stimuli = nw.StimulusSet.from_arrays(np.random.default_rng(0).random((20, 24, 24, 3)).astype(np.float32))
    args = {"layer": "relu", "neuron": 0, **kwargs}
    before = snapshot(probe.module)
    with pytest.raises(error, match=match):
        neuron_wants(probe, stimuli, np.ones((20, 2)), args.pop("layer"), args.pop("neuron"), **args)
    assert_untouched(probe.module, before)
    with pytest.raises(TypeError, match="StimulusSet"):
        neuron_wants(probe, np.zeros((20, 24, 24, 3)), np.ones((20, 2)), "relu")
