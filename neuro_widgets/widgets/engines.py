"""Adapters between the widgets and the engines' result objects: they turn what the engines return into what
the panels send to the front end."""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..engine.alignment import METRIC_SPECS
from ..engine.attribution import overlay_pngs
from ..engine.attribution.core import check_layer
from ..engine.attribution.registry import get_method


def fraction_progress(report: Callable[..., None], message: str) -> Callable[..., None]:
    """Engine ``progress(done, total, **extra)`` -> the job's ``report(fraction, message, **extra)``."""

    def progress(done: float, total: float, **extra: Any) -> None:
        report(done / total if total else 1.0, f"{message} {int(done)}/{int(total)}", **extra)

    return progress


def layer_problem(probe: Any, method: str, layer: str) -> Optional[str]:
    """Why attribution ``method`` cannot run through ``layer`` (the engine's own check, e.g. Grad-CAM on a
    layer without a spatial map), or None when it applies (methods that take no layer always apply)."""
    if not get_method(method).needs_layer:
        return None
    try:
        check_layer(probe, layer, method, spatial=True)
    except (ValueError, TypeError, KeyError) as err:
        return str(err)
    return None


# ---- result objects -> what the panels show ----------------------------------------------------------------
def example_rows(examples: Any, channel: int) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Top-k and bottom-k dataset examples of one channel (``featurevis.DatasetExamples``) as
    ``[{"index", "id", "value", "image": PNG of the receptive-field crop}]``."""
    from .codec import png_bytes

    def rows(which: str) -> List[Dict[str, Any]]:
        idx = np.asarray(getattr(examples, which))[channel]
        val = np.asarray(getattr(examples, f"{which}_values"))[channel]
        return [{"index": int(i), "id": examples.stimuli.ids[int(i)], "value": float(v),
                 "image": png_bytes(examples.crop(channel, rank, which), 64)}
                for rank, (i, v) in enumerate(zip(idx, val))]

    return rows("top"), rows("bottom")


def attribution_overlays(results: Sequence[Any], image: Any, size: int, sign: str,
                         shared: bool) -> Tuple[List[bytes], Optional[float]]:
    """PNG overlays of several attribution results (one image each), on one shared absolute scale (and that
    scale) or each on its own (scale None)."""
    pngs, scale = overlay_pngs(results, image, shared_scale=shared, sign=sign, size=size)
    return list(pngs), None if scale is None else float(scale)


def contribution_bars(result: Any, top: int) -> Tuple[List[int], List[float]]:
    """The ``top`` channels by absolute contribution, ranked by signed value (largest first)."""
    values = np.asarray(getattr(result, "values", result), dtype=np.float64).reshape(-1)
    order = np.argsort(-np.abs(values), kind="stable")[:top]
    order = order[np.argsort(-values[order], kind="stable")]
    return [int(c) for c in order], [float(values[c]) for c in order]


def sanity_curve(result: Any) -> Dict[str, Any]:
    return {"steps": [str(s) for s in result.steps], "correlations": [float(c) for c in result.correlations]}


def sweep_summary(results: Sequence[Any], layers: Sequence[str], label: Optional[str] = None) -> Dict[str, Any]:
    """The rows of sweeps of the same settings (``alignment.SweepResult``; e.g. the blocks' table and one more
    layer) -> per region, one value per layer (score, CI, random control) and the region's noise ceiling, in
    the order of ``layers``; ``label`` names the score (default: the metric's label)."""
    result = results[0]
    rows = [row for res in results for row in res.rows]
    regions = list(dict.fromkeys(r.region for r in rows))
    pos = {name: i for i, name in enumerate(layers)}

    def blank() -> Dict[str, List[Optional[float]]]:
        return {reg: [None] * len(layers) for reg in regions}

    score, lo, hi, control, control_lo, control_hi = blank(), blank(), blank(), blank(), blank(), blank()
    ceiling: Dict[str, Optional[float]] = {reg: None for reg in regions}
    notes: Dict[str, str] = {reg: "" for reg in regions}
    for r in rows:
        if r.layer not in pos:
            continue
        i = pos[r.layer]
        if r.model == "trained":
            score[r.region][i], lo[r.region][i], hi[r.region][i] = _num(r.score), _num(r.ci_low), _num(r.ci_high)
            if ceiling[r.region] is None:
                ceiling[r.region] = _num(r.ceiling)
            notes[r.region] = notes[r.region] or r.ceiling_note
        elif r.model == "random":  # one control, or the pool of several seeds ("random:<seed>" rows are its parts)
            control[r.region][i] = _num(r.score)
        else:  # one initialisation of several: the control's spread is the range over them
            for band, pick in ((control_lo, min), (control_hi, max)):
                old = band[r.region][i]
                band[r.region][i] = _num(r.score) if old is None else _num(pick(old, float(r.score)))
    bands = result.settings.get("ceiling_bands", {})
    upper = {reg: _num(bands.get(reg, {}).get("upper")) for reg in regions}
    return {"layers": list(layers), "regions": regions, "score": score, "ci_low": lo, "ci_high": hi,
            "control": control, "control_low": control_lo, "control_high": control_hi,
            "control_seeds": len(result.settings.get("control_seeds") or []),
            "ceiling": ceiling, "ceiling_upper": upper, "ceiling_note": notes,
            "label": label or METRIC_SPECS.get(result.metric, {}).get("label", result.metric)}


def _num(x: Any) -> Optional[float]:
    if x is None:
        return None
    v = float(x)
    return v if np.isfinite(v) else None
