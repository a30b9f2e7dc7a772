"""The ``neuro-widgets`` command: ``neuro-widgets demo`` starts JupyterLab on the tour notebook."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

TOUR = "01_tour.ipynb"


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
           "--ServerApp.ip=127.0.0.1"]
    if port is not None:
        cmd += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
    if no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd + extra


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="neuro-widgets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="copy the teaching notebooks to a folder and open the tour in JupyterLab")
    demo.add_argument("--dir", default="neuro_widgets_notebooks", help="working folder (default: %(default)s)")
    demo.add_argument("--port", type=int, default=None, help="port for JupyterLab (default: its own choice)")
    demo.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    demo.add_argument("jupyter_args", nargs=argparse.REMAINDER,
                      help="after --, extra arguments passed to JupyterLab")
    args = parser.parse_args(argv)
    folder = Path(args.dir).resolve()
    for path in copy_notebooks(folder):
        print(f"copied {path.name} to {folder}")
    if "NEURO_WIDGETS_HOME" not in os.environ:
        print("NEURO_WIDGETS_HOME is not set: data and models come from ~/.cache/neuro_widgets "
              "(downloaded on first use).")
    extra = [a for a in args.jupyter_args if a != "--"]
    cmd = lab_command(folder, args.port, args.no_browser, extra)
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
