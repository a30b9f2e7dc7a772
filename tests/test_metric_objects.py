"""The sweep's metric objects (issue 14): a user's estimator plugs in, the keyword API is a thin layer over them."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from conftest import seed_weights
from neuro_widgets.engine.alignment import NeuralResponses

from sklearn.linear_model import Ridge

LAYERS = ["1", "3", "5"]


@pytest.fixture(scope="module")
def small():
    """A small random conv net, 48 random images in 4 categories, and responses made from its layer "3"."""
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.Tanh(),
                        nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU())
    seed_weights(net, g)
    probe = nw.Probe(net, nw.InputSpec(size=(8, 8), mean=(0.5,) * 3, std=(0.25,) * 3))
    rng = np.random.default_rng(0)
    stim = nw.StimulusSet(rng.integers(0, 256, (48, 8, 8, 3), dtype=np.uint8),
                          metadata={"category": np.repeat(np.arange(4), 12)})
    f = probe.activations(stim, ["3"])["3"].flatten(1).double().numpy()
    signal = (f - f.mean(0)) @ rng.normal(size=(f.shape[1], 6))
    data = signal[:, :, None] + rng.normal(size=(48, 6, 4)) * signal.std()
    return probe, stim, NeuralResponses(data, stim.ids, {"region": np.array(["V"] * 6)})


def _raw(res):
    return {(r.layer, r.model): r.raw for r in res.rows}


def test_sklearn_ridge_as_the_mapping_gives_our_ridge_at_the_same_alpha(small):
    probe, stim, resp = small
    ours = nw.alignment.sweep(probe, resp, LAYERS, metric="encoding", stimuli=stim, alphas=[10.0], n_splits=3)
    cv = nw.alignment.CrossValidation(n_splits=3, seed=0)
    theirs = nw.alignment.sweep(probe, resp, LAYERS, stimuli=stim,
                                metric=nw.alignment.EncodingMetric(Ridge(alpha=10.0), cross_validation=cv))
    for key, raw in _raw(ours).items():
        assert raw.shape == (3, 6)
        np.testing.assert_allclose(_raw(theirs)[key], raw, atol=1e-8)
    assert [b.layer for b in theirs.best] == [b.layer for b in ours.best]
    assert theirs.settings["method"] == "Ridge" and ours.settings["method"] == "ridge"


@pytest.mark.parametrize("encoding", ["ridge", "pls"])
def test_keyword_api_equals_the_metric_object_it_describes(small, encoding):
    probe, stim, resp = small
    kw = nw.alignment.sweep(probe, resp, LAYERS, metric="encoding", stimuli=stim, encoding=encoding, n_components=3,
                            n_splits=4, seed=2)
    mapping = nw.alignment.RidgeMapping() if encoding == "ridge" else nw.alignment.PLSMapping(3)
    metric = nw.alignment.EncodingMetric(mapping, cross_validation=nw.alignment.CrossValidation(4, seed=2),
                                         ceiling=nw.alignment.InternalConsistency(seed=2))
    obj = nw.alignment.sweep(probe, resp, LAYERS, metric=metric, stimuli=stim, seed=2)
    for key, raw in _raw(kw).items():
        np.testing.assert_array_equal(_raw(obj)[key], raw)
    assert [(r.score, r.ceiling) for r in obj.rows] == [(r.score, r.ceiling) for r in kw.rows]
    assert [(b.layer, b.score) for b in obj.best] == [(b.layer, b.score) for b in kw.best]


def test_rsa_and_cka_objects_equal_their_keywords(small):
    probe, stim, resp = small
    rsa = nw.alignment.sweep(probe, resp, LAYERS, stimuli=stim, method="pearson", n_boot=20)
    rsa_obj = nw.alignment.sweep(probe, resp, LAYERS, stimuli=stim,
                                 metric=nw.alignment.RSAMetric("pearson", n_boot=20))
    cka = nw.alignment.sweep(probe, resp, LAYERS, "cka", stimuli=stim, unbiased=False)
    cka_obj = nw.alignment.sweep(probe, resp, LAYERS, stimuli=stim, metric=nw.alignment.CKAMetric(unbiased=False))
    for a, b in ((rsa, rsa_obj), (cka, cka_obj)):
        assert [(r.score, r.ci_low, r.ci_high) for r in a.rows] == [(r.score, r.ci_low, r.ci_high) for r in b.rows]
        assert a.settings["method"] == b.settings["method"] and a.settings["ci_kind"] == b.settings["ci_kind"]


def test_a_custom_correlation_is_used(small):
    probe, stim, resp = small

    def negated(pred, y):
        return -nw.alignment.pearson_r(pred, y)

    cv = nw.alignment.CrossValidation(n_splits=3, seed=0)
    plain = nw.alignment.EncodingMetric("pls", cross_validation=cv)
    flipped = nw.alignment.EncodingMetric("pls", negated, cross_validation=cv)
    feats = probe.activations(stim, ["3"])["3"]
    mean = resp.mean()
    np.testing.assert_allclose(flipped.score(feats, mean).per_neuroid, -plain.score(feats, mean).per_neuroid)


def test_metric_objects_refuse_bad_parts_clearly(small):
    probe, stim, resp = small
    with pytest.raises(TypeError, match="fit\\(X, y\\) and predict\\(X\\)"):
        nw.alignment.EncodingMetric(object())
    with pytest.raises(ValueError, match="unknown encoding method 'lasso'"):
        nw.alignment.EncodingMetric("lasso")
    with pytest.raises(TypeError, match="cross_validation must be"):
        nw.alignment.EncodingMetric("ridge", cross_validation=5)
    with pytest.raises(TypeError, match=r"set \['n_splits'\] there"):
        nw.alignment.sweep(probe, resp, LAYERS, stimuli=stim, metric=nw.alignment.EncodingMetric(), n_splits=3)
    with pytest.raises(TypeError, match="metric must be one of"):
        nw.alignment.sweep(probe, resp, LAYERS, stimuli=stim, metric=Ridge())
