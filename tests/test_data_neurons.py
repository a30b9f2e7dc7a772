"""Response-level neurons (Cowley et al. 2023, V4) with NaN-padded repetitions, and the fLoc stimulus set."""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import pearsonr

import neuro_widgets as nw
from neuro_widgets.alignment import NeuralResponses, split_half_consistency
from neuro_widgets.data.datasets import Dataset
from neuro_widgets.data.fetch import DataFileError

SHARED = Path(os.environ["NEURO_WIDGETS_HOME"])
COWLEY = SHARED / "data/cowley2023_v4"
FLOC = SHARED / "data/floc_subset"
FLOC_CATEGORIES = ["adult", "body", "car", "child", "corridor", "house", "instrument", "limb", "number",
                   "scrambled", "word"]


@pytest.fixture(scope="module")
def v4():
    return nw.datasets.cowley2023_v4()


def padded(rng, n_stimuli, n_neuroids, counts, slots, signal_sd=1.0, noise_sd=1.0, where="random"):
    """Signal + noise responses; stimulus i has counts[i] repetitions placed at random (or the first) slots of
    ``slots``, the others NaN. Also returns the complete (stimuli, neuroids, max count) data before padding."""
    signal = rng.normal(size=(n_stimuli, n_neuroids, 1)) * signal_sd
    dense = signal + rng.normal(size=(n_stimuli, n_neuroids, max(counts))) * noise_sd
    out = np.full((n_stimuli, n_neuroids, slots), np.nan)
    for i, k in enumerate(counts):
        pos = np.sort(rng.choice(slots, k, replace=False)) if where == "random" else np.arange(k)
        out[i][:, pos] = dense[i, :, :k]
    return out, dense


# ---- NeuralResponses with missing repetitions --------------------------------------------------------
def test_nan_padded_repetitions_are_accepted_and_averaged_over_present_ones():
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 6, size=30)
    data, _ = padded(rng, 30, 7, counts, slots=6)
    resp = NeuralResponses(data, [f"s{i}" for i in range(30)], {"region": ["A"] * 4 + ["B"] * 3})
    np.testing.assert_array_equal(resp.repetition_counts, counts)
    np.testing.assert_array_equal(resp.present, ~np.isnan(data[:, 0, :]))
    expected = np.array([[np.mean(v[~np.isnan(v)]) for v in row] for row in data])  # a plain loop
    np.testing.assert_allclose(resp.mean(), expected, rtol=0, atol=1e-14)
    assert not np.isnan(resp.mean()).any()
    # selections keep the padding and the per-stimulus counts
    b = resp.region("B").subset(["s3", "s1", "s2", "s0"])
    np.testing.assert_array_equal(b.repetition_counts, counts[[3, 1, 2, 0]])
    np.testing.assert_allclose(b.mean(), expected[[3, 1, 2, 0]][:, 4:], atol=1e-14)
    assert "up to 6" in repr(resp)
    # RDMs are built from the present-repetition means
    np.testing.assert_allclose(resp.to_rdms().rdms("A")[0], nw.alignment.rdm(expected[:, :4]).numpy(), atol=1e-12)


def test_complete_data_mean_is_unchanged():
    data = np.random.default_rng(1).normal(size=(9, 4, 3))
    resp = NeuralResponses(data, [str(i) for i in range(9)])
    np.testing.assert_array_equal(resp.mean(), data.mean(2))
    assert resp.present.all() and resp.repetition_counts.tolist() == [3] * 9


def test_meaningless_nan_is_still_refused():
    rng = np.random.default_rng(2)
    data = rng.normal(size=(8, 5, 3))
    ids = [str(i) for i in range(8)]
    one_neuroid = data.copy()
    one_neuroid[2, 1, 0] = np.nan  # a value lost in a presentation the other neuroids have
    with pytest.raises(ValueError, match=r"NaN for some neuroids of a presentation.*stimulus 2, repetition 0"):
        NeuralResponses(one_neuroid, ids)
    no_reps = data.copy()
    no_reps[5] = np.nan  # a stimulus never shown
    with pytest.raises(ValueError, match=r"no repetition at all.*\[5\]"):
        NeuralResponses(no_reps, ids)
    flat = data[:, :, 0].copy()
    flat[0, 0] = np.nan  # no repetition axis: a NaN is a missing response
    with pytest.raises(ValueError, match="NaN"):
        NeuralResponses(flat, ids)
    inf = data.copy()
    inf[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        NeuralResponses(inf, ids)
    with pytest.raises(ValueError, match="NaN for some neuroids"):
        split_half_consistency(one_neuroid)


# ---- split-half consistency with missing repetitions ---------------------------------------------------
def test_split_half_with_two_present_repetitions_is_the_direct_correlation():
    """With exactly 2 present repetitions per stimulus (anywhere among 5 slots) every split is the same up to
    swapping the halves, so the value is Spearman-Brown of the Pearson r of the two repetitions."""
    rng = np.random.default_rng(3)
    data, dense = padded(rng, 40, 6, [2] * 40, slots=5, signal_sd=0.8)
    c = split_half_consistency(data, n_splits=4, seed=0)
    r = np.array([pearsonr(dense[:, j, 0], dense[:, j, 1])[0] for j in range(6)])
    for split in c.per_neuroid:
        np.testing.assert_allclose(split, 2 * r / (1 + r), atol=1e-12)
    assert c.value == pytest.approx(np.median(2 * r / (1 + r)), abs=1e-12)


def test_split_half_splits_each_stimulus_present_repetitions():
    """The documented method, computed directly for the first split: one random order of the repetition slots;
    each stimulus puts the first k // 2 of its present repetitions in that order in one half."""
    rng = np.random.default_rng(4)
    counts = rng.integers(2, 8, size=50)
    data, _ = padded(rng, 50, 5, counts, slots=7, where="first")
    c = split_half_consistency(data, n_splits=3, seed=11)
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(11)).numpy()
    h1 = np.empty((50, 5))
    h2 = np.empty((50, 5))
    for i, k in enumerate(counts):
        order = [p for p in perm if p < k]  # this stimulus's present repetitions, in the split's order
        h1[i] = data[i][:, order[: k // 2]].mean(1)
        h2[i] = data[i][:, order[k // 2:]].mean(1)
    r = np.array([pearsonr(h1[:, j], h2[:, j])[0] for j in range(5)])
    np.testing.assert_allclose(c.per_neuroid[0], 2 * r / (1 + r), atol=1e-12)


def test_split_half_ignores_nan_padding():
    """The same repetitions with extra all-NaN repetitions inserted anywhere give the identical result."""
    rng = np.random.default_rng(5)
    dense = rng.normal(size=(60, 8, 1)) + rng.normal(size=(60, 8, 6)) * 1.5
    wider = np.full((60, 8, 10), np.nan)
    slots = np.sort(rng.choice(10, 6, replace=False))
    wider[:, :, slots] = dense
    a = split_half_consistency(dense, n_splits=5, seed=2)
    b = split_half_consistency(NeuralResponses(wider, [str(i) for i in range(60)]), n_splits=5, seed=2)
    np.testing.assert_array_equal(a.per_neuroid, b.per_neuroid)
    assert a.value == b.value


def test_split_half_recovers_known_reliability_with_unequal_repetitions():
    """Signal variance 1, noise variance v, 2-8 repetitions per stimulus: the halves' Pearson r is
    1 / sqrt((1 + v E[1/m1]) (1 + v E[1/m2])) with m1 = k // 2, m2 = k - k // 2 (the halves' sizes)."""
    rng = np.random.default_rng(6)
    counts = rng.integers(2, 9, size=3000)
    v = 2.0
    data, _ = padded(rng, 3000, 20, counts, slots=8, noise_sd=np.sqrt(v))
    c = split_half_consistency(data, n_splits=4, seed=0)
    m1, m2 = counts // 2, counts - counts // 2
    expected = 1 / np.sqrt((1 + v * np.mean(1 / m1)) * (1 + v * np.mean(1 / m2)))
    raw = c.per_neuroid / (2 - c.per_neuroid)  # Spearman-Brown undone
    assert raw.mean() == pytest.approx(expected, abs=0.01)
    # stimuli with a single repetition cannot be split: they are left out, not counted as noise-free
    ones = data.copy()
    for i in range(1000):
        ones[i][:, np.flatnonzero(~np.isnan(data[i, 0]))[1:]] = np.nan
    left = split_half_consistency(ones, n_splits=4, seed=0)
    only = split_half_consistency(data[1000:], n_splits=4, seed=0)
    np.testing.assert_allclose(left.per_neuroid, only.per_neuroid, atol=1e-12)


# ---- Cowley et al. 2023 V4 -------------------------------------------------------------------------------
def test_cowley2023_v4_loads_neurons_images_and_repeats(v4):
    raw = np.load(COWLEY / "responses_210325.npy")  # (neurons, images, repeats), NaN-padded
    assert isinstance(v4, Dataset) and isinstance(v4.neural, NeuralResponses)
    assert v4.neural.data.shape == (640, 50, 10) and v4.neural.regions == ["V4"]
    assert v4.stimuli.images.shape == (640, 112, 112, 3)
    assert v4.stimuli.ids == [f"image{i:04d}" for i in range(1, 641)] == v4.neural.stimulus_ids
    np.testing.assert_array_equal(v4.neural.data, raw.transpose(1, 0, 2))
    assert np.bincount(v4.neural.repetition_counts).tolist() == [0] * 6 + [36, 261, 294, 45, 4]
    np.testing.assert_allclose(v4.neural.mean(), np.nanmean(raw, axis=2).T, atol=1e-12)
    with zipfile.ZipFile(COWLEY / "images_210325.zip") as z:
        with z.open("image0640.jpg") as f:
            last = np.asarray(Image.open(f).convert("RGB"))
    np.testing.assert_array_equal(v4.stimuli.images[-1], last)


def test_cowley_images_and_responses_are_in_matching_order(v4):
    """V4 responses are predicted from a coarse colour layout (4x4 RGB) of the images in the loaded order,
    and not at all after shuffling which image goes with which responses."""
    x = torch.tensor(v4.stimuli.images).permute(0, 3, 1, 2).float()
    coarse = torch.nn.functional.interpolate(x, size=(4, 4), mode="area").flatten(1).numpy()
    y = v4.neural.mean()
    true = nw.alignment.encoding_score(coarse, y).value
    rng = np.random.default_rng(0)
    shuffled = [nw.alignment.encoding_score(coarse, y[rng.permutation(640)]).value for _ in range(2)]
    assert true > 0.15 and max(shuffled) < true - 0.15


def test_cowley_split_half_matches_published_reliability(v4):
    """The data's README measured a median split-half r of 0.63 over neurons (not Spearman-Brown corrected)."""
    c = split_half_consistency(v4.neural, n_splits=20, seed=0)
    raw = c.per_neuroid / (2 - c.per_neuroid)
    assert np.median(raw.mean(0)) == pytest.approx(0.63, abs=0.03)
    assert 0.5 < c.value < 0.9  # corrected: the reliability of the full repetition mean


def test_sweep_runs_on_cowley_with_every_metric(v4, resnet20):
    """encoding, CKA and RSA on the NaN-padded responses equal the metrics computed directly from the
    present-repetition means (and the encoding ceiling is the NaN-aware split-half consistency)."""
    keep = v4.stimuli.ids[:100]
    ds = Dataset("v4 subset", v4.stimuli[:100], v4.neural.subset(keep))
    assert ds.neural.repetition_counts.min() < 10  # NaN padding is present in the subset
    layers = ["layer1", "layer3"]
    feats = resnet20.activations(ds.stimuli, layers)
    y = ds.neural.mean()
    for metric in ("encoding", "cka", "rsa"):
        res = nw.alignment.sweep(resnet20, ds, layers, metric=metric, n_boot=20)
        rows = {row.layer: row for row in res.rows}
        for layer in layers:
            f = feats[layer].flatten(1)
            if metric == "encoding":
                splits = nw.alignment.shuffle_splits(100, 10, 0.1, None, 0)
                expected = nw.alignment.encoding_score(f, y, splits=splits).value
            elif metric == "cka":
                expected = nw.alignment.cka(f, y)
            else:
                expected = nw.alignment.compare_rdms(nw.alignment.rdm(f), nw.alignment.rdm(y), "spearman")[0, 0]
            assert rows[layer].score == pytest.approx(expected, abs=1e-9), (metric, layer)
        if metric == "encoding":
            assert rows["layer1"].ceiling == pytest.approx(split_half_consistency(ds.neural, seed=0).value, abs=1e-12)
        assert len(res.best) == 1 and res.best[0].region == "V4"


# ---- fLoc ------------------------------------------------------------------------------------------------
def test_floc_stimulus_set():
    floc = nw.datasets.floc()
    assert isinstance(floc, nw.StimulusSet) and len(floc) == 220 and floc.images.shape == (220, 256, 256, 3)
    cats = floc.metadata["category"]
    assert list(dict.fromkeys(cats.tolist())) == FLOC_CATEGORIES
    assert all(np.sum(cats == c) == 20 for c in FLOC_CATEGORIES)
    first = sorted(p.name for p in (FLOC / "adult").iterdir())[:3]
    assert floc.ids[:3] == [Path(n).stem for n in first] == ["adult-1", "adult-10", "adult-100"]
    i = floc.ids.index("house-1")
    expected = np.asarray(Image.open(FLOC / "house/house-1.jpg").convert("RGB"))
    np.testing.assert_array_equal(floc.images[i], expected)
    assert cats[i] == "house"


def test_floc_categories_are_decodable_from_an_imagenet_model():
    """The category labels go with their images: nearest-centroid decoding (leave one out) of MobileNet's
    penultimate features is far above chance (1/11; the data's README reports 89.8 % with a linear readout)."""
    floc = nw.datasets.floc()
    probe = nw.load_model("mobilenet_v1_025")
    z = probe.activations(floc, ["flatten"])["flatten"].numpy()
    z = (z - z.mean(0)) / (z.std(0) + 1e-8)
    cats = floc.metadata["category"]
    hits = 0
    for i in range(len(z)):
        others = np.arange(len(z)) != i
        centroids = {c: z[others & (cats == c)].mean(0) for c in FLOC_CATEGORIES}
        hits += min(centroids, key=lambda c: np.sum((z[i] - centroids[c]) ** 2)) == cats[i]
    assert hits / len(z) > 0.6


def test_floc_missing_files_explain_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.delenv("NEURO_WIDGETS_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DataFileError, match=r"not downloaded.*NEURO_WIDGETS_HOME/data/floc_subset"):
        nw.datasets.floc()
    assert not (tmp_path / "cache").exists(), "nothing was written or downloaded"
    assert len(nw.datasets.floc(root=FLOC)) == 220
