"""Batch norm folded into the conv before it during a render: same outputs, refused where unsafe, model untouched."""
from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from conftest import assert_untouched, snapshot
from neuro_widgets.engine.featurevis import render, render_layer
from neuro_widgets.engine.featurevis.bn_fold import Folding, folding
from neuro_widgets.engine.featurevis.channel_slice import ChannelSlice, channel_slice
from neuro_widgets.engine.featurevis import objectives as ob
from neuro_widgets.engine.featurevis.forwards import replaced_forwards
from neuro_widgets.engine.hooks import capture
from neuro_widgets.engine.model_state import preserved
from test_featurevis_slicing import Block, Net, probe_of

render_module = sys.modules["neuro_widgets.engine.featurevis.render"]


def unfolded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Renders from here on run the model's own batch norms (the computation before folding)."""
    monkeypatch.setattr(render_module, "folding", lambda *args, **kwargs: Folding())


def all_outputs(module: nn.Module, x: torch.Tensor, fold: Folding) -> dict:
    names = [n for n, _ in module.named_modules() if n]
    with preserved(module), torch.no_grad(), fold.installed(), \
            capture(module, names, stop_early=False, transform=lambda n, t: t.clone()) as cap:
        out = cap.run(x)
        return {"": out, **{n: v[0] for n, v in cap.outputs.items() if v}}


def assert_close_rel(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5) -> None:
    assert (a - b).abs().max() <= rtol * b.abs().max() + 1e-7


def test_every_resnet20_pair_folds_and_every_output_but_the_convs_is_unchanged(resnet20):
    before = snapshot(resnet20.module)
    fold = folding(resnet20, ["layer3"])
    convs = [m for m in resnet20.module.modules() if isinstance(m, nn.Conv2d)]
    assert set(fold.weights) == set(convs) and len(fold.passed) == 19 and fold.channels_last
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w, _ in fold.weights.values())
    x = resnet20.input_spec.normalize(torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3)))
    plain = all_outputs(resnet20.module, x, Folding())
    folded = all_outputs(resnet20.module, x.contiguous(memory_format=torch.channels_last), fold)
    conv_names = {n for n, m in resnet20.module.named_modules() if isinstance(m, nn.Conv2d)}
    assert plain.keys() == folded.keys()
    for name in plain:
        if name not in conv_names:
            assert_close_rel(folded[name], plain[name])
    assert_untouched(resnet20.module, before)
    assert not any("forward" in m.__dict__ for m in resnet20.module.modules())


def test_folded_render_equals_the_unfolded_one_over_the_first_steps(resnet20, monkeypatch):
    """Over many steps renders part ways: a rounding-size change flips the ReLU derivative of some unit near
    zero and Adam amplifies it (a 1-ulp change of the initial image does the same to the unfolded render), so
    equality is checked over the first few steps, as for the sliced conv."""
    before = snapshot(resnet20.module)
    kw = dict(steps=4, seed=1)
    folded = [render(resnet20, "layer3:9", **kw), render(resnet20, "layer2.1:3", **kw),
              render(probe_of(), "block:3", steps=6, size=16, seed=4),
              render_layer(probe_of(), "block", channels=[0, 2, 5], steps=6, size=16, seed=4)]
    unfolded(monkeypatch)
    plain = [render(resnet20, "layer3:9", **kw), render(resnet20, "layer2.1:3", **kw),
             render(probe_of(), "block:3", steps=6, size=16, seed=4),
             render_layer(probe_of(), "block", channels=[0, 2, 5], steps=6, size=16, seed=4)]
    for a, b in zip(folded, plain):
        np.testing.assert_allclose(a.images, b.images, atol=1e-5)
        np.testing.assert_allclose(a.values, b.values, rtol=1e-5, atol=1e-6)
    assert_untouched(resnet20.module, before)


def test_sliced_conv_computes_with_the_folded_weights(resnet20):
    fold = folding(resnet20, ["layer3"])
    conv = resnet20.module.layer3[2].conv2
    forward = channel_slice(resnet20, ob.channel("layer3", 9), (32, 32), fold)
    assert isinstance(forward, ChannelSlice)
    weight, bias = fold.conv_weights(conv)
    assert torch.equal(forward.weight, weight[9:10]) and torch.equal(forward.bias, bias[9:10])


class Reuse(nn.Module):
    """``bn2`` follows ``conv2``, but the conv's output also feeds the sum: folding would change that."""

    def __init__(self) -> None:
        super().__init__()
        self.net = Net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.net.block
        h = self.net.stem(x)
        y = b.conv2(b.relu(b.bn1(b.conv1(h))))
        return self.net.head(b.bn2(y) + 0.5 * y)


def test_a_conv_output_that_feeds_something_else_as_well_folds_nothing():
    probe = nw.Probe(Reuse(), nw.InputSpec(size=(16, 16), mean=0.5, std=0.5))
    assert not folding(probe, ["net.head.0"]).weights


def test_batch_norm_without_running_statistics_is_not_folded():
    model = Net()
    model.block.bn1 = nn.BatchNorm2d(8, track_running_stats=False)
    fold = folding(nw.Probe(model, nw.InputSpec(size=(16, 16), mean=0.5, std=0.5)), ["block"])
    assert model.block.conv1 not in fold.weights and model.block.conv2 in fold.weights


def test_a_conv_the_objective_reads_and_a_hooked_pair_stay_as_they_are_a_read_batch_norm_folds(monkeypatch):
    probe = probe_of()
    block = probe.module.block
    fold = folding(probe, ["block.conv2"])
    assert block.conv2 not in fold.weights and block.bn2 not in fold.passed and block.conv1 in fold.weights
    a = render(probe, "block.conv2:1", steps=6, size=16, seed=2)
    tapped_bn = render(probe, "block.bn2:1", steps=6, size=16, seed=2)  # the folded conv's output, passed on
    seen = []
    handle = block.bn1.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    try:
        fold = folding(probe, ["block"])
        assert block.conv1 not in fold.weights and block.conv2 in fold.weights
        render(probe, "block:1", steps=2, size=16)
        assert len(seen) >= 2 and block.bn1._forward_hooks  # the user's hook ran, and it is still there
    finally:
        handle.remove()
    unfolded(monkeypatch)
    for folded, objective in ((a, "block.conv2:1"), (tapped_bn, "block.bn2:1")):
        plain = render(probe, objective, steps=6, size=16, seed=2)
        np.testing.assert_allclose(folded.images, plain.images, atol=1e-5)
        np.testing.assert_allclose(folded.values, plain.values, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("training", [False, True])
def test_model_is_untouched_after_sliced_and_folded_renders_that_stop_early(training):
    """The sliced conv and the folded batch norms are installed forwards: none is left after a cancel or an error,
    whichever mode the model was in."""
    probe = probe_of()
    probe.module.train(training)
    before = snapshot(probe.module)
    token = nw.CancelToken()

    def cancel_at_2(step, total, **_):
        if step == 2:
            token.cancel()

    assert render(probe, "block:3", steps=10, progress=cancel_at_2, cancel=token).cancelled

    def fail(step, total, **_):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        render(probe, "block:3", steps=10, progress=fail)
    assert_untouched(probe.module, before)
    assert not any("forward" in m.__dict__ for m in probe.module.modules())
    assert all(m.training is training for m in probe.module.modules())


def test_replaced_forwards_nest_and_put_back_what_was_there():
    conv = nn.Conv2d(1, 1, 1)
    outer, inner = (lambda x: x + 1), (lambda x: x + 2)
    with replaced_forwards({conv: outer}):
        with replaced_forwards({conv: inner}):
            assert conv.forward is inner
        assert conv.forward is outer
    assert "forward" not in conv.__dict__
    with pytest.raises(ValueError), replaced_forwards({conv: outer}):
        raise ValueError
    assert "forward" not in conv.__dict__


def test_the_slicing_tests_net_folds_its_three_pairs():
    probe = probe_of()
    fold = folding(probe, ["block"])
    assert isinstance(probe.module.block, Block)
    assert set(fold.passed) == {probe.module.stem[1], probe.module.block.bn1, probe.module.block.bn2}
