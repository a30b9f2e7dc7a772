"""The package surface: a fast import that touches neither torch nor the network; clear optional-dependency errors."""
from __future__ import annotations

import subprocess
import sys

import pytest

import neuro_widgets as nw


def test_import_is_lazy():
    code = ("import sys, neuro_widgets as nw; "
            "heavy = [m for m in ('torch', 'ipywidgets', 'anywidget', 'captum', 'urllib.request') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def test_public_names_resolve():
    for name in ("Probe", "InputSpec", "StimulusSet", "load_model", "datasets", "CancelToken", "Cancelled",
                 "NeuralRDMs", "LayerInfo"):
        assert getattr(nw, name) is not None
    assert nw.datasets.kriegeskorte2008 and nw.datasets.algonauts2019_78 and nw.datasets.Dataset
    with pytest.raises(AttributeError):
        nw.not_a_name


def test_torchvision_missing_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(ImportError, match=r"pip install 'neuro_widgets\[vision\]'"):
        nw.load_model("torchvision:alexnet", weights=None)
