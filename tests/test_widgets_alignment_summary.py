"""What the alignment panel is sent: the RSA ceiling band (lower and upper bound) and, with several control seeds,
the pooled random control (not whichever seed came last)."""
from __future__ import annotations

import numpy as np

import neuro_widgets as nw
from neuro_widgets.engine.neural import NeuralRDMs
from neuro_widgets.widgets.engines import sweep_summary


def test_summary_carries_the_ceiling_band_and_the_pooled_control(resnet20, k92):
    idx = np.arange(0, 92, 4)[:20]
    stimuli = k92.stimuli[idx]
    neural = NeuralRDMs({"hIT": k92.neural.rdms("hIT")[:, idx][:, :, idx]}, stimulus_ids=stimuli.ids,
                        labels={"hIT": k92.neural.labels("hIT")})
    res = nw.alignment.sweep(resnet20, neural, ["layer1", "layer3"], stimuli=stimuli, control="random",
                             control_seeds=(0, 1), n_boot=20)
    got = sweep_summary([res], ["layer1", "layer3"])
    band = res.settings["ceiling_bands"]["hIT"]
    assert got["ceiling"]["hIT"] == band["lower"] and got["ceiling_upper"]["hIT"] == band["upper"]
    assert band["upper"] > band["lower"]
    pooled = {r.layer: r.score for r in res.rows if r.model == "random"}
    per_seed = {r.layer: r.score for r in res.rows if r.model == "random:1"}
    assert got["control"]["hIT"] == [pooled["layer1"], pooled["layer3"]]
    assert got["control"]["hIT"] != [per_seed["layer1"], per_seed["layer3"]]
    seeds = [{r.layer: r.score for r in res.rows if r.model == f"random:{k}"} for k in (0, 1)]
    assert got["control_low"]["hIT"] == [min(s[k] for s in seeds) for k in ("layer1", "layer3")]
    assert got["control_high"]["hIT"] == [max(s[k] for s in seeds) for k in ("layer1", "layer3")]
    assert got["control_seeds"] == 2


def test_the_panel_runs_its_control_over_several_seeds():
    from neuro_widgets.widgets.alignment import DEFAULT_SETTINGS, check_settings

    assert DEFAULT_SETTINGS["control_seeds"] == 3
    import pytest

    with pytest.raises(ValueError, match="control_seeds"):
        check_settings({"control_seeds": 0})
