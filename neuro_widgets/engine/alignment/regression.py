"""Linear mappings from layer features to neuroids, in torch (float64): ridge and PLS.

Ridge: every neuroid gets its own alpha, chosen from a log grid by efficient leave-one-out cross-validation
on the training stimuli (the same criterion as scikit-learn's ``RidgeCV(alpha_per_target=True)``), with an
unpenalised intercept. One eigendecomposition serves all alphas and all neuroids: of the feature covariance
(features x features) when there are fewer features than stimuli, and of the stimulus kernel (stimuli x
stimuli, the dual or *kernel* form) when there are more.

PLS: PLS2 regression by NIPALS with regression deflation, unscaled (Brain-Score's ``PLSRegression(
n_components=25, scale=False)``), following scikit-learn's algorithm step for step so predictions agree.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import torch

from ._tensor import Device, as_tensor, single_threaded

#: the default ridge grid: 100 log-spaced alphas from 1e-2 to 1e7
DEFAULT_ALPHAS = np.logspace(-2, 7, 100)


@dataclass
class LinearMap:
    """A fitted affine map ``Y = X @ coef + intercept`` (float64 tensors)."""

    coef: torch.Tensor        # (features, targets)
    intercept: torch.Tensor   # (targets,)
    alphas: Optional[torch.Tensor] = None   # ridge: chosen alpha per target
    # ridge: (n_alphas, targets) leave-one-out mean squared error, exact (float64) for the alphas near each
    # target's minimum, inf for the others (screened out in float32)
    loo_mse: Optional[torch.Tensor] = None

    def predict(self, x: Any) -> torch.Tensor:
        x = as_tensor(x, "predict(x)", self.coef.device).reshape(-1, self.coef.shape[0])
        return x @ self.coef + self.intercept


def standardize_features(x: torch.Tensor, chunk: int = 16384) -> torch.Tensor:
    """(N, D) features z-scored per feature across the N stimuli (population SD, as ``scipy.stats.zscore``);
    constant features become 0. Keeps the dtype; statistics in float64, ``chunk`` features at a time."""
    out = torch.empty_like(x)
    for start in range(0, x.shape[1], chunk):
        block = x[:, start:start + chunk].double()
        block = block - block.mean(0)
        sd = block.pow(2).mean(0).sqrt()
        out[:, start:start + chunk] = torch.where(sd > 0, block / torch.where(sd > 0, sd, 1.0), 0.0).to(x.dtype)
    return out


def _check_xy(x: Any, y: Any, device: Device):
    xt = as_tensor(x, "features", device)
    xt = xt.reshape(xt.shape[0], -1)
    yt = as_tensor(y, "responses", xt.device)
    if yt.dim() == 1:
        yt = yt[:, None]
    if yt.dim() != 2 or yt.shape[0] != xt.shape[0]:
        raise ValueError(f"features have {xt.shape[0]} stimuli but responses have shape {tuple(yt.shape)}; "
                         "give responses as (stimuli, neuroids) in the same stimulus order")
    return xt, yt


_PARALLEL_MIN = 256  # matrix size from which a second CPU thread pays off (measured: 900 x 4096 ridge, 1.8x)


def _eigh(a: torch.Tensor):
    """Small eigenproblems run on one thread (a second only adds hand-off cost); large ones use them all."""
    guard = single_threaded(a.device) if a.shape[0] < _PARALLEL_MIN else contextlib.nullcontext()
    with guard:
        return torch.linalg.eigh(a)


def _eig_basis(xc: torch.Tensor, rtol: float = 1e-12):
    """(U, lam): Xc = U diag(sqrt(lam)) Vᵀ restricted to non-null directions (primal or kernel form)."""
    n, p = xc.shape
    if p <= n:
        lam, v = _eigh(xc.T @ xc)
        keep = lam > rtol * lam.max().clamp_min(1e-300)
        lam, v = lam[keep], v[:, keep]
        return (xc @ v) / lam.sqrt(), lam
    lam, u = _eigh(xc @ xc.T)
    keep = lam > rtol * lam.max().clamp_min(1e-300)
    return u[:, keep], lam[keep]


def ridge_fit(x: Any, y: Any, alphas: Sequence[float] = DEFAULT_ALPHAS, device: Device = None) -> LinearMap:
    """Ridge regression with a separate alpha per target, chosen by leave-one-out CV over ``alphas``.

    >>> m = ridge_fit(train_features, train_responses)   # m.alphas: one per neuroid
    >>> pred = m.predict(test_features)
    """
    xt, yt = _check_xy(x, y, device)
    a = as_tensor(alphas, "alphas", xt.device).flatten()
    if len(a) == 0 or (a <= 0).any():
        raise ValueError(f"alphas must be a non-empty list of positive numbers, got {alphas!r}")
    n = xt.shape[0]
    if n < 3:
        raise ValueError(f"ridge needs at least 3 training stimuli, got {n}")
    x_mean, y_mean = xt.mean(0), yt.mean(0)
    xc, yc = xt - x_mean, yt - y_mean
    u, lam = _eig_basis(xc)
    uty = u.T @ yc                                    # (k, T)
    # Residuals and leverages are formed from the fraction a / (lam + a) of each eigendirection that the fit
    # leaves out, never as 1 - (fraction kept): near interpolation (small alphas, more features than stimuli) that
    # difference would cancel to a few digits and blur the choice among the smallest alphas.
    left_out = a[None, :] / (lam[:, None] + a[None, :])   # (k, A)
    # y outside span(u), and the leverage of the directions outside span(u) and the constant: both the same for
    # every alpha, and exactly zero when u spans all centred vectors (the kernel form at full rank), where
    # computing them would leave rounding noise as large as the true residuals at the smallest alphas.
    uu = u * u
    if u.shape[1] >= n - 1:
        y_rest, null = torch.zeros_like(yc), torch.zeros(n, 1, dtype=u.dtype, device=u.device)
    else:
        y_rest, null = yc - u @ uty, (1 - 1 / n - uu.sum(1, keepdim=True)).clamp_min(0)
    one_minus_h = uu @ left_out + null                # (n, A): 1 - leverage, intercept included
    # Screen every alpha cheaply (float32, low rank over alphas), then recompute in float64 every (alpha, target)
    # whose screened error lies within _SCREEN_RTOL of that target's minimum; only those pairs compete, so the
    # choice equals a full float64 search (checked against RidgeCV in the tests and the benchmark).
    mse = _screen_loo_mse(u, uty, y_rest, left_out, one_minus_h)
    close = (mse <= torch.nan_to_num(mse, nan=torch.inf).min(0).values * (1 + _SCREEN_RTOL)) | ~torch.isfinite(mse)
    exact = torch.full_like(mse, torch.inf)
    ai, ti = torch.nonzero(close, as_tuple=True)
    exact[ai, ti] = _loo_mse(u, uty, y_rest, left_out, one_minus_h, ai, ti)
    # The screen's own error, seen where it was recomputed, must sit well inside the margin; a target where it
    # does not (never seen so far) gets every alpha in float64.
    off = torch.nonzero((close & ((mse - exact).abs() > 0.1 * _SCREEN_RTOL * exact)).any(0)).flatten()
    if len(off):
        ai, ti = torch.arange(len(a), device=a.device).repeat(len(off)), off.repeat_interleave(len(a))
        exact[ai, ti] = _loo_mse(u, uty, y_rest, left_out, one_minus_h, ai, ti)
    chosen = a[torch.argmin(exact, dim=0)]             # first minimum on ties, like scikit-learn
    # Xcᵀ U = V diag(sqrt(lam)) in both forms, so this is V diag(sqrt(lam) / (lam + alpha)) Uᵀ y without forming V
    coef = xc.T @ (u @ (uty / (lam[:, None] + chosen[None, :])))
    return LinearMap(coef, y_mean - x_mean @ coef, chosen, exact)


_SCREEN_RTOL = 1e-3
_LOW_RANK_RTOL = 1e-7


def _loo_mse(u: torch.Tensor, uty: torch.Tensor, y_rest: torch.Tensor, left_out: torch.Tensor,
             one_minus_h: torch.Tensor, ai: torch.Tensor, ti: torch.Tensor) -> torch.Tensor:
    """Leave-one-out mean squared error of the (alpha ``ai``, target ``ti``) pairs, exactly (float64)."""
    n = u.shape[0]
    out = torch.empty(len(ai), dtype=u.dtype, device=u.device)
    step = max(1, int(4e6 // n))
    for s in range(0, len(ai), step):
        a, t = ai[s:s + step], ti[s:s + step]
        resid = (u @ (left_out[:, a] * uty[:, t])).add_(y_rest[:, t]).div_(one_minus_h[:, a])
        out[s:s + step] = resid.square_().mean(0)
    return out


def _screen_loo_mse(u: torch.Tensor, uty: torch.Tensor, y_rest: torch.Tensor, left_out: torch.Tensor,
                    one_minus_h: torch.Tensor) -> torch.Tensor:
    """Leave-one-out mean squared error (n_alphas, targets), approximately (~1e-6 relative), in float32.

    The residual at alpha a is ``y_rest + u @ (left_out[:, a] * uty)``, with ``left_out = alpha / (lam + alpha)``.
    As functions of alpha, the columns of left_out form a Cauchy-like family of low numerical rank (about 20 at
    1e-7 for 100 alphas, whatever the spectrum), so ``left_out ≈ right.T @ left.T`` with rank r, and r products
    with ``u`` replace one per alpha: the dominant cost drops by n_alphas / r.
    """
    if len(left_out) == 0:  # constant features: nothing to fit, the residual is y_rest at every alpha
        left, right, r = u.new_zeros(left_out.shape[1], 0), u.new_zeros(0, 0), 0
    else:
        scale = left_out.max(0).values                           # per alpha, so small alphas keep relative accuracy
        left, s, right = torch.linalg.svd((left_out / scale).T, full_matrices=False)
        r = int((s > _LOW_RANK_RTOL * s[0]).sum())
        left, right = scale[:, None] * left[:, :r] * s[:r], right[:r]   # (A, r), (r, k)
    left, right = left.float(), right.float()
    u32, uty32, rest32, den = u.float(), uty.float(), y_rest.float(), one_minus_h.T.float()[:, :, None]
    (n, k), (n_t, n_a) = u.shape, (uty.shape[1], left_out.shape[1])
    out = torch.empty(n_a, n_t, dtype=torch.float64, device=u.device)
    step = max(1, int(2e7 // (n * max(n_a, r))))
    for t0 in range(0, n_t, step):
        c = uty32[:, t0:t0 + step]                               # (k, c)
        w = c.shape[1]
        z = u32 @ (right.T[:, :, None] * c[:, None, :]).reshape(k, r * w)      # (n, r * c)
        resid = (left @ z.reshape(n, r, w).transpose(0, 1).reshape(r, n * w)).reshape(n_a, n, w)
        resid.add_(rest32[:, t0:t0 + step]).div_(den)
        out[:, t0:t0 + step] = resid.square_().mean(1)
    return out


def _nipals_weights(cross: torch.Tensor, start: int, max_iter: int, tol: float, single: bool) -> torch.Tensor:
    """The x-weights NIPALS's inner loop reaches from the y column ``start``, without running the loop.

    Each pass of scikit-learn's loop maps the weights w to ``C Cᵀ w`` normalised (C = Xkᵀ Yk, the ``cross``
    product; every other scaling in the loop cancels), starting from ``C[:, start]``, and stops at the first pass
    whose weights moved by less than ``tol`` (squared norm), or after ``max_iter`` passes. With ``Cᵀ C = Q Λ Qᵀ``
    (targets x targets) pass i gives ``w_i ∝ C Q Λ^(i-1) Qᵀ e_start`` and ``||C Q a||² = aᵀ Λ a``, so all passes'
    movements come from one small eigendecomposition: the same iterate in a few products, not hundreds of n x p
    ones.
    """
    lam, vecs = torch.linalg.eigh(cross.T @ cross)
    lam = lam.clamp_min(0)
    top = lam.max()
    if not top > 0:  # X orthogonal to Y: no direction (scikit-learn's loop gives NaN weights here too)
        return torch.full((cross.shape[0],), float("nan"), dtype=cross.dtype, device=cross.device)
    a1 = vecs[start]                                                   # Qᵀ e_start
    passes = 1 if single else max_iter
    powers = torch.arange(passes, dtype=lam.dtype, device=lam.device)[:, None]
    a = (lam / top)[None, :].pow(powers) * a1                         # (passes, q): Λ^(i-1) Qᵀ e_start, rescaled
    a = a / (a.square() @ lam).sqrt()[:, None]                         # unit-norm weights in that basis
    moved = (a[1:] - a[:-1]).square() @ lam                            # ||w_i - w_(i-1)||², i = 2 .. passes
    done = torch.nonzero(moved < tol).flatten()
    i = int(done[0]) + 1 if len(done) else passes - 1
    w = cross @ (vecs @ a[i])
    return w / w.norm()


def pls_fit(x: Any, y: Any, n_components: int = 25, max_iter: int = 500, tol: float = 1e-6,
            device: Device = None) -> LinearMap:
    """PLS2 regression (NIPALS, regression deflation, no scaling), like scikit-learn's ``PLSRegression``.

    >>> m = pls_fit(train_features, train_responses, n_components=25)
    """
    xt, yt = _check_xy(x, y, device)
    n, p = xt.shape
    if not isinstance(n_components, int) or n_components < 1:
        raise ValueError(f"n_components must be a positive integer, got {n_components!r}")
    if n_components > min(n, p):
        raise ValueError(f"PLS with {n_components} components needs at least that many training stimuli and "
                         f"features; got {n} stimuli and {p} features. Lower n_components.")
    x_mean, y_mean = xt.mean(0), yt.mean(0)
    xk, yk = xt - x_mean, yt - y_mean
    eps = torch.finfo(torch.float64).eps
    q = yt.shape[1]
    w_all = torch.zeros(p, n_components, dtype=torch.float64, device=xt.device)
    px_all = torch.zeros_like(w_all)
    py_all = torch.zeros(q, n_components, dtype=torch.float64, device=xt.device)
    cross = xk.T @ yk                                   # (p, q) = Xkᵀ Yk, kept up to date through the deflations
    for k in range(n_components):
        tiny = (yk.abs() < 10 * eps).all(0)
        yk[:, tiny] = 0.0
        cross[:, tiny] = 0.0
        nonzero = torch.nonzero((yk.abs() > eps).any(0)).flatten()
        if len(nonzero) == 0:
            w_all, px_all, py_all = w_all[:, :k], px_all[:, :k], py_all[:, :k]
            break
        w = _nipals_weights(cross, int(nonzero[0]), max_iter, tol, single=q == 1)
        sign = torch.sign(w[torch.argmax(w.abs())])
        w = w * sign
        x_score = xk @ w
        ss = x_score @ x_score
        px = x_score @ xk / ss
        xk -= torch.outer(x_score, px)
        py = x_score @ yk / ss
        yk -= torch.outer(x_score, py)
        cross -= ss * torch.outer(px, py)               # (Xk - t pxᵀ)ᵀ (Yk - t pyᵀ), as Xkᵀ t = ss px, Ykᵀ t = ss py
        w_all[:, k], px_all[:, k], py_all[:, k] = w, px, py
    rotations = w_all @ torch.linalg.pinv(px_all.T @ w_all)
    coef = rotations @ py_all.T
    return LinearMap(coef, y_mean - x_mean @ coef)
