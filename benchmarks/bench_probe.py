"""Probe extraction vs the bare-PyTorch floor, measured side by side in one run.

1. All layers of a model extracted in one pass vs a bare forward of the same batch (target <= 1.15x).
2. Only an early layer vs a full forward (the early stop should make this much cheaper than 1x).

Timings interleave the two contenders and take the median of repeats, because these machines are noisy. Both
wall time and process CPU time (user + system, which counts page faults of fresh memory) are reported; with one
torch thread the CPU-time ratio is the stable one when other work shares the machine.

    .venv/bin/python benchmarks/bench_probe.py [--repeats 7]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

import neuro_widgets as nw
from neuro_widgets.engine.cache import ActivationCache


def timed(fn) -> tuple:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def compare(label: str, probe: nw.Probe, x: torch.Tensor, layers, repeats: int, reduce=None) -> dict:
    model = probe.module

    def bare():
        with torch.no_grad():
            model(x)

    kept = []

    def ours():
        # the result is kept past the timer, as a user keeps it; freeing it is not part of extraction
        kept.append(probe.activations(x, layers, batch_size=len(x), reduce=reduce, use_cache=False))

    bare(), ours()  # warm up
    kept.clear()
    t_bare, t_ours = [], []
    for _ in range(repeats):
        t_bare.append(timed(bare))
        t_ours.append(timed(ours))
        kept.clear()
    bw, bc = (statistics.median(t[i] for t in t_bare) for i in (0, 1))
    ow, oc = (statistics.median(t[i] for t in t_ours) for i in (0, 1))
    print(f"| {label} | {bw * 1e3:.1f} | {ow * 1e3:.1f} | {ow / bw:.2f}x | {bc * 1e3:.1f} | {oc * 1e3:.1f} "
          f"| {oc / bc:.2f}x |")
    return {"label": label, "wall_ratio": ow / bw, "cpu_ratio": oc / bc}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, median of {args.repeats}")
    print("| case | bare wall ms | ours wall ms | wall ratio | bare CPU ms | ours CPU ms | CPU ratio |")
    print("|---|---|---|---|---|---|---|")
    resnet = nw.load_model("cifar_resnet20", pretrained=False, seed=0)
    resnet.cache = ActivationCache(0)
    alexnet = nw.load_model("torchvision:alexnet", weights=None, seed=0)
    alexnet.cache = ActivationCache(0)
    xr = torch.randn(256, 3, 32, 32)
    xa = torch.randn(32, 3, 224, 224)
    compare("ResNet-20, 256 x 32px: all 81 layers, one pass", resnet, xr, resnet.layer_names(), args.repeats)
    compare("ResNet-20, 256 x 32px: all 81 layers, one pass, reduce='avgpool'", resnet, xr, resnet.layer_names(),
            args.repeats, reduce="avgpool")
    compare("ResNet-20, 256 x 32px: conv1 only (early stop)", resnet, xr, ["conv1"], args.repeats)
    compare("AlexNet, 32 x 224px: all 22 layers, one pass", alexnet, xa, alexnet.layer_names(), args.repeats)
    compare("AlexNet, 32 x 224px: all 22 layers, one pass, reduce='avgpool'", alexnet, xa, alexnet.layer_names(),
            args.repeats, reduce="avgpool")
    compare("AlexNet, 32 x 224px: features.2 only (early stop)", alexnet, xa, ["features.2"], args.repeats)


if __name__ == "__main__":
    main()
