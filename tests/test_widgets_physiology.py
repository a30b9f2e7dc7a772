"""The physiology panel without a browser: a layer click fills the grating survey's summary (checked against the
engine called directly), a channel click measures that channel, the category button runs fLoc selectivity, and bad
clicks are errors in the panel."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import assert_untouched, snapshot
from test_widgets import front_end_custom, front_end_update
from test_widgets_figures import same_png, saved, svg_texts
from torch import nn

import neuro_widgets as nw
from neuro_widgets import figures
from neuro_widgets.widgets.codec import decode_array
from neuro_widgets.widgets.physiology import PhysiologyWidget

SETTINGS = {"orientations": 6, "sfs": 3, "phases": 4}


class _V1(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 7, stride=2)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


@pytest.fixture(scope="module")
def probe():
    return nw.Probe(_V1().eval(), nw.InputSpec(size=(32, 32), mean=(0.5,) * 3, std=(0.5,) * 3))


def test_a_layer_click_shows_the_survey_of_every_channel(probe):
    before = snapshot(probe.module)
    w = PhysiologyWidget(probe, **SETTINGS)
    front_end_update(w, selected_layer="relu")
    w.wait(120)
    r = w.phys_result
    direct = nw.physiology.tuning_survey(probe, "relu", orientations=6, sfs=3, phases=4)
    assert r["layer"] == "relu" and not r["partial"] and r["n_channels"] == 4
    np.testing.assert_allclose(np.array(r["channels"]["osi"], dtype=float), direct.osi, equal_nan=True)
    np.testing.assert_allclose(np.array(r["channels"]["f1f0"], dtype=float), direct.f1f0, equal_nan=True)
    assert r["osi"]["counts"] == direct.summary()["osi"]["counts"].tolist()
    assert "tuning_survey" in w.code["physiology"]
    meta, png = saved(w, "physiology", "png")
    assert meta["filename"] == "relu_tuning_survey.png"
    same_png(png, direct.plot(osi_threshold=0.2))
    assert_untouched(probe.module, before)


def test_a_channel_click_measures_tuning_receptive_fields_contrast_and_size(probe):
    w = PhysiologyWidget(probe, **SETTINGS)
    front_end_update(w, selected_layer="relu")
    w.wait(120)
    front_end_custom(w, action="phys_channel", channel=2)
    w.wait(300)
    c = w.phys_channel
    assert w.jobs["physiology_channel"]["state"] == "done", w.jobs["physiology_channel"]
    survey = nw.physiology.tuning_survey(probe, "relu", orientations=6, sfs=3, phases=4)
    assert c["channel"] == 2 and c["tuning"]["osi"] == pytest.approx(float(survey.osi[2]), nan_ok=True)
    sparse = nw.physiology.sparse_noise_rf(probe, "relu", [2])
    np.testing.assert_allclose(decode_array(c["rf"]["sparse_noise"]["signed"]), sparse.signed[0], rtol=1e-5, atol=1e-6)
    assert c["rf"]["sparse_noise"]["size_px"] == pytest.approx(float(sparse.size_px[0]))
    assert set(c["rf"]["comparison"]) == {"centre_distance_px", "size_ratio", "map_correlation"}
    contrast = nw.physiology.contrast_response(probe, "relu", survey, channels=[2])
    assert c["contrast"]["c50"] == pytest.approx(float(contrast.c50[0]), nan_ok=True)
    assert len(c["size"]["curve"]["y"]) == len(c["size"]["curve"]["x"]) > 3
    assert "sparse_noise_rf" in w.code["physiology_channel"]
    grad = nw.physiology.gradient_rf(probe, "relu", [2])
    size = nw.physiology.size_tuning(probe, "relu", survey, channels=[2])
    direct = figures.plot_channel_physiology(survey, sparse, grad, contrast, size, 2)
    meta, png = saved(w, "physiology_channel", "png")
    assert meta["filename"] == "relu_channel2.png"
    same_png(png, direct)
    _, svg = saved(w, "physiology_channel", "svg")
    assert {a.get_xlabel() for a in direct.axes if a.get_label() != "<colorbar>"} <= svg_texts(svg)
    assert {"relu channel 2", "mean input gradient", "ON − OFF response (blank-subtracted)"} <= svg_texts(svg)
    front_end_update(w, selected_layer="conv")  # another layer: this channel's figure is not offered any more
    assert "physiology_channel" not in w.figures
    w.wait(120)


@pytest.mark.parametrize("channel", [4, -1, "2", None])
def test_a_bad_channel_click_is_an_error_in_the_panel(probe, channel):
    w = PhysiologyWidget(probe, **SETTINGS)
    front_end_update(w, selected_layer="relu")
    front_end_custom(w, action="phys_channel", channel=channel)
    assert w.jobs["physiology_channel"]["state"] == "error"
    assert "channel must be an index from 0 to 3" in w.jobs["physiology_channel"]["error"]
    w.wait(120)


def test_category_selectivity_on_fLoc_with_the_random_control(probe):
    w = PhysiologyWidget(probe, **SETTINGS)
    front_end_update(w, selected_layer="relu")
    front_end_custom(w, action="phys_category")
    w.wait(300)
    cat = w.phys_category
    assert w.jobs["physiology_category"]["state"] == "done", w.jobs["physiology_category"]
    assert cat["layer"] == "relu" and set(cat["domains"]) >= {"faces", "bodies", "places", "words"}
    for row in cat["table"].values():
        assert 0 <= row["fraction"] <= 1 and 0 <= row["control_fraction"] <= 1
    meta, png = saved(w, "physiology_category", "png")
    assert meta["filename"] == "relu_category_selectivity.png"
    same_png(png, nw.physiology.category_selectivity(probe, "relu", control="random").plot())
    with pytest.raises(ValueError, match="aperture"):
        PhysiologyWidget(probe, aperture="square")


def test_in_the_explorer_the_survey_waits_for_its_tab(probe):
    stimuli = nw.StimulusSet.from_arrays(np.random.default_rng(0).random((8, 32, 32, 3)).astype(np.float32))
    w = nw.LayerExplorer(probe, stimuli, featurevis={"steps": 2, "page_size": 4}, physiology=SETTINGS)
    assert "physiology" in w._panels and "neurons" not in w._panels   # no single-neuron data: no Neurons tab
    front_end_update(w, selected_layer="relu")
    w.wait(120)
    assert w.phys_result == {} and "physiology" not in w.jobs
    front_end_update(w, active_tab="physiology")
    w.wait(120)
    assert w.phys_result["layer"] == "relu" and w.jobs["physiology"]["state"] == "done"
