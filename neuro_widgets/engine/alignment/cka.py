"""Centered kernel alignment (Kornblith et al. 2019): linear or RBF kernels, biased or unbiased HSIC.

``CKA(X, Y) = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with K, L the stimulus x stimulus kernels of the two
representations. The biased HSIC centres the kernels (``tr(K H L H)``); the unbiased estimator (Song et al.
2012) zeroes the diagonals and needs at least 4 stimuli. The RBF bandwidth is ``sigma² = scale² x median
squared distance`` over the pairs of distinct stimuli of that representation. Linear CKA is invariant to orthogonal
transforms and isotropic scaling of either side, not to arbitrary invertible linear maps.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Union

import torch

from ._tensor import Device, features_2d, resolve_device
from .neural_data import response_matrix
from .rdm import _gram

CKA_KERNELS = ("linear", "rbf")


def kernel_from_gram(g: torch.Tensor, kernel: str, scale: float = 1.0) -> torch.Tensor:
    """The stimulus kernel from a linear Gram matrix: itself (linear) or the RBF kernel of its distances."""
    if kernel == "linear":
        return g
    sq = torch.diagonal(g)
    d2 = (sq[:, None] + sq[None, :] - 2 * g).clamp_min(0)
    n = d2.shape[0]
    i, j = torch.triu_indices(n, n, 1, device=g.device)
    pairs = d2[i, j]
    m = len(pairs)
    # numpy's median: the mean of the two middle values when the count is even
    med = (pairs.kthvalue((m + 1) // 2).values + pairs.kthvalue(m // 2 + 1).values) / 2
    return torch.exp(-d2 / (2 * scale ** 2 * med))


def cka_from_kernels(k: torch.Tensor, l: torch.Tensor, unbiased: bool) -> float:
    return float(_hsic(k, l, unbiased) / torch.sqrt(_hsic(k, k, unbiased) * _hsic(l, l, unbiased)))


def _hsic(k: torch.Tensor, l: torch.Tensor, unbiased: bool) -> torch.Tensor:
    n = k.shape[0]
    if not unbiased:
        kc = k - k.mean(0, keepdim=True) - k.mean(1, keepdim=True) + k.mean()
        lc = l - l.mean(0, keepdim=True) - l.mean(1, keepdim=True) + l.mean()
        return (kc * lc).sum() / (n - 1) ** 2
    k = k - torch.diag(torch.diagonal(k))
    l = l - torch.diag(torch.diagonal(l))
    ones_k, ones_l = k.sum(0), l.sum(0)
    term = (k * l).sum() + ones_k.sum() * ones_l.sum() / ((n - 1) * (n - 2)) - 2 * (ones_k @ ones_l) / (n - 2)
    return term / (n * (n - 3))


def cka(x: Union[Any, Mapping[str, Any]], y: Any, kernel: str = "linear", unbiased: bool = True,
        scale: float = 1.0, device: Device = None) -> Union[float, Dict[str, float]]:
    """CKA between representations (N, ...) and (N, ...); a mapping of layers for ``x`` gives a dict.

    >>> nw.alignment.cka(acts["layer3"], responses)                    # unbiased linear CKA
    >>> nw.alignment.cka(acts, responses, kernel="rbf", unbiased=False)
    """
    if kernel not in CKA_KERNELS:
        raise ValueError(f"unknown CKA kernel {kernel!r}; use one of {list(CKA_KERNELS)}")
    yt = features_2d(response_matrix(y), "cka(y)", device, dtype=None)
    dev = resolve_device(device, yt.device)
    l = kernel_from_gram(_gram(yt, dev), kernel, scale)

    def one(features: Any) -> float:
        xt = features_2d(features, "cka(x)", device, dtype=None)
        if xt.shape[0] != yt.shape[0]:
            raise ValueError(f"cka: x covers {xt.shape[0]} stimuli, y {yt.shape[0]}; use the same stimuli")
        return cka_from_kernels(kernel_from_gram(_gram(xt, dev), kernel, scale), l, unbiased)

    if isinstance(x, Mapping):
        return {name: one(v) for name, v in x.items()}
    return one(x)
