"""Shared fixtures. Tests read the real data and models from $NEURO_WIDGETS_HOME (../shared), never the network."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
if "NEURO_WIDGETS_HOME" not in os.environ and (SHARED / "data").is_dir():
    os.environ["NEURO_WIDGETS_HOME"] = str(SHARED)

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def resnet20():
    """The trained CIFAR-10 ResNet-20 probe (shared; tests must leave it untouched)."""
    import neuro_widgets as nw

    return nw.load_model("cifar_resnet20")


@pytest.fixture(scope="session")
def k92():
    import neuro_widgets as nw

    return nw.datasets.kriegeskorte2008()


@pytest.fixture(scope="session")
def a78():
    import neuro_widgets as nw

    return nw.datasets.algonauts2019_78()


def snapshot(module: torch.nn.Module) -> dict:
    """Everything an engine call must leave as it was: weights (bit-exact), flags, grads."""
    return {
        "state": {k: v.detach().clone() for k, v in module.state_dict().items()},
        "training": [m.training for m in module.modules()],
        "requires_grad": [p.requires_grad for p in module.parameters()],
        "grads": [None if p.grad is None else p.grad.clone() for p in module.parameters()],
    }


def assert_untouched(module: torch.nn.Module, before: dict) -> None:
    from neuro_widgets.engine.hooks import has_hooks

    after = snapshot(module)
    assert before["state"].keys() == after["state"].keys()
    for k in before["state"]:
        assert torch.equal(before["state"][k], after["state"][k]), f"weight {k} changed"
    assert before["training"] == after["training"], "training flags changed"
    assert before["requires_grad"] == after["requires_grad"], "requires_grad changed"
    for g0, g1 in zip(before["grads"], after["grads"]):
        assert (g0 is None and g1 is None) or (g0 is not None and g1 is not None and torch.equal(g0, g1)), \
            ".grad changed"
    assert not has_hooks(module), "hooks left on the model"


def seed_weights(net: torch.nn.Module, generator: torch.Generator) -> torch.nn.Module:
    """Every parameter of ``net`` drawn from N(0, 1 / fan-in) by ``generator``: the same small model on every
    machine, whatever torch's global RNG holds."""
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * (1 / np.sqrt(max(p[0].numel(), 1))))
    return net


def gabor_conv(orientations=(0.0, 60.0, 120.0), size: int = 15, sf: float = 0.15) -> torch.nn.Conv2d:
    """A one-input-channel conv whose channels are Gabor filters (sigma 3 px, ``sf`` cycles per pixel) at
    ``orientations`` degrees: units with a known preferred orientation and SF."""
    r = (size - 1) / 2
    rows, cols = np.mgrid[0:size, 0:size]
    y, x = r - rows, cols - r
    kernels = []
    for ori in orientations:
        along = -x * np.sin(np.deg2rad(ori)) + y * np.cos(np.deg2rad(ori))
        kernels.append(np.exp(-(x ** 2 + y ** 2) / 18.0) * np.cos(2 * np.pi * sf * along))
    conv = torch.nn.Conv2d(1, len(kernels), size, padding=size // 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(np.stack(kernels), dtype=torch.float32)[:, None])
    return conv
