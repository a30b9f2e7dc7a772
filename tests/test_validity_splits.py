"""Stimulus splits: the class that gets a leftover test image rotates; Brain-Score's recipe equals scikit-learn."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

import neuro_widgets as nw


def _class_counts(splits, labels):
    return np.array([[np.sum(labels[test] == c) for c in np.unique(labels)] for _, test in splits])


def test_leftover_test_images_rotate_over_classes():
    labels = np.repeat(["a", "b", "c", "d"], 23)  # 92 images, 4 equal classes, 10 test images: 2 leftovers
    splits = nw.alignment.shuffle_splits(92, 8, 10, labels, seed=0)
    counts = _class_counts(splits, labels)
    assert (counts.sum(1) == 10).all() and set(counts.ravel()) == {2, 3}
    assert (counts.sum(0) == 20).all()  # each class got its extra image in half of the 8 splits
    assert len({tuple(row) for row in counts}) > 1  # not the same class every time
    # unequal classes still follow the largest remainders: 30/30/40 of 100 with 10 test -> 3/3/4 every split
    unequal = np.repeat([0, 1, 2], [30, 30, 40])
    assert (_class_counts(nw.alignment.shuffle_splits(100, 5, 10, unequal), unequal) == [3, 3, 4]).all()


def test_kriegeskorte_categories_get_no_fixed_extra(k92):
    labels = np.asarray(k92.stimuli.metadata["category"])
    counts = _class_counts(nw.alignment.shuffle_splits(92, 10, 0.1, labels, seed=1), labels)
    exact = np.array([np.sum(labels == c) for c in np.unique(labels)]) * 10 / 92
    assert ((counts == np.floor(exact)) | (counts == np.ceil(exact))).all()  # each class its proportional share
    assert len({tuple(r) for r in counts}) > 1  # the leftovers go to different classes in different splits


@pytest.mark.parametrize("stratified", [True, False])
def test_brainscore_recipe_equals_sklearn(k92, stratified):
    labels = np.asarray(k92.stimuli.metadata["category"])
    ours = nw.alignment.shuffle_splits(92, stratify=labels if stratified else None, seed=1, recipe="brainscore")
    # Brain-Score's CrossValidation: splits=10, train_size=.9, random_state=1, stratified by the image label
    kind = StratifiedShuffleSplit if stratified else ShuffleSplit
    theirs = kind(n_splits=10, train_size=0.9, test_size=None, random_state=1).split(
        np.zeros(92), *([labels] if stratified else []))
    for (tr, te), (tr2, te2) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(tr, tr2)
        np.testing.assert_array_equal(te, te2)
    x = np.random.default_rng(0).normal(size=(92, 5))
    y = x @ np.random.default_rng(1).normal(size=(5, 3))
    s = nw.alignment.encoding_score(x, y, stratify=labels, split_recipe="brainscore")
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(s.splits, ours)) or not stratified
    with pytest.raises(ValueError, match="unknown split recipe"):
        nw.alignment.shuffle_splits(92, recipe="sklearn")
