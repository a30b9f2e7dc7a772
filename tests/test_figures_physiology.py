"""Figures of the physiology and single-neuron results: axis titles with units, one plotted point or bar per
measured value, fitted curves, colour bars over the data's range, and saved files that keep text (SVG) and print
resolution (PNG)."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

import neuro_widgets as nw
from conftest import gabor_conv, seed_weights
from neuro_widgets import figures
from neuro_widgets.engine.physiology.contrast import ContrastResponse, naka_rushton
from neuro_widgets.engine.physiology.size import SizeTuning

DOMAINS = {"faces": ["face"], "bodies": ["body"], "places": ["place"]}


@pytest.fixture(scope="module")
def gabors():
    """Three Gabor channels (0, 60, 120 deg) behind a ReLU: tuned units with real receptive fields."""
    conv = gabor_conv()
    return nw.Probe(nn.Sequential(conv, nn.ReLU()), nw.InputSpec(size=32, mean=0.5, std=0.5, channels=1))


@pytest.fixture(scope="module")
def tiny():
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    seed_weights(net, g)
    probe = nw.Probe(net, nw.InputSpec(size=(12, 12), mean=(0.5,) * 3, std=(0.25,) * 3))
    rng = np.random.default_rng(0)
    stim = nw.StimulusSet(rng.integers(0, 256, (36, 12, 12, 3), dtype=np.uint8),
                          metadata={"category": np.repeat(["face", "body", "place", "tool"], 9)})
    return probe, stim


@pytest.fixture(scope="module")
def neurons(tiny):
    """5 neurons made from the model's own pooled channels (predictable), 36 images, 4 repetitions."""
    probe, stim = tiny
    pooled = probe.activations(stim, "5")["5"].numpy()[:, :5]
    rng = np.random.default_rng(1)
    data = pooled[:, :, None] + 0.3 * pooled.std(0)[None, :, None] * rng.normal(size=(36, 5, 4))
    return nw.alignment.NeuralResponses(data, stim.ids, {"neuroid_id": [f"n{i}" for i in range(5)]})


def colorbars(fig: Figure) -> list:
    return [a for a in fig.axes if a.get_label() == "<colorbar>"]


def svg_texts(svg: bytes) -> set:
    root = ET.fromstring(svg)
    return {"".join(el.itertext()).strip() for el in root.iter("{http://www.w3.org/2000/svg}text")}


def test_contrast_response_points_fit_and_c50():
    contrasts = np.array([0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0])
    responses = np.stack([naka_rushton(contrasts, 3.0, 0.2, 2.0), naka_rushton(contrasts, 1.0, 0.5, 3.0)])
    result = ContrastResponse("v1", np.array([4, 7]), contrasts, responses, np.zeros(2), np.full(2, 0.1))
    assert result.c50 == pytest.approx([0.2, 0.5], rel=1e-3)  # the fit recovers the known curves
    ax = result.plot(channel=7).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["measured"].get_xdata(), contrasts)
    np.testing.assert_allclose(lines["measured"].get_ydata(), responses[1])
    fit = next(line for label, line in lines.items() if label.startswith("Naka–Rushton fit"))
    np.testing.assert_allclose(fit.get_ydata(), naka_rushton(fit.get_xdata(), 1.0, 0.5, 3.0), rtol=1e-3)
    assert fit.get_xdata().min() == pytest.approx(0.02) and fit.get_xdata().max() == pytest.approx(1.0)
    c50 = next(line for label, line in lines.items() if label.startswith("c50"))
    assert c50.get_xdata()[0] == pytest.approx(0.5, rel=1e-3)
    assert ax.get_xlabel() == "contrast (Michelson)" and ax.get_ylabel() == "response (F0 + F1 - blank)"
    assert ax.get_xscale() == "log" and "ch 7: c50 0.50, n 3.0" in ax.get_title(loc="left")
    assert "ch 4" in result.plot().axes[0].get_title(loc="left")  # default: the first measured channel
    with pytest.raises(IndexError, match="was not measured"):
        result.plot(channel=5)


def test_size_tuning_curve_preferred_size_and_suppression_index():
    diameters = np.array([2.0, 4.0, 8.0, 16.0, 32.0])
    responses = np.array([[1.0, 3.0, 4.0, 2.0, 1.0]])
    result = SizeTuning("v1", np.array([2]), diameters, responses, (16.0, 16.0), pixels_per_degree=4.0)
    ax = result.plot().axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["measured"].get_xdata(), diameters / 4.0)  # in degrees
    np.testing.assert_allclose(lines["measured"].get_ydata(), responses[0])
    assert lines["preferred 2 deg"].get_xdata()[0] == pytest.approx(2.0)
    assert lines["largest aperture"].get_ydata()[0] == pytest.approx(1.0)
    assert ax.get_xlabel() == "aperture diameter (deg)" and ax.get_xscale() == "log"
    assert ax.get_title(loc="left").endswith("suppression index 0.75")  # (4 - 1) / 4
    pixels = SizeTuning("v1", np.array([2]), diameters, responses).plot().axes[0]
    assert pixels.get_xlabel() == "aperture diameter (pixels)"
    np.testing.assert_allclose(pixels.get_lines()[0].get_xdata(), diameters)


def test_rf_maps_share_one_colour_bar_over_the_shown_range(gabors):
    maps = nw.physiology.sparse_noise_rf(gabors, "1", channels=[0, 2], pixels_per_degree=8.0)
    fig = maps.plot()
    panels = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    (cbar,) = colorbars(fig)
    top, left, bottom, right = maps.region
    shown = maps.signed[:, top:bottom, left:right]
    peak = np.abs(shown).max()
    assert cbar.get_ylim() == pytest.approx((-peak, peak))
    assert cbar.get_ylabel() == "ON − OFF response (blank-subtracted)"
    assert len(panels) == 2
    assert {a.get_images()[0].get_clim() for a in panels} == {(-peak, peak)}
    for a, m, i in zip(panels, shown, range(2)):
        np.testing.assert_allclose(a.get_images()[0].get_array(), m)
        assert a.get_images()[0].get_cmap().name == figures.SIGNED_CMAP
        assert a.get_xlabel() == "column (pixels)" and a.get_ylabel() == "row (pixels)"
        (centre,) = [line for line in a.get_lines() if line.get_marker() == "+"]
        assert (centre.get_ydata()[0], centre.get_xdata()[0]) == pytest.approx(tuple(maps.centre[i]))
        assert a.patches[0].get_radius() == pytest.approx(maps.size_px[i] / 2)
        # the ticks are input pixels: the image spans the mapped region
        assert a.get_images()[0].get_extent() == [left - 0.5, right - 0.5, bottom - 0.5, top - 0.5]
    assert panels[1].get_title() == f"sparse noise, ch 2: {maps.size_px[1]:.3g} px ({maps.size_deg[1]:.2g}°)"
    magnitude = nw.physiology.gradient_rf(gabors, "1", channels=[1], n_inputs=8).plot(signed=False)
    (cb,) = colorbars(magnitude)
    grad = nw.physiology.gradient_rf(gabors, "1", channels=[1], n_inputs=8)
    assert cb.get_ylim() == pytest.approx((0, grad.magnitude.max())) and cb.get_ylabel() == "mean |input gradient|"


def test_category_selectivity_bars_and_every_channels_d_prime(tiny):
    probe, stim = tiny
    sel = nw.physiology.category_selectivity(probe, "3", stim, domains=DOMAINS, n_perm=50, control="random")
    fig = sel.plot()
    a, b = fig.axes
    heights = [p.get_height() for p in a.patches]
    np.testing.assert_allclose(heights, np.concatenate([sel.fraction, sel.control.fraction]))
    assert [t.get_text() for t in a.get_xticklabels()] == list(DOMAINS)
    assert a.get_ylabel() == "fraction of channels with d′ > 1"
    assert [t.get_text() for t in a.texts] == [f"p={p:.2g}" for p in sel.fraction_p]
    points = [line for line in b.get_lines() if line.get_marker() == "o"]
    assert len(points) == 3
    for j, line in enumerate(points):
        np.testing.assert_allclose(line.get_ydata(), sel.d_prime[:, j])
        assert np.all(np.abs(line.get_xdata() - j) <= 0.2)
    threshold = next(line for line in b.get_lines() if line.get_label() == "threshold 1")
    assert threshold.get_ydata()[0] == 1.0 and b.get_ylabel() == "d′ (domain vs other images)"


def test_one_channels_physiology_in_one_figure_saved_as_svg_and_png(gabors, tmp_path):
    survey = nw.physiology.tuning_survey(gabors, "1", orientations=6, sfs=[0.1, 0.15, 0.2], phases=4)
    sparse = nw.physiology.sparse_noise_rf(gabors, "1", [1])
    grad = nw.physiology.gradient_rf(gabors, "1", [1], n_inputs=8)
    contrast = nw.physiology.contrast_response(gabors, "1", survey, channels=[1], phases=4)
    size = nw.physiology.size_tuning(gabors, "1", survey, channels=[1], phases=4)
    fig = figures.plot_channel_physiology(survey, sparse, grad, contrast, size, 1)
    panels = [a for a in fig.axes if a.get_label() != "<colorbar>"]
    assert len(panels) == 7 and len(colorbars(fig)) == 2
    np.testing.assert_allclose(panels[0].get_lines()[0].get_ydata(), survey.orientation_curves[1])
    np.testing.assert_allclose(panels[1].get_lines()[0].get_ydata(), survey.sf_curves[1])
    np.testing.assert_allclose(panels[3].get_lines()[0].get_ydata(), contrast.responses[0])
    np.testing.assert_allclose(panels[4].get_lines()[0].get_ydata(), size.responses[0])
    labels = [a.get_xlabel() for a in panels]
    assert labels == ["orientation (deg)", "spatial frequency (cycles/pixel)", "phase (deg)", "contrast (Michelson)",
                      "aperture diameter (pixels)", "column (pixels)", "column (pixels)"]
    svg = figures.to_bytes(fig, "svg")
    assert set(labels) | {"1 channel 1", "mean input gradient", "ON − OFF response (blank-subtracted)"} <= svg_texts(svg)
    png = Image.open(io.BytesIO(figures.to_bytes(fig, "png", 300)))
    assert png.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    assert png.size[0] > 0.8 * 12.0 * 300  # the 12-inch figure at print resolution
    contrast.save(tmp_path / "c.pdf")
    assert (tmp_path / "c.pdf").read_bytes()[:4] == b"%PDF"
    sparse.save(tmp_path / "rf.svg")
    assert "row (pixels)" in svg_texts((tmp_path / "rf.svg").read_bytes())


def test_neuron_predictivity_histogram_ceiling_and_layer_curve(tiny, neurons):
    probe, stim = tiny
    layers = ["1", "3", "5"]
    result = nw.alignment.sweep(probe, neurons, layers, metric="encoding", stimuli=stim, seed=0)
    rel = np.nanmean(nw.alignment.split_half_consistency(neurons, seed=0).per_neuroid, 0)
    pred = nw.alignment.neuron_predictivity(result, "5", rel, ids=[f"n{i}" for i in range(5)])
    row = next(r for r in result.rows if r.layer == "5" and r.model == "trained")
    np.testing.assert_allclose(pred.r, np.nanmean(row.raw, 0))
    np.testing.assert_allclose(pred.ceiled, pred.r / np.sqrt(rel))
    assert pred.ceiling_r == pytest.approx(np.sqrt(np.median(rel)))
    assert pred.to_records()[1] == {"layer": "5", "neuron": "n1", "r": pytest.approx(pred.r[1]),
                                    "reliability": pytest.approx(rel[1]), "ceiled": pytest.approx(pred.ceiled[1])}
    a, b = pred.plot().axes
    counts = [p.get_height() for p in a.patches]
    want, _ = np.histogram(pred.r, bins=16, range=(min(0, pred.r.min()), max(1, pred.r.max(), pred.ceiling_r)))
    assert counts == want.tolist() and sum(counts) == 5
    ceiling = next(line for line in a.get_lines() if line.get_label().startswith("ceiling"))
    assert ceiling.get_xdata()[0] == pytest.approx(pred.ceiling_r) and ceiling.get_linestyle() == "--"
    assert a.get_xlabel() == "held-out r (Pearson, mean over splits)" and a.get_ylabel() == "neurons"
    np.testing.assert_allclose(b.get_lines()[0].get_ydata(), pred.median_ceiled)
    assert [t.get_text() for t in b.get_xticklabels()] == layers
    assert b.get_ylabel() == "median ceiled r\n= score / sqrt(ceiling)"
    with pytest.raises(KeyError, match="not in the sweep"):
        nw.alignment.neuron_predictivity(result, "fc", rel)
    with pytest.raises(TypeError, match="needs an encoding sweep"):
        nw.alignment.neuron_predictivity(rel, "5", rel)
    unreliable = nw.alignment.neuron_predictivity(result, "5", -np.abs(rel))
    assert np.isnan(unreliable.ceiling_r) and np.isnan(unreliable.ceiled).all()
    assert not any(line.get_label().startswith("ceiling") for line in unreliable.plot().axes[0].get_lines())
    with pytest.raises(ValueError, match="reliability has"):
        nw.alignment.neuron_predictivity(result, "5", rel[:3])


def test_neuron_readout_and_what_it_wants(tiny, neurons):
    probe, stim = tiny
    acts = probe.activations(stim, "3")["3"]
    ro = nw.alignment.fit_readout(acts, neurons, neuron=2, n_boot=5)
    ax = ro.plot().axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    held = np.zeros(36, dtype=bool)
    held[ro.test] = True
    np.testing.assert_allclose(lines["held-out stimuli"].get_xdata(), ro.oof_prediction[held])
    np.testing.assert_allclose(lines["held-out stimuli"].get_ydata(), ro.observed[held])
    assert len(lines["training stimuli"].get_xdata()) + len(lines["held-out stimuli"].get_xdata()) == 36
    assert ax.get_xlabel() == "predicted response (out-of-fold)"
    assert ax.get_ylabel() == "recorded response (mean over repetitions)"
    lo, hi = ro.heldout_r_ci
    assert ax.get_title(loc="left") == f"neuron n2: held-out r {ro.heldout_r:.2f} [{lo:.2f}, {hi:.2f}], {len(ro.test)} images"
    want = nw.featurevis.neuron_wants(probe, stim, neurons, "3", 2, max_features=64, steps=2, top_k=3)
    image, readout = want.plot().axes
    np.testing.assert_allclose(image.get_images()[0].get_array(), np.clip(want.image, 0, 1))
    assert f"predicted {want.predicted:.3g}" in image.get_title()
    assert len(readout.get_lines()[0].get_xdata()) + len(readout.get_lines()[1].get_xdata()) == 36
    with pytest.raises(TypeError, match="unknown style"):
        want.plot(colour="red")
