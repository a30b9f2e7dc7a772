"""The notebooks' exercises: every check accepts the right answer, rejects a plausible wrong one, says "not
answered yet" for the untouched cell, and never raises; one notebook run with the solutions filled in prints
only ✓."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient

from neuro_widgets import teaching
from neuro_widgets.teaching import CORRECT, UNANSWERED, WRONG, grade

ROOT = Path(__file__).resolve().parents[1]
rng = np.random.default_rng(0)


def _mds_demo():
    """An RDM of points on a line ordered by animacy plus small noise: its first MDS axis is animacy."""
    animate = np.repeat([1.0, 0.0], 10)
    x = np.stack([animate * 3 + rng.normal(0, 0.3, 20), rng.normal(0, 0.3, 20)], 1)
    rdm = np.linalg.norm(x[:, None] - x[None], axis=-1)
    return rdm, animate


MAX_ACTS = rng.random((92, 8))
MAX_ACTS[17, 0] = 5.0
KEPT = {("pixel", None): 0.4, ("pixel", "standard"): 0.8, ("fft", None): 0.5, ("fft", "standard"): 0.9}
IG_ATTR = torch.full((1, 3, 4, 4), 0.1)  # sum 4.8
IG_DELTA = torch.tensor([0.2])  # F(x) - F(b) = 4.6, gap 0.2 / 4.6
VALUES = torch.tensor([0.1, -3.0, 2.0, 0.5])
CORRELATIONS = {"saliency": [1.0, 0.1, 0.0, -0.1], "guided_backprop": [1.0, 0.9, 0.8, 0.7]}
BEST = [("mIT", "trained", "layer2"), ("hIT", "trained", "avgpool"), ("hIT", "random", "conv1")]
RDM, ANIMATE = _mds_demo()
PREDICTED = np.arange(20.0)[::-1]  # images 0..7 ranked highest
OSI = np.array([np.nan, 0.3, 0.7, 0.2])
D_PRIME = np.array([[2.0, 1.5, 0.0], [2.0, 0.5, 0.0], [0.2, 3.0, 0.0], [1.2, 1.1, 2.0]])
DOMAINS = ("faces", "bodies", "places")

# name: (context, a right answer, a plausible wrong answer)
CASES = {
    "tour_strongest_image": (dict(max_activations=torch.tensor(MAX_ACTS), channel=0), np.int64(17), 5.0),
    "tour_best_stage_rsa": (dict(scores={"stage1": 0.05, "stage2": 0.12, "stage3": 0.10}), "stage2", "stage3"),
    "fv_superstimulus_ratio": (dict(optimized=np.float32(12.0), real=np.array([1.0, 3.0, 2.0])), 4.0, 6.0),
    "fv_most_robust_variant": (dict(kept=KEPT), ("fft", "standard"), ("pixel", "standard")),
    "fv_strongest_sheet_channel": (dict(channels=np.array([3, 9, 4]), activations=np.array([1.0, 5.0, 2.0])),
                                   9, 1),
    "attr_ig_gap": (dict(attributions=IG_ATTR, delta=IG_DELTA), 0.2 / 4.6, 0.2 / 4.8),
    "attr_top_positive_channel": (dict(values=VALUES), 2, 1),
    "attr_fails_sanity_check": (dict(correlations=CORRELATIONS), "guided_backprop", "saliency"),
    "align_best_layer_heldout": (dict(best=BEST), "avgpool", "layer2"),
    "align_noise_ceiled": (dict(score=0.15, ceiling_lower=0.3), 0.5, 0.15 / 0.4),
    "align_78_trained_beats_random": (dict(ci_low=-0.02, ci_high=0.05), False, True),
    "ai_model_animacy_r": (dict(rdm=RDM, animate=ANIMATE),
                           abs(np.corrcoef(teaching._first_mds_axis(RDM), ANIMATE)[0, 1]), 0.5),
    "ai_readout_animate_fraction": (dict(predicted=PREDICTED, animate=np.r_[np.ones(6), np.zeros(14)], k=8),
                                    0.75, 6),
    "neurons_best_layer": (dict(scores={"stage1": 0.2, "stage2": 0.4, "fc": 0.3}), "stage2", "fc"),
    "neurons_ceiled_score": (dict(score=0.4, ceiling=0.8), 0.5, 0.32),
    "phys_most_selective": (dict(osi=OSI), 2, 0),
    "phys_most_suppressed": (dict(channels=np.array([12, 3, 40]), suppression_index=np.array([0.1, np.nan, 0.6])),
                             40, 2),
    "phys_face_and_body_channels": (dict(d_prime=D_PRIME, domains=DOMAINS, threshold=1.0), 2, 3),
}


def test_every_exercise_has_a_case():
    assert set(CASES) == set(teaching.EXERCISES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_right_answer_passes_wrong_answer_fails(name):
    context, right, wrong = CASES[name]
    assert grade(name, right, **context)[0] == CORRECT
    status, message = grade(name, wrong, **context)
    assert status == WRONG and message.startswith("✗") and "Hint" in message
    assert grade(name, None, **context)[0] == UNANSWERED


def test_expected_values_match_hand_computations():
    # the synthetic contexts have answers worked out by hand; these pin the solvers to them
    assert grade("attr_ig_gap", 0.04348, attributions=IG_ATTR, delta=IG_DELTA)[0] == CORRECT
    assert grade("ai_model_animacy_r", 0.99, rdm=RDM, animate=ANIMATE)[0] == CORRECT  # |r| near 1 by construction
    assert grade("attr_fails_sanity_check", "guided_backprop",
                 correlations={"saliency": [1.0, 0.9], "guided_backprop": [1.0, 0.95]})[0] == CORRECT


def test_check_never_raises_and_prints(capsys):
    teaching.check("tour_strongest_image", None, max_activations=MAX_ACTS)
    teaching.check("tour_strongest_image", "seventeen", max_activations=MAX_ACTS)
    teaching.check("align_noise_ceiled", 0.5)  # context missing
    teaching.check("no_such_exercise", 1)
    teaching.check("phys_most_selective", 2, osi=OSI)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("… not answered yet")
    assert lines[1].startswith("✗") and lines[2].startswith("✗ could not check") and lines[3].startswith("✗ no exercise")
    assert lines[4].startswith("✓")


def test_answers_of_the_wrong_kind_are_wrong_not_errors():
    assert grade("attr_top_positive_channel", True, values=torch.tensor([0.0, 1.0]))[0] == WRONG
    assert grade("align_noise_ceiled", "0.5", score=0.15, ceiling_lower=0.3)[0] == WRONG
    assert grade("tour_best_stage_rsa", np.array(["stage2", "stage3"]), scores={"stage2": 1.0, "stage3": 0.0})[0] == WRONG
    assert grade("fv_most_robust_variant", np.array([1.0, 2.0]), kept=KEPT)[0] == WRONG


# Solutions, per notebook, in the order of its exercise cells.
SOLUTIONS = {
    "01_tour": [
        "answer = int(ex.max_activations[:, 0].argmax())",
        "answer = max(acts, key=lambda name: nw.alignment.compare_rdms(nw.alignment.rdm(acts[name]), hit).mean())",
    ],
    "02_optimal_stimuli": [
        'answer = variants[("fft", "standard")].final_values[0] / real.max()',
        "answer = max(kept, key=kept.get)",
        "answer = int(sheet.channels[np.argmax(sheet.activations)])",
    ],
    "03_attribution": [
        'r = runs["integrated_gradients"]\nanswer = float(r.delta[0].abs() / (r.attributions.sum() - r.delta[0]).abs())',
        "answer = int(contrib.values.argmax())",
        "answer = max(curves, key=lambda m: np.nanmean(curves[m].correlations[1:]))",
    ],
    "04_brain_alignment": [
        'answer = rsa["layer3"] / ceilings["92 images, human IT"].lower',
        'answer = next(b.layer for b in res92.best if b.region == "hIT" and b.model == "trained")',
        'answer = next(bool(d.ci_low > 0) for d in res78.differences if d.region == "IT")',
    ],
    "05_ai_vs_neuroscience": [
        "answer = abs(np.corrcoef(mds(np.asarray(nw.alignment.rdm(acts), dtype=float))[:, 0], animate)[0, 1])",
        "answer = animate[np.argsort(-predicted)[:8]].mean()",
    ],
    "06_neurons": [
        'answer = table[table.model == "trained"].set_index("layer").score.idxmax()',
        'row = table[(table.model == "trained") & (table.layer == best)].iloc[0]\nanswer = row.score / row.ceiling',
    ],
    "07_physiology": [
        "answer = int(np.nanargmax(survey.osi))",
        "answer = int(size.channels[np.nanargmax(size.suppression_index)])",
        'f, b = late.domains.index("faces"), late.domains.index("bodies")\n'
        "answer = int(((late.d_prime[:, f] > late.threshold) & (late.d_prime[:, b] > late.threshold)).sum())",
    ],
}
BLANK = "answer = None  # your code here"


def run_with_solutions(stem: str) -> list:
    """Execute notebook ``stem`` with its exercise cells solved; what each check cell printed."""
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    nb = nbformat.read(path, as_version=4)
    blanks = [c for c in nb.cells if c.cell_type == "code" and c.source.strip() == BLANK]
    assert len(blanks) == len(SOLUTIONS[stem])
    for cell, solution in zip(blanks, SOLUTIONS[stem]):
        cell.source = solution
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # the kernel imports this checkout, not an installed copy
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=env)
    return ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
            for c in nb.cells if c.cell_type == "code" and "teaching.check" in c.source]


def test_every_notebook_has_two_or_three_exercises_with_a_solution_here():
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        blanks = sum(c.cell_type == "code" and c.source.strip() == BLANK for c in nb.cells)
        checks = sum(c.cell_type == "code" and "teaching.check" in c.source for c in nb.cells)
        assert 2 <= blanks == checks == len(SOLUTIONS[path.stem]) <= 3, path.name


def test_tour_notebook_with_solutions_prints_only_ticks():
    printed = run_with_solutions("01_tour")
    assert len(printed) == len(SOLUTIONS["01_tour"])
    assert all(text.startswith("✓") for text in printed), printed
