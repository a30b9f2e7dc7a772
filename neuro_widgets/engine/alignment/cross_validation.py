"""Seeded stimulus splits: stratified shuffle splits (train/test) and the selection/evaluation half split.

Splits are on stimuli, never on repetitions, so a stimulus is never in both sides of a split. With
``stratify`` (one label per stimulus, e.g. object category) each class contributes to the test side in
proportion to its size (largest-remainder rounding), like scikit-learn's ``StratifiedShuffleSplit``; where
classes tie for a leftover test item, the split index rotates which class gets it (so with 92 images in 4
equal classes and 10 test images no class is over-represented in every split).

``recipe="brainscore"`` gives Brain-Score's ``CrossValidation`` splits exactly: scikit-learn's
``StratifiedShuffleSplit(n_splits, train_size=1 - test_size, random_state=seed).split(zeros(n), labels)``
(``ShuffleSplit`` without labels); Brain-Score's defaults are 10 splits, ``train_size=0.9``, ``random_state=1``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import numpy as np

Split = Tuple[np.ndarray, np.ndarray]


SPLIT_RECIPES = ("stratified", "brainscore")


def _allocate(counts: np.ndarray, n_test: int, rotation: int = 0) -> np.ndarray:
    """Test items per class, proportional to class size, summing to n_test (largest remainders first; ties go
    to classes in an order rotated by ``rotation``)."""
    exact = counts * n_test / counts.sum()
    alloc = np.floor(exact).astype(int)
    remainder = np.round(exact - alloc, 9)
    c = len(counts)
    order = np.lexsort(((np.arange(c) - rotation) % c, -remainder))
    alloc[order[: n_test - alloc.sum()]] += 1
    return np.minimum(alloc, counts)


def _brainscore_splits(n: int, n_splits: int, n_test: int, labels: Optional[np.ndarray], seed: int) -> List[Split]:
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    kind = ShuffleSplit if labels is None else StratifiedShuffleSplit
    splitter = kind(n_splits=n_splits, train_size=n - n_test, random_state=seed)
    args = [] if labels is None else [labels]
    return [(np.asarray(train), np.asarray(test)) for train, test in splitter.split(np.zeros(n), *args)]


def shuffle_splits(n: int, n_splits: int = 10, test_size: float = 0.1, stratify: Optional[Any] = None,
                   seed: int = 1, recipe: str = "stratified") -> List[Split]:
    """``n_splits`` random (train, test) index splits of ``n`` stimuli; ``test_size`` a fraction or a count;
    ``recipe`` ``"stratified"`` (default, this module's) or ``"brainscore"`` (scikit-learn's, as Brain-Score).

    >>> splits = shuffle_splits(92, n_splits=10, test_size=0.1, stratify=categories, seed=1)
    >>> brainscore = shuffle_splits(92, stratify=categories, seed=1, recipe="brainscore")
    """
    if recipe not in SPLIT_RECIPES:
        raise ValueError(f"unknown split recipe {recipe!r}; use one of {list(SPLIT_RECIPES)}")
    if not isinstance(n_splits, int) or n_splits < 1:
        raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}")
    if isinstance(test_size, float) and 0 < test_size < 1:
        # scikit-learn's rounding for the brainscore recipe: train = floor((1 - test_size) * n)
        n_test = n - math.floor(round(1 - test_size, 12) * n) if recipe == "brainscore" else math.ceil(test_size * n)
    elif isinstance(test_size, int) and not isinstance(test_size, bool) and test_size >= 1:
        n_test = test_size
    else:
        raise ValueError(f"test_size must be a fraction in (0, 1) or a positive count, got {test_size!r}")
    if n_test < 2 or n - n_test < 3:
        raise ValueError(
            f"a split with test_size={test_size!r} of {n} stimuli gives {n_test} test and {n - n_test} training "
            "stimuli; a split needs at least 2 test and 3 training stimuli. Use more stimuli or another "
            "test_size."
        )
    rng = np.random.default_rng(seed)
    if stratify is None:
        labels = np.zeros(n, dtype=int)
    else:
        labels = np.unique(np.asarray(stratify), return_inverse=True)[1].ravel()
        if len(labels) != n:
            raise ValueError(f"stratify has {len(labels)} labels for {n} stimuli; give one label per stimulus")
    if recipe == "brainscore":
        return _brainscore_splits(n, n_splits, n_test, None if stratify is None else labels, seed)
    classes = [np.flatnonzero(labels == c) for c in range(labels.max() + 1)]
    counts = np.array([len(c) for c in classes])
    out = []
    for i in range(n_splits):
        alloc = _allocate(counts, n_test, rotation=i)
        test = np.concatenate([rng.permutation(members)[:k] for members, k in zip(classes, alloc)])
        test = np.sort(test)
        out.append((np.setdiff1d(np.arange(n), test), test))
    return out


def half_split(n: int, stratify: Optional[Any] = None, seed: int = 0) -> Split:
    """Two disjoint halves (selection, evaluation) of ``n`` stimuli, stratified if labels are given."""
    if n < 8:
        raise ValueError(f"choosing a best layer on one half and scoring it on the other needs at least 8 "
                         f"stimuli (4 per half), got {n}")
    return shuffle_splits(n, 1, n // 2, stratify, seed)[0]


@dataclass(frozen=True)
class CrossValidation:
    """How an encoding metric splits the stimuli: ``n_splits`` shuffle splits holding out ``test_size`` (a fraction
    or a count), seeded, by ``recipe`` (see :func:`shuffle_splits`); stratified when the metric is given labels.

    >>> cv = nw.alignment.CrossValidation(n_splits=10, test_size=0.1, seed=1, recipe="brainscore")
    >>> cv.splits(640)
    """

    n_splits: int = 10
    test_size: float = 0.1
    seed: int = 1
    recipe: str = "stratified"

    def __post_init__(self) -> None:
        if self.recipe not in SPLIT_RECIPES:
            raise ValueError(f"unknown split_recipe {self.recipe!r}; use one of {list(SPLIT_RECIPES)}")

    def splits(self, n: int, stratify: Optional[Any] = None) -> List[Split]:
        return shuffle_splits(n, self.n_splits, self.test_size, stratify, self.seed, self.recipe)
