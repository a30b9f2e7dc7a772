"""Encoding validity: the default ceiling formula scores a model of the noise-free signal at 1, at any
reliability; encoding intervals have their nominal coverage over independent synthetic samples."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import t as student_t

import neuro_widgets as nw
from neuro_widgets.engine.alignment.ceiling import DEFAULT_CEILING_FORMULA


def simulated_neurons(rho: float, seed: int, n: int = 400, neuroids: int = 60, latents: int = 8, reps: int = 6):
    """(latents Z, responses): neuron signal = Z W; noise set so the repetition mean has reliability ``rho``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, latents))
    signal = z @ rng.normal(size=(latents, neuroids))
    signal = (signal - signal.mean(0)) / signal.std(0)
    noise_sd = np.sqrt(reps * (1 - rho) / rho)
    return z, signal, signal[:, :, None] + rng.normal(size=(n, neuroids, reps)) * noise_sd


@pytest.mark.parametrize("rho", [0.8, 0.5, 0.3])
def test_default_encoding_formula_scores_the_true_signal_at_one(rho):
    z, signal, resp = simulated_neurons(rho, seed=int(rho * 10))
    c = nw.alignment.split_half_consistency(resp, n_splits=10, seed=0)
    formula = DEFAULT_CEILING_FORMULA["encoding"]
    # the noise-free signal itself, correlated with the repetition mean (the definition) ...
    mean = resp.mean(2)
    r_true = np.median([np.corrcoef(signal[:, j], mean[:, j])[0, 1] for j in range(signal.shape[1])])
    assert nw.alignment.ceiled(r_true, c.value, formula) == pytest.approx(1, abs=0.05)
    # ... and a cross-validated ridge model on the latents that generate it
    s = nw.alignment.encoding_score(z, resp, "ridge", n_splits=5)
    assert nw.alignment.ceiled(s.value, c.value, formula) == pytest.approx(1, abs=0.06)
    # r / c overstates it by 1 / sqrt(reliability): the old default
    assert nw.alignment.ceiled(r_true, c.value, "r/c") == pytest.approx(1 / np.sqrt(rho), abs=0.08)


def test_encoding_interval_has_nominal_coverage():
    """200 independent synthetic samples (80 stimuli, features = noisy latents, 12 noisy neuroids): the 95 %
    interval covers the expected score (the mean over samples, the estimand of a cross-validated score) within a
    binomial tolerance of 95 % (3 SD: [0.904, 0.996]); mean ± 1.96 plain SE over the overlapping splits does not."""
    w = np.random.default_rng(999).normal(size=(6, 12)) / np.sqrt(6)
    scores = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(80, 6))
        x, y = z + 0.5 * rng.normal(size=z.shape), z @ w + rng.normal(size=(80, 12))
        scores.append(nw.alignment.encoding_score(x, y, "ridge", n_splits=10, seed=seed))
    truth = np.mean([s.value for s in scores])
    covered = np.mean([s.ci_low <= truth <= s.ci_high for s in scores])
    plain = np.mean([abs(s.value - truth) <= 1.96 * s.per_split.std(ddof=1) / np.sqrt(10) for s in scores])
    assert 0.904 <= covered <= 0.996, covered
    assert plain < 0.88, plain
    # the interval is Nadeau & Bengio's corrected resampled t, computed here by hand
    s = scores[0]
    se = np.sqrt(s.per_split.var(ddof=1) * (1 / 10 + 8 / 72))  # 80 stimuli: 8 test, 72 train
    assert s.error == pytest.approx(se, rel=1e-12)
    assert s.ci_high - s.value == pytest.approx(student_t.ppf(0.975, 9) * se, rel=1e-12)
