"""The fast paths of the encoding models give scikit-learn's answers (issue 12: same r per neuron to 1e-4)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.cross_decomposition import PLSRegression

import neuro_widgets as nw


def _correlated(n, p, t, seed):
    """Features with a few strong shared directions and many targets: NIPALS's inner loop needs many passes."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 6))
    x = latent @ rng.normal(size=(6, p)) + 0.5 * rng.normal(size=(n, p))
    y = latent @ rng.normal(size=(6, t)) + rng.normal(size=(n, t))
    return x, y, rng.normal(size=(7, p))


@pytest.mark.parametrize("shape", [(60, 150, 20), (90, 30, 12), (40, 25, 1)], ids=["p>n", "p<n", "one target"])
def test_pls_closed_form_inner_loop_matches_sklearn(shape):
    x, y, x_test = _correlated(*shape, seed=sum(shape))
    k = min(shape[0], shape[1]) - 5
    ref = PLSRegression(n_components=k, scale=False).fit(x, y)
    if shape[2] > 1:
        assert max(ref.n_iter_) > 20  # the loop really ran many passes, so stopping at the same one matters
    ours = nw.alignment.pls_fit(x, y, n_components=k)
    np.testing.assert_allclose(ours.predict(x_test).numpy(), ref.predict(x_test).reshape(7, -1), atol=1e-8)
