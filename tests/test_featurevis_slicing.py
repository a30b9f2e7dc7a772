"""The channel-sliced target conv: exact against the full forward, refused where channels mix, model untouched."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from conftest import assert_untouched, snapshot
from neuro_widgets.engine.featurevis import objectives as ob
from neuro_widgets.engine.featurevis import render, render_layer
from neuro_widgets.engine.featurevis.channel_slice import FULL, ChannelSlice, channel_slice
from neuro_widgets.engine.hooks import capture
from neuro_widgets.engine.model_state import preserved

render_module = sys.modules["neuro_widgets.engine.featurevis.render"]


class Block(nn.Module):
    """A residual block; ``mix`` adds a channel-mixing step after its last conv (a flip, or a channel mean)."""

    def __init__(self, c: int, mix: str = "") -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.mix = mix

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.mix == "flip":
            y = torch.flip(y, dims=[1])
        elif self.mix == "mean":
            y = y + y.mean(dim=1, keepdim=True)
        return self.relu(y + x)


class Net(nn.Module):
    def __init__(self, mix: str = "") -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = Block(8, mix)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))
        with torch.no_grad():  # batch norms with real statistics, not the identity
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.stem(x)))


def probe_of(mix: str = "") -> nw.Probe:
    return nw.Probe(Net(mix), nw.InputSpec(size=(16, 16), mean=0.5, std=0.5))


def full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Renders from here on run the unsliced forward (today's computation)."""
    monkeypatch.setattr(render_module, "channel_slice", lambda *args, **kwargs: FULL)


def test_objectives_say_which_channels_they_read():
    assert ob.channel("a", 3).reads == {"a": frozenset({3})}
    assert (ob.channel("a", 3) + 2 * ob.neuron("a", 5) - ob.total_variation()).reads == {"a": frozenset({3, 5})}
    assert ob.channel("a", [1, 4, 2]).reads == {"a": frozenset({1, 2, 4})}
    assert (ob.channel("a", 3) + ob.layer("a")).reads == {"a": None}  # deepdream reads every channel
    assert (-ob.channel("a", 3) + ob.channel("b", 1)).reads == {"a": frozenset({3}), "b": frozenset({1})}
    assert ob.direction("a", [1.0, 2.0]).reads == {"a": None}


def test_sliced_forward_equals_the_full_one_values_and_gradients():
    probe = probe_of()
    forward = channel_slice(probe, ob.channel("block", [1, 6]), (16, 16))
    assert isinstance(forward, ChannelSlice) and forward.conv is probe.module.block.conv2
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    results = []
    for f in (FULL, forward):
        xi = x.clone().requires_grad_(True)
        with preserved(probe.module), capture(probe.module, ["block"]) as cap:
            f.run(cap, xi)
            act = cap.outputs["block"][0][:, [1, 6]]
        act.pow(2).sum().backward()
        results.append((act.detach(), xi.grad))
    (a_full, g_full), (a_cut, g_cut) = results
    torch.testing.assert_close(a_cut, a_full, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_cut, g_full, rtol=1e-5, atol=1e-6)
    assert "forward" not in probe.module.block.conv2.__dict__


def test_a_conv_layer_itself_and_negative_channels_are_sliced():
    probe = probe_of()
    forward = channel_slice(probe, ob.channel("stem.0", -1), (16, 16))
    assert isinstance(forward, ChannelSlice) and forward.index.tolist() == [7]


@pytest.mark.parametrize("mix", ["flip", "mean"])
def test_channels_mixed_after_the_conv_are_not_sliced(mix):
    assert channel_slice(probe_of(mix), ob.channel("block", 2), (16, 16)) is FULL


class StandardizedConv(nn.Conv2d):
    """A conv whose forward transforms its weight first: slicing the raw weight would be wrong."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = (self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)) * 2.0
        return self._conv_forward(x, w, self.bias)


def test_a_conv_with_its_own_forward_or_a_users_hook_is_not_sliced():
    probe = probe_of()
    probe.module.block.conv2 = StandardizedConv(8, 8, 3, padding=1)
    assert channel_slice(probe, ob.channel("block", 2), (16, 16)) is FULL
    plain = probe_of()
    seen = []
    handle = plain.module.block.conv2.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    try:
        assert channel_slice(plain, ob.channel("block", 2), (16, 16)) is FULL  # the hook would see a sliced output
    finally:
        handle.remove()
    assert isinstance(channel_slice(plain, ob.channel("block", 2), (16, 16)), ChannelSlice)


def test_objectives_reading_the_whole_layer_or_several_layers_are_not_sliced():
    probe = probe_of()
    assert channel_slice(probe, ob.layer("block"), (16, 16)) is FULL
    assert channel_slice(probe, ob.channel("block", 1) + ob.channel("stem.0", 2), (16, 16)) is FULL
    assert channel_slice(probe, ob.channel("block", list(range(8))), (16, 16)) is FULL  # nothing to save


def test_render_with_slicing_equals_today_render(monkeypatch):
    probe = probe_of()
    kw = dict(steps=8, size=16, seed=4)
    sliced = [render(probe, "block:3", **kw), render(probe, ob.channel("block", 5) - 0.1 * ob.total_variation(), **kw),
              render_layer(probe, "block", channels=[0, 2, 5], **kw)]
    full(monkeypatch)
    plain = [render(probe, "block:3", **kw), render(probe, ob.channel("block", 5) - 0.1 * ob.total_variation(), **kw),
             render_layer(probe, "block", channels=[0, 2, 5], **kw)]
    for a, b in zip(sliced, plain):
        np.testing.assert_allclose(a.images, b.images, atol=1e-5)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-6)


def test_resnet20_layer3_channel_is_sliced_and_renders_as_before(resnet20, monkeypatch):
    before = snapshot(resnet20.module)
    forward = channel_slice(resnet20, ob.channel("layer3", 9), (32, 32))
    assert isinstance(forward, ChannelSlice) and forward.conv is resnet20.module.layer3[2].conv2
    a = render(resnet20, "layer3:9", steps=4, seed=1)
    full(monkeypatch)
    b = render(resnet20, "layer3:9", steps=4, seed=1)
    np.testing.assert_allclose(a.images, b.images, atol=1e-5)
    np.testing.assert_allclose(a.final_values, b.final_values, rtol=1e-5)
    assert_untouched(resnet20.module, before)


def test_renders_equal_the_numbers_of_the_code_before_issue_17_speedups():
    """Numbers produced by the render as it was before the sliced conv, numpy transform matrices, spectrum
    damping and the cheaper redirect backward (commit dedf9cb): channel 7 is alive, channel 3 dead (the
    redirect path), and a 3-channel sheet."""
    probe = probe_of()
    alive = render(probe, "block:7", steps=6, seed=4, size=16)
    np.testing.assert_allclose(alive.values[:, 0], [0.10627058, 0.10802376, 0.10974228, 0.11126183, 0.11268099,
                                                    0.11450022], rtol=1e-5)
    np.testing.assert_allclose(alive.images[0, 5, 3:7, 1], [0.4860786, 0.5027798, 0.4958588, 0.5128078], atol=1e-6)
    dead = render(probe, "block:3", steps=6, seed=4, size=16)
    np.testing.assert_allclose(dead.images[0, 5, 3:7, 1], [0.5160398, 0.52021754, 0.5322702, 0.53843164], atol=1e-6)
    sheet = render_layer(probe, "block", channels=[0, 2, 5], steps=6, seed=1, size=16)
    np.testing.assert_allclose(sheet.images[:, 8, 8, 0], [0.4577838, 0.45988712, 0.50924957], atol=1e-6)


def test_redirected_relu_backward_on_feature_maps_matches_the_rule_image_by_image():
    from neuro_widgets.engine.featurevis.relu_redirect import _RedirectedReLU

    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 5, 5, generator=g)
    x[1] = -x[1].abs() - 0.1  # images 1 and 3 are all negative: their ReLU passes nothing
    x[3] = -x[3].abs() - 0.1
    grad = torch.randn(4, 3, 5, 5, generator=g)
    xr = x.clone().requires_grad_(True)
    _RedirectedReLU.apply(xr).backward(grad)
    for i in range(4):
        if (x[i] >= 0).any():  # the plain ReLU gradient (kept at x == 0, as the rule says)
            want = torch.where(x[i] < 0, 0.0, grad[i])
        else:  # the incoming gradient, blocked only where it pushes a negative input lower
            want = torch.where((x[i] < 0) & (grad[i] > 0), 0.0, grad[i])
        assert torch.equal(xr.grad[i], want)
