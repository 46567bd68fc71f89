"""course_lib.splits: partitions, stratification, and what we share with scikit-learn.

What is compared with scikit-learn (random generators differ, so shuffled indices cannot):
- KFold: the fold sizes, always; the indices themselves when shuffle=False.
- StratifiedKFold: the number of samples of each class in each fold, always (we use the
  same allocation rule); the indices themselves when shuffle=False.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from sklearn import model_selection as skms

from course_lib.splits import KFold, StratifiedKFold, train_val_test_indices, train_val_test_split
from .hypothesis_budget import examples

SETTINGS = settings(max_examples=examples(40), deadline=None)


def assert_partition(parts, n_samples):
    joined = np.concatenate(parts)
    assert len(joined) == n_samples, "parts overlap or miss samples"
    np.testing.assert_array_equal(np.sort(joined), np.arange(n_samples))


def class_counts(y, index, classes):
    return np.array([(y[index] == c).sum() for c in classes])


@st.composite
def stratified_labels(draw, min_per_class=1):
    n_classes = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(min_per_class, 15), min_size=n_classes, max_size=n_classes))
    y = np.repeat(np.arange(n_classes), sizes)
    return draw(st.permutations(y.tolist()))


# --- train / validation / test ---------------------------------------------------------------
@SETTINGS
@given(st.integers(3, 200), st.sampled_from([0.0, 0.1, 0.25]), st.sampled_from([0.1, 0.2, 0.3]), st.integers(0, 99))
def test_three_way_split_partitions_with_requested_sizes(n, val_fraction, test_fraction, seed):
    n_test, n_val = int(np.ceil(test_fraction * n)), int(np.ceil(val_fraction * n))
    if n_test + n_val >= n:
        with pytest.raises(ValueError, match="leave no training data"):
            train_val_test_indices(n, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
        return
    train, val, test = train_val_test_indices(n, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed)
    assert_partition([train, val, test], n)
    assert (len(val), len(test)) == (n_val, n_test)
    # the same sizes as scikit-learn's test split
    _, sk_test = skms.train_test_split(np.arange(n), test_size=test_fraction, random_state=0)
    assert len(test) == len(sk_test)


@pytest.mark.parametrize("n, val_fraction, test_fraction", [(2, 0.5, 0.5), (3, 0.3, 0.6), (10, 0.5, 0.45)])
def test_a_split_that_would_leave_no_training_data_is_refused(n, val_fraction, test_fraction):
    """The property test above never reaches this case for its sizes (an audit): named here."""
    with pytest.raises(ValueError, match="leave no training data"):
        train_val_test_indices(n, val_fraction=val_fraction, test_fraction=test_fraction, seed=0)


@SETTINGS
@given(stratified_labels(min_per_class=1), st.integers(0, 99))
def test_stratified_three_way_split_keeps_class_proportions(labels, seed):
    y = np.array(labels)
    n = len(y)
    n_test, n_val = int(np.ceil(0.2 * n)), int(np.ceil(0.1 * n))
    if n_test + n_val >= n:
        return
    try:
        train, val, test = train_val_test_indices(n, val_fraction=0.1, test_fraction=0.2, seed=seed, stratify=y)
    except ValueError as error:  # a class of one or two members that rounding gives wholly to val and test
        assert "none of them in the training set" in str(error)
        assert np.unique(y, return_counts=True)[1].min() <= 2
        return
    assert_partition([train, val, test], n)
    assert (len(val), len(test)) == (n_val, n_test)
    assert set(np.unique(y[train])) == set(np.unique(y))  # every class is trained on
    classes, totals = np.unique(y, return_counts=True)
    test_counts = class_counts(y, test, classes)
    # each class's share of the test set, rounded down or up
    share = totals * n_test / n
    assert np.all((test_counts == np.floor(share)) | (test_counts == np.ceil(share)))
    # validation: its share of what the test set left, rounded down or up
    remaining = totals - test_counts
    val_share = remaining * n_val / remaining.sum()
    val_counts = class_counts(y, val, classes)
    assert np.all((val_counts == np.floor(val_share)) | (val_counts == np.ceil(val_share)))
    # hence every split is within two samples of the overall proportions
    for index in (train, val, test):
        assert np.all(np.abs(class_counts(y, index, classes) - totals * len(index) / n) < 2)


def test_split_returns_aligned_parts_for_several_arrays_and_is_seeded():
    x = np.arange(50).reshape(25, 2)
    y = np.arange(25)
    labels = [f"s{i}" for i in range(25)]
    train, val, test = train_val_test_split(x, y, labels, val_fraction=0.2, test_fraction=0.2, seed=3)
    for x_part, y_part, label_part in (train, val, test):
        np.testing.assert_array_equal(x_part[:, 0], 2 * y_part)  # rows stay together
        assert label_part == [f"s{i}" for i in y_part]
    again = train_val_test_split(x, y, labels, val_fraction=0.2, test_fraction=0.2, seed=3)
    np.testing.assert_array_equal(again[0][1], train[1])
    other = train_val_test_split(x, y, labels, val_fraction=0.2, test_fraction=0.2, seed=4)
    assert not np.array_equal(other[0][1], train[1])
    single_train, _, _ = train_val_test_split(y, seed=3, val_fraction=0.2, test_fraction=0.2)
    np.testing.assert_array_equal(single_train, train[1])


def test_split_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    x, y = torch.arange(20.0).reshape(10, 2), torch.arange(10)
    (x_train, y_train), _, _ = train_val_test_split(x, y, seed=0)
    assert isinstance(x_train, torch.Tensor)
    assert torch.equal(x_train[:, 0], 2 * y_train.float())


def test_split_errors():
    with pytest.raises(ValueError, match="same number of samples"):
        train_val_test_split(np.zeros(10), np.zeros(9))
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        train_val_test_split(np.zeros(10), test_fraction=1.5)
    with pytest.raises(ValueError, match="stratify has 9 labels"):
        train_val_test_split(np.zeros(10), stratify=np.zeros(9))


def test_allocation_tie_goes_to_the_larger_class():
    """When two classes have an equal claim on the last test place, the larger class gets it."""
    y = np.array([0, 1, 1, 1])
    _, _, test = train_val_test_indices(4, val_fraction=0.0, test_fraction=0.5, stratify=y)
    assert sorted(y[test].tolist()) == [1, 1]


def test_stratified_parts_are_not_in_class_blocks():
    """A stratified split must shuffle within each part, not list one class after another."""
    y = np.repeat([0, 1], 50)
    train, val, test = train_val_test_indices(100, stratify=y, val_fraction=0.2, test_fraction=0.2)
    for part in (train, val, test):
        assert not np.all(np.diff(y[part]) >= 0)


# --- k-fold -----------------------------------------------------------------------------------
@SETTINGS
@given(st.integers(2, 60), st.integers(2, 8), st.booleans(), st.integers(0, 99))
def test_kfold_partitions_and_matches_sklearn_fold_sizes(n, n_splits, shuffle, seed):
    X = np.zeros((n, 3))
    if n_splits > n:
        with pytest.raises(ValueError, match=f"n_splits={n_splits}"):
            list(KFold(n_splits, shuffle=shuffle, seed=seed).split(X))
        return
    ours = list(KFold(n_splits, shuffle=shuffle, seed=seed).split(X))
    theirs = list(skms.KFold(n_splits, shuffle=shuffle, random_state=seed if shuffle else None).split(X))
    assert len(ours) == n_splits
    assert_partition([val for _, val in ours], n)  # each sample validates exactly once
    for (train, val), (sk_train, sk_val) in zip(ours, theirs):
        assert_partition([train, val], n)
        assert len(val) == len(sk_val)
        if not shuffle:
            np.testing.assert_array_equal(val, sk_val)
            np.testing.assert_array_equal(train, sk_train)


@SETTINGS
@given(stratified_labels(min_per_class=5), st.integers(2, 5), st.booleans(), st.integers(0, 99))
def test_stratified_kfold_matches_sklearn_class_counts_per_fold(labels, n_splits, shuffle, seed):
    y = np.array(labels)
    X = np.zeros((len(y), 2))
    ours = list(StratifiedKFold(n_splits, shuffle=shuffle, seed=seed).split(X, y))
    theirs = list(skms.StratifiedKFold(n_splits, shuffle=shuffle,
                                       random_state=seed if shuffle else None).split(X, y))
    classes, totals = np.unique(y, return_counts=True)
    assert_partition([val for _, val in ours], len(y))
    for (train, val), (_, sk_val) in zip(ours, theirs):
        assert_partition([train, val], len(y))
        counts = class_counts(y, val, classes)
        np.testing.assert_array_equal(counts, class_counts(y, sk_val, classes))
        # each class is spread evenly: floor or ceil of its total / n_splits
        assert np.all((counts == totals // n_splits) | (counts == -(-totals // n_splits)))
        if not shuffle:
            np.testing.assert_array_equal(val, sk_val)
    if shuffle:
        again = list(StratifiedKFold(n_splits, shuffle=True, seed=seed).split(X, y))
        for (_, val), (_, val_again) in zip(ours, again):
            np.testing.assert_array_equal(val, val_again)


def test_kfold_shuffle_uses_the_seed():
    """KFold(shuffle=True) must shuffle with the given seed, not ignore it."""
    def folds(seed):
        return [val.tolist() for _, val in KFold(3, shuffle=True, seed=seed).split(np.zeros(30))]

    assert folds(1) == folds(1) and folds(1) != folds(2)


def test_get_n_splits_counts_the_folds_split_yields_as_scikit_learns():
    x, y = np.zeros(12), np.arange(12) % 3
    for splitter in (KFold(4), StratifiedKFold(3, shuffle=True)):
        assert splitter.get_n_splits() == splitter.get_n_splits(x, y) == len(list(splitter.split(x, y)))


def test_stratified_kfold_with_string_labels():
    y = np.array(["cat", "dog", "cat", "emu", "dog", "emu", "cat", "dog", "emu"])
    folds = list(StratifiedKFold(3).split(np.zeros(9), y))
    for _, val in folds:
        assert sorted(y[val]) == ["cat", "dog", "emu"]


def test_kfold_errors_are_clear():
    with pytest.raises(ValueError, match="cannot cut 3 samples into n_splits=4"):
        list(KFold(4).split(np.zeros(3)))
    with pytest.raises(ValueError, match="n_splits must be an integer >= 2"):
        KFold(1)
    with pytest.raises(ValueError, match="class 2 has only 2 member"):
        list(StratifiedKFold(3).split(np.zeros(8), np.array([0, 0, 0, 1, 1, 1, 2, 2])))
    with pytest.raises(ValueError, match="needs the class labels"):
        list(StratifiedKFold(3).split(np.zeros(8)))
    with pytest.raises(ValueError, match="cannot cut 2 samples"):
        list(StratifiedKFold(3).split(np.zeros(2), np.array([0, 1])))


# --- found by an audit of the splits (2026-12-06) -------------------------------------------------------
def test_a_class_that_would_have_no_training_sample_is_refused():
    """Class 1's only sample always went to the test set: a class tested on and never trained on."""
    with pytest.raises(ValueError, match="class 1 has only 1 member.*none of them in the training set"):
        train_val_test_indices(7, test_fraction=0.3, stratify=[0] * 5 + [1] + [2])


def test_fractions_give_the_documented_ceiling_despite_floating_point():
    train, val, test = train_val_test_indices(100, val_fraction=0.0, test_fraction=0.07)
    assert (len(train), len(val), len(test)) == (93, 0, 7)  # 0.07 · 100 is 7.000000000000001


@pytest.mark.parametrize("n_samples", [10.0, -3, 0, True])
def test_a_sample_count_that_is_no_count_is_named(n_samples):
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        train_val_test_indices(n_samples)


def test_a_class_of_one_member_gets_advice_stratified_k_fold_can_follow():
    with pytest.raises(ValueError, match="Every class needs at least 2 members") as error:
        list(StratifiedKFold(3).split(np.zeros(7), [0] * 6 + [1]))
    assert "n_splits <= 1" not in str(error.value)
