"""Assignment 9 — Evaluating classifiers (Chapter "Frequently asked questions" (How do I evaluate a model?)).

Confusion matrix, per-class precision/recall/F1 (0 for undefined 0/0) and k-fold
splitting, graded against ``course_lib.metrics`` and ``course_lib.splits``.
"""
from __future__ import annotations

import numpy as np

from course_lib import metrics, splits

from ..spec import Assignment, Hint, Question, has_nonfinite, matches
from ._util import args, checks


def confusion_matrix(y_true, y_pred, num_classes):
    return metrics.confusion_matrix(y_true, y_pred, labels=list(range(num_classes)))


def precision_recall_f1(y_true, y_pred, num_classes):
    precision, recall, f1, _ = metrics.precision_recall_f1_support(y_true, y_pred, average=None,
                                                                  labels=list(range(num_classes)))
    return precision.astype(np.float64), recall.astype(np.float64), f1.astype(np.float64)


def k_fold_indices(n_samples, k):
    return [(train.astype(np.int64), val.astype(np.int64))
            for train, val in splits.KFold(n_splits=k).split(np.zeros(n_samples))]


def _pairs(n, classes, truths, predictions, asymmetric=False):
    """A twin (``Check.twin``) for a fixed case ``(y_true, y_pred, num_classes)``: n new pairs, the true
    labels drawn from ``truths`` and the predictions from ``predictions``, each of them at least once,
    so which classes occur, are never predicted or occur nowhere stays as the case names it — new
    counts, which no table of the shown answer (renamed or not) holds; where the case's name does not
    give n, a larger n than shown (a renaming of four pairs of two classes came up in 1 draw in 10).  ``asymmetric``: drawn until
    the confusion matrix differs from its transpose (the case is about which axis holds the truth)."""
    truths, predictions = np.array(truths, np.int64), np.array(predictions, np.int64)

    def twin(rng):
        for _ in range(1000):
            y_true, y_pred = rng.choice(truths, n), rng.choice(predictions, n)
            if len(np.unique(y_true)) < len(truths) or len(np.unique(y_pred)) < len(predictions):
                continue
            matrix = confusion_matrix(y_true, y_pred, classes)
            if not asymmetric or not np.array_equal(matrix, matrix.T):
                return args(y_true, y_pred, classes)
        raise RuntimeError(f"no {n} pairs of {truths} and {predictions} in 1000 draws")

    return twin


def _more(rng, n, k) -> int:
    """n plus 1 to 4 times k: as many folds, as many of them one sample longer."""
    return n + k * int(rng.integers(1, 5))


_SHOWN_FOLDS = {(10, 5), (11, 3), (10, 4)}  # the public cases: a hidden draw of one was a table's (an audit)


def _folds(rng, sample_size):
    """``args(n, k)``: k of 3–6 folds of ``sample_size(rng, k)`` samples, drawn again while (n, k) is a
    public case's."""
    while True:
        k = int(rng.integers(3, 7))
        n = sample_size(rng, k)
        if (n, k) not in _SHOWN_FOLDS:
            return args(n, k)


def _even_folds(rng):
    """A sample that k divides: every fold the same size.  (Hidden checks draw each kind on its own, so
    an answer right for one kind only scores the same on every draw.)"""
    return _folds(rng, lambda r, k: k * int(r.integers(2, 7)))


def _uneven_folds(rng):
    """A small sample that k does not divide: some folds get one sample more."""
    return _folds(rng, lambda r, k: k * int(r.integers(1, 4)) + int(r.integers(1, k)))


def _labels(rng, n, classes, missing=None, absent=None):
    """``missing``: a class nobody predicts (its precision is 0/0); ``absent``: a class that occurs in
    neither labels nor predictions (its recall is 0/0 too, and the matrix still has its row and column)."""
    y_true = rng.integers(0, classes, size=n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, classes, size=n))
    if missing is not None:
        y_pred = np.where(y_pred == missing, (missing + 1) % classes, y_pred)
    if absent is not None:
        y_true, y_pred = (np.where(y == absent, (absent + 1) % classes, y) for y in (y_true, y_pred))
    return args(y_true.astype(np.int64), y_pred.astype(np.int64), classes)


TRANSPOSED = Hint(lambda got, expected, a: isinstance(got, np.ndarray) and got.shape == expected.shape
                  and np.array_equal(got, expected.T), "rows are the true classes and columns the predicted ones")
ZERO_DIVISION = Hint(lambda got, expected, a: has_nonfinite(got),
                     "when a class is never predicted (or never occurs) the ratio is 0/0: return 0 for it")
SWAPPED = Hint(lambda got, expected, a: matches(got[0], expected[1]) and matches(got[1], expected[0]),
               "precision and recall are swapped: precision divides by how often a class was predicted "
               "(the confusion matrix's column), recall by how often it occurs (its row)")


def _folds_swapped(got, expected, a) -> bool:
    """Every fold returned as (validation, train) instead of (train, validation)."""
    return len(got) == len(expected) and all(matches(g[0], e[1]) and matches(g[1], e[0]) for g, e in zip(got, expected))


_FOLD_ORDER = ("each fold is returned the wrong way round: the question asks for (train_indices, "
               "validation_indices), the training indices first")
FOLD_ORDER = Hint(_folds_swapped, _FOLD_ORDER, structural=True)  # when the two have different lengths
FOLD_ORDER_SAME_LENGTHS = Hint(_folds_swapped, _FOLD_ORDER)  # 2 folds of an even n
REMAINDER = Hint(lambda got, expected, a: len(got) == len(expected) and [len(v) for _, v in got] != [len(v) for _, v in expected],
                 "folds are consecutive blocks; when n is not divisible by k the first n % k folds get one extra "
                 "sample (10 samples in 4 folds: 3, 3, 2, 2)", structural=True)
ALL_CLASSES = Hint(lambda got, expected, a: np.shape(got) != np.shape(expected),
                   "the matrix has one row and one column for every class 0 … num_classes − 1, also for classes "
                   "that occur in neither y_true nor y_pred", structural=True)
PER_CLASS = Hint(lambda got, expected, a: any(np.shape(g) != np.shape(e) for g, e in zip(got, expected)),
                 "each array has one entry for every class 0 … num_classes − 1, also for classes that occur in "
                 "neither y_true nor y_pred", structural=True)

ASSIGNMENT = Assignment(
    id="a09",
    title="Evaluating classifiers",
    chapter="Frequently asked questions (How do I evaluate a model?)",
    notebook="a09_evaluation.ipynb",
    questions=[
        Question("q1", "Confusion matrix", 2, ["confusion_matrix"], checks("confusion_matrix", confusion_matrix, [
            ("6 samples, 3 classes", lambda r: args(np.array([0, 1, 2, 2, 1, 0]), np.array([0, 2, 2, 1, 1, 0]), 3), False,
             np.float64, {"twin": _pairs(6, 3, [0, 1, 2], [0, 1, 2])}),
            ("rows are true classes, columns predictions", lambda r: args(np.array([0, 0, 0, 1, 2]),
                                                                         np.array([1, 1, 0, 1, 1]), 3), False,
             np.float64, {"twin": _pairs(8, 3, [0, 1, 2], [0, 1], asymmetric=True)}),
            ("4 classes, of which 1 and 3 occur nowhere: the matrix is still 4×4", lambda r: args(
                np.array([0, 2, 2, 0]), np.array([0, 2, 0, 0]), 4), False, np.float64, {"twin": _pairs(8, 4, [0, 2], [0, 2])}),
            ("hidden", lambda r: _labels(r, 50, 4), True),
            ("hidden", lambda r: _labels(r, 30, 6, missing=2), True),
            ("hidden", lambda r: _labels(r, 20, 5, absent=4), True),  # the top class: a size read from the data misses it
        ], hints=[TRANSPOSED, ALL_CLASSES])),
        Question("q2", "Precision, recall and F1 per class", 3, ["precision_recall_f1"],
                 checks("precision_recall_f1", precision_recall_f1, [
                     ("6 samples, 3 classes", lambda r: args(np.array([0, 1, 2, 2, 1, 0]), np.array([0, 2, 2, 1, 1, 0]), 3),
                      False, np.float64, {"twin": _pairs(6, 3, [0, 1, 2], [0, 1, 2])}),
                     ("a class that is never predicted", lambda r: args(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 1]), 3),
                      False, np.float64, {"twin": _pairs(7, 3, [0, 1, 2], [0, 1])}),
                     ("a class that never occurs nor is predicted: its recall is 0/0 too",
                      lambda r: args(np.array([0, 0, 2, 2]), np.array([0, 2, 2, 2]), 3), False, np.float64,
                      {"twin": _pairs(7, 3, [0, 2], [0, 2])}),
                     ("3 classes, of which class 2 occurs nowhere: the arrays still have 3 entries",
                      lambda r: args(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 3), False, np.float64,
                      {"twin": _pairs(7, 3, [0, 1], [0, 1])}),
                     ("hidden", lambda r: _labels(r, 80, 5), True),
                     ("hidden", lambda r: _labels(r, 40, 4, missing=0), True),
                     ("hidden", lambda r: _labels(r, 30, 5, absent=int(r.integers(0, 5))), True),
                 ], hints=[ZERO_DIVISION, SWAPPED, PER_CLASS], result_names=("precision", "recall", "f1"))),
        Question("q3", "k-fold cross-validation indices", 2, ["k_fold_indices"], checks("k_fold_indices", k_fold_indices, [
            # twins: n grows by a multiple of k, so that k still divides n, or leaves the same remainder
            ("10 samples, 5 folds", lambda r: args(10, 5), False, np.float64, {"twin": lambda r: args(_more(r, 10, 5), 5)}),
            ("11 samples, 3 folds: the first 2 folds get an extra sample", lambda r: args(11, 3), False, np.float64,
             {"twin": lambda r: args(_more(r, 11, 3), 3)}),
            ("10 samples, 4 folds: folds of 3, 3, 2 and 2", lambda r: args(10, 4), False, np.float64,
             {"twin": lambda r: args(_more(r, 10, 4), 4)}),
            ("hidden", lambda r: _even_folds(r), True),
            ("hidden", lambda r: _uneven_folds(r), True),
        ], hints=[FOLD_ORDER, FOLD_ORDER_SAME_LENGTHS, REMAINDER])),
    ],
)
