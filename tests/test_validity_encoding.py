"""Encoding validity: the default ceiling formula scores a model of the noise-free signal at 1, at any
reliability; encoding intervals have their nominal coverage over independent synthetic samples."""
from __future__ import annotations

import numpy as np
import pytest

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
