"""What the attribution panel and the stimulus strip compute: a display-only setting redraws the cached maps
without running captum again, the predicted class costs no forward pass of its own, and stimulus thumbnails
are encoded only for the page the front end shows (engine calls counted with spies)."""
from __future__ import annotations

import numpy as np

from neuro_widgets.engine.attribution import attribute, overlay_pngs
from neuro_widgets.engine.attribution.display import SIGN_MODES
from neuro_widgets.engine.probe import Probe
from neuro_widgets.engine.stimuli import StimulusSet
from neuro_widgets.widgets import LayerTree
from neuro_widgets.widgets import attribution as attr_panel
from neuro_widgets.widgets.base import THUMB_PAGE, THUMB_SIZE


def test_sign_and_scale_redraw_without_captum_and_no_extra_forward_pass(resnet20, k92, monkeypatch):
    calls, predicts = [], []
    real_attribute, real_predict = attr_panel.attribute, Probe.predict
    monkeypatch.setattr(attr_panel, "attribute", lambda probe, image, method, target, **kw:
                        calls.append((method, target)) or real_attribute(probe, image, method, target, **kw))
    monkeypatch.setattr(Probe, "predict", lambda self, *a, **kw: predicts.append(1) or real_predict(self, *a, **kw))
    stimuli = k92.stimuli[:3]
    w = attr_panel.AttributionWidget(resnet20, stimuli, methods=["saliency", "gradcam"], sign=SIGN_MODES[0])
    w.select("layer3").wait(120)
    assert w.jobs["attribution"]["state"] == "done", w.jobs["attribution"]
    monkeypatch.setattr(Probe, "predict", real_predict)
    predicted = int(real_predict(resnet20, stimuli[0]).argmax(1)[0])
    # the first method finds the predicted class in its own pass; the second explains that class
    assert calls == [("saliency", "predicted"), ("gradcam", predicted)] and predicts == []
    assert w.attr_result["target_label"] == f"predicted class {resnet20.input_spec.class_names[predicted]}"

    direct = [attribute(resnet20, stimuli[0], "saliency", predicted),
              attribute(resnet20, stimuli[0], "gradcam", predicted, layer="layer3")]
    for sign in SIGN_MODES[1:]:
        for shared in (False, True):
            w.attr_settings = {**w.attr_settings, "sign": sign, "shared_scale": shared}
            w.wait(60)
            shown = w.attr_result
            assert shown["sign"] == sign and shown["signed"] is False and shown["layer"] == "layer3"
            pngs, scale = overlay_pngs(direct, stimuli[0], shared_scale=shared, sign=sign, size=attr_panel.MAP_PX)
            assert [bytes(m["image"]) for m in shown["maps"]] == [bytes(p) for p in pngs]
            assert (shown["scale"] is None) == (scale is None)
            if scale is not None:
                assert np.isclose(shown["scale"], scale)
    assert len(calls) == 2, calls  # six redraws, no captum call


def test_thumbnails_are_encoded_for_the_shown_page_only(resnet20, monkeypatch):
    encoded = []
    real = StimulusSet.thumbnails
    monkeypatch.setattr(StimulusSet, "thumbnails", lambda self, size=64: encoded.append(len(self)) or real(self, size))
    rng = np.random.default_rng(0)
    n = 2 * THUMB_PAGE + 44
    stimuli = StimulusSet(rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), name="noise")
    w = LayerTree(resnet20, stimuli)
    assert encoded == [THUMB_PAGE] and len(w.thumbs["images"]) == THUMB_PAGE
    w.thumb_page = 2
    assert encoded == [THUMB_PAGE, 44] and w.thumbs["start"] == 2 * THUMB_PAGE
    assert w.thumbs["ids"] == stimuli.ids[2 * THUMB_PAGE:]
    assert [bytes(b) for b in w.thumbs["images"]] == [bytes(b) for b in real(stimuli, THUMB_SIZE)[2 * THUMB_PAGE:]]
    w.thumb_page = 0
    assert encoded == [THUMB_PAGE, 44] and w.thumbs["start"] == 0  # a page shown before is not encoded again
