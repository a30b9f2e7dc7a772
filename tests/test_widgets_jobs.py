"""The widgets' job runner and codec, without a model: cancel, supersede, cache, errors, the model gate."""
from __future__ import annotations

import io
import threading
import time

import numpy as np
import pytest
from PIL import Image

from neuro_widgets.engine.progress import Cancelled
from neuro_widgets.widgets.codec import (
    MAX_MESSAGE_BYTES,
    check_message_size,
    decode_array,
    encode_array,
    payload_bytes,
    png_bytes,
)
from neuro_widgets.widgets.jobs import JobRunner, ModelGate, Notice


class Recorder:
    def __init__(self):
        self.status = {}
        self.history = []
        self.lock = threading.Lock()

    def __call__(self, slot, st):
        with self.lock:
            self.status[slot] = st
            self.history.append((slot, st["state"]))


def wait_for(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


# ---- codec ----------------------------------------------------------------------------------------------
def test_png_bytes_round_trip_exact():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(png_bytes(img))))
    assert back.shape == (7, 5, 3) and np.array_equal(back, img)


def test_png_bytes_float_clips_and_scales():
    img = np.array([[[-0.5, 0.5, 2.0]]])
    back = np.asarray(Image.open(io.BytesIO(png_bytes(img))))
    assert back[0, 0].tolist() == [0, 128, 255]
    big = np.asarray(Image.open(io.BytesIO(png_bytes(np.zeros((4, 8, 3)), size=16))))
    assert big.shape == (8, 16, 3)


def test_png_bytes_rejects_bad_shape():
    with pytest.raises(ValueError, match="an image must be"):
        png_bytes(np.zeros((2, 3, 4, 5)))


@pytest.mark.parametrize("dtype", ["uint8", "int32", "float32", "float64"])
def test_array_codec_round_trip(dtype):
    arr = (np.arange(24).reshape(2, 3, 4) * 3 - 5).astype(np.float64)
    if dtype == "uint8":
        arr = np.abs(arr) % 256
    payload = encode_array(arr, dtype)
    assert isinstance(payload["data"], bytes) and payload["shape"] == [2, 3, 4]
    assert len(payload["data"]) == arr.size * np.dtype(dtype).itemsize
    assert np.array_equal(decode_array({**payload, "data": memoryview(payload["data"])}), arr.astype(dtype))


def test_array_codec_errors():
    with pytest.raises(ValueError, match="dtype must be one of"):
        encode_array(np.zeros(3), "complex64")
    with pytest.raises(ValueError, match="unknown array dtype"):
        decode_array({"dtype": "float16", "shape": [1], "data": b"\0\0"})


def test_message_size_guard():
    small = {"images": [b"x" * 10]}
    assert check_message_size(small, "page") is small
    with pytest.raises(ValueError, match="show fewer items per page"):
        check_message_size({"images": [b"x" * (MAX_MESSAGE_BYTES // 2 + 1)] * 2}, "page")


def test_import_is_lazy():
    import subprocess
    import sys

    code = ("import sys, neuro_widgets as nw; "
            "assert 'neuro_widgets.widgets.magics' not in sys.modules and 'anywidget' not in sys.modules; "
            "assert callable(nw.load_ipython_extension); "
            "assert 'neuro_widgets.widgets.magics' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_payload_bytes():
    assert payload_bytes({"a": [b"123", {"b": b"45"}], "c": "text"}) == 5


# ---- runner ---------------------------------------------------------------------------------------------
def test_result_delivered_and_cached():
    rec, got, calls = Recorder(), [], []

    def work(report, cancel):
        calls.append(1)
        report(0.5, "half")
        return 42

    runner = JobRunner(rec)
    runner.submit("a", "key", work, got.append)
    runner.wait(10)
    assert got == [42] and rec.status["a"]["state"] == "done" and not rec.status["a"]["cached"]
    runner.submit("a", "key", work, got.append)  # a cache hit: no new work, result delivered at once
    assert got == [42, 42] and len(calls) == 1 and runner.computed == 1
    assert rec.status["a"]["state"] == "done" and rec.status["a"]["cached"]
    runner.submit("a", "other", work, got.append)
    runner.wait(10)
    assert len(calls) == 2


def test_cancel_stops_work_and_drops_result():
    rec, got = Recorder(), []
    started = threading.Event()

    def work(report, cancel):
        started.set()
        while True:
            cancel.raise_if_cancelled()
            time.sleep(0.005)

    runner = JobRunner(rec)
    runner.submit("a", "k", work, got.append)
    started.wait(5)
    assert runner.cancel("a")
    runner.wait(10)
    assert got == [] and rec.status["a"]["state"] == "cancelled"
    assert runner.cached("k") is None
    assert not runner.cancel("a")  # nothing left to cancel


def test_second_submit_supersedes_first():
    rec, got = Recorder(), []
    release = threading.Event()
    first_token = []

    def slow(report, cancel):
        first_token.append(cancel)
        release.wait(5)
        return "first"  # finishes normally but late: must not be shown

    runner = JobRunner(rec)
    runner.submit("a", "k1", slow, got.append)
    wait_for(lambda: first_token)
    runner.submit("a", "k2", lambda report, cancel: "second", got.append)
    runner.wait(10)
    release.set()
    time.sleep(0.05)
    assert got == ["second"]
    assert first_token[0].cancelled
    assert rec.status["a"]["state"] == "done"


def test_error_reported_with_traceback():
    rec, got = Recorder(), []

    def bad(report, cancel):
        raise ValueError("channel 99 is out of range")

    runner = JobRunner(rec)
    runner.submit("a", "k", bad, got.append)
    runner.wait(10)
    st = rec.status["a"]
    assert st["state"] == "error" and st["error"] == "ValueError: channel 99 is out of range"
    assert "Traceback" in st["traceback"] and "channel 99" in st["traceback"]
    assert got == [] and runner.cached("k") is None  # failures are not cached


def test_progress_reaches_status_and_extras():
    rec, extras = Recorder(), []
    seen = []

    def work(report, cancel):
        report(0.25, "quarter", images="x")
        seen.append(dict(rec.status["a"]))
        return 1

    runner = JobRunner(rec)
    runner.submit("a", "k", work, lambda r: None, on_progress=lambda **kw: extras.append(kw))
    runner.wait(10)
    assert seen[0]["state"] == "running" and seen[0]["fraction"] == 0.25 and seen[0]["message"] == "quarter"
    assert extras == [{"images": "x"}]


def test_gate_serialises_jobs_in_order():
    gate = ModelGate()
    active, peak, order = [0], [0], []
    lock = threading.Lock()

    def job(name):
        def work(report, cancel):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
                order.append(name)
            time.sleep(0.02)
            with lock:
                active[0] -= 1
            return name
        return work

    runners = [JobRunner(Recorder(), gate=gate) for _ in range(2)]
    for i in range(3):
        for r, runner in enumerate(runners):
            runner.submit(f"s{i}", None, job(f"{r}-{i}"), lambda x: None)
            time.sleep(0.002)
    for runner in runners:
        runner.wait(10)
    assert peak[0] == 1
    assert order == ["0-0", "1-0", "0-1", "1-1", "0-2", "1-2"]


def test_gate_cancel_while_queued():
    gate = ModelGate()
    hold = threading.Event()
    rec = Recorder()
    runner = JobRunner(rec, gate=gate)
    runner.submit("long", None, lambda report, cancel: hold.wait(5), lambda x: None)
    time.sleep(0.05)
    runner.submit("queued", None, lambda report, cancel: "ran", lambda x: None)
    time.sleep(0.05)
    runner.cancel("queued")
    hold.set()
    runner.wait(10)
    assert rec.status["queued"]["state"] == "cancelled"
    assert ("queued", "done") not in rec.history


def test_cancelled_exception_type_is_engine_convention():
    # the runner recognises the engine's Cancelled, whoever raises it
    rec = Recorder()
    runner = JobRunner(rec)

    def work(report, cancel):
        raise Cancelled("stopped")

    runner.submit("a", "k", work, lambda x: None)
    runner.wait(10)
    assert rec.status["a"]["state"] == "cancelled"


# ---- every job reaches a final state, in order ------------------------------------------------------------
class FailingRecorder(Recorder):
    """Records every status (the kernel's trait is set) and then fails to send the ones ``fails(st)`` picks."""

    def __init__(self, fails):
        super().__init__()
        self.fails = fails
        self.seqs = []

    def __call__(self, slot, st):
        super().__call__(slot, st)
        self.seqs.append((st["seq"], st["job"], st["state"]))
        if self.fails(st):
            raise ConnectionError("front end gone")


STAGES = {
    "start": (lambda st: st["message"] == "started", {}),
    "progress status": (lambda st: st["state"] == "running" and st["fraction"] > 0, {}),
    "progress preview": (lambda st: False, {"preview_fails": True}),
    "compute": (lambda st: False, {"work_fails": True}),
    "result publish": (lambda st: False, {"show_fails": True}),
    "front-end send of the result": (lambda st: st["state"] == "done", {}),
    "front-end send of everything but errors": (lambda st: st["state"] != "error", {}),
    "KeyboardInterrupt in the work": (lambda st: False, {"interrupt": True}),
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_injected_failure_at_each_stage_ends_in_a_final_state(stage):
    fails, opts = STAGES[stage]
    rec = FailingRecorder(fails)

    def work(report, cancel):
        report(0.5, "half", images="x")
        if opts.get("work_fails"):
            raise RuntimeError("engine failed")
        if opts.get("interrupt"):
            raise KeyboardInterrupt
        return 1

    def show(result):
        if opts.get("show_fails"):
            raise ValueError("cannot draw")

    def preview(**extra):
        if opts.get("preview_fails"):
            raise ValueError("cannot draw the preview")

    runner = JobRunner(rec, gate=ModelGate())
    job = runner.submit("a", "k", work, show, on_progress=preview)
    runner.wait(10)
    assert job.done.is_set()
    if job.thread.ident is not None:  # (when even "queued" could not be sent, the job never started)
        job.thread.join(5)
        assert not job.thread.is_alive()
    assert rec.status["a"]["state"] == "error", rec.history  # every stage here is a failure
    assert runner.running("a") is None
    # the model gate was given back: another job runs
    runner2 = JobRunner(Recorder(), gate=runner._gate)
    runner2.submit("b", None, lambda report, cancel: 2, lambda r: None)
    runner2.wait(10)


def test_cancel_racing_a_progress_report_is_final():
    """The click that cancels lands between the job's cancel check and its progress report (the 'stuck at
    step 79/1024' case): the cancelled state stays, the late 'running' is never shown."""
    rec = FailingRecorder(lambda st: False)
    runner = JobRunner(rec)
    raced = []

    def preview(**extra):
        if not raced:
            raced.append(runner.cancel("a"))  # the user's cancel, at the worst moment

    def work(report, cancel):
        for step in range(1, 1000):
            report(step / 1000, f"step {step}/1000", images=step)
            time.sleep(0.001)
        return "finished"

    job = runner.submit("a", "k", work, lambda r: None, on_progress=preview)
    runner.wait(10)
    job.thread.join(5)
    assert raced == [True] and not job.thread.is_alive()
    assert rec.status["a"]["state"] == "cancelled", rec.history
    assert rec.history[-1] == ("a", "cancelled")


def test_statuses_are_ordered_and_final_states_stick():
    rec = FailingRecorder(lambda st: False)
    runner = JobRunner(rec)
    release = threading.Event()

    def slow(report, cancel):
        release.wait(5)
        report(0.9, "late progress of a superseded job")
        return "old"

    runner.submit("a", "k1", slow, lambda r: None)
    runner.submit("a", "k2", lambda report, cancel: "new", lambda r: None)
    runner.wait(10)
    release.set()
    time.sleep(0.1)
    seqs = [s for s, _, _ in rec.seqs]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    jobs = [j for _, j, _ in rec.seqs]
    assert jobs == sorted(jobs)  # nothing of job 1 after job 2's first status
    assert rec.status["a"]["state"] == "done" and rec.status["a"]["job"] == 2
    # a job reports nothing after its final state
    assert not runner._emit("a", 2, {"state": "running"})
    assert not runner._emit("a", 1, {"state": "running"})


# ---- priority and joining ----------------------------------------------------------------------------------
def test_gate_lets_cheap_jobs_pass_queued_renders():
    gate = ModelGate()
    hold, order = threading.Event(), []
    runner = JobRunner(Recorder(), gate=gate)
    runner.submit("busy", None, lambda report, cancel: hold.wait(5), lambda r: None)
    time.sleep(0.05)

    def job(name):
        def work(report, cancel):
            order.append(name)
        return work

    runner.submit("render", None, job("render"), lambda r: None, priority=3)
    time.sleep(0.02)
    runner.submit("alignment", None, job("alignment"), lambda r: None, priority=0)
    runner.submit("rdm", None, job("rdm"), lambda r: None, priority=1)
    time.sleep(0.05)
    hold.set()
    runner.wait(10)
    assert order == ["alignment", "rdm", "render"]


def test_same_key_joins_the_running_job():
    rec, shown, calls = Recorder(), [], []
    release = threading.Event()

    def work(report, cancel):
        calls.append(1)
        release.wait(5)
        return "table"

    runner = JobRunner(rec)
    first = runner.submit("alignment", "table", work, lambda r: shown.append(("layer1", r)))
    second = runner.submit("alignment", "table", work, lambda r: shown.append(("layer2", r)))
    release.set()
    runner.wait(10)
    assert second is first and len(calls) == 1 and runner.computed == 1
    assert shown == [("layer2", "table")]  # shown once, for the latest click
    assert rec.status["alignment"]["state"] == "done"


def test_notice_from_the_work_ends_the_job_as_a_notice():
    rec, got = Recorder(), []

    def work(report, cancel):
        raise Notice("layer 'heads' has no RDM: its response is constant")

    runner = JobRunner(rec)
    runner.submit("rdm", "k", work, got.append)
    runner.wait(10)
    st = rec.status["rdm"]
    assert st["state"] == "notice" and "constant" in st["message"] and st["error"] == ""
    assert got == [] and runner.cached("k") is None


# ---- a long job lets the cheap views of a click go first (issue 11 item 6) ---------------------------------
def _tiny_probe():
    import torch
    from torch import nn

    import neuro_widgets as nw

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()).eval()
    return nw.Probe(net, nw.InputSpec(size=(16, 16), mean=(0.5,) * 3, std=(0.25,) * 3))


def test_a_running_render_lets_jobs_of_higher_priority_run_between_its_steps():
    """The render holds the model first; jobs of higher priority submitted after it finish long before it does,
    and its images equal those of a render that ran alone."""
    from neuro_widgets.engine.featurevis import render

    probe = _tiny_probe()
    alone = render(probe, "2:1", steps=300, seed=0)
    gate, events, lock = ModelGate(), [], threading.Lock()
    runner = JobRunner(Recorder(), gate=gate)
    step3 = threading.Event()

    def note(name):
        with lock:
            events.append(name)

    def render_work(report, cancel):
        def progress(done, total):
            if done == 3:
                step3.set()
        out = render(probe, "2:1", steps=300, seed=0, progress=progress, cancel=cancel)
        note("render")
        return out

    def cheap(name):
        def work(report, cancel):
            probe.activations(np.zeros((2, 16, 16, 3), np.uint8), ["2"], use_cache=False)
            note(name)
        return work

    got = []
    runner.submit("render", None, render_work, got.append, priority=3)
    assert step3.wait(30)
    runner.submit("maps", None, cheap("maps"), lambda r: None, priority=0)
    runner.submit("contrib", None, cheap("contrib"), lambda r: None, priority=1)
    runner.wait(60)
    assert events == ["maps", "contrib", "render"]
    np.testing.assert_array_equal(got[0].images, alone.images)


def test_defer_lets_waiting_jobs_that_now_come_first_run_before_the_rest():
    gate, order = ModelGate(), []
    runner = JobRunner(Recorder(), gate=gate)
    started = threading.Event()

    def quick_then_rest(report, cancel):
        order.append("scores")
        started.set()
        time.sleep(0.1)  # the render queues meanwhile
        cancel.defer(4)
        order.append("control")

    runner.submit("alignment", None, quick_then_rest, lambda r: None, priority=0)
    assert started.wait(10)
    runner.submit("render", None, lambda report, cancel: order.append("render"), lambda r: None, priority=3)
    runner.wait(10)
    assert order == ["scores", "render", "control"]


def test_partial_results_are_never_dropped_by_the_status_pacing():
    extras = []

    def work(report, cancel):
        for i in range(5):  # five reports within far less than PROGRESS_INTERVAL
            report(0.1 * i, "part", partial=i)

    runner = JobRunner(Recorder())
    runner.submit("a", None, work, lambda r: None, on_progress=lambda **kw: extras.append(kw["partial"]))
    runner.wait(10)
    assert extras == [0, 1, 2, 3, 4]


def test_a_job_pauses_at_progress_reports_only_where_it_holds_nothing_on_the_model():
    """An engine call reporting progress between its passes over the model (a sweep's scoring) lets a waiting job
    of higher priority run there; a report made while it holds the model's lock never pauses (a pause there
    would wait on itself)."""
    from neuro_widgets.engine.model_state import model_lock
    from neuro_widgets.widgets.jobs import model_gate

    module = _tiny_probe().module
    runner = JobRunner(Recorder(), gate=model_gate(module))
    inside, events, started = [False], [], threading.Event()

    def long_sweep(report, cancel):
        for i in range(40):
            with model_lock(module):
                inside[0] = True
                report(i / 40, "extracting")  # never pauses here
                inside[0] = False
            started.set()
            time.sleep(0.01)
            report(i / 40, "scoring")  # may pause here
        events.append("sweep")

    def cheap(report, cancel):
        events.append(("cheap", inside[0]))

    runner.submit("alignment", None, long_sweep, lambda r: None, priority=4)
    assert started.wait(10)
    runner.submit("maps", None, cheap, lambda r: None, priority=0)
    runner.wait(30)
    assert events == [("cheap", False), "sweep"]
