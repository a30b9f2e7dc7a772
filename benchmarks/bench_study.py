"""nw.Study on a Dask LocalCluster: speed-up from 1 to 2 workers, peak memory per worker, scheduling overhead.

1. A 4-model x 2-data-set x all-layer RSA study (trained and randomly initialised ResNet-20 and MobileNet-v1-0.25
   x the 92-image and 78-image sets, every layer of each model), run by a 1-worker and a 2-worker LocalCluster
   (single-threaded worker processes) and, as the floor, in this process (same code, no Dask). Target: 2 workers
   >= 1.7x faster than 1. The clusters are started before the clock starts. Peak memory per worker: the worker's
   peak resident set (``VmHWM``) minus its resident set after importing the engine, against ``memory_budget``.
2. A simulated study of N cheap tasks (tiny stand-in models on 8 tiny images, CKA, no control) through the same
   ``Study.run`` code path: per-task overhead = (wall x workers - the tasks' own run time, summed) / N, for each
   N of ``--tasks``, with one Dask task per study task, with Study's default batching, and batched with the
   Parquet store (flat per-task overhead = nothing quadratic); the in-process run of the same tasks shows what
   the store's writes cost. Target <= 50 ms.

    .venv/bin/python benchmarks/bench_study.py [--n-boot 100] [--budget-mib 512] [--repeats 1]
                                               [--skip-speedup] [--skip-overhead]
                                               [--tasks 250 1000]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch
from torch import nn

import neuro_widgets as nw
from neuro_widgets.data.datasets import Dataset
from neuro_widgets.engine.alignment import NeuralResponses
from neuro_widgets.study import run as study_run


def _worker_rss() -> int:
    """This process's resident set now (bytes), after importing what a task imports."""
    import psutil

    import neuro_widgets.study.tasks  # noqa: F401
    from neuro_widgets.zoo import registry  # noqa: F401

    return psutil.Process().memory_info().rss


def _worker_peak() -> int:
    """This process's own peak resident set (bytes): ``VmHWM`` of its address space. Not ``ru_maxrss``: Linux
    carries that over fork and exec, so a worker spawned by a bigger process reports its launcher's peak."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))  # kB


def speedup(n_boot: int, budget: int, repeats: int = 1) -> None:
    import distributed

    models = ["cifar_resnet20", "mobilenet_v1_025",
              nw.load_model("cifar_resnet20", pretrained=False, seed=1),
              nw.load_model("mobilenet_v1_025", pretrained=False, seed=1)]
    data = [nw.datasets.kriegeskorte2008(), nw.datasets.algonauts2019_78()]
    study = nw.Study(models, data, metrics="rsa", n_boot=n_boot, memory_budget=budget)
    ratios = []
    for rep in range(repeats):  # 1 and 2 workers alternate, so a change in the machine's load hits both
        walls = {}
        for workers in (1, 2):
            with study_run.local_cluster(workers, silence_logs=40) as cluster, distributed.Client(cluster) as client:
                base = client.run(_worker_rss)
                start = time.perf_counter()
                result = study.run(client)
                walls[workers] = time.perf_counter() - start
                peaks = client.run(_worker_peak)
                assert not result.failures, result.failures
                print(f"[{rep + 1}/{repeats}] {workers} worker(s): {walls[workers]:.1f} s for {len(result.sweeps)} "
                      f"sweeps ({len(result.to_pandas())} layer rows), load average {os.getloadavg()[0]:.1f}")
                for w in peaks:
                    print(f"   worker {w}: peak RSS {peaks[w] / 2**20:.0f} MiB, {base[w] / 2**20:.0f} MiB after "
                          f"imports, task peak {(peaks[w] - base[w]) / 2**20:.0f} MiB vs budget "
                          f"{budget / 2**20:.0f} MiB")
        ratios.append(walls[1] / walls[2])
        print(f"[{rep + 1}/{repeats}] speed-up 1 -> 2 workers: {ratios[-1]:.2f}x")
    torch.set_num_threads(1)
    start = time.perf_counter()
    here = study.run("in-process")
    wall_here = time.perf_counter() - start
    print(f"in this process (1 torch thread, no Dask): {wall_here:.1f} s; 1 worker vs in-process (last repeat): "
          f"{walls[1] / wall_here:.2f}x")
    print(f"speed-up 1 -> 2 workers: median {np.median(ratios):.2f}x over {repeats} repeat(s) "
          f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x)")
    sample = here.sweep("cifar_resnet20", "kriegeskorte2008", "rsa")
    print(f"   (layers per model: {len({r.layer for r in sample.rows})} for ResNet-20; "
          f"load average at the end {os.getloadavg()[0]:.1f})")


def stand_in_study(n_tasks: int) -> nw.Study:
    """n_tasks (model, data set) pairs: 25 tiny models x n_tasks/25 tiny response-level data sets."""
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten())
    spec = nw.InputSpec(size=(8, 8), mean=(0.5,) * 3, std=(0.25,) * 3)
    models = [nw.Probe(net, spec, name=f"stand-in {i}") for i in range(25)]
    rng = np.random.default_rng(0)
    data = []
    for j in range(n_tasks // 25):
        stim = nw.StimulusSet(rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8))
        neural = NeuralResponses(rng.normal(size=(8, 5, 1)), stim.ids, {"region": np.array(["V"] * 5)})
        data.append(Dataset(f"stand-in {j}", stim, neural))
    return nw.Study(models, data, metrics="cka")


def overhead(sizes) -> None:
    """Per-task overhead with one Dask task per (model, data set) task (tasks_per_batch=1) and with Study's
    default batching (about 16 Dask tasks per worker), with and without the store."""
    import distributed

    print("| where | Dask tasks | store | tasks | wall s | sum of task run times s | overhead per task ms | "
          "load avg |")
    print("|---|---|---|---|---|---|---|---|")
    with study_run.local_cluster(2, silence_logs=40) as cluster, distributed.Client(cluster) as client:
        stand_in_study(50).run(client)  # warm the workers (imports)
        for n in sizes:
            for batch, store in ((1, False), (None, False), (None, True)):
                wall, busy = _timed_run(stand_in_study(n), client, store, batch)
                print(f"| 2 workers | {'one per task' if batch == 1 else 'batched'} | {store} | {n} | {wall:.2f} | "
                      f"{busy:.2f} | {(wall * 2 - busy) / n * 1e3:.1f} | {os.getloadavg()[0]:.1f} |", flush=True)
    for store in (False, True):
        wall, busy = _timed_run(stand_in_study(sizes[0]), "in-process", store)
        print(f"| in this process | - | {store} | {sizes[0]} | {wall:.2f} | {busy:.2f} | "
              f"{(wall - busy) / sizes[0] * 1e3:.1f} | {os.getloadavg()[0]:.1f} |", flush=True)


def _timed_run(study: nw.Study, client, store: bool, tasks_per_batch=None) -> tuple:
    """(wall seconds, the tasks' own run times summed) of ``study.run(client)`` (with a fresh Parquet store)."""
    collected: list = []
    real = study_run.Study._execute

    def spy(self, client, n_workers, todo, finished, cancel, *rest):
        def record(outcome):
            collected.append(outcome.seconds)
            finished(outcome)
        return real(self, client, n_workers, todo, record, cancel, *rest)

    study_run.Study._execute = spy
    try:
        with tempfile.TemporaryDirectory() as folder:
            study.store_folder = folder if store else None
            start = time.perf_counter()
            result = study.run(client, tasks_per_batch=tasks_per_batch)
            wall = time.perf_counter() - start
    finally:
        study_run.Study._execute = real
    assert not result.failures and len(result.sweeps) == len(collected), result
    return wall, sum(collected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-boot", type=int, default=100)
    parser.add_argument("--budget-mib", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=1, help="alternating 1- and 2-worker runs of the speed-up")
    parser.add_argument("--skip-speedup", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--tasks", type=int, nargs="+", default=[250, 1000], help="simulated study sizes")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if not args.skip_speedup:
        speedup(args.n_boot, args.budget_mib * 2**20, args.repeats)
    if not args.skip_overhead:
        overhead(args.tasks)


if __name__ == "__main__":
    main()
