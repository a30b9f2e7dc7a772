"""One recorded neuron's linear readout from a layer: fitted on training stimuli only, scored on held-out ones.

The readout is ridge regression (alpha by leave-one-out CV on the training stimuli, as :func:`ridge_fit`) of
the neuron's repetition-mean response on the layer's flattened features. Every fit is computed in the
coordinates of the features' row space (N stimuli give at most N directions; ``Z = X V``), which is exact —
ridge's penalty and predictions only see that space — and makes the bootstrap refits and cross-validated
predictions cost N x N work whatever the layer's width.

What a readout carries:

* ``heldout_r`` on stimuli never used to fit it, with a bootstrap CI over those stimuli;
* ``oof_prediction``: every stimulus predicted by a fold fit that did not see it (which real images the model
  predicts drive the neuron most);
* ``predict(features)``: the prediction for new images with its spread over bootstrap refits of the training
  stimuli (the uncertainty of the fitted map, not trial-to-trial noise).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Sequence, Tuple, Union

import numpy as np
import torch

from ..describe import brief
from ..export import Figured
from ._tensor import as_tensor, features_2d
from .ceiling import _pearson_columns
from .neural_data import NeuralResponses
from .regression import DEFAULT_ALPHAS, ridge_fit

_RANK_RTOL = 1e-10  # row-space directions below this fraction of the largest eigenvalue are rounding noise


@dataclass
class NeuronReadout(Figured):
    """A fitted linear readout of one neuron (see the module docstring)."""

    neuron: str                       # the neuroid's id
    weights: np.ndarray               # (features,) in the layer's feature units
    bias: float
    alpha: float                      # ridge alpha chosen by leave-one-out CV on the training stimuli
    train: np.ndarray                 # stimulus indices the readout was fitted on
    test: np.ndarray                  # held-out stimulus indices
    heldout_r: float                  # Pearson r of prediction vs recorded mean on the held-out stimuli
    heldout_r_ci: Tuple[float, float]  # 95 % percentile bootstrap CI over held-out stimuli
    observed: np.ndarray              # (N,) recorded repetition-mean response
    oof_prediction: np.ndarray        # (N,) each stimulus predicted by a fold fit that never saw it
    settings: Dict[str, Any] = field(default_factory=dict)
    _basis: torch.Tensor = field(default=None, repr=False)      # (features, r) orthonormal row-space basis
    _boot: torch.Tensor = field(default=None, repr=False)       # (B, r + 1) bootstrap coefficients and intercepts

    def predict(self, features: Any) -> Tuple[np.ndarray, np.ndarray]:
        """(prediction, spread) for features (M, ...) of new images: the fitted readout's prediction and the
        standard deviation of the bootstrap refits' predictions."""
        x = as_tensor(features, "NeuronReadout.predict(features)")
        x = x.reshape(x.shape[0], -1) if x.dim() > 1 else x[None]
        if x.shape[1] != self.weights.shape[0]:
            raise ValueError(f"features have {x.shape[1]} values per image but the readout was fitted on "
                             f"{self.weights.shape[0]}; compute them from the same layer and reduction")
        point = x @ torch.from_numpy(self.weights) + self.bias
        z = x @ self._basis
        boot = z @ self._boot[:, :-1].T + self._boot[:, -1]
        spread = boot.std(1, unbiased=True) if boot.shape[1] > 1 else torch.full_like(point, float("nan"))
        return point.numpy(), spread.numpy()

    def __repr__(self) -> str:
        lo, hi = self.heldout_r_ci
        return (f"NeuronReadout({self.neuron}: held-out r {self.heldout_r:.3f} [{lo:.3f}, {hi:.3f}] on "
                f"{len(self.test)} images, alpha {self.alpha:.3g}, {self.weights.shape[0]} features)")

    def plot(self, ax: Any = None, **style: Any) -> Any:
        """The house-style figure (see ``neuro_widgets.figures.plot_neuron_readout``)."""
        from ...figures import plot_neuron_readout

        return plot_neuron_readout(self, ax, **style)

def neuron_responses(responses: Any, neuron: Union[int, str]) -> Tuple[np.ndarray, str]:
    """The repetition-mean responses (N,) of one neuron and its id; ``neuron`` is an index or a neuroid id."""
    if not isinstance(responses, NeuralResponses):
        arr = np.asarray(responses, dtype=np.float64) if responses is not None else None
        if arr is None or arr.ndim not in (1, 2, 3):
            raise TypeError(f"responses must be NeuralResponses or an array (stimuli[, neuroids[, repetitions]]), "
                            f"got {brief(responses)}")
        responses = NeuralResponses(arr if arr.ndim > 1 else arr[:, None], [str(i) for i in range(len(arr))])
    ids = [str(i) for i in responses.neuroids["neuroid_id"]]
    if isinstance(neuron, str):
        if neuron not in ids:
            raise KeyError(f"no neuron {neuron!r}; neuroid ids are {ids[:5]}{' …' if len(ids) > 5 else ''}")
        k = ids.index(neuron)
    elif isinstance(neuron, (int, np.integer)) and not isinstance(neuron, bool):
        if not 0 <= neuron < len(ids):
            raise IndexError(f"neuron {neuron} is out of range: these responses have {len(ids)} neurons (0..{len(ids) - 1})")
        k = int(neuron)
    else:
        raise TypeError(f"neuron must be an index or a neuroid id string, got {brief(neuron)}")
    y = responses.mean()[:, k]
    if not np.isfinite(y).all():
        raise ValueError(f"neuron {ids[k]!r} has no recorded response for {int((~np.isfinite(y)).sum())} stimuli; "
                         "select the stimuli it was recorded on first (responses.subset(ids))")
    return y, ids[k]


def _row_space(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(Z, V): coordinates Z = X V (N, r) and an orthonormal basis V (features, r) of X's row space."""
    lam, u = torch.linalg.eigh(x @ x.T)
    keep = lam > _RANK_RTOL * lam.max().clamp_min(1e-300)
    lam, u = lam[keep], u[:, keep]
    z = u * lam.sqrt()
    return z, x.T @ (u / lam.sqrt())


def _ridge_at(z: torch.Tensor, y: torch.Tensor, alpha: float) -> torch.Tensor:
    """Coefficients and intercept (r + 1,) of ridge with an unpenalised intercept at a fixed alpha."""
    zm, ym = z.mean(0), y.mean()
    zc = z - zm
    a = zc.T @ zc + alpha * torch.eye(z.shape[1], dtype=z.dtype)
    coef = torch.linalg.solve(a, zc.T @ (y - ym))
    return torch.cat([coef, (ym - zm @ coef)[None]])


def _split(n: int, test_size: float, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    if not (isinstance(test_size, float) and 0 < test_size < 1):
        raise ValueError(f"test_size must be a fraction in (0, 1), got {brief(test_size)}")
    n_test = int(round(test_size * n))
    if n_test < 4 or n - n_test < 4:
        raise ValueError(f"test_size={test_size} of {n} stimuli leaves {n_test} held-out and {n - n_test} training "
                         "stimuli; each side needs at least 4")
    perm = rng.permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def fit_readout(features: Any, responses: Any, neuron: Union[int, str] = 0, *, test_size: float = 0.2,
                seed: int = 0, n_boot: int = 50, folds: int = 5,
                alphas: Sequence[float] = DEFAULT_ALPHAS) -> NeuronReadout:
    """Fit one neuron's ridge readout from layer ``features`` (N, ...) on a random ``1 - test_size`` of the
    stimuli; score it on the rest.

    >>> acts = probe.activations(ds.stimuli, "features.5")["features.5"]
    >>> ro = fit_readout(acts, ds.neural, neuron=12)
    >>> ro.heldout_r, ro.heldout_r_ci
    """
    for what, value, low in (("n_boot", n_boot, 2), ("folds", folds, 2), ("seed", seed, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{what} must be an integer >= {low}, got {brief(value)}")
    x = features_2d(features, "fit_readout(features)")
    y_np, neuron_id = neuron_responses(responses, neuron)
    if len(y_np) != x.shape[0]:
        raise ValueError(f"features cover {x.shape[0]} stimuli but the responses {len(y_np)}; give both in the "
                         "same stimulus order")
    y = torch.from_numpy(y_np)
    rng = np.random.default_rng(seed)
    train, test = _split(len(y), test_size, rng)
    z, basis = _row_space(x)

    fitted = ridge_fit(z[train], y[train, None], alphas)
    alpha = float(fitted.alphas[0])
    coef = fitted.coef[:, 0]
    bias = float(fitted.intercept[0])
    pred = z[test] @ coef + bias
    heldout = float(_pearson_columns(pred[:, None], y[test, None])[0])
    boot_r = []
    for _ in range(1000):
        i = torch.from_numpy(rng.integers(0, len(test), len(test)))
        boot_r.append(float(_pearson_columns(pred[i, None], y[test][i, None])[0]))
    lo, hi = np.nanpercentile(boot_r, [2.5, 97.5])

    oof = torch.empty_like(y)
    for fold in np.array_split(rng.permutation(len(y)), folds):
        rest = np.setdiff1d(np.arange(len(y)), fold)
        m = ridge_fit(z[rest], y[rest, None], alphas)
        oof[fold] = (z[fold] @ m.coef + m.intercept)[:, 0]

    boot = torch.stack([_ridge_at(z[idx], y[idx], alpha)
                        for idx in (torch.from_numpy(train[rng.integers(0, len(train), len(train))])
                                    for _ in range(n_boot))])
    settings = {"test_size": test_size, "seed": seed, "n_boot": n_boot, "folds": folds,
                "regression": "ridge, alpha by leave-one-out CV on the training stimuli",
                "spread": "SD of predictions over bootstrap refits of the training stimuli (fit uncertainty, "
                          "not trial noise)"}
    return NeuronReadout(neuron_id, (basis @ coef).numpy(), bias, alpha, train, test, heldout, (float(lo), float(hi)),
                         y_np, oof.numpy(), settings, basis, boot)
