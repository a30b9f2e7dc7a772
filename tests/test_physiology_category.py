"""Category selectivity on the fLoc images: readout units built (by a Fisher discriminant on pooled pixels)
to respond to one domain are found selective for that domain only; d' and the permutation test are checked
against direct computations; the random-weights control runs on a copy and leaves the model untouched."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import permutation_test
from torch import nn

import neuro_widgets as nw
from neuro_widgets.engine.hooks import has_hooks

from conftest import assert_untouched, snapshot

phys = nw.physiology
SPEC = nw.InputSpec(size=32, mean=(0.5,) * 3, std=(0.25,) * 3)


@pytest.fixture(scope="module")
def floc():
    return nw.datasets.floc()


def pooled(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.adaptive_avg_pool2d(x, 8).flatten(1)


class Readout(nn.Module):
    def __init__(self, weights: np.ndarray) -> None:
        super().__init__()
        self.fc = nn.Linear(weights.shape[1], len(weights))
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor(weights, dtype=torch.float32))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(pooled(x))


def fisher_direction(features: np.ndarray, mask: np.ndarray) -> np.ndarray:
    within = np.cov(features[mask].T) + np.cov(features[~mask].T)
    within += 1e-2 * np.trace(within) / len(within) * np.eye(len(within))
    return np.linalg.solve(within, features[mask].mean(0) - features[~mask].mean(0))


@pytest.fixture(scope="module")
def readout_probe(floc):
    feats = pooled(floc.preprocess(SPEC)).double().numpy()
    cats = np.asarray(floc.metadata["category"])
    faces = np.isin(cats, phys.FLOC_DOMAINS["faces"])
    places = np.isin(cats, phys.FLOC_DOMAINS["places"])
    return nw.Probe(Readout(np.stack([fisher_direction(feats, faces), fisher_direction(feats, places)])), SPEC)


def test_units_built_for_one_domain_are_selective_for_it_only(readout_probe, floc):
    before = snapshot(readout_probe.module)
    res = phys.category_selectivity(readout_probe, "fc", floc, n_perm=200, control="random", seed=0)
    assert res.domains == ("faces", "bodies", "places", "words")
    assert res.selective[0].tolist() == [True, False, False, False]  # the face unit
    assert res.selective[1].tolist() == [False, False, True, False]  # the place unit
    assert res.d_prime[0, 0] > 1.5 and res.d_prime[1, 2] > 1.5
    table = res.table()
    assert table["faces"]["fraction"] == 0.5 and table["faces"]["fraction_p"] < 0.05
    assert table["words"]["fraction"] == 0.0 and table["words"]["fraction_p"] == 1.0
    assert res.control is not None and res.control.d_prime.shape == res.d_prime.shape
    assert res.control.d_prime[0, 0] < res.d_prime[0, 0]
    assert set(res.channel(0)["category_means"]["x"]) == set(floc.metadata["category"])
    assert_untouched(readout_probe.module, before)
    assert not has_hooks(readout_probe.module)


class KeyedUnits(nn.Module):
    """Returns fixed responses per image: image i is filled with the grey value i, which keys its row."""

    def __init__(self, responses: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("table", torch.as_tensor(responses, dtype=torch.float32))
        self.units = nn.Identity()

    def forward(self, x):
        idx = (x[:, 0, 0, 0] * 0.25 + 0.5).mul(255).round().long().clamp(0, len(self.table) - 1)  # dry run: grey
        return self.units(self.table[idx])


def test_d_prime_and_permutation_p_match_scipy():
    rng = np.random.default_rng(1)
    labels = np.repeat(["a", "b", "c"], 20)
    responses = rng.normal(size=(60, 3))
    responses[labels == "a", 0] += 1.5
    responses[labels == "a", 1] += 0.4
    mask = labels == "a"
    images = np.broadcast_to(np.arange(60, dtype=np.uint8)[:, None, None, None], (60, 4, 4, 3))
    stim = nw.StimulusSet.from_arrays(np.ascontiguousarray(images), metadata={"category": labels})
    probe = nw.Probe(KeyedUnits(responses), nw.InputSpec(size=4, mean=(0.5,) * 3, std=(0.25,) * 3))
    res = phys.category_selectivity(probe, "units", stim, domains={"a": ["a"]}, n_perm=2000, seed=3)

    def dprime(x, y, axis=-1):
        return (x.mean(axis) - y.mean(axis)) / np.sqrt((x.var(axis, ddof=1) + y.var(axis, ddof=1)) / 2)

    for c in range(3):
        x, y = responses[mask, c], responses[~mask, c]
        assert res.d_prime[c, 0] == pytest.approx(dprime(x, y), rel=1e-5)
        peer = permutation_test((x, y), dprime, permutation_type="independent", alternative="greater",
                                n_resamples=2000, random_state=0, vectorized=True)
        assert res.p_value[c, 0] == pytest.approx(peer.pvalue, abs=0.03)
    assert res.selective[:, 0].tolist() == [True, False, False]


def test_bad_category_inputs_are_refused_clearly(readout_probe, floc):
    with pytest.raises(ValueError, match="domain 'cars' names categories \\['truck'\\]"):
        phys.category_selectivity(readout_probe, "fc", floc, domains={"cars": ["truck"]})
    with pytest.raises(ValueError, match="metadata column"):
        phys.category_selectivity(readout_probe, "fc", floc, category_key="kind")
    with pytest.raises(ValueError, match="control must be None or 'random'"):
        phys.category_selectivity(readout_probe, "fc", floc, control="shuffled")
    with pytest.raises(ValueError, match="n_perm must be a positive integer"):
        phys.category_selectivity(readout_probe, "fc", floc, n_perm=0)
