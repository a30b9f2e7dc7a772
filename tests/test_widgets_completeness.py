"""The attribution panel sends each integrated-gradients map's completeness error with the engine's threshold, so
the front end can warn under a map that does not add up (issue 16 item 10)."""
from __future__ import annotations

import warnings

import pytest
from test_widgets import front_end_update

import neuro_widgets as nw
from neuro_widgets.engine.attribution.ig_auto import WARN_ABOVE
from neuro_widgets.widgets.attribution import DEFAULT_SETTINGS


def test_ig_maps_carry_their_completeness_error_and_threshold(resnet20, k92):
    settings = {**DEFAULT_SETTINGS, "methods": ["integrated_gradients", "saliency"]}
    w = nw.AttributionWidget(resnet20, k92.stimuli[:4], **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        front_end_update(w, selected_layer="layer3")
        w.wait(300)
    maps = {m["method"]: m for m in w.attr_result["maps"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = nw.attribution.attribute(resnet20, k92.stimuli[:1], "integrated_gradients", target="predicted")
    assert maps["integrated_gradients"]["threshold"] == WARN_ABOVE
    assert maps["integrated_gradients"]["delta"] == pytest.approx(float(direct.relative_delta.reshape(-1)[0]), rel=1e-6)
    assert maps["saliency"]["delta"] is None and maps["saliency"]["threshold"] is None
