"""The random control as a distribution over initialisations (issue 16 item 6): per-seed results equal the
single-seed sweeps, the pooled control is their mean, and the trained-minus-random CI includes the spread."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from neuro_widgets.engine.neural import NeuralRDMs

SEEDS = (0, 1, 2, 3)
LAYERS = ["1", "3", "5"]


@pytest.fixture(scope="module")
def setup():
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(128, 4))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    probe = nw.Probe(net.eval(), nw.InputSpec(size=(16, 16), mean=(0.5,) * 3, std=(0.25,) * 3))
    rng = np.random.default_rng(1)
    stim = nw.StimulusSet(rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8))
    feats = probe.activations(stim, "3")["3"].flatten(1).double().numpy()
    rdm = 1 - np.corrcoef(feats)  # the brain "is" layer 3, plus subject noise
    rdms = np.stack([rdm + rng.normal(0, 0.05, rdm.shape) for _ in range(3)])
    rdms = (rdms + rdms.transpose(0, 2, 1)) / 2
    rdms[:, np.arange(24), np.arange(24)] = 0
    return probe, stim, NeuralRDMs({"IT": rdms}, stimulus_ids=stim.ids)


def _sweep(setup, **kw):
    probe, stim, neural = setup
    return nw.alignment.sweep(probe, neural, stimuli=stim, layers=LAYERS, control="random", n_boot=100,
                              stratify=None, **kw)


def test_each_seed_equals_its_single_seed_sweep_and_the_pool_is_their_mean(setup):
    pooled = _sweep(setup, control_seeds=SEEDS)
    singles = {s: _sweep(setup, control_seed=s) for s in SEEDS}
    for s in SEEDS:
        mine = pooled.scores(f"random:{s}", "IT")
        alone = singles[s].scores("random", "IT")
        for key in ("score", "ci_low", "ci_high"):
            assert np.array_equal(mine[key], alone[key]), (s, key)
        b = next(b for b in pooled.best if b.model == f"random:{s}")
        b1 = next(b for b in singles[s].best if b.model == "random")
        assert (b.layer, b.score) == (b1.layer, b1.score) and np.array_equal(b.samples, b1.samples)
    per_seed = np.array([singles[s].scores("random", "IT")["score"] for s in SEEDS])
    rows = [r for r in pooled.rows if r.model == "random"]
    assert [r.layer for r in rows] == LAYERS
    for i, r in enumerate(rows):
        assert r.score == pytest.approx(per_seed[:, i].mean(), abs=1e-15)
        assert np.array_equal(r.raw, per_seed[:, i])  # the per-seed values are kept
        assert r.ci_low < r.score < r.ci_high
    assert pooled.settings["control_seeds"] == list(SEEDS)
    trained = pooled.scores("trained", "IT")
    assert np.array_equal(trained["score"], singles[0].scores("trained", "IT")["score"])


def test_difference_ci_adds_the_initialisation_spread(setup):
    res = _sweep(setup, control_seeds=SEEDS)
    (d,) = res.differences
    bt = next(b for b in res.best if b.model == "trained")
    seeds = [next(b for b in res.best if b.model == f"random:{s}") for s in SEEDS]
    control = np.mean([b.score for b in seeds])
    assert d.difference == pytest.approx(bt.score - control, abs=1e-14)
    # independent recomputation: the paired percentile CI over the same bootstrap resamples, then the
    # initialisation term 1.96 * SD / sqrt(K) added in quadrature to each half-width
    paired = bt.samples - np.mean([b.samples for b in seeds], axis=0)
    lo, hi = np.percentile(paired, [2.5, 97.5])
    init = 1.959963984540054 * np.std([b.score for b in seeds], ddof=1) / np.sqrt(len(SEEDS))
    assert d.ci_low == pytest.approx(d.difference - np.hypot(d.difference - lo, init), abs=1e-12)
    assert d.ci_high == pytest.approx(d.difference + np.hypot(hi - d.difference, init), abs=1e-12)
    assert d.ci_high - d.ci_low > hi - lo  # wider than resampling alone
    assert "initialisation variability over 4 control seeds" in d.method


def test_one_seed_keeps_the_single_control_and_bad_seeds_are_refused(setup):
    one = _sweep(setup, control_seeds=(3,))
    alone = _sweep(setup, control_seed=3)
    assert {r.model for r in one.rows} == {"trained", "random"}
    assert [r.score for r in one.rows] == [r.score for r in alone.rows]
    assert one.differences[0].ci_low == alone.differences[0].ci_low
    for bad, err in (((0, 0), ValueError), ((), ValueError), (("a",), TypeError), ((-1,), ValueError),
                     (3, TypeError)):
        with pytest.raises(err, match="control_seeds|seed"):
            _sweep(setup, control_seeds=bad)
