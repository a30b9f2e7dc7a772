"""Exercises for the teaching notebooks, with hidden checks.

``check(name, answer, **context)`` works out the expected answer itself from the context the notebook passes
(result objects' arrays, never the answer), so the solution is not written in the notebook. It prints ✓ or ✗
with a hint and never raises: the notebooks run top to bottom with the exercises unanswered
(``answer = None``), which prints "not answered yet". Numpy only: no engine, no widgets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Tuple

import numpy as np

UNANSWERED = "unanswered"
CORRECT = "correct"
WRONG = "wrong"


@dataclass(frozen=True)
class Exercise:
    question: str
    solve: Callable[..., Any]  # context -> the expected answer
    hint: str
    rtol: float = 0.0  # > 0: the answer is a number, right within this relative tolerance


def _array(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def _argmax_key(scores: Mapping[Any, Any]) -> Any:
    keys = list(scores)
    return keys[int(np.nanargmax([float(np.nanmean(_array(scores[k]))) for k in keys]))]


def _completeness_gap(attributions: Any, delta: Any) -> float:
    """|delta| / |F(x) - F(baseline)|, where F(x) - F(baseline) = sum(attributions) - delta (largest over images)."""
    a, d = _array(attributions), _array(delta).reshape(-1)
    change = a.reshape(len(d), -1).sum(1) - d
    return float(np.max(np.abs(d) / np.abs(change)))


def _pearson(x: Any, y: Any) -> float:
    return float(np.corrcoef(_array(x).ravel(), _array(y).ravel())[0, 1])


def _first_mds_axis(rdm: Any) -> np.ndarray:
    """Classical MDS: the coordinate of largest variance of the points whose distances reproduce the RDM."""
    d = _array(rdm)
    centring = np.eye(len(d)) - 1 / len(d)
    evals, evecs = np.linalg.eigh(-0.5 * centring @ d @ centring)
    return evecs[:, int(np.argmax(evals))]


EXERCISES: Dict[str, Exercise] = {
    # 01 tour
    "tour_strongest_image": Exercise(
        "Which of the 92 images drives channel 0 of stage3 the most (its index)?",
        lambda max_activations, channel=0: int(np.argmax(_array(max_activations)[:, channel])),
        "the answer is an image index (0-91), not an activation value: look at ex.top or take the argmax of "
        "ex.max_activations over images"),
    "tour_best_stage_rsa": Exercise(
        "Which stage (stage1, stage2 or stage3) has the highest mean RSA with human IT?",
        lambda scores: _argmax_key(scores),
        "compare nw.alignment.compare_rdms(nw.alignment.rdm(acts[name]), hit).mean() for each stage"),
    # 02 optimal stimuli
    "fv_superstimulus_ratio": Exercise(
        "How many times harder does the fft + transforms image drive the channel than the best real image?",
        lambda optimized, real: float(optimized) / float(np.max(_array(real))),
        "divide the optimized image's final value by the strongest real response (real.max()), not the mean",
        rtol=0.01),
    "fv_most_robust_variant": Exercise(
        "Which (param, transforms) variant keeps the largest share of its activation when shifted?",
        lambda kept: _argmax_key(kept),
        "the answer is a key of `kept`, e.g. ('pixel', None); pick the one with the largest value"),
    "fv_strongest_sheet_channel": Exercise(
        "Which channel of the contact sheet reaches the highest activation in its optimized image (the channel "
        "number)?",
        lambda channels, activations: int(np.asarray(channels)[int(np.argmax(_array(activations)))]),
        "answer with the channel number from sheet.channels at the position of the largest sheet.activations"),
    # 03 attribution
    "attr_ig_gap": Exercise(
        "Compute the integrated-gradients completeness gap |delta| / |F(x) - F(baseline)| of the face image.",
        lambda attributions, delta: _completeness_gap(attributions, delta),
        "F(x) - F(baseline) is not stored: it is sum(attributions) - delta (ig.attributions, ig.delta); "
        "the gap is relative, |delta| divided by that", rtol=0.01),
    "attr_top_positive_channel": Exercise(
        "Which layer3 channel contributes most positively to the class score?",
        lambda values: int(np.argmax(_array(values))),
        "most positive, not largest in magnitude and not most negative: the argmax of contrib.values"),
    "attr_fails_sanity_check": Exercise(
        "Which method's maps stay most similar to the original when the weights are randomised (i.e. fails the "
        "sanity check)?",
        lambda correlations: _argmax_key({k: _array(v)[1:] for k, v in correlations.items()}),
        "a method passes when its map changes (low correlation) once the weights are destroyed"),
    # 04 brain alignment
    "align_best_layer_heldout": Exercise(
        "Which layer best matches human IT (hIT) under RSA, chosen on the selection split and reported held out?",
        lambda best: next(layer for region, model, layer in best if region == "hIT" and model == "trained"),
        "read res92.best: the held-out choice for the trained model and region 'hIT' (not the highest raw score)"),
    "align_noise_ceiled": Exercise(
        "Compute layer3's noise-ceiled RSA score with human IT (score / lower noise ceiling).",
        lambda score, ceiling_lower: float(score) / float(ceiling_lower),
        "divide by the LOWER bound of the noise ceiling (what a model could reach), not the upper", rtol=0.01),
    "align_78_trained_beats_random": Exercise(
        "On the 78-image set, does the trained network beat the random one for IT beyond its 95 % CI? (True/False)",
        lambda ci_low, ci_high: bool(float(ci_low) > 0 or float(ci_high) < 0),
        "a difference is shown only when its whole confidence interval lies above zero"),
    # 05 AI vs neuroscience
    "ai_model_animacy_r": Exercise(
        "Is the model's dominant axis animacy too? Compute |r| between the first MDS axis of layer3's RDM and "
        "animacy.",
        lambda rdm, animate: abs(_pearson(_first_mds_axis(rdm), animate)),
        "use the notebook's mds() on the layer's RDM (not IT's), take column 0, correlate it with `animate`, "
        "and report the absolute value (an MDS axis has no sign)", rtol=0.01),
    "ai_readout_animate_fraction": Exercise(
        "What fraction of the 8 real images the readout puts furthest along the animacy axis are animate?",
        lambda predicted, animate, k=8: float(_array(animate)[np.argsort(-_array(predicted))[:k]].mean()),
        "take the 8 largest values of `predicted` (furthest along the axis) and average `animate` over them",
        rtol=1e-6),
    # 06 neurons
    "neurons_best_layer": Exercise(
        "Which layer of the trained network predicts V4 best (median held-out r)?",
        lambda scores: _argmax_key(scores),
        "compare the trained model's scores only (table[table.model == 'trained'])"),
    "neurons_ceiled_score": Exercise(
        "Compute the best layer's noise-ceiled score: its median held-out r divided by the split-half ceiling.",
        lambda score, ceiling: float(score) / float(ceiling),
        "use the ceiling the sweep reports for that row (the split-half reliability), and divide", rtol=0.01),
    # 07 physiology
    "phys_most_selective": Exercise(
        "Which stage1 channel is most orientation selective (highest OSI)?",
        lambda osi: int(np.nanargmax(_array(osi))),
        "unresponsive channels have OSI NaN: np.argmax stops at a NaN, np.nanargmax skips it"),
    "phys_most_suppressed": Exercise(
        "Of the 8 tuned channels in the size-tuning experiment, which one (its channel number) is most surround "
        "suppressed?",
        lambda channels, suppression_index: int(np.asarray(channels)[int(np.nanargmax(_array(suppression_index)))]),
        "answer with the channel number (from `tuned`), not its position in the list"),
    "phys_face_and_body_channels": Exercise(
        "How many stage3 channels are selective for both faces and bodies (d' above the threshold for each)?",
        lambda d_prime, domains, threshold=1.0: int(np.sum(
            (_array(d_prime)[:, list(domains).index("faces")] > threshold)
            & (_array(d_prime)[:, list(domains).index("bodies")] > threshold))),
        "d_prime has one row per channel and one column per domain (late.domains): count the rows where both the "
        "'faces' and the 'bodies' column exceed late.threshold (both, not either)"),
}


def _same(answer: Any, expected: Any, rtol: float) -> bool:
    if rtol > 0:
        if isinstance(answer, (str, bytes, bool, np.bool_)):
            return False
        try:
            value = float(_array(answer))
        except (TypeError, ValueError):
            return False
        return bool(np.isfinite(value) and abs(value - expected) <= rtol * abs(expected) + 1e-12)
    if isinstance(expected, bool):
        return isinstance(answer, (bool, np.bool_)) and bool(answer) == expected
    if isinstance(expected, int):
        return isinstance(answer, (int, np.integer)) and not isinstance(answer, (bool, np.bool_)) \
            and int(answer) == expected
    if isinstance(expected, tuple):
        return isinstance(answer, (tuple, list)) and tuple(answer) == expected
    if isinstance(expected, str):
        return isinstance(answer, str) and answer == expected
    try:
        return bool(answer == expected)
    except Exception:  # e.g. an array answer, whose == is elementwise
        return False


def grade(name: str, answer: Any, **context: Any) -> Tuple[str, str]:
    """(status, message): status is ``correct``, ``wrong`` or ``unanswered``. Never raises."""
    exercise = EXERCISES.get(name)
    if exercise is None:
        return WRONG, f"✗ no exercise named {name!r} (known: {', '.join(sorted(EXERCISES))})"
    if answer is None or answer is Ellipsis:
        return UNANSWERED, f"… not answered yet: {exercise.question}"
    try:
        expected = exercise.solve(**context)
    except Exception as error:  # a broken context is the notebook's problem, not the student's: say so
        return WRONG, f"✗ could not check {name!r}: {type(error).__name__}: {error}"
    if _same(answer, expected, exercise.rtol):
        return CORRECT, f"✓ correct: {exercise.question}"
    return WRONG, f"✗ not quite ({answer!r}). Hint: {exercise.hint}"


def check(name: str, answer: Any, **context: Any) -> None:
    """Print whether ``answer`` is right for exercise ``name``; the expected answer is computed from ``context``."""
    print(grade(name, answer, **context)[1])
