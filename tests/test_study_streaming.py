"""A 10,000-stimulus data set streamed from a netCDF file: a study on it reads its stimuli in batches (peak memory
far below holding the set), with the same numbers as the same data held in memory."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import neuro_widgets as nw
from neuro_widgets.data.streaming import StreamedStimulusSet, open_dataset, write_dataset

pytest.importorskip("h5netcdf")

SPEC = nw.InputSpec(size=(32, 32), mean=(0.5,) * 3, std=(0.25,) * 3)


def small_set(n=40, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 12, 10, 3), dtype=np.uint8)
    ids = [f"img{i:03d}" for i in range(n)]
    responses = rng.normal(size=(n, 6, 3))
    responses[1, :, 2] = np.nan  # a missing repetition
    return images, ids, responses


def test_written_file_is_an_xarray_dataset_and_reads_back_exactly(tmp_path):
    xr = pytest.importorskip("xarray")
    images, ids, responses = small_set()
    path = write_dataset(tmp_path / "s.nc", images, ids, responses, neuroids={"region": ["V1"] * 2 + ["IT"] * 4},
                         metadata={"category": ["face", "body"] * 20}, name="small", chunk=7)
    with xr.open_dataset(path, engine="h5netcdf") as ds:  # the documented layout, read by xarray
        np.testing.assert_array_equal(ds["stimuli"].values, images)
        np.testing.assert_array_equal(ds["responses"].values, responses)
        assert ds["stimulus_id"].values.tolist() == ids and ds.attrs["name"] == "small"
    data = open_dataset(path)
    memory = nw.StimulusSet(images, ids=ids)
    assert isinstance(data.stimuli, StreamedStimulusSet) and data.neural.regions == ["V1", "IT"]
    assert data.stimuli.fingerprint == memory.fingerprint  # the activation cache treats both as one set
    np.testing.assert_array_equal(data.neural.data, responses)
    assert data.stimuli.metadata["category"].tolist() == ["face", "body"] * 20
    for index in ([5, 2, 2, 39], slice(3, 30, 4), np.arange(40) % 3 == 0, (slice(1, 4), slice(2, 5))):
        np.testing.assert_array_equal(data.stimuli.images[index], images[index])
    assert torch.equal(data.stimuli.preprocess(SPEC, slice(3, 33)), memory.preprocess(SPEC, slice(3, 33)))
    assert data.stimuli._preprocessed == {}  # no whole-set copy kept
    assert np.array_equal(data.stimuli[[4, 1]].images, images[[4, 1]])
    shipped = pickle.loads(pickle.dumps(data))  # what a Dask worker gets: the path, not an open file
    np.testing.assert_array_equal(shipped.stimuli.images[7], images[7])


def test_writes_from_batches_and_refuses_bad_input_leaving_no_file(tmp_path):
    images, ids, responses = small_set()
    batches = (images[i:i + 16] for i in range(0, 40, 16))
    path = write_dataset(tmp_path / "b.nc", batches, ids, responses, neuroids={"region": ["V"] * 6},
                         image_size=(12, 10))
    np.testing.assert_array_equal(open_dataset(path).stimuli.images[:], images)
    with pytest.raises(ValueError, match="30 images for 40 ids"):
        write_dataset(tmp_path / "short.nc", images[:30], ids, responses, neuroids={"region": ["V"] * 6})
    with pytest.raises(ValueError, match="region"):
        write_dataset(tmp_path / "noregion.nc", images, ids, responses)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.nc"]  # nothing half-written left behind


MEASURE = textwrap.dedent("""
    import json, sys, threading, time
    import numpy as np, psutil, torch
    from torch import nn
    import neuro_widgets as nw
    from neuro_widgets.data.datasets import Dataset
    from neuro_widgets.data.streaming import open_dataset
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                        nn.Linear(16, 8))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    probe = nw.Probe(net, nw.InputSpec(size=(32, 32), mean=(0.5,) * 3, std=(0.25,) * 3), name="tiny")
    options = dict(n_splits=2, n_boot=20, reduce="avgpool", batch_size=250)
    streamed = open_dataset(sys.argv[1])
    warm = Dataset("warm", streamed.stimuli[:200], streamed.neural.subset(streamed.stimuli.ids[:200]))
    nw.Study([probe], [warm], metrics="encoding", **options).run("in-process")  # imports, allocator warm-up

    def peak_rss_increase(call):  # the resident set sampled every 2 ms while ``call`` runs, minus before
        proc, top, done = psutil.Process(), [0], threading.Event()
        def sample():
            while not done.is_set():
                top[0] = max(top[0], proc.memory_info().rss)
                time.sleep(0.002)
        base = proc.memory_info().rss
        thread = threading.Thread(target=sample)
        thread.start()
        try:
            out = call()
        finally:
            done.set()
            thread.join()
        return out, max(top[0], proc.memory_info().rss) - base

    _, extract_peak = peak_rss_increase(lambda: probe.activations(streamed.stimuli, probe.layer_names(),
                                                                  batch_size=250, reduce="avgpool", use_cache=False))
    study = nw.Study([probe], [streamed], metrics="encoding", memory_budget=int(sys.argv[2]), **options)
    result, study_peak = peak_rss_increase(lambda: study.run("in-process"))
    memory = Dataset("big", nw.StimulusSet(np.asarray(streamed.stimuli.images), ids=streamed.stimuli.ids),
                     streamed.neural)
    here = nw.Study([probe], [memory], metrics="encoding", memory_budget=int(sys.argv[2]), **options).run("in-process")
    a, b = result.sweep("tiny", "big", "encoding"), here.sweep("tiny", "big", "encoding")
    diff = max(max(abs(ra.score - rb.score), float(np.nanmax(np.abs(ra.raw - rb.raw)))) for ra, rb in zip(a.rows, b.rows))
    print(json.dumps({"extract_peak": extract_peak, "study_peak": study_peak, "diff": diff, "rows": len(a.rows), "failures": len(result.failures),
                      "best": [r.layer for r in a.best] == [r.layer for r in b.best]}))
""")


def test_a_study_on_10000_streamed_stimuli_holds_a_fraction_of_the_set(tmp_path):
    n, size = 10_000, 32
    rng = np.random.default_rng(3)
    ids = [f"s{i:05d}" for i in range(n)]

    def batches():  # the set is never in memory whole, not even while it is written
        for start in range(0, n, 1000):
            yield rng.integers(0, 256, (min(1000, n - start), size, size, 3), dtype=np.uint8)

    weights = rng.normal(size=(3, 8))
    path = write_dataset(tmp_path / "big.nc", batches(), ids, np.zeros((n, 8, 2)), neuroids={"region": ["V"] * 8},
                         image_size=(size, size), name="big")
    # responses: a noisy readout of each image's mean colour, so the encoding has something to find
    means = np.concatenate([b.reshape(len(b), -1, 3).mean(1) for b in open_dataset(path).stimuli.images.blocks()])
    signal = (means.reshape(n, 3) - 127.5) @ weights
    responses = signal[:, :, None] + rng.normal(size=(n, 8, 2)) * signal.std()
    write_dataset(path, open_dataset(path).stimuli, ids, responses, neuroids={"region": ["V"] * 8}, name="big")

    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.path.dirname(os.path.dirname(nw.__file__)))
    budget = 256 * 2**20
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path), str(budget)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    whole = n * size * size * 3 + n * 3 * size * size * 4  # the pixels, and their preprocessed float32 copy
    print(f"\npeak RSS increase: extraction of the streamed set {got['extract_peak'] / 2**20:.1f} MiB, the whole "
          f"study {got['study_peak'] / 2**20:.1f} MiB (budget {budget / 2**20:.0f} MiB); holding the set: "
          f"{whole / 2**20:.1f} MiB")
    assert got["failures"] == 0 and got["rows"] > 0
    assert got["diff"] <= 1e-12 and got["best"]  # the same numbers as the set held in memory
    assert got["extract_peak"] < whole / 4  # the extraction reads batch by batch
    assert got["study_peak"] < budget  # the encoding's scoring on 10,000 stimuli is most of the study's peak
