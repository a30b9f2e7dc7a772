"""LayerExplorer: the layer tree on the left; optimal stimuli, attributions and brain alignment (with the
RDM viewer) on the right, all following the selected layer."""
from __future__ import annotations

from typing import Any, Optional

from .alignment import AlignmentPanel
from .alignment import check_settings as check_alignment
from .attribution import DEFAULT_SETTINGS as ATTR_DEFAULTS
from .attribution import AttributionPanel
from .base import BaseWidget
from .featurevis import FeatureVisPanel
from .featurevis import check_settings as check_featurevis
from .neurons import NeuronsPanel
from .neurons import check_settings as check_neurons
from .physiology import PhysiologyPanel
from .physiology import check_settings as check_physiology
from .rdm import RDMPanel


class LayerExplorer(FeatureVisPanel, AttributionPanel, AlignmentPanel, RDMPanel, NeuronsPanel, PhysiologyPanel,
                    BaseWidget):
    """Click a layer, see its optimal stimuli, attributions, brain alignment and in-silico physiology.

    ``data`` is a data set with neural data (``nw.datasets.kriegeskorte2008()``) or a plain StimulusSet (the
    alignment panel then says why it is empty); with single-neuron data (``nw.datasets.cowley2023_v4()``) a
    Neurons panel shows each neuron's predictivity and what it wants. ``featurevis=``, ``attribution=``,
    ``alignment=``, ``neurons=`` and ``physiology=`` take the panels' settings (e.g. ``featurevis={"steps": 64}``).

    >>> nw.LayerExplorer(nw.load_model("cifar_resnet20"), nw.datasets.kriegeskorte2008(), layer="layer3")
    """

    PANELS = ("tree", "featurevis", "attribution", "alignment", "rdm", "neurons", "physiology")

    def __init__(self, model: Any, data: Any = None, *, neural: Any = None, layer: Optional[str] = None,
                 arrangement: str = "tabs", featurevis: Optional[dict] = None, attribution: Optional[dict] = None,
                 alignment: Optional[dict] = None, neurons: Optional[dict] = None,
                 physiology: Optional[dict] = None) -> None:
        BaseWidget.__init__(self, model, data, neural=neural, arrangement=arrangement,
                            fv_settings=check_featurevis(featurevis or {}),
                            attr_settings={**ATTR_DEFAULTS, **(attribution or {})},
                            align_settings=check_alignment(alignment or {}),
                            neuron_settings=check_neurons(neurons or {}),
                            phys_settings=check_physiology(physiology or {}))
        if not self._has_neurons():  # RDM-level or no neural data: no Neurons tab
            self._panels = [p for p in self._panels if p != "neurons"]
        self._attr_setup()
        self._rdm_setup()
        if layer is not None:
            self.select(layer)


class LayerTree(BaseWidget):
    """The layer tree alone (what a Probe displays as once ``%load_ext neuro_widgets`` ran)."""

    PANELS = ("tree",)
