"""RSA: RDMs, RDM comparison, noise ceilings, bootstrap and permutation statistics vs peers and definitions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import pdist, squareform
from scipy.stats import pearsonr, spearmanr

import neuro_widgets as nw
from neuro_widgets.engine.alignment.compare import compare_vectors, sort_floats, upper

from rsatoolbox.data import Dataset as RsaDataset
from rsatoolbox.rdm import RDMs, calc_rdm, compare

RSA_NAME = {"spearman": "spearman", "pearson": "corr", "cosine": "cosine", "tau-a": "tau-a", "rho-a": "rho-a"}


@pytest.fixture(scope="module")
def resnet_rdms(resnet20, k92):
    layers = ["layer1", "layer2", "layer3", "linear"]
    acts = resnet20.activations(k92.stimuli, layers)
    return layers, acts, nw.alignment.rdm(acts)


def _vectors(stack):
    return np.stack([squareform(m, checks=False) for m in np.asarray(stack)])


@pytest.mark.parametrize("method", ["correlation", "euclidean"])
def test_rdm_equals_rsatoolbox_calc_rdm(resnet_rdms, method):
    _, acts, _ = resnet_rdms
    x = acts["layer2"].flatten(1).double().numpy()
    ours = nw.alignment.rdm(acts["layer2"], method=method).numpy()
    theirs = calc_rdm(RsaDataset(x), method=method).get_matrices()[0]
    np.testing.assert_allclose(ours, theirs, atol=1e-9)


def test_cosine_rdm_equals_scipy():
    x = np.random.default_rng(0).normal(size=(12, 30))
    np.testing.assert_allclose(nw.alignment.rdm(x, "cosine").numpy(), squareform(pdist(x, "cosine")), atol=1e-12)


def test_rdm_of_mapping_matches_single_calls(resnet_rdms):
    layers, acts, rdms = resnet_rdms
    assert list(rdms) == layers
    for name in layers:
        assert torch.equal(rdms[name], nw.alignment.rdm(acts[name]))


@pytest.mark.parametrize("method", list(RSA_NAME))
def test_compare_equals_rsatoolbox_on_human_it(resnet_rdms, k92, method):
    layers, _, rdms = resnet_rdms
    model = torch.stack([rdms[n] for n in layers]).numpy()
    brain = k92.neural.rdms("hIT")
    ours = nw.alignment.compare_rdms(model, brain, method=method)
    theirs = compare(RDMs(_vectors(model)), RDMs(_vectors(brain)), method=RSA_NAME[method])
    assert ours.shape == (len(layers), 8)
    np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=0)


def test_compare_handles_ties_like_rsatoolbox():
    rng = np.random.default_rng(1)
    a = squareform(rng.integers(0, 4, 45).astype(float))  # heavily tied
    b = squareform(rng.normal(size=45))
    for method, name in RSA_NAME.items():
        np.testing.assert_allclose(nw.alignment.compare_rdms(a, b, method),
                                   compare(RDMs(_vectors([a])), RDMs(_vectors([b])), name), atol=1e-12)
    assert nw.alignment.compare_rdms(a, b, "spearman")[0, 0] == pytest.approx(spearmanr(squareform(a),
                                                                                        squareform(b))[0])


def _direct_ceiling(stack, corr):
    v = _vectors(stack)
    s = len(v)
    up = [corr(v[i], v.mean(0)) for i in range(s)]
    lo = [corr(v[i], np.delete(v, i, 0).mean(0)) for i in range(s)]
    return np.array(up), np.array(lo)


@pytest.mark.parametrize("region", ["EVC", "IT"])
def test_noise_ceiling_equals_definition(a78, region):
    stack = a78.neural.rdms(region)
    for method, corr in (("spearman", lambda x, y: spearmanr(x, y)[0]), ("pearson", lambda x, y: pearsonr(x, y)[0])):
        up, lo = _direct_ceiling(stack, corr)
        c = nw.alignment.noise_ceiling(stack, method=method, pooling="mean")
        np.testing.assert_allclose(c.upper_per_subject, up, atol=1e-10)
        np.testing.assert_allclose(c.lower_per_subject, lo, atol=1e-10)
        assert c.upper == pytest.approx(up.mean(), abs=1e-10) and c.lower == pytest.approx(lo.mean(), abs=1e-10)
        assert c.lower < c.upper
        sq = nw.alignment.noise_ceiling(stack, method=method, squared=True, pooling="mean")
        assert sq.upper == pytest.approx(np.mean(up ** 2), abs=1e-10)
        assert sq.lower == pytest.approx(np.mean(lo ** 2), abs=1e-10)
        assert "squared" in sq.convention and "squared" not in c.convention


def test_bootstrap_equals_explicit_resampling(resnet_rdms, k92):
    """The weighted-pair bootstrap equals building each resampled RDM and comparing it (rsatoolbox way)."""
    layers, _, rdms = resnet_rdms
    model = torch.stack([rdms[n] for n in layers])
    brain = torch.as_tensor(np.array(k92.neural.rdms("hIT")))
    for method in ("spearman", "pearson", "rho-a"):
        boot = nw.alignment.bootstrap_rsa(model, brain, method=method, n_boot=3, seed=7)
        g = torch.Generator().manual_seed(7)
        n, s = 92, 8
        iu, ju = torch.triu_indices(n, n, 1)
        for b in range(3):
            idx = torch.randint(n, (n,), generator=g)
            subj = torch.randint(s, (s,), generator=g)
            keep = idx[iu] != idx[ju]
            ii, jj = idx[iu][keep], idx[ju][keep]
            expected = compare(RDMs(model[:, ii, jj].numpy()), RDMs(brain[subj][:, ii, jj].numpy()),
                               RSA_NAME[method]).mean(1)
            np.testing.assert_allclose(boot[b], expected, atol=1e-9)
    again = nw.alignment.bootstrap_rsa(model, brain, n_boot=3, seed=7, method="rho-a")
    np.testing.assert_array_equal(boot, again)  # seeded


def test_bootstrap_tau_a_equals_explicit_resampling():
    rng = np.random.default_rng(3)
    n = 14
    model = np.stack([squareform(rng.integers(0, 5, n * (n - 1) // 2).astype(float)) for _ in range(2)])
    brain = np.stack([squareform(rng.normal(size=n * (n - 1) // 2)) for _ in range(3)])
    boot = nw.alignment.bootstrap_rsa(model, brain, method="tau-a", n_boot=4, seed=2)
    g = torch.Generator().manual_seed(2)
    iu, ju = torch.triu_indices(n, n, 1)
    for b in range(4):
        idx = torch.randint(n, (n,), generator=g)
        subj = torch.randint(3, (3,), generator=g)
        keep = idx[iu] != idx[ju]
        ii, jj = idx[iu][keep].numpy(), idx[ju][keep].numpy()
        expected = compare(RDMs(model[:, ii, jj]), RDMs(brain[subj.numpy()][:, ii, jj]), "tau-a").mean(1)
        np.testing.assert_allclose(boot[b], expected, atol=1e-12)


def test_bootstrap_ci_covers_score(resnet_rdms, k92):
    _, _, rdms = resnet_rdms
    model = rdms["layer3"]
    brain = k92.neural.rdms("hIT")
    boot = nw.alignment.bootstrap_rsa(model, brain, n_boot=100, seed=0)
    lo, hi = nw.alignment.percentile_ci(boot[:, 0])
    score = nw.alignment.compare_rdms(model, brain).mean()
    assert lo < score < hi and hi - lo > 0.01


def test_permutation_test():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 10))
    brain = squareform(pdist(x + 0.3 * rng.normal(size=x.shape), "correlation"))
    related = squareform(pdist(x, "correlation"))
    unrelated = squareform(pdist(rng.normal(size=(20, 10)), "correlation"))
    obs, p, null = nw.alignment.permutation_test(related, brain, n_perm=200, seed=0)
    assert obs == pytest.approx(nw.alignment.compare_rdms(related, brain)[0, 0])
    assert p == pytest.approx(1 / 201) and null.shape == (200,)
    assert abs(null.mean()) < 0.05  # permuted labels carry no signal
    _, p_unrelated, _ = nw.alignment.permutation_test(unrelated, brain, n_perm=200, seed=0)
    assert p_unrelated > 0.05
    # the null equals explicit permutations of the model RDM
    g = torch.Generator().manual_seed(0)
    perm = torch.randperm(20, generator=g).numpy()
    assert null[0] == pytest.approx(spearmanr(squareform(related[np.ix_(perm, perm)]), squareform(brain))[0])


def test_rsatoolbox_round_trip(k92):
    obj = nw.alignment.to_rsatoolbox(k92.neural, "hIT")
    assert isinstance(obj, RDMs) and obj.n_rdm == 8
    np.testing.assert_allclose(obj.get_matrices(), k92.neural.rdms("hIT"))
    assert list(obj.rdm_descriptors["subject"][:2]) == ["BE", "BE"]
    back = nw.alignment.from_rsatoolbox(obj, region="hIT")
    np.testing.assert_allclose(back.rdms("hIT"), k92.neural.rdms("hIT"))
    assert back.stimulus_ids == k92.neural.stimulus_ids
    assert back.labels("hIT")[0]["subject"] == "BE"


def test_compare_vectors_batched_equals_pairwise(resnet_rdms, k92):
    layers, _, rdms = resnet_rdms
    model = upper(torch.stack([rdms[n] for n in layers]))
    brain = upper(torch.as_tensor(np.array(k92.neural.rdms("hIT"))))
    full = compare_vectors(model, brain, "spearman")
    assert torch.allclose(full[2, 5], compare_vectors(model[2:3], brain[5:6], "spearman")[0, 0])


def test_bootstrap_chunks_do_not_change_the_draws_or_values():
    """Draws are processed in memory-bounded chunks; one draw per chunk or all at once give the same values,
    with tied model and brain RDMs (tie groups under weights) included."""
    rng = np.random.default_rng(5)
    n = 25
    model = np.stack([squareform(rng.integers(0, 4, n * (n - 1) // 2).astype(float)),
                      squareform(rng.normal(size=n * (n - 1) // 2))])
    brain = np.stack([squareform(rng.normal(size=n * (n - 1) // 2)) for _ in range(2)]
                     + [squareform(rng.integers(0, 6, n * (n - 1) // 2).astype(float))])
    for method in ("spearman", "pearson", "cosine", "rho-a"):
        one = nw.alignment.bootstrap_rsa(model, brain, method, n_boot=9, seed=4, chunk_bytes=1)
        every = nw.alignment.bootstrap_rsa(model, brain, method, n_boot=9, seed=4, chunk_bytes=2 ** 30)
        np.testing.assert_allclose(one, every, atol=1e-13)
        g = torch.Generator().manual_seed(4)
        iu, ju = torch.triu_indices(n, n, 1)
        for b in range(9):
            idx = torch.randint(n, (n,), generator=g)
            subj = torch.randint(3, (3,), generator=g).numpy()
            keep = idx[iu] != idx[ju]
            ii, jj = idx[iu][keep].numpy(), idx[ju][keep].numpy()
            expected = compare(RDMs(model[:, ii, jj]), RDMs(brain[subj][:, ii, jj]), RSA_NAME[method]).mean(1)
            np.testing.assert_allclose(one[b], expected, atol=1e-12)


def test_sort_floats_orders_as_a_stable_float_sort():
    """The integer sort of the bit patterns gives torch's stable float order: negatives, signed zeros,
    subnormals, infinities and ties included; equal keys exactly where the values are equal."""
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, 1e-310, -1e-310, np.inf, -np.inf, -2.5, 2.5, 1.0, 1.0, -1e-16, 1e-16]
    v = torch.as_tensor(np.concatenate([special, rng.normal(size=200), rng.integers(-3, 4, 100)]))
    v = v[torch.randperm(len(v), generator=torch.Generator().manual_seed(1))]
    keys, order = sort_floats(v)
    expected = torch.sort(v, stable=True)
    assert torch.equal(order, expected.indices)
    assert torch.equal(keys[1:] == keys[:-1], expected.values[1:] == expected.values[:-1])
    rows = torch.stack([v, -v])
    assert torch.equal(sort_floats(rows)[1], torch.sort(rows, dim=-1, stable=True).indices)
