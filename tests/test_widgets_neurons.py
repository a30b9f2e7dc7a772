"""The neurons panel without a browser: a layer click fills the per-neuron list from the encoding sweep (checked
against the sweep called directly), a neuron click renders what that neuron wants (checked against the engine),
and bad clicks are shown as errors in the panel."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_untouched, snapshot
from test_widgets import PNG, front_end_custom, front_end_update
from test_widgets_figures import same_png, saved, svg_texts
from torch import nn

import neuro_widgets as nw
from neuro_widgets.widgets.neurons import NO_NEURONS, NeuronsWidget

SETTINGS = {"features": 64, "steps": 8, "top": 4}


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, stride=2), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        return self.fc(self.pool(self.block(self.conv(x))).flatten(1))


@pytest.fixture(scope="module")
def neurons():
    """6 neurons made from the model's own `pool` channels (so they are predictable), 60 images, 4 repeats."""
    probe = nw.Probe(_Net().eval(), nw.InputSpec(size=(24, 24), mean=(0.5,) * 3, std=(0.5,) * 3))
    rng = np.random.default_rng(0)
    stimuli = nw.StimulusSet.from_arrays(rng.random((60, 24, 24, 3)).astype(np.float32))
    block = probe.activations(stimuli, "pool")["pool"].flatten(1).numpy()[:, :6]
    data = block[:, :, None] + 0.2 * block.std(0)[None, :, None] * rng.normal(size=(60, 6, 4))
    neural = nw.alignment.NeuralResponses(data, stimuli.ids, {"neuroid_id": [f"n{i}" for i in range(6)]})
    return probe, nw.datasets.Dataset("toy neurons", stimuli, neural)


def test_a_layer_click_lists_every_neuron_with_the_sweeps_own_numbers(neurons):
    probe, ds = neurons
    before = snapshot(probe.module)
    w = NeuronsWidget(probe, ds, **SETTINGS)
    front_end_update(w, selected_layer="pool")
    w.wait(120)
    r = w.neuron_result
    assert r["layer"] == "pool" and r["ids"] == [f"n{i}" for i in range(6)]
    direct = nw.alignment.sweep(probe, ds, r["curve"]["layers"], metric="encoding",
                                reduce=("random_projection", 64, 0), seed=0)
    row = next(x for x in direct.rows if x.model == "trained" and x.layer == "pool")
    np.testing.assert_allclose(r["r"], np.nanmean(row.raw, 0), atol=1e-12)
    rel = np.nanmean(nw.alignment.split_half_consistency(ds.neural, seed=0).per_neuroid, 0)
    np.testing.assert_allclose(r["reliability"], rel, atol=1e-12)
    assert r["formula"] == "score / sqrt(ceiling)"
    np.testing.assert_allclose(r["ceiled"], np.array(r["r"]) / np.sqrt(rel))
    assert r["curve"]["layers"] == ["conv", "conv.0", "conv.1", "block", "block.0", "block.1", "pool", "fc"]
    assert len(r["curve"]["median_ceiled"]) == 8
    assert np.median(r["r"]) > 0.8 and r["median"] == pytest.approx(np.median(r["r"]))  # made from `pool`
    assert "nw.alignment.sweep" in w.code["neurons"]
    pred = nw.alignment.neuron_predictivity(direct, "pool", rel, ids=r["ids"])
    assert r["ceiling_r"] == pytest.approx(np.sqrt(np.median(rel)))
    meta, png = saved(w, "neurons", "png")
    assert meta["filename"] == "pool_neuron_predictivity.png"
    same_png(png, pred.plot())
    _, svg = saved(w, "neurons", "svg")
    assert {"held-out r (Pearson, mean over splits)", "neurons", "layer"} <= svg_texts(svg)
    assert_untouched(probe.module, before)


def test_a_neuron_click_renders_what_it_wants(neurons):
    probe, ds = neurons
    w = NeuronsWidget(probe, ds, **SETTINGS)
    front_end_update(w, selected_layer="pool")
    w.wait(120)
    front_end_custom(w, action="want", neuron=2)
    w.wait(120)
    got = w.neuron_want
    assert w.jobs["neurons_want"]["state"] == "done"
    direct = nw.featurevis.neuron_wants(probe, ds.stimuli, ds.neural, "pool", 2, max_features=64, steps=8, top_k=4)
    assert got["neuron"] == "n2" and got["layer"] == "pool"
    assert got["predicted"] == pytest.approx(direct.predicted) and got["spread"] == pytest.approx(direct.predicted_spread)
    assert [x["index"] for x in got["recorded"]] == direct.recorded_top.tolist()
    assert [x["index"] for x in got["model"]] == direct.predicted_top.tolist()
    assert bytes(got["image"]).startswith(PNG) and all(bytes(x["image"]).startswith(PNG) for x in got["recorded"])
    assert "neuron_wants" in w.code["neurons_want"]
    meta, png = saved(w, "neurons_want", "png")
    assert meta["filename"] == "pool_n2_wants.png"
    same_png(png, direct.plot())
    front_end_update(w, selected_layer="fc")    # a new layer clears the old neuron's view and its figure
    assert w.neuron_want == {} and "neurons_want" not in w.figures
    w.wait(120)


@pytest.mark.parametrize("neuron", [6, -1, "n2", 1.0, None])
def test_a_bad_neuron_click_is_an_error_in_the_panel(neurons, neuron):
    probe, ds = neurons
    w = NeuronsWidget(probe, ds, **SETTINGS)
    front_end_update(w, selected_layer="pool")
    front_end_custom(w, action="want", neuron=neuron)
    assert w.jobs["neurons_want"]["state"] == "error"
    assert "neuron must be an index from 0 to 5" in w.jobs["neurons_want"]["error"]
    w.wait(120)


def test_without_single_neuron_data_the_panel_says_why(neurons, k92):
    probe, ds = neurons
    w = NeuronsWidget(probe, ds.stimuli)
    front_end_update(w, selected_layer="pool")
    assert w.jobs["neurons"]["state"] == "notice" and w.jobs["neurons"]["message"] == NO_NEURONS
    with pytest.raises(ValueError, match="features"):
        NeuronsWidget(probe, ds, features=0)


def test_in_the_explorer_the_neurons_tab_appears_with_neuron_data_and_sweeps_when_opened(neurons):
    probe, ds = neurons
    w = nw.LayerExplorer(probe, ds, featurevis={"steps": 2, "page_size": 4}, neurons=SETTINGS)
    assert "neurons" in w._panels
    front_end_update(w, selected_layer="pool")
    w.wait(120)
    assert w.neuron_result == {}
    front_end_update(w, active_tab="neurons")
    w.wait(120)
    assert w.neuron_result["layer"] == "pool" and w.jobs["neurons"]["state"] == "done"
