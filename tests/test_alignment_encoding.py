"""Encoding models, splits, internal-consistency ceilings and CKA vs scikit-learn and direct formulas."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr

import neuro_widgets as nw

from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import Ridge, RidgeCV

ALPHAS = nw.alignment.DEFAULT_ALPHAS


def _data(n, p, t, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p)) * rng.uniform(0.2, 3, p)
    y = x @ rng.normal(size=(p, t)) * rng.uniform(0, 1, t) + rng.normal(size=(n, t)) * rng.uniform(0.1, 40, t)
    return x, y, rng.normal(size=(9, p))


@pytest.mark.parametrize("p", [20, 300], ids=["primal", "kernel"])
def test_ridge_matches_sklearn_ridgecv_and_ridge(p):
    x, y, x_test = _data(80, p, 12)
    ours = nw.alignment.ridge_fit(x, y, ALPHAS)
    ref = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(x, y)
    np.testing.assert_array_equal(ours.alphas.numpy(), ref.alpha_)
    assert len(set(ref.alpha_)) > 3  # the targets really got different alphas
    np.testing.assert_allclose(ours.predict(x_test).numpy(), ref.predict(x_test), atol=1e-4)
    chosen = Ridge(alpha=ours.alphas.numpy()).fit(x, y)
    np.testing.assert_allclose(ours.predict(x_test).numpy(), chosen.predict(x_test), atol=1e-4)


def _brute_loo_mse(x, y, alpha):
    """Leave each stimulus out, refit scikit-learn's Ridge, and average the squared errors on it."""
    errs = []
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        errs.append((y[i] - Ridge(alpha=alpha, solver="cholesky").fit(x[keep], y[keep]).predict(x[i:i + 1])[0]) ** 2)
    return np.mean(errs, axis=0)


@pytest.mark.parametrize("p", [10, 90], ids=["primal", "kernel"])
def test_ridge_loo_error_equals_refitting_without_each_stimulus(p):
    # Large features make the smallest alphas nearly interpolate (1 - leverage ~ 1e-11), where the efficient
    # formula loses digits unless it avoids cancellation; brute force is the ground truth.
    x, y, _ = _data(30, p, 3, seed=5)
    x = x * 900
    for alpha in (0.01, 10.0, 1e5):
        fitted = nw.alignment.ridge_fit(x, y, [alpha])
        np.testing.assert_allclose(fitted.loo_mse[0].numpy(), _brute_loo_mse(x, y, alpha), rtol=1e-9)


def test_ridge_screen_that_errs_falls_back_to_every_alpha(monkeypatch):
    # A rank-1 screen is far off; the check on the recomputed pairs must notice and search every alpha exactly.
    from neuro_widgets.engine.alignment import regression

    monkeypatch.setattr(regression, "_LOW_RANK_RTOL", 0.99)
    x, y, x_test = _data(80, 300, 12)
    ours = nw.alignment.ridge_fit(x, y, ALPHAS)
    assert torch.isfinite(ours.loo_mse).all()  # every alpha was computed exactly
    ref = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(x, y)
    np.testing.assert_array_equal(ours.alphas.numpy(), ref.alpha_)


def test_ridge_on_constant_features_predicts_the_mean_like_ridgecv():
    x, y = np.ones((20, 5)), np.random.default_rng(0).normal(size=(20, 3))
    ours = nw.alignment.ridge_fit(x, y, ALPHAS)
    np.testing.assert_array_equal(ours.alphas.numpy(), RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(x, y).alpha_)
    np.testing.assert_allclose(ours.predict(x[:2]).numpy(), np.tile(y.mean(0), (2, 1)), atol=1e-12)


def test_pls_matches_sklearn():
    x, y, x_test = _data(70, 40, 6, seed=1)
    ours = nw.alignment.pls_fit(x, y, n_components=25)
    ref = PLSRegression(n_components=25, scale=False).fit(x, y)
    np.testing.assert_allclose(ours.predict(x_test).numpy(), ref.predict(x_test), atol=1e-6)


def test_encoding_score_equals_manual_sklearn_loop():
    x, y, _ = _data(60, 15, 5, seed=2)
    cats = np.repeat(np.arange(3), 20)
    res = nw.alignment.encoding_score(x, y, "ridge", n_splits=4, stratify=cats, seed=3)
    assert res.per_neuroid.shape == (4, 5) and res.alphas.shape == (4, 5)
    for k, (train, test) in enumerate(res.splits):
        pred = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(x[train], y[train]).predict(x[test])
        rs = [pearsonr(pred[:, j], y[test, j])[0] for j in range(5)]
        np.testing.assert_allclose(res.per_neuroid[k], rs, atol=1e-6)
    per_split = np.median(res.per_neuroid, axis=1)
    assert res.value == pytest.approx(per_split.mean())
    # corrected resampled t (Nadeau-Bengio): 6 of 60 stimuli held out
    assert res.error == pytest.approx(np.sqrt(per_split.var(ddof=1) * (1 / 4 + 6 / 54)))
    pls = nw.alignment.encoding_score(x, y, "pls", n_components=3, splits=res.splits)
    pred = PLSRegression(3, scale=False).fit(x[res.splits[0][0]], y[res.splits[0][0]]).predict(x[res.splits[0][1]])
    assert pls.per_neuroid[0, 1] == pytest.approx(pearsonr(pred[:, 1], y[res.splits[0][1], 1])[0], abs=1e-6)


def test_encoding_projection_options():
    x, y, _ = _data(50, 400, 4, seed=4)
    for project in (("pca", 10), ("random_projection", 32, 0)):
        res = nw.alignment.encoding_score(x, y, n_splits=2, project=project)
        assert np.isfinite(res.value)
    # a random projection is the probe's: the same as projecting the features first
    from neuro_widgets.engine.reduce import apply_reduce

    projected = apply_reduce(torch.as_tensor(x, dtype=torch.float32), ("random_projection", 32, 0)).double()
    np.testing.assert_allclose(res.per_neuroid, nw.alignment.encoding_score(projected, y, n_splits=2).per_neuroid,
                               atol=1e-12)
    with pytest.raises(ValueError, match="unknown project"):
        nw.alignment.encoding_score(x, y, n_splits=2, project="fft")


def test_shuffle_splits_are_disjoint_stratified_and_seeded():
    cats = np.repeat(["a", "b", "c", "d"], [40, 30, 20, 10])
    splits = nw.alignment.shuffle_splits(100, 10, 0.1, stratify=cats, seed=1)
    assert len(splits) == 10
    for train, test in splits:
        assert len(test) == 10 and len(train) == 90
        assert not set(train) & set(test) and len(set(train) | set(test)) == 100
        assert [int(np.sum(cats[test] == c)) for c in "abcd"] == [4, 3, 2, 1]
    again = nw.alignment.shuffle_splits(100, 10, 0.1, stratify=cats, seed=1)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(splits, again))
    assert len({tuple(t) for _, t in splits}) > 1  # different splits
    sel, ev = nw.alignment.half_split(100, cats, seed=0)
    assert not set(sel) & set(ev) and len(sel) + len(ev) == 100


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_split_half_recovers_designed_reliability(rho):
    """Responses = signal + noise, with noise chosen so the 8-repetition mean has reliability rho."""
    rng = np.random.default_rng(0)
    reps = 8
    signal = rng.normal(size=(300, 80, 1))
    noise_sd = np.sqrt(reps * (1 - rho) / rho)
    resp = signal + rng.normal(size=(300, 80, reps)) * noise_sd
    c = nw.alignment.split_half_consistency(resp, n_splits=10, seed=0)
    assert c.value == pytest.approx(rho, abs=0.04)
    assert c.per_neuroid.shape == (10, 80)
    # the definition, for the first split
    perm = np.asarray(__import__("torch").randperm(reps, generator=__import__("torch").Generator().manual_seed(0)))
    h1, h2 = resp[:, :, perm[:4]].mean(2), resp[:, :, perm[4:]].mean(2)
    r = np.array([pearsonr(h1[:, j], h2[:, j])[0] for j in range(80)])
    np.testing.assert_allclose(c.per_neuroid[0], 2 * r / (1 + r), atol=1e-10)


def test_ceiled_formulas_are_named():
    assert nw.alignment.ceiled(0.3, 0.6, "r/c") == pytest.approx(0.5)
    assert nw.alignment.ceiled(0.3, 0.6, "(r/c)^2") == pytest.approx(0.25)
    assert nw.alignment.ceiled(0.3, 0.6, "r^2/c") == pytest.approx(0.15)
    assert np.isnan(nw.alignment.ceiled(0.3, None))
    assert nw.alignment.ceiled(0.3, 0.64, "r/sqrt(c)") == pytest.approx(0.375)
    assert np.isnan(nw.alignment.ceiled(0.3, 0.6, "r/c", ceiling_ci=(-0.01, 0.9)))  # a ceiling that may be 0
    assert nw.alignment.ceiled(0.3, 0.6, "r/c", ceiling_ci=(0.2, 0.9)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown ceiling formula"):
        nw.alignment.ceiled(0.3, 0.6, "r/sqrt(2c)")


# ---- CKA ---------------------------------------------------------------------------------------------
def _np_hsic(k, l, unbiased):
    n = len(k)
    if not unbiased:
        h = np.eye(n) - 1 / n
        return np.trace(k @ h @ l @ h) / (n - 1) ** 2
    k, l = k - np.diag(np.diag(k)), l - np.diag(np.diag(l))
    one = np.ones(n)
    return (np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2))
            - 2 / (n - 2) * one @ k @ l @ one) / (n * (n - 3))


def _np_cka(x, y, kernel, unbiased):
    def kern(z):
        g = z @ z.T
        if kernel == "linear":
            return g
        d2 = np.diag(g)[:, None] + np.diag(g)[None] - 2 * g
        return np.exp(-d2 / (2 * np.median(d2[~np.eye(len(z), dtype=bool)])))
    k, l = kern(x), kern(y)
    return _np_hsic(k, l, unbiased) / np.sqrt(_np_hsic(k, k, unbiased) * _np_hsic(l, l, unbiased))


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("unbiased", [True, False])
def test_cka_equals_numpy_formula_and_invariances(kernel, unbiased):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 12))
    y = x[:, :5] @ rng.normal(size=(5, 7)) + rng.normal(size=(40, 7))
    ours = nw.alignment.cka(x, y, kernel=kernel, unbiased=unbiased)
    assert ours == pytest.approx(_np_cka(x, y, kernel, unbiased), abs=1e-10)
    assert nw.alignment.cka(x, x, kernel=kernel, unbiased=unbiased) == pytest.approx(1.0, abs=1e-12)
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    assert nw.alignment.cka(x @ q * 3.7, y, kernel=kernel, unbiased=unbiased) == pytest.approx(ours, abs=1e-10)


def test_linear_cka_closed_form_and_not_invariant_to_general_linear_maps():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 6)), rng.normal(size=(30, 4))
    xc, yc = x - x.mean(0), y - y.mean(0)
    closed = np.linalg.norm(yc.T @ xc) ** 2 / (np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc))
    assert nw.alignment.cka(x, y, unbiased=False) == pytest.approx(closed, abs=1e-12)
    skew = np.diag([10, 1, 1, 1, 1, 0.1])
    assert abs(nw.alignment.cka(x @ skew, y, unbiased=False) - closed) > 1e-3
    by_layer = nw.alignment.cka({"a": x, "b": x @ skew}, y, unbiased=False)
    assert by_layer["a"] == pytest.approx(closed)
