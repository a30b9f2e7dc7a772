"""Engine calls that overlap in threads (a widget's worker and a notebook cell) give their serial results bit for
bit, and a user's own thread drawing random numbers gets the sequence it would get with no engine running."""
from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest
import torch
from conftest import assert_untouched, snapshot
from torch import nn

import neuro_widgets as nw
from neuro_widgets.engine.neural import NeuralRDMs
from neuro_widgets.engine.featurevis import dataset_examples, render
from neuro_widgets.engine.hooks import capture
from neuro_widgets.engine.model_state import private_copy
from neuro_widgets.engine.rng import drawing_from

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients",
                                        "ignore:Setting .*hooks:UserWarning")


def _net(seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                        nn.Linear(32, 5))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return net.eval()


@pytest.fixture(scope="module")
def setup():
    probe = nw.Probe(_net(), nw.InputSpec(size=(16, 16), mean=(0.5,) * 3, std=(0.25,) * 3))
    rng = np.random.default_rng(0)
    stim = nw.StimulusSet(rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8))
    rdms = rng.random((2, 24, 24))
    rdms = (rdms + rdms.transpose(0, 2, 1)) / 2
    rdms[:, np.arange(24), np.arange(24)] = 0
    neural = NeuralRDMs({"A": rdms}, stimulus_ids=stim.ids)
    return probe, stim, neural


def _run_together(jobs):
    """Run the callables in threads started together; their results (or the first error) in order."""
    out, errors = [None] * len(jobs), []
    start = threading.Barrier(len(jobs))

    def worker(i, job):
        start.wait()
        try:
            out[i] = job()
        except BaseException as err:  # noqa: BLE001 - reported below with its thread
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return out


def _slow(delay: float):
    """A progress callback that lingers at every step, so an overlapping call starts while hooks are set."""
    def progress(done, total, **_):
        time.sleep(delay)
    return progress


def _sweep(probe, stim, neural):
    return nw.alignment.sweep(probe, neural, stimuli=stim, layers=["0", "3", "7"], metric="rsa", control="random",
                              control_seed=2, n_boot=20)


def _same_sweep(a, b):
    assert [r.score for r in a.rows] == [r.score for r in b.rows]
    assert [(r.ci_low, r.ci_high) for r in a.rows] == [(r.ci_low, r.ci_high) for r in b.rows]
    assert [d.difference for d in a.differences] == [d.difference for d in b.differences]


def test_random_control_sweep_overlapping_render_and_dataset_examples_equals_serial(setup):
    probe, stim, neural = setup
    before = snapshot(probe.module)
    sweep_serial = _sweep(probe, stim, neural)
    render_serial = render(probe, "3:1", steps=4, size=16, seed=1)
    examples_serial = dataset_examples(probe, "3", stim, k=3, batch_size=4)
    for _ in range(2):
        sw, rn, ex = _run_together([
            lambda: _sweep(probe, stim, neural),
            lambda: render(probe, "3:1", steps=4, size=16, seed=1, progress=_slow(0.02)),
            lambda: dataset_examples(probe, "3", stim, k=3, batch_size=4, progress=_slow(0.02)),
        ])
        _same_sweep(sw, sweep_serial)
        assert np.array_equal(rn.images, render_serial.images)
        assert np.array_equal(ex.max_activations, examples_serial.max_activations)
    assert_untouched(probe.module, before)


def test_seeded_smoothgrad_overlapping_each_other_equals_serial(setup):
    probe, stim, _ = setup
    twin = nw.Probe(_net(), probe.input_spec)  # a second model: its calls do not wait for the first one's lock

    def smooth(p, seed):
        return nw.attribution.attribute(p, stim[:3], "smoothgrad", 1, nt_samples=4, seed=seed).attributions

    def shap(p, seed):
        return nw.attribution.attribute(p, stim[:3], "gradient_shap", 1, n_samples=4, seed=seed).attributions

    serial = [smooth(probe, 1), smooth(twin, 2), shap(probe, 3), shap(twin, 4)]
    for _ in range(2):
        together = _run_together([lambda: smooth(probe, 1), lambda: smooth(twin, 2), lambda: shap(probe, 3),
                                  lambda: shap(twin, 4)])
        for a, b in zip(together, serial):
            assert torch.equal(a, b)


def test_user_thread_draws_the_same_sequence_while_the_engine_runs(setup):
    probe, stim, neural = setup
    n_draws = 200

    def user_draws(wait: float):
        torch.manual_seed(7)
        np.random.seed(7)
        out = []
        for _ in range(n_draws):
            out.append((torch.randn(3), np.random.rand(2)))
            time.sleep(wait)
        return out

    expected = user_draws(0.0)
    engine_busy = threading.Event()

    def engine():
        engine_busy.set()
        nw.attribution.attribute(probe, stim[:2], "smoothgrad", 1, nt_samples=3, seed=5)
        nw.attribution.attribute(probe, stim[:2], "gradient_shap", 1, n_samples=3, seed=5)
        nw.alignment.random_copy(probe.module, seed=3)
        return _sweep(probe, stim, neural)

    def user():
        engine_busy.wait()
        return user_draws(0.001)

    _, got = _run_together([engine, user])
    for (t0, n0), (t1, n1) in zip(expected, got):
        assert torch.equal(t0, t1) and np.array_equal(n0, n1)


def test_private_draws_match_the_seeded_global_stream_and_leave_it_alone():
    torch.manual_seed(4)
    reference = (nn.Linear(6, 3).weight.detach().clone(), torch.randn(5), torch.randint(0, 9, (4,)))
    torch.manual_seed(11)
    state = torch.random.get_rng_state()
    with drawing_from(4):
        got = (nn.Linear(6, 3).weight.detach().clone(), torch.randn(5), torch.randint(0, 9, (4,)))
    assert all(torch.equal(a, b) for a, b in zip(reference, got))
    assert torch.equal(torch.random.get_rng_state(), state)
    with pytest.raises(TypeError, match="seed must be a non-negative integer"):
        with drawing_from("x"):
            pass


def test_private_copy_drops_engine_and_captum_hooks_but_keeps_the_users(setup):
    from captum.attr import LayerIntegratedGradients  # noqa: F401 - captum's hooks are recognised by package

    probe, _, _ = setup
    model = _net()
    seen = []
    user = model[0].register_forward_hook(lambda m, i, o: seen.append(o.shape))
    with capture(model, ["3"]):
        copy = private_copy(model)  # re-entrant lock: this thread holds it, so the copy is taken here
    assert not model[3]._forward_hooks  # capture removed its own
    assert not copy[3]._forward_hooks  # and the copy never got it
    copy(torch.zeros(1, 3, 16, 16))
    assert len(seen) == 1  # the user's hook travelled with the copy
    user.remove()


def test_quiet_captum_overlapping_leaves_the_warning_filters_as_found():
    from neuro_widgets.engine.attribution.core import quiet_captum

    before = list(warnings.filters)
    inside = threading.Event()
    release = threading.Event()

    def first():
        with quiet_captum():
            inside.set()
            release.wait(5)

    t = threading.Thread(target=first)
    t.start()
    inside.wait(5)
    with quiet_captum():
        release.set()
        t.join()
    assert warnings.filters == before
