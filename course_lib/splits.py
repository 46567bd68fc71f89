"""Splitting data for honest evaluation (Chapter "Frequently asked questions" (How do I evaluate a model?)).

- ``train_val_test_split``: one shuffled three-way split — fit on *train*, choose
  hyper-parameters and stop early on *validation*, report once on *test*.
- ``KFold``: k folds; each fold is the validation set once while the other k − 1 train.
- ``StratifiedKFold``: k folds that keep every class's proportion in every fold.

All randomness comes from ``np.random.default_rng(seed)``, so the same seed gives the same
split on every machine.  The splitters yield index arrays (``train_index, val_index``),
like scikit-learn's, so the same indices select rows of NumPy arrays and torch tensors.

Fold sizes follow scikit-learn exactly: with N samples and k folds, the first N mod k
folds hold ⌊N/k⌋ + 1 samples and the others ⌊N/k⌋.  ``StratifiedKFold`` also gives each
fold the same number of samples of each class as scikit-learn's does (its indices differ
only when shuffling, because the random generators differ).
"""
from __future__ import annotations

import math
from typing import Iterator, Optional, Tuple

import numpy as np

from .checks import host_array


def _n_samples(array) -> int:
    if not hasattr(array, "__len__"):
        raise TypeError(f"expected an array with one row per sample, got {type(array).__name__}")
    return len(array)


def _take(array, index: np.ndarray):
    """Rows ``index`` of a NumPy array, a torch tensor or a list."""
    if isinstance(array, list):
        return [array[i] for i in index]
    if hasattr(array, "detach"):  # torch tensor: index with a tensor of the same indices
        import torch

        return array[torch.as_tensor(index, dtype=torch.long)]
    return np.asarray(array)[index]


def _as_class_vector(y, n_samples: int) -> np.ndarray:
    y = host_array(y)
    if y.ndim != 1:
        raise ValueError(f"stratify expects a 1-D array of class labels, got shape {y.shape}")
    if len(y) != n_samples:
        raise ValueError(f"stratify has {len(y)} labels but there are {n_samples} samples")
    return y


def _allocate(class_counts: np.ndarray, total: int) -> np.ndarray:
    """Split ``total`` among classes in proportion to ``class_counts`` (largest remainders).

    Each class gets its share total·n_c/N rounded down or up, and the shares add up
    to ``total`` exactly; ties go to the larger class, then to the earlier one.
    """
    share = class_counts * total / class_counts.sum()
    allocated = np.floor(share).astype(np.int64)
    missing = total - allocated.sum()
    if missing > 0:
        order = np.lexsort((np.arange(len(share)), -class_counts, -(share - allocated)))
        allocated[order[:missing]] += 1
    return allocated


def train_val_test_indices(n_samples: int, *, val_fraction: float = 0.1, test_fraction: float = 0.1,
                           seed: Optional[int] = 0, stratify=None, shuffle: bool = True
                           ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays ``(train, val, test)`` that partition ``range(n_samples)``.

    The test set has ⌈test_fraction·N⌉ samples and the validation set
    ⌈val_fraction·N⌉; the training set gets the rest and must not be empty.
    With ``stratify`` (a class label per sample) each class contributes to the test set
    its share rounded down or up, then to the validation set its share of what remains,
    so every split keeps the class proportions to within a sample or two.
    ``shuffle=False`` (only without ``stratify``) takes test, then validation, from the end.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1:
        raise ValueError(f"val_fraction and test_fraction must lie in [0, 1), got {val_fraction} and {test_fraction}")
    # rounded before the ceiling: 0.07 · 100 is 7.000000000000001 in floating point, and ⌈·⌉ would make it 8
    n_test = math.ceil(round(test_fraction * n_samples, 9))
    n_val = math.ceil(round(val_fraction * n_samples, 9))
    if n_test + n_val >= n_samples:
        raise ValueError(
            f"with {n_samples} samples, val_fraction={val_fraction} and test_fraction={test_fraction} "
            f"leave no training data ({n_val} validation + {n_test} test samples)"
        )
    rng = np.random.default_rng(seed)
    if stratify is None:
        order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
        train_end = n_samples - n_test - n_val
        return order[:train_end], order[train_end:train_end + n_val], order[train_end + n_val:]
    if not shuffle:
        raise ValueError("stratify needs shuffle=True (a stratified split draws samples from each class)")

    y = _as_class_vector(stratify, n_samples)
    classes, y_encoded, class_counts = np.unique(y, return_inverse=True, return_counts=True)
    test_counts = _allocate(class_counts, n_test)
    val_counts = _allocate(class_counts - test_counts, n_val)
    empty = np.flatnonzero(class_counts - test_counts - val_counts == 0)
    if len(empty):  # a class the model would be tested on but never trained on (scikit-learn refuses it too)
        raise ValueError(f"class {classes[empty[0]].item()!r} has only {class_counts[empty[0]]} member(s), and the "
                         "split would leave none of them in the training set: gather more samples of it, merge or "
                         "drop it, or split without stratify")
    train, val, test = [], [], []
    for k in range(len(classes)):
        members = rng.permutation(np.flatnonzero(y_encoded == k))
        test.append(members[:test_counts[k]])
        val.append(members[test_counts[k]:test_counts[k] + val_counts[k]])
        train.append(members[test_counts[k] + val_counts[k]:])
    # shuffle within each split so that classes are not in blocks
    return tuple(rng.permutation(np.concatenate(part)) for part in (train, val, test))


def train_val_test_split(*arrays, val_fraction: float = 0.1, test_fraction: float = 0.1,
                         seed: Optional[int] = 0, stratify=None, shuffle: bool = True):
    """Split each array the same way into training, validation and test parts.

    Returns ``(train, val, test)``; with several arrays each part is a tuple holding them
    in the order given, so ``train, val, test = train_val_test_split(x, y)`` gives
    ``train = (x_train, y_train)``, ready for ``fit(model, train, val_data=val)``.  With
    one array each part is that array.  Works on NumPy arrays, torch tensors and lists.
    See :func:`train_val_test_indices` for sizes and stratification.

    >>> x, y = np.arange(20).reshape(10, 2), np.arange(10) % 2
    >>> (x_tr, y_tr), (x_val, y_val), (x_te, y_te) = train_val_test_split(x, y, val_fraction=0.2, test_fraction=0.2)
    >>> len(x_tr), len(x_val), len(x_te)
    (6, 2, 2)
    """
    if not arrays:
        raise ValueError("train_val_test_split needs at least one array")
    n_samples = _n_samples(arrays[0])
    for position, array in enumerate(arrays[1:], start=2):
        if _n_samples(array) != n_samples:
            raise ValueError(
                f"all arrays must have the same number of samples: array 1 has {n_samples}, "
                f"array {position} has {_n_samples(array)}"
            )
    parts = train_val_test_indices(n_samples, val_fraction=val_fraction, test_fraction=test_fraction,
                                   seed=seed, stratify=stratify, shuffle=shuffle)
    if len(arrays) == 1:
        return tuple(_take(arrays[0], index) for index in parts)
    return tuple(tuple(_take(array, index) for array in arrays) for index in parts)


class KFold:
    """k-fold cross-validation: ``split(X)`` yields ``(train_index, val_index)`` k times.

    Fold i is the validation set of round i.  ``shuffle=True`` permutes the samples with
    ``np.random.default_rng(seed)`` before cutting the folds; otherwise the folds are
    consecutive blocks (and then identical to scikit-learn's ``KFold``).
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False, seed: Optional[int] = 0):
        if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
            raise ValueError(f"n_splits must be an integer >= 2 (at least one fold to train and one to validate), "
                             f"got {n_splits!r}")
        self.n_splits, self.shuffle, self.seed = int(n_splits), bool(shuffle), seed

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """The number of folds (scikit-learn's signature: the arguments are not needed)."""
        return self.n_splits

    def _fold_sizes(self, n_samples: int) -> np.ndarray:
        if self.n_splits > n_samples:
            raise ValueError(
                f"cannot cut {n_samples} samples into n_splits={self.n_splits} folds: "
                f"each fold needs at least one sample (use n_splits <= {n_samples})"
            )
        sizes = np.full(self.n_splits, n_samples // self.n_splits, dtype=np.int64)
        sizes[: n_samples % self.n_splits] += 1
        return sizes

    def _test_folds(self, X, y) -> np.ndarray:
        """For each sample, the fold in which it is in the validation set."""
        n_samples = _n_samples(X)
        order = np.random.default_rng(self.seed).permutation(n_samples) if self.shuffle else np.arange(n_samples)
        folds = np.empty(n_samples, dtype=np.int64)
        folds[order] = np.repeat(np.arange(self.n_splits), self._fold_sizes(n_samples))
        return folds

    def split(self, X, y=None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_index, val_index)`` for each fold, indices sorted ascending."""
        folds = self._test_folds(X, y)
        for fold in range(self.n_splits):
            yield np.flatnonzero(folds != fold), np.flatnonzero(folds == fold)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_splits={self.n_splits}, shuffle={self.shuffle}, seed={self.seed})"


class StratifiedKFold(KFold):
    """k folds in which every class keeps its proportion (Chapter "Frequently asked questions" (How do I evaluate a model?)).

    Allocation (as in scikit-learn): sort the samples by class and deal them to the folds
    in turn, like cards; this fixes how many samples of each class each fold gets (they
    differ by at most one between folds).  The members of a class then go to their folds
    in order of appearance, or in a random order with ``shuffle=True``.
    Classes are numbered in order of first appearance in ``y``, as scikit-learn does.

    Every class needs at least ``n_splits`` members, otherwise some fold would miss it:
    that is an error here (scikit-learn only warns).
    """

    def _test_folds(self, X, y) -> np.ndarray:
        if y is None:
            raise ValueError("StratifiedKFold.split(X, y) needs the class labels y")
        n_samples = _n_samples(X)
        y = _as_class_vector(y, n_samples)
        self._fold_sizes(n_samples)  # n_splits <= n_samples
        _, first_index, inverse = np.unique(y, return_index=True, return_inverse=True)
        # renumber classes by first appearance so the allocation matches scikit-learn's
        _, appearance_rank = np.unique(first_index, return_inverse=True)
        y_encoded = appearance_rank[inverse.reshape(-1)]
        n_classes = len(first_index)
        class_counts = np.bincount(y_encoded, minlength=n_classes)
        too_small = np.flatnonzero(class_counts < self.n_splits)
        if len(too_small):
            small_class = y[np.sort(first_index)[too_small[0]]:][:1].tolist()[0]  # a plain Python value
            raise ValueError(
                f"class {small_class!r} has only {class_counts[too_small[0]]} member(s), fewer than "
                f"n_splits={self.n_splits}: some folds would contain none of it. "
                + (f"Use n_splits <= {class_counts.min()} or gather more samples of that class"
                   if class_counts.min() >= 2 else
                   "Every class needs at least 2 members (n_splits is at least 2): gather more samples of it, "
                   "merge or drop it, or use KFold")
            )
        y_sorted = np.sort(y_encoded)
        allocation = np.stack([np.bincount(y_sorted[fold::self.n_splits], minlength=n_classes)
                               for fold in range(self.n_splits)])  # (n_splits, n_classes)
        rng = np.random.default_rng(self.seed)
        folds = np.empty(n_samples, dtype=np.int64)
        for k in range(n_classes):  # a loop over classes, not samples
            folds_for_class = np.repeat(np.arange(self.n_splits), allocation[:, k])
            if self.shuffle:
                rng.shuffle(folds_for_class)
            folds[y_encoded == k] = folds_for_class
        return folds


__all__ = ["train_val_test_split", "train_val_test_indices", "KFold", "StratifiedKFold"]
