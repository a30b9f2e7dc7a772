"""progress=True is a tqdm.auto bar; callables are called as progress(done, total[, **extra])."""
from __future__ import annotations

from neuro_widgets.engine.progress import make_reporter


def test_progress_true_draws_one_tqdm_bar_and_closes_it(capsys):
    report = make_reporter(True, "activations")
    for done in range(1, 5):
        report(done, 4, images=None)
    err = capsys.readouterr().err
    assert "activations" in err and "4/4" in err and "100%" in err
    report(1, 2)          # a new run after the bar closed starts a new bar
    report(2, 2)
    assert "2/2" in capsys.readouterr().err


def test_callables_without_extra_keywords_still_work():
    seen = []
    report = make_reporter(lambda done, total: seen.append((done, total)), "x")
    report(1, 3, images="ignored")
    assert seen == [(1, 3)]
