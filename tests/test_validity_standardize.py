"""Feature standardisation before correlation RDMs: an explicit sweep option (default off), equal to z-scoring
with scipy and building the RDM with numpy."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr, zscore

import neuro_widgets as nw


@pytest.mark.filterwarnings("ignore:Precision loss")  # scipy on the constant column
def test_standardize_features_equals_scipy_zscore():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 7)) * rng.uniform(0.1, 50, size=7) + 3
    x[:, 2] = 5.0  # a constant feature carries nothing: 0 after standardising
    ours = nw.alignment.standardize_features(torch.as_tensor(x), chunk=3).numpy()
    expected = np.nan_to_num(zscore(x, axis=0))
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_sweep_standardize_option_matches_independent_rsa(resnet20, k92):
    layers = ["layer2", "layer3"]
    raw = nw.alignment.sweep(resnet20, k92, layers, regions=["mIT"], n_boot=5)
    std = nw.alignment.sweep(resnet20, k92, layers, regions=["mIT"], n_boot=5, standardize=True)
    assert raw.settings["standardize"] is False and std.settings["standardize"] is True
    acts = resnet20.activations(k92.stimuli, layers)
    brain = k92.neural.rdms("mIT")[0]
    iu = np.triu_indices(92, 1)
    for row_raw, row_std, name in zip(raw.rows, std.rows, layers):
        x = acts[name].flatten(1).double().numpy()
        z = zscore(x, axis=0)
        z = z[:, np.isfinite(z).all(0)]
        for feats, row, tol in ((x, row_raw, 1e-9), (z, row_std, 1e-6)):  # z-scored features are kept in float32
            expected = spearmanr((1 - np.corrcoef(feats))[iu], brain[iu])[0]
            assert row.score == pytest.approx(expected, abs=tol), name
    assert abs(std.rows[0].score - raw.rows[0].score) > 0.01  # the option matters (layer2, monkey IT)
    with pytest.raises(TypeError, match="standardize"):
        nw.alignment.sweep(resnet20, k92, layers, standardize="yes")
