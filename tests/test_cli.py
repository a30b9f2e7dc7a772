"""`neuro-widgets demo` copies the notebooks and starts a JupyterLab that serves the tour notebook."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from neuro_widgets import cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_copy_notebooks_never_overwrites(tmp_path):
    copied = cli.copy_notebooks(tmp_path)
    assert (tmp_path / cli.TOUR) in copied
    (tmp_path / cli.TOUR).write_text("my edits")
    assert cli.copy_notebooks(tmp_path) == []
    assert (tmp_path / cli.TOUR).read_text() == "my edits"


def test_demo_serves_the_tour_notebook(tmp_path):
    port = free_port()
    exe = Path(sys.executable).with_name("neuro-widgets")
    cmd = [str(exe), "demo", "--no-browser", "--port", str(port), "--dir", str(tmp_path / "work"),
           "--", "--ServerApp.token=t0ken", f"--LabApp.workspaces_dir={tmp_path / 'ws'}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")})
    try:
        url = f"http://127.0.0.1:{port}/api/contents/{cli.TOUR}?token=t0ken&content=0"
        deadline = time.monotonic() + 90
        model = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    model = json.loads(r.read())
                break
            except OSError:
                time.sleep(0.5)
        assert model is not None, f"server did not answer; exit code {proc.poll()}"
        assert model["name"] == cli.TOUR and model["type"] == "notebook"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab/tree/{cli.TOUR}?token=t0ken", timeout=10) as r:
            assert r.status == 200 and b"JupyterLab" in r.read()
        # the server's front page is the tour itself, not JupyterLab's Launcher
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?token=t0ken", timeout=10) as r:
            assert urllib.parse.urlparse(r.geturl()).path == f"/lab/tree/{cli.TOUR}"
        # SIGTERM to the command alone (as a process manager sends it) stops the JupyterLab it started too
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and group_alive(proc.pid):
            time.sleep(0.2)
        assert not group_alive(proc.pid), "JupyterLab was left running after the demo command stopped"
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert (tmp_path / "work" / cli.TOUR).is_file()


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_demo_without_jupyterlab_says_what_to_install(monkeypatch, capsys, tmp_path):
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: None if name == "jupyterlab" else real(name))
    assert cli.main(["demo", "--dir", str(tmp_path / "work")]) == 2
    assert "pip install 'neuro_widgets[lab]'" in capsys.readouterr().err
    assert not (tmp_path / "work").exists(), "nothing is copied when the demo cannot start"


def test_demo_default_folder_is_outside_the_package_and_checkout():
    folder = cli.DEFAULT_DIR.expanduser().resolve()
    repo = Path(cli.__file__).resolve().parents[1]
    assert repo not in folder.parents and folder != repo
