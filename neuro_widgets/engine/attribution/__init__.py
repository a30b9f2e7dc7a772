"""Attribution engine over captum: inputs -> output, layer units -> output, with sanity checks.

Public names (also as ``nw.attribution``): :func:`methods`, :func:`attribute`, :func:`layer_contributions`,
:func:`sanity_check`, the targets :class:`Unit` and :class:`Readout`, and the display helpers
:func:`overlay_pngs`, :func:`overlay_png`, :func:`common_scale`.
"""
from .display import common_scale, overlay_png, overlay_pngs
from .layer_contributions import LayerContributions, layer_contributions
from .methods import AttributionResult, attribute
from .registry import MethodSpec, Param, methods
from .sanity import SanityCurve, sanity_check
from .targets import Readout, Unit

__all__ = ["AttributionResult", "LayerContributions", "MethodSpec", "Param", "Readout", "SanityCurve", "Unit",
           "attribute", "common_scale", "layer_contributions", "methods", "overlay_png", "overlay_pngs",
           "sanity_check"]
