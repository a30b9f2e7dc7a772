"""Issue 14 in a real browser (JupyterLab in headless Chromium, a tiny model so it runs in seconds): the panels
draw axis titles, value axes, colour bars and category bands, and each panel's "save figure" buttons download a
valid PNG (print resolution) and SVG (text kept as text) drawn by the kernel."""
from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from .lab import REPO, browser_page, jupyter_lab, notebook, open_notebook, run_all, watchdog
from .test_jupyterlab import ARTIFACTS

pytestmark = pytest.mark.browser

NAME = "figures.ipynb"
SETUP = """\
import numpy as np, torch
from torch import nn
import neuro_widgets as nw
from neuro_widgets.engine.neural import NeuralRDMs
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                    nn.Flatten(), nn.Linear(128, 4))
probe = nw.Probe(net, nw.InputSpec(size=(8, 8), mean=(0.5,) * 3, std=(0.25,) * 3))
rng = np.random.default_rng(0)
stim = nw.StimulusSet(rng.integers(0, 256, (24, 8, 8, 3), dtype=np.uint8),
                      metadata={"category": np.repeat(["face", "body", "tool"], 8)})
rdms = {r: np.stack([np.asarray(nw.alignment.rdm(rng.normal(size=(24, 5)))) for _ in range(3)]) for r in ("V4", "IT")}
data = nw.datasets.Dataset("tiny", stim, NeuralRDMs(rdms, stimulus_ids=stim.ids))
w = nw.LayerExplorer(probe, data, featurevis={"steps": 4, "page_size": 8, "k": 2},
                     attribution={"methods": ["saliency", "gradcam"], "top": 8},
                     alignment={"n_boot": 10, "control": False}, layer="3")
w"""
SVG = "{http://www.w3.org/2000/svg}"


def download(page, selector: str) -> bytes:
    with page.expect_download(timeout=120_000) as info:  # drawn at 300 dpi by a busy kernel
        page.click(selector)
    return Path(info.value.path()).read_bytes()


def svg_texts(data: bytes) -> set:
    return {"".join(el.itertext()).strip() for el in ET.fromstring(data).iter(f"{SVG}text")}


def test_panels_draw_axes_and_save_figures(tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (tmp_path / NAME).write_text(json.dumps(notebook([SETUP])))
    env = {"NEURO_WIDGETS_HOME": os.environ.get("NEURO_WIDGETS_HOME", ""),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))}
    with watchdog(480), jupyter_lab(tmp_path, env) as url, browser_page(1300, 1600) as page:
        open_notebook(page, url, NAME)
        run_all(page)
        page.wait_for_selector(".nw-sheet[data-layer='3'][data-final='true']", timeout=180_000)

        # attributions: a colour bar on the maps, a value axis under the bars, titled with the target
        page.click(".nw-tab[data-tab='attribution']")
        page.wait_for_selector(".nw-contrib[data-layer='3'] .nw-bar")
        page.wait_for_selector(".nw-maps[data-layer='3'] .nw-map-colorbar .nw-colorbar")
        assert page.text_content(".nw-contrib [data-axis='x']").startswith("contribution to predicted class")
        assert page.locator(".nw-contrib .nw-x-axis .nw-tick").count() > 2
        page.wait_for_selector(".nw-save-figure[data-figure='contributions']:not([hidden])")
        page.locator(".nw-panel.nw-attribution").screenshot(path=str(ARTIFACTS / "14_attribution_axes.png"))
        png = download(page, ".nw-save-figure[data-figure='contributions'] [data-format='png']")
        img = Image.open(io.BytesIO(png))
        img.verify()
        assert img.format == "PNG" and min(img.size) > 600  # 300 dpi: a 4-inch figure is > 1000 px wide
        svg = download(page, ".nw-save-figure[data-figure='contributions'] [data-format='svg']")
        assert {"channel of 3"} <= svg_texts(svg)
        assert any(t.startswith("contribution to predicted class") for t in svg_texts(svg))

        # the sanity check's curve: titled axes, nice y ticks; its figure downloads too
        page.click(".nw-attribution button:has-text('Sanity check')")
        page.wait_for_selector(".nw-sanity .nw-plot [data-axis='y']")
        assert page.locator(".nw-sanity .nw-y-axis .nw-tick").count() > 2
        page.locator(".nw-sanity").screenshot(path=str(ARTIFACTS / "14_sanity_axes.png"))
        page.wait_for_selector(".nw-save-figure[data-figure='sanity']:not([hidden])")
        assert download(page, ".nw-save-figure[data-figure='sanity'] [data-format='png']")[:4] == b"\x89PNG"

        # alignment and RDMs: a titled y axis with nice ticks; both RDMs with colour bars and category bands
        page.click(".nw-tab[data-tab='alignment']")
        page.wait_for_selector(".nw-curve [data-axis='y']")
        assert page.locator(".nw-curve .nw-y-axis .nw-tick").count() > 2
        page.wait_for_selector(".nw-rdm .nw-rdm-grid .nw-colorbar")
        assert page.locator(".nw-rdm .nw-rdm-grid .nw-colorbar").count() == 2
        categories = page.eval_on_selector_all(".nw-rdm .nw-bands-left .nw-category",
                                               "ts => ts.map(t => t.textContent)")
        assert categories[:3] == ["face", "body", "tool"]
        page.locator(".nw-panel.nw-alignment").screenshot(path=str(ARTIFACTS / "14_alignment_axes.png"))
        page.locator(".nw-panel.nw-rdm").screenshot(path=str(ARTIFACTS / "14_rdm_colourbars.png"))
        svg = download(page, ".nw-save-figure[data-figure='rdm'] [data-format='svg']")
        assert {"face", "body", "tool", "3 (1 - Pearson r)"} <= svg_texts(svg)
        png = download(page, ".nw-save-figure[data-figure='alignment'] [data-format='png']")
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        Image.open(io.BytesIO(png)).verify()

        # the channel view: an 8-px render shown smoothed at 224 px, and said so; its figure downloads
        page.click(".nw-tab[data-tab='featurevis']")
        page.click(".nw-sheet .nw-tile[data-channel='2']")
        page.wait_for_selector(".nw-detail[data-channel='2'] img.nw-large")
        assert page.text_content(".nw-scale-note") == "rendered at 8×8 px, shown 28× larger, smoothed"
        assert page.eval_on_selector("img.nw-large", "i => getComputedStyle(i).imageRendering") == "auto"
        page.wait_for_selector(".nw-detail .nw-plot [data-axis='x']")
        page.locator(".nw-detail-wrap").screenshot(path=str(ARTIFACTS / "14_channel_view.png"))
        page.wait_for_selector(".nw-save-figure[data-figure='featurevis_detail']:not([hidden])")
        svg = download(page, ".nw-save-figure[data-figure='featurevis_detail'] [data-format='svg']")
        assert "3 channel 2" in svg_texts(svg)
