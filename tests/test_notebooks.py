"""Every teaching notebook runs top to bottom (its cells assert the results they state), and the README's
quick start names only things that exist."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import neuro_widgets as nw

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].cell_type == "markdown" and "learn" in nb.cells[0].source.lower(), \
        "the first cell says what the student will learn"
    assert re.search(r"\d+\s*min", nb.cells[0].source), "the first cell says how long it takes on a CPU"
    client = NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


def quick_start_code() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_quick_start_names_exist():
    code = quick_start_code()
    chains = set(re.findall(r"\bnw((?:\.[A-Za-z_]\w*)+)", code))
    assert chains, "the quick start uses the package"
    for chain in chains:
        obj = nw
        for part in chain.strip(".").split("."):
            assert hasattr(obj, part), f"nw{chain} does not exist"
            obj = getattr(obj, part)
