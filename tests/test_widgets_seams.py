"""The path from a click to the engine is plain code a reader can follow: engines are imported, handlers are
listed in explicit tables, and every action the front end sends has an entry in them."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import neuro_widgets as nw
from neuro_widgets.widgets import LayerTree, base

ROOT = Path(__file__).resolve().parents[1]
WIDGETS = sorted((ROOT / "neuro_widgets" / "widgets").glob("*.py"))
JS = sorted((ROOT / "js" / "src").glob("*.js"))


def _calls(tree: ast.AST):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


@pytest.mark.parametrize("path", WIDGETS, ids=lambda p: p.name)
def test_widgets_find_nothing_by_a_built_name(path):
    """No importlib, no getattr(self, <f-string>) handler lookup, no getattr(self, "runner", None) guard."""
    tree = ast.parse(path.read_text())
    imports = [a.name for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names]
    assert "importlib" not in imports and not any(
        isinstance(n, ast.ImportFrom) and n.module == "importlib" for n in ast.walk(tree))
    for call in _calls(tree):
        if isinstance(call.func, ast.Name) and call.func.id in ("getattr", "hasattr") and call.args:
            target = call.args[0]
            assert not (isinstance(target, ast.Name) and target.id == "self"), \
                f"{path.name}:{call.lineno} looks up an attribute of the widget by name"


def test_every_action_the_front_end_sends_has_a_handler(resnet20):
    sent = {m for f in JS for m in re.findall(r'action:\s*"(\w+)"', f.read_text())}
    assert {"open_channel", "sanity", "want", "phys_channel", "phys_category", "cancel", "ping"} <= sent
    w = nw.LayerExplorer(resnet20)
    table = w.actions()
    assert sent <= set(table), sorted(sent - set(table))
    assert all(isinstance(a, base.Action) and callable(a.run) for a in table.values())


def test_explorer_layer_views_cover_its_panels(resnet20):
    w = nw.LayerExplorer(resnet20)
    assert set(w.layer_views()) == set(w.PANELS) - {"tree"}
    assert LayerTree(resnet20).layer_views() == {}
