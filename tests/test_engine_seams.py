"""The engine's shared pieces exist once: one place re-initialises weights, one set of RDM checks, the version
read without importing the package, and no process-wide thread setting from a worker thread."""
from __future__ import annotations

import ast
import importlib.metadata
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
ENGINE = sorted((ROOT / "neuro_widgets" / "engine").rglob("*.py"))


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imported_modules(path: Path):
    tree = ast.parse(path.read_text())
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            yield ".".join(base + ([node.module] if node.module else []))


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_engine_module_imports_the_top_package(path):
    assert "neuro_widgets" not in set(_imported_modules(path))


def test_the_version_has_one_source():
    import neuro_widgets
    from neuro_widgets._version import __version__
    from neuro_widgets.engine.featurevis.render import versions

    assert versions()["neuro_widgets"] == neuro_widgets.__version__ == __version__
    # the installed distribution's version is read from the same file (pyproject: dynamic, [tool.hatch.version])
    assert importlib.metadata.version("neuro_widgets") == __version__
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and '\nversion = ' not in pyproject
    assert '[tool.hatch.version]\npath = "neuro_widgets/_version.py"' in pyproject


def _calls_named(name: str):
    return sorted(str(p.relative_to(ROOT)) for p in ENGINE
                  if any(isinstance(n, ast.Attribute) and n.attr == name for n in ast.walk(ast.parse(p.read_text()))))


def test_one_place_reinitialises_weights_and_one_sets_threads():
    assert _calls_named("reset_parameters") == ["neuro_widgets/engine/rng.py"]
    assert _calls_named("set_num_threads") == ["neuro_widgets/engine/alignment/_tensor.py"]


class WithBareParameter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.scale = nn.Parameter(torch.full((4,), 5.0))


def test_random_control_and_sanity_share_the_reinitialisation():
    from neuro_widgets.engine.alignment.control import random_copy
    from neuro_widgets.engine.rng import reinitialise

    torch.manual_seed(123)
    model = WithBareParameter()
    state = torch.get_rng_state()
    copy = random_copy(model, seed=7)
    assert torch.equal(torch.get_rng_state(), state), "the global RNG moved"
    # ground truth: what torch.manual_seed(7) and the modules' own initialisers give, in module order (the root
    # owns `scale`, a constant with no spread of its own: the fallback sd 0.01)
    ref = WithBareParameter()
    torch.manual_seed(7)
    with torch.no_grad():
        ref.scale.normal_(0.0, 0.01)
        ref.conv.reset_parameters()
    torch.set_rng_state(state)
    assert torch.equal(copy.conv.weight, ref.conv.weight) and torch.equal(copy.conv.bias, ref.conv.bias)
    assert torch.equal(copy.scale, ref.scale)  # a bare parameter is not left trained
    assert torch.equal(model.scale, torch.full((4,), 5.0))  # the original is untouched
    again = WithBareParameter()
    reinitialise(again.modules(), 7)
    assert all(torch.equal(a, b) for a, b in zip(again.parameters(), copy.parameters()))


RDM = np.array([[0, 1, 2, 3], [1, 0, 4, 5], [2, 4, 0, 6], [3, 5, 6, 0]], dtype=float)


def _with(value: float) -> np.ndarray:
    out = RDM.copy()
    out[2, 3] = out[3, 2] = value
    return out


@pytest.mark.parametrize("bad, words", [
    (_with(np.nan), "NaN"),
    (_with(np.inf), "infinite value"),
    (np.corrcoef(np.random.default_rng(0).normal(size=(4, 10))), "similarity \\(correlation\\) matrix"),
    (RDM[:3, :3], "at least 4 stimuli"),
])
def test_compare_rdms_and_neural_data_refuse_the_same_bad_rdms(bad, words):
    """One set of checks: what NeuralRDMs refuses, compare_rdms refuses with the same words (it gave no hint
    for a similarity matrix before)."""
    from neuro_widgets.engine.alignment import compare_rdms
    from neuro_widgets.engine.neural import NeuralRDMs

    with pytest.raises(ValueError, match=words):
        NeuralRDMs({"V1": bad[None]}, stimulus_ids=list("abcd"))
    with pytest.raises(ValueError, match=words):
        compare_rdms(bad, RDM)


def test_single_threaded_leaves_the_thread_count_alone_in_a_worker(monkeypatch):
    from neuro_widgets.engine.alignment._tensor import single_threaded

    calls = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(n) or real(n))
    before = torch.get_num_threads()

    def worker() -> None:
        with single_threaded(torch.device("cpu")):
            pass

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert calls == [] and torch.get_num_threads() == before
    with single_threaded(torch.device("cpu")):
        assert torch.get_num_threads() == 1
    assert calls == [1, before] and torch.get_num_threads() == before
