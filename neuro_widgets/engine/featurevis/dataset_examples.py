"""Dataset examples: per channel, the stimuli that drive it most (and least), where, and the crop around it.

One batched pass over the stimuli, hooked at one layer, stopped right after it, keeps for every stimulus and
channel only the maximum over space and its position — never the full maps — so memory is N x C numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from ..export import Figured, Tabular
from ..hooks import capture
from ..model_state import preserved
from ..probe import Probe
from ..progress import CancelToken, ProgressArg, check_cancel, make_reporter
from ..stimuli import StimulusSet
from .receptive_field import ReceptiveField, receptive_field
from .taps import resolve_taps


@dataclass
class DatasetExamples(Tabular, Figured):
    """Top-k / bottom-k stimuli per channel of one layer, ranked by the channel's maximum over space."""

    layer: str
    stimuli: StimulusSet
    top: np.ndarray  # (C, k) stimulus indices, strongest first
    top_values: np.ndarray  # (C, k) max-over-space activations
    top_positions: np.ndarray  # (C, k, 2) (row, col) of the maximum in the layer's map
    bottom: np.ndarray  # (C, k) stimulus indices, weakest first
    bottom_values: np.ndarray
    bottom_positions: np.ndarray
    top_boxes: np.ndarray  # (C, k, 4) (top, left, bottom, right) of the receptive field in stimulus pixels
    bottom_boxes: np.ndarray
    receptive_field: ReceptiveField
    max_activations: np.ndarray  # (N, C) every stimulus's max over space (for histograms)

    def crop(self, channel: int, rank: int = 0, which: str = "top") -> np.ndarray:
        """The receptive-field crop (uint8 h x w x 3) of the ``rank``-th top (or bottom) stimulus."""
        if which not in ("top", "bottom"):
            raise ValueError(f"which must be 'top' or 'bottom', got {which!r}")
        idx, boxes = (self.top, self.top_boxes) if which == "top" else (self.bottom, self.bottom_boxes)
        t, l, b, r = boxes[channel, rank]
        return self.stimuli.images[idx[channel, rank], t:b, l:r]

    def to_records(self) -> List[Dict[str, Any]]:
        """One row per (channel, top/bottom, rank): the stimulus (position and id), its max-over-space
        activation, where in the layer's map it peaked and the receptive-field box in stimulus pixels."""
        rows = []
        for which in ("top", "bottom"):
            idx, values, positions, boxes = (getattr(self, which), getattr(self, f"{which}_values"),
                                             getattr(self, f"{which}_positions"), getattr(self, f"{which}_boxes"))
            for c in range(idx.shape[0]):
                for rank in range(idx.shape[1]):
                    i = int(idx[c, rank])
                    t, l, b, r = (int(v) for v in boxes[c, rank])
                    rows.append({"layer": self.layer, "channel": c, "which": which, "rank": rank, "stimulus": i,
                                 "stimulus_id": self.stimuli.ids[i], "activation": float(values[c, rank]),
                                 "row": int(positions[c, rank, 0]), "col": int(positions[c, rank, 1]),
                                 "box_top": t, "box_left": l, "box_bottom": b, "box_right": r})
        return rows

    def __repr__(self) -> str:
        c, k = self.top.shape
        return f"DatasetExamples({self.layer!r}, {c} channels, top/bottom {k} of {len(self.stimuli)} stimuli)"

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_dataset_examples``)."""
        from ...figures import plot_dataset_examples

        return plot_dataset_examples(self, ax, **style)

def dataset_examples(
    probe: Probe,
    layer: str,
    stimuli: Any,
    k: int = 9,
    *,
    batch_size: int = 64,
    progress: ProgressArg = None,
    cancel: Optional[CancelToken] = None,
) -> DatasetExamples:
    """Per channel of ``layer``: the ``k`` stimuli with the highest and the lowest maximum over space, the
    position of that maximum, and the receptive field around it (see :mod:`.receptive_field`).

    >>> ex = dataset_examples(probe, "layer3", nw.datasets.kriegeskorte2008().stimuli, k=6)
    >>> ex.top[5], ex.crop(5, 0)
    """
    if not isinstance(probe, Probe):
        raise TypeError(f"the first argument must be an nw.Probe, not {type(probe).__name__}")
    if isinstance(stimuli, np.ndarray):
        stimuli = StimulusSet.from_arrays(stimuli)
    if not isinstance(stimuli, StimulusSet):
        raise TypeError(f"stimuli must be an nw.StimulusSet or a uint8 image array (N, H, W, 3), "
                        f"not {type(stimuli).__name__}")
    taps = resolve_taps(probe, [layer])
    n = len(stimuli)
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > n:
        raise ValueError(f"k={k} is larger than the {n} stimuli; use k <= {n}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    report = make_reporter(progress, f"dataset examples {layer}")
    maxes, where = [], []
    map_size = (1, 1)
    check_cancel(cancel)
    with preserved(probe.module), torch.no_grad(), capture(probe.module, list(taps.calls), calls=taps.calls) as cap:
        for start in range(0, n, batch_size):
            check_cancel(cancel)
            stop = min(start + batch_size, n)
            cap.run(probe.batch(stimuli, start, stop))
            a = taps.acts(cap)[layer]
            if a.dim() == 4:
                map_size = tuple(a.shape[-2:])
                flat = a.flatten(2)
            else:
                flat = a.reshape(a.shape[0], a.shape[1] if a.dim() > 1 else 1, -1)
            v, i = flat.max(dim=2)
            maxes.append(v.float().cpu())
            where.append(i.cpu())
            report(stop, n)
    m = torch.cat(maxes).numpy()  # (N, C)
    pos = torch.cat(where).numpy()
    order = np.argsort(-m, axis=0, kind="stable")  # (N, C)
    top = order[:k].T
    bottom = order[::-1][:k].T
    rf = receptive_field(probe, layer)
    scale = (stimuli.images.shape[1] / probe.input_spec.size[0], stimuli.images.shape[2] / probe.input_spec.size[1])

    def pick(idx: np.ndarray):
        chans = np.arange(idx.shape[0])[:, None]
        vals = m[idx, chans]
        flat = pos[idx, chans]
        yx = np.stack([flat // map_size[1], flat % map_size[1]], axis=-1)
        boxes = np.empty(idx.shape + (4,), dtype=np.int64)
        for c in range(idx.shape[0]):
            for r in range(idx.shape[1]):
                t, l, b, rr = rf.box(int(yx[c, r, 0]), int(yx[c, r, 1]))
                boxes[c, r] = (int(np.floor(t * scale[0])), int(np.floor(l * scale[1])),
                               int(np.ceil(b * scale[0])), int(np.ceil(rr * scale[1])))
        return vals, yx, boxes

    tv, tp, tb = pick(top)
    bv, bp, bb = pick(bottom)
    return DatasetExamples(layer=layer, stimuli=stimuli, top=top, top_values=tv, top_positions=tp, bottom=bottom,
                           bottom_values=bv, bottom_positions=bp, top_boxes=tb, bottom_boxes=bb,
                           receptive_field=rf, max_activations=m)
