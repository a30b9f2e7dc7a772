"""End to end in JupyterLab, in headless Chromium: build a LayerExplorer on the trained ResNet-20 with the
92-image data set, click a layer, see all three panels fill with real content, click a channel-contribution bar
and see that channel's optimal stimulus, save, reload, and see the results again. Screenshots of every step go
to test-artifacts/e2e/; click-to-render timings (measured in the page) go to test-artifacts/e2e/timings.json."""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from .lab import (
    REPO,
    browser_page,
    click_and_time,
    click_and_time_all,
    command,
    install_timing_probe,
    jupyter_lab,
    notebook,
    open_notebook,
    ping_ms,
    run_all,
    serve_widget_cdn,
    watchdog,
)

pytestmark = pytest.mark.browser

ARTIFACTS = REPO / "test-artifacts" / "e2e"
NAME = "explore.ipynb"
SETUP = """\
import neuro_widgets as nw
probe = nw.load_model("cifar_resnet20")
ds = nw.datasets.kriegeskorte2008()
w = nw.LayerExplorer(probe, ds, featurevis={"steps": 24, "page_size": 16, "k": 4},
                     attribution={"methods": ["saliency", "integrated_gradients", "gradcam"]},
                     alignment={"n_boot": 100})
w"""

# the extension: a Probe as the last expression shows its layer tree; %explore builds a LayerExplorer
EXTENSION = """\
%load_ext neuro_widgets
probe"""


def shot(page, name: str, target=None) -> Path:
    path = ARTIFACTS / f"{name}.png"
    (target or page).screenshot(path=str(path))
    return path


def wait_images(page, selector: str, at_least: int = 1) -> None:
    """Wait until ``at_least`` images under ``selector`` have loaded and decoded (real pixels, not placeholders)."""
    page.wait_for_function(
        """([sel, n]) => { const imgs = [...document.querySelectorAll(sel)];
             return imgs.length >= n && imgs.every((i) => i.complete && i.naturalWidth > 0); }""",
        arg=[selector, at_least])


def test_layer_explorer_in_jupyterlab(tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    nb_path = tmp_path / NAME
    nb_path.write_text(json.dumps(notebook([SETUP, EXTENSION, "%explore probe ds"])))
    env = {"NEURO_WIDGETS_HOME": os.environ.get("NEURO_WIDGETS_HOME", "")}
    timings = {}
    with watchdog(540), jupyter_lab(tmp_path, env) as url, browser_page() as page:
        open_notebook(page, url, NAME)
        run_all(page)
        page.wait_for_selector(".nw-root .nw-tree-row[data-layer='layer3']", timeout=180_000)
        install_timing_probe(page)
        page.wait_for_function("() => document.querySelectorAll('.nw-root').length === 3")
        kinds = page.eval_on_selector_all(
            ".nw-root", "roots => roots.map(r => [r.querySelectorAll('.nw-tree-row').length, "
                        "r.querySelectorAll('.nw-panel').length, r.querySelector('.nw-title').textContent])")
        assert kinds[0][0] > 10 and kinds[0][1] >= 1  # the explorer of cell 1 (blocks collapsed)
        assert kinds[1][0] == kinds[0][0] and kinds[1][1] == 0  # `probe` displayed as its layer tree only
        assert kinds[2][1] >= 1 and kinds[2][2].endswith("kriegeskorte2008")  # %explore probe ds
        shot(page, "01_opened")

        # click layer3: the optimal-stimuli tab fills (first progress, then the final sheet)
        first = click_and_time_all(page, "layer3", ["progress", "step"])
        timings["first_click_first_progress_ms"] = first["progress"]
        timings["first_click_first_engine_step_ms"] = first["step"]
        page.wait_for_selector(".nw-sheet[data-layer='layer3'][data-final='true']")
        wait_images(page, ".nw-sheet .nw-tile img", 16)
        shot(page, "02_layer3_optimal_stimuli")

        # attributions: the overlays and the ranked channel bars
        page.click(".nw-tab[data-tab='attribution']")
        page.wait_for_selector(".nw-maps[data-layer='layer3'] .nw-map[data-method='gradcam'] img")
        wait_images(page, ".nw-maps .nw-map img", 4)
        page.wait_for_selector(".nw-contrib[data-layer='layer3'] .nw-bar")
        shot(page, "03_layer3_attributions")
        page.locator(".nw-widget").first.screenshot(path=str(ARTIFACTS / "widget.png"))

        # alignment: scores for mIT and hIT with CIs
        page.click(".nw-tab[data-tab='alignment']")
        page.wait_for_selector(".nw-scores[data-layer='layer3'] tr[data-region='hIT'] .nw-align-score")
        scores = page.eval_on_selector_all(
            ".nw-scores tr[data-region]",
            "rows => rows.map(r => [r.dataset.region, r.querySelector('.nw-align-score').textContent])")
        assert [r for r, _ in scores] == ["mIT", "hIT"]
        assert all(any(ch.isdigit() for ch in text) for _, text in scores), scores
        page.wait_for_selector(".nw-rdm[data-layer='layer3'] canvas[data-which='region']")
        shot(page, "04_layer3_alignment")

        # click the strongest channel-contribution bar -> that channel's optimal stimulus opens
        page.click(".nw-tab[data-tab='attribution']")
        channel = page.get_attribute(".nw-contrib .nw-bar", "data-channel")
        page.click(f".nw-contrib .nw-bar[data-channel='{channel}']")
        page.wait_for_selector(f".nw-detail[data-channel='{channel}'] img.nw-large")
        wait_images(page, ".nw-detail img", 2)
        assert page.get_attribute(".nw-tab.nw-active", "data-tab") == "featurevis"
        shot(page, "05_channel_from_bar")

        # timings, measured in the page: uncached layer -> first progress; cached layer -> rendered results
        timings["uncached_layer2_first_progress_ms"] = click_and_time(page, "layer2", "progress", panel="*")
        page.wait_for_selector(".nw-sheet[data-layer='layer2'][data-final='true']")
        timings["uncached_layer1_first_engine_step_ms"] = click_and_time(page, "layer1", "step", panel="*")
        page.wait_for_selector(".nw-sheet[data-layer='layer1'][data-final='true']")
        page.evaluate("() => new Promise((r) => setTimeout(r, 200))")
        cached = []
        for layer in ["layer3", "layer2"] * 4:
            cached.append(click_and_time(page, layer, "result", panel="featurevis"))
        timings["cached_click_to_render_ms"] = cached
        timings["cached_click_to_render_median_ms"] = statistics.median(cached)
        pings = [ping_ms(page, i) for i in range(8)]
        timings["kernel_round_trip_ms"] = pings
        timings["kernel_round_trip_median_ms"] = statistics.median(pings)
        page.click(".nw-tree-row[data-layer='layer3']")
        page.wait_for_selector(".nw-sheet[data-layer='layer3'][data-final='true']")
        wait_images(page, ".nw-sheet .nw-tile img", 16)
        # all three panels of layer3 are in the state that is saved next
        page.click(".nw-tab[data-tab='attribution']")
        page.wait_for_selector(".nw-maps[data-layer='layer3'] .nw-map[data-method='gradcam'] img")
        page.click(".nw-tab[data-tab='alignment']")
        page.wait_for_selector(".nw-scores[data-layer='layer3'] tr[data-region='hIT'] .nw-align-score")
        page.click(".nw-tab[data-tab='featurevis']")

        # save (widget state included) and reload: the results are still shown
        command(page, "docmanager:save")
        page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
        saved = json.loads(nb_path.read_text())
        state = saved["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        ours = [m["state"] for m in state.values() if m["state"].get("_anywidget_id", "").endswith("LayerExplorer")]
        clicked = [m for m in ours if m["selected_layer"] == "layer3"]
        assert len(ours) == 2 and len(clicked) == 1  # the clicked explorer, and the one %explore built
        assert clicked[0]["fv_sheet"]["layer"] == "layer3"
        assert clicked[0]["align_result"]["regions"] == ["mIT", "hIT"]
        # shut the kernel down so the reloaded page can only show what the notebook file saved
        command(page, "kernelmenu:shutdown")
        page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.sessionContext.session")
        page.reload()
        page.wait_for_selector(".nw-sheet[data-layer='layer3'] .nw-tile img", timeout=120_000)
        wait_images(page, ".nw-sheet .nw-tile img", 16)
        shot(page, "06_reloaded_from_saved_state")

    (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=2))
    readme_shot = REPO / "docs" / "screenshot.png"
    if os.environ.get("NW_UPDATE_SCREENSHOT"):
        shutil.copyfile(ARTIFACTS / "widget.png", readme_shot)

    # the static HTML export carries the saved widget state (the results) for the HTML widget manager
    html = tmp_path / "explore.html"
    subprocess.run([str(Path(sys.executable).parent / "jupyter"), "nbconvert", "--to", "html", str(nb_path),
                    "--output", str(html)], check=True, capture_output=True, timeout=120)
    shutil.copyfile(html, ARTIFACTS / "explore.html")
    text = html.read_text()
    assert "application/vnd.jupyter.widget-state+json" in text
    assert '"fv_sheet"' in text and '"layer3"' in text
    # ... and the HTML widget manager draws them from that state, no kernel: the CDN files it fetches are served
    # from js/node_modules, every other request is refused
    with watchdog(180), browser_page(1200, 1400) as page:
        asked = serve_widget_cdn(page)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(html.as_uri())
        page.wait_for_selector(".nw-root .nw-sheet[data-layer='layer3'][data-final='true'] .nw-tile img")
        # mark the clicked explorer's root (the panels inside it are swapped as tabs change)
        page.evaluate("""() => { document.querySelector(".nw-sheet[data-layer='layer3']").closest(".nw-root")
                                 .dataset.test = "clicked"; }""")
        clicked = ".nw-root[data-test='clicked']"
        wait_images(page, f"{clicked} .nw-sheet .nw-tile img", 16)
        assert page.text_content(f"{clicked} .nw-selected-layer") == "layer: layer3"
        page.locator(clicked).screenshot(path=str(ARTIFACTS / "08_nbconvert_html_export.png"))
        page.click(f"{clicked} .nw-tab[data-tab='attribution']")
        page.wait_for_selector(f"{clicked} .nw-maps[data-layer='layer3'] .nw-map[data-method='gradcam'] img")
        wait_images(page, f"{clicked} .nw-maps .nw-map img", 4)
        page.click(f"{clicked} .nw-tab[data-tab='alignment']")
        regions = page.eval_on_selector_all(f"{clicked} .nw-scores tr[data-region]",
                                            "rows => rows.map(r => r.dataset.region)")
        assert regions == ["mIT", "hIT"]
        assert errors == [], errors
    assert any("html-manager" in u for u in asked) and any("anywidget" in u for u in asked), asked
