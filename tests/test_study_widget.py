"""StudyWidget without a browser: the table it sends, a fake front-end click opening a LayerExplorer, the study's
progress bar with failures, cancel, and malformed messages."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from neuro_widgets.data.datasets import Dataset
from neuro_widgets.engine.alignment import NeuralResponses
from neuro_widgets.widgets.explorer import LayerExplorer
from neuro_widgets.widgets.study import StudyWidget

OPTIONS = {"n_boot": 20, "n_splits": 2}


def tiny(seed: int) -> nw.Probe:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                        nn.Linear(16, 6))
    return nw.Probe(net, nw.InputSpec(size=(16, 16), mean=(0.5,) * 3, std=(0.25,) * 3), name=f"tiny{seed}")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    stim = nw.StimulusSet(rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8))
    pixels = stim.images.reshape(24, -1).astype(float)
    signal = (pixels - pixels.mean(0)) @ rng.normal(size=(pixels.shape[1], 10)) / 1e3
    resp = signal[:, :, None] + rng.normal(size=(24, 10, 3)) * signal.std()
    return Dataset("syn", stim, NeuralResponses(resp, stim.ids, {"region": np.array(["V1"] * 4 + ["IT"] * 6)}))


class Broken(nn.Module):
    """Passes the first Probe's shape check, then fails on every call."""

    calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("this model always fails")
        return x


def test_a_finished_study_table_and_a_click_opening_a_layer_explorer(data):
    broken = nw.Probe(nn.Sequential(nn.Conv2d(3, 2, 1), Broken()), nw.InputSpec(size=(16, 16)), name="broken")
    result = nw.Study([tiny(0), broken], [data], metrics=["cka", "rsa"], **OPTIONS).run("in-process")
    w = StudyWidget(result)
    table = w.table.study_table
    assert table["metric"] == "cka" and table["regions"] == ["V1", "IT"]
    done, failed = table["rows"]
    sweep = result.sweep("tiny0", "syn", "cka")
    rows = [r for r in sweep.rows if r.model == "trained" and r.region == "V1"]
    assert done["layers"] == [r.layer for r in rows] and done["scores"] == pytest.approx([r.score for r in rows])
    assert done["best"] == next(b.layer for b in sweep.best if b.model == "trained" and b.region == "V1")
    assert failed["status"] == "failed" and "this model always fails" in failed["error"]
    w.table.study_view = {"metric": "rsa", "variant": "trained", "region": "IT"}  # the front end's choice
    rsa = result.sweep("tiny0", "syn", "rsa")
    assert w.table.study_table["rows"][0]["scores"] == pytest.approx(
        [r.score for r in rsa.rows if r.model == "trained" and r.region == "IT"])

    w.table._handle_custom_msg({"action": "open", "model": "tiny0", "data": "syn", "layer": "1"}, [])  # a click
    assert isinstance(w.explorer, LayerExplorer) and w.explorer.selected_layer == "1"
    assert w.explorer.probe.module is not result.study.models[0].module  # the user's model stays untouched
    assert w.children[1].children == (w.explorer,)
    assert w.table.study_open == {"model": "tiny0", "data": "syn", "layer": "1"}

    w.table._handle_custom_msg({"action": "open", "model": "nope", "data": "syn", "layer": "1"}, [])
    assert w.table.jobs["study"]["state"] == "error" and "no model 'nope'" in w.table.jobs["study"]["error"]
    w.table._handle_custom_msg({"action": "explode"}, [])
    assert "unknown or malformed" in w.table.jobs["study"]["error"]


def test_running_study_reports_progress_with_failures_and_cancels(data):
    seen = []

    class Watched(StudyWidget):  # records what the front end's bar shows; a cancel click after the first task
        def _status(self, **status):
            super()._status(**status)
            seen.append(status)
            if status.get("done") == 1:
                self.table._handle_custom_msg({"action": "cancel", "slot": "study"}, [])

    study = nw.Study([tiny(s) for s in range(4)], [data], metrics="cka", **OPTIONS)
    w = Watched(study, run={"client": "in-process"}).wait(120)
    messages = [j.get("message") for j in seen if j.get("state") == "running"]
    assert "0 / 4 tasks" in messages and "1 / 4 tasks" in messages and "2 / 4 tasks" not in messages
    assert seen[-1]["state"] == "cancelled" and w.result is None
    assert w.table.jobs["study"]["state"] == "cancelled"


def test_a_run_to_the_end_fills_the_table(data):
    w = StudyWidget(nw.Study([tiny(0)], [data], metrics="cka", **OPTIONS), run={"client": "in-process"}).wait(120)
    assert w.table.jobs["study"] == {"state": "done", "message": "1 sweeps"}
    assert [r["status"] for r in w.table.study_table["rows"]] == ["done"]
    with pytest.raises(TypeError, match="nw.Study"):
        StudyWidget("not a study")
    with pytest.raises(ValueError, match="own progress bar"):
        StudyWidget(nw.Study([tiny(0)], [data], metrics="cka"), run={"progress": True})


def test_a_script_gets_a_tqdm_bar_with_failures(data, capsys):
    broken = nw.Probe(nn.Sequential(nn.Conv2d(3, 2, 1), Broken()), nw.InputSpec(size=(16, 16)), name="broken")
    nw.Study([tiny(0), broken], [data], metrics="cka", **OPTIONS).run("in-process", progress=True)
    err = capsys.readouterr().err
    assert "study" in err and "2/2" in err and "failed=1" in err
