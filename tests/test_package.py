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


def test_wheel_builds_from_the_sdist_without_npm(tmp_path):
    """The sdist carries the built front end, so building a wheel from it needs no Node.js/npm."""
    import tarfile
    import zipfile
    from pathlib import Path

    repo = Path(nw.__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path)], cwd=repo,
                   check=True, capture_output=True)
    (sdist,) = tmp_path.glob("neuro_widgets-*.tar.gz")
    with tarfile.open(sdist) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(tmp_path / "src", filter="data")
        else:  # Python before 3.10.12 / 3.11.4
            tar.extractall(tmp_path / "src")
    (unpacked,) = (tmp_path / "src").iterdir()
    built = subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
                           cwd=unpacked, env={"PATH": str(tmp_path / "no-node-here")}, capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"neuro_widgets/static/widget.js", "neuro_widgets/static/widget.css",
            "neuro_widgets/notebooks/01_tour.ipynb"} <= names
