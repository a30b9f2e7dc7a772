"""Ceiled scores: raw scores with the ceiling band by default; on request a named formula, refused where the
ceiling's CI reaches zero (a division by a ceiling that may be 0 is meaningless)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import squareform

import neuro_widgets as nw
from neuro_widgets.engine.alignment.ceiling import unit_bootstrap_ci


def test_sweep_reports_raw_scores_and_the_ceiling_band_by_default(resnet20, k92):
    res = nw.alignment.sweep(resnet20, k92, ["layer3"], regions=["hIT"], n_boot=20)
    row = res.rows[0]
    groups = nw.alignment.subject_groups(k92.neural, "hIT")
    c = nw.alignment.noise_ceiling(k92.neural.rdms("hIT"), "spearman", groups=groups)
    band = res.settings["ceiling_bands"]["hIT"]
    assert band["lower"] == pytest.approx(c.lower, abs=1e-12) and band["upper"] == pytest.approx(c.upper, abs=1e-12)
    assert band["ci"] == pytest.approx(unit_bootstrap_ci(c.lower_per_subject, np.mean, seed=0))
    assert band["ci"][0] > 0 and row.ceiling == pytest.approx(c.lower, abs=1e-12)
    assert np.isnan(row.ceiled) and np.isnan(res.best[0].ceiled) and res.settings["ceiling_formula"] is None
    assert "not computed" in res.settings["ceiled"]
    asked = nw.alignment.sweep(resnet20, k92, ["layer3"], regions=["hIT"], n_boot=20, ceiling_formula="default")
    assert asked.settings["ceiling_formula"] == "r/c" and "score / ceiling" in asked.settings["ceiled"]
    assert asked.rows[0].ceiled == pytest.approx(row.score / c.lower) and "(r/c)" in asked.rows[0].ceiling_note


def test_ceiled_score_is_refused_when_the_ceiling_ci_reaches_zero(resnet20, k92):
    """Five 'subjects' whose RDMs share only a weak signal: lower bound near 0, CI across 0 -> no ceiled score."""
    rng = np.random.default_rng(0)
    m = 92 * 91 // 2
    shared = rng.normal(size=m)
    rdms = np.stack([squareform(5 + 0.1 * shared + rng.normal(size=m)) for _ in range(5)])
    data = nw.NeuralRDMs({"X": rdms}, k92.stimuli.ids, {"X": [{"subject": i} for i in range(5)]})
    c = nw.alignment.noise_ceiling(rdms)
    lo, hi = unit_bootstrap_ci(c.lower_per_subject, np.mean, seed=0)
    assert lo < 0 < hi
    res = nw.alignment.sweep(resnet20, data, ["layer3"], stimuli=k92.stimuli, n_boot=20, ceiling_formula="r/c")
    row = res.rows[0]
    assert row.ceiling == pytest.approx(c.lower, abs=1e-12)
    assert np.isnan(row.ceiled) and "refused" in row.ceiling_note and np.isnan(res.best[0].ceiled)
    assert nw.alignment.ceiled(row.score, row.ceiling, "r/c") == pytest.approx(row.score / row.ceiling)


def test_ceiling_formula_is_checked(resnet20, k92):
    with pytest.raises(ValueError, match="no noise ceiling"):
        nw.alignment.sweep(resnet20, k92, ["layer3"], metric="cka", ceiling_formula="default")
    with pytest.raises(ValueError, match="unknown ceiling formula"):
        nw.alignment.sweep(resnet20, k92, ["layer3"], ceiling_formula="r/2c")
