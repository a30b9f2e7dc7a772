"""Public namespace for optimal stimuli: ``nw.featurevis.render``, ``render_layer``, ``dataset_examples``
and the objective constructors under ``nw.featurevis.objectives``.

>>> import neuro_widgets as nw
>>> probe = nw.load_model("cifar_resnet20")
>>> sheet = nw.featurevis.render_layer(probe, "layer3", steps=256)
>>> one = nw.featurevis.render(probe, nw.featurevis.objectives.channel("layer3", 5) - 0.1 * nw.featurevis.objectives.l2())
"""
from .engine.featurevis import (IMAGENET_COLOR, DatasetExamples, ImageParam, LayerSheet, NeuronWants,
                                ReceptiveField, RenderResult, color_matrix, dataset_examples, neuron_wants,
                                objectives, receptive_field, render, render_layer, transforms)

__all__ = ["render", "render_layer", "dataset_examples", "neuron_wants", "NeuronWants", "receptive_field", "objectives", "transforms",
           "ImageParam", "color_matrix", "IMAGENET_COLOR", "RenderResult", "LayerSheet", "DatasetExamples",
           "ReceptiveField"]
