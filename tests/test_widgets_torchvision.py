"""Every panel works on the common torchvision architectures (issue 11 item 4): a LayerExplorer on AlexNet,
VGG-11, ResNet-18/50, MobileNetV3, EfficientNet-B0 and a ViT (random weights, 32x32 inputs; AlexNet's
stride needs 64x64) clicked on every
top-level block; every panel ends done, or says why it does not apply (a notice, or a method skipped with
its reason) — never an error, never still running."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import neuro_widgets as nw
from neuro_widgets.engine.neural import NeuralRDMs

torchvision = pytest.importorskip("torchvision")

SIZE = {"alexnet": 64}  # the others at 32x32
SLOTS = ("featurevis", "attribution", "contributions", "alignment", "rdm")


def tiny_vit() -> torch.nn.Module:
    from torchvision.models.vision_transformer import VisionTransformer

    return VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                             num_classes=10)


BUILDERS = {
    "alexnet": lambda: torchvision.models.alexnet(weights=None),
    "vgg11": lambda: torchvision.models.vgg11(weights=None),
    "resnet18": lambda: torchvision.models.resnet18(weights=None),
    "resnet50": lambda: torchvision.models.resnet50(weights=None),
    "mobilenet_v3_small": lambda: torchvision.models.mobilenet_v3_small(weights=None),
    "efficientnet_b0": lambda: torchvision.models.efficientnet_b0(weights=None),
    "vit": tiny_vit,
}


@pytest.fixture(scope="module")
def data(k92):
    idx = np.arange(0, 92, 12)[:8]
    stimuli = k92.stimuli[idx]
    neural = NeuralRDMs({r: k92.neural.rdms(r)[:, idx][:, :, idx] for r in k92.neural.regions},
                        stimulus_ids=stimuli.ids, labels={r: k92.neural.labels(r) for r in k92.neural.regions})
    return nw.datasets.Dataset("k92-8", stimuli, neural)


def click_every_block(probe, data):
    """A LayerExplorer with the lightest settings clicked on every top-level block; the problems found (a panel
    that did not end done or with a notice), one line each."""
    w = nw.LayerExplorer(probe, data, featurevis={"steps": 2, "page_size": 2, "k": 2},
                         attribution={"methods": ["saliency", "gradcam"], "top": 4},
                         alignment={"n_boot": 5, "control": False})
    blocks = [row["name"] for row in w.layers if row["depth"] == 0]
    assert len(blocks) >= 3
    problems = []
    for block in blocks:
        w.select(block).wait(300)
        for slot in SLOTS:
            st = w.jobs[slot]
            if st["state"] not in ("done", "notice"):
                problems.append(f"{block} {slot}: {st['state']} {st.get('error')}")
        if w.jobs["attribution"]["state"] == "done":
            r = w.attr_result
            assert r["layer"] == block and len(r["maps"]) + len(r["skipped"]) == 2
            assert all("gradcam" in s["note"] for s in r["skipped"])
    return problems


@pytest.mark.parametrize("arch", list(BUILDERS))
def test_every_panel_on_every_block(arch, data):
    torch.manual_seed(0)
    model = BUILDERS[arch]().eval()
    size = SIZE.get(arch, 32)
    probe = nw.Probe(model, nw.InputSpec(size=(size, size), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)))
    problems = click_every_block(probe, data)
    assert not problems, "\n".join(problems)
