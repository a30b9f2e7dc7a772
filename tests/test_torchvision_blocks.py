"""Every panel on every top-level block of torchvision's standard architectures (random weights, small inputs):
each attribution method, the channel contributions, a short render, and a sweep either work or are refused with
the engine's message saying why the block does not fit — never an unrelated error from deep inside captum.

AlexNet's ``features.3`` used to fail in captum's LayerIntegratedGradients (an in-place ReLU on the layer output
captum makes a leaf), and so did every later block of a model with in-place activations.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from conftest import assert_untouched, snapshot
from torch import nn

import neuro_widgets as nw
from neuro_widgets.engine.attribution.registry import METHODS
from neuro_widgets.engine.attribution.relu_fix import inspect_activations
from neuro_widgets.engine.featurevis import render
from neuro_widgets.engine.neural import NeuralRDMs
from neuro_widgets.engine.rng import drawing_from

torchvision = pytest.importorskip("torchvision")

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients",
                                        "ignore:Setting .*hooks:UserWarning", "ignore::UserWarning:captum")

#: (builder, input size): the smallest inputs each architecture accepts
MODELS = {
    "alexnet": (lambda: torchvision.models.alexnet(weights=None), 64),
    "vgg11": (lambda: torchvision.models.vgg11(weights=None), 32),
    "resnet18": (lambda: torchvision.models.resnet18(weights=None), 32),
    "resnet50": (lambda: torchvision.models.resnet50(weights=None), 32),
    "mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(weights=None), 32),
    "efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(weights=None), 32),
    "vit_b_16": (lambda: torchvision.models.vit_b_16(weights=None, image_size=32), 32),
}

#: the engine's refusals when a method does not apply to a block (or a model)
NOT_APPLICABLE = re.compile(r"needs a spatial \(C, H, W\) map|runs \d+ times per forward|does not output a tensor|"
                            r"cannot run on this model: its forward calls activation functions directly|"
                            r"has no channel axis")

INPUT_METHODS = {"saliency": {}, "integrated_gradients": {"n_steps": 4}, "smoothgrad": {"nt_samples": 2},
                 "gradient_shap": {"n_samples": 2, "n_baselines": 2}, "deeplift": {}, "input_x_gradient": {},
                 "guided_backprop": {}, "occlusion": {"window": 16, "stride": 16}}


def blocks(probe: nw.Probe) -> list:
    """The blocks a user clicks: each top-level module, and the members of top-level containers (``features.3``,
    ``layer1.0``, ``classifier.1``, ViT's ``encoder.layers.encoder_layer_0``)."""
    modules = dict(probe.module.named_modules())
    out = []
    for info in probe.layers():
        parent = info.name.rpartition(".")[0]
        grandparent = parent.rpartition(".")[0]
        top = info.depth == 0
        member = parent and type(modules[parent]) in (nn.Sequential, nn.ModuleList) and (
            modules[parent] in dict(probe.module.named_children()).values()
            or (grandparent in modules and modules[grandparent] in dict(probe.module.named_children()).values()))
        if top or member:
            out.append(info.name)
    return out


def works_or_refused(call, applicable: bool):
    """The result when the method applies; otherwise check it is refused with the engine's own message."""
    if applicable:
        return call()
    with pytest.raises(ValueError, match=NOT_APPLICABLE):
        call()
    return None


@pytest.mark.parametrize("name", list(MODELS))
def test_every_panel_on_every_block(name):
    build, size = MODELS[name]
    with drawing_from(0):
        model = build().eval()
    probe = nw.Probe(model, nw.InputSpec(size=(size, size), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)))
    before = snapshot(model)
    inplace_before = [getattr(m, "inplace", None) for m in model.modules()]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, size, size, 3), dtype=np.uint8)
    one = images[:1]
    functional = inspect_activations(probe).functional

    for method, params in INPUT_METHODS.items():
        relu_method = METHODS[method].needs_relu_modules
        res = works_or_refused(lambda: nw.attribution.attribute(probe, one, method, "predicted", **params),
                               applicable=not (relu_method and functional))
        if res is not None:
            assert res.attributions.shape == (1, 3, size, size) and torch.isfinite(res.attributions).all(), method

    names = blocks(probe)
    assert len(names) >= 4
    spatial_seen = False
    for block in names:
        info = probe.layer(block)
        once, tensor = info.calls == 1, info.output_shape is not None
        spatial = once and tensor and len(info.output_shape) == 3
        cam = works_or_refused(lambda: nw.attribution.attribute(probe, one, "gradcam", "predicted", layer=block),
                               applicable=spatial)
        if cam is not None:
            assert cam.attributions.shape == (1, size, size) and torch.isfinite(cam.attributions).all(), block
            if not spatial_seen and not functional:  # guided Grad-CAM once per model: its layer part is Grad-CAM's
                guided = nw.attribution.attribute(probe, one, "guided_gradcam", "predicted", layer=block)
                assert torch.isfinite(guided.attributions).all()
            spatial_seen = True
        contrib = works_or_refused(
            lambda: nw.attribution.layer_contributions(probe, block, one, target="predicted", n_steps=2),
            applicable=once and tensor)
        if contrib is not None:
            assert contrib.values.shape == (info.output_shape[0],) and torch.isfinite(contrib.values).all(), block
        unit = works_or_refused(
            lambda: nw.attribution.attribute(probe, one, "saliency", nw.attribution.Unit(block, 0)),
            applicable=once and tensor)
        if unit is not None:
            assert torch.isfinite(unit.attributions).all(), block
        drawn = works_or_refused(lambda: render(probe, f"{block}:0", steps=2, size=size, transforms=None),
                                 applicable=tensor and len(info.output_shape) >= 1)
        if drawn is not None:
            assert np.isfinite(drawn.images).all() and drawn.images.shape == (1, size, size, 3), block
    assert spatial_seen

    swept = [b for b in names if probe.layer(b).calls == 1 and probe.layer(b).output_shape is not None]
    rdms = rng.random((2, 8, 8))
    rdms = (rdms + rdms.transpose(0, 2, 1)) / 2
    rdms[:, np.arange(8), np.arange(8)] = 0
    stim = nw.StimulusSet(images)
    neural = NeuralRDMs({"V": rdms}, stimulus_ids=stim.ids)
    acts = probe.activations(stim, swept)
    # a layer whose pattern is constant within a stimulus (ViT's zero-initialised head) has no correlation RDM
    varying = [b for b in swept if float(acts[b].flatten(1).double().std(1).min()) > 0]
    res = nw.alignment.sweep(probe, neural, stimuli=stim, layers=varying, n_boot=5, stratify=None)
    assert [r.layer for r in res.rows] == varying
    for b in (b for b in swept if b not in varying):
        try:
            nw.alignment.sweep(probe, neural, stimuli=stim, layers=[b], n_boot=5, stratify=None)
        except ValueError as err:
            assert "constant" in str(err), err

    assert_untouched(model, before)
    assert [getattr(m, "inplace", None) for m in model.modules()] == inplace_before
