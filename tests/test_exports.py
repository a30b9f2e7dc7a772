"""Results travel: activations and sweeps as xarray, model RDMs as rsatoolbox RDMs, results as pandas / numpy.

Every conversion is checked value by value against the result it came from, and the rsatoolbox object against
rsatoolbox's own comparison."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw

xr = pytest.importorskip("xarray")


class Reused(nn.Module):
    """One ReLU module called twice per forward (its activations come as a list, one tensor per call)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(6 * 4 * 4, 5))

    def forward(self, x):
        return self.head(self.relu(self.conv2(self.relu(self.conv1(x)))))


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    net = Reused().eval()
    probe = nw.Probe(net, nw.InputSpec(size=(8, 8), mean=(0.5,) * 3, std=(0.25,) * 3), name="reused")
    rng = np.random.default_rng(0)
    stim = nw.StimulusSet(rng.integers(0, 256, (24, 8, 8, 3), dtype=np.uint8), ids=[f"im{i}" for i in range(24)])
    return probe, stim


def test_activations_to_xarray_holds_every_unit_with_its_layer_channel_and_position(tiny):
    probe, stim = tiny
    acts = probe.activations(stim, ["conv1", "relu", "head.1"])
    assert isinstance(acts, dict) and list(acts) == ["conv1", "relu", "head.1"]  # still a plain dict to use
    da = acts.to_xarray()
    assert da.dims == ("stimulus", "unit")
    assert da.stimulus_id.values.tolist() == stim.ids
    assert da.attrs["model"] == "reused" and da.attrs["reduce"] == "none"
    # the reused ReLU gives one block per call; each block equals the tensor it came from
    assert list(dict.fromkeys(da.layer.values.tolist())) == ["conv1", "relu@0", "relu@1", "head.1"]
    expected = {"conv1": acts["conv1"], "relu@0": acts["relu"][0], "relu@1": acts["relu"][1],
                "head.1": acts["head.1"]}
    for layer, t in expected.items():
        block = da.sel(unit=da.layer == layer)
        np.testing.assert_array_equal(block.values, t.reshape(len(t), -1).numpy())
    # channel / y / x say where a unit sits: conv1 channel 2 at (5, 1)
    unit = da.sel(unit=(da.layer == "conv1") & (da.channel == 2) & (da.y == 5) & (da.x == 1))
    np.testing.assert_array_equal(unit.values[:, 0], acts["conv1"][:, 2, 5, 1].numpy())
    assert (da.sel(unit=da.layer == "head.1").y == -1).all()
    # stimuli are selected by id
    np.testing.assert_array_equal(da.sel(stimulus_id=["im3", "im7"]).values, da.values[[3, 7]])


def test_activations_of_a_tensor_are_numbered_and_reduction_is_recorded(tiny):
    probe, stim = tiny
    x = stim.preprocess(probe.input_spec)[:5]
    da = probe.activations(x, "conv2", reduce="avgpool").to_xarray()
    assert da.stimulus_id.values.tolist() == ["0", "1", "2", "3", "4"]
    assert da.shape == (5, 6) and da.attrs["reduce"] == "avgpool"


def test_sweep_to_xarray_matches_its_rows_best_layers_and_split(tiny, tmp_path):
    probe, stim = tiny
    g = torch.Generator().manual_seed(1)
    brain = nw.alignment.rdm(torch.randn(24, 10, generator=g)).numpy()
    noise = [nw.alignment.rdm(torch.randn(24, 10, generator=g)).numpy() for _ in range(3)]
    neural = nw.NeuralRDMs({"IT": np.stack([brain + 0.3 * n for n in noise])}, stim.ids)
    res = nw.alignment.sweep(probe, neural, ["conv1", "conv2", "head.1"], stimuli=stim, n_boot=10,
                             control="random")
    ds = res.to_xarray()
    assert ds.score.dims == ("model", "region", "layer")
    for row in res.rows:
        at = ds.sel(model=row.model, region=row.region, layer=row.layer)
        for k in ("score", "ci_low", "ci_high", "ceiling", "n_stimuli"):
            assert float(at[k]) == pytest.approx(getattr(row, k), nan_ok=True)
    for b in res.best:
        at = ds.sel(model=b.model, region=b.region)
        assert str(at.best_layer.values) == b.layer and float(at.best_score) == pytest.approx(b.score)
    (d,) = res.differences
    assert float(ds.difference.sel(region="IT")) == pytest.approx(d.difference)
    assert sorted(ds.stimulus_id.values[ds.split.values == "selection"]) == sorted(res.split["selection"])
    assert sorted(ds.stimulus_id.values[ds.split.values == "evaluation"]) == sorted(res.split["evaluation"])
    assert ds.attrs["metric"] == "rsa" and ds.attrs["n_boot"] == 10
    # the settings are plain enough for netCDF: the file reads back equal
    pytest.importorskip("h5netcdf")
    ds.to_netcdf(tmp_path / "sweep.nc", engine="h5netcdf")
    back = xr.load_dataset(tmp_path / "sweep.nc", engine="h5netcdf")
    np.testing.assert_array_equal(back.score.values, ds.score.values)
    assert back.attrs["ceiling"] == ds.attrs["ceiling"]
    # the table and the Dataset agree
    df = res.to_pandas()
    assert len(df) == len(res.rows) and df.score.tolist() == [r.score for r in res.rows]


@pytest.mark.parametrize("method", ["correlation", "euclidean"])
def test_model_rdms_go_to_rsatoolbox_with_the_same_numbers_and_comparisons(tiny, method):
    rsr = pytest.importorskip("rsatoolbox.rdm")
    from rsatoolbox.data import Dataset

    probe, stim = tiny
    acts = probe.activations(stim, ["conv1", "conv2", "head.1"])
    ours = nw.alignment.rdm(acts, method=method)
    assert isinstance(ours, dict) and ours.stimulus_ids == stim.ids
    rsa = ours.to_rsatoolbox()
    assert rsa.n_rdm == 3 and rsa.rdm_descriptors["layer"] == ["conv1", "conv2", "head.1"]
    assert list(rsa.pattern_descriptors["stimulus_id"]) == stim.ids and rsa.descriptors["model"] == "reused"
    np.testing.assert_allclose(rsa.get_matrices(), np.stack([m.numpy() for m in ours.values()]), atol=1e-12)
    # rsatoolbox computes the same RDMs from the same activations
    for k, (layer, x) in enumerate(acts.items()):
        theirs = rsr.calc_rdm(Dataset(x.reshape(len(x), -1).double().numpy()), method=method)
        np.testing.assert_allclose(rsa.dissimilarities[k], theirs.dissimilarities[0], rtol=1e-9, atol=1e-12)
    # rsatoolbox's compare on the converted object equals ours
    g = torch.Generator().manual_seed(2)
    brains = np.stack([nw.alignment.rdm(torch.randn(24, 7, generator=g)).numpy() for _ in range(3)])
    stack = np.stack([m.numpy() for m in ours.values()])
    i, j = np.triu_indices(24, 1)
    for ours_name, theirs_name in (("spearman", "spearman"), ("pearson", "corr"), ("cosine", "cosine"),
                                   ("tau-a", "tau-a")):
        expected = rsr.compare(rsa, rsr.RDMs(brains[:, i, j]), method=theirs_name)
        got = nw.alignment.compare_rdms(stack, brains, method=ours_name)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_to_rsatoolbox_without_rsatoolbox_says_how_to_install(tiny, monkeypatch):
    import sys

    probe, stim = tiny
    rdms = nw.alignment.rdm(probe.activations(stim, "conv2"))
    monkeypatch.setitem(sys.modules, "rsatoolbox.rdm", None)  # an import of it now fails
    with pytest.raises(ImportError, match="pip install rsatoolbox"):
        rdms.to_rsatoolbox()


@pytest.mark.filterwarnings("ignore::neuro_widgets.engine.attribution.ig_auto.CompletenessWarning")
def test_attribution_results_to_numpy_keep_their_metadata_and_tables_match(tiny, tmp_path):
    probe, stim = tiny
    res = nw.attribution.attribute(probe, stim[:3], "integrated_gradients", target=1, n_steps=8, baseline="black")
    arrays, meta = res.to_numpy()
    np.testing.assert_array_equal(arrays["attributions"], res.attributions.numpy())
    np.testing.assert_array_equal(arrays["delta"], res.delta.numpy())
    assert meta["method"] == "integrated_gradients" and meta["baselines"] == "black" and meta["layer"] is None
    assert meta["settings"]["n_steps"] == 8 and "baseline" not in meta["settings"]
    np.savez(tmp_path / "ig.npz", **arrays)  # plain arrays: they save as they are
    df = res.to_pandas()
    assert df.image.tolist() == [0, 1, 2]
    np.testing.assert_allclose(df.total, res.attributions.flatten(1).sum(1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(df.relative_delta, res.relative_delta.numpy())
    assert df.converged.tolist() == res.converged.tolist()

    gradcam = nw.attribution.attribute(probe, stim[:2], "gradcam", target=1, layer="conv2")
    assert gradcam.to_numpy()[1]["layer"] == "conv2"

    contrib = nw.attribution.layer_contributions(probe, "conv2", stim[:3], target=1, n_steps=8, baseline="white")
    arrays, meta = contrib.to_numpy()
    assert meta["layer"] == "conv2" and meta["baselines"] == "white" and meta["settings"]["n_steps"] == 8
    np.testing.assert_array_equal(arrays["per_image"], contrib.per_image.numpy())
    table = contrib.to_pandas()
    assert table.sort_values("rank").channel.tolist() == contrib.ranking.tolist()
    np.testing.assert_allclose(table.contribution, contrib.values.double().numpy())
    long = contrib.to_pandas(per_image=True)
    assert len(long) == 3 * 6
    np.testing.assert_allclose(long.groupby("channel").contribution.mean(), contrib.values.double().numpy(),
                               rtol=1e-6)

    curve = nw.attribution.sanity_check(probe, stim[:2], "saliency", 1, blocks=["conv2", "conv1"])
    rows = curve.to_pandas()
    assert len(rows) == len(curve.steps) * 2
    np.testing.assert_allclose(rows.groupby("step").rank_corr.mean(), curve.correlations)


def test_ceilings_examples_and_physiology_tables_match_their_arrays(tiny):
    probe, stim = tiny
    g = torch.Generator().manual_seed(3)
    subjects = np.stack([nw.alignment.rdm(torch.randn(24, 6, generator=g)).numpy() for _ in range(4)])
    ceiling = nw.alignment.noise_ceiling(subjects)
    df = ceiling.to_pandas()
    assert df.subject.tolist() == [0, 1, 2, 3]
    assert df.upper.mean() == pytest.approx(ceiling.upper) and df.lower.mean() == pytest.approx(ceiling.lower)

    responses = torch.randn(24, 5, 4, generator=g).numpy()
    consistency = nw.alignment.split_half_consistency(responses, n_splits=3)
    df = consistency.to_pandas()
    assert len(df) == 3 * 5
    np.testing.assert_allclose(df.groupby("split").consistency.median(), consistency.per_split)

    examples = nw.featurevis.dataset_examples(probe, "conv2", stim, k=2)
    df = examples.to_pandas()
    assert len(df) == 6 * 2 * 2
    top = df[(df.channel == 4) & (df.which == "top")].sort_values("rank")
    assert top.stimulus.tolist() == examples.top[4].tolist()
    assert top.stimulus_id.tolist() == [stim.ids[i] for i in examples.top[4]]
    np.testing.assert_allclose(top.activation, examples.top_values[4])

    survey = nw.physiology.tuning_survey(probe, "conv1", orientations=4, sfs=2, phases=4)
    df = survey.to_pandas()
    assert df.channel.tolist() == list(range(survey.n_channels))
    np.testing.assert_array_equal(df.osi.to_numpy(), survey.osi)
    assert df.cell_type.tolist() == [survey.channel(c)["cell_type"] for c in range(survey.n_channels)]
    rf = nw.physiology.gradient_rf(probe, "conv2", channels=[1, 3])
    df = rf.to_pandas()
    assert df.channel.tolist() == [1, 3] and df.method.tolist() == [rf.method] * 2
    assert (df.centre_row_px[1], df.centre_col_px[1]) == rf.channel(3)["centre_px"]
