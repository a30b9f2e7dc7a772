"""The widgets' "save figure" and colour tables: the bytes a panel sends are the figure its result's ``.plot()``
draws (computed here again by direct engine calls and drawn the same way), and the front end's colour tables are
matplotlib's colour maps."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib import colormaps
from PIL import Image
from torch import nn

import neuro_widgets as nw
from conftest import seed_weights
from neuro_widgets import figures
from neuro_widgets.engine.neural import NeuralRDMs
from neuro_widgets.widgets.figure_export import PRINT_DPI

PNG = b"\x89PNG\r\n\x1a\n"
LAYER = "3"
CATEGORIES = np.repeat(["face", "body", "tool"], 4)


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(128, 4))
    seed_weights(net, g)
    probe = nw.Probe(net, nw.InputSpec(size=(8, 8), mean=(0.5,) * 3, std=(0.25,) * 3))
    rng = np.random.default_rng(0)
    stim = nw.StimulusSet(rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8), metadata={"category": CATEGORIES})
    rdms = {}
    for region in ("V4", "IT"):
        x = rng.normal(size=(3, 12, 5))
        rdms[region] = np.stack([np.asarray(nw.alignment.rdm(s), dtype=np.float64) for s in x])
    return probe, nw.datasets.Dataset("tiny", stim, NeuralRDMs(rdms, stimulus_ids=stim.ids))


@pytest.fixture(scope="module")
def explorer(tiny):
    probe, data = tiny
    w = nw.LayerExplorer(probe, data, featurevis={"steps": 2, "page_size": 4, "k": 2},
                         attribution={"methods": ["saliency", "gradcam"], "top": 5},
                         alignment={"n_boot": 5, "control": False})
    w.select(LAYER)
    w.open_channel(1)
    w.wait(120)
    front_end(w, action="sanity")
    w.wait(120)
    return w


def front_end(widget, **content):
    widget._handle_msg({"content": {"data": {"method": "custom", "content": content}}, "buffers": []})


def saved(widget, panel, fmt):
    """What the kernel sends for a click on a panel's "save figure" button: (message, file bytes)."""
    sent = []
    send = widget.comm.send
    widget.comm.send = lambda data=None, metadata=None, buffers=None: sent.append((data, buffers or []))
    try:
        front_end(widget, action="save_figure", panel=panel, format=fmt)
    finally:
        widget.comm.send = send
    assert len(sent) == 1, (panel, widget.jobs.get(panel))
    data, buffers = sent[0]
    return data["content"]["figure"], bytes(buffers[0])


def reference(tiny, panel):
    """The panel's figure drawn from results computed here by direct engine calls."""
    probe, data = tiny
    stim = data.stimuli
    if panel == "featurevis":
        return nw.featurevis.render_layer(probe, LAYER, channels=[0, 1, 2, 3], steps=2, seed=0).plot()
    if panel == "featurevis_detail":
        return nw.featurevis.render_layer(probe, LAYER, channels=[1], steps=2, seed=0).plot(
            labels=[f"{LAYER} channel 1"], smooth=True)
    if panel == "attribution":
        results = [nw.attribution.attribute(probe, stim[0], "saliency", "predicted"),
                   nw.attribution.attribute(probe, stim[0], "gradcam", "predicted", layer=LAYER)]
        return figures.plot_attribution_methods(results, images=stim[0], labels=["Saliency", "Grad-CAM"])
    if panel == "contributions":
        return nw.attribution.layer_contributions(probe, LAYER, stim[0], "predicted").plot(k=5)
    if panel == "sanity":
        return nw.attribution.sanity_check(probe, stim[0], "saliency", "predicted").plot()
    raise AssertionError(panel)


def same_png(png: bytes, fig) -> None:
    """``png`` (what a panel sent) has the pixels of ``fig`` written at print resolution."""
    assert png[:8] == PNG and Image.open(io.BytesIO(png)).info["dpi"] == pytest.approx((PRINT_DPI, PRINT_DPI), abs=0.01)
    want = figures.to_bytes(fig, "png", PRINT_DPI)
    got_img, want_img = (np.asarray(Image.open(io.BytesIO(b))) for b in (png, want))
    assert got_img.shape == want_img.shape
    np.testing.assert_array_equal(got_img, want_img)


@pytest.mark.parametrize("panel", ["featurevis", "featurevis_detail", "attribution", "contributions", "sanity"])
def test_saved_png_is_the_results_own_figure(explorer, tiny, panel):
    meta, png = saved(explorer, panel, "png")
    assert meta["mime"] == "image/png" and meta["filename"].endswith(".png")
    same_png(png, reference(tiny, panel))


def svg_texts(svg: bytes):
    root = ET.fromstring(svg)
    return {"".join(el.itertext()).strip() for el in root.iter("{http://www.w3.org/2000/svg}text")}


def test_saved_svg_keeps_axis_titles_as_text(explorer, tiny):
    meta, svg = saved(explorer, "contributions", "svg")
    assert meta["mime"] == "image/svg+xml" and meta["filename"].endswith(".svg")
    fig = reference(tiny, "contributions")
    texts = svg_texts(svg)
    assert fig.axes[0].get_xlabel() in texts and fig.axes[0].get_ylabel() in texts
    assert svg == figures.to_bytes(fig, "svg", PRINT_DPI)  # reproducible: no date, fixed ids


def test_alignment_figure_is_the_sweeps_plot(explorer, tiny):
    probe, data = tiny
    _, svg = saved(explorer, "alignment", "svg")
    layers = [r["name"] for r in explorer.layers if r["depth"] <= 1 and r["shape"] and r["calls"] == 1]
    direct = nw.alignment.sweep(probe, data.neural, stimuli=data.stimuli, layers=layers, metric="rsa",
                                method="spearman", control=None, n_boot=5, seed=0)
    ax = direct.plot().axes[0]
    texts = svg_texts(svg)
    assert {ax.get_xlabel(), ax.get_ylabel()} <= texts and set(layers) <= texts


def test_rdm_figure_has_both_rdms_colour_bars_and_categories(explorer, tiny):
    _, data = tiny
    _, svg = saved(explorer, "rdm", "svg")
    texts = svg_texts(svg)
    region = explorer.rdm_region
    assert {f"{LAYER} (1 - Pearson r)", f"{region}, mean over subjects", "face", "body", "tool"} <= texts
    assert explorer.rdm_data["categories"] == list(CATEGORIES)
    ref = figures.plot_rdms({"a": data.neural.rdms(region).mean(0), "b": data.neural.rdms(region).mean(0)},
                            categories=CATEGORIES)
    assert len([a for a in ref.axes if a.get_label() == "<colorbar>"]) == 2
    # each RDM's colours span its off-diagonal values, as the widget's canvas does (the zero diagonal is left out)
    m = data.neural.rdms(region).mean(0)
    off = m[~np.eye(len(m), dtype=bool)]
    np.testing.assert_allclose(ref.axes[0].get_images()[0].get_clim(), (off.min(), off.max()))


def test_new_layer_drops_the_old_layers_figures(tiny):
    probe, data = tiny
    w = nw.RDMWidget(probe, data, layer=LAYER)
    w.wait(60)
    assert "rdm" in w.figures and w.figures["rdm"].startswith("rdm_3")
    w.runner.submit = lambda *a, **k: None  # the next layer's job never reports
    w.select("1")
    assert "rdm" not in w.figures
    sent = []
    w.comm.send = lambda data=None, metadata=None, buffers=None: sent.append(data)
    front_end(w, action="save_figure", panel="rdm", format="png")
    assert w.jobs["rdm"]["state"] == "error" and "no figure to save yet" in w.jobs["rdm"]["error"]
    front_end(w, action="save_figure", panel="rdm", format="jpeg")
    assert "format must be one of ['png', 'svg']" in w.jobs["rdm"]["error"]


def test_a_running_job_hides_the_panels_previous_figure(tiny):
    probe, data = tiny
    w = nw.RDMWidget(probe, data, layer=LAYER)
    w.wait(60)
    assert "rdm" in w.figures
    w.runner.post("rdm", {"state": "running", "message": "queued"})  # what a new job of the panel reports first
    assert "rdm" not in w.figures
    w.rdm_region = "V4"  # a real new job: its result brings the figure back, of the new region
    w.wait(60)
    assert w.figures["rdm"] == "rdm_3_V4"


def test_a_result_kept_while_its_job_runs_survives_other_panels_statuses(tiny):
    """The job's result keeps its figure before the job reports done; a status of another panel arriving in
    between (or the job's own later progress) must not drop it (the browser test waited 120 s for the
    contributions buttons when the sheet's progress came in between)."""
    probe, data = tiny
    w = nw.RDMWidget(probe, data, layer=LAYER)
    w.wait(60)
    first = w.jobs["rdm"]
    kept = w._figure_sources["rdm"]
    w._set_status("rdm", {**first, "state": "running", "job": first["job"] + 10})  # a new job starts
    assert "rdm" not in w.figures
    w.keep_figure("rdm", kept[0], "rdm_new", **kept[1])  # its result, shown while it still reports running
    w._set_status("rdm", {**first, "state": "running", "job": first["job"] + 10, "fraction": 0.99})
    w._set_status("featurevis", {**first, "state": "running", "job": first["job"] + 11})
    assert w.figures["rdm"] == "rdm_new"
    w._set_status("rdm", {**first, "state": "done", "job": first["job"] + 10})
    assert w.figures["rdm"] == "rdm_new"


def test_colour_tables_are_matplotlibs(explorer):
    tables = explorer.colormaps
    for role, name in (("signed", figures.SIGNED_CMAP), ("unsigned", figures.UNSIGNED_CMAP)):
        assert tables[role]["name"] == name
        got = np.frombuffer(tables[role]["table"], dtype=np.uint8).reshape(256, 3)
        want = np.round(colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255)
        np.testing.assert_array_equal(got, want)
