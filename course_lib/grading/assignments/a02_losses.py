"""Assignment 2 — Loss functions and their gradients (Chapter "Loss functions").

Expected values come from ``course_lib.scratch.losses`` (forward for the loss,
``backward()`` for the gradient), on inputs the grader makes.
"""
from __future__ import annotations

import numpy as np

from course_lib.scratch import losses as ref

from ..spec import Assignment, Hint, Question, has_nonfinite, matches
from ._util import args, checks, loud_and_quiet, nearly_tied, randn, varied


def _value(loss_class):
    def expected(prediction, target):
        return np.float64(loss_class()(prediction, target))
    return expected


def _grad(loss_class):
    def expected(prediction, target):
        loss = loss_class()
        loss(prediction, target)
        return loss.backward()
    return expected


def _logits_only(make_args):
    """The fixed cases' twins keep their 0/1 targets (a target times 1.05 is no probability)."""
    return varied(make_args, at=(0,))


def _labels(rng, n, classes):
    return rng.integers(0, classes, size=n).astype(np.int64)


def _bits(rng, *shape):
    return (rng.random(shape) < 0.5).astype(np.float64)


# Stability inputs that still need the soft function (``loud_and_quiet``; a red-team audit found
# hard maxima passing rows of logits all in the hundreds): rows far from 0 whose logits are close.
def _far_rows(rng, n, classes, offset):
    """n rows of logits a few units apart, each shifted by ±``offset`` or so: exp overflows (or
    underflows to 0/0) unless each row's maximum is subtracted, and the softmax is not one-hot."""
    return randn(rng, n, classes, scale=2.0) + randn(rng, n, 1, scale=offset)


LOGITS = Hint(lambda got, expected, a: has_nonfinite(got),
              "with logits of ±1000, sigmoid or exp overflows or log(0) appears: use the stable form "
              "max(z, 0) − z·y + log(1 + exp(−|z|))")
LOGSUMEXP = Hint(lambda got, expected, a: has_nonfinite(got),
                 "compute log-softmax as z − max(z) − log Σ exp(z − max(z)) (the log-sum-exp trick), with the "
                 "maximum of each row (axis=1, keepdims=True): one maximum for the whole batch leaves the other "
                 "rows at exp(−1000) = 0")
SOFTMAX_OVERFLOW = Hint(lambda got, expected, a: has_nonfinite(got),
                        "the gradient is (softmax(z) − one-hot(y)) / N, and exp(z) overflows for large logits (or "
                        "underflows to 0/0 when shifted by one maximum for the whole batch): compute softmax as "
                        "exp(z − max z) / Σ exp(z − max z), the maximum taken over each row")
SHAPE_N1 = Hint(lambda got, expected, a: isinstance(got, np.ndarray) and got.shape != np.shape(expected)
                and got.size == np.size(expected),
                "the gradient must have exactly the shape of the prediction", structural=True)
# the loss is a mean: over every entry (MSE, BCE) or over the batch (cross-entropy)
MEAN = Hint(lambda got, expected, a: isinstance(got, np.ndarray) and (
    matches(got, expected * expected.size) or matches(got, expected * len(expected))),
    "the loss is a mean, so its gradient is divided by the number of terms averaged: every entry for "
    "MSE and BCE, the batch size N for cross-entropy")

ASSIGNMENT = Assignment(
    id="a02",
    title="Loss functions and their gradients",
    chapter="Loss functions",
    notebook="a02_losses.ipynb",
    questions=[
        Question("q1", "Mean squared error", 3, ["mse_loss", "mse_grad"],
                 checks("mse_loss", _value(ref.MSELoss), [
                     ("4 predictions", lambda r: args(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.0, 5.0])), False),
                     ("a (3, 2) batch: the mean runs over all 6 entries", lambda r: args(
                         np.array([[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]]), np.array([[1.5, 2.0], [2.0, 5.0], [0.0, 0.0]])), False),
                     ("hidden", lambda r: args(randn(r, 6, 3), randn(r, 6, 3)), True),
                     ("hidden", lambda r: args(randn(r, 11), randn(r, 11)), True),
                 ]) + checks("mse_grad", _grad(ref.MSELoss), [
                     ("4 predictions", lambda r: args(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.0, 5.0])), False),
                     ("a (3, 2) batch: the mean runs over all 6 entries", lambda r: args(
                         np.array([[1.0, 2.0], [3.0, 4.0], [0.5, -1.0]]), np.array([[1.5, 2.0], [2.0, 5.0], [0.0, 0.0]])), False),
                     ("float32 inputs: the gradient stays float32", lambda r: args(
                         randn(r, 4, dtype=np.float32), randn(r, 4, dtype=np.float32)), False, np.float32),
                     ("hidden", lambda r: args(randn(r, 5, 2), randn(r, 5, 2)), True),
                     ("hidden", lambda r: args(randn(r, 7, dtype=np.float32), randn(r, 7, dtype=np.float32)), True, np.float32),
                 ], hints=[SHAPE_N1, MEAN])),
        Question("q2", "Binary cross-entropy on logits", 3, ["bce_with_logits", "bce_with_logits_grad"],
                 checks("bce_with_logits", _value(ref.BCEWithLogitsLoss), [
                     ("3 logits", lambda r: args(np.array([0.0, 2.0, -1.0]), np.array([1.0, 1.0, 0.0])), False),
                     ("logits of ±1000", lambda r: args(np.array([1000.0, -1000.0, 1000.0]), np.array([1.0, 0.0, 0.0])), False),
                     ("a (2, 2) batch: the mean runs over all 4 entries", lambda r: args(
                         np.array([[0.0, 2.0], [-1.0, 3.0]]), np.array([[1.0, 1.0], [0.0, 0.0]])), False),
                     ("hidden", lambda r: args(randn(r, 9, scale=3), _bits(r, 9)), True),
                     ("hidden", lambda r: args(loud_and_quiet(r, 4, 3, scale=300), _bits(r, 4, 3)), True),
                 ], hints=[LOGITS], twins=_logits_only) + checks("bce_with_logits_grad", _grad(ref.BCEWithLogitsLoss), [
                     ("3 logits", lambda r: args(np.array([0.0, 2.0, -1.0]), np.array([1.0, 1.0, 0.0])), False),
                     ("a (2, 2) batch: the mean runs over all 4 entries", lambda r: args(
                         np.array([[0.0, 2.0], [-1.0, 3.0]]), np.array([[1.0, 1.0], [0.0, 0.0]])), False),
                     ("hidden", lambda r: args(randn(r, 6, scale=3), _bits(r, 6)), True),
                     ("hidden", lambda r: args(loud_and_quiet(r, 3, 2, scale=500), _bits(r, 3, 2)), True),
                 ], hints=[LOGITS, MEAN], float32=True, twins=_logits_only)),
        Question("q3", "Cross-entropy with softmax", 4, ["cross_entropy", "cross_entropy_grad"],
                 checks("cross_entropy", _value(ref.CrossEntropyLoss), [
                     ("2 samples, 3 classes", lambda r: args(np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]), np.array([0, 2])), False),
                     # twins with a near tie: a shuffle that put +1000 on the label made the loss 0 (an audit)
                     ("large logits", lambda r: args(np.array([[1000.0, 0.0, -1000.0]]), np.array([1])), False, np.float64,
                      {"twins": nearly_tied}),
                     ("rows on different scales: the maximum of each row", lambda r: args(
                         np.array([[1000.0, 0.0, -1000.0], [0.5, 1.0, 0.0]]), np.array([1, 2])), False, np.float64,
                      {"twins": nearly_tied}),
                     ("hidden", lambda r: args(randn(r, 8, 5, scale=2), _labels(r, 8, 5)), True),
                     ("hidden", lambda r: args(_far_rows(r, 4, 10, offset=400), _labels(r, 4, 10)), True),
                 ], hints=[LOGSUMEXP]) + checks("cross_entropy_grad", _grad(ref.CrossEntropyLoss), [
                     ("2 samples, 3 classes", lambda r: args(np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]]), np.array([0, 2])), False),
                     ("logits of ±1000: softmax must not overflow", lambda r: args(
                         np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 1.0]]), np.array([1, 1])), False, np.float64,
                      {"twins": nearly_tied}),
                     ("rows on different scales: the maximum of each row", lambda r: args(
                         np.array([[1000.0, 0.0, -1000.0], [0.5, 1.0, 0.0]]), np.array([1, 2])), False),
                     ("hidden", lambda r: args(randn(r, 6, 4, scale=2), _labels(r, 6, 4)), True),
                     ("hidden", lambda r: args(_far_rows(r, 3, 7, offset=400), _labels(r, 3, 7)), True),
                 ], hints=[SOFTMAX_OVERFLOW, SHAPE_N1, MEAN], float32=True)),
    ],
)
