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


def _uneven_folds(rng):
    """A small sample that k does not divide: some folds get one sample more."""
    k = int(rng.integers(3, 7))
    return args(k * int(rng.integers(1, 4)) + int(rng.integers(1, k)), k)


def _labels(rng, n, classes, missing=None):
    y_true = rng.integers(0, classes, size=n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, classes, size=n))
    if missing is not None:  # a class nobody predicts: its precision is 0/0
        y_pred = np.where(y_pred == missing, (missing + 1) % classes, y_pred)
    return args(y_true.astype(np.int64), y_pred.astype(np.int64), classes)


TRANSPOSED = Hint(lambda got, expected, a: isinstance(got, np.ndarray) and got.shape == expected.shape
                  and np.array_equal(got, expected.T), "rows are the true classes and columns the predicted ones")
ZERO_DIVISION = Hint(lambda got, expected, a: has_nonfinite(got),
                     "when a class is never predicted (or never occurs) the ratio is 0/0: return 0 for it")
SWAPPED = Hint(lambda got, expected, a: matches(got[0], expected[1]) and matches(got[1], expected[0]),
               "precision and recall are swapped: precision divides by how often a class was predicted "
               "(the confusion matrix's column), recall by how often it occurs (its row)")
REMAINDER = Hint(lambda got, expected, a: [len(v) for _, v in got] != [len(v) for _, v in expected],
                 "folds are consecutive blocks; when n is not divisible by k the first n % k folds get one extra sample")

ASSIGNMENT = Assignment(
    id="a09",
    title="Evaluating classifiers",
    chapter="Frequently asked questions (How do I evaluate a model?)",
    notebook="a09_evaluation.ipynb",
    questions=[
        Question("q1", "Confusion matrix", 2, ["confusion_matrix"], checks("confusion_matrix", confusion_matrix, [
            ("6 samples, 3 classes", lambda r: args(np.array([0, 1, 2, 2, 1, 0]), np.array([0, 2, 2, 1, 1, 0]), 3), False),
            ("5 samples: rows are true classes, columns predictions", lambda r: args(np.array([0, 0, 0, 1, 2]),
                                                                                    np.array([1, 1, 0, 1, 1]), 3), False),
            ("hidden", lambda r: _labels(r, 50, 4), True),
            ("hidden", lambda r: _labels(r, 30, 6, missing=2), True),
        ], hints=[TRANSPOSED])),
        Question("q2", "Precision, recall and F1 per class", 3, ["precision_recall_f1"],
                 checks("precision_recall_f1", precision_recall_f1, [
                     ("6 samples, 3 classes", lambda r: args(np.array([0, 1, 2, 2, 1, 0]), np.array([0, 2, 2, 1, 1, 0]), 3), False),
                     ("a class that is never predicted", lambda r: args(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 1]), 3), False),
                     ("hidden", lambda r: _labels(r, 80, 5), True),
                     ("hidden", lambda r: _labels(r, 40, 4, missing=0), True),
                 ], hints=[ZERO_DIVISION, SWAPPED], result_names=("precision", "recall", "f1"))),
        Question("q3", "k-fold cross-validation indices", 2, ["k_fold_indices"], checks("k_fold_indices", k_fold_indices, [
            ("10 samples, 5 folds", lambda r: args(10, 5), False),
            ("11 samples, 3 folds: the first 2 folds get an extra sample", lambda r: args(11, 3), False),
            ("hidden", lambda r: args(int(r.integers(11, 40)), int(r.integers(3, 7))), True),
            ("hidden", lambda r: _uneven_folds(r), True),
        ], hints=[REMAINDER])),
    ],
)
