"""Make DeepLift and guided backprop correct on models that reuse activation modules.

Captum's DeepLift and GuidedBackprop change the gradient of each activation *module* through hooks.
A module used several times per forward (torchvision's ResNet calls one ``self.relu`` up to three times
per block) gets its hooks' state overwritten between uses, and an in-place ReLU breaks the backward hooks;
a functional call (``F.relu``) is invisible to the hooks altogether (captum#199, #1082, #1104).

:func:`inspect_activations` finds all three cases from one traced forward pass. :func:`relu_safe_model`
returns the user's model when it is already safe, and otherwise a private deep copy in which every use
of an activation module has a module of its own and no activation is in-place. The user's model is never
modified. Functional activations cannot be fixed this way, and the methods are refused with a message
that names the calls.
"""
from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..model_state import module_dtype, preserved, private_copy
from ..probe import Probe

#: the modules whose gradients captum's DeepLift / GuidedBackprop rewrite (DeepLift also has a max-pool rule)
ACTIVATION_MODULES: Tuple[type, ...] = (nn.ReLU, nn.ELU, nn.Sigmoid, nn.Tanh, nn.Softmax,
                                        nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)
#: functional calls of the same activations, which those methods cannot see
_FUNCTIONAL = {"relu", "relu_", "elu", "elu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "softmax"}


@dataclass
class ActivationReport:
    """What one traced forward pass found: reused modules (name -> uses), in-place ones, functional calls."""

    reused: Dict[str, int] = field(default_factory=dict)
    inplace: List[str] = field(default_factory=list)
    functional: Dict[str, int] = field(default_factory=dict)  # function name -> calls outside any module

    @property
    def needs_copy(self) -> bool:
        return bool(self.reused or self.inplace)


class _FunctionalSpy(TorchFunctionMode):
    """Counts activation functions called while no activation module is running."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.calls: Dict[str, int] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if self.depth == 0 and name in _FUNCTIONAL:
            self.calls[name] = self.calls.get(name, 0) + 1
        return func(*args, **(kwargs or {}))


def inspect_activations(probe: Probe) -> ActivationReport:
    """Trace one forward pass on a zero input and report how the model uses its activations."""
    model = probe.module
    report = ActivationReport()
    spy = _FunctionalSpy()
    uses: Dict[str, int] = {}
    handles = []

    def pre(name: str):
        def hook(_m, _i):
            uses[name] = uses.get(name, 0) + 1
            spy.depth += 1
        return hook

    def post(_m, _i, _o):
        spy.depth -= 1

    spec = probe.input_spec
    x = torch.zeros(1, spec.channels, *spec.size, dtype=module_dtype(model), device=probe.device)
    with preserved(model):  # the hooks go on the shared model only under its lock
        try:
            for name, m in model.named_modules():
                if isinstance(m, ACTIVATION_MODULES):
                    handles.append(m.register_forward_pre_hook(pre(name)))
                    handles.append(m.register_forward_hook(post))
                    if getattr(m, "inplace", False):
                        report.inplace.append(name)
            with torch.no_grad(), spy:
                model(x)
        finally:
            for h in handles:
                h.remove()
    report.reused = {n: k for n, k in uses.items() if k > 1}
    report.functional = dict(spy.calls)
    return report


class _PerUse(nn.Module):
    """Stands in for a reused activation module: the i-th call in a forward pass goes to the i-th copy."""

    def __init__(self, template: nn.Module, uses: int) -> None:
        super().__init__()
        self.uses = nn.ModuleList(copy.deepcopy(template) for _ in range(uses))
        self.next = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        module = self.uses[self.next % len(self.uses)]
        self.next += 1
        return module(x)


def _reset_counters(root: nn.Module) -> None:
    for m in root.modules():
        if isinstance(m, _PerUse):
            m.next = 0


def _set_module(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, attr, new)


# user model -> (weights fingerprint, private copy or None when the model is safe as it is, report)
_COPIES: "weakref.WeakKeyDictionary[nn.Module, Tuple[str, Any, ActivationReport]]" = weakref.WeakKeyDictionary()


def relu_safe_model(probe: Probe, method: str) -> nn.Module:
    """The model to hand to ``method`` (DeepLift, guided backprop): the user's own when safe, else a copy.

    Raises ``ValueError`` naming the functional activation calls when the model has any. The copy is kept
    (one per model, rebuilt when the weights change) so that repeated calls do not copy again.
    """
    fp = probe.fingerprint()
    hit = _COPIES.get(probe.module)
    if hit is not None and hit[0] == fp:
        report, fixed = hit[2], hit[1]
    else:
        report = inspect_activations(probe)
        fixed = None
    if report.functional:
        calls = ", ".join(f"{k} x{v}" for k, v in sorted(report.functional.items()))
        raise ValueError(
            f"{method} cannot run on this model: its forward calls activation functions directly ({calls}), "
            f"and captum's {method} only sees activation modules (nn.ReLU, ...), so the result would be wrong. "
            "Use modules (nn.ReLU()) in the model's forward, or pick a gradient method such as "
            "'integrated_gradients' or 'saliency'."
        )
    if not report.needs_copy:
        _COPIES[probe.module] = (fp, None, report)
        return probe.module
    if fixed is None:
        fixed = private_copy(probe.module)
        for name, uses in report.reused.items():
            template = fixed.get_submodule(name)
            _set_module(fixed, name, _PerUse(template, uses))
        for m in fixed.modules():
            if isinstance(m, ACTIVATION_MODULES) and getattr(m, "inplace", False):
                m.inplace = False
        if report.reused:
            fixed.register_forward_pre_hook(lambda mod, _inp: _reset_counters(mod))
        fixed.eval()
        for p in fixed.parameters():
            p.requires_grad_(False)
        _COPIES[probe.module] = (fp, fixed, report)
    return fixed
