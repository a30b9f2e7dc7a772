"""Attribution engine: equal to captum called directly, completeness of integrated gradients, targets,
progress/cancel, reproducibility, and the model left untouched."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.attr import (DeepLift, GradientShap, GuidedBackprop, GuidedGradCam, InputXGradient,
                         IntegratedGradients, LayerAttribution, LayerGradCam, NoiseTunnel, Occlusion, Saliency)
from conftest import assert_untouched, snapshot

import neuro_widgets as nw
from neuro_widgets.engine.attribution.registry import METHODS

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients",
                                        "ignore:Setting .*hooks:UserWarning")

N = 2  # images per check: ResNet-20 at 32 px is cheap, but the CI machine has two cores


@pytest.fixture(scope="module")
def images(k92):
    return k92.stimuli[:N]


@pytest.fixture(scope="module")
def x(resnet20, images):
    """The model-ready tensor captum gets when called directly (the engine preprocesses the StimulusSet)."""
    return resnet20.batch(images, 0, N)


def test_registry_lists_the_issue_methods_with_typed_schemas():
    names = [m.name for m in nw.attribution.methods()]
    assert names == ["saliency", "integrated_gradients", "smoothgrad", "gradient_shap", "deeplift",
                     "input_x_gradient", "guided_backprop", "occlusion", "gradcam", "guided_gradcam"]
    for spec in nw.attribution.methods():
        for p in spec.params:
            assert p.type in {"int", "float", "bool", "choice", "layer"} and p.help
            if p.default is not None:  # every default passes its own check
                assert p.check(spec.name, p.default) == p.default
            if p.type == "choice":
                assert p.default in p.choices
        assert spec.as_dict()["name"] == spec.name
    assert METHODS["integrated_gradients"].defaults()["n_steps"] == 50
    assert METHODS["integrated_gradients"].defaults()["integration"] == "gausslegendre"
    assert METHODS["integrated_gradients"].defaults()["tolerance"] == 0.05
    assert [m.name for m in nw.attribution.methods() if m.needs_layer] == ["gradcam", "guided_gradcam"]
    assert {m.name for m in nw.attribution.methods() if m.has_delta} == {"integrated_gradients", "deeplift"}


def _direct(method, model, x, target, res, spec):
    """captum called directly with the arguments the engine reports it used."""
    p = res.params
    if method == "saliency":
        return Saliency(model).attribute(x, target=target, abs=False)
    if method == "integrated_gradients":
        return IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=8,
                                                    method="gausslegendre",
                                                    internal_batch_size=p["internal_batch_size"])
    if method == "smoothgrad":
        torch.manual_seed(3)
        np.random.seed(3)
        stdevs = 0.15 / float(np.mean(spec.std))  # noise_level is a fraction of the [0, 1] pixel range
        return NoiseTunnel(Saliency(model)).attribute(x, nt_type="smoothgrad", nt_samples=4, stdevs=stdevs,
                                                      nt_samples_batch_size=p["nt_samples_batch_size"],
                                                      target=target, abs=False)
    if method == "gradient_shap":
        g = torch.Generator().manual_seed(3)
        baselines = spec.normalize(torch.rand(4, 3, 32, 32, generator=g))
        torch.manual_seed(3)
        np.random.seed(3)
        return GradientShap(model).attribute(x, baselines=baselines, n_samples=6, stdevs=0.0, target=target)
    if method == "deeplift":
        return DeepLift(model).attribute(x, baselines=torch.zeros_like(x), target=target)
    if method == "input_x_gradient":
        return InputXGradient(model).attribute(x, target=target)
    if method == "guided_backprop":
        return GuidedBackprop(model).attribute(x, target=target)
    if method == "occlusion":
        return Occlusion(model).attribute(x, sliding_window_shapes=(3, 8, 8), strides=(3, 4, 4), baselines=0.0,
                                          target=target, perturbations_per_eval=p["perturbations_per_eval"])
    if method == "gradcam":
        cam = LayerGradCam(model, model.layer3).attribute(x, target=target, relu_attributions=True)
        return LayerAttribution.interpolate(cam, (32, 32), interpolate_mode="bilinear")[:, 0]
    if method == "guided_gradcam":
        return GuidedGradCam(model, model.layer3).attribute(x, target=target, interpolate_mode="nearest")
    raise AssertionError(method)


PARAMS = {
    "saliency": {},
    "integrated_gradients": {"n_steps": 8},
    "smoothgrad": {"nt_samples": 4, "seed": 3},
    "gradient_shap": {"n_samples": 6, "n_baselines": 4, "seed": 3},
    "deeplift": {},
    "input_x_gradient": {},
    "guided_backprop": {},
    "occlusion": {"window": 8, "stride": 4},
    "gradcam": {"layer": "layer3"},
    "guided_gradcam": {"layer": "layer3"},
}


@pytest.mark.parametrize("method", list(PARAMS))
def test_equal_to_captum_called_directly(resnet20, images, x, method):
    model = resnet20.module
    before = snapshot(model)
    res = nw.attribution.attribute(resnet20, images, method, target=3, **PARAMS[method])
    assert_untouched(model, before)
    direct = _direct(method, model, x, 3, res, resnet20.input_spec)
    assert res.attributions.shape == direct.shape
    torch.testing.assert_close(res.attributions, direct.detach(), atol=1e-6, rtol=0)
    assert res.classes.tolist() == [3] * N and res.target == "class 3"
    assert_untouched(model, before)


def test_integrated_gradients_delta_is_the_completeness_gap(resnet20, images, x):
    res = nw.attribution.attribute(resnet20, images, "integrated_gradients", target=5, n_steps=16,
                                   baseline="black")
    black = resnet20.input_spec.normalize(torch.zeros(1, 3, 32, 32))
    with torch.no_grad():
        change = resnet20.module(x)[:, 5] - resnet20.module(black)[0, 5]
    gap = res.attributions.sum(dim=(1, 2, 3)) - change
    torch.testing.assert_close(res.delta, gap, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(res.relative_delta, gap.abs() / change.abs(), atol=1e-5, rtol=1e-3)
    assert res.n_steps.tolist() == [16] * N


def test_integrated_gradients_delta_shrinks_with_steps(resnet20, k92):
    few = nw.attribution.attribute(resnet20, k92.stimuli[:3], "integrated_gradients", target=3, n_steps=8)
    many = nw.attribution.attribute(resnet20, k92.stimuli[:3], "integrated_gradients", target=3, n_steps=64)
    assert many.relative_delta.mean() < few.relative_delta.mean() / 2


def test_auto_steps_meets_its_tolerance(resnet20, k92):
    stim = k92.stimuli[:3]
    fixed = nw.attribution.attribute(resnet20, stim, "integrated_gradients", target="predicted", n_steps=25)
    auto = nw.attribution.attribute(resnet20, stim, "integrated_gradients", target="predicted", n_steps=25,
                                    auto_steps=True, tolerance=0.02, max_steps=400)
    assert (auto.relative_delta <= 0.02).all(), auto.relative_delta
    assert (fixed.relative_delta > 0.02).any(), "the check needs images that 25 steps leave above the tolerance"
    hard = (fixed.relative_delta > 0.02).numpy()
    assert (auto.n_steps[hard] > 25).all() and (auto.n_steps[~hard] == 25).all()
    # an image refined to k steps gets exactly the plain k-step result
    i = int(np.argmax(auto.n_steps))
    again = nw.attribution.attribute(resnet20, stim[i], "integrated_gradients", target=int(auto.classes[i]),
                                     n_steps=int(auto.n_steps[i]))
    torch.testing.assert_close(auto.attributions[i], again.attributions[0], atol=1e-6, rtol=1e-5)


def test_predicted_target_is_the_argmax(resnet20, images, x):
    res = nw.attribution.attribute(resnet20, images, "saliency")
    with torch.no_grad():
        pred = resnet20.module(x).argmax(1)
    assert res.classes.tolist() == pred.tolist()
    direct = Saliency(resnet20.module).attribute(x, target=pred.tolist(), abs=False)
    torch.testing.assert_close(res.attributions, direct, atol=1e-6, rtol=1e-5)


def test_per_image_targets(resnet20, images, x):
    res = nw.attribution.attribute(resnet20, images, "input_x_gradient", target=[1, 7])
    direct = InputXGradient(resnet20.module).attribute(x, target=[1, 7])
    torch.testing.assert_close(res.attributions, direct, atol=1e-6, rtol=1e-5)
    assert res.target == "class per image"


def _unit_forward(model, layer, channel, pos=None):
    def forward(inp):
        a = _unit_forward_all(model, layer, inp)[:, channel]
        return a.mean(dim=(1, 2)) if pos is None else a[:, pos[0], pos[1]]
    return forward


@pytest.mark.parametrize("pos", [None, (2, 5)])
def test_unit_target_equals_captum_on_the_unit(resnet20, images, x, pos):
    before = snapshot(resnet20.module)
    unit = nw.attribution.Unit("layer2.1", 7, pos)
    res = nw.attribution.attribute(resnet20, images, "integrated_gradients", unit, n_steps=8)
    direct = IntegratedGradients(_unit_forward(resnet20.module, "layer2.1", 7, pos)).attribute(
        x, baselines=torch.zeros_like(x), n_steps=8)
    torch.testing.assert_close(res.attributions, direct, atol=1e-6, rtol=1e-5)
    assert_untouched(resnet20.module, before)


def test_readout_target_is_the_linear_combination(resnet20, images, x):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 64))
    b = rng.normal(size=3)
    ro = nw.attribution.Readout("layer3", w, bias=b, pool="avgpool", output=2)
    res = nw.attribution.attribute(resnet20, images, "saliency", ro)

    def forward(inp):
        feats = _unit_forward_all(resnet20.module, "layer3", inp).mean(dim=(2, 3))
        return feats @ torch.tensor(w[2], dtype=torch.float32) + float(b[2])

    direct = Saliency(forward).attribute(x, abs=False)
    torch.testing.assert_close(res.attributions, direct, atol=1e-6, rtol=1e-5)


def _unit_forward_all(model, layer, inp):
    store = []
    h = model.get_submodule(layer).register_forward_hook(lambda m, i, o: store.append(o))
    try:
        model(inp)
    finally:
        h.remove()
    return store[0]


def test_stochastic_methods_are_reproducible_and_leave_the_rng_alone(resnet20, images):
    torch.manual_seed(123)
    np.random.seed(123)
    t_state, n_state = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    a = nw.attribution.attribute(resnet20, images, "smoothgrad", 3, nt_samples=3, seed=9)
    b = nw.attribution.attribute(resnet20, images, "smoothgrad", 3, nt_samples=3, seed=9)
    c = nw.attribution.attribute(resnet20, images, "smoothgrad", 3, nt_samples=3, seed=10)
    assert torch.equal(a.attributions, b.attributions)
    assert not torch.equal(a.attributions, c.attributions)
    assert torch.equal(torch.random.get_rng_state(), t_state)
    assert np.array_equal(np.random.get_state()[1], n_state)


def test_inputs_as_uint8_array_and_tensor_agree(resnet20, images, x):
    from_set = nw.attribution.attribute(resnet20, images, "saliency", 2)
    from_array = nw.attribution.attribute(resnet20, images.images, "saliency", 2)
    from_tensor = nw.attribution.attribute(resnet20, x, "saliency", 2)
    assert torch.equal(from_set.attributions, from_array.attributions)
    assert torch.equal(from_set.attributions, from_tensor.attributions)


def test_batches_progress_and_cancel(resnet20, k92):
    stim = k92.stimuli[:5]
    calls = []
    whole = nw.attribution.attribute(resnet20, stim, "saliency", 3)
    parts = nw.attribution.attribute(resnet20, stim, "saliency", 3, batch_size=2,
                                     progress=lambda done, total: calls.append((done, total)))
    assert calls == [(2, 5), (4, 5), (5, 5)]
    torch.testing.assert_close(parts.attributions, whole.attributions, atol=1e-6, rtol=1e-5)
    token = nw.CancelToken()
    token.cancel()
    before = snapshot(resnet20.module)
    with pytest.raises(nw.Cancelled):
        nw.attribution.attribute(resnet20, stim, "integrated_gradients", 3, cancel=token)
    assert_untouched(resnet20.module, before)


def test_internal_batch_size_follows_the_memory_budget(resnet20, images, monkeypatch):
    from neuro_widgets.engine.attribution import budget

    per_input = budget.bytes_per_input(resnet20)
    monkeypatch.setattr(budget, "budget_bytes", per_input * 10)
    small = nw.attribution.attribute(resnet20, images, "integrated_gradients", 3, n_steps=8)
    assert small.params["internal_batch_size"] == 10
    monkeypatch.setattr(budget, "budget_bytes", per_input * 10_000)
    big = nw.attribution.attribute(resnet20, images, "integrated_gradients", 3, n_steps=8)
    assert big.params["internal_batch_size"] == N * 8  # everything in one pass
    torch.testing.assert_close(small.attributions, big.attributions, atol=1e-6, rtol=1e-5)


def test_a_unit_of_the_logit_layer_is_the_class_target(resnet20, images):
    """ResNet-20's ``linear`` layer outputs the logits, so its unit 3 must explain exactly what class 3 does."""
    unit = nw.attribution.attribute(resnet20, images, "saliency", nw.attribution.Unit("linear", 3))
    cls = nw.attribution.attribute(resnet20, images, "saliency", 3)
    torch.testing.assert_close(unit.attributions, cls.attributions, atol=1e-6, rtol=0)
    assert unit.classes is None and unit.target.startswith("Unit(layer='linear'")


def test_a_bare_model_or_a_bad_seed_is_refused_with_what_to_pass(resnet20, images):
    for call in (lambda: nw.attribution.attribute(resnet20.module, images, "saliency"),
                 lambda: nw.attribution.layer_contributions(resnet20.module, "layer3", images),
                 lambda: nw.attribution.sanity_check(resnet20.module, images)):
        with pytest.raises(TypeError, match=r"needs an nw.Probe .*bare model \(CifarResNet.*Wrap it first: "
                                            r"probe = nw.Probe\(model"):
            call()
    with pytest.raises(TypeError, match="sanity_check: seed must be a non-negative integer, got 'x'"):
        nw.attribution.sanity_check(resnet20, images, seed="x")
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -1"):
        nw.attribution.sanity_check(resnet20, images, seed=-1)
