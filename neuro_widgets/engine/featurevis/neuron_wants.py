"""What does this neuron want? A recorded neuron's fitted readout from one layer, rendered as an optimal stimulus.

The readout (:func:`~neuro_widgets.engine.alignment.readout.fit_readout`) is fitted on training images only;
the rendered image maximizes it (:func:`~.objectives.linear_readout`), and the readout's prediction for that image
(with the spread of its bootstrap refits) is set beside the recorded responses to the real images. Wide layers are
randomly projected to ``max_features`` before the fit (as the encoding sweep does) and the readout is pulled back
to the full map exactly, since the projection is linear.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

from ..alignment.readout import NeuronReadout, fit_readout, neuron_responses
from ..describe import brief
from ..export import Figured
from ..probe import Probe
from ..progress import CancelToken, ProgressArg, check_cancel, make_reporter
from ..reduce import pull_back
from ..stimuli import StimulusSet
from .objectives import linear_readout
from .render import RenderResult, render


@dataclass
class NeuronWants(Figured):
    """A neuron's readout, its optimal stimulus, and the real images it and the model rank highest."""

    layer: str
    readout: NeuronReadout
    render: RenderResult
    predicted: float                  # the readout's prediction for the rendered image
    predicted_spread: float           # SD over bootstrap refits of the readout
    recorded_top: np.ndarray          # indices of the real images with the highest recorded responses
    predicted_top: np.ndarray         # indices with the highest cross-validated (out-of-fold) predictions
    stimuli: StimulusSet = field(repr=False)

    @property
    def image(self) -> np.ndarray:
        return self.render.images[0]

    @property
    def recorded_max(self) -> float:
        return float(self.readout.observed.max())

    def __repr__(self) -> str:
        return (f"NeuronWants({self.readout.neuron} from {self.layer!r}: predicted {self.predicted:.3g} ± "
                f"{self.predicted_spread:.2g} for its optimal stimulus vs recorded max {self.recorded_max:.3g}; "
                f"held-out r {self.readout.heldout_r:.3f})")

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_neuron_wants``)."""
        from ...figures import plot_neuron_wants

        return plot_neuron_wants(self, ax, **style)

def neuron_wants(probe: Probe, stimuli: Any, responses: Any, layer: str, neuron: Union[int, str] = 0, *,
                 max_features: int = 4096, steps: int = 256, seed: int = 0, top_k: int = 8,
                 readout: Optional[Dict[str, Any]] = None, render_options: Optional[Dict[str, Any]] = None,
                 progress: ProgressArg = None, cancel: Optional[CancelToken] = None) -> NeuronWants:
    """Fit ``neuron``'s readout from ``layer`` on training images, render the image that maximizes it, predict
    the neuron's response to that image. ``readout`` and ``render_options`` pass options to
    :func:`fit_readout` and :func:`render`.

    >>> ds = nw.datasets.cowley2023_v4()
    >>> want = neuron_wants(probe, ds.stimuli, ds.neural, "features.5", neuron=12)
    >>> want.image, want.predicted, want.predicted_spread, want.readout.heldout_r
    """
    if not isinstance(stimuli, StimulusSet):
        raise TypeError(f"stimuli must be a StimulusSet (the images the neuron was recorded on), got {brief(stimuli)}")
    if not isinstance(max_features, (int, np.integer)) or isinstance(max_features, bool) or max_features < 1:
        raise ValueError(f"max_features must be a positive integer, got {brief(max_features)}")
    if not isinstance(top_k, (int, np.integer)) or isinstance(top_k, bool) or not 1 <= top_k <= len(stimuli):
        raise ValueError(f"top_k must be an integer from 1 to {len(stimuli)}, got {brief(top_k)}")
    neuron_responses(responses, neuron)  # bad neuron or responses refused before any work
    shape = probe.layer(layer).output_shape
    if not shape:
        raise ValueError(f"layer {layer!r} has no tensor output to read out from; pick another layer")
    if len(shape) not in (1, 3):
        raise ValueError(f"layer {layer!r} outputs {tuple(shape)} per image; a readout needs a (C,) or (C, H, W) "
                         "layer (token layers of transformers are not supported)")
    width = int(np.prod(shape))
    reduce = ("random_projection", int(max_features), int(seed)) if width > max_features else None
    report = make_reporter(progress, "what does this neuron want")
    acts = probe.activations(stimuli, layer, reduce=reduce, cancel=cancel)[layer]
    check_cancel(cancel)
    fit = fit_readout(acts, responses, neuron, seed=seed, **(readout or {}))
    weights = pull_back(torch.from_numpy(fit.weights), width, reduce).reshape(shape)
    objective = linear_readout(layer, weights, fit.bias, name=f"readout of neuron {fit.neuron} from {layer}")
    result = render(probe, objective, steps=steps, seed=seed, progress=report, cancel=cancel,
                    **(render_options or {}))
    rendered = StimulusSet.from_arrays(result.images, ids=["optimal"], name="neuron optimal stimulus")
    feats = probe.activations(rendered, layer, reduce=reduce, use_cache=False)[layer]
    predicted, spread = fit.predict(feats)
    order = np.argsort(-fit.observed, kind="stable")[:top_k]
    model_order = np.argsort(-fit.oof_prediction, kind="stable")[:top_k]
    return NeuronWants(layer, fit, result, float(predicted[0]), float(spread[0]), order, model_order, stimuli)
