"""A long render lets other work have the model between its steps (issue 11 item 6): it pauses when another thread
waits for the model or its cancel token asks, leaves the model exactly as found during the pause, and gives the
same images bit for bit as a render that never paused."""
from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from conftest import assert_untouched, snapshot
from torch import nn

import neuro_widgets as nw
from neuro_widgets.engine.featurevis import render
from neuro_widgets.engine.model_state import PausePoint, model_lock, preserved

pytestmark = pytest.mark.filterwarnings("ignore:Setting .*hooks:UserWarning")


def _probe(seed: int = 0) -> nw.Probe:
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    net[0].weight.requires_grad_(False)  # a user's frozen layer: must read as frozen during and after a pause
    return nw.Probe(net.eval(), nw.InputSpec(size=(16, 16), mean=(0.5,) * 3, std=(0.25,) * 3))


class PausingToken(nw.CancelToken):
    """Asks for a pause at every chance and checks, in each pause, that the model is as its user left it."""

    def __init__(self, module: nn.Module, before: dict) -> None:
        super().__init__()
        self.module, self.before, self.pauses = module, before, 0

    def should_pause(self) -> bool:
        return True

    def pause(self) -> None:
        self.pauses += 1
        assert_untouched(self.module, self.before)  # no hooks, user's flags, no grads while paused
        assert model_lock(self.module).held_here() == 0
        super().pause()


def test_a_render_that_pauses_every_step_equals_one_that_never_pauses():
    probe = _probe()
    before = snapshot(probe.module)
    plain = render(probe, "2:3", steps=12, seed=1)
    token = PausingToken(probe.module, before)
    paused = render(probe, "2:3", steps=12, seed=1, cancel=token)
    assert token.pauses == 11  # between every two steps
    np.testing.assert_array_equal(plain.images, paused.images)
    np.testing.assert_array_equal(plain.values, paused.values)
    np.testing.assert_array_equal(plain.final_values, paused.final_values)
    assert_untouched(probe.module, before)


def test_cancel_during_a_pause_returns_the_images_so_far():
    probe = _probe()
    before = snapshot(probe.module)

    class CancelInPause(PausingToken):
        def pause(self) -> None:
            if self.pauses == 3:
                self.cancel()
            super().pause()

    token = CancelInPause(probe.module, before)
    result = render(probe, "2:3", steps=12, seed=1, cancel=token)
    assert result.cancelled and result.steps_done == 4
    assert result.images.shape == (1, 16, 16, 3) and np.isfinite(result.final_values).all()
    assert_untouched(probe.module, before)


def test_a_render_inside_a_caller_that_holds_the_model_never_pauses():
    """Pausing there would wait on itself: the caller still holds the model."""
    probe = _probe()
    token = PausingToken(probe.module, snapshot(probe.module))
    with preserved(probe.module):
        render(probe, "2:3", steps=5, seed=1, cancel=token)
    assert token.pauses == 0


def test_another_thread_gets_the_model_while_a_long_render_runs():
    """A notebook cell asking for activations while a widget renders gets them within a step or two, not after
    the whole render (before pausing existed it waited for all 400 steps)."""
    probe = _probe()
    before = snapshot(probe.module)
    stim = nw.StimulusSet(np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8))
    expected = probe.activations(stim, ["2"], use_cache=False)["2"]
    started, steps_at_answer, answers = threading.Event(), [], []
    step = [0]

    def progress(done, total):
        step[0] = done
        if done == 3:
            started.set()

    def cell():
        started.wait(60)
        answers.append(probe.activations(stim, ["2"], use_cache=False)["2"])
        steps_at_answer.append(step[0])

    thread = threading.Thread(target=cell)
    thread.start()
    result = render(probe, "2:3", steps=400, seed=1, progress=progress)
    thread.join(60)
    assert result.steps_done == 400 and not result.cancelled
    assert steps_at_answer and steps_at_answer[0] < 50
    torch.testing.assert_close(answers[0], expected, rtol=0, atol=0)
    assert_untouched(probe.module, before)


def test_pause_point_asks_the_token_only_when_free_to_pause():
    probe = _probe()
    token = PausingToken(probe.module, snapshot(probe.module))
    assert PausePoint(probe.module, token).wanted()
    with preserved(probe.module):
        assert not PausePoint(probe.module, token).wanted()
