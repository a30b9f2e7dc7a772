"""The IPython extension: ``%load_ext neuro_widgets`` adds the ``%explore`` line magic and shows a Probe,
left as the last expression of a cell, as its layer tree.

``%explore MODEL [DATASET]``: MODEL is a variable of the notebook (a Probe) or a zoo name
(``cifar_resnet20``, ``torchvision:alexnet``); DATASET is a variable (a data set or a StimulusSet) or the
name of a function in ``nw.datasets`` (``kriegeskorte2008``, ``algonauts2019_78``).
"""
from __future__ import annotations

import shlex
from typing import Any, Dict, List, Tuple

USAGE = "usage: %explore MODEL [DATASET]  (e.g. %explore cifar_resnet20 kriegeskorte2008)"


def parse_explore(line: str) -> Tuple[str, str]:
    args: List[str] = shlex.split(line)
    if not 1 <= len(args) <= 2:
        raise ValueError(f"%explore takes a model and optionally a data set; got {len(args)} arguments. {USAGE}")
    return args[0], args[1] if len(args) == 2 else ""


def resolve_model(name: str, namespace: Dict[str, Any]) -> Any:
    from ..engine.probe import Probe
    from ..zoo.registry import load_model

    if name in namespace:
        value = namespace[name]
        if isinstance(value, Probe):
            return value
        raise TypeError(f"%explore: {name!r} is a {type(value).__name__}, not an nw.Probe. Wrap it first: "
                        f"probe = nw.Probe({name}, nw.InputSpec(size=(224, 224), mean=..., std=...))")
    if name.isidentifier() and not name.startswith(("cifar_resnet", "torchvision")):
        raise NameError(f"%explore: no variable {name!r} in the notebook, and it is not a zoo model name. {USAGE}")
    return load_model(name)


def resolve_data(name: str, namespace: Dict[str, Any]) -> Any:
    if not name:
        return None
    if name in namespace:
        return namespace[name]
    from ..data import datasets

    loader = getattr(datasets, name, None)
    if name.startswith("_") or not callable(loader) or name in ("Dataset", "locate", "RemoteFile"):
        raise NameError(f"%explore: no variable {name!r} in the notebook and no data set nw.datasets.{name}(); "
                        f"known data sets: kriegeskorte2008, algonauts2019_78. {USAGE}")
    return loader()


def explore(line: str, namespace: Dict[str, Any]) -> Any:
    """What ``%explore`` displays: a LayerExplorer of the named model and data set."""
    from .explorer import LayerExplorer

    model_name, data_name = parse_explore(line)
    return LayerExplorer(resolve_model(model_name, namespace), resolve_data(data_name, namespace))


def probe_mimebundle(probe: Any, include: Any = None, exclude: Any = None) -> Dict[str, Any]:
    """A Probe's rich display: its layer tree as a widget (plain text kept for non-widget front ends)."""
    from .explorer import LayerTree

    data, _ = LayerTree(probe)._repr_mimebundle_()
    return {**data, "text/plain": repr(probe)}


def load_ipython_extension(ipython: Any) -> None:
    from ..engine.probe import Probe

    def explore_magic(line: str) -> Any:
        try:
            return explore(line, ipython.user_ns)
        except (ValueError, NameError, TypeError) as err:
            print(f"{err}")  # a readable message, no traceback for a mistyped line
            return None

    ipython.register_magic_function(explore_magic, magic_kind="line", magic_name="explore")
    ipython.display_formatter.mimebundle_formatter.for_type(Probe, probe_mimebundle)
