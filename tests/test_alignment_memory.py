"""Memory budgets of sweeps: the whole call stays within ``memory_budget`` (peak resident memory measured by the
kernel's high-water mark), or it is refused up front with what it would need."""
from __future__ import annotations

import ctypes
import gc
import re

import numpy as np
import pytest
import torch
from torch import nn

import neuro_widgets as nw
from neuro_widgets.engine.alignment import NeuralResponses

MIB = 2 ** 20


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(key + r":\s+(\d+) kB", f.read()).group(1)) * 1024


def _peak_above_baseline(fn) -> int:
    """Peak resident memory during ``fn()`` above the resident memory just before it. The heap's free pages go
    back to the kernel first, or an earlier test's freed memory would be reused unseen."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:  # resets the high-water mark (Linux)
        f.write("5")
    base = _status("VmRSS")
    fn()
    return _status("VmHWM") - base


needs_linux_hwm = pytest.mark.skipif(not __import__("os").path.exists("/proc/self/clear_refs"),
                                     reason="peak-RSS reset needs Linux /proc/self/clear_refs")


@pytest.fixture(scope="module")
def setup():
    g = torch.Generator().manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, stride=2, padding=1),
                        nn.ReLU(), nn.Flatten(), nn.Linear(1024, 64), nn.Tanh())
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    probe = nw.Probe(net, nw.InputSpec(size=(16, 16), mean=(0.5,) * 3, std=(0.25,) * 3))
    rng = np.random.default_rng(0)
    n = 600
    stim = nw.StimulusSet(rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8))
    data = rng.normal(size=(n, 60, 2))
    resp = NeuralResponses(data, stim.ids, {"region": np.array(["IT"] * 60), "subject": np.repeat([1, 2, 3], 20)})
    return probe, stim, resp, resp.to_rdms()


@needs_linux_hwm
@pytest.mark.parametrize("metric,budget_mib,rdm_group,activation_group,reduce",
                         [("rsa", 200, None, None, None), ("rsa", 150, 2, None, None), ("rsa", 120, 1, None, "avgpool"),
                          ("cka", 78, None, 1, None), ("cka", 70, None, None, "avgpool")])
def test_sweep_peak_stays_within_the_budget(setup, metric, budget_mib, rdm_group, activation_group, reduce):
    """Below 200 MiB the layers' rows and sort orders are made a group at a time: at 150 MiB two layers (which lets
    the activations be kept whole), at 120 MiB one (channel means kept). CKA at 78 MiB runs the layers one at a
    time (kept whole), at 70 keeps channel means. Within the budget every way."""
    probe, stim, resp, rdms = setup
    data = rdms if metric == "rsa" else resp
    layers = ["1", "3", "5", "6"]
    budget = budget_mib * MIB
    res = {}
    peak = _peak_above_baseline(lambda: res.setdefault("r", nw.alignment.sweep(
        probe, data, layers, metric=metric, stimuli=stim, n_boot=20, memory_budget=budget)))
    settings = res["r"].settings
    assert len(res["r"].rows) == len(layers) and settings["rdm_group"] == rdm_group
    assert (settings["activation_group"], settings["reduce"]) == (activation_group, reduce)
    print(f"{metric}: peak +{peak / MIB:.1f} MiB, budget {budget_mib} MiB")
    assert peak <= budget, f"peak +{peak / MIB:.0f} MiB over a {budget_mib} MiB budget"


def test_a_budget_too_small_for_the_scoring_is_refused_up_front(setup):
    probe, stim, _, rdms = setup
    with pytest.raises(ValueError, match=r"needs about \d+ MiB for scoring \(layer RDMs \d+ MiB.*raise "
                                         r"memory_budget, or sweep fewer layers or stimuli"):
        nw.alignment.sweep(probe, rdms, ["1", "3", "5", "6"], stimuli=stim, n_boot=20, memory_budget=10 * MIB)
    with pytest.raises(ValueError, match="layer Gram matrices"):
        nw.alignment.sweep(probe, NeuralResponses(np.ones((600, 3)) + np.arange(3), stim.ids), ["1", "3"],
                           metric="cka", stimuli=stim, memory_budget=5 * MIB)
    with pytest.raises(ValueError, match="memory_budget must be a positive number of bytes"):
        nw.alignment.sweep(probe, rdms, ["1"], stimuli=stim, memory_budget="200MB")
