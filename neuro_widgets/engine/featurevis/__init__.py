"""Optimal stimuli: feature visualization by optimization, whole-layer contact sheets, dataset examples.

Lucid-style composable parts: :mod:`.param` (what is optimized), :mod:`.transforms` (robustness),
:mod:`.objectives` (what is maximized), :mod:`.render` (the loop), :mod:`.layer_sheet` (one image per
channel, batched), :mod:`.dataset_examples` and :mod:`.receptive_field` (real stimuli that drive a channel).
"""
from . import objectives, transforms
from .dataset_examples import DatasetExamples, dataset_examples
from .layer_sheet import LayerSheet, render_layer
from .neuron_wants import NeuronWants, neuron_wants
from .param import IMAGENET_COLOR, ImageParam, color_matrix
from .receptive_field import ReceptiveField, receptive_field
from .render import RenderResult, render

__all__ = ["render", "render_layer", "dataset_examples", "neuron_wants", "NeuronWants", "receptive_field", "objectives", "transforms",
           "ImageParam", "color_matrix", "IMAGENET_COLOR", "RenderResult", "LayerSheet", "DatasetExamples",
           "ReceptiveField"]
