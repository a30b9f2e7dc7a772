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
    # study.js is the StudyWidget's view (its 'open' and 'cancel' are handled there, tested in test_study_widget.py)
    sent = {m for f in JS if f.name != "study.js" for m in re.findall(r'action:\s*"(\w+)"', f.read_text())}
    assert {"open_channel", "sanity", "want", "phys_channel", "phys_category", "cancel", "ping"} <= sent
    w = nw.LayerExplorer(resnet20)
    table = w.actions()
    assert sent <= set(table), sorted(sent - set(table))
    assert all(isinstance(a, base.Action) and callable(a.run) for a in table.values())


def test_explorer_layer_views_cover_its_panels(resnet20):
    w = nw.LayerExplorer(resnet20)
    assert set(w.layer_views()) == set(w.PANELS) - {"tree"}
    assert LayerTree(resnet20).layer_views() == {}


# ---- one source for every vocabulary -------------------------------------------------------------------------
def _vocabularies():
    from neuro_widgets.engine.alignment import COMPARE_METHODS, METRICS, RDM_METHODS
    from neuro_widgets.engine.alignment.cka import CKA_KERNELS
    from neuro_widgets.engine.alignment.encoding import ENCODING_METHODS
    from neuro_widgets.engine.attribution import methods
    from neuro_widgets.engine.attribution.display import SIGN_MODES
    from neuro_widgets.engine.featurevis.param import PARAM_KINDS

    return {"metric": METRICS, "compare method": COMPARE_METHODS, "RDM method": RDM_METHODS, "kernel": CKA_KERNELS,
            "encoding": ENCODING_METHODS, "attribution method": tuple(m.name for m in methods()),
            "sign mode": SIGN_MODES, "parameterization": tuple(PARAM_KINDS)}


@pytest.mark.parametrize("path", JS, ids=lambda p: p.name)
def test_the_front_end_names_no_engine_vocabulary(path):
    text = path.read_text()
    found = [(what, name) for what, names in _vocabularies().items() for name in names
             if any(f"{q}{name}{q}" in text for q in "\"'`")]
    assert not found, f"{path.name} hard-codes {found}: send the engine's list in a trait instead"


@pytest.mark.parametrize("path", WIDGETS, ids=lambda p: p.name)
def test_the_widgets_python_names_no_engine_vocabulary(path):
    """No string constant equal to a registry name. Metric names are exempt: they are also the panels' setting
    keys ("encoding"), and the one table keyed by them is checked against the registry below."""
    vocab = {name: what for what, names in _vocabularies().items() if what != "metric" for name in names}
    tree = ast.parse(path.read_text())
    found = [(n.lineno, n.value, vocab[n.value]) for n in ast.walk(tree)
             if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value in vocab]
    assert not found, f"{path.name} hard-codes {found}: import the engine's registry instead"


def test_the_pickers_offer_the_engine_registries(resnet20):
    import inspect

    from neuro_widgets.engine.alignment import sweep
    from neuro_widgets.engine.alignment.metrics import METRIC_TYPES

    v = _vocabularies()
    w = nw.LayerExplorer(resnet20)
    state = w.get_state()
    assert tuple(state["attr_signs"]) == v["sign mode"]
    assert tuple(m["name"] for m in state["attr_methods"]) == v["attribution method"]
    assert tuple(p["name"] for p in state["fv_params"]) == v["parameterization"]
    choices = state["align_choices"]
    assert tuple(m["name"] for m in choices["metrics"]) == v["metric"]
    assert {k: tuple(c["values"]) for k, c in choices["settings"].items()} == {
        "rdm_method": v["RDM method"], "method": v["compare method"], "encoding": v["encoding"], "kernel": v["kernel"]}
    # each metric's label and settings come from the engine's metric classes; the settings are sweep() keywords
    assert [{"label": m["label"], "settings": m["settings"]} for m in choices["metrics"]] == [
        {"label": cls.label, "settings": list(cls.sweep_settings)} for cls in METRIC_TYPES]
    used = {k for m in choices["metrics"] for k in m["settings"]}
    assert used == set(choices["settings"]) and used <= set(inspect.signature(sweep).parameters)


def test_the_panels_defaults_are_the_engines_defaults():
    """The widgets start from what a bare engine call does."""
    import inspect

    from neuro_widgets.engine.alignment import sweep
    from neuro_widgets.engine.featurevis import render_layer
    from neuro_widgets.widgets import alignment, featurevis

    defaults = {k: p.default for k, p in inspect.signature(sweep).parameters.items()}
    for key in ("metric", "rdm_method", "method", "encoding", "kernel"):
        assert alignment.DEFAULT_SETTINGS[key] == defaults[key], key
    assert featurevis.DEFAULT_SETTINGS["param"] == inspect.signature(render_layer).parameters["param"].default


def test_a_method_the_engine_does_not_know_is_refused(resnet20):
    from neuro_widgets.widgets.attribution import check_settings

    with pytest.raises(ValueError, match="unknown attribution method 'salency'.*Did you mean 'saliency'"):
        check_settings({"methods": ["salency"]}, 0)
