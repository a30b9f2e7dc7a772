"""JupyterLab in headless Chromium on localhost, for the end-to-end test and the timing benchmark.

The recipe (see the project notes): Debian's Chromium at /usr/bin/chromium driven by Playwright for Python;
``jupyter lab`` without token or browser, a fresh workspaces folder, the notebook opened with ``?reset``,
the kernel awaited before the run command is fired (not awaited). Everything runs under a watchdog.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parents[2]


def notebook(cells: List[str]) -> Dict[str, Any]:
    return {
        "cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                   "source": src} for i, src in enumerate(cells)],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def watchdog(seconds: int) -> Iterator[None]:
    """Raise TimeoutError in the main thread if the block runs longer than ``seconds``."""
    def fire(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"end-to-end run exceeded its {seconds} s watchdog")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def jupyter_lab(root: Path, env: Optional[Dict[str, str]] = None) -> Iterator[str]:
    """A JupyterLab server on localhost serving ``root``; yields its base URL. Widget state saving is on."""
    settings = root / ".lab-settings" / "@jupyter-widgets" / "jupyterlab-manager"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": True}))
    news = root / ".lab-settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True, exist_ok=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    workspaces = root / ".lab-workspaces"
    workspaces.mkdir(exist_ok=True)
    port = free_port()
    bindir = Path(sys.executable).parent
    cmd = [str(bindir / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True", "--allow-root",
           f"--ServerApp.root_dir={root}", f"--LabApp.workspaces_dir={workspaces}",
           "--LabApp.expose_app_in_browser=True"]
    full_env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(root / ".lab-settings"),
                "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
    log = open(root / "jupyter.log", "w")
    proc = subprocess.Popen(cmd, cwd=root, env=full_env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited early:\n{(root / 'jupyter.log').read_text()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("jupyter lab did not start within 90 s")
            time.sleep(0.3)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()


@contextlib.contextmanager
def browser_page(width: int = 1400, height: int = 1700) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Chromium is not installed at {CHROMIUM}; `make env` installs it "
                           "(apt-get install -y chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(120_000)
            yield page
        finally:
            browser.close()


#: what a static HTML export of a notebook (nbconvert) fetches from CDNs to draw saved widgets, and the copy of each
#: in js/node_modules (devDependencies pinned in js/package.json): the page sees exactly those files, offline
WIDGET_CDN = [
    (re.compile(r"/require(\.min)?\.js$"), "requirejs/require.js"),
    (re.compile(r"/@jupyter-widgets/html-manager@[^/]*/dist/(?P<file>.+)$"), "@jupyter-widgets/html-manager/dist/{file}"),
    (re.compile(r"/anywidget@[^/]*/(?P<file>.+)$"), "anywidget/{file}"),
]


def serve_widget_cdn(page: Any) -> List[str]:
    """Answer the widget CDN requests of an nbconvert HTML page from js/node_modules; abort every other
    network request. Returns the list of URLs the page asked for."""
    modules = REPO / "js" / "node_modules"
    asked: List[str] = []

    def handle(route: Any) -> None:
        url = route.request.url
        asked.append(url)
        if url.startswith(("file:", "data:", "blob:")):
            return route.continue_()
        for pattern, local in WIDGET_CDN:
            m = pattern.search(url.split("?")[0])
            if m:
                path = modules / local.format(**m.groupdict())
                if not path.is_file():
                    raise FileNotFoundError(f"{path} is missing; `make test` installs js/node_modules (npm ci)")
                return route.fulfill(path=str(path), content_type="application/javascript"
                                     if path.suffix == ".js" else None)
        return route.abort()

    page.route("**/*", handle)
    return asked


def open_notebook(page: Any, url: str, name: str) -> None:
    page.goto(f"{url}/lab/tree/{name}?reset")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext.session "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext.session.kernel")


def run_all(page: Any) -> None:
    """Fire 'run all cells' without awaiting its promise (awaiting it can hang the page)."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


def command(page: Any, name: str) -> None:
    page.evaluate(f"() => window.jupyterapp.commands.execute({name!r})")


def install_timing_probe(page: Any) -> None:
    """Collect the widget's ``nw-render`` events (panel, kind, layer, t) in ``window.__nw``."""
    page.evaluate("""() => {
      window.__nw = [];
      document.addEventListener('nw-render', (e) => window.__nw.push(e.detail), true);
    }""")


def click_and_time(page: Any, layer: str, until: str, panel: str = "featurevis", timeout_ms: int = 120_000) -> float:
    """Click ``layer`` in the tree; milliseconds until the first ``until`` event of ``panel`` (any panel when
    ``panel`` is "*") — measured inside the page. Events: "result" (for that layer), "progress" (a job left
    the queue and reported), "step" (an engine reported its first unit of work)."""
    return click_and_time_all(page, layer, [until], panel, timeout_ms)[until]


def click_and_time_all(page: Any, layer: str, kinds: List[str], panel: str = "*",
                       timeout_ms: int = 120_000) -> Dict[str, float]:
    """Like :func:`click_and_time`, for several event kinds after one click."""
    return page.evaluate("""async ([layer, kinds, panel, timeout]) => {
      const row = document.querySelector(`.nw-tree-row[data-layer="${layer}"]`);
      const start = performance.now();
      const times = {};
      const done = new Promise((resolve, reject) => {
        const on = (e) => {
          const d = e.detail;
          const layerOk = d.kind !== 'result' || d.layer === layer;
          const wanted = kinds.includes(d.kind) && !(d.kind in times) && (panel === '*' || d.panel === panel);
          if (d.t >= start && wanted && layerOk) {
            times[d.kind] = d.t - start;
            if (kinds.every((k) => k in times)) { document.removeEventListener('nw-render', on, true); resolve(times); }
          }
        };
        document.addEventListener('nw-render', on, true);
        setTimeout(() => reject(new Error(`no ${kinds} of ${panel} for ${layer} in ${timeout} ms`)), timeout);
      });
      row.click();
      return await done;
    }""", [layer, kinds, panel, timeout_ms])


def clean(root: Path) -> None:
    shutil.rmtree(root / ".lab-workspaces", ignore_errors=True)


def ping_ms(page: Any, token: int) -> float:
    """The bare round trip front end -> kernel -> front end (no engine work): the floor of a cached click."""
    return page.evaluate("""(token) => new Promise((resolve) => {
      const start = performance.now();
      const on = (e) => { if (e.detail.kind === 'pong' && e.detail.token === token) {
        document.removeEventListener('nw-render', on, true); resolve(e.detail.t - start); } };
      document.addEventListener('nw-render', on, true);
      document.querySelector('.nw-root').nwPing(token);
    })""", token)
