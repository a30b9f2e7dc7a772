"""The probe: layer tree, one-pass extraction, early stop, model left untouched, cache, reductions."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from conftest import assert_untouched, snapshot
from neuro_widgets.engine.cache import ActivationCache


class CountingModule(nn.Module):
    """Counts its forward calls (to prove what the early stop skips and that a cache hit runs nothing)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def tiny_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU(),
        CountingModule(nn.Conv2d(6, 8, 3, padding=1)), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3),
    )


@pytest.fixture
def tiny_probe():
    return nw.Probe(tiny_cnn(), nw.InputSpec(size=(16, 16)), cache=ActivationCache())


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return nw.StimulusSet.from_arrays(rng.integers(0, 256, size=(10, 20, 20, 3), dtype=np.uint8))


def test_resnet20_layer_tree(resnet20):
    names = resnet20.layer_names()
    assert names[:4] == ["conv1", "bn1", "relu", "layer1"]
    assert names[-3:] == ["avgpool", "flatten", "linear"]
    assert len(names) == len(set(names))
    info = {i.name: i for i in resnet20.layers()}
    assert info["conv1"].output_shape == (16, 32, 32) and info["conv1"].n_params == 3 * 16 * 9
    assert info["layer2"].output_shape == (32, 16, 16)
    assert info["layer3"].output_shape == (64, 8, 8)
    assert info["linear"].output_shape == (10,) and info["linear"].n_params == 64 * 10 + 10
    assert info["layer1.0.relu1"].type == "ReLU"
    assert sum(i.n_params for i in resnet20.layers() if i.depth == 0) == 269_722
    assert all(i.calls == 1 for i in resnet20.layers())
    # execution order: a block's children come after the block and before the next block
    assert names.index("layer1.0") < names.index("layer1.0.conv1") < names.index("layer1.1")
    assert resnet20.input_spec.class_names[3] == "cat"


def test_alexnet_layer_tree():
    probe = nw.load_model("torchvision:alexnet", weights=None, seed=0)
    names = probe.layer_names()
    assert names == ["features", *[f"features.{i}" for i in range(13)], "avgpool", "classifier",
                     *[f"classifier.{i}" for i in range(7)]]
    info = {i.name: i for i in probe.layers()}
    assert info["features.0"].output_shape == (64, 55, 55)
    assert info["features.8"].output_shape == (256, 13, 13)
    assert info["classifier.6"].output_shape == (1000,)
    assert sum(i.n_params for i in probe.layers() if i.depth == 0) == 61_100_840
    assert len(probe.input_spec.class_names) == 1000


def test_one_pass_equals_separate_passes(resnet20, k92):
    stim = k92.stimuli[:20]
    layers = ["conv1", "layer1.1.relu2", "layer2", "layer3.2.bn2", "linear"]
    together = resnet20.activations(stim, layers, batch_size=7, use_cache=False)
    for name in layers:
        alone = resnet20.activations(stim, [name], batch_size=20, use_cache=False)[name]
        assert together[name].shape[0] == 20
        torch.testing.assert_close(together[name], alone, rtol=1e-5, atol=1e-6)
    # and against the model's own forward pass for the output layer
    x = stim.preprocess(resnet20.input_spec)
    with torch.no_grad():
        torch.testing.assert_close(together["linear"], resnet20.module(x), rtol=1e-5, atol=1e-5)


def test_early_stop_skips_later_modules(tiny_probe, images):
    counter = tiny_probe.module[4]
    counter.calls = 0
    tiny_probe.activations(images, ["1"], batch_size=4, use_cache=False)
    assert counter.calls == 0, "modules after the deepest requested layer must not run"
    tiny_probe.activations(images, ["1", "5"], batch_size=4, use_cache=False)
    assert counter.calls == 3  # 10 images in batches of 4


def test_model_untouched_after_normal_run(resnet20, k92):
    resnet20.module.train()  # a user's model in training mode must stay in training mode
    try:
        before = snapshot(resnet20.module)
        acts = resnet20.activations(k92.stimuli[:8], ["layer1", "bn1"], use_cache=False)
        assert_untouched(resnet20.module, before)
        # and extraction itself ran in eval mode: BN used running statistics, not batch statistics
        x = k92.stimuli[:8].preprocess(resnet20.input_spec)
        m = resnet20.module
        with torch.no_grad():
            expected = nn.functional.batch_norm(m.conv1(x), m.bn1.running_mean, m.bn1.running_var,
                                                m.bn1.weight, m.bn1.bias, False, 0.0, m.bn1.eps)
        torch.testing.assert_close(acts["bn1"], expected, rtol=1e-5, atol=1e-5)
    finally:
        resnet20.module.eval()


def test_model_untouched_after_exception_in_hook(tiny_probe, images):
    module = tiny_probe.module
    module[0].weight.requires_grad_(False)  # a user's custom flag must come back as it was
    before = snapshot(module)

    def broken(_m, _i, _o):
        raise RuntimeError("boom")

    handle = module[2].register_forward_hook(broken)
    try:
        with pytest.raises(RuntimeError, match="boom"):
            tiny_probe.activations(images, ["1", "3"], use_cache=False)
    finally:
        handle.remove()
    assert_untouched(module, before)


def test_model_untouched_after_cancel(tiny_probe, images):
    before = snapshot(tiny_probe.module)
    token = nw.CancelToken()
    seen = []

    def progress(done, total):
        seen.append(done)
        token.cancel()

    with pytest.raises(nw.Cancelled):
        tiny_probe.activations(images, ["3"], batch_size=2, progress=progress, cancel=token, use_cache=False)
    assert seen == [2], "cancel must stop at the next batch boundary"
    assert_untouched(tiny_probe.module, before)


def test_model_untouched_after_keyboard_interrupt(tiny_probe, images):
    before = snapshot(tiny_probe.module)

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        tiny_probe.activations(images, ["3"], batch_size=2, progress=interrupt, use_cache=False)
    assert_untouched(tiny_probe.module, before)


class SharedReLU(nn.Module):
    """Like torchvision's ResNet blocks: one ReLU module used twice per forward."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.conv2(self.relu(self.conv1(x))))


def test_reused_module_gives_one_capture_per_call(images):
    torch.manual_seed(0)
    model = SharedReLU()
    probe = nw.Probe(model, nw.InputSpec(size=(16, 16)), cache=ActivationCache())
    info = probe.layer("relu")
    assert info.calls == 2 and info.reused
    acts = probe.activations(images, ["relu", "relu@0", "relu@1"])
    first, second = acts["relu"]
    x = images.preprocess(probe.input_spec)
    with torch.no_grad():
        torch.testing.assert_close(first, torch.relu(model.conv1(x)))
        torch.testing.assert_close(second, torch.relu(model.conv2(torch.relu(model.conv1(x)))))
    assert torch.equal(acts["relu@0"], first) and torch.equal(acts["relu@1"], second)
    with pytest.raises(ValueError, match="runs 2 time"):
        probe.activations(images, ["relu@2"])


class TupleAndDictOutput(nn.Module):
    def __init__(self, as_dict: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)
        self.head = nn.Linear(2, 5)
        self.as_dict = as_dict

    def forward(self, x):
        feat = self.conv(x).mean((2, 3))
        logits = self.head(feat)
        return {"logits": logits, "features": feat} if self.as_dict else (logits, feat)


@pytest.mark.parametrize("as_dict", [False, True])
def test_tuple_and_dict_output_models(images, as_dict):
    torch.manual_seed(0)
    model = TupleAndDictOutput(as_dict)
    probe = nw.Probe(model, nw.InputSpec(size=(12, 12)), cache=ActivationCache())
    assert probe.layer_names() == ["conv", "head"]
    acts = probe.activations(images, ["conv", "head"])
    assert acts["conv"].shape == (10, 2, 10, 10) and acts["head"].shape == (10, 5)
    torch.testing.assert_close(probe.predict(images), acts["head"])


def test_cache_hit_does_no_forward(tiny_probe, images):
    counter = tiny_probe.module[4]
    first = tiny_probe.activations(images, ["5"])
    calls = counter.calls
    second = tiny_probe.activations(images, ["5"])
    assert counter.calls == calls, "a cache hit must not run the model"
    assert second["5"] is first["5"]
    # other reductions, stimuli or weights are different keys
    tiny_probe.activations(images, ["5"], reduce="avgpool")
    assert counter.calls > calls
    calls = counter.calls
    with torch.no_grad():
        tiny_probe.module[4].inner.weight.mul_(2.0)
    third = tiny_probe.activations(images, ["5"])
    assert counter.calls > calls, "changed weights must not hit the old cache entry"
    assert not torch.equal(third["5"], first["5"])


def test_cache_budget_respected(images):
    cache = ActivationCache(budget_bytes=10 * 8 * 8 * 8 * 4 + 100)  # room for one (10, 8, 8, 8) float tensor
    probe = nw.Probe(tiny_cnn(), nw.InputSpec(size=(16, 16)), cache=cache)
    probe.activations(images, ["4"])  # (10, 8, 8, 8)
    assert len(cache) == 1 and cache.used_bytes <= cache.budget_bytes
    probe.activations(images, ["2"])  # (10, 6, 8, 8): evicts the first
    assert cache.used_bytes <= cache.budget_bytes and len(cache) == 1
    probe.activations(images, ["0"])  # (10, 4, 16, 16) is larger than the whole budget: never stored
    assert cache.used_bytes <= cache.budget_bytes
    cache.budget_bytes = 0
    assert len(cache) == 0


def test_reductions_are_correct_and_deterministic(tiny_probe, images):
    full = tiny_probe.activations(images, ["2"], use_cache=False)["2"]
    avg = tiny_probe.activations(images, ["2"], reduce="avgpool", use_cache=False)["2"]
    mx = tiny_probe.activations(images, ["2"], reduce="maxpool", use_cache=False)["2"]
    torch.testing.assert_close(avg, full.mean((2, 3)))
    torch.testing.assert_close(mx, full.amax((2, 3)))
    rp = ("random_projection", 16, 7)
    a = tiny_probe.activations(images, ["2"], reduce=rp, batch_size=3, use_cache=False)["2"]
    b = tiny_probe.activations(images, ["2"], reduce=rp, batch_size=10, use_cache=False)["2"]
    assert a.shape == (10, 16)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    c = tiny_probe.activations(images, ["2"], reduce=("random_projection", 16, 8), use_cache=False)["2"]
    assert not torch.allclose(a, c)
    # a random projection roughly preserves distances (Johnson-Lindenstrauss): check the mean ratio
    d_full = torch.pdist(full.flatten(1))
    d_proj = torch.pdist(tiny_probe.activations(images, ["2"], reduce=("random_projection", 256, 0),
                                                use_cache=False)["2"])
    assert 0.8 < float((d_proj / d_full).mean()) < 1.2
    with pytest.raises(ValueError, match="unknown reduce"):
        tiny_probe.activations(images, ["2"], reduce="median")


def test_unknown_layer_suggests_close_names(resnet20, k92):
    before = snapshot(resnet20.module)
    with pytest.raises(KeyError, match="layer3"):
        resnet20.activations(k92.stimuli[:2], ["layr3"])
    with pytest.raises(KeyError, match="probe.layer_names"):
        resnet20.activations(k92.stimuli[:2], ["nothing_like_it"])
    assert_untouched(resnet20.module, before)


def test_model_that_rejects_the_input_spec():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 30 * 30, 2))
    with pytest.raises(ValueError, match=r"rejected an input of shape \(1, 3, 16, 16\)"):
        nw.Probe(model, nw.InputSpec(size=(16, 16)))
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    nw.Probe(model, nw.InputSpec(size=(32, 32)))  # the right size works


def test_layer_without_a_stimulus_axis_is_refused():
    class Pooled(nn.Module):  # mixes the whole batch into one vector: its rows are not stimuli
        def forward(self, x):
            return x.mean(0)

    model = nn.Sequential(nn.Conv2d(3, 4, 3), Pooled())
    probe = nw.Probe(model, nw.InputSpec(size=(16, 16)))
    with pytest.raises(ValueError, match=r"'1' gives an output of shape \(4, 14, 14\) for a batch of 3 stimuli"):
        probe.activations(torch.zeros(5, 3, 16, 16), ["1"], batch_size=3)
    assert not any(m._forward_hooks for m in model.modules())


def test_bad_tensor_inputs(tiny_probe):
    with pytest.raises(ValueError, match=r"model-ready \(N, 3, H, W\)"):
        tiny_probe.activations(torch.zeros(2, 16, 16), ["1"])
    with pytest.raises(ValueError, match="NaN"):
        tiny_probe.activations(torch.full((2, 3, 16, 16), float("nan")), ["1"])
    with pytest.raises(TypeError, match="StimulusSet"):
        tiny_probe.activations([1, 2, 3], ["1"])
    with pytest.raises(ValueError, match="batch_size"):
        tiny_probe.activations(torch.zeros(2, 3, 16, 16), ["1"], batch_size=0)


def test_progress_callback_and_bar(tiny_probe, images, capsys):
    seen = []
    tiny_probe.activations(images, ["1"], batch_size=4, progress=lambda d, t: seen.append((d, t)), use_cache=False)
    assert seen == [(4, 10), (8, 10), (10, 10)]
    tiny_probe.activations(images, ["1"], batch_size=4, progress=True, use_cache=False)
    err = capsys.readouterr().err   # a tqdm bar: "activations: 100%|...| 10/10 [...]"
    assert "activations" in err and "10/10" in err and "100%" in err


def test_runs_on_the_models_device_and_dtype(images):
    model = tiny_cnn().double()
    probe = nw.Probe(model, nw.InputSpec(size=(16, 16)), cache=ActivationCache())
    out = probe.activations(images, ["7"])["7"]
    assert out.dtype == torch.float64 and out.device.type == "cpu"


def test_inplace_relu_does_not_overwrite_captured_outputs(images):
    """AlexNet-style ``ReLU(inplace=True)``: the conv's captured output must keep its negative values."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.Conv2d(4, 2, 3), nn.ReLU(inplace=True))
    probe = nw.Probe(model, nw.InputSpec(size=(12, 12)), cache=ActivationCache())
    acts = probe.activations(images, ["0", "1", "2", "3"])
    x = images.preprocess(probe.input_spec)
    with torch.no_grad():
        conv = model[0](x)
    torch.testing.assert_close(acts["0"], conv)
    assert (acts["0"] < 0).any()
    torch.testing.assert_close(acts["1"], torch.relu(conv))
    torch.testing.assert_close(acts["3"], torch.relu(model[2](torch.relu(conv))))


def test_aliased_outputs_are_captured_once(resnet20, k92):
    """A container returns its last child's tensor: both names give the same values, computed once."""
    stim = k92.stimuli[:4]
    acts = resnet20.activations(stim, ["layer1", "layer1.2", "layer1.2.relu2"], reduce="avgpool", use_cache=False)
    assert acts["layer1"] is acts["layer1.2.relu2"] and acts["layer1.2"] is acts["layer1.2.relu2"]
    alone = resnet20.activations(stim, ["layer1"], reduce="avgpool", use_cache=False)["layer1"]
    torch.testing.assert_close(alone, acts["layer1"])


def test_engine_calls_on_one_model_from_two_threads_do_not_collide(images):
    """A widget's worker thread and a notebook cell may use the same model at once: each call holds the
    model's lock, so neither sees the other's hooks or early stop."""
    import threading

    torch.manual_seed(0)
    probe_a = nw.Probe(tiny_cnn(), nw.InputSpec(size=(16, 16)), cache=ActivationCache(0))
    probe_b = nw.Probe(probe_a.module, probe_a.input_spec, cache=ActivationCache(0))  # same module
    expected = {"1": probe_a.activations(images, ["1"])["1"], "7": probe_a.activations(images, ["7"])["7"]}
    errors = []

    def work(probe, layer):
        try:
            for _ in range(20):
                got = probe.activations(images, [layer], batch_size=3)[layer]
                torch.testing.assert_close(got, expected[layer])
        except BaseException as err:  # noqa: BLE001 - reported to the main thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(probe_a, "1")), threading.Thread(target=work, args=(probe_b, "7"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_grayscale_model_with_the_default_normalisation(images):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    probe = nw.Probe(model, nw.InputSpec(size=(16, 16), channels=1), cache=ActivationCache())
    acts = probe.activations(images, "0")["0"]
    x = images.preprocess(probe.input_spec)
    assert x.shape == (10, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(acts, model[0](x))


def test_model_ready_tensors_pass_within_the_documented_margin(tiny_probe):
    """Default spec (mean 0, std 1): values in pixel units must lie in [-10, 11] (MODEL_READY_MARGIN = 10)."""
    from neuro_widgets.engine.probe import MODEL_READY_MARGIN

    assert MODEL_READY_MARGIN == 10.0
    g = torch.Generator().manual_seed(0)
    noisy = torch.rand(4, 3, 16, 16, generator=g) + 0.5 * torch.randn(4, 3, 16, 16, generator=g)
    for ok in (noisy, torch.randn(4, 3, 16, 16, generator=g) * 2, torch.full((1, 3, 16, 16), 10.9),
               torch.full((1, 3, 16, 16), -9.9)):
        tiny_probe.predict(ok)
    for bad in (torch.full((1, 3, 16, 16), 11.5), torch.full((1, 3, 16, 16), -10.5)):
        with pytest.raises(ValueError, match="not normalised for this probe"):
            tiny_probe.predict(bad)
    # bfloat16 inputs are checked and hashed for the cache like any other float tensor
    x = torch.rand(2, 3, 16, 16, generator=g)
    a = tiny_probe.activations(x.bfloat16(), "0")["0"]
    b = tiny_probe.activations(x.bfloat16().float(), "0")["0"]
    torch.testing.assert_close(a, b, rtol=0, atol=0)
