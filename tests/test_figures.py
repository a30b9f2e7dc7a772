"""Figures of real (tiny) results: labelled axes, colour bars, the plotted numbers equal the result's, and
save() writing PNG / SVG / PDF atomically."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

import neuro_widgets as nw
from conftest import gabor_conv, seed_weights
from neuro_widgets import figures
from neuro_widgets.engine.alignment import NeuralResponses
from neuro_widgets.engine.alignment.ceiling import noise_ceiling
from neuro_widgets.engine.attribution.display import common_scale
from neuro_widgets.engine.featurevis import ImageParam

LAYERS = ["1", "3", "5"]


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(128, 4))
    seed_weights(net, g)
    probe = nw.Probe(net, nw.InputSpec(size=(16, 16), mean=(0.5,) * 3, std=(0.25,) * 3))
    rng = np.random.default_rng(0)
    stim = nw.StimulusSet(rng.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8),
                          metadata={"category": np.repeat(["face", "body", "tool", "place"], 10)})
    return probe, stim


@pytest.fixture(scope="module")
def sweep_result(tiny):
    probe, stim = tiny
    f = probe.activations(stim, ["3"])["3"].flatten(1).double().numpy()
    rng = np.random.default_rng(1)
    signal = (f - f.mean(0)) @ rng.normal(size=(f.shape[1], 30))
    data = signal[:, :, None] + rng.normal(size=(40, 30, 4)) * signal.std()
    meta = {"region": np.array(["V4"] * 15 + ["IT"] * 15), "subject": np.tile(np.repeat([1, 2, 3], 5), 2)}
    resp = NeuralResponses(data, stim.ids, meta)
    return nw.alignment.sweep(probe, resp, LAYERS, metric="rsa", stimuli=stim, n_boot=10, control="random",
                              ceiling_formula="default")


def colorbars(fig: Figure) -> list:
    return [a for a in fig.axes if a.get_label() == "<colorbar>"]


def test_sweep_curves_bands_and_labels(sweep_result):
    res = sweep_result
    fig = res.plot()
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert ax.get_xlabel() == "layer" and "RSA score" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == LAYERS
    curves = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert set(curves) == {"V4, trained", "V4, random init", "IT, trained", "IT, random init"}
    for region in ("V4", "IT"):
        want = [r.score for r in res.rows if r.region == region and r.model == "trained"]
        np.testing.assert_allclose(curves[f"{region}, trained"].get_ydata(), want)
        assert curves[f"{region}, random init"].get_linestyle() == "--"
        assert curves[f"{region}, trained"].get_linestyle() == "-"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    for region in ("V4", "IT"):  # the band spans the RSA ceiling's lower..upper bound
        assert f"{region} noise ceiling" in legend
        band = next(p for p in ax.patches if p.get_label() == f"{region} noise ceiling")
        ys = band.get_path().transformed(band.get_patch_transform()).vertices[:, 1]
        b = res.settings["ceiling_bands"][region]
        np.testing.assert_allclose([ys.min(), ys.max()], [b["lower"], b["upper"]])
    ceiled = res.plot(ceiled=True).axes[0]
    refused = {r.region for r in res.rows if r.model == "trained"} - {
        r.region for r in res.rows if r.model == "trained" and np.isfinite(r.ceiled)}
    assert refused == {"V4"}  # this fixture's V4 ceiling CI reaches 0: the legend says so instead of a blank
    assert "V4, trained (no ceiled score)" in [line.get_label() for line in ceiled.get_lines()]
    assert "score / ceiling" in ceiled.get_ylabel()  # the formula named on the axis
    np.testing.assert_allclose(
        next(line for line in ceiled.get_lines() if line.get_label() == "IT, trained").get_ydata(),
        [r.ceiled for r in res.rows if r.region == "IT" and r.model == "trained"])


def test_sweep_without_ceiled_scores_refuses_ceiled_plot(sweep_result):
    import copy

    res = copy.copy(sweep_result)
    res.settings = dict(res.settings, ceiling_formula=None)
    with pytest.raises(ValueError, match="ceiling_formula"):
        figures.plot_sweep(res, ceiled=True)
    with pytest.raises(TypeError, match="unknown style"):
        figures.plot_sweep(res, colour="red")


def test_model_rdms_plot_each_layer_with_its_distance(tiny, tmp_path):
    probe, stim = tiny
    acts = probe.activations(stim, ["1", "5"])
    rdms = nw.alignment.rdm(acts, method="cosine")
    fig = rdms.plot(categories=stim.metadata["category"])
    images = [a for a in fig.axes if a.get_images()]
    assert [a.get_title() for a in images] == ["1", "5"]
    assert [c.get_ylabel() for c in colorbars(fig)] == ["1 - cosine similarity"] * 2
    for a, layer in zip(images, ["1", "5"]):  # the categories are in runs already: the order is unchanged
        np.testing.assert_allclose(a.get_images()[0].get_array(), rdms[layer].numpy())
        assert [t.get_text() for t in a.get_xticklabels()] == ["face", "body", "tool", "place"]
    one = rdms.plot(plt.subplots()[1], layers=["5"])
    np.testing.assert_allclose(one.axes[0].get_images()[0].get_array(), rdms["5"].numpy())
    with pytest.raises(ValueError, match=r"no RDM of layer\(s\) \['9'\] here; these have one: \['1', '5'\]"):
        rdms.plot(layers=["9"])
    with pytest.raises(ValueError, match="ax= draws one RDM, got 2 layers"):
        rdms.plot(plt.subplots()[1])
    assert rdms.save(tmp_path / "rdms.svg").read_bytes().startswith(b"<?xml")


def test_rdm_colour_bar_and_category_bands(tiny):
    probe, stim = tiny
    rdm = nw.alignment.rdm(probe.activations(stim, ["5"])["5"])
    cats = list(stim.metadata["category"])
    perm = np.random.default_rng(0).permutation(40)  # shuffled: the plot groups them again
    shuffled = rdm.numpy()[np.ix_(perm, perm)]
    fig = figures.plot_rdm(shuffled, categories=[cats[i] for i in perm], label="correlation distance")
    ax = fig.axes[0]
    (cbar,) = colorbars(fig)
    assert cbar.get_ylabel() == "correlation distance"
    shuffled_cats = [cats[i] for i in perm]
    names = list(dict.fromkeys(shuffled_cats))  # categories in order of first appearance
    order = sorted(range(40), key=lambda i: (names.index(shuffled_cats[i]), i))
    np.testing.assert_allclose(ax.get_images()[0].get_array(), shuffled[np.ix_(order, order)])
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    np.testing.assert_allclose(ax.get_xticks(), [4.5, 14.5, 24.5, 34.5])  # each label centred on its block
    assert len(ax.patches) == 8  # one band per category along each edge
    plain = figures.plot_rdm(rdm).axes[0]
    np.testing.assert_allclose(plain.get_images()[0].get_array(), rdm.numpy())
    assert plain.get_xlabel() == "stimulus" and len(colorbars(plain.figure)) == 1
    with pytest.raises(ValueError, match="one per stimulus"):
        figures.plot_rdm(rdm, categories=cats[:5])


def test_noise_ceiling_points_and_band():
    rng = np.random.default_rng(0)
    base = rng.random((12, 12))
    rdms = []
    for _ in range(4):
        m = base + 0.3 * rng.random((12, 12))
        m = (m + m.T) / 2
        np.fill_diagonal(m, 0)
        rdms.append(m)
    c = noise_ceiling(np.stack(rdms))
    fig = c.plot()
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["lower (vs other subjects)"].get_ydata(), c.lower_per_subject)
    np.testing.assert_allclose(lines["upper (vs all subjects)"].get_ydata(), c.upper_per_subject)
    assert ax.get_xlabel() == "subject" and "spearman" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3", "4"]


def test_contact_sheets_label_every_tile(tiny):
    probe, _ = tiny
    plain = dict(param=ImageParam("pixel", decorrelate=False), transforms=None, steps=3, size=16)
    sheet = nw.featurevis.render_layer(probe, "1", channels=[0, 2, 5], **plain)
    ax = sheet.plot().axes[0]
    assert [t.get_text() for t in ax.texts] == ["ch 0", "ch 2", "ch 5"]
    assert len(ax.get_images()) == 3 and ax.get_title(loc="left") == "1"
    for img, want in zip(ax.get_images(), sheet.images):
        np.testing.assert_allclose(img.get_array(), np.clip(want, 0, 1), atol=1e-6)
    res = nw.featurevis.render(probe, "1:0", batch=2, **plain)
    ax = res.plot(columns=2).axes[0]
    assert [t.get_text() for t in ax.texts] == [f"#{i}: {v:.3g}" for i, v in enumerate(res.final_values)]
    assert len(ax.get_images()) == 2 and ax.get_images()[0].get_interpolation() == "nearest"


def test_dataset_examples_strips(tiny):
    probe, stim = tiny
    ex = nw.featurevis.dataset_examples(probe, "3", stim, k=4)
    ax = ex.plot(channels=[1, 3], k=3).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["ch 1", "ch 3"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3"]
    assert len(ax.patches) == 6 and "rank" in ax.get_xlabel()
    tiles = [np.asarray(im.get_array()) for im in ax.get_images()]
    assert len(tiles) == 6  # row-major: channel 1's ranks 1..3, then channel 3's
    for i, (c, j) in enumerate([(1, 0), (1, 1), (1, 2), (3, 0), (3, 1), (3, 2)]):
        np.testing.assert_array_equal(tiles[i], stim.images[ex.top[c, j]])


def test_attribution_maps_share_one_signed_colour_bar(tiny):
    probe, stim = tiny
    res = nw.attribution.attribute(probe, stim.images[:3], method="saliency", target=1)
    fig = res.plot(images=stim.images[:3])
    panels = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    (cbar,) = colorbars(fig)
    assert len(panels) == 3 and all(len(a.get_images()) == 2 for a in panels)
    assert "saliency" in cbar.get_ylabel() and "signed" in cbar.get_ylabel()
    s = common_scale(res)
    assert cbar.get_ylim() == pytest.approx((-s, s))
    norms = {id(a.get_images()[1].norm) for a in panels}
    assert len(norms) == 1  # one scale for every panel
    assert panels[0].get_images()[1].get_cmap().name == figures.SIGNED_CMAP
    positive = figures.plot_attribution(res, sign="positive")
    (cb,) = colorbars(positive)
    assert cb.get_ylim() == pytest.approx((0, common_scale(res, sign="positive")))


def test_layer_contributions_ranked_bars(tiny):
    probe, stim = tiny
    lc = nw.attribution.layer_contributions(probe, "3", stim.images[:4], target=0, n_steps=8)
    ax = lc.plot(k=5).axes[0]
    widths = [p.get_width() for p in ax.patches]
    top = lc.top(5, by="abs")
    np.testing.assert_allclose(widths, lc.values.double().numpy()[top])
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"ch {c}" for c in top]
    assert "contribution" in ax.get_xlabel() and len(ax.get_xticks()) >= 3


def test_sanity_curve(tiny):
    probe, stim = tiny
    curve = nw.attribution.sanity_check(probe, stim.images[:2], method="saliency", target=0)
    ax = curve.plot().axes[0]
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), curve.correlations)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(curve.steps)
    assert "Spearman" in ax.get_ylabel()


def test_tuning_survey_panels():
    conv = gabor_conv()
    probe = nw.Probe(nn.Sequential(conv), nw.InputSpec(size=32, mean=0.5, std=0.5, channels=1))
    survey = nw.physiology.tuning_survey(probe, "0", orientations=6, sfs=[0.1, 0.15, 0.2], phases=4)
    fig = survey.plot(channel=1)
    assert len(fig.axes) == 5
    summary = survey.summary()
    hist = fig.axes[0].patches[0]
    assert fig.axes[0].get_xlabel() == "preferred orientation (deg)" and fig.axes[0].get_ylabel() == "channels"
    assert fig.axes[1].get_xlabel().startswith("OSI") and fig.axes[2].get_xlabel().startswith("F1/F0")
    np.testing.assert_allclose(hist.get_path().vertices[:, 1].max(), summary["preferred_orientation"]["counts"].max())
    np.testing.assert_allclose(fig.axes[3].get_lines()[0].get_ydata(), survey.orientation_curves[1])
    assert fig.axes[3].get_xlabel() == "orientation (deg)" and fig.axes[4].get_xscale() == "log"


def test_save_writes_png_svg_pdf_atomically(tmp_path, sweep_result):
    fig = sweep_result.plot()
    png = figures.save(fig, tmp_path / "a.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    root = ET.parse(figures.save(fig, tmp_path / "a.svg")).getroot()
    assert root.tag.endswith("svg")
    assert (tmp_path / "a.pdf").exists() is False
    sweep_result.save(tmp_path / "a.pdf")
    assert (tmp_path / "a.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(ValueError, match=r"\.png"):
        figures.save(fig, tmp_path / "a.xyz")
    assert sorted(os.listdir(tmp_path)) == ["a.pdf", "a.png", "a.svg"]  # no .xyz, no temporary left
    with pytest.raises(FileNotFoundError, match="does not exist"):
        figures.save(fig, tmp_path / "missing" / "a.png")


def test_house_style_and_callers_axes(sweep_result):
    from neuro_widgets.engine.attribution import display

    assert (figures.SIGNED_CMAP, figures.UNSIGNED_CMAP) == (display.SIGNED_CMAP, display.UNSIGNED_CMAP)
    ax = sweep_result.plot(font_size=12).axes[0]
    assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()
    assert ax.xaxis.label.get_fontsize() == pytest.approx(12)
    with figures.house_style():
        import matplotlib as mpl

        assert mpl.rcParams["axes.spines.top"] is False
    assert matplotlib.rcParams["axes.spines.top"] is True  # the user's settings come back
    own = Figure()
    a, b = own.subplots(1, 2)
    assert sweep_result.plot(ax=b) is own and b.get_xlabel() == "layer" and a.get_xlabel() == ""
    assert not b.spines["right"].get_visible()
    with pytest.raises(ValueError, match="draws 1 panel"):
        sweep_result.plot(ax=[a, b])
