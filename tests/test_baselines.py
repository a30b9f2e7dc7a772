"""Captum users' habits: ``baselines=`` with tensors, numbers and five named baselines, each checked against
captum called directly with the same baseline tensor (built here independently of the engine)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import DeepLift, IntegratedGradients, LayerIntegratedGradients, Occlusion
from conftest import assert_untouched, snapshot
from scipy.ndimage import gaussian_filter
from torch import nn

import neuro_widgets as nw

# few integration steps keep the tests fast; completeness is not what they check (except where they say so)
pytestmark = pytest.mark.filterwarnings("ignore::neuro_widgets.engine.attribution.ig_auto.CompletenessWarning")

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 5)).eval()
    probe = nw.Probe(net, nw.InputSpec(size=(12, 12), mean=MEAN, std=STD))
    rng = np.random.default_rng(0)
    stim = nw.StimulusSet(rng.integers(0, 256, (3, 12, 12, 3), dtype=np.uint8))
    return probe, stim, stim.preprocess(probe.input_spec)


def normalised(pixels: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


def expected_baseline(name, x):
    """What each name means, built from its definition: pixels before normalisation, scipy's Gaussian blur."""
    if not isinstance(name, str):
        return name  # a number or a tensor: captum takes it as it is
    if name == "black":
        return normalised(torch.zeros(1, 3, 12, 12))
    if name == "white":
        return normalised(torch.ones(1, 3, 12, 12))
    if name == "blur":  # sigma 0.1 of the shorter side, edges replicated
        return torch.from_numpy(np.stack([[gaussian_filter(c, sigma=1.2, mode="nearest", truncate=3.0)
                                           for c in img] for img in x.double().numpy()])).float()
    if name == "uniform noise":
        return normalised(torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(0)))
    raise AssertionError(name)


def captum_ig(model, x, baseline, target=2, n_steps=16):
    if isinstance(baseline, torch.Tensor) and baseline.dim() == 3:
        baseline = baseline[None]
    if isinstance(baseline, torch.Tensor) and len(baseline) == 1:
        baseline = baseline.expand_as(x)
    return IntegratedGradients(model).attribute(x, baselines=baseline, target=target, n_steps=n_steps)


PER_IMAGE = torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(5))
ONE = torch.randn(3, 12, 12, generator=torch.Generator().manual_seed(6))


@pytest.mark.parametrize("baseline", ["zero", "black", "white", "blur", "uniform noise", 0.7, PER_IMAGE, ONE,
                                      ONE[None].numpy()],
                         ids=["zero", "black", "white", "blur", "noise", "number", "per-image", "one", "array"])
def test_integrated_gradients_equals_captum_with_the_same_baseline(setup, baseline):
    probe, stim, x = setup
    before, rng_before = snapshot(probe.module), torch.get_rng_state()
    res = nw.attribution.attribute(probe, stim, "integrated_gradients", 2, n_steps=16, baselines=baseline,
                                   batch_size=2)  # two batches: per-image baselines follow their images
    expected_b = 0.0 if isinstance(baseline, str) and baseline == "zero" else expected_baseline(baseline, x)
    if isinstance(expected_b, np.ndarray):
        expected_b = torch.from_numpy(expected_b)
    expected = captum_ig(probe.module, x, expected_b)
    torch.testing.assert_close(res.attributions, expected, rtol=1e-4, atol=1e-6)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the noise image is drawn from a private generator
    assert_untouched(probe.module, before)
    # baseline= (our name) gives the very same maps
    same = nw.attribution.attribute(probe, stim, "integrated_gradients", 2, n_steps=16, baseline=baseline,
                                    batch_size=2)
    torch.testing.assert_close(same.attributions, res.attributions, rtol=0, atol=0)


def test_deeplift_and_occlusion_take_tensor_baselines_like_captum(setup):
    probe, stim, x = setup
    res = nw.attribution.attribute(probe, stim, "deeplift", 1, baselines=PER_IMAGE)
    torch.testing.assert_close(res.attributions, DeepLift(probe.module).attribute(x, baselines=PER_IMAGE, target=1),
                               rtol=1e-4, atol=1e-6)
    res = nw.attribution.attribute(probe, stim, "occlusion", 1, window=4, stride=2, baselines="white")
    white = expected_baseline("white", x).expand_as(x)
    expected = Occlusion(probe.module).attribute(x, sliding_window_shapes=(3, 4, 4), strides=(3, 2, 2),
                                                 baselines=white, target=1)
    torch.testing.assert_close(res.attributions, expected, rtol=1e-4, atol=1e-6)


def test_auto_steps_subsets_per_image_baselines_with_their_images(setup):
    """Completeness per image against its own baseline: sum of attributions = F(x_i) - F(b_i)."""
    probe, stim, x = setup
    res = nw.attribution.attribute(probe, stim, "integrated_gradients", 2, baselines=PER_IMAGE, auto_steps=True,
                                   n_steps=4, tolerance=0.01)
    with torch.no_grad():
        gap = probe.module(x)[:, 2] - probe.module(PER_IMAGE)[:, 2]
    torch.testing.assert_close(res.attributions.flatten(1).sum(1), gap, rtol=0.02, atol=1e-4)


def test_layer_contributions_take_baselines_like_captum(setup):
    probe, stim, x = setup
    c = nw.attribution.layer_contributions(probe, "2", stim, target=3, n_steps=16, baselines="blur")
    expected = LayerIntegratedGradients(probe.module, probe.module[2]).attribute(
        x, baselines=expected_baseline("blur", x), target=3, n_steps=16)
    torch.testing.assert_close(c.per_image, expected.sum(dim=(2, 3)), rtol=1e-4, atol=1e-6)
    assert c.to_numpy()[1]["baselines"] == "blur"


def test_baseline_mistakes_are_named_clearly(setup):
    probe, stim, _ = setup
    with pytest.raises(TypeError, match=r"both baseline= and baselines="):
        nw.attribution.attribute(probe, stim, "integrated_gradients", 1, baseline="zero", baselines="black")
    with pytest.raises(TypeError, match=r"both baseline= and baselines="):
        nw.attribution.layer_contributions(probe, "2", stim, 1, baseline="zero", baselines="black")
    with pytest.raises(ValueError, match=r"one of \['zero', 'black', 'white', 'blur', 'uniform noise'\], got 'gray'"):
        nw.attribution.attribute(probe, stim, "integrated_gradients", 1, baselines="gray")
    with pytest.raises(ValueError) as err:
        nw.attribution.attribute(probe, stim, "deeplift", 1, baselines=torch.zeros(2, 3, 12, 12))
    message = str(err.value)
    assert "(2, 3, 12, 12) does not fit 3 image(s) of shape (3, 12, 12)" in message and "(3, 3, 12, 12)" in message
    assert "tensor(" not in message and len(message) < 400  # the shape, never the values
    with pytest.raises(ValueError, match=r"NaN"):
        nw.attribution.attribute(probe, stim, "occlusion", 1, baselines=torch.full((3, 12, 12), float("nan")))
    with pytest.raises(TypeError, match=r"saliency takes no baseline; the methods that do: integrated_gradients, "
                                        r"deeplift, occlusion"):
        nw.attribution.attribute(probe, stim, "saliency", 1, baselines=0.0)
    with pytest.raises(TypeError, match=r"a name .* a number or a tensor"):
        nw.attribution.attribute(probe, stim, "integrated_gradients", 1, baselines=[0, 0, 0])
