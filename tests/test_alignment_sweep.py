"""Sweeps: ground-truth recovery, trained vs random ResNet-20 on real data, response-level data, bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_untouched, seed_weights, snapshot
from torch import nn

import neuro_widgets as nw
from neuro_widgets.engine.alignment import NeuralResponses
from neuro_widgets.engine.alignment.budget import scoring_plan
from neuro_widgets.engine.alignment.stats import DEFAULT_CHUNK_BYTES

GT_LAYERS = ["1", "3", "5", "8"]


@pytest.fixture(scope="module")
def tiny():
    """A small random conv net, 120 random images in 4 categories, and its activations."""
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.Tanh(),
                        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 32),
                        nn.Tanh())
    seed_weights(net, g)
    probe = nw.Probe(net, nw.InputSpec(size=(16, 16), mean=(0.5,) * 3, std=(0.25,) * 3))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (120, 16, 16, 3), dtype=np.uint8)
    stim = nw.StimulusSet(images, metadata={"category": np.repeat(np.arange(4), 30)})
    return probe, stim, probe.activations(stim, GT_LAYERS)


def synthetic_responses(acts, layer, stim, rho=0.8, reps=6, neuroids=60, seed=0):
    """Responses made from one layer: random linear map, unit signal variance, noise at reliability rho."""
    rng = np.random.default_rng(seed)
    f = acts[layer].flatten(1).double().numpy()
    f = (f - f.mean(0)) / (f.std(0) + 1e-9)
    signal = f @ rng.normal(size=(f.shape[1], neuroids))
    signal = (signal - signal.mean(0)) / signal.std(0)
    noise_sd = np.sqrt(reps * (1 - rho) / rho)
    data = signal[:, :, None] + rng.normal(size=(len(f), neuroids, reps)) * noise_sd
    meta = {"region": np.array(["V"] * neuroids), "subject": np.repeat([1, 2, 3], neuroids // 3)}
    return NeuralResponses(data, stim.ids, meta)


@pytest.mark.parametrize("layer", GT_LAYERS)
def test_ground_truth_layer_is_recovered(tiny, layer):
    probe, stim, acts = tiny
    before = snapshot(probe.module)
    resp = synthetic_responses(acts, layer, stim)
    for metric in ("rsa", "encoding"):
        res = nw.alignment.sweep(probe, resp, GT_LAYERS, metric=metric, stimuli=stim, n_boot=20, n_splits=3)
        (best,) = res.best
        assert best.fold_layers == [layer, layer], (metric, [(r.layer, round(r.score, 3)) for r in res.rows])
        assert set(res.split["selection"]).isdisjoint(res.split["evaluation"])
        assert res.split["stratified_by"] == "category"
    # the encoding ceiling is the designed reliability of the repetition mean
    assert res.rows[0].ceiling == pytest.approx(0.8, abs=0.05)
    assert np.isnan(res.rows[0].ceiled)  # raw scores by default; ceiled ones on request (tests/test_validity_ceiled.py)
    assert_untouched(probe.module, before)


def test_cka_sweep_and_table(tiny):
    probe, stim, acts = tiny
    resp = synthetic_responses(acts, "5", stim)
    res = nw.alignment.sweep(probe, resp, GT_LAYERS, metric="cka", stimuli=stim, n_boot=10)
    values = {r.layer: r.score for r in res.rows}
    assert values["5"] == pytest.approx(nw.alignment.cka(acts["5"], resp), abs=1e-10)
    # the CI is ± 1.96 delete-a-group jackknife SEs; recompute it for layer "5" from direct CKA calls
    groups = np.array_split(np.random.default_rng(0).permutation(120), 40)
    jack = np.array([nw.alignment.cka(np.delete(acts["5"].flatten(1).numpy(), g, 0), np.delete(resp.mean(), g, 0))
                     for g in groups])
    se = np.sqrt(39 / 40 * ((jack - jack.mean()) ** 2).sum())
    row = next(r for r in res.rows if r.layer == "5")
    assert row.ci_high - row.score == pytest.approx(1.959963984540054 * se, rel=1e-6) and se > 0.005
    df = res.to_pandas()
    assert list(df.layer) == GT_LAYERS and {"score", "ci_low", "ci_high", "ceiling", "ceiled"} <= set(df.columns)
    assert res.scores("trained", "V")["score"].shape == (4,)


def test_trained_beats_random_resnet20_on_monkey_it(resnet20, k92):
    """The trained network's held-out best layer aligns with mIT better than the random control's.

    Layers are chosen on one half of the 92 images and scored on the other (and, cross-fitted, the other way
    round). With the default split seed the paired bootstrap CI of the difference excludes zero; the sign of
    the difference holds for other split seeds too (their CIs are wide: 46 images per half).
    """
    before = snapshot(resnet20.module)
    layers = ["conv1", "layer1.0", "layer1.1", "layer1.2", "layer2.0", "layer2.1", "layer2.2", "layer3.0",
              "layer3.1", "layer3.2", "avgpool", "linear"]
    calls = []
    res = nw.alignment.sweep(resnet20, k92, layers, metric="rsa", regions=["mIT"], control="random", n_boot=300,
                             progress=lambda done, total: calls.append((done, total)))
    assert_untouched(resnet20.module, before)
    (diff,) = res.differences
    print(f"\nbest trained {diff.trained_layer}, best random {diff.control_layer}: difference "
          f"{diff.difference:+.4f}, 95% CI [{diff.ci_low:+.4f}, {diff.ci_high:+.4f}]")
    assert diff.difference > 0 and diff.ci_low > 0 and diff.excludes_zero
    trained = next(b for b in res.best if b.model == "trained")
    # each fold's score is the plain RSA score of the chosen layer on the held-out half
    acts = resnet20.activations(k92.stimuli, layers)
    halves = [k92.stimuli.index_of(res.split["evaluation"]), k92.stimuli.index_of(res.split["selection"])]
    for layer, score, held_out in zip(trained.fold_layers, trained.fold_scores, halves):
        model = nw.alignment.rdm(acts[layer]).numpy()[np.ix_(held_out, held_out)]
        brain = k92.neural.rdms("mIT")[0][np.ix_(held_out, held_out)]
        assert score == pytest.approx(nw.alignment.compare_rdms(model, brain)[0, 0], abs=1e-12)
    assert trained.score == pytest.approx(np.mean(trained.fold_scores))
    assert trained.layer == trained.fold_layers[0]
    assert np.isnan(trained.ceiling) and "one RDM" in res.rows[0].ceiling_note
    assert calls and calls[-1][0] == calls[-1][1]
    for seed in (1, 2):
        other = nw.alignment.sweep(resnet20, k92, layers, regions=["mIT"], control="random", n_boot=50, seed=seed)
        assert other.differences[0].difference > 0
        assert other.split["selection"] != res.split["selection"]


def test_hit_rows_carry_ceiling_and_per_subject_values(resnet20, k92):
    res = nw.alignment.sweep(resnet20, k92, ["layer3", "linear"], regions=["hIT"], n_boot=20,
                             ceiling_formula="(r/c)^2")
    row = res.rows[0]
    c = nw.alignment.noise_ceiling(k92.neural.rdms("hIT"), groups=nw.alignment.subject_groups(k92.neural, "hIT"))
    assert row.ceiling == pytest.approx(c.lower) and row.raw.shape == (8,)
    assert row.score == pytest.approx(row.raw.mean())
    assert row.ceiled == pytest.approx((row.score / row.ceiling) ** 2)
    assert res.settings["ceiling_formula"] == "(r/c)^2"


def test_random_copy_is_seeded_and_leaves_the_original(resnet20):
    before = snapshot(resnet20.module)
    a = nw.alignment.random_copy(resnet20.module, seed=3)
    b = nw.alignment.random_copy(resnet20.module, seed=3)
    c = nw.alignment.random_copy(resnet20.module, seed=4)
    assert_untouched(resnet20.module, before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["conv1.weight"], sc["conv1.weight"])
    assert not torch.equal(sa["conv1.weight"], resnet20.module.state_dict()["conv1.weight"])
    assert torch.equal(sa["bn1.running_mean"], torch.zeros_like(sa["bn1.running_mean"]))
    state = torch.random.get_rng_state()
    nw.alignment.random_copy(resnet20.module, seed=5)
    assert torch.equal(state, torch.random.get_rng_state())


def test_cancel_leaves_model_untouched(resnet20, k92):
    before = snapshot(resnet20.module)
    token = nw.CancelToken()
    token.cancel()
    with pytest.raises(nw.Cancelled):
        nw.alignment.sweep(resnet20, k92, ["layer3"], control="random", cancel=token)
    assert_untouched(resnet20.module, before)


def rsa_scoring(probe, n, layers, models=1, n_boot=5, boot_room=0, rdm_group=None, reduce=None):
    """What the sweep's memory plan counts for RSA scoring on the tiny net (3 subjects' RDMs made from responses);
    its widest layer as kept (full maps, or channels under a pooling ``reduce``)."""
    shapes = [probe.layer(name).output_shape for name in layers]
    widest = max(int(np.prod(s)) if reduce is None else s[0] for s in shapes)
    return scoring_plan("rsa", n, len(layers), models, 3, 1, n_boot, widest, 0, boot_room=boot_room,
                        rdm_group=rdm_group).total


def test_memory_budget_runs_layers_a_group_at_a_time_then_reduces_then_shrinks_the_batch(tiny):
    probe, stim, acts = tiny
    resp = synthetic_responses(acts, "3", stim)
    n = len(stim)
    full = [int(np.prod(probe.layer(name).output_shape)) for name in GT_LAYERS]  # 2048, 512, 256, 32
    channels = [probe.layer(name).output_shape[0] for name in GT_LAYERS]        # 8, 8, 16, 32

    def budget(kept, image, batch, layers=GT_LAYERS, group=None, reduce=None):
        # the scoring first (layer and brain RDMs of 3 subjects, the layers' rows and sort orders ``group`` layers
        # at a time, as many bootstrap draws as an eighth of the budget holds), then the preprocessed set (kept by
        # the StimulusSet), the kept activations of the layers run at a time (``kept`` features) twice, one batch
        # of their full outputs (``image`` numbers per image)
        rest = 4 * n * 3 * 16 * 16 + 2 * 4 * n * kept + batch * 4 * image
        total = 0
        while total != (total := rsa_scoring(probe, n, layers, boot_room=total // 8, rdm_group=group,
                                             reduce=reduce) + rest):
            pass  # the draws the budget holds depend on the budget: its fixed point
        return total

    def plan(memory_budget, layers=GT_LAYERS, **kw):
        s = nw.alignment.sweep(probe, resp, layers, stimuli=stim, n_boot=5, memory_budget=memory_budget, **kw).settings
        return s["reduce"], s["batch_size"], s["rdm_group"], s["activation_group"]

    whole = sum(full)
    assert plan(budget(whole, whole, 64)) == (None, 64, None, None)   # everything fits
    assert plan(budget(whole, whole, 10)) == (None, 10, None, None)   # the batch shrinks to what is left
    # all layers' activations at once fit only with the rows made two layers at a time: one activation pass is
    # preferred to a larger group of rows
    assert plan(budget(whole, whole, 1, group=2)) == (None, 1, 2, None)
    # they do not fit at once even then: run two layers at a time (2048 + 512 features), kept whole, not pooled
    assert plan(budget(full[0] + full[1], full[0] + full[1], 1, group=1)) == (None, 1, 1, 2)
    # full maps do not fit even one layer at a time: channel means (all layers at once) do
    assert plan(budget(sum(channels), whole, 3, group=1)) == ("avgpool", 3, 1, None)
    # the flattened layer "6" (256 features) has no spatial axes to pool: it is projected to what fits
    assert plan(budget(100, 256, 1, ["6"]), ["6"]) == (("random_projection", 100, 0), 1, None, None)
    with pytest.raises(ValueError, match="fewer than 16 features per layer"):
        plan(budget(15, 256, 1, ["6"]), ["6"])
    # an explicit reduce is kept; the layers are run a group at a time, or the batch adapts, or a clear error if
    # even one image of one layer does not fit
    pooled = dict(reduce="maxpool")
    assert plan(budget(sum(channels), whole, 5, **pooled), **pooled) == ("maxpool", 5, None, None)
    assert plan(budget(sum(channels), whole, 1, group=1, **pooled), **pooled) == ("maxpool", 1, 1, None)
    assert plan(budget(sum(channels), whole, 1, group=2, **pooled), **pooled) == ("maxpool", 1, 2, None)
    # a byte short of all four at once: the first three (8 + 8 + 16 channels kept, 2816 numbers an image) and
    # the last, with the batch of what is left
    short = budget(sum(channels), whole, 1, group=1, **pooled) - 1
    left = short - rsa_scoring(probe, n, GT_LAYERS, boot_room=short // 8, rdm_group=1, **pooled) - 4 * n * 3 * 16 * 16
    assert plan(short, **pooled) == ("maxpool", (left - 2 * 4 * n * 32) // (4 * 2816), 1, 3)
    with pytest.raises(ValueError, match=r"\(layer RDMs \d+ MiB, rows and sort orders of 1 layer\(s\) at a time .*"
                                         r"cannot hold 120 stimuli with reduce='maxpool' \(even one layer at a time\)"):
        plan(budget(max(channels), max(full), 1, group=1, **pooled) - 1, **pooled)


def activation_bytes(n, kept, image, batch):
    """What the sweep's memory plan counts for the activation pass on the tiny net: the preprocessed set, the
    kept activations of the layers run at a time (``kept`` features) twice, a batch of their full outputs."""
    return 4 * n * 3 * 16 * 16 + 2 * 4 * n * kept + batch * 4 * image


def test_a_sweep_whose_scoring_does_not_fit_in_available_memory_is_refused_up_front(tiny, monkeypatch):
    """Without memory_budget the scoring (layer RDMs grow with layers x N^2) must fit in what the machine has
    available, the layers' rows and sort orders made a group at a time if need be, and the activation pass in
    what is left: else refused before any activation pass, not killed part way by the kernel's OOM killer."""
    import importlib
    import os

    from neuro_widgets.engine.alignment.budget import available_bytes

    sweep_module = importlib.import_module("neuro_widgets.engine.alignment.sweep")  # the package exports the function
    probe, stim, acts = tiny
    resp = synthetic_responses(acts, "3", stim)
    n = len(stim)
    every = activation_bytes(n, 2848, 2848, 1)  # all four layers at once, one image at a time
    need = {group: rsa_scoring(probe, n, GT_LAYERS, boot_room=DEFAULT_CHUNK_BYTES, rdm_group=group)
            for group in (None, 3, 1)}
    before = snapshot(probe.module)
    calls = []

    def run(available):
        monkeypatch.setattr(sweep_module, "available_bytes", lambda device: available)
        return nw.alignment.sweep(probe, resp, GT_LAYERS, stimuli=stim, n_boot=5,
                                  progress=lambda *a, **k: calls.append(a))

    with pytest.raises(ValueError, match=r"needs about \d+ MiB for scoring \(layer RDMs .*, more than the \d+ MiB "
                                         r"available on cpu.*; sweep fewer layers or stimuli"):
        run(need[1] - 1)
    # the scoring fits, but not one image of the largest layer (2048 numbers) and the kept activations with it
    with pytest.raises(ValueError, match=r"the \d+ MiB the host has left cannot hold the activations: \d+ bytes cannot "
                                         r"hold 120 stimuli with reduce=None \(even one layer at a time\) and one image's layer outputs "
                                         r"\(8192 bytes\).*free memory, pass reduce="):
        run(need[1] + activation_bytes(n, 2048, 2048, 1) - 1)
    assert calls == []  # nothing ran
    assert_untouched(probe.module, before)
    assert run(need[1] + every).settings["rdm_group"] == 1 and calls  # a layer at a time just fits
    assert run(need[None] - 1 + every).settings["rdm_group"] == 3     # the largest group that fits
    assert run(need[None] + every).settings["rdm_group"] is None      # all at once just fits
    assert run(None).settings["rdm_group"] is None                    # unknown: not checked
    # the real reading: what the kernel says can be allocated, below the machine's physical memory
    real = available_bytes(torch.device("cpu"))
    assert real is not None and 0 < real <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@pytest.mark.parametrize("metric", ["rsa", "cka"])
def test_a_sweep_runs_the_layers_a_group_at_a_time_where_their_activations_do_not_fit_at_once(tiny, monkeypatch,
                                                                                              metric):
    """RSA and CKA keep an RDM or Gram matrix per layer, not its activations: where those of every layer do not fit
    at once the layers are run a group at a time (all passes of the model, each stopping after its deepest layer),
    each group's activations dropped before the next; every number is the one the single pass gives."""
    import importlib

    sweep_module = importlib.import_module("neuro_widgets.engine.alignment.sweep")
    probe, stim, acts = tiny
    resp = synthetic_responses(acts, "3", stim)
    n = len(stim)
    # one image per batch both times: a convolution's float32 rounding may depend on the batch size
    options = dict(metric=metric, stimuli=stim, n_boot=20, control="random", batch_size=1)
    probe.cache.clear()  # (shared by all probes) the fixture's activations were made 64 at a time
    whole = nw.alignment.sweep(probe, resp, GT_LAYERS, **options)
    assert whole.settings["activation_group"] is None
    scoring = (rsa_scoring(probe, n, GT_LAYERS, 2, 20, DEFAULT_CHUNK_BYTES, 1) if metric == "rsa" else
               scoring_plan("cka", n, len(GT_LAYERS), 2, 0, 0, 0, 2048, 0, boot_room=0).total)
    # room for the largest layer alone (2048 of 2848 numbers), one image at a time
    monkeypatch.setattr(sweep_module, "available_bytes", lambda device: scoring + activation_bytes(n, 2048, 2048, 1))
    probe.cache.clear()  # the whole sweep's activations: the streamed one makes its own
    stages = []
    streamed = nw.alignment.sweep(probe, resp, GT_LAYERS, **options,
                                  progress=lambda done, total, stage="", **k: stages.append((done, total, stage)))
    s = streamed.settings
    assert (s["reduce"], s["batch_size"], s["activation_group"]) == (None, 1, 1)
    assert s["rdm_group"] == (1 if metric == "rsa" else None)
    assert len(probe.cache) == 0  # nothing kept of the passes: the cache would hold earlier groups
    assert "trained: activations (4/4)" in {stage for *_, stage in stages}
    assert [done for done, *_ in stages] == sorted(done for done, *_ in stages) and stages[-1][0] == stages[-1][1]
    _assert_same_results(whole.rows, streamed.rows)
    _assert_same_results(whole.best, streamed.best)
    _assert_same_results(whole.differences, streamed.differences)
    probe.cache.clear()  # the whole sweep's, made one image at a time: not for the tests that follow


def _assert_same_results(a, b, atol=1e-12):
    """Every field of two lists of result dataclasses equal: numbers to ``atol`` (NaN where NaN), the rest exactly."""
    import dataclasses

    assert len(a) == len(b)
    for x, y in zip(a, b):
        for f in dataclasses.fields(x):
            u, v = getattr(x, f.name), getattr(y, f.name)
            if isinstance(u, (float, np.floating, np.ndarray)) or (isinstance(u, list) and u
                                                                   and isinstance(u[0], (float, np.ndarray))):
                np.testing.assert_allclose(np.asarray(u, dtype=float), np.asarray(v, dtype=float), rtol=0,
                                           atol=atol, err_msg=f.name)
            else:
                assert u == v, f.name


@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_rsa_sweep_with_rows_and_sort_orders_a_group_of_layers_at_a_time_gives_the_same_numbers(tiny, monkeypatch,
                                                                                                method):
    """When the layers' rows and sort orders cannot all be held, they are made a group of layers at a time (and
    again for each region): every score, interval, ceiling, held-out best layer and control difference is the
    one the whole computes; the bootstrap draws are the seed's, whatever the group."""
    import importlib


    sweep_module = importlib.import_module("neuro_widgets.engine.alignment.sweep")
    probe, stim, acts = tiny
    resp = synthetic_responses(acts, "3", stim)
    options = dict(stimuli=stim, n_boot=20, control="random", method=method, batch_size=1)  # as the plans below
    whole = nw.alignment.sweep(probe, resp, GT_LAYERS, **options)
    assert whole.settings["rdm_group"] is None
    for group in (1, 3):  # four layers: one at a time; three and then one
        need = (rsa_scoring(probe, len(stim), GT_LAYERS, 2, 20, DEFAULT_CHUNK_BYTES, group)
                + activation_bytes(len(stim), 2848, 2848, 1))
        monkeypatch.setattr(sweep_module, "available_bytes", lambda device: need)
        grouped = nw.alignment.sweep(probe, resp, GT_LAYERS, **options)
        assert grouped.settings["rdm_group"] == group
        _assert_same_results(whole.rows, grouped.rows)
        _assert_same_results(whole.best, grouped.best)
        _assert_same_results(whole.differences, grouped.differences)
    probe.cache.clear()  # (shared by all probes) activations made one image at a time: not for the tests that follow


# ---- response-level data from files ------------------------------------------------------------------
def test_netcdf_neuroid_assembly_round_trip(tmp_path, tiny):
    import h5netcdf  # noqa: F401  (the netCDF engine xarray uses here)
    import xarray as xr
    _, stim, acts = tiny
    resp = synthetic_responses(acts, "3", stim, reps=4)
    n, k, r = resp.data.shape
    # Brain-Score layout: presentation x neuroid x time_bin, repetitions as repeated stimulus_id rows
    rows = np.concatenate([resp.data[:, :, i] for i in range(r)])  # (r * n, k), repetition-major
    values = np.stack([rows - 0.5, rows + 0.5], axis=2)            # two time bins averaging to rows
    da = xr.DataArray(values, dims=("presentation", "neuroid", "time_bin"), coords={
        "stimulus_id": ("presentation", np.tile(stim.ids, r)),
        "repetition": ("presentation", np.repeat(np.arange(r), n)),
        "neuroid_id": ("neuroid", [f"n{i}" for i in range(k)]),
        "region": ("neuroid", resp.neuroids["region"]), "subject": ("neuroid", resp.neuroids["subject"]),
        "time_bin_start": ("time_bin", [70, 120])}, name="assembly")
    path = tmp_path / "assembly.nc"
    da.to_netcdf(path, engine="h5netcdf")
    loaded = NeuralResponses.from_netcdf(path)
    assert loaded.stimulus_ids == stim.ids and loaded.regions == ["V"]
    np.testing.assert_allclose(loaded.data, resp.data, atol=1e-12)
    assert list(loaded.neuroids["neuroid_id"][:2]) == ["n0", "n1"]
    first_bin = NeuralResponses.from_netcdf(path, time_bin=0)
    np.testing.assert_allclose(first_bin.data, resp.data - 0.5, atol=1e-12)
    rdms = loaded.to_rdms()
    assert rdms.rdms("V").shape == (3, n, n)
    np.testing.assert_allclose(rdms.rdms("V")[0], nw.alignment.rdm(resp.mean()[:, :20]).numpy(), atol=1e-12)
    # unequal repetitions are refused with a clear message
    da.isel(presentation=slice(0, r * n - 1)).to_netcdf(tmp_path / "bad.nc", engine="h5netcdf")
    with pytest.raises(ValueError, match="different numbers of repetitions"):
        NeuralResponses.from_netcdf(tmp_path / "bad.nc")


# ---- bad inputs ----------------------------------------------------------------------------------------
def test_bad_inputs_give_clear_errors(tiny, k92, resnet20):
    probe, stim, _ = tiny
    rng = np.random.default_rng(0)
    good = rng.normal(size=(10, 5, 2))
    with pytest.raises(ValueError, match="NaN"):
        NeuralResponses(np.where(np.arange(100).reshape(10, 5, 2) == 7, np.nan, good), [str(i) for i in range(10)])
    rdm = nw.alignment.rdm(rng.normal(size=(6, 4))).numpy()
    with pytest.raises(ValueError, match="NaN"):
        nw.alignment.compare_rdms(np.where(np.eye(6, k=1) == 1, np.nan, rdm), rdm)
    with pytest.raises(ValueError, match="at least 4 stimuli"):
        nw.alignment.rdm(rng.normal(size=(3, 5)))
    with pytest.raises(ValueError, match="at least 4 stimuli"):
        nw.alignment.compare_rdms(rdm[:3, :3], rdm[:3, :3])
    with pytest.raises(ValueError, match="square"):
        nw.alignment.compare_rdms(rdm[:, :5], rdm)
    asym = rdm.copy()
    asym[0, 1] += 0.5
    with pytest.raises(ValueError, match="symmetric"):
        nw.alignment.noise_ceiling(np.stack([asym, rdm]))
    with pytest.raises(ValueError, match="at least 2 subjects"):
        nw.alignment.noise_ceiling(k92.neural.rdms("mIT"))
    with pytest.raises(ValueError, match="split needs at least"):
        nw.alignment.shuffle_splits(10, 2, test_size=9)
    with pytest.raises(ValueError, match="split needs at least"):
        nw.alignment.encoding_score(rng.normal(size=(12, 3)), rng.normal(size=(12, 2)), test_size=0.95)
    with pytest.raises(ValueError, match="unknown metric 'rsq'"):
        nw.alignment.sweep(resnet20, k92, ["layer3"], metric="rsq")
    with pytest.raises(ValueError, match="unknown RDM comparison method 'kendall'"):
        nw.alignment.compare_rdms(rdm, rdm, method="kendall")
    with pytest.raises(ValueError, match="unknown RDM method"):
        nw.alignment.rdm(rng.normal(size=(6, 4)), method="mahalanobis")
    with pytest.raises(ValueError, match="unknown encoding method"):
        nw.alignment.encoding_score(rng.normal(size=(12, 3)), rng.normal(size=(12, 2)), method="lasso")
    with pytest.raises(ValueError, match="unknown CKA kernel"):
        nw.alignment.cka(rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), kernel="poly")
    # stimulus ids of the neural data that are not among the stimuli are named
    resp = NeuralResponses(rng.normal(size=(120, 5)), [*stim.ids[:-2], "ghost_a", "ghost_b"])
    with pytest.raises(ValueError, match=r"2 stimulus id\(s\).*ghost_a.*ghost_b"):
        nw.alignment.sweep(probe, resp, GT_LAYERS, metric="encoding", stimuli=stim)
    with pytest.raises(ValueError, match="response-level data"):
        nw.alignment.sweep(resnet20, k92, ["layer3"], metric="encoding")
    with pytest.raises(ValueError, match="unknown region"):
        nw.alignment.sweep(resnet20, k92, ["layer3"], regions=["V4"])
    with pytest.raises(ValueError, match="features cover 12 stimuli"):
        nw.alignment.encoding_score(rng.normal(size=(12, 3)), rng.normal(size=(11, 2)))


def test_neural_data_in_another_stimulus_order_is_aligned_by_id(resnet20, k92):
    perm = np.random.default_rng(0).permutation(92)
    shuffled = nw.NeuralRDMs({"hIT": k92.neural.rdms("hIT")[:, perm][:, :, perm]},
                             [k92.neural.stimulus_ids[i] for i in perm], {"hIT": k92.neural.labels("hIT")})
    kwargs = dict(regions=["hIT"], n_boot=5, crossfit=False)
    a = nw.alignment.sweep(resnet20, k92, ["layer3", "linear"], **kwargs)
    b = nw.alignment.sweep(resnet20, shuffled, ["layer3", "linear"], stimuli=k92.stimuli, **kwargs)
    assert [r.score for r in a.rows] == pytest.approx([r.score for r in b.rows], abs=1e-12)
    assert [r.ceiling for r in a.rows] == pytest.approx([r.ceiling for r in b.rows], abs=1e-12)


def test_malformed_arguments_are_refused_by_name(tiny, k92, resnet20):
    """Each used to fail deep inside (ZeroDivisionError, 'NaN', torch's device parser) or be misread."""
    probe, stim, acts = tiny
    resp = synthetic_responses(acts, "3", stim)
    with pytest.raises(TypeError, match=r"layers must be names \(str\), got \[3\]"):
        nw.alignment.sweep(probe, resp, [3], stimuli=stim, n_boot=5)
    with pytest.raises(TypeError, match=r"layers must be a list of names.*'3'"):
        nw.alignment.sweep(probe, resp, "3", stimuli=stim, n_boot=5)
    with pytest.raises(TypeError, match=r"regions must be a list of names, e.g. regions=\['hIT'\], got the string 'hIT'"):
        nw.alignment.sweep(resnet20, k92, ["layer3"], regions="hIT")
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        nw.alignment.sweep(probe, resp, ["3"], stimuli=stim, n_boot=5, batch_size=0)
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        nw.alignment.sweep(probe, resp, ["3"], stimuli=stim, n_boot=5, device="gpu")
    x = np.random.default_rng(0).normal(size=(6, 4))
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        nw.alignment.rdm(x, device="gpu")
    with pytest.raises(ValueError, match="unknown device"):
        nw.alignment.compare_rdms(nw.alignment.rdm(x), nw.alignment.rdm(x), device="cuda:x")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available on this machine"):
            nw.alignment.rdm(x, device="cuda")
    with pytest.raises(TypeError, match=r"rdm\(features\): got None"):
        nw.alignment.rdm(None)
    with pytest.raises(TypeError, match=r"compare_rdms\(rdms1\): got None"):
        nw.alignment.compare_rdms(None, nw.alignment.rdm(x))


class _ConstantHeads(nn.Module):
    """The tiny net plus two heads a zero-initialised layer gives: all-zero outputs, and the same bias
    pattern for every stimulus."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.zero, self.same = nn.Linear(32, 10), nn.Linear(32, 10)
        with torch.no_grad():
            self.zero.weight.zero_()
            self.zero.bias.zero_()
            self.same.weight.zero_()

    def forward(self, x):
        h = self.body(x)
        return self.zero(h) + self.same(h)


def _with_constant_heads(probe):
    return nw.Probe(_ConstantHeads(probe.module), probe.input_spec)


@pytest.mark.parametrize("metric,rdm_method", [("rsa", "correlation"), ("rsa", "euclidean"), ("cka", "correlation"),
                                               ("encoding", "correlation")])
def test_constant_layers_get_nan_with_a_note_and_the_rest_is_scored(tiny, metric, rdm_method):
    probe, stim, acts = tiny
    resp = synthetic_responses(acts, "3", stim)
    heads = _with_constant_heads(probe)
    res = nw.alignment.sweep(heads, resp, ["body.3", "zero", "same"], metric=metric, rdm_method=rdm_method,
                             stimuli=stim, n_boot=10)
    rows = {r.layer: r for r in res.rows}
    assert rows["body.3"].note == "" and rows["body.3"].score > 0.05
    for name in ("zero", "same"):
        assert np.isnan(rows[name].score) and np.isnan(rows[name].ci_low) and "not scored" in rows[name].note
    assert "constant" in rows["same"].note
    assert res.best[0].layer == "body.3"
    # the same layer's score is what a sweep of that layer alone gives
    alone = nw.alignment.sweep(probe, resp, ["3"], metric=metric, rdm_method=rdm_method, stimuli=stim, n_boot=10)
    assert alone.rows[0].score == pytest.approx(rows["body.3"].score, abs=1e-12)


def test_identical_images_are_not_scored(tiny):
    """20 identical images: every layer's RDM is floating-point noise (it scored 0.41); now refused by name."""
    probe, _, _ = tiny
    one = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    stim = nw.StimulusSet(np.repeat(one[None], 20, axis=0))
    brain = nw.alignment.rdm(np.random.default_rng(2).normal(size=(20, 30))).numpy()
    neural = nw.NeuralRDMs({"IT": brain[None]}, stim.ids)
    with pytest.raises(ValueError, match=r"no layer of the trained model can be scored: 1: not scored.*constant"):
        nw.alignment.sweep(probe, neural, ["1", "3"], stimuli=stim, n_boot=10, rdm_method="euclidean")
    with pytest.raises(ValueError, match="no layer of the trained model can be scored"):
        nw.alignment.sweep(probe, neural, ["1", "3"], stimuli=stim, n_boot=10)
