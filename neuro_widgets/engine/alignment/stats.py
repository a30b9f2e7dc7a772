"""Statistics for RSA scores: seeded bootstrap confidence intervals and permutation tests.

Bootstrap resamples stimuli (with replacement) and, where there are several, subjects. Pairs of a stimulus
with its own copy are dropped from the resampled RDMs (their dissimilarity is 0 by construction, not data),
as rsatoolbox does. Resampled RDMs are never built: each is the original condensed RDM with integer pair
weights (see :class:`~.compare.Prepared`), which gives the same values at a fraction of the cost. The same
resamples are used for every model RDM passed together, and a seed gives the same resamples for any models,
so differences between models (layers, trained vs random) get paired intervals.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np
import torch

from ..progress import CancelToken, ProgressArg, check_cancel, make_reporter
from ._tensor import Device, single_threaded
from .ceiling import group_index
from .compare import (
    Draws,
    Prepared,
    check_compare_method,
    compare_vectors,
    compare_weighted,
    rdm_stack,
    upper,
)

DEFAULT_CHUNK_BYTES = 256 * 2 ** 20


def percentile_ci(samples: np.ndarray, level: float = 0.95, axis: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Percentile interval of bootstrap samples along ``axis`` (NaN samples ignored)."""
    if not 0 < level < 1:
        raise ValueError(f"confidence level must be between 0 and 1, got {level}")
    lo = np.nanpercentile(samples, 100 * (1 - level) / 2, axis=axis)
    hi = np.nanpercentile(samples, 100 * (1 + level) / 2, axis=axis)
    return lo, hi


def bootstrap_rsa(model_rdms: Any, brain_rdms: Any, method: str = "spearman", n_boot: int = 1000,
                  seed: int = 0, subjects: bool = True, groups: Optional[Sequence[Any]] = None,
                  device: Device = None, progress: ProgressArg = None, cancel: Optional[CancelToken] = None,
                  chunk_bytes: Optional[int] = None) -> np.ndarray:
    """Bootstrap distribution (n_boot, models) of the mean-over-subjects similarity of each model RDM.

    ``groups`` gives each brain RDM's subject where a subject has several (sessions): subjects are resampled,
    each drawn subject bringing all its RDMs (rsatoolbox's ``rdm_descriptor='subject'``).
    Cost O(n_boot x models x RDMs x N²); the draws are processed in chunks whose working memory stays
    within about ``chunk_bytes`` (default 256 MiB; at least one draw; see :func:`bootstrap_bytes`), on top of the
    condensed RDMs, their sort orders and each pair's stimuli in that order (about 24 bytes per stimulus
    pair and RDM).

    >>> boot = bootstrap_rsa(layer_rdms, ds.neural.rdms("hIT"), n_boot=1000, seed=0)
    >>> lo, hi = percentile_ci(boot[:, 3])
    """
    check_compare_method(method)
    if not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive integer, got {n_boot!r}")
    models = rdm_stack(model_rdms, "bootstrap_rsa(model_rdms)", device)
    brain = rdm_stack(brain_rdms, "bootstrap_rsa(brain_rdms)", models.device)
    n = models.shape[1]
    if brain.shape[1] != n:
        raise ValueError(f"bootstrap_rsa: model RDMs cover {n} stimuli, brain RDMs {brain.shape[1]}")
    with single_threaded(models.device):
        prep_m, prep_b = Prepared(upper(models), method), Prepared(upper(brain), method)
        return bootstrap_prepared(prep_m, prep_b, n, n_boot, seed, subjects, chunk_bytes, progress, cancel, groups)


def _per_draw(n: int, subjects: int) -> int:
    return 8 * (n * (n - 1) // 2) * (subjects + 6)  # the weights, the brain's values and the temporaries


def _chunk(n: int, subjects: int, n_boot: int, chunk_bytes: Optional[int]) -> int:
    budget = DEFAULT_CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    return int(max(1, min(n_boot, budget // _per_draw(n, subjects))))


def bootstrap_bytes(n: int, subjects: int, n_boot: int, chunk_bytes: Optional[int] = None) -> int:
    """Working memory of the draws of one chunk (see :func:`bootstrap_prepared`)."""
    return _per_draw(n, subjects) * _chunk(n, subjects, n_boot, chunk_bytes)


def bootstrap_prepared(prep_m: Prepared, prep_b: Prepared, n: int, n_boot: int, seed: int = 0,
                       subjects: bool = True, chunk_bytes: Optional[int] = None, progress: ProgressArg = None,
                       cancel: Optional[CancelToken] = None, groups: Optional[Sequence[Any]] = None) -> np.ndarray:
    """:func:`bootstrap_rsa` on condensed RDMs already prepared (sort orders computed once, reused by every
    region or call). The draws are the ones a one-at-a-time loop makes (stimuli, then subjects, per draw)."""
    device = prep_m.v.device
    names, gid = group_index(groups, len(prep_b), "bootstrap_rsa(groups)")
    s, gid = len(names), torch.as_tensor(gid, device=device)
    chunk = _chunk(n, len(prep_b), n_boot, chunk_bytes)
    g = torch.Generator().manual_seed(seed)
    out = np.empty((n_boot, len(prep_m)))
    report = make_reporter(progress, "bootstrap")
    for b0 in range(0, n_boot, chunk):
        check_cancel(cancel)
        counts, subj = [], []
        for _ in range(min(chunk, n_boot - b0)):
            counts.append(torch.bincount(torch.randint(n, (n,), generator=g), minlength=n))
            subj.append(torch.randint(s, (s,), generator=g) if (subjects and s > 1) else torch.arange(s))
        draws = Draws(torch.stack(counts, 1).to(device=device, dtype=torch.float64))
        sims = compare_weighted(prep_m, prep_b, draws)  # (models, subjects, draws)
        del draws
        for j, sj in enumerate(subj):
            weight = torch.bincount(sj, minlength=s).to(device=device, dtype=torch.float64)[gid]
            out[b0 + j] = ((sims[:, :, j] @ weight) / weight.sum()).cpu().numpy()
        report(b0 + len(subj), n_boot)
    return out


def permutation_test(model_rdm: Any, brain_rdm: Any, method: str = "spearman", n_perm: int = 1000,
                     seed: int = 0, device: Device = None) -> Tuple[float, float, np.ndarray]:
    """One-sided permutation test of a model-brain RDM similarity: (observed, p, null distribution).

    The stimulus labels of the model RDM are permuted (rows and columns together); ``p = (1 + #{null >=
    observed}) / (1 + n_perm)``. A brain stack of several subjects is averaged first.
    """
    check_compare_method(method)
    if not isinstance(n_perm, int) or n_perm < 1:
        raise ValueError(f"n_perm must be a positive integer, got {n_perm!r}")
    model = rdm_stack(model_rdm, "permutation_test(model_rdm)", device)
    brain = rdm_stack(brain_rdm, "permutation_test(brain_rdm)", model.device).mean(0, keepdim=True)
    if model.shape[0] != 1:
        raise ValueError("permutation_test takes one model RDM (N, N)")
    n = model.shape[1]
    if brain.shape[1] != n:
        raise ValueError(f"permutation_test: model RDM covers {n} stimuli, brain RDM {brain.shape[1]}")
    vb = upper(brain)
    observed = float(compare_vectors(upper(model), vb, method)[0, 0])
    g = torch.Generator().manual_seed(seed)
    perms = torch.stack([torch.randperm(n, generator=g) for _ in range(n_perm)]).to(model.device)
    iu, ju = torch.triu_indices(n, n, 1, device=model.device)
    null = np.empty(n_perm)
    with single_threaded(model.device):
        for start in range(0, n_perm, 100):
            p = perms[start:start + 100]
            permuted = model[0][p[:, iu], p[:, ju]]  # (chunk, M)
            null[start:start + len(p)] = compare_vectors(permuted, vb, method)[:, 0].cpu().numpy()
    p_value = (1 + int(np.sum(null >= observed - 1e-12))) / (1 + n_perm)
    return observed, p_value, null
