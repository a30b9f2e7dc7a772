"""Diagnosis: the benchmark study (bench_study.py part 1) in one process under different glibc malloc settings.

Each setting runs in a fresh child process (the variables are read when the process starts); prints wall time,
user and system CPU seconds and minor page faults of the study alone. Shows what Dask's nanny default
``MALLOC_TRIM_THRESHOLD_=65536`` costs and what ``neuro_widgets.study.run.WORKER_CONFIG`` sets instead.

    NEURO_WIDGETS_HOME=../shared OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python benchmarks/diag_study_malloc.py
"""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

SETTINGS = {
    "glibc defaults": {},
    "MALLOC_TRIM_THRESHOLD_=65536 (Dask's nanny default) only": {"MALLOC_TRIM_THRESHOLD_": "65536"},
    "MALLOC_MMAP_THRESHOLD_=32 MiB only": {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20)},
    "both (the workers before)": {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": "65536"},
    "WORKER_CONFIG: mmap 32 MiB, trim 64 MiB": {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20),
                                                "MALLOC_TRIM_THRESHOLD_": str(64 * 2**20)},
}


def child() -> None:
    import torch

    import neuro_widgets as nw

    torch.set_num_threads(1)
    models = ["cifar_resnet20", "mobilenet_v1_025", nw.load_model("cifar_resnet20", pretrained=False, seed=1),
              nw.load_model("mobilenet_v1_025", pretrained=False, seed=1)]
    data = [nw.datasets.kriegeskorte2008(), nw.datasets.algonauts2019_78()]
    study = nw.Study(models, data, metrics="rsa", n_boot=100, memory_budget=512 * 2**20)
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    study.run("in-process")
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{time.perf_counter() - start:.1f} | {after.ru_utime - before.ru_utime:.1f} | "
          f"{after.ru_stime - before.ru_stime:.1f} | {(after.ru_minflt - before.ru_minflt) / 1e6:.2f} M")


def main() -> None:
    print("| environment | wall s | user s | system s | minor faults |\n|---|---|---|---|---|")
    for name, extra in SETTINGS.items():
        env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
        out = subprocess.run([sys.executable, __file__, "--child"], env={**env, **extra}, capture_output=True,
                             text=True, check=True).stdout.strip().splitlines()[-1]
        print(f"| {name} | {out} |", flush=True)


if __name__ == "__main__":
    child() if sys.argv[1:] == ["--child"] else main()
