"""Assignment 1 — Neurons and activation functions (Chapter "Activation functions").

Graded against ``course_lib.scratch.activations``.  Hidden checks use shapes, dtypes
and magnitudes the public ones do not, so hard-coding the public answers fails them.
"""
from __future__ import annotations

import numpy as np

from course_lib.scratch import activations as ref

from ..spec import Assignment, Hint, Question, has_nonfinite
from ._util import args, checks, loud_and_quiet, nearly_tied, randn


def _neuron(x, w, b):
    return ref.sigmoid(x @ w + b)


def _large(x):
    return float(np.max(np.abs(x))) > 100


def _extremes(rng):
    """Two inputs far out on each tail (|x| of 500–2000), two moderate ones and 0, shuffled.  The
    moderate ones are where σ is not yet 0 or 1 (|x| of 0.5–4): at |x| of 20–80 a step function
    matched σ within the tolerance and passed (a red-team audit)."""
    values = np.array([-rng.uniform(500, 2000), -rng.uniform(0.5, 4), 0.0, rng.uniform(0.5, 4), rng.uniform(500, 2000)])
    return rng.permutation(values)


def _both_signs(rng, n):
    """n inputs with at least one of each sign, and two zeros (an all-negative draw let 0 pass)."""
    x = randn(rng, n)
    x[0], x[1] = abs(x[0]) + 0.1, -abs(x[1]) - 0.1
    return rng.permutation(np.concatenate([x, np.zeros(2)]))


def _far_and_near(make_args):
    """The twin (``Check.twin``) of a fixed case of values far out on both tails and 0: each far value
    times its own factor in [0.9, 1/0.9] (±100 stays past 88.7, where e^x overflows float32), each 0
    made a moderate value (|x| of 0.5–4, where σ is neither 0 nor 1), shuffled.  The shown answer is
    0, 0.5 and 1 (σ′: 0, 0.25, 0), which a table ordered like the inputs' signs would give again."""
    def twin(rng):
        (values,), kwargs = make_args(rng)
        far = values * rng.uniform(0.9, 1 / 0.9, values.shape)
        near = rng.choice([-1.0, 1.0], values.shape) * rng.uniform(0.5, 4, values.shape)
        return (rng.permutation(np.where(values == 0, near, far)).astype(values.dtype),), kwargs

    return twin


def _zero_and_signs(rng):
    """A twin for relu′'s fixed (2, 3) case: a 0 (where the derivative is 0), a positive and a negative
    value and three of random sign, shuffled — the shown answer's numbers are the signs of the shown
    inputs, which scaling keeps.  (With five random signs, all negative in 1 draw of 32, an answer of
    zeros passed.)"""
    x = randn(rng, 6)
    x[0], x[1], x[2] = 0.0, abs(x[1]) + 0.1, -abs(x[2]) - 0.1
    return args(rng.permutation(x).reshape(2, 3))


def _one_far(rng, rows, columns):
    x = randn(rng, rows, columns, scale=2)
    x[np.arange(rows), rng.integers(0, columns, rows)] += rng.uniform(1000, 1400, rows)
    return x


OVERFLOW = Hint(lambda got, expected, a: has_nonfinite(got) and _large(a[0]),
                "softmax([1000, 1000]) returns nan when computed naively: subtract the maximum of each row "
                "(along the axis, keepdims=True; not of the whole array, or a row far below it underflows to "
                "0/0) before exponentiating — the result is unchanged and e^x can no longer overflow")
SIGMOID_OVERFLOW = Hint(lambda got, expected, a: has_nonfinite(got),
                        "exp(-x) overflows for very negative x: use exp(-|x|) on both branches")


def _normalised_elsewhere(got, expected) -> bool:
    """Whether ``got`` sums to 1 along another axis than the one ``expected`` (a softmax) sums to 1
    along, or over the whole array: normalised, along the wrong axis.  (It applied to every wrong
    softmax of the right shape, a log-softmax too; an audit.)"""
    if not isinstance(got, np.ndarray) or got.shape != expected.shape or got.ndim == 0 or got.dtype.kind != "f":
        return False
    with np.errstate(all="ignore"):
        sums_to_one = [bool(np.allclose(expected.sum(axis=axis), 1)) for axis in range(expected.ndim)]
        if True not in sums_to_one or np.allclose(got.sum(axis=sums_to_one.index(True)), 1):
            return False
        return bool(np.isclose(got.sum(), 1)) or any(np.allclose(got.sum(axis=axis), 1)
                                                     for axis, right in enumerate(sums_to_one) if not right)


AXIS = Hint(lambda got, expected, a: _normalised_elsewhere(got, expected),
            "normalise along the axis you are given (sum with keepdims=True so the division broadcasts)")

ASSIGNMENT = Assignment(
    id="a01",
    title="Neurons and activation functions",
    chapter="Activation functions",
    notebook="a01_activations.ipynb",
    questions=[
        Question("q1", "A single neuron", 2, ["neuron"], checks("neuron", _neuron, [
            ("one sample, 3 inputs", lambda r: args(randn(r, 1, 3), randn(r, 3), 0.5), False),
            ("a batch of 4 samples", lambda r: args(randn(r, 4, 3), randn(r, 3), -0.25), False),
            ("a batch of 2 samples with 5 inputs", lambda r: args(randn(r, 2, 5), randn(r, 5), 0.0), False),
            ("float32 inputs: the output stays float32", lambda r: args(randn(r, 2, 3, dtype=np.float32), randn(r, 3, dtype=np.float32),
                                    np.float32(0.5)), False, np.float32),
            ("hidden", lambda r: args(randn(r, 7, 5), randn(r, 5), float(r.normal())), True),
            ("hidden", lambda r: args(randn(r, 3, 2, dtype=np.float32), randn(r, 2, dtype=np.float32), np.float32(0.1)), True, np.float32),
        ])),
        Question("q2", "Sigmoid and its derivative", 2, ["sigmoid", "sigmoid_derivative"],
                 checks("sigmoid", ref.sigmoid, [
                     ("five values around 0", lambda r: args(np.linspace(-2, 2, 5)), False),
                     ("x = ±1000: no overflow, not even in an unused branch", lambda r: args(np.array([-1000.0, 0.0, 1000.0])), False,
                      np.float64, {"twins": _far_and_near}),
                     # float32 overflows e^x past x = 88: clipping at ±500 passed every public case (an audit)
                     ("float32, x = ±100 and ±400: e^x overflows past 88 in float32",
                      lambda r: args(np.array([-400.0, -100.0, 0.0, 100.0, 400.0], dtype=np.float32)), False, np.float32,
                      {"twins": _far_and_near}),
                     ("hidden", lambda r: args(randn(r, 6, 4, scale=3)), True),
                     ("hidden", lambda r: args(_extremes(r)), True),
                     ("hidden", lambda r: args(loud_and_quiet(r, 6, scale=200, dtype=np.float32)), True, np.float32),
                 ], hints=[SIGMOID_OVERFLOW], float_errors=True, float32=True) + checks("sigmoid_derivative", ref.sigmoid_derivative, [
                     ("five values around 0", lambda r: args(np.linspace(-2, 2, 5)), False),
                     ("x = ±1000: no nan", lambda r: args(np.array([-1000.0, 0.0, 1000.0])), False, np.float64,
                      {"twins": _far_and_near}),
                     ("hidden", lambda r: args(randn(r, 3, 5, scale=2)), True),
                     ("hidden", lambda r: args(_extremes(r)), True),
                     ("hidden", lambda r: args(randn(r, 8, dtype=np.float32)), True, np.float32),
                 ], hints=[SIGMOID_OVERFLOW], float32=True)),
        Question("q3", "ReLU and its derivative", 2, ["relu", "relu_derivative"],
                 checks("relu", ref.relu, [
                     ("a (2, 3) array", lambda r: args(np.array([[-1.0, 0.0, 2.0], [3.0, -0.5, 0.25]])), False),
                     ("hidden", lambda r: args(randn(r, 5, 4)), True),
                     ("hidden", lambda r: args(randn(r, 9, dtype=np.float32)), True, np.float32),
                 ], float32=True) + checks("relu_derivative", ref.relu_derivative, [
                     ("a (2, 3) array (the derivative at 0 is 0)", lambda r: args(np.array([[-1.0, 0.0, 2.0], [3.0, -0.5, 0.25]])), False,
                      np.float64, {"twin": _zero_and_signs}),
                     ("hidden", lambda r: args(_both_signs(r, 6)), True),
                 ], float32=True)),
        Question("q4", "Tanh's derivative", 1, ["tanh_derivative"], checks("tanh_derivative", ref.tanh_derivative, [
            ("five values around 0", lambda r: args(np.linspace(-2, 2, 5)), False),
            ("hidden", lambda r: args(randn(r, 4, 4, scale=2)), True),
        ], float32=True)),
        Question("q5", "A numerically stable softmax", 3, ["softmax"], checks("softmax", ref.softmax, [
            ("rows of a (2, 3) array", lambda r: args(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])), False),
            ("large logits [1000, 1000]", lambda r: args(np.array([1000.0, 1000.0])), False, np.float64,
             {"twins": nearly_tied}),
            ("rows on different scales: the maximum of each row", lambda r: args(np.array([[1000.0, 1000.0], [0.0, 1.0]])), False,
             np.float64, {"twins": nearly_tied}),
            ("a row from −2000 to 2000: subtract its maximum, not its mean", lambda r: args(np.array([[2000.0, 0.0, -2000.0]])), False,
             np.float64, {"twins": nearly_tied}),
            ("the columns of a (3, 2) array, axis=0", lambda r: args(np.array([[1.0, 0.0], [2.0, 0.0], [4.0, 3.0]]), axis=0), False),
            ("a (2, 3, 2) array, axis=1: the middle axis", lambda r: args(np.arange(12.0).reshape(2, 3, 2) % 5, axis=1), False),
            ("a (3, 2) array, axis=-2: counted from the end", lambda r: args(np.array([[1.0, 0.0], [2.0, 0.0], [4.0, 3.0]]), axis=-2), False),
            ("float32 inputs: the output stays float32", lambda r: args(randn(r, 2, 4, dtype=np.float32)), False, np.float32),
            ("hidden", lambda r: args(randn(r, 5, 7, scale=50) + 800), True),
            ("hidden", lambda r: args(randn(r, 4, 6, scale=3) + np.array([[900.0], [0.0], [-900.0], [5.0]])), True),
            ("hidden", lambda r: args(randn(r, 2, 6, 3), axis=1), True),
            # one logit per row 1000–1400 above the others, so 800 or more above the row's mean: subtracting
            # the mean instead of the maximum overflows (it passed every other hidden check: softmax is
            # unchanged by any shift; an audit)
            ("hidden", lambda r: args(_one_far(r, 3, 5)), True),
            ("hidden", lambda r: args(randn(r, 4, 10, dtype=np.float32, scale=10)), True, np.float32),
        ], hints=[OVERFLOW, AXIS])),
    ],
)
