"""Studies on a 2-worker LocalCluster: equal to one-process sweeps, a killed worker, resume, failures, no Dask."""
from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from neuro_widgets.data.datasets import Dataset
from neuro_widgets.engine.alignment import NeuralResponses
from neuro_widgets.study import run as study_run
from neuro_widgets.study.tasks import TaskKey

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

OPTIONS = {"control": "random", "n_boot": 40, "n_splits": 3}


def tiny_net(seed: int, width: int = 8) -> nw.Probe:
    """A small conv net from torch classes only (workers unpickle it by reference)."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, stride=2, padding=1),
                        nn.Tanh(), nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(16 * width, 16))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) / np.sqrt(max(p[0].numel(), 1)))
    return nw.Probe(net, nw.InputSpec(size=(32, 32), mean=(0.5,) * 3, std=(0.25,) * 3), name=f"tiny{seed}")


@pytest.fixture(scope="module")
def k24(k92):
    """The first 24 of the 92 Kriegeskorte images with their mIT and hIT RDMs."""
    idx = np.arange(24)
    neural = nw.NeuralRDMs({r: k92.neural.rdms(r)[:, idx][:, :, idx] for r in k92.neural.regions},
                           stimulus_ids=k92.stimuli.ids[:24])
    return Dataset("k24", k92.stimuli[idx], neural)


@pytest.fixture(scope="module")
def synthetic(k24):
    """Response-level data on the same 24 images: 30 neuroids x 4 repetitions of a random linear readout."""
    rng = np.random.default_rng(1)
    pixels = k24.stimuli.images.reshape(24, -1).astype(np.float64)
    signal = (pixels - pixels.mean(0)) @ rng.normal(size=(pixels.shape[1], 30)) / 1e3
    data = signal[:, :, None] + rng.normal(size=(24, 30, 4)) * signal.std()
    return Dataset("synthetic", k24.stimuli, NeuralResponses(data, k24.stimuli.ids, {"region": np.array(["V"] * 30)}))


@pytest.fixture(scope="module")
def client():
    cluster = study_run.local_cluster(2)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def assert_same(a, b, tol=1e-12):
    """Two SweepResults equal to ``tol``: every row, its raw values, the best layers and the differences."""
    assert len(a.rows) == len(b.rows)
    for ra, rb in zip(a.rows, b.rows):
        assert (ra.model, ra.region, ra.layer) == (rb.model, rb.region, rb.layer)
        for f in ("score", "ci_low", "ci_high", "ceiling", "ceiled"):
            np.testing.assert_allclose(getattr(ra, f), getattr(rb, f), rtol=0, atol=tol)
        np.testing.assert_allclose(ra.raw, rb.raw, rtol=0, atol=tol)
    for ba, bb in zip(a.best, b.best):
        assert (ba.model, ba.region, ba.fold_layers) == (bb.model, bb.region, bb.fold_layers)
        np.testing.assert_allclose([ba.score, ba.ci_low, ba.ci_high], [bb.score, bb.ci_low, bb.ci_high], atol=tol)
        np.testing.assert_allclose(ba.samples, bb.samples, rtol=0, atol=tol)
    assert [d.difference for d in a.differences] == pytest.approx([d.difference for d in b.differences], abs=tol)
    assert a.split == b.split


def test_study_on_two_workers_equals_one_process_sweeps(client, k24, synthetic, resnet20, tmp_path):
    models = [tiny_net(0), "cifar_resnet20"]
    layers = {"tiny0": None, "cifar_resnet20": ["conv1", "layer1", "layer2.0.conv1", "layer3", "linear"]}
    done = []
    study = nw.Study(models, [k24, synthetic], metrics="rsa", layers=layers, store=tmp_path, **OPTIONS)
    result = study.run(client, progress=lambda d, t, failures=0, **_: done.append((d, t, failures)))
    assert result.failures == [] and len(result.sweeps) == 4
    assert done[0] == (0, 4, 0) and done[-1] == (4, 4, 0) and [d for d, _, _ in done] == sorted(d for d, _, _ in done)
    for probe, name in ((models[0], "tiny0"), (resnet20, "cifar_resnet20")):
        for ds in (k24, synthetic):
            assert_same(result.sweep(name, ds.name, "rsa"),
                        nw.alignment.sweep(probe, ds, layers[name], metric="rsa", **OPTIONS))
    df = result.to_pandas()
    assert set(df.model) == {"tiny0", "cifar_resnet20"} and set(df.data) == {"k24", "synthetic"}
    assert set(df.variant) == {"trained", "random"}
    assert len(df) == sum(len(s.rows) for s in result.sweeps.values())
    best = result.best_layers()
    b = result.sweep("cifar_resnet20", "k24", "rsa").best[0]
    row = best[(best.model == "cifar_resnet20") & (best.data == "k24") & (best.variant == "trained")
               & (best.region == b.region)].iloc[0]
    assert row.layer == b.layer and row.score == b.score
    fig = result.plot()
    assert len(fig.axes) == 4 and all(ax.lines for ax in fig.axes)
    # the store holds the same rows (pandas reads the whole folder)
    import pandas as pd

    stored = pd.read_parquet(tmp_path)
    assert len(stored) == len(df) and set(stored.model) == set(df.model)


def _worker_settings():
    import dask as worker_dask
    return (os.environ.get("MALLOC_MMAP_THRESHOLD_"), os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            worker_dask.config.get("distributed.worker.profile.enabled"))


def test_local_cluster_workers_keep_heap_memory_and_run_no_profiler(client):
    """Dask's nanny default (trim the heap at 64 KiB) made every batch buffer a fresh page-faulted mapping; the
    study's own cluster overrides it, and the settings must reach the worker processes, not only this one."""
    assert set(client.run(_worker_settings).values()) == {(str(32 * 2**20), str(64 * 2**20), False)}


def test_killed_worker_loses_nothing_and_study_completes(client, k24):
    models = [tiny_net(s, width=32) for s in range(4)]
    killed = []

    def kill_one_busy_worker(done, total):
        if done == 1 and not killed:
            busy = [w for w, keys in client.processing().items() if keys]
            pids = client.run(os.getpid, workers=busy[:1])
            for pid in pids.values():
                os.kill(pid, signal.SIGKILL)
            killed.append(pids)

    opts = dict(OPTIONS, n_boot=200)
    result = nw.Study(models, [k24], metrics="rsa", **opts).run(client, progress=kill_one_busy_worker)
    assert killed and killed[0], "no worker was busy when the first task finished"
    assert result.failures == [] and len(result.sweeps) == 4
    for probe in models[:1]:
        assert_same(result.sweep(probe.name, "k24", "rsa"), nw.alignment.sweep(probe, k24, metric="rsa", **opts))


def test_resume_recomputes_only_what_is_missing(client, k24, tmp_path):
    models = [tiny_net(0), tiny_net(1)]
    first = nw.Study(models[:1], [k24], metrics="rsa", store=tmp_path, **OPTIONS).run(client)
    files = sorted(tmp_path.glob("*.parquet"))
    assert len(files) == 1 and not list(tmp_path.glob(".tmp-*"))
    stamp = files[0].stat().st_mtime_ns
    calls = []
    second = nw.Study(models, [k24], metrics="rsa", store=tmp_path, **OPTIONS).run(
        client, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (1, 2) and calls[-1] == (2, 2)  # the stored task counts as done from the start
    assert files[0].stat().st_mtime_ns == stamp        # not rewritten
    assert len(list(tmp_path.glob("*.parquet"))) == 2
    assert_same(second.sweep("tiny0", "k24", "rsa"), first.sweep("tiny0", "k24", "rsa"), tol=0)
    # other settings are stored apart, never mixed up with these
    other = nw.Study(models[:1], [k24], metrics="rsa", store=tmp_path, **dict(OPTIONS, n_boot=41))
    calls.clear()
    other.run(client, progress=lambda d, t: calls.append((d, t)))
    assert calls[0] == (0, 1) and len(list(tmp_path.glob("*.parquet"))) == 3


def test_failing_model_and_data_are_reported_and_the_rest_completes(client):
    models = [tiny_net(0), "cifar_resnet_no_such_depth"]
    layers = {"tiny0": ["1", "3"], "cifar_resnet_no_such_depth": None}
    result = nw.Study(models, ["kriegeskorte2008", "no_such_data"], metrics="rsa", layers=layers,
                      n_boot=10).run(client)  # data sets by name are read on the workers
    assert list(result.sweeps) == [TaskKey("tiny0", "kriegeskorte2008", "rsa")]
    failed = {(k.model, k.data): f for f in result.failures for k in f.keys}
    assert set(failed) == {("tiny0", "no_such_data"), ("cifar_resnet_no_such_depth", "kriegeskorte2008"),
                           ("cifar_resnet_no_such_depth", "no_such_data")}
    assert "cifar_resnet_no_such_depth" in failed[("cifar_resnet_no_such_depth", "kriegeskorte2008")].error
    assert "Traceback" in failed[("cifar_resnet_no_such_depth", "kriegeskorte2008")].traceback
    assert "no_such_data" in failed[("tiny0", "no_such_data")].error
    with pytest.raises(KeyError, match="it failed"):
        result.sweep("cifar_resnet_no_such_depth", "kriegeskorte2008", "rsa")
    assert "3 failed tasks" in repr(result)


def test_without_dask_runs_in_process_with_the_same_results(monkeypatch, synthetic):
    def no_dask():
        raise ImportError("No module named 'distributed'")

    monkeypatch.setattr(study_run, "_import_distributed", no_dask)
    probe = tiny_net(2)
    study = nw.Study([probe], [synthetic], metrics=["encoding", "cka"], **OPTIONS)
    with pytest.warns(UserWarning, match="neuro_widgets\\[dask\\]"):
        result = study.run()
    for metric in ("encoding", "cka"):
        assert_same(result.sweep("tiny2", "synthetic", metric),
                    nw.alignment.sweep(probe, synthetic, metric=metric, **OPTIONS))
    with pytest.raises(ImportError, match="needs Dask"):
        study.run("tcp://127.0.0.1:8786")


def test_cancel_stops_the_study(client, k24):
    token = nw.CancelToken()
    with pytest.raises(nw.Cancelled):
        nw.Study([tiny_net(s) for s in range(4)], [k24], metrics="rsa", **OPTIONS).run(
            client, progress=lambda d, t: token.cancel() if d >= 1 else None, cancel=token)
    token = nw.CancelToken()
    token.cancel()
    with pytest.raises(nw.Cancelled):
        nw.Study([tiny_net(0)], [k24], **OPTIONS).run("in-process", cancel=token)


def test_bad_study_inputs_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        nw.Study([tiny_net(0), tiny_net(0)], ["kriegeskorte2008"])
    with pytest.raises(ValueError, match="unknown metric"):
        nw.Study(["cifar_resnet20"], ["kriegeskorte2008"], metrics="rsq")
    with pytest.raises(TypeError, match="unknown sweep option"):
        nw.Study(["cifar_resnet20"], ["kriegeskorte2008"], n_bootstrap=10)
    with pytest.raises(TypeError, match="zoo name"):
        nw.Study([torch.nn.Linear(2, 2)], ["kriegeskorte2008"])
    with pytest.raises(ValueError, match="tasks_per_batch"):
        nw.Study([tiny_net(0)], ["kriegeskorte2008"]).run("in-process", tasks_per_batch=0)


def test_batched_tasks_give_the_same_results_one_progress_step_each(client, synthetic, tmp_path):
    models = [tiny_net(s, width=4) for s in range(5)]
    opts = dict(OPTIONS, control=None)
    done = []
    result = nw.Study(models, [synthetic], metrics="cka", store=tmp_path, **opts).run(
        client, tasks_per_batch=2, progress=lambda d, t: done.append(d))
    assert result.failures == [] and done == [0, 1, 2, 3, 4, 5]  # 3 Dask tasks, every unit counted
    for probe in models:
        assert_same(result.sweep(probe.name, "synthetic", "cka"),
                    nw.alignment.sweep(probe, synthetic, metric="cka", **opts))
    assert len(list(tmp_path.glob("*.parquet"))) == 5  # written by the store's thread before run() returned


def test_a_task_leaves_no_preprocessed_stimuli_on_the_shared_data_set(synthetic):
    from neuro_widgets.study.tasks import ModelRecipe, run_task

    probe = tiny_net(0)
    outcome = run_task(ModelRecipe(probe.name, probe.module, probe.input_spec), synthetic,
                       [TaskKey("tiny0", "synthetic", "cka")], None, dict(OPTIONS, control=None), 2**26)
    assert outcome.failure is None and len(outcome.results) == 1
    # a worker keeps the data set for every task; a float copy per input size would stay with it otherwise
    assert synthetic.stimuli._preprocessed == {}
