"""Feature visualization parts: objectives on known tensors, transforms, parameterizations, bad inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import neuro_widgets as nw
from conftest import assert_untouched, snapshot
from neuro_widgets.engine.featurevis import objectives as ob
from neuro_widgets.engine.featurevis import render, render_layer
from neuro_widgets.engine.featurevis.objectives import OUTPUT, Context
from neuro_widgets.engine.featurevis.param import IMAGENET_COLOR, ImageParam, color_matrix
from neuro_widgets.engine.featurevis.transforms import (Jitter, RandomRotate, RandomScale, standard_transforms)
from test_featurevis import GaborNet


def ctx_for(acts, image=None, output=None):
    b = next(iter(acts.values())).shape[0] if acts else image.shape[0]
    image = image if image is not None else torch.full((b, 3, 4, 4), 0.5)
    return Context(acts=acts, image=image, output=output)


@pytest.fixture(scope="module")
def acts():
    g = torch.Generator().manual_seed(0)
    return torch.randn(3, 4, 5, 8, generator=g)  # a non-square map: 5 rows, 8 columns


# ---- objectives against hand computations -----------------------------------------------------------
def test_channel_neuron_layer_values(acts):
    c = ctx_for({"L": acts})
    assert torch.allclose(ob.channel("L", 2)(c), acts[:, 2].mean(dim=(1, 2)))
    assert torch.allclose(ob.neuron("L", 1)(c), acts[:, 1, 2, 4])  # centre is (H // 2, W // 2) = (2, 4)
    assert torch.allclose(ob.neuron("L", 1, x=7, y=0)(c), acts[:, 1, 0, 7])
    assert torch.allclose(ob.layer("L")(c), (acts ** 2).mean(dim=(1, 2, 3)))
    per_image = ob.channel("L", [3, 0, 1])(c)
    assert torch.allclose(per_image, torch.stack([acts[0, 3].mean(), acts[1, 0].mean(), acts[2, 1].mean()]))
    masked = ob.channel("L", 2, batch=1)(c)
    assert masked[0] == 0 and masked[2] == 0 and torch.isclose(masked[1], acts[1, 2].mean())
    assert ob.as_objective("L:2")(c).equal(ob.channel("L", 2)(c))


def test_composition_with_operators_and_scalars(acts):
    c = ctx_for({"L": acts})
    a, b = ob.channel("L", 0), ob.neuron("L", 1)
    va, vb = a(c), b(c)
    combo = (a + 2 * b) / 4 - 1
    assert torch.allclose(combo(c), (va + 2 * vb) / 4 - 1)
    assert torch.allclose((a * b)(c), va * vb) and torch.allclose((-a)(c), -va)
    assert torch.allclose((3 - a)(c), 3 - va) and torch.allclose((1 / (a * a + 1))(c), 1 / (va * va + 1))
    assert torch.allclose(sum([a, b])(c), va + vb)
    assert torch.allclose((a + "L:1")(c), va + ob.channel("L", 1)(c))
    assert combo.description == "(channel 0 of L (mean over space) + 2 * neuron centre of channel 1 of L) / 4 - 1"
    assert combo.layers == ("L",)


def test_direction_and_linear_readout(acts):
    c = ctx_for({"L": acts})
    w = torch.tensor([1.0, -2.0, 0.5, 0.0])
    flat = acts.mean(dim=(2, 3))
    assert torch.allclose(ob.linear_readout("L", w, bias=0.3)(c), flat @ w + 0.3, atol=1e-5)
    wmap = torch.randn(4, 5, 8, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(ob.linear_readout("L", wmap.numpy())(c), (acts * wmap).sum(dim=(1, 2, 3)), atol=1e-4)
    # direction: projection on the unit vector, times the clamped cosine
    u = w / w.norm()
    dot = (acts * u.view(1, -1, 1, 1)).sum(1)
    cos = dot / acts.norm(dim=1)
    expected = (dot * cos.clamp(min=0.1)).mean(dim=(1, 2))
    assert torch.allclose(ob.direction("L", w)(c), expected, atol=1e-5)
    assert torch.allclose(ob.direction("L", w, cossim_pow=0)(c), dot.mean(dim=(1, 2)), atol=1e-5)


def test_class_logit_and_image_penalties():
    img = torch.rand(2, 3, 6, 5, generator=torch.Generator().manual_seed(2))
    c = ctx_for({}, image=img, output=torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert torch.equal(ob.class_logit(1)(c), torch.tensor([2.0, 4.0]))
    assert torch.allclose(ob.l1()(c), (img - 0.5).abs().mean(dim=(1, 2, 3)))
    assert torch.allclose(ob.l2(0.2)(c), ((img - 0.2) ** 2).mean(dim=(1, 2, 3)))
    tv = (img[..., 1:, :] - img[..., :-1, :]).abs().mean(dim=(1, 2, 3)) + \
        (img[..., :, 1:] - img[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    assert torch.allclose(ob.total_variation()(c), tv)
    assert ob.class_logit(1).layers == (OUTPUT,)


def test_diversity_values():
    same = torch.ones(3, 2, 4, 4)
    assert torch.allclose(ob.diversity("L")(ctx_for({"L": same})), torch.full((3,), -1.0))
    # disjoint channels: the Gram matrices do not overlap, cosine 0
    apart = torch.zeros(2, 2, 4, 4)
    apart[0, 0] = 1.0
    apart[1, 1] = 1.0
    assert torch.allclose(ob.diversity("L")(ctx_for({"L": apart})), torch.zeros(2))


# ---- transforms --------------------------------------------------------------------------------------
def test_jitter_shifts_both_ways():
    x = torch.zeros(1, 3, 20, 20)
    x[..., 10, 10] = 1.0
    g = torch.Generator().manual_seed(0)
    shifts = set()
    for _ in range(200):
        y = Jitter(3)(x, g)
        assert y.shape[-2:] == (14, 14)
        r, c = divmod(int(y[0, 0].argmax()), 14)
        shifts.add((r - 7, c - 7))
    assert {dy for dy, _ in shifts} == set(range(-3, 4)) and {dx for _, dx in shifts} == set(range(-3, 4))


def test_affine_transforms_and_seeding():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 16, 16, generator=g)
    assert torch.allclose(RandomRotate([0.0])(x, g), x, atol=1e-5)
    assert torch.allclose(RandomScale([1.0])(x, g), x, atol=1e-5)
    rot = RandomRotate([90.0])(x, g)
    assert min((rot - torch.rot90(x, k, dims=(2, 3))).abs().max().item() for k in (1, -1)) < 1e-4
    zoom = RandomScale([2.0])(x, g)  # zoom in 2x: the centre 8x8 fills the frame
    assert torch.allclose(zoom[..., ::2, ::2].mean(), x[..., 4:12, 4:12].mean(), atol=0.05)
    t = standard_transforms(64)
    a = t(x, torch.Generator().manual_seed(5))
    b = t(x, torch.Generator().manual_seed(5))
    c = t(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert repr(standard_transforms(128)) == \
        "pad(12) -> jitter(8) -> random_scale(0.9..1.1) -> random_rotate(-10..10 deg) -> jitter(4)"


# ---- parameterizations -------------------------------------------------------------------------------
def test_standard_transforms_scale_to_the_unit_extent():
    assert repr(standard_transforms(128)) == ("pad(12) -> jitter(8) -> random_scale(0.9..1.1) -> "
                                              "random_rotate(-10..10 deg) -> jitter(4)")
    assert repr(standard_transforms(32)).startswith("pad(3) -> jitter(2) -> random_scale(0.95..1.05)")
    # a 9-pixel receptive field: no pixel shifts at all, and scale/rotation move its edge by < 0.1 pixel
    small = standard_transforms(32, receptive_field=9).transforms
    assert [type(t) for t in small] == [RandomScale, RandomRotate]
    s, a = max(small[0].scales) - 1.0, max(small[1].angles)
    assert 4.5 * s < 0.1 and 4.5 * math.sin(math.radians(a)) < 0.15
    # a field wider than the image: the image size rules
    assert repr(standard_transforms(32, receptive_field=80)) == repr(standard_transforms(32))


def test_fft_image_starts_gray_with_a_decaying_spectrum():
    live = ImageParam().build(4, (64, 64), torch.Generator().manual_seed(0), torch.device("cpu"))
    img = live()
    assert img.shape == (4, 3, 64, 64) and (img - 0.5).abs().max() < 0.05
    amp = torch.fft.rfft2(img - 0.5).abs().mean(dim=(0, 1))
    fy = torch.fft.fftfreq(64)[:, None]
    fx = torch.fft.rfftfreq(64)[None, :]
    f = torch.sqrt(fx ** 2 + fy ** 2)
    low, high = amp[(f > 0) & (f < 0.05)].mean(), amp[f > 0.3].mean()
    assert low > 5 * high


def test_color_matrix_recovers_a_known_covariance():
    rng = np.random.default_rng(0)
    mix = np.array([[0.10, 0.00, 0.00], [0.08, 0.03, 0.00], [0.05, -0.02, 0.04]])
    pixels = 0.5 + rng.standard_normal((200_000, 3)) @ mix.T
    m = np.asarray(color_matrix(pixels.reshape(50, 4000, 1, 3).clip(0, 1)))
    cov = mix @ mix.T
    assert np.allclose(m @ m.T, cov, atol=2e-4)
    norm = np.linalg.norm(np.asarray(IMAGENET_COLOR), axis=0).max()
    assert norm > 0


# ---- bad inputs: clear errors, nothing changed ----------------------------------------------------------
@pytest.fixture()
def gabor():
    return nw.Probe(GaborNet(), nw.InputSpec(size=(24, 24), mean=0.5, std=0.5))


@pytest.mark.parametrize("call, error, message", [
    (lambda p: render(p, "layr3:0"), KeyError, "Did you mean 'layer3'"),
    (lambda p: render(p, "layer3:64"), ValueError, "channel 64 is out of range; layer 'layer3' has 64 channels"),
    (lambda p: render_layer(p, "layer3", channels=[3, 70]), ValueError, "channel 70 is out of range"),
    (lambda p: render(p, ob.neuron("layer3", 0, x=8)), ValueError, "outside the layer's 8x8 map"),
    (lambda p: render(p, ob.neuron("layer3", 0, y=-1)), ValueError, "outside the layer's 8x8 map"),
    (lambda p: render(p, ob.linear_readout("layer3", np.ones(10))), ValueError, "do not fit the layer's output"),
    (lambda p: render(p, ob.linear_readout("layer3", np.ones((64, 4, 4)))), ValueError, "give (64,) or (64, 8, 8)"),
    (lambda p: render(p, ob.direction("layer3", np.ones(63))), ValueError, "has 64 channels"),
    (lambda p: render(p, "layer3:1", steps=0), ValueError, "steps must be a positive integer"),
    (lambda p: render(p, "layer3:1", lr=-1), ValueError, "lr must be a positive number"),
    (lambda p: render(p, ob.diversity("layer3"), batch=1), ValueError, "at least 2 images"),
    (lambda p: render(p, ob.channel("layer3", 0, batch=3), batch=2), ValueError, "needs a batch of at least 4 images, got 2"),
    (lambda p: render(p, ob.class_logit(10)), ValueError, "class 10 is out of range; the model has 10 outputs"),
    (lambda p: render(p, "layer3:1", size=6, transforms=[Jitter(3)]), ValueError, "transforms do not fit a 6x6 image"),
    (lambda p: render(p, "layer3:1", snapshots=[600]), ValueError, "snapshots must be step counts"),
    (lambda p: render(p, "layer3:1", cancel="stop"), TypeError, "CancelToken"),
    (lambda p: render(p, "layer3"), ValueError, "'layer:channel'"),
    (lambda p: render(p, "layer3:1", param="wavelet"), ValueError, "'fft' or 'pixel'"),
    (lambda p: render_layer(p, "layer3", channels="all"), TypeError, "for every channel pass channels=None"),
    (lambda p: render_layer(p, "layer3", channels=[1.5]), TypeError, "got [1.5]"),
    (lambda p: render(p, ob.channel("layer3", "five")), TypeError, "must be an int index or a list of int indices"),
])
def test_bad_inputs_on_resnet20(resnet20, call, error, message):
    before = snapshot(resnet20.module)
    with pytest.raises(error) as info:
        call(resnet20)
    assert message in str(info.value)
    assert_untouched(resnet20.module, before)


def test_image_size_smaller_than_the_model_accepts(gabor):
    before = snapshot(gabor.module)
    with pytest.raises(ValueError, match="does not accept 8x8 inputs"):
        render(gabor, "conv2:0", input_size=8)  # 9x9 then 5x5 valid convolutions need 13 pixels
    assert_untouched(gabor.module, before)
    assert render(gabor, "conv2:0", input_size=13, steps=1).images.shape == (1, 24, 24, 3)


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"weights must be \(C,\) or \(C, H, W\)"):
        ob.linear_readout("L", np.ones((2, 3)))
    with pytest.raises(ValueError, match="non-zero"):
        ob.direction("L", np.zeros(4))
    with pytest.raises(TypeError, match="layer name"):
        ob.channel(3, 1)
    with pytest.raises(ValueError, match="3x3"):
        ImageParam(color=((1.0, 0.0), (0.0, 1.0)))


def test_redirected_relu_gradient_rule():
    from neuro_widgets.engine.featurevis.relu_redirect import _RedirectedReLU

    x = torch.tensor([[-1.0, 2.0, -3.0], [-1.0, -2.0, -3.0]], requires_grad=True)
    y = _RedirectedReLU.apply(x)
    assert torch.equal(y, x.detach().clamp_min(0))
    # d(loss)/dy; the loss is minimized, so a positive entry would push a negative input further down
    y.backward(torch.tensor([[0.5, -1.0, -0.5], [0.5, -1.0, -0.5]]))
    # image 0: the ReLU passes gradient (x > 0 at index 1): the plain ReLU gradient
    # image 1: all inputs negative: the incoming gradient, except where it pushes lower (index 0)
    assert torch.equal(x.grad, torch.tensor([[0.0, -1.0, 0.0], [0.0, -1.0, -0.5]]))


def test_redirected_relu_keeps_the_gradient_exactly_where_the_input_is_not_negative():
    """The fused threshold at minus the smallest subnormal is the rule's x < 0, at the edges of every float."""
    from neuro_widgets.engine.featurevis.relu_redirect import _RedirectedReLU

    for dtype in (torch.float32, torch.float64):
        tiny = torch.nextafter(torch.zeros((), dtype=dtype), torch.ones((), dtype=dtype)).item()
        x = torch.tensor([[float("nan"), -0.0, 0.0, -tiny, tiny, -1.0, 2.0]], dtype=dtype, requires_grad=True)
        grad = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]], dtype=dtype)
        _RedirectedReLU.apply(x).backward(grad)
        assert torch.equal(x.grad, torch.where(x.detach() < 0, 0.0, grad))  # NaN and both zeros pass
        # an image whose only passed gradient is NaN counts as passing: the plain ReLU gradient, NaN kept
        x = torch.tensor([[-1.0, 0.5]], dtype=dtype, requires_grad=True)
        _RedirectedReLU.apply(x).backward(torch.tensor([[1.0, float("nan")]], dtype=dtype))
        assert x.grad[0, 0] == 0 and torch.isnan(x.grad[0, 1])


def test_public_namespace():
    assert nw.featurevis.render is render and nw.featurevis.render_layer is render_layer
    assert nw.featurevis.objectives.channel is ob.channel
    assert callable(nw.featurevis.dataset_examples) and "featurevis" in dir(nw)


def test_render_adam_is_torch_adam_bit_for_bit():
    """The render's Adam runs torch.optim.Adam's single-tensor arithmetic without its per-step bookkeeping."""
    from neuro_widgets.engine.featurevis.adam import Adam

    g = torch.Generator().manual_seed(0)
    for shape in [(1, 3, 32, 17, 2), (5, 3, 16, 16)]:
        a = torch.randn(shape, generator=g).requires_grad_()
        b = a.detach().clone().requires_grad_()
        skipped = torch.randn(2, generator=g).requires_grad_()  # no grad: neither optimizer counts a step for it
        theirs, ours = torch.optim.Adam([a, skipped], lr=0.05), Adam([b, skipped.detach().requires_grad_()], lr=0.05)
        for step in range(200):
            grad = torch.randn(shape, generator=g) * 10.0 ** (step % 7 - 4)  # tiny to large: eps matters
            theirs.zero_grad(set_to_none=True)
            ours.zero_grad()
            a.grad, b.grad = grad.clone(), grad.clone()
            theirs.step()
            ours.step()
            assert torch.equal(a, b)
        assert ours.steps == [200.0, 0.0]


def test_layer_shapes_are_measured_once_per_model_layers_and_size():
    """A dry run per render cost as much as a step; the shapes depend on the architecture alone."""
    from neuro_widgets.engine.featurevis.render import layer_shapes

    probe = nw.Probe(GaborNet(), nw.InputSpec(size=(24, 24), mean=0.5, std=0.5))
    tail = probe.module.tail
    before = tail.calls
    first = layer_shapes(probe, [OUTPUT, "conv2"], (24, 24))
    assert tail.calls == before + 1  # the output needs the whole forward pass
    first["conv2"] = "changed by the caller"
    again = layer_shapes(probe, [OUTPUT, "conv2"], (24, 24))
    assert tail.calls == before + 1 and again == {OUTPUT: (2,), "conv2": (1, 12, 12)}
    assert layer_shapes(probe, [OUTPUT], (32, 32)) == {OUTPUT: (2,)} and tail.calls == before + 2


def test_resampling_grid_is_affine_grids_bit_for_bit():
    import torch.nn.functional as F

    from neuro_widgets.engine.featurevis.transforms import _base_grid

    g = torch.Generator().manual_seed(0)
    for n, (h, w) in [(1, (32, 32)), (5, (28, 30)), (2, (1, 7)), (3, (224, 224))]:
        theta = torch.randn(n, 2, 3, generator=g)
        grid = torch.matmul(_base_grid(h, w, torch.float32, torch.device("cpu")), theta.transpose(1, 2))
        assert torch.equal(grid.view(n, h, w, 2), F.affine_grid(theta, [n, 3, h, w], align_corners=False))
