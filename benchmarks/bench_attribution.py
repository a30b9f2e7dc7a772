"""Attribution engine vs captum called directly, side by side in one run; the layer view; IG completeness.

1. Overhead: ``nw.attribution.attribute`` vs the same captum class called directly on the same input tensor,
   with the same arguments (including the batch sizes our call chose), for integrated gradients, saliency,
   Grad-CAM and occlusion on ResNet-20 (32 px, trained) and AlexNet (224 px, random init). Target <= 1.05x.
2. One full layer-contribution view: ResNet-20 ``layer3``, the 92 Kriegeskorte images, a class target.
3. Integrated-gradients completeness on ResNet-20 with the 92 images: relative delta at 50 and 1,000
   Gauss-Legendre steps, and the automatic mode (tolerance 5 %).

Timings interleave the contenders and take medians of repeats (these machines are shared and noisy); wall
and process CPU time are both reported. One torch thread, so other work on the machine disturbs less.

    .venv/bin/python benchmarks/bench_attribution.py [--repeats 5] [--sections overhead,layer,completeness]
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Occlusion, Saliency

import neuro_widgets as nw

warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")


def timed(fn, inner: int = 1) -> tuple:
    """(wall, CPU) seconds per call, averaged over ``inner`` back-to-back calls."""
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - w0) / inner, (time.process_time() - c0) / inner


def direct_call(method: str, model, x, target: int, p: dict):
    """captum as a user would call it, with the arguments our call reports having used."""
    if method == "integrated_gradients":
        return lambda: IntegratedGradients(model).attribute(
            x, baselines=0.0, target=target, n_steps=p["n_steps"], internal_batch_size=p["internal_batch_size"],
            return_convergence_delta=True)
    if method == "saliency":
        return lambda: Saliency(model).attribute(x, target=target, abs=False)
    if method == "gradcam":
        layer = model.get_submodule(p["layer"])

        def run():
            cam = LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
            return LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), interpolate_mode="bilinear")
        return run
    if method == "occlusion":
        c, w, s = x.shape[1], p["window"], p["stride"]
        return lambda: Occlusion(model).attribute(x, sliding_window_shapes=(c, w, w), strides=(c, s, s),
                                                  baselines=0.0, target=target,
                                                  perturbations_per_eval=p["perturbations_per_eval"])
    raise ValueError(method)


def overhead(label: str, probe: nw.Probe, x: torch.Tensor, method: str, params: dict, repeats: int) -> dict:
    ours = lambda: nw.attribution.attribute(probe, x, method, 3, **params)  # noqa: E731
    res = ours()  # warm up, and learn the automatic choices
    direct = direct_call(method, probe.module, x, 3, res.params)
    check = direct()
    check = check[0] if isinstance(check, tuple) else check
    assert torch.allclose(res.attributions.reshape(check.shape), check.detach(), atol=1e-5), "results differ"
    inner = max(1, round(0.3 / timed(direct)[0]))  # short calls are timed in groups of >= 0.3 s
    t_d, t_o = [], []
    for _ in range(repeats):
        t_d.append(timed(direct, inner))
        t_o.append(timed(ours, inner))
    dw, dc = (statistics.median(t[i] for t in t_d) for i in (0, 1))
    ow, oc = (statistics.median(t[i] for t in t_o) for i in (0, 1))
    print(f"| {label} | {method} | {dw * 1e3:.1f} | {ow * 1e3:.1f} | {ow / dw:.3f}x | {dc * 1e3:.1f} | "
          f"{oc * 1e3:.1f} | {oc / dc:.3f}x |", flush=True)
    return {"wall": ow / dw, "cpu": oc / dc}


def section_overhead(repeats: int) -> None:
    print("\n## Overhead vs captum called directly (same tensor, same arguments)\n")
    print("| model | method | captum wall ms | ours wall ms | wall ratio | captum CPU ms | ours CPU ms | CPU ratio |")
    print("|---|---|---|---|---|---|---|---|")
    k92 = nw.datasets.kriegeskorte2008()
    r20 = nw.load_model("cifar_resnet20")
    x = r20.batch(k92.stimuli[:8], 0, 8)
    for method, params in [("integrated_gradients", {}), ("saliency", {}), ("gradcam", {"layer": "layer3"}),
                           ("occlusion", {"window": 8, "stride": 4})]:
        overhead("ResNet-20, 8 x 32 px", r20, x, method, params, repeats)
    alex = nw.load_model("torchvision:alexnet", pretrained=False, seed=0)
    xa = alex.batch(k92.stimuli[:2], 0, 2)
    for method, params in [("integrated_gradients", {"n_steps": 20}), ("saliency", {}),
                           ("gradcam", {"layer": "features.10"}), ("occlusion", {"window": 56, "stride": 56})]:
        overhead("AlexNet (random), 2 x 224 px", alex, xa, method, params, repeats)


def section_layer() -> None:
    print("\n## One full layer-contribution view\n")
    k92 = nw.datasets.kriegeskorte2008()
    r20 = nw.load_model("cifar_resnet20")
    w, c = timed(lambda: nw.attribution.layer_contributions(r20, "layer3", k92.stimuli, target=3))
    res = nw.attribution.layer_contributions(r20, "layer3", k92.stimuli, target=3)
    print(f"ResNet-20 `layer3`, 92 images, class 3, layer integrated gradients (50 steps): wall {w:.2f} s, "
          f"CPU {c:.2f} s; top channels {res.top(5)}; max relative delta {float(res.relative_delta.max()):.2e}")


def section_completeness() -> None:
    print("\n## Integrated-gradients completeness, ResNet-20, 92 images, predicted class, zero baseline\n")
    print("| n_steps | mean rel. delta | median | 90th pct | max | wall s |")
    print("|---|---|---|---|---|---|")
    k92 = nw.datasets.kriegeskorte2008()
    r20 = nw.load_model("cifar_resnet20")
    for steps in (50, 100, 200, 1000):
        t = time.perf_counter()
        res = nw.attribution.attribute(r20, k92.stimuli, "integrated_gradients", "predicted", n_steps=steps)
        rel = res.relative_delta.double().numpy()
        print(f"| {steps} | {rel.mean():.4f} | {np.median(rel):.4f} | {np.percentile(rel, 90):.4f} | "
              f"{rel.max():.4f} | {time.perf_counter() - t:.1f} |", flush=True)
    t = time.perf_counter()
    res = nw.attribution.attribute(r20, k92.stimuli, "integrated_gradients", "predicted", auto_steps=True)
    rel = res.relative_delta.double().numpy()
    used, counts = np.unique(res.n_steps, return_counts=True)
    print(f"\nauto_steps (tolerance 0.05, max_steps 1000): {time.perf_counter() - t:.1f} s; images under the "
          f"tolerance: {(rel <= 0.05).sum()}/92; max rel. delta {rel.max():.4f}; steps used: "
          + ", ".join(f"{u} x{k}" for u, k in zip(used, counts)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sections", default="overhead,layer,completeness")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread; captum {__import__('captum').__version__}")
    sections = args.sections.split(",")
    if "overhead" in sections:
        section_overhead(args.repeats)
    if "layer" in sections:
        section_layer()
    if "completeness" in sections:
        section_completeness()


if __name__ == "__main__":
    main()
