"""The widgets without a browser: faked front-end messages start the right engine jobs, and the traits the
front end draws from are filled with the engines' real results (checked against direct engine calls)."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from conftest import assert_untouched, snapshot
from PIL import Image

import neuro_widgets as nw
from neuro_widgets.engine.neural import NeuralRDMs
from neuro_widgets.widgets import alignment as align_panel
from neuro_widgets.widgets.codec import decode_array

PNG = b"\x89PNG\r\n\x1a\n"
FV = {"steps": 4, "page_size": 8, "k": 3}
ALIGN = {"n_boot": 20}
ATTR = {"methods": ["saliency", "gradcam"]}


@pytest.fixture(scope="module")
def small(k92):
    """20 of the 92 images with their mIT/hIT RDMs cut to match (keeps the tests fast)."""
    idx = np.arange(0, 92, 92 // 20)[:20]
    stimuli = k92.stimuli[idx]
    neural = NeuralRDMs({r: k92.neural.rdms(r)[:, idx][:, :, idx] for r in k92.neural.regions},
                        stimulus_ids=stimuli.ids, labels={r: k92.neural.labels(r) for r in k92.neural.regions})
    return nw.datasets.Dataset("k92-subset", stimuli, neural)


def front_end_update(widget, **state):
    """What the browser sends when the user changes a trait (e.g. clicks a layer)."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []})


def front_end_custom(widget, **content):
    """What the browser's model.send({...}) arrives as."""
    widget._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def capture_sends(widget):
    sent = []
    widget.comm.send = lambda data=None, metadata=None, buffers=None: sent.append((data, buffers or []))
    return sent


def image_of(png):
    return np.asarray(Image.open(io.BytesIO(bytes(png))).convert("RGB"))


@pytest.fixture(scope="module")
def explored(resnet20, small):
    """A LayerExplorer on which the front end clicked layer3, with every job finished."""
    before = snapshot(resnet20.module)
    w = nw.LayerExplorer(resnet20, small, featurevis=FV, attribution=ATTR, alignment=ALIGN)
    sent = capture_sends(w)
    front_end_update(w, selected_layer="layer3")
    w.wait(300)
    return w, sent, before


def test_click_starts_every_panel_job(explored):
    w, _, _ = explored
    assert w.selected_layer == "layer3"
    for slot in ("featurevis", "attribution", "contributions", "alignment", "rdm"):
        assert w.jobs[slot]["state"] == "done", (slot, w.jobs[slot])


def test_contact_sheet_matches_engine(explored, resnet20):
    w, _, _ = explored
    sheet = w.fv_sheet
    assert sheet["layer"] == "layer3" and sheet["final"] and sheet["n_channels"] == 64
    assert sheet["channels"] == list(range(8)) and sheet["n_pages"] == 8
    direct = nw.featurevis.render_layer(resnet20, "layer3", channels=list(range(8)), steps=4, seed=0)
    assert np.allclose(sheet["values"], direct.activations, rtol=1e-4, atol=1e-5)
    for png, img in zip(sheet["images"], direct.images):
        assert bytes(png[:8]) == PNG
        shown = image_of(png).astype(float)
        expected = np.asarray(Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).resize(
            shown.shape[1::-1], Image.NEAREST), dtype=float)
        assert np.abs(shown - expected).mean() < 2.0


def test_attribution_traits(explored, small, resnet20):
    w, _, _ = explored
    r = w.attr_result
    assert r["layer"] == "layer3" and [m["method"] for m in r["maps"]] == ["saliency", "gradcam"]
    pred = int(resnet20.predict(small.stimuli[0]).argmax(1)[0])
    assert r["target_label"] == f"predicted class {resnet20.input_spec.class_names[pred]}"
    assert all(bytes(m["image"][:8]) == PNG for m in r["maps"]) and r["scale"] > 0
    assert r["maps"][0]["delta"] is None and r["maps"][1]["delta"] is None  # saliency, Grad-CAM: no delta
    c = w.attr_contrib
    direct = nw.attribution.layer_contributions(resnet20, "layer3", small.stimuli[0], "predicted")
    values = direct.values.double().numpy()
    assert len(c["channels"]) == 24
    top_abs = set(np.argsort(-np.abs(values))[:24].tolist())
    assert set(c["channels"]) == top_abs
    assert c["values"] == sorted(c["values"], reverse=True)
    assert np.allclose(c["values"], values[c["channels"]], rtol=1e-6)


def test_alignment_traits(explored, small, resnet20):
    w, _, _ = explored
    a = w.align_result
    assert a["regions"] == ["mIT", "hIT"] and a["selected"] == "layer3"
    assert a["layers"] == align_panel.sweep_layers(w) and "layer3" in a["layers"]
    i = a["layers"].index("layer3")
    for reg in a["regions"]:
        assert a["ci_low"][reg][i] <= a["score"][reg][i] <= a["ci_high"][reg][i]
        assert a["control"][reg][i] is not None
    # the score equals the RSA of the layer's RDM with the region's RDMs, computed directly
    acts = resnet20.activations(small.stimuli, ["layer3"])["layer3"]
    model_rdm = nw.alignment.rdm(acts)
    hit = nw.alignment.compare_rdms(model_rdm, small.neural.rdms("hIT"), method="spearman")
    assert a["score"]["hIT"][i] == pytest.approx(float(np.mean(hit)), abs=1e-6)


def test_rdm_traits(explored, small, resnet20):
    w, _, _ = explored
    d = w.rdm_data
    assert d["layer"] == "layer3" and d["region"] == "hIT" and d["ids"] == small.stimuli.ids
    layer_rdm = decode_array(d["layer_rdm"])
    acts = resnet20.activations(small.stimuli, ["layer3"])["layer3"]
    assert np.allclose(layer_rdm, nw.alignment.rdm(acts).numpy(), atol=1e-6)
    assert np.allclose(decode_array(d["region_rdm"]), small.neural.rdms("hIT").mean(0), atol=1e-6)


def test_images_travel_as_binary_buffers(explored):
    _, sent, _ = explored
    buffers = [bytes(b) for _, bufs in sent for b in bufs]
    assert sum(b[:8] == PNG for b in buffers) >= 8 + 2  # sheet tiles and attribution maps
    text = json.dumps([d for d, _ in sent], default=str)
    assert "iVBOR" not in text  # no base64 PNG anywhere in the JSON
    assert max(len(b) for b in buffers) < 4 * 2**20


def test_code_reproduces_sheet(explored, resnet20):
    w, _, _ = explored
    code = w.code["featurevis"]
    assert code.startswith("sheet = nw.featurevis.render_layer(probe, 'layer3'")
    scope = {"nw": nw, "probe": resnet20}
    exec(code.splitlines()[0], scope)
    assert np.allclose(scope["sheet"].activations, w.fv_sheet["values"], rtol=1e-4, atol=1e-5)


def test_cached_layer_recomputes_nothing(explored):
    w, _, _ = explored
    before = {k: getattr(w, k) for k in ("fv_sheet", "attr_result", "attr_contrib", "rdm_data")}
    front_end_update(w, selected_layer="layer2")
    w.wait(300)
    computed = w.runner.computed
    front_end_update(w, selected_layer="layer3")
    w.wait(60)
    assert w.runner.computed == computed
    for slot in ("featurevis", "attribution", "contributions", "alignment", "rdm"):
        assert w.jobs[slot]["cached"], slot
    for k, v in before.items():
        assert getattr(w, k) == v, k


def test_bar_click_opens_channel(explored):
    w, _, _ = explored
    channel = w.attr_contrib["channels"][0]
    front_end_custom(w, action="open_channel", channel=channel)
    w.wait(120)
    d = w.fv_detail
    assert d["channel"] == channel and d["layer"] == "layer3" and w.active_tab == "featurevis"
    assert bytes(d["image"][:8]) == PNG and len(d["curve"]) == 4
    assert len(d["top"]) == 3 and d["top"][0]["value"] >= d["top"][-1]["value"] >= d["bottom"][0]["value"]


def test_state_round_trip(explored, resnet20, small):
    import ipywidgets.embed as embed

    w, _, _ = explored
    state = w.get_state()
    w2 = nw.LayerExplorer(resnet20, small, featurevis=FV, attribution=ATTR, alignment=ALIGN)
    w2.set_state({k: v for k, v in state.items() if k not in ("selected_layer", "arrangement", "_model_id")})
    for k in ("fv_sheet", "attr_result", "attr_contrib", "align_result", "rdm_data", "code"):
        assert getattr(w2, k) == getattr(w, k), k
    data = embed.embed_data(views=[w], drop_defaults=False)
    saved = data["manager_state"]["state"][w.model_id]["state"]
    assert saved["fv_sheet"]["layer"] == "layer3"
    assert saved["align_result"]["regions"] == ["mIT", "hIT"]


def test_model_untouched(explored, resnet20):
    _, _, before = explored
    assert_untouched(resnet20.module, before)


def test_cancel_from_front_end(resnet20, small):
    w = nw.FeatureVisWidget(resnet20, small.stimuli, steps=4000, page_size=4)
    front_end_update(w, selected_layer="layer1")
    for _ in range(400):
        if w.jobs.get("featurevis", {}).get("fraction", 0) > 0:
            break
        import time

        time.sleep(0.01)
    front_end_custom(w, action="cancel", slot="featurevis")
    w.wait(60)
    assert w.jobs["featurevis"]["state"] == "cancelled"
    assert not w.fv_sheet.get("final")
    assert w.runner.computed == 0  # nothing finished, nothing cached


def test_supersede_by_second_click(resnet20, small):
    w = nw.FeatureVisWidget(resnet20, small.stimuli, steps=3000, page_size=4)
    w.select("layer1")
    first = w.runner.running("featurevis")
    w.fv_settings = {**w.fv_settings, "steps": 3}
    w.select("layer2")
    w.wait(120)
    assert first.cancel.cancelled
    assert w.fv_sheet["layer"] == "layer2" and w.fv_sheet["final"]
    assert w.jobs["featurevis"]["state"] == "done"


def test_engine_error_shown_in_panel(resnet20, small):
    w = nw.AttributionWidget(resnet20, small.stimuli, methods=["saliency"], target="class", **{"class": 99})
    w.select("layer3")
    w.wait(60)
    st = w.jobs["attribution"]
    assert st["state"] == "error" and "99" in st["error"] and "Traceback" in st["traceback"]
    assert w.attr_result == {}


def test_no_neural_data_explains(resnet20, small):
    w = nw.AlignmentWidget(resnet20, small.stimuli, layer="layer3")
    w.wait(10)
    assert w.jobs["alignment"]["state"] == "notice"
    assert w.jobs["alignment"]["message"].startswith("no neural data")


def test_unknown_layer_from_front_end(resnet20, small):
    w = nw.RDMWidget(resnet20, small)
    front_end_update(w, selected_layer="layer9")
    assert w.jobs["rdm"]["state"] == "error" and "layer9" in w.jobs["rdm"]["error"]
    assert w.runner.running("rdm") is None


def test_bad_inputs(resnet20, small):
    with pytest.raises(TypeError, match="nw.Probe"):
        nw.LayerExplorer(resnet20.module, small)
    with pytest.raises(TypeError, match="StimulusSet"):
        nw.LayerExplorer(resnet20, np.zeros((3, 8, 8, 3)))
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        nw.FeatureVisWidget(resnet20, small.stimuli, steps=0)
    with pytest.raises(ValueError, match="unknown optimal-stimulus settings"):
        nw.FeatureVisWidget(resnet20, small.stimuli, stepz=3)
    with pytest.raises(ValueError, match="metric must be one of"):
        nw.AlignmentWidget(resnet20, small, metric="cosine")
    with pytest.raises(ValueError, match="arrangement"):
        nw.LayerExplorer(resnet20, small, arrangement="grid")
    with pytest.raises(Exception, match="layer9"):
        nw.LayerExplorer(resnet20, small, layer="layer9")


def test_magic_and_probe_display(resnet20, small):
    from IPython.core.interactiveshell import InteractiveShell

    from neuro_widgets.widgets.explorer import LayerTree
    from neuro_widgets.widgets.magics import explore, parse_explore

    assert parse_explore("cifar_resnet20 kriegeskorte2008") == ("cifar_resnet20", "kriegeskorte2008")
    with pytest.raises(ValueError, match="usage"):
        parse_explore("")
    ns = {"probe": resnet20, "data": small, "model": resnet20.module}
    w = explore("probe data", ns)
    assert isinstance(w, nw.LayerExplorer) and w.probe is resnet20 and w.stimuli is small.stimuli
    with pytest.raises(TypeError, match="not an nw.Probe"):
        explore("model", ns)
    with pytest.raises(NameError, match="no variable 'nothing'"):
        explore("probe nothing", ns)
    shell = InteractiveShell.instance()
    shell.user_ns.update(ns)
    shell.run_line_magic("load_ext", "neuro_widgets")
    shown = shell.run_line_magic("explore", "probe data")
    assert isinstance(shown, nw.LayerExplorer) and shown.regions == ["mIT", "hIT"]
    bundle, _ = shell.display_formatter.format(resnet20)
    assert "application/vnd.jupyter.widget-view+json" in bundle and "Probe(" in bundle["text/plain"]
    assert isinstance(LayerTree(resnet20).layers, list)


def test_sanity_check_on_demand(explored, small, resnet20):
    w, _, _ = explored
    front_end_custom(w, action="sanity")
    w.wait(300)
    assert w.jobs["sanity"]["state"] == "done", w.jobs["sanity"]
    from neuro_widgets.engine.attribution.sanity import default_blocks

    sa = w.attr_sanity
    assert sa["method"] == "saliency" and sa["steps"] == ["original", *default_blocks(resnet20)]
    assert len(sa["correlations"]) == len(sa["steps"]) and sa["correlations"][0] == pytest.approx(1.0)
    assert all(-1.0 <= c <= 1.0 for c in sa["correlations"])
    assert w.code["sanity"].startswith("nw.attribution.sanity_check(probe, stimuli[0], 'saliency'")


def test_thumbnail_pages(resnet20, k92):
    from neuro_widgets.widgets.base import THUMB_PAGE

    w = nw.AttributionWidget(resnet20, k92.stimuli)
    assert w.thumbs["n"] == 92 and len(w.thumbs["images"]) == min(92, THUMB_PAGE)
    big = nw.StimulusSet(np.repeat(k92.stimuli.images, 3, axis=0)[:THUMB_PAGE + 10])
    w = nw.AttributionWidget(resnet20, big)
    assert len(w.thumbs["images"]) == THUMB_PAGE and w.thumbs["start"] == 0
    front_end_update(w, thumb_page=1)
    assert w.thumbs["start"] == THUMB_PAGE and len(w.thumbs["images"]) == 10
    assert w.thumbs["ids"] == big.ids[THUMB_PAGE:]
    assert bytes(w.thumbs["images"][0]) == bytes(big.thumbnails(48)[THUMB_PAGE])


def test_sheet_images_appear_while_optimising(resnet20, small, monkeypatch):
    from neuro_widgets.widgets import featurevis as fv_panel

    monkeypatch.setattr(fv_panel, "PREVIEW_INTERVAL", 0.0)
    w = nw.FeatureVisWidget(resnet20, small.stimuli, steps=5, page_size=4)
    seen = []
    w.observe(lambda c: seen.append((c["new"].get("final"), len(c["new"].get("images", [])))), names="fv_sheet")
    w.select("layer2")
    w.wait(120)
    previews = [n for final, n in seen if final is False and n]
    assert previews and all(n == 4 for n in previews)  # whole page of forming images, before the final one
    assert seen[-1] == (True, 4)


def test_sheet_previews_come_first_at_once_then_ever_less_often():
    from neuro_widgets.widgets.featurevis import PREVIEW_MAX, PreviewPace

    pace = PreviewPace()
    times = np.arange(0, 20, 0.05)
    sent = [round(float(now), 2) for now in times if pace.due(float(now))]
    assert sent[:5] == [0.0, 0.5, 1.25, 2.4, 4.1]  # waits 0.5, 0.75, 1.125, 1.6875 s (rounded up to the clock)
    gaps = np.diff(sent)
    assert np.all(np.diff(gaps) >= -1e-9) and gaps.max() <= PREVIEW_MAX + 0.05
    assert len(sent) == 10  # a 20-s render: 10 previews instead of 40 at a fixed 0.5 s


def test_per_map_scale_option(resnet20, small):
    w = nw.AttributionWidget(resnet20, small.stimuli, layer="layer3", methods=["saliency", "gradcam"])
    w.wait(120)
    shared = w.attr_result
    front_end_update(w, attr_settings={**w.attr_settings, "shared_scale": False})
    w.wait(120)
    own = w.attr_result
    assert shared["scale"] > 0 and own["scale"] is None
    # Grad-CAM's units differ from saliency's: on its own scale its overlay changes
    assert bytes(own["maps"][1]["image"]) != bytes(shared["maps"][1]["image"])
    # the input-space baseline picture is the same either way
    assert bytes(own["input"]) == bytes(shared["input"])


def test_ig_completeness_shown(resnet20, small):
    w = nw.AttributionWidget(resnet20, small.stimuli, layer="layer3", methods=["integrated_gradients"], stimulus=3)
    w.wait(120)
    shown = w.attr_result["maps"][0]
    direct = nw.attribution.attribute(resnet20, small.stimuli[3], "integrated_gradients", "predicted")
    assert shown["steps"] == 50
    assert shown["delta"] == pytest.approx(float(direct.relative_delta[0]), rel=1e-5)


def test_one_pass_maps_show_before_the_path_method_and_the_final_maps_keep_the_chosen_order(resnet20, small):
    """Integrated gradients (one pass per step) is chosen first but computed last: the saliency and Grad-CAM
    maps reach the front end while it runs, with IG named as pending; the final maps are in the user's order,
    equal to the engine's, with nothing pending and the figure kept only then."""
    chosen = ["integrated_gradients", "saliency", "gradcam"]
    w = nw.AttributionWidget(resnet20, small.stimuli, methods=chosen, stimulus=2)
    seen = []
    w.observe(lambda change: seen.append(change["new"]), names="attr_result")
    front_end_update(w, selected_layer="layer3")
    w.wait(120)
    shown = [r for r in seen if r.get("maps")]
    first, last = shown[0], shown[-1]
    labels = {m["name"]: m["label"] for m in w.attr_methods}
    assert [m["method"] for m in first["maps"]] == ["saliency"] and first["pending"] == [labels[m] for m in
                                                                                         ("integrated_gradients", "gradcam")]
    assert [m["method"] for m in shown[1]["maps"]] == ["saliency", "gradcam"]
    assert shown[1]["pending"] == [labels["integrated_gradients"]]
    assert [m["method"] for m in last["maps"]] == chosen and last["pending"] == []
    direct = nw.attribution.attribute(resnet20, small.stimuli[2], "integrated_gradients", "predicted")
    assert last["maps"][0]["delta"] == pytest.approx(float(direct.relative_delta[0]), rel=1e-5)
    assert "attribution" in w.figures


def test_neural_data_in_its_own_order(resnet20, small):
    """Neural data given separately, over a reordered subset of the stimuli: RDM rows follow its ids."""
    order = np.arange(12)[::-1]
    ids = [small.stimuli.ids[i] for i in order]
    rdms = {r: small.neural.rdms(r)[:, order][:, :, order] for r in small.neural.regions}
    neural = NeuralRDMs(rdms, stimulus_ids=ids)
    w = nw.RDMWidget(resnet20, small.stimuli, neural=neural, layer="layer2", region="mIT")
    w.wait(120)
    d = w.rdm_data
    assert d["ids"] == ids and d["index"] == order.tolist()
    acts = resnet20.activations(small.stimuli[order], ["layer2"])["layer2"]
    assert np.allclose(decode_array(d["layer_rdm"]), nw.alignment.rdm(acts).numpy(), atol=1e-6)
    assert np.allclose(decode_array(d["region_rdm"]), rdms["mIT"].mean(0), atol=1e-6)
    a = nw.AlignmentWidget(resnet20, small.stimuli, neural=neural, layer="layer2", n_boot=10, control=False)
    a.wait(300)
    assert a.jobs["alignment"]["state"] == "done", a.jobs["alignment"]
    i = a.align_result["layers"].index("layer2")
    direct = nw.alignment.compare_rdms(nw.alignment.rdm(acts), rdms["mIT"], method="spearman")
    assert a.align_result["score"]["mIT"][i] == pytest.approx(float(np.mean(direct)), abs=1e-6)
    assert all(v is None for v in a.align_result["control"]["mIT"])
    with pytest.raises(TypeError, match="neural must be neural data"):
        nw.RDMWidget(resnet20, small.stimuli, neural=np.zeros((3, 3)))


def test_metric_selector_with_response_data(resnet20, small):
    """CKA on response-level data runs through the panel; encoding on RDM-level data shows the engine's reason."""
    from neuro_widgets.engine.alignment.neural_data import NeuralResponses

    rng = np.random.default_rng(0)
    feats = resnet20.activations(small.stimuli, ["layer3"], reduce="avgpool")["layer3"].numpy()
    resp = feats @ rng.normal(size=(feats.shape[1], 30)) + 0.1 * rng.normal(size=(len(feats), 30))
    neural = NeuralResponses(resp, stimulus_ids=small.stimuli.ids, neuroids={"region": ["V"] * 30})
    w = nw.AlignmentWidget(resnet20, small.stimuli, neural=neural, layer="layer3", metric="cka", control=False,
                           n_boot=10)
    w.wait(300)
    assert w.jobs["alignment"]["state"] == "done", w.jobs["alignment"]
    assert w.align_result["regions"] == ["V"] and w.align_result["label"] == "CKA"
    assert "kernel='linear'" in w.code["alignment"] and "method=" not in w.code["alignment"].splitlines()[0]
    bad = nw.AlignmentWidget(resnet20, small, layer="layer3", metric="encoding", control=False, n_boot=10)
    bad.wait(60)
    assert bad.jobs["alignment"]["state"] == "error"
    assert "response-level" in bad.jobs["alignment"]["error"]


def test_bad_setting_from_front_end_is_shown_and_undone(resnet20, small):
    w = nw.FeatureVisWidget(resnet20, small.stimuli, steps=4)
    sent = capture_sends(w)
    before = dict(w.fv_settings)
    front_end_update(w, fv_settings={**before, "steps": 0})
    assert w.fv_settings == before
    status = w.jobs["featurevis"]
    assert status["state"] == "error" and "steps must be a positive integer" in status["error"]
    resent = [d["state"] for d, _ in sent if d.get("method") == "update" and "fv_settings" in d.get("state", {})]
    assert resent and resent[-1]["fv_settings"]["steps"] == 4  # the front end gets the kernel's value back


# ---- issue 11: stale results, non-applicable methods, cheap views first, malformed actions ------------------
FINAL = ("done", "error", "cancelled", "notice", "idle")
SLOTS = ("featurevis", "attribution", "contributions", "alignment", "rdm")


def shown_layers(w):
    """The layer each panel's result claims to be (None: the panel shows nothing)."""
    return {"featurevis": w.fv_sheet.get("layer"), "attribution": w.attr_result.get("layer"),
            "contributions": w.attr_contrib.get("layer"), "alignment": w.align_result.get("selected"),
            "rdm": w.rdm_data.get("layer")}


def test_click_on_a_non_spatial_layer_skips_gradcam_with_a_note_and_shows_no_stale_result(resnet20, small):
    w = nw.LayerExplorer(resnet20, small, featurevis=FV, attribution=ATTR, alignment=ALIGN)
    capture_sends(w)
    front_end_update(w, selected_layer="layer3")
    w.wait(300)
    assert set(shown_layers(w).values()) == {"layer3"}
    front_end_update(w, selected_layer="linear")
    # at once, before any job of the new layer finished: nothing of layer3 is shown under linear's name
    assert set(shown_layers(w).values()) <= {None, "linear"}, shown_layers(w)
    w.wait(300)
    for slot in SLOTS:
        assert w.jobs[slot]["state"] == "done", (slot, w.jobs[slot])
    assert set(shown_layers(w).values()) == {"linear"}
    r = w.attr_result
    assert [m["method"] for m in r["maps"]] == ["saliency"]
    (skip,) = r["skipped"]
    assert skip["method"] == "gradcam" and "spatial" in skip["note"] and "linear" in skip["note"]


def test_only_non_applicable_methods_is_a_notice(resnet20, small):
    w = nw.LayerExplorer(resnet20, small, featurevis=FV, attribution={"methods": ["gradcam"]}, alignment=ALIGN)
    w.select("linear").wait(300)
    assert w.jobs["attribution"]["state"] == "notice" and "Grad-CAM" in w.jobs["attribution"]["message"]
    assert w.attr_result["maps"] == [] and w.attr_result["layer"] == "linear"


def test_cheap_views_are_not_held_behind_a_long_render(resnet20, small):
    """A render that never ends on its own (10^6 steps) is running when the layer is clicked: the new
    layer's attributions, alignment scores and RDM still arrive, and the previous layer's render was cancelled.
    The alignment panel's random control (the costly refinement) waits for the render and follows once it ends."""
    w = nw.LayerExplorer(resnet20, small, featurevis={**FV, "steps": 10**6}, attribution=ATTR, alignment=ALIGN)
    front_end_update(w, selected_layer="layer1")
    first = w.runner.running("featurevis")
    assert first is not None
    front_end_update(w, selected_layer="layer2")
    assert first.cancel.cancelled
    cheap = ("attribution", "contributions", "rdm")
    end = __import__("time").monotonic() + 300
    while any(w.jobs[s]["state"] not in FINAL for s in cheap) or w.align_result.get("selected") != "layer2":
        assert __import__("time").monotonic() < end, w.jobs
        __import__("time").sleep(0.05)
    assert w.jobs["featurevis"]["state"] == "running"  # the render goes on, after the cheap views
    assert {shown_layers(w)[s] for s in SLOTS if s != "featurevis"} == {"layer2"}
    assert w.align_result["pending"] == "random control" and w.jobs["alignment"]["state"] == "running"
    assert all(v is not None for v in w.align_result["score"]["hIT"])
    front_end_custom(w, action="cancel", slot="featurevis")
    w.wait(120)
    assert w.jobs["featurevis"]["state"] == "cancelled"
    assert w.jobs["alignment"]["state"] == "done" and w.align_result["pending"] == ""
    assert all(v is not None for v in w.align_result["control"]["hIT"])


def test_the_sheet_goes_first_until_its_first_images_then_lets_the_cheap_views_pass(resnet20, small):
    """The model is busy (a random control holds it) when a layer is clicked: once it is free, the sheet's first
    images come before the attribution maps, and the maps before the rest of the sheet."""
    from neuro_widgets.widgets.base import PRIORITY
    from neuro_widgets.widgets.jobs import GateToken, model_gate

    w = nw.LayerExplorer(resnet20, small, featurevis={**FV, "steps": 60}, attribution=ATTR, alignment=ALIGN)
    busy = GateToken(model_gate(resnet20.module), PRIORITY["alignment_control"])
    busy.hold()
    order = []
    w.observe(lambda c: order.append(("sheet", c["new"]["final"])) if c["new"].get("images") else None,
              names="fv_sheet")
    w.observe(lambda c: order.append(("maps", None)) if c["new"].get("maps") else None, names="attr_result")
    front_end_update(w, selected_layer="layer2")
    sheet = w.runner.running("featurevis")
    assert sheet.cancel.priority == PRIORITY["featurevis_first"] < min(
        PRIORITY[slot] for slot in ("attribution", "alignment", "rdm", "contributions"))
    busy.let_go()
    w.wait(300)
    assert order.index(("sheet", False)) < order.index(("maps", None)) < order.index(("sheet", True)), order
    assert sheet.cancel.priority == PRIORITY["featurevis"]


def test_block_clicks_share_one_alignment_sweep(resnet20, small, monkeypatch):
    """Each table is swept to the end once per setting: the trained scores (shown first), then with the random
    control (a sweep cancelled by a click elsewhere is not counted: it left no result)."""
    calls = []
    real = align_panel.sweep  # the engine function the panel imported

    def completed(*a, **k):
        out = real(*a, **k)
        calls.append((k["layers"], k["control"]))
        return out

    monkeypatch.setattr(align_panel, "sweep", completed)
    w = nw.LayerExplorer(resnet20, small, featurevis=FV, attribution=ATTR, alignment={"n_boot": 20, "seed": 7})
    for layer in ("layer1", "layer2", "layer3", "layer1.0.conv1", "layer2"):
        front_end_update(w, selected_layer=layer)
    w.wait(300)
    blocks = align_panel.sweep_layers(w)
    table = [(blocks, None), (blocks, "random")]
    conv = [(["layer1.0.conv1"], None), (["layer1.0.conv1"], "random")]
    # the blocks' table once per setting (the clicks while it ran joined it), the layer inside a block on its own
    assert len(set(map(repr, calls))) == len(calls) and all(repr(c) in map(repr, calls) for c in table)
    assert w.align_result["selected"] == "layer2" and w.align_result["layers"] == blocks
    front_end_update(w, selected_layer="layer1.0.conv1")
    w.wait(300)
    a = w.align_result
    assert a["layers"] == blocks + ["layer1.0.conv1"] and a["selected"] == "layer1.0.conv1"
    assert sorted(map(repr, calls)) == sorted(map(repr, table + conv))
    assert all(v is not None for v in a["score"]["hIT"])


MALFORMED = [
    ({"action": "explode"}, "widget", "unknown front-end action 'explode'"),
    ({"no_action": 1}, "widget", "without an action name"),
    ({"action": 7}, "widget", "without an action name"),
    ({"action": "open_channel"}, "featurevis_detail", "missing a required argument: 'channel'"),
    ({"action": "open_channel", "channel": "abc"}, "featurevis_detail", "invalid literal"),
    ({"action": "open_channel", "channel": 1, "colour": "red"}, "featurevis_detail", "unexpected keyword"),
    ({"action": "cancel", "slot": ["featurevis"]}, "widget", "slot must be"),
    ({"action": "select", "layer": 5}, "widget", "layer must be a layer name"),
    ({"action": "tab", "tab": None}, "widget", "'active_tab' trait"),
]


@pytest.fixture(scope="module")
def bare_explorer(resnet20, small):
    return nw.LayerExplorer(resnet20, small, featurevis=FV, attribution=ATTR, alignment=ALIGN)


@pytest.mark.parametrize("content, slot, words", MALFORMED)
def test_malformed_front_end_action_shows_an_error_in_the_panel(bare_explorer, content, slot, words):
    w = bare_explorer
    w.runner.post(slot, {"state": "idle"})
    front_end_custom(w, **content) if isinstance(content, dict) else None
    st = w.jobs[slot]
    assert st["state"] == "error" and words in st["error"], st


def test_non_object_front_end_message_shows_an_error(bare_explorer):
    w = bare_explorer
    w._handle_msg({"content": {"data": {"method": "custom", "content": ["open_channel", 3]}}, "buffers": []})
    assert w.jobs["widget"]["state"] == "error" and "['open_channel', 3]" in w.jobs["widget"]["error"]
