"""In-silico physiology against units whose answers are known by construction: a Gabor filter (preferred
orientation and SF, RF centre and size, simple), an energy model (complex), a Naka-Rushton contrast unit and a
centre-surround unit; plus the engine's guarantees (model untouched, progress, cancel, bad inputs)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import neuro_widgets as nw
from neuro_widgets.engine.hooks import has_hooks
from neuro_widgets.engine.physiology.receptive_field import map_geometry

from conftest import assert_untouched, snapshot

phys = nw.physiology
SPEC = nw.InputSpec(size=64, mean=0.5, std=0.5, channels=1)
SFS = np.geomspace(0.03, 0.3, 9)
SIGMA = 4.0
GABORS = [(30.0, 0.1), (100.0, 0.15)]  # (orientation deg, SF cycles/pixel): one on the 15-deg grid, one between


def gabor(size: int, sigma: float, sf: float, orientation: float, phase: float = 0.0) -> np.ndarray:
    """A Gabor kernel in the engine's convention: bars at ``orientation`` (deg counter-clockwise from
    horizontal, y up), SF in cycles per pixel."""
    r = (size - 1) / 2
    rows, cols = np.mgrid[0:size, 0:size]
    y, x = r - rows, cols - r
    along = -x * np.sin(np.deg2rad(orientation)) + y * np.cos(np.deg2rad(orientation))
    return np.exp(-(x ** 2 + y ** 2) / (2 * sigma ** 2)) * np.cos(2 * np.pi * sf * along + phase)


class GaborUnits(nn.Module):
    """Linear Gabor filters (one channel each); ``energy=True`` sums squares of consecutive pairs."""

    def __init__(self, kernels, energy: bool = False) -> None:
        super().__init__()
        k = torch.tensor(np.stack(kernels), dtype=torch.float32)[:, None]
        self.conv = nn.Conv2d(1, len(kernels), k.shape[-1], padding=k.shape[-1] // 2, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(k)
        self.energy = energy
        self.out = nn.Identity()

    def forward(self, x):
        a = self.conv(x)
        if self.energy:
            a = a[:, 0::2] ** 2 + a[:, 1::2] ** 2
        return self.out(a)


@pytest.fixture(scope="module")
def gabor_probe():
    return nw.Probe(GaborUnits([gabor(25, SIGMA, sf, ori) for ori, sf in GABORS]), SPEC)


@pytest.fixture(scope="module")
def gabor_survey(gabor_probe):
    return phys.tuning_survey(gabor_probe, "conv", orientations=12, sfs=SFS, phases=8)


def angle_error(a, b):
    d = np.abs(np.asarray(a) - b) % 180
    return np.minimum(d, 180 - d)


def test_gabor_unit_tuning_matches_its_filter(gabor_survey):
    for c, (ori, sf) in enumerate(GABORS):
        assert angle_error(gabor_survey.preferred_orientation[c], ori) <= 5
        assert abs(gabor_survey.preferred_sf[c] / sf - 1) <= 0.10
        assert gabor_survey.f1f0[c] > 1 and gabor_survey.channel(c)["cell_type"] == "simple"
        # a half-wave rectified sinusoid: F1/F0 = pi/2
        assert gabor_survey.f1f0[c] == pytest.approx(math.pi / 2, rel=0.05)
    assert (gabor_survey.osi > 0.5).all()
    assert np.isfinite(gabor_survey.orientation_bandwidth).all() and np.isfinite(gabor_survey.sf_bandwidth).all()


def test_gabor_tuning_in_rf_aperture_agrees(gabor_probe):
    survey = phys.tuning_survey(gabor_probe, "conv", orientations=12, sfs=SFS[2:8], phases=4, aperture="rf")
    assert survey.aperture["centre"] == (32.0, 32.0) and survey.aperture["diameter"] == 25
    for c, (ori, sf) in enumerate(GABORS):
        assert angle_error(survey.preferred_orientation[c], ori) <= 5
        assert abs(survey.preferred_sf[c] / sf - 1) <= 0.10


def test_energy_model_unit_is_complex():
    kernels = [gabor(25, SIGMA, 0.1, 30.0), gabor(25, SIGMA, 0.1, 30.0, math.pi / 2)]
    probe = nw.Probe(GaborUnits(kernels, energy=True), SPEC)
    survey = phys.tuning_survey(probe, "out", orientations=12, sfs=SFS[2:8], phases=4)
    assert survey.f1f0[0] < 1 and survey.channel(0)["cell_type"] == "complex"
    assert angle_error(survey.preferred_orientation[0], 30.0) <= 5
    assert abs(survey.preferred_sf[0] / 0.1 - 1) <= 0.10


def test_receptive_field_centre_and_size_match_the_filter(gabor_probe):
    truth_centre, truth_size = map_geometry(np.abs(np.stack([gabor(25, SIGMA, sf, o) for o, sf in GABORS])))
    for unit, (row, col), patch in (("centre", (32, 32), 1), ((20, 41), (20, 41), 2)):
        noise = phys.sparse_noise_rf(gabor_probe, "conv", unit=unit, patch=patch, pixels_per_degree=10.0)
        grad = phys.gradient_rf(gabor_probe, "conv", unit=unit, n_inputs=2)
        for rf in (noise, grad):
            np.testing.assert_allclose(rf.centre, [[row, col]] * 2, atol=0.5 * patch)
            np.testing.assert_allclose(rf.size_px, truth_size, rtol=0.05)
        cmp = phys.compare_rfs(noise, grad)
        assert (cmp["centre_distance_px"] < 0.5 * patch).all() and (cmp["map_correlation"] > (0.95 if patch == 1 else 0.8)).all()
    # the size statistic of a Gaussian envelope is its FWHM, 2.355 sigma
    assert truth_size[0] == pytest.approx(2 * math.sqrt(2 * math.log(2)) * SIGMA, rel=0.05)
    assert noise.size_deg == pytest.approx(noise.size_px / 10.0)
    assert truth_centre[0] == pytest.approx([12, 12])


def test_sparse_noise_default_patch_still_centres(gabor_probe):
    rf = phys.sparse_noise_rf(gabor_probe, "conv", channels=[1])
    assert rf.settings["patch"] == 2 and rf.channels.tolist() == [1]
    np.testing.assert_allclose(rf.centre[0], [32, 32], atol=1.0)


class NakaRushtonUnit(nn.Module):
    """R = rmax c^n / (c^n + c50^n) of the local RMS contrast c over a 32x32 window (4 whole cycles of a
    horizontal grating of SF 1/8: c equals the grating's Michelson contrast at every phase)."""

    def __init__(self, rmax: float, c50: float, n: float) -> None:
        super().__init__()
        self.rmax, self.c50, self.n = rmax, c50, n
        self.out = nn.Identity()

    def forward(self, x):
        c = torch.sqrt(2 * F.avg_pool2d(x ** 2, 32, stride=1))
        return self.out(self.rmax * c ** self.n / (c ** self.n + self.c50 ** self.n))


def test_contrast_response_recovers_naka_rushton_parameters():
    probe = nw.Probe(NakaRushtonUnit(rmax=3.0, c50=0.2, n=2.5), SPEC)
    cr = phys.contrast_response(probe, "out", orientation=0.0, sf=0.125, contrasts=np.geomspace(0.01, 1, 10))
    assert cr.c50[0] == pytest.approx(0.2, rel=0.02)
    assert cr.n[0] == pytest.approx(2.5, rel=0.02)
    assert cr.rmax[0] == pytest.approx(3.0, rel=0.02)
    np.testing.assert_allclose(cr.responses[0], phys.naka_rushton(cr.contrasts, 3.0, 0.2, 2.5), rtol=1e-3)


class SurroundUnit(nn.Module):
    """Sum of squared contrast weighted +1 in a disk of radius rc and -k in the annulus out to rs."""

    def __init__(self, rc: int = 6, rs: int = 12, k: float = 0.2) -> None:
        super().__init__()
        yy, xx = np.mgrid[-rs:rs + 1, -rs:rs + 1]
        d2 = yy ** 2 + xx ** 2
        self.weights = np.where(d2 <= rc ** 2, 1.0, np.where(d2 <= rs ** 2, -k, 0.0))
        self.conv = nn.Conv2d(1, 1, 2 * rs + 1, padding=rs, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor(self.weights)[None, None])
        self.out = nn.Identity()

    def forward(self, x):
        return self.out(self.conv(x ** 2))


def test_size_tuning_recovers_surround_suppression():
    unit = SurroundUnit(rc=6, rs=12, k=0.2)
    probe = nw.Probe(unit, SPEC)
    st = phys.size_tuning(probe, "out", orientation=0.0, sf=0.25, diameters=np.arange(2, 40, 2),
                          pixels_per_degree=4.0)
    w = unit.weights
    truth = 0.2 * (w < 0).sum() / (w > 0).sum()  # (peak - full) / peak with peak = the centre disk
    assert st.preferred_diameter[0] == 12
    assert st.suppression_index[0] == pytest.approx(truth, rel=0.01)
    assert st.channel(0)["curve"]["x_deg"][0] == pytest.approx(0.5)


def test_contrast_and_size_use_each_channels_preferred_grating(gabor_probe, gabor_survey):
    cr = phys.contrast_response(gabor_probe, "conv", survey=gabor_survey, contrasts=[0, 0.25, 0.5, 0.75, 1.0])
    # a linear-rectified unit: the response is proportional to contrast
    np.testing.assert_allclose(cr.responses / cr.responses[:, -1:], [[0, 0.25, 0.5, 0.75, 1]] * 2, atol=1e-3)
    np.testing.assert_allclose(cr.orientation, [GABORS[0][0], 105.0])
    one = phys.contrast_response(gabor_probe, "conv", survey=gabor_survey, channels=[1], contrasts=[0, 0.5, 1.0])
    np.testing.assert_allclose(one.channel(1)["curve"]["y"], cr.responses[1, [0, 2, 4]])
    with pytest.raises(IndexError, match="channel 0 was not measured"):
        one.channel(0)
    st = phys.size_tuning(gabor_probe, "conv", survey=gabor_survey)
    assert (st.suppression_index < 0.05).all()  # no surround: no suppression


def test_layer_summary_counts_and_oblique_effect(gabor_survey):
    s = gabor_survey.summary(osi_threshold=0.2, bins=6)
    assert s["n_tuned"] == 2 and s["preferred_orientation"]["counts"].sum() == 2
    assert s["preferred_orientation"]["counts"][1] == 1  # 30 deg in [30, 60)
    assert s["oblique_effect"]["cardinal_fraction"] == 0.5  # 100 deg is cardinal, 30 deg oblique
    assert s["fraction_simple"] == 1.0 and s["f1f0"]["counts"].sum() == 2


def test_survey_reports_progress_with_partial_curves_and_leaves_model_untouched(gabor_probe):
    model = gabor_probe.module
    model.train()
    model.conv.weight.requires_grad_(True)
    model.conv.weight.grad = torch.ones_like(model.conv.weight)
    before, rng = snapshot(model), torch.get_rng_state()
    calls, partials = [], []

    def progress(done, total, **extra):
        calls.append((done, total))
        if "partial" in extra:
            partials.append(extra["partial"])

    survey = phys.tuning_survey(gabor_probe, "conv", orientations=6, sfs=[0.05, 0.1, 0.2], phases=4,
                                batch_size=8, progress=progress)
    phys.gradient_rf(gabor_probe, "conv", n_inputs=2)
    phys.sparse_noise_rf(gabor_probe, "conv", patch=4)
    assert calls[-1] == (72, 72) and [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert [len(p.sfs) for p in partials] == [1, 2]
    np.testing.assert_array_equal(partials[0].responses, survey.responses[:, :, :1])
    assert_untouched(model, before)
    assert not has_hooks(model) and torch.equal(rng, torch.get_rng_state())
    model.eval()
    model.conv.weight.grad = None
    model.conv.weight.requires_grad_(False)


def test_cancel_stops_the_survey_and_leaves_model_untouched(gabor_probe):
    token = nw.CancelToken()
    before = snapshot(gabor_probe.module)

    def progress(done, total):
        token.cancel()

    with pytest.raises(nw.Cancelled):
        phys.tuning_survey(gabor_probe, "conv", batch_size=8, progress=progress, cancel=token)
    assert_untouched(gabor_probe.module, before)
    assert not has_hooks(gabor_probe.module)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"layer": "conv2"}, KeyError, "unknown layer 'conv2'.*Did you mean 'conv'"),
    ({"unit": (70, 3)}, ValueError, "outside the layer"),
    ({"unit": "corner"}, ValueError, "unit must be 'centre'"),
    ({"sfs": [0.1, 0.8]}, ValueError, r"sfs \(cycles per pixel\) must lie in"),
    ({"orientations": [0, 180]}, ValueError, "must not repeat"),
    ({"aperture": "big"}, ValueError, "aperture must be None"),
    ({"pixels_per_degree": -1}, ValueError, "pixels_per_degree must be a positive number"),
    ({"cancel": object()}, TypeError, "cancel must be None or a CancelToken"),
    ({"progress": 3}, TypeError, "progress must be None, True"),
])
def test_bad_survey_inputs_are_refused_clearly(gabor_probe, kwargs, error, match):
    args = {"layer": "conv", **kwargs}
    with pytest.raises(error, match=match):
        phys.tuning_survey(gabor_probe, args.pop("layer"), **args)
    assert not has_hooks(gabor_probe.module)


def test_bad_inputs_elsewhere_are_refused_clearly(gabor_probe, gabor_survey):
    with pytest.raises(TypeError, match="probe must be an nw.Probe"):
        phys.tuning_survey(gabor_probe.module, "conv")
    with pytest.raises(ValueError, match="give the gratings' orientation= and sf="):
        phys.contrast_response(gabor_probe, "conv")
    with pytest.raises(ValueError, match="the survey has 2 channels but the layer has 1"):
        phys.contrast_response(nw.Probe(SurroundUnit(), SPEC), "out", survey=gabor_survey)
    with pytest.raises(ValueError, match="a receptive field belongs to one unit"):
        phys.sparse_noise_rf(gabor_probe, "conv", unit="mean")
    with pytest.raises(ValueError, match=r"region must be \(top, left, bottom, right\)"):
        phys.sparse_noise_rf(gabor_probe, "conv", region=(0, 0, 10))
    with pytest.raises(ValueError, match="does not overlap"):
        phys.sparse_noise_rf(gabor_probe, "conv", region=(70, 70, 80, 80))
    with pytest.raises(ValueError, match=r"channels must be None \(all\) or channel indices in \[0, 2\)"):
        phys.gradient_rf(gabor_probe, "conv", channels=[5])
    with pytest.raises(ValueError, match="contrasts must lie in"):
        phys.contrast_response(gabor_probe, "conv", survey=gabor_survey, contrasts=[0.5, 2])
