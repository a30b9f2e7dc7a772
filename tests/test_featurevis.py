"""Feature visualization: ground truth on hand-built models, the trained ResNet-20, determinism, model safety."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from conftest import assert_untouched, snapshot
from neuro_widgets.engine.featurevis import objectives as ob
from neuro_widgets.engine.featurevis import render, render_layer
from neuro_widgets.engine.featurevis.param import ImageParam

K = 9  # Gabor kernel size
OFFSET = 4  # second-layer unit: Gabor 0 at (0, 0) plus Gabor 1 shifted by (OFFSET, OFFSET)


def gabor(theta: float, size: int = K, sigma: float = 2.0, wavelength: float = 4.0) -> torch.Tensor:
    r = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    xr = x * math.cos(theta) + y * math.sin(theta)
    yr = -x * math.sin(theta) + y * math.cos(theta)
    g = torch.exp(-(xr ** 2 + yr ** 2) / (2 * sigma ** 2)) * torch.cos(2 * math.pi * xr / wavelength)
    return g - g.mean()


class Counter(nn.Module):
    """Counts its calls: the early stop must keep the forward from ever reaching it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x


class GaborNet(nn.Module):
    """conv1 channel 0 = a Gabor at 30 deg, channel 1 = one at 120 deg (same in R, G, B); conv2's unit
    adds ReLU(channel 0) at (0, 0) and ReLU(channel 1) at (OFFSET, OFFSET) of its window."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 2, K, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(2, 1, OFFSET + 1, bias=False)
        self.drop = nn.Dropout(0.5, inplace=True)
        self.tail = Counter()
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 2))
        with torch.no_grad():
            self.conv1.weight.zero_()
            self.conv1.weight[0] = gabor(math.pi / 6).expand(3, K, K)
            self.conv1.weight[1] = gabor(2 * math.pi / 3).expand(3, K, K)
            self.conv2.weight.zero_()
            self.conv2.weight[0, 0, 0, 0] = 1.0
            self.conv2.weight[0, 1, OFFSET, OFFSET] = 1.0
            self.head[2].weight.copy_(torch.tensor([[-1.0], [1.0]]))
            self.head[2].bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.relu(self.conv1(x)))
        return self.head(self.tail(self.drop(x)))


@pytest.fixture()
def gabor_probe():
    return nw.Probe(GaborNet(), nw.InputSpec(size=(24, 24), mean=0.5, std=0.5))


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


PLAIN = dict(param=ImageParam("pixel", decorrelate=False), transforms=None)


def test_first_layer_unit_recovers_its_gabor(gabor_probe):
    # maximize the centre unit of conv1 channel 0 with an L2 pull to gray: the optimum is gray + c * filter
    res = render(gabor_probe, ob.neuron("conv1", 0) - 1000.0 * ob.l2(), steps=200, lr=0.05, **PLAIN)
    img = res.images[0].mean(-1) - 0.5  # (24, 24)
    c = 16 // 2  # conv1 map is 16x16; its centre unit sees input rows/cols c .. c + K
    window = img[c:c + K, c:c + K]
    assert corr(window, gabor(math.pi / 6).numpy()) > 0.8
    assert corr(window, gabor(2 * math.pi / 3).numpy()) < 0.3  # and not the other filter
    outside = np.ones_like(img, bool)
    outside[c:c + K, c:c + K] = False
    assert np.abs(img[outside]).max() < 0.2 * np.abs(window).max()  # pixels the unit cannot see stay gray


def test_second_layer_unit_recovers_its_known_combination(gabor_probe):
    res = render(gabor_probe, ob.neuron("conv2", 0) - 1000.0 * ob.l2(), steps=200, lr=0.05, **PLAIN)
    img = res.images[0].mean(-1) - 0.5
    size = K + OFFSET
    expected = np.zeros((size, size), np.float32)
    expected[:K, :K] += gabor(math.pi / 6).numpy()
    expected[OFFSET:, OFFSET:] += gabor(2 * math.pi / 3).numpy()
    c = 12 // 2  # conv2 map is 12x12; its centre unit sees input rows/cols c .. c + K + OFFSET
    assert corr(img[c:c + size, c:c + size], expected) > 0.8


def test_default_recipe_recovers_a_gabor_at_32_pixels():
    # the default recipe (FFT, colour decorrelation, standard transforms, ReLU redirection), no pull to gray:
    # the transforms are scaled to the unit's 9-pixel field, so they no longer smear its 4-pixel-period filter
    # (Lucid's amounts scaled to the image alone gave a correlation of 0.06 here)
    probe = nw.Probe(GaborNet(), nw.InputSpec(size=(32, 32), mean=0.5, std=0.5))
    res = render(probe, ob.neuron("conv1", 0), steps=96)
    img = res.images[0].mean(-1) - 0.5
    c = 24 // 2  # conv1 map is 24x24; its centre unit sees input rows/cols c .. c + K
    window = img[c:c + K, c:c + K]
    assert corr(window, gabor(math.pi / 6).numpy()) > 0.5
    assert corr(window, gabor(2 * math.pi / 3).numpy()) < 0.2


def test_relu_redirection_revives_a_unit_behind_a_dead_relu():
    # the ReLU before the target is off for every image in [0, 1]: plain gradients are all zero
    net = nn.Sequential(nn.Conv2d(3, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 1))
    with torch.no_grad():
        net[0].weight.fill_(0.1)
        net[0].bias.fill_(-5.0)
        net[2].weight.fill_(1.0)
        net[2].bias.zero_()
    probe = nw.Probe(net, nw.InputSpec(size=(8, 8)))
    dead = render(probe, "2:0", steps=40, redirect_relu=False, **PLAIN)
    alive = render(probe, "2:0", steps=40, redirect_relu=40, **PLAIN)
    assert np.all(dead.values == 0.0)
    assert np.allclose(dead.images, render(probe, "2:0", steps=1, redirect_relu=False, **PLAIN).images, atol=0.01)
    # redirected gradients push the conv input up: the pre-ReLU response rises towards its threshold
    pre = lambda r: torch.tensor(r.images).permute(0, 3, 1, 2).sum().item()
    assert pre(alive) > pre(dead) + 1.0


@pytest.fixture(scope="module")
def layer3_sheet(resnet20):
    return render_layer(resnet20, "layer3", channels=[0, 9, 23, 42, 61], steps=48, seed=0)


def test_optimized_images_beat_all_92_real_images(resnet20, k92, layer3_sheet):
    sheet = layer3_sheet
    uint8 = np.round(sheet.images * 255).astype(np.uint8)
    ours = resnet20.activations(nw.StimulusSet.from_arrays(uint8), "layer3", use_cache=False)["layer3"]
    real = resnet20.activations(k92.stimuli, "layer3")["layer3"]
    ours_mean = ours.mean(dim=(2, 3))  # the channel objective: mean over space
    real_mean = real.mean(dim=(2, 3))
    for row, c in enumerate(sheet.channels):
        assert ours_mean[row, c] > real_mean[:, c].max(), f"channel {c}"
    # the recorded final activations are what the probe measures on the (unquantized) images
    assert np.allclose(sheet.activations, ours_mean[np.arange(len(sheet.channels)), sheet.channels].numpy(),
                       rtol=0.05, atol=0.05)


def test_objective_rises_over_steps(layer3_sheet):
    v = layer3_sheet.values  # (steps, channels)
    assert v.shape == (48, 5)
    assert np.all(v[-8:].mean(0) > v[:8].mean(0) + 1.0)


def test_seeds_fix_the_result(resnet20):
    kw = dict(steps=8, size=32)
    a = render(resnet20, "layer2:3", seed=1, **kw)
    b = render(resnet20, "layer2:3", seed=1, **kw)
    c = render(resnet20, "layer2:3", seed=2, **kw)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.values, b.values)
    assert np.abs(a.images - c.images).mean() > 1e-3


def test_layer_sheet_settings_reproduce_it(gabor_probe):
    sheet = render_layer(gabor_probe, "conv1", steps=6, size=20)
    again = render_layer(gabor_probe, **sheet.settings["arguments"])
    assert np.array_equal(sheet.images, again.images)
    s = sheet.settings
    assert s["seed"] == 0 and s["steps"] == 6 and s["lr"] == 0.05 and s["size"] == (20, 20)
    assert {"torch", "numpy", "neuro_widgets", "python"} <= set(s["versions"])
    assert sheet.images.shape == (2, 20, 20, 3) and list(sheet.channels) == [0, 1]


def test_render_layer_batches_to_fit_the_memory_budget(gabor_probe):
    small = render_layer(gabor_probe, "conv1", steps=2, memory_budget=1)
    big = render_layer(gabor_probe, "conv1", steps=2)
    assert small.settings["batch"] == 1 and big.settings["batch"] == 2


def _track(probe):
    """A model in a state an engine call must not disturb: training mode, a param with requires_grad and a
    .grad, inplace ReLU/Dropout flags."""
    m = probe.module
    m.train()
    m.conv2.weight.requires_grad_(True)
    m.conv2.weight.grad = torch.ones_like(m.conv2.weight)
    return snapshot(m), [(mod, mod.inplace) for mod in m.modules() if hasattr(mod, "inplace")]


def test_progress_sees_values_every_step_and_images_about_32_times(gabor_probe):
    from neuro_widgets.engine.featurevis.render import PREVIEWS, to_numpy_images

    seen = {"values": [], "images": []}

    def watch(step, total, values=None, images=None, **_):
        seen["values"].append(step)
        if images is not None:
            seen["images"].append(step)
            assert images.shape == (2, 20, 20, 3) and images.dtype == np.float32
            assert images.min() >= 0.0 and images.max() <= 1.0

    watched = render(gabor_probe, "conv2:0", steps=100, batch=2, size=20, progress=watch)
    plain = render(gabor_probe, "conv2:0", steps=100, batch=2, size=20)
    assert seen["values"] == list(range(1, 101))
    every = 100 // PREVIEWS
    assert seen["images"] == sorted({1, 100} | set(range(every, 101, every)))
    np.testing.assert_array_equal(watched.images, plain.images)  # watching changes nothing
    short = []
    render(gabor_probe, "conv2:0", steps=6, progress=lambda s, t, images=None, **_: short.append(images is not None))
    assert all(short) and len(short) == 6  # a short run shows every step
    x = torch.rand(3, 3, 5, 7) * 1.4 - 0.2  # the conversion: the old formula's values, contiguous
    old = x.permute(0, 2, 3, 1).numpy().clip(0.0, 1.0)
    new = to_numpy_images(x)
    np.testing.assert_array_equal(new, old)
    assert new.flags.c_contiguous


def test_model_untouched_after_render_cancel_and_error(gabor_probe):
    before, inplace = _track(gabor_probe)
    m = gabor_probe.module
    tail_calls = m.tail.calls  # the probe's dry run went through once
    seen = []

    def watch(step, total, **kw):
        images, values = kw["images"], kw["values"]
        # during a render: eval mode, frozen weights, no weight grads, hooks on the target layer only
        assert not m.training and not any(p.requires_grad for p in m.parameters())
        hooked = [n for n, mod in m.named_modules() if mod._forward_hooks]
        redirected = [n for n, mod in m.named_modules() if "forward" in mod.__dict__]
        seen.append((step, hooked, images.shape, values.shape, redirected))

    render(gabor_probe, ob.channel("conv2", 0), steps=6, redirect_relu=2, progress=watch)
    assert_untouched(m, before)
    assert [(mod, mod.inplace) for mod in m.modules() if hasattr(mod, "inplace")] == inplace
    assert m.tail.calls == tail_calls  # the forward stopped after conv2 every time
    assert seen[0][1] == seen[-1][1] == ["conv2"]  # hooks on the target layer only
    assert seen[0][4] == ["relu"] and seen[-1][4] == []  # the ReLU's own forward replaced only while redirecting
    assert seen[-1][2] == (1, 24, 24, 3) and seen[-1][3] == (1,)

    token = nw.CancelToken()

    def cancel_at_3(step, total, **_):
        if step == 3:
            token.cancel()

    res = render(gabor_probe, "conv2:0", steps=50, progress=cancel_at_3, cancel=token)
    assert res.cancelled and res.steps_done == 3 and res.values.shape == (3, 1)
    assert res.images.shape == (1, 24, 24, 3) and np.isfinite(res.images).all()
    assert_untouched(m, before)

    def explode(step, total, **_):
        if step == 2:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        render(gabor_probe, "conv2:0", steps=5, progress=explode)
    assert_untouched(m, before)
    assert [(mod, mod.inplace) for mod in m.modules() if hasattr(mod, "inplace")] == inplace
    assert m.training


def test_class_logit_runs_the_whole_model(gabor_probe):
    m = gabor_probe.module
    tail_calls = m.tail.calls
    res = render(gabor_probe, ob.class_logit(1), steps=20, **PLAIN)
    assert m.tail.calls == tail_calls + 22  # shape check, 20 steps, final evaluation
    assert res.values[-1, 0] > res.values[0, 0]


def test_trained_model_untouched(resnet20):
    before = snapshot(resnet20.module)
    render(resnet20, ob.channel("layer1", 2) + ob.diversity("layer1"), batch=2, steps=3)
    render_layer(resnet20, "layer1.0.relu1", channels=[1, 2], steps=2)
    assert_untouched(resnet20.module, before)


def test_diversity_makes_the_batch_differ(resnet20):
    kw = dict(batch=4, steps=32, seed=3)
    plain = render(resnet20, ob.channel("layer2", 5), **kw)
    diverse = render(resnet20, ob.channel("layer2", 5) + 10.0 * ob.diversity("layer2"), **kw)

    def dissimilarity(images, layer):
        """1 - mean pairwise cosine similarity of the images' Gram matrices, measured by the probe."""
        a = resnet20.activations(nw.StimulusSet.from_arrays(images), layer, use_cache=False)[layer]
        f = a.flatten(2)
        g = torch.nn.functional.normalize((f @ f.transpose(1, 2)).flatten(1), dim=1)
        sim = g @ g.t()
        n = len(sim)
        return 1.0 - ((sim.sum() - sim.trace()) / (n * (n - 1))).item()

    for layer in ("layer1", "layer2"):  # layer1 is not in the objective: an independent measure of style
        assert dissimilarity(diverse.images, layer) > 5 * dissimilarity(plain.images, layer)


def test_snapshots_and_progress_previews(gabor_probe):
    seen = []
    res = render(gabor_probe, "conv1:1", steps=5, snapshots=(0, 2, 5),
                 progress=lambda s, t, **kw: seen.append((s, t, sorted(kw))))
    assert sorted(res.snapshots) == [0, 2, 5]
    assert np.array_equal(res.snapshots[5], res.images)
    assert not np.array_equal(res.snapshots[0], res.snapshots[2])
    assert seen == [(s, 5, ["images", "values"]) for s in range(1, 6)]
    assert res.images.dtype == np.float32 and res.images.min() >= 0 and res.images.max() <= 1


def test_gray_colour_matrix_and_grayscale_give_gray_images(gabor_probe):
    gray = np.repeat(np.random.default_rng(0).integers(0, 255, (4, 8, 8, 1), dtype=np.uint8), 3, axis=-1)
    matrix = nw.featurevis.color_matrix(gray)
    assert ImageParam(color=nw.StimulusSet.from_arrays(gray)).color == matrix
    for param in (ImageParam(color=matrix), ImageParam(grayscale=True)):
        img = render(gabor_probe, "conv1:0", steps=10, param=param).images
        assert np.abs(img[..., 0] - img[..., 1]).max() < 1e-4 and np.abs(img[..., 1] - img[..., 2]).max() < 1e-4
    colour = render(gabor_probe, "conv1:0", steps=10).images
    assert np.abs(colour[..., 0] - colour[..., 2]).max() > 1e-3
