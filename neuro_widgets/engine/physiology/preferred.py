"""Responses of every channel to its own preferred grating under a series of conditions (contrasts or
aperture sizes), in one batched pass: channels that share a preferred (orientation, SF) share their stimuli."""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

import numpy as np

from ..describe import brief
from ..probe import Probe
from ..progress import CancelToken
from .responses import Unit, blank_response, record
from .stimuli import float_values, grating_rows
from .tuning import TuningSurvey, rectified_harmonics


def preferred_gratings(n_channels: int, channels: np.ndarray, survey: Optional[TuningSurvey], orientation: Any,
                       sf: Any) -> Tuple[np.ndarray, np.ndarray]:
    """Per channel in ``channels`` (orientation deg, SF cycles/pixel): given explicitly (one value, or one per
    channel of ``channels``) or the best grid condition of ``survey``."""
    if survey is not None and not isinstance(survey, TuningSurvey):
        raise TypeError(f"survey must be a TuningSurvey from tuning_survey(), got {brief(survey)}")
    if orientation is None or sf is None:
        if survey is None:
            raise ValueError("give the gratings' orientation= and sf=, or survey= a tuning survey of this layer "
                             "(each channel then gets its preferred orientation and SF)")
        if survey.n_channels != n_channels:
            raise ValueError(f"the survey has {survey.n_channels} channels but the layer has {n_channels}")
    k = len(channels)
    ori = survey.orientations[survey.best_orientation_index[channels]] if orientation is None else orientation
    freq = survey.sfs[survey.best_sf_index[channels]] if sf is None else sf
    ori = np.broadcast_to(float_values(ori, "orientation"), (k,)) if np.size(ori) in (1, k) else None
    freq = np.broadcast_to(float_values(freq, "sf", low=0.0, high=0.5, low_open=True), (k,)) \
        if np.size(freq) in (1, k) else None
    if ori is None or freq is None:
        raise ValueError(f"orientation and sf take one value or one per measured channel ({k})")
    return ori % 180.0, freq


def condition_responses(probe: Probe, layer: str, unit: Unit, channels: np.ndarray, orientation: np.ndarray,
                        sf: np.ndarray,
                        contrasts: np.ndarray, diameters: np.ndarray, phases: np.ndarray,
                        centre: Optional[Tuple[float, float]], batch_size: int,
                        report: Callable[..., None], cancel: Optional[CancelToken]) -> np.ndarray:
    """Tuning values (F0 + F1 - blank, see ``tuning``) (len(channels), K) of each channel to its own grating
    under the K conditions ``zip(contrasts, diameters)``."""
    pairs, which = np.unique(np.stack([orientation, sf], 1), axis=0, return_inverse=True)
    which = np.asarray(which).ravel()
    k, p = len(contrasts), len(phases)
    shape = (len(pairs), k, p)
    rows = {
        "orientation": np.broadcast_to(pairs[:, 0, None, None], shape),
        "sf": np.broadcast_to(pairs[:, 1, None, None], shape),
        "phase": np.broadcast_to(phases[None, None, :], shape),
        "contrast": np.broadcast_to(contrasts[None, :, None], shape),
        "diameter": np.broadcast_to(diameters[None, :, None], shape),
    }
    stim = grating_rows(probe.input_spec.size, centre=centre, **rows)
    blank = blank_response(probe, layer, unit, cancel)[channels]
    r = record(probe, layer, stim, unit, batch_size, report, cancel).reshape(len(pairs), k, p, -1)
    r = r[which, :, :, channels]  # (C, K, P): each channel under its own grating
    f0, f1 = rectified_harmonics(r, blank[:, None], phases)
    return f0 + f1
