"""neuro_widgets: Jupyter widgets over one PyTorch engine — optimal stimuli, attributions and brain
alignment for any layer of any vision model.

Names are imported lazily, so ``import neuro_widgets`` is fast and never touches the network.
"""
from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__ as __version__  # re-exported: the one place the version is written

_EXPORTS = {
    "Probe": "neuro_widgets.engine.probe",
    "LayerInfo": "neuro_widgets.engine.probe",
    "activation_cache": "neuro_widgets.engine.probe",
    "InputSpec": "neuro_widgets.engine.stimuli",
    "StimulusSet": "neuro_widgets.engine.stimuli",
    "NeuralRDMs": "neuro_widgets.engine.neural",
    "CancelToken": "neuro_widgets.engine.progress",
    "Cancelled": "neuro_widgets.engine.progress",
    "load_model": "neuro_widgets.zoo.registry",
    "LayerExplorer": "neuro_widgets.widgets",
    "FeatureVisWidget": "neuro_widgets.widgets",
    "AttributionWidget": "neuro_widgets.widgets",
    "AlignmentWidget": "neuro_widgets.widgets",
    "RDMWidget": "neuro_widgets.widgets",
    "NeuronsWidget": "neuro_widgets.widgets",
    "PhysiologyWidget": "neuro_widgets.widgets",
    "StudyWidget": "neuro_widgets.widgets.study",
    "Study": "neuro_widgets.study",
    "StudyResult": "neuro_widgets.study",
}
_MODULES = {
    "alignment": "neuro_widgets.alignment",
    "attribution": "neuro_widgets.attribution",
    "datasets": "neuro_widgets.data.datasets",
    "featurevis": "neuro_widgets.featurevis",
    "figures": "neuro_widgets.figures",
    "physiology": "neuro_widgets.physiology",
    "teaching": "neuro_widgets.teaching",
}

__all__ = sorted([*_EXPORTS, *_MODULES])


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        raise AttributeError(f"module 'neuro_widgets' has no attribute {name!r}")
    globals()[name] = value
    return value


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext neuro_widgets``: the ``%explore MODEL [DATASET]`` magic and a Probe's layer-tree display."""
    from .widgets.magics import load_ipython_extension as load

    load(ipython)


def __dir__() -> list:
    return __all__
