"""The standalone HTML export, opened from disk in headless Chromium with no server and no network: the
results the widget showed are drawn again by the bundled front end from the saved state."""
from __future__ import annotations

import pytest

import neuro_widgets as nw

from .lab import browser_page, watchdog
from .test_jupyterlab import ARTIFACTS, wait_images

pytestmark = pytest.mark.browser


def test_exported_page_shows_results_offline(resnet20, k92, tmp_path):
    w = nw.LayerExplorer(resnet20, k92, featurevis={"steps": 4, "page_size": 8, "k": 3},
                         attribution={"methods": ["saliency", "gradcam"]}, alignment={"n_boot": 20},
                         layer="layer3")
    w.wait(300)
    assert all(st["state"] in ("done", "idle") for st in w.jobs.values()), w.jobs  # idle: no channel opened
    assert w.figures  # the live widget offers its figures
    page_path = w.to_html(tmp_path / "layer3.html")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with watchdog(180), browser_page(1200, 1400) as page:
        requests = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri())
        page.wait_for_selector("#nw-widget[data-ready='true'] .nw-sheet[data-layer='layer3'][data-final='true']")
        wait_images(page, ".nw-sheet .nw-tile img", 8)
        assert page.text_content(".nw-selected-layer") == "layer: layer3"
        page.click(".nw-tab[data-tab='attribution']")
        wait_images(page, ".nw-maps .nw-map img", 3)
        assert page.locator(".nw-contrib .nw-bar").count() == 24
        page.click(".nw-tab[data-tab='alignment']")
        regions = page.eval_on_selector_all(".nw-scores tr[data-region]", "rows => rows.map(r => r.dataset.region)")
        assert regions == ["mIT", "hIT"]
        assert page.eval_on_selector(".nw-rdm canvas[data-which='layer']", "c => c.width") == 92
        # no kernel draws figures in a saved page, so it offers no "save figure" buttons
        assert page.eval_on_selector_all(".nw-save-figure", "els => els.filter(e => !e.hidden).length") == 0
        page.screenshot(path=str(ARTIFACTS / "07_static_html_export.png"))
    assert requests and all(u.startswith(("file:", "blob:", "data:")) for u in requests), requests
