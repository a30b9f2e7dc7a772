"""The RDM viewer: the selected layer's RDM next to a brain region's (mean over subjects); hovering a cell
shows both stimuli and both values (drawn by the front end from the arrays sent here)."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import traitlets as t

from . import codegen
from ..engine.alignment.rdm import RDM_METHOD_LABELS, RDM_METHODS, rdm
from .base import PRIORITY, BaseWidget
from .codec import check_message_size, encode_array
from ..figures import plot_rdms
from .engines import fraction_progress
from .figure_export import file_stem
from .jobs import Notice

#: two N x N float32 RDMs are 8 N^2 bytes in one message; this keeps them under codec.MAX_MESSAGE_BYTES
MAX_RDM_STIMULI = 700


def stimulus_categories(stimuli: Any, index: Any) -> Optional[List[str]]:
    """The ``category`` metadata of the stimuli at ``index`` (the RDM's rows), or None when there is none."""
    column = stimuli.metadata.get("category")
    return None if column is None else [str(c) for c in np.asarray(column)[index]]


class RDMPanel(t.HasTraits):
    """Mixin: RDMs for the selected layer and a chosen region (needs ``BaseWidget``)."""

    rdm_region = t.Unicode("").tag(sync=True)
    regions = t.List(t.Unicode()).tag(sync=True)
    #: {"layer", "region", "ids", "layer_rdm": array payload, "region_rdm": array payload or None}
    rdm_data = t.Dict().tag(sync=True)

    def _rdm_setup(self) -> None:
        self.regions = list(self.neural.regions) if self.neural is not None else []
        if self.regions and not self.rdm_region:
            self.rdm_region = self.regions[-1]

    def layer_views(self) -> Dict[str, Any]:
        return {**super().layer_views(), "rdm": self._layer_rdm}

    @t.observe("rdm_region")
    def _rdm_region_changed(self, change: Any) -> None:
        if self.selected_layer:
            self._layer_rdm(self.selected_layer)

    def _layer_rdm(self, layer: str) -> None:
        try:
            stimuli = self.require_stimuli("the RDM viewer")
            if len(stimuli) > MAX_RDM_STIMULI:
                raise ValueError(f"the RDM viewer shows at most {MAX_RDM_STIMULI} stimuli; this set has "
                                 f"{len(stimuli)} (pass a subset: stimuli[:{MAX_RDM_STIMULI}])")
            region = self.rdm_region
            if region and self.neural is not None and region not in self.neural.regions:
                raise ValueError(f"unknown region {region!r}; the data has {self.neural.regions}")
        except ValueError as err:
            self.fail("rdm", str(err))
            return
        self.rdm_data = {}  # never the previous layer's RDM under this layer's name
        note = self.reused_note(layer)
        if note:
            self.notice("rdm", note)
            return
        neural = self.neural
        rdm_level = hasattr(neural, "rdms")

        def work(report: Any, cancel: Any) -> Dict[str, Any]:
            if region and neural is not None:
                ids = list(neural.stimulus_ids)  # the region's RDM order; the layer's RDM follows it
                shown = stimuli[stimuli.index_of(ids)]
                brain = neural if rdm_level else neural.to_rdms()
                region_rdm = brain.rdms(region).mean(axis=0)
            else:
                ids, shown, region_rdm = list(stimuli.ids), stimuli, None
            acts = self.probe.activations(shown, [layer], progress=fraction_progress(report, "activations"),
                                          cancel=cancel)[layer]
            if isinstance(acts, list):
                acts = acts[0]
            flat = acts.reshape(len(acts), -1)
            constant = [ids[i] for i in np.flatnonzero(np.ptp(np.asarray(flat, dtype=np.float64), axis=1) == 0)]
            if constant:
                raise Notice(f"layer {layer!r} has no RDM: its response to {len(constant)} of {len(ids)} stimuli "
                             f"(e.g. {constant[0]!r}) is the same value everywhere, and the correlation distance "
                             "of a constant pattern is undefined (a layer that outputs zeros, such as a "
                             "zero-initialised head, does this); pick another layer")
            layer_rdm = np.asarray(rdm(flat, RDM_METHODS[0]), dtype=np.float64)  # the label below names it
            return {"ids": ids, "layer_rdm": layer_rdm, "region_rdm": region_rdm}

        def show(out: Dict[str, Any]) -> None:
            region_rdm = None if out["region_rdm"] is None else encode_array(out["region_rdm"])
            index = stimuli.index_of(out["ids"])
            categories = stimulus_categories(stimuli, index)
            self.rdm_data = check_message_size(
                {"layer": layer, "region": region, "ids": out["ids"], "index": index.tolist(),
                 "categories": categories, "layer_rdm": encode_array(out["layer_rdm"]), "region_rdm": region_rdm},
                "the RDMs")
            shown = {f"{layer} ({RDM_METHOD_LABELS[RDM_METHODS[0]]})": out["layer_rdm"]}
            if out["region_rdm"] is not None:
                shown[f"{region}, mean over subjects"] = out["region_rdm"]
            self.keep_figure("rdm", plot_rdms, file_stem("rdm", layer, region), rdms=shown, categories=categories)
            self.set_code("rdm", codegen.rdms(layer, region, rdm_level))

        self.runner.submit("rdm", ("rdm", layer, region), work, show, priority=PRIORITY["rdm"])


class RDMWidget(RDMPanel, BaseWidget):
    """A layer's RDM beside a brain region's, with stimulus thumbnails on hover.

    >>> w = nw.RDMWidget(nw.load_model("cifar_resnet20"), nw.datasets.kriegeskorte2008(), layer="layer3")
    """

    PANELS = ("rdm",)

    def __init__(self, model: Any, dataset: Any, *, neural: Any = None, layer: Optional[str] = None,
                 region: str = "") -> None:
        BaseWidget.__init__(self, model, dataset, neural=neural)
        self._rdm_setup()
        if region:
            self.rdm_region = region
        if layer is not None:
            self.select(layer)
