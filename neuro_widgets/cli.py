"""The ``neuro-widgets`` command: ``neuro-widgets demo`` starts JupyterLab on the tour notebook.

The notebooks are copied into a working folder of the user's (never served from the package or the repository,
so that autosave and checkpoints stay out of both), and JupyterLab opens the tour itself rather than its
Launcher. Stopping the command (Ctrl-C, SIGTERM, SIGHUP) stops the JupyterLab it started.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

TOUR = "01_tour.ipynb"
DEFAULT_DIR = Path("~") / "neuro_widgets_notebooks"
_FORWARDED = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name))


def notebook_source() -> Path:
    """The teaching notebooks: shipped inside the wheel, or the repository's ``notebooks/`` in a checkout."""
    packaged = Path(__file__).with_name("notebooks")
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parents[1] / "notebooks"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("the teaching notebooks are missing from this installation of neuro_widgets")


def copy_notebooks(dest: Path) -> List[Path]:
    """Copy the notebooks that are not in ``dest`` yet (a user's edited copy is never overwritten)."""
    src = notebook_source()
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for nb in sorted(src.glob("*.ipynb")):
        target = dest / nb.name
        if src.resolve() != dest.resolve() and not target.exists():
            shutil.copy2(nb, target)
            copied.append(target)
    return copied


def lab_command(folder: Path, port: Optional[int], no_browser: bool, extra: List[str]) -> List[str]:
    cmd = [sys.executable, "-m", "jupyterlab", str(folder / TOUR), f"--ServerApp.root_dir={folder}",
           "--ServerApp.ip=127.0.0.1", f"--LabApp.default_url=/lab/tree/{TOUR}"]
    if port is not None:
        cmd += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd + extra


def run_forwarding_signals(cmd: List[str]) -> int:
    """Run ``cmd`` and pass SIGTERM/SIGHUP/SIGINT on to it, so that stopping us stops it; its exit code.

    Ctrl-C in a terminal reaches JupyterLab twice (from the terminal and forwarded), which JupyterLab reads as
    "shut down now" instead of asking for a confirmation that nobody would see behind this command."""
    child = subprocess.Popen(cmd)

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in _FORWARDED}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:  # we are leaving for another reason: never leave JupyterLab behind
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="neuro-widgets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="copy the teaching notebooks to a folder and open the tour in JupyterLab")
    demo.add_argument("--dir", default=str(DEFAULT_DIR), help="working folder (default: %(default)s)")
    demo.add_argument("--port", type=int, default=None, help="port for JupyterLab (default: its own choice)")
    demo.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    demo.add_argument("jupyter_args", nargs=argparse.REMAINDER,
                      help="after --, extra arguments passed to JupyterLab")
    args = parser.parse_args(argv)
    if importlib.util.find_spec("jupyterlab") is None:
        print("neuro-widgets demo needs JupyterLab, which is not installed. Install it with:\n"
              "    pip install 'neuro_widgets[lab]'", file=sys.stderr)
        return 2
    folder = Path(args.dir).expanduser().resolve()
    for path in copy_notebooks(folder):
        print(f"copied {path.name} to {folder}")
    if "NEURO_WIDGETS_HOME" not in os.environ:
        print("NEURO_WIDGETS_HOME is not set: data and models come from ~/.cache/neuro_widgets "
              "(downloaded on first use).")
    extra = [a for a in args.jupyter_args if a != "--"]
    return run_forwarding_signals(lab_command(folder, args.port, args.no_browser, extra))


if __name__ == "__main__":
    sys.exit(main())
