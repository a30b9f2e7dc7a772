"""Every panel on the zoo's ImageNet models at their own 224-px input (issue 12): a LayerExplorer on
MobileNetV1 x0.25 and EfficientNet-Lite0 (real weights) clicked on every top-level block; every panel ends done or
says why it does not apply — never an error, never still running."""
from __future__ import annotations

import pytest
from test_widgets_torchvision import click_every_block, data  # noqa: F401  (the 8-image data set fixture)

import neuro_widgets as nw


@pytest.mark.parametrize("name", ["mobilenet_v1_025", "efficientnet_lite0"])
def test_every_panel_on_every_block_at_224_px(name, data):  # noqa: F811
    probe = nw.load_model(name)
    assert probe.input_spec.size == (224, 224)
    problems = click_every_block(probe, data)
    assert not problems, "\n".join(problems)
