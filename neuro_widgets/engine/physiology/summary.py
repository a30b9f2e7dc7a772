"""A layer's tuning at a glance: histograms over channels of preferred orientation, OSI and F1/F0, and the
oblique effect (more orientation-tuned channels prefer cardinal than oblique orientations)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

import numpy as np
from scipy.stats import binomtest

if TYPE_CHECKING:
    from .tuning import TuningSurvey


def _histogram(values: np.ndarray, edges: np.ndarray, label: str) -> Dict[str, Any]:
    counts, _ = np.histogram(values[np.isfinite(values)], bins=edges)
    return {"edges": edges, "counts": counts, "x_label": label, "y_label": "channels"}


def layer_summary(survey: "TuningSurvey", osi_threshold: float = 0.2, bins: int = 12) -> Dict[str, Any]:
    """Histograms and counts for a panel; orientation statistics use the channels with OSI >= threshold.

    Oblique effect: among tuned channels, the fraction whose preference lies within 22.5 deg of horizontal or
    vertical (half of all orientations, so 0.5 without an effect), with a two-sided binomial test against 0.5.
    """
    ok = survey.responsive
    osi = survey.osi[ok]
    tuned = ok & (np.nan_to_num(survey.osi) >= osi_threshold)
    pref = survey.preferred_orientation[tuned]
    distance = np.abs(((pref + 45) % 90) - 45)  # to the nearest cardinal orientation
    n_cardinal, n_tuned = int((distance < 22.5).sum()), int(tuned.sum())
    return {
        "layer": survey.layer, "n_channels": survey.n_channels, "n_responsive": int(ok.sum()),
        "n_tuned": n_tuned, "osi_threshold": osi_threshold,
        "osi_median": float(np.median(osi)) if len(osi) else float("nan"),
        "osi_quartiles": np.percentile(osi, [25, 75]) if len(osi) else np.full(2, np.nan),
        "fraction_simple": float(survey.simple[ok].mean()) if ok.any() else float("nan"),
        "preferred_orientation": _histogram(pref, np.linspace(0, 180, bins + 1), "preferred orientation (deg)"),
        "osi": _histogram(osi, np.linspace(0, 1, 11), "OSI (1 - circular variance)"),
        "f1f0": _histogram(survey.f1f0[ok], np.linspace(0, 2, 11), "F1/F0 (> 1: simple)"),
        "oblique_effect": {"cardinal_fraction": n_cardinal / n_tuned if n_tuned else float("nan"),
                           "p_value": binomtest(n_cardinal, n_tuned, 0.5).pvalue if n_tuned else float("nan"),
                           "n_tuned": n_tuned},
    }
