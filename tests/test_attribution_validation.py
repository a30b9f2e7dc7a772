"""Attribution against known answers: toy models with planted evidence and a known linear head, the
reused-ReLU fix, the sanity check on a trained model, display helpers, and bad inputs."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import DeepLift
from conftest import assert_untouched, snapshot
from PIL import Image
from torch import nn

import neuro_widgets as nw
from neuro_widgets.engine.attribution.relu_fix import inspect_activations

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients",
                                        "ignore:Setting .*hooks:UserWarning")

SIZE = 16
REGION = (slice(0, 8), slice(0, 8))  # where the toy's class evidence sits


class Mask(nn.Module):
    """Zeroes everything outside the evidence region."""

    def __init__(self) -> None:
        super().__init__()
        m = torch.zeros(1, 1, SIZE, SIZE)
        m[..., REGION[0], REGION[1]] = 1.0
        self.register_buffer("mask", m)

    def forward(self, x):
        return x * self.mask


class RegionToy(nn.Module):
    """Class 1 is driven only by features in the top-left quadrant."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g).abs() * 0.3)
            self.conv.bias.zero_()
        self.relu = nn.ReLU()
        self.mask = Mask()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[-1.0, 0.5, -0.5, 1.0], [1.0, 2.0, 0.5, 1.5]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.flatten(self.pool(self.mask(self.relu(self.conv(x))))))


def _toy_probe(model: nn.Module) -> "nw.Probe":
    return nw.Probe(model, nw.InputSpec(size=(SIZE, SIZE), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)))


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, SIZE, SIZE, 3), dtype=np.uint8)


@pytest.mark.parametrize("method,params", [("saliency", {}), ("integrated_gradients", {"n_steps": 32}),
                                           ("gradcam", {"layer": "mask"}), ("occlusion", {"window": 4})])
def test_mass_falls_in_the_evidence_region(method, params):
    probe = _toy_probe(RegionToy())
    res = nw.attribution.attribute(probe, _images(3), method, target=1, **params)
    mass = res.maps().abs()
    inside = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    inside[0:9, 0:9] = True  # the region grown by the 3x3 convolution's reach
    frac = mass[:, inside].sum(dim=1) / mass.sum(dim=(1, 2))
    assert (frac > 0.9).all(), frac
    assert (mass.sum(dim=(1, 2)) > 0).all()


class LinearHeadToy(nn.Module):
    """Eight identical channels (the mean of the RGB input) read by a linear head with known weights."""

    def __init__(self, weights: torch.Tensor) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU())
        with torch.no_grad():
            self.features[0].weight.fill_(1 / 3)
            self.features[0].bias.zero_()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.head = nn.Linear(8, 2)
        with torch.no_grad():
            self.head.weight.copy_(weights)
            self.head.bias.fill_(0.25)

    def forward(self, x):
        return self.head(self.flatten(self.pool(self.features(x))))


@pytest.mark.parametrize("method", ["integrated_gradients", "conductance"])
def test_layer_contributions_rank_channels_by_the_known_weights(method):
    w = torch.tensor([[0.3, -1.2, 2.0, 0.1, -0.4, 1.1, -2.2, 0.7], [1.0] * 8])
    probe = _toy_probe(LinearHeadToy(w))
    imgs = _images(4, seed=1)
    before = snapshot(probe.module)
    c = nw.attribution.layer_contributions(probe, "features", imgs, target=0, method=method, n_steps=16)
    assert_untouched(probe.module, before)
    assert c.ranking.tolist() == np.argsort(-w[0].numpy()).tolist()
    # each channel's activation is the mean of the RGB pixels, the baseline's is 0, the head is linear
    x = torch.from_numpy(imgs.copy()).float().div(255).permute(0, 3, 1, 2)
    act = x.mean(dim=1).mean(dim=(1, 2))  # (N,) spatial mean of every channel
    expected = act[:, None] * w[0][None, :]
    tol = 1e-4 if method == "integrated_gradients" else 2e-2  # conductance integrates along the input path
    torch.testing.assert_close(c.per_image, expected, atol=tol, rtol=tol)
    torch.testing.assert_close(c.values, expected.mean(0), atol=tol, rtol=tol)
    assert c.top(3) == [2, 5, 7] and c.top(2, by="negative") == [6, 1] and c.top(2, by="abs") == [6, 2]
    assert c.target == "class 0" and c.per_image.shape == (4, 8)


def test_layer_contributions_sum_to_the_output_change(resnet20, k92):
    c = nw.attribution.layer_contributions(resnet20, "layer3", k92.stimuli[:2], target=4, n_steps=8)
    x = resnet20.batch(k92.stimuli[:2], 0, 2)
    with torch.no_grad():
        change = resnet20.module(x)[:, 4] - resnet20.module(torch.zeros_like(x))[:, 4]
    # layer3 feeds a linear head, so layer integrated gradients are exact here
    torch.testing.assert_close(c.per_image.sum(dim=1), change, atol=1e-4, rtol=1e-4)
    assert c.per_image.shape == (2, 64) and sorted(c.ranking.tolist()) == list(range(64))


class ReuseToy(nn.Module):
    def __init__(self, shared: bool) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        for m in (self.conv1, self.conv2):
            with torch.no_grad():
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.4)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
        self.relu = nn.ReLU()
        self.relu_b = self.relu if shared else nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 3)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(self.fc.weight.shape, generator=g))

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu_b(self.conv2(x))
        return self.fc(self.pool(x).flatten(1))


def test_reused_relu_runs_on_a_private_copy_and_matches_one_module_per_use():
    shared, separate = ReuseToy(shared=True), ReuseToy(shared=False)
    probe = _toy_probe(shared)
    assert inspect_activations(probe).reused == {"relu": 2}
    imgs = _images(2, seed=3)
    before = snapshot(shared)
    res = nw.attribution.attribute(probe, imgs, "deeplift", target=2)
    assert_untouched(shared, before)
    assert res.private_copy and shared.relu is shared.relu_b  # the user's model keeps its shared module
    x = probe.batch(probe.prepare(imgs)[1], 0, 2)
    expected = DeepLift(separate.eval()).attribute(x, baselines=torch.zeros_like(x), target=2)
    torch.testing.assert_close(res.attributions, expected, atol=1e-6, rtol=1e-5)


def test_deeplift_on_torchvision_resnet18_with_reused_relu():
    tv = nw.load_model("torchvision:resnet18", pretrained=False, seed=0)
    probe = nw.Probe(tv.module, nw.InputSpec(size=(64, 64)))  # 64 px keeps the CPU test cheap
    report = inspect_activations(probe)
    assert "layer1.0.relu" in report.reused and "relu" in report.inplace
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    before = snapshot(probe.module)
    res = nw.attribution.attribute(probe, x, "deeplift", target=7)
    assert_untouched(probe.module, before)
    assert res.private_copy
    assert isinstance(probe.module.layer1[0].relu, nn.ReLU) and probe.module.layer1[0].relu.inplace
    with torch.no_grad():
        change = probe.module(x)[0, 7] - probe.module(torch.zeros_like(x))[0, 7]
    # DeepLift's summation-to-delta: attributions add up to the output change
    torch.testing.assert_close(res.attributions.sum(), change, atol=1e-3, rtol=1e-3)


class FunctionalToy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(F.relu(self.conv(x)).mean(dim=(2, 3)))


@pytest.mark.parametrize("method,params", [("deeplift", {}), ("guided_backprop", {}),
                                           ("guided_gradcam", {"layer": "conv"})])
def test_functional_relu_is_refused_with_the_cause(method, params):
    probe = _toy_probe(FunctionalToy())
    before = snapshot(probe.module)
    with pytest.raises(ValueError, match=r"activation functions directly \(relu x1\)"):
        nw.attribution.attribute(probe, _images(1), method, target=0, **params)
    assert_untouched(probe.module, before)
    assert nw.attribution.attribute(probe, _images(1), "saliency", target=0).attributions.abs().sum() > 0


def test_sanity_check_decorrelates_a_trained_resnet(resnet20, k92):
    before = snapshot(resnet20.module)
    curve = nw.attribution.sanity_check(resnet20, k92.stimuli[:2], "saliency", target="predicted")
    assert_untouched(resnet20.module, before)
    n_weighted = sum(1 for m in resnet20.module.modules() if list(m.parameters(recurse=False)))
    assert curve.steps[0] == "original" and curve.steps[1] == "linear" and len(curve.steps) == n_weighted + 1
    assert curve.rank_corr.shape == (n_weighted + 1, 2)
    np.testing.assert_allclose(curve.rank_corr[0], 1.0)
    abs_curve = np.nanmean(curve.rank_corr_abs, axis=1)
    assert abs_curve[-1] < 0.3 and abs_curve[-1] < abs_curve[1]
    assert np.abs(curve.correlations[-5:]).max() < 0.3
    assert len(curve.correlations) == len(curve.steps)


def test_sanity_check_with_named_blocks_and_a_faithless_control(resnet20, k92):
    curve = nw.attribution.sanity_check(resnet20, k92.stimuli[:2], "saliency", target=3,
                                        blocks=["linear", "layer3", "layer2"])
    assert curve.steps == ["original", "linear", "layer3", "layer2"]

    # a model whose weights only rescale the map: the check must report the map as unchanged
    class Gain(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Linear(1, 1, bias=False)

        def forward(self, x):
            energy = (x * x).sum(dim=(1, 2, 3))[:, None]
            return torch.cat([self.gain(energy), -self.gain(energy)], dim=1)

    probe = _toy_probe(Gain())
    flat = nw.attribution.sanity_check(probe, _images(2), "saliency", target=0)
    assert flat.steps == ["original", "gain"]
    np.testing.assert_allclose(flat.rank_corr_abs, 1.0, atol=1e-4)  # float32 rounding breaks a few ties


# ---- display --------------------------------------------------------------------------------------------------
def _decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)))


def test_overlays_share_a_scale_and_survive_all_zero_maps(resnet20, k92):
    stim = k92.stimuli[:2]
    sal = nw.attribution.attribute(resnet20, stim, "saliency", 3)
    ig = nw.attribution.attribute(resnet20, stim, "integrated_gradients", 3, n_steps=8)
    pngs, scale = nw.attribution.overlay_pngs([sal, ig], stim, size=64)
    assert len(pngs) == 4 and scale == nw.attribution.common_scale(sal, ig)
    both = np.abs(np.concatenate([sal.maps().numpy().ravel(), ig.maps().numpy().ravel()]))
    assert scale == pytest.approx(np.percentile(both, 99.5))
    assert _decode(pngs[0]).shape == (64, 64, 3)
    zero = torch.zeros(2, 32, 32)
    pngs, scale = nw.attribution.overlay_pngs([zero], stim)
    assert scale == 0.0
    base = stim.images[0]
    shown = _decode(pngs[0]).astype(int)
    base_t = torch.from_numpy(base.copy()).permute(2, 0, 1)[None].float()
    expected = F.interpolate(base_t, size=(32, 32), mode="bilinear", align_corners=False)[0].permute(1, 2, 0).round()
    np.testing.assert_allclose(shown, expected.numpy(), atol=1)  # nothing drawn over the image
    alone, _ = nw.attribution.overlay_pngs([zero])
    assert (_decode(alone[0])[..., 3] == 0).all()  # fully transparent


def test_sign_modes_and_colours():
    m = np.zeros((1, 4, 4))
    m[0, 0, 0], m[0, 3, 3] = 1.0, -1.0
    signed = _decode(nw.attribution.overlay_png(m, scale=1.0, sign="all", alpha=1.0))
    assert signed[0, 0, 0] > signed[0, 0, 2] and signed[3, 3, 2] > signed[3, 3, 0]  # red up, blue down
    assert signed[1, 1, 3] == 0 and signed[0, 0, 3] == 255
    pos = _decode(nw.attribution.overlay_png(m, scale=1.0, sign="positive", alpha=1.0))
    assert pos[0, 0, 3] == 255 and pos[3, 3, 3] == 0
    neg = _decode(nw.attribution.overlay_png(m, scale=1.0, sign="negative", alpha=1.0))
    assert neg[0, 0, 3] == 0 and neg[3, 3, 3] == 255
    ab = _decode(nw.attribution.overlay_png(m, scale=1.0, sign="absolute", alpha=1.0))
    assert ab[0, 0, 3] == ab[3, 3, 3] == 255 and (ab[0, 0] == ab[3, 3]).all()
    with pytest.raises(ValueError, match="sign must be one of"):
        nw.attribution.overlay_png(m, sign="both")


# ---- bad inputs -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call,match", [
    (lambda p, s: nw.attribution.attribute(p, s, "saliancy", 3), r"unknown attribution method 'saliancy'.*"
                                                                 r"Did you mean 'saliency'.*Known methods: saliency"),
    (lambda p, s: nw.attribution.attribute(p, s, "saliency", 10), r"target class 10 is out of range.*10 outputs"),
    (lambda p, s: nw.attribution.attribute(p, s, "saliency", -1), r"target class -1 is out of range"),
    (lambda p, s: nw.attribution.attribute(p, s, "saliency", nw.attribution.Unit("layer3", 64)),
     r"unit channel 64 is out of range.*64 channels"),
    (lambda p, s: nw.attribution.attribute(p, s, "saliency", nw.attribution.Unit("layer3", 1, (8, 0))),
     r"unit row y 8 is out of range.*8x8"),
    (lambda p, s: nw.attribution.attribute(p, s, "saliency", nw.attribution.Unit("layer9", 1)),
     r"unknown layer 'layer9'"),
    (lambda p, s: nw.attribution.attribute(p, torch.zeros(2, 3, 16, 16), "saliency", 3),
     r"must be 32x32.*got \(16, 16\)"),
    (lambda p, s: nw.attribution.attribute(p, torch.zeros(3, 32, 32), "saliency", 3),
     r"model-ready \(N, 3, H, W\); got shape \(3, 32, 32\)"),
    (lambda p, s: nw.attribution.attribute(p, np.zeros((2, 32, 32, 5), np.uint8), "saliency", 3),
     r"1 \(gray\), 3 \(RGB\) or 4 \(RGBA\) channels"),
    (lambda p, s: nw.attribution.attribute(p, s, "gradcam", 3), r"gradcam attributes through a layer: pass layer="),
    (lambda p, s: nw.attribution.attribute(p, s, "gradcam", 3, layer="linear"), r"needs a spatial"),
    (lambda p, s: nw.attribution.attribute(p, s, "occlusion", 3, window=40),
     r"window 40 is larger than the input \(32x32\)"),
    (lambda p, s: nw.attribution.attribute(p, s, "integrated_gradients", 3, n_step=10),
     r"no parameter\(s\) \['n_step'\].*n_steps"),
    (lambda p, s: nw.attribution.attribute(p, s, "integrated_gradients", 3, n_steps=0), r"must lie in \[1, "),
    (lambda p, s: nw.attribution.attribute(p, s, "smoothgrad", 3, nt_type="sg"), r"must be one of"),
    (lambda p, s: nw.attribution.attribute(p, s, "saliency", [1, 2, 3]), r"one per image: got 3 for 2 images"),
    (lambda p, s: nw.attribution.attribute(p, s, "gradcam", nw.attribution.Unit("layer2", 0), layer="layer3"),
     r"does not finish before the target's layer 'layer2'"),
    (lambda p, s: nw.attribution.attribute(p, s, "saliency", nw.attribution.Readout("layer3", np.ones(5))),
     r"weights have 5 features but layer 'layer3' gives 4096"),
    (lambda p, s: nw.attribution.layer_contributions(p, "layer7", s, 3), r"unknown layer 'layer7'"),
    (lambda p, s: nw.attribution.layer_contributions(p, "layer3", s, 3, method="lrp"), r"must be one of"),
    (lambda p, s: nw.attribution.sanity_check(p, s, "saliency", 3, blocks=["nope"]), r"unknown layer 'nope'"),
    (lambda p, s: nw.attribution.attribute(p, s, "saliency", "dog"), r"unknown target 'dog'"),
])
def test_bad_inputs_get_clear_errors_and_change_nothing(resnet20, k92, call, match):
    before = snapshot(resnet20.module)
    with pytest.raises((ValueError, TypeError, KeyError), match=match):
        call(resnet20, k92.stimuli[:2])
    assert_untouched(resnet20.module, before)


def test_layer_contributions_for_a_unit_target_progress_and_cancel(resnet20, k92):
    calls = []
    c = nw.attribution.layer_contributions(resnet20, "layer2", k92.stimuli[:3], nw.attribution.Unit("layer3.0", 5),
                                           n_steps=8, internal_batch_size=4,
                                           progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 3), (3, 3)]  # 4 inputs per pass: 2 images (2 path points each) per captum call
    assert c.per_image.shape == (3, 32) and c.target.startswith("Unit(")
    token = nw.CancelToken()
    token.cancel()
    before = snapshot(resnet20.module)
    with pytest.raises(nw.Cancelled):
        nw.attribution.layer_contributions(resnet20, "layer3", k92.stimuli[:2], 3, cancel=token)
    with pytest.raises(nw.Cancelled):
        nw.attribution.sanity_check(resnet20, k92.stimuli[:2], "saliency", 3, cancel=token)
    assert_untouched(resnet20.module, before)


def test_contributions_of_a_layer_to_one_of_its_own_units(resnet20, k92):
    """Only the unit's own channel contributes, by exactly its change from the baseline."""
    stim = k92.stimuli[:2]
    c = nw.attribution.layer_contributions(resnet20, "layer3", stim, nw.attribution.Unit("layer3", 5), n_steps=4)
    x = resnet20.batch(stim, 0, 2)
    acts = resnet20.activations(x, "layer3", use_cache=False)["layer3"][:, 5].mean(dim=(1, 2))
    zero = resnet20.activations(torch.zeros(1, 3, 32, 32), "layer3", use_cache=False)["layer3"][0, 5].mean()
    expected = torch.zeros(2, 64)
    expected[:, 5] = acts - zero
    torch.testing.assert_close(c.per_image, expected, atol=1e-5, rtol=1e-5)
    assert c.ranking[0] == 5
