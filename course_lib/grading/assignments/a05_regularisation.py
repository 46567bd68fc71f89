"""Assignment 5 — Regularisation (Chapter "Regularisation").

L1/L2 penalties and their gradients (``course_lib.scratch.regularization``'s convention:
R₁ = λ Σ|w|, R₂ = (λ/2) Σ w²), and inverted dropout forward/backward
(``course_lib.scratch.dropout.dropout_mask``).  Dropout is graded twice: exactly, with
the uniform numbers given by the grader, and statistically, with the student's own
random generator (so patching or reseeding a generator cannot help).
"""
from __future__ import annotations

import itertools

import numpy as np

from course_lib.scratch import regularization as ref
from course_lib.scratch.dropout import dropout_mask
from course_lib.scratch.module import Parameter

from ..spec import Assignment, Check, Hint, Question, compare, matches
from ._util import args, checks, randn


def _params(weights):
    return [Parameter(w.copy()) for w in weights]


def l1_penalty(weights, strength):
    return ref.l1_penalty(_params(weights), strength)


def l2_penalty(weights, strength):
    return ref.l2_penalty(_params(weights), strength)


def _penalty_grad(add):
    def grad(weight, strength):
        param = Parameter(weight.copy())
        param.grad = np.zeros_like(weight)
        add([param], strength)
        return param.grad
    return grad


l1_penalty_grad = _penalty_grad(ref.add_l1_penalty_grad)
l2_penalty_grad = _penalty_grad(ref.add_l2_penalty_grad)


class _Given:
    """A 'generator' that hands out the grader's uniform numbers, so dropout_mask is deterministic."""

    def __init__(self, uniform):
        self.uniform = uniform

    def random(self, shape, dtype=np.float64):
        return self.uniform.reshape(shape).astype(dtype)


def dropout_forward(x, p, uniform):
    mask = dropout_mask(x.shape, p, x.dtype, _Given(uniform))
    return x * mask, mask


def dropout_backward(grad_output, mask):
    return grad_output * mask


def _weights(rng, count=2):
    return [randn(rng, *tuple(int(s) for s in rng.integers(1, 5, size=2))) for _ in range(count)]


def _dropout_args(rng, shape, p, dtype=np.float64, tie=False):
    """``tie``: one uniform number equal to p, which the rule `uniform >= p` keeps."""
    x = randn(rng, *shape, dtype=dtype)
    uniform = rng.random(shape)
    if tie:
        uniform.flat[0] = p
    return args(x, p, uniform)


def judge_random_dropout(value, call_args, call_kwargs, secret):
    x, p = call_args
    if not (isinstance(value, (tuple, list)) and len(value) == 2):  # a list is the same answer (spec.compare)
        return False, "dropout should return the tuple (output, mask)"
    out, mask = value
    for name, array in (("the output", out), ("the mask", mask)):
        ok, message = compare(array, x, path=name, values=False)
        if not ok:
            return False, message
    scale = 1.0 / (1.0 - p)
    if not np.all(np.isclose(mask, 0.0) | np.isclose(mask, scale)):
        return False, f"every mask entry should be 0 or 1/(1 − p) = {scale:.4g} (inverted dropout)"
    if not np.allclose(out, x * mask):
        return False, "the output should be x * mask"
    dropped = float(np.mean(np.isclose(mask, 0.0)))
    # 20 000 draws: the fraction's standard deviation is below 0.004, so ±0.03 is > 7 sigma
    if abs(dropped - p) > 0.03:
        return False, f"{dropped:.1%} of the entries were dropped; with p = {p} about {p:.0%} should be"
    # independent draws: along rows and along columns, neighbours differ with probability 2p(1 − p).
    # A fixed pattern (the first entries, a stripe, every third one) has the right fraction but not this;
    # 10 % of the expected count is about 5 standard deviations or more for the sizes graded here
    # (4.97 at p = 0.1 on 20 000 entries, counting the covariance of neighbouring changes)
    is_dropped = np.isclose(np.asarray(mask), 0.0)
    for order, along in (("C", "rows"), ("F", "columns")):
        flat = is_dropped.ravel(order=order)
        changes = int(np.count_nonzero(flat[1:] != flat[:-1]))
        expected = 2 * p * (1 - p) * (flat.size - 1)
        if abs(changes - expected) > 0.1 * expected:
            return False, (f"the dropped entries do not look like independent random draws: along the {along}, "
                           f"neighbours differ {changes} times, about {expected:.0f} expected; draw a separate "
                           "uniform number for every entry")
    return True, "correct"


def judge_fresh_masks(value, call_args, call_kwargs, secret):
    """Three calls on the same input: each a correct dropout, and their masks independent of one
    another — a function that seeds its generator on every call drops the same entries every time,
    one that alternates between two masks repeats the first on the third call."""
    for number, result in enumerate(value, start=1):
        passed, message = judge_random_dropout(result, call_args, call_kwargs, secret)
        if not passed:
            return False, f"call {number}: {message}"
    dropped = [np.isclose(np.asarray(result[1]), 0.0) for result in value]
    p = call_args[1]
    # each entry is dropped on its own, so how many are dropped varies from call to call: three
    # calls all dropping exactly round(p·n) (about 1 % each for the 5 000 entries here) is a fixed count
    counts = {int(np.count_nonzero(d)) for d in dropped}
    if counts == {round(p * dropped[0].size)}:
        return False, (f"all {len(dropped)} calls dropped exactly {counts.pop()} of the {dropped[0].size} entries: "
                       "dropout drops each entry independently with probability p, so the number dropped "
                       "varies from call to call (do not choose a fixed number of entries to drop)")
    # independent masks disagree on a fraction 2p(1 − p) of the entries (0.5 at p = 0.5); over the
    # 5 000 entries graded its standard deviation is 0.007, so 0.1 either way is 14 sigma (and each
    # mask's own independence test in judge_random_dropout stays at 7 sigma)
    expected = 2 * p * (1 - p)
    for (first, a), (second, b) in itertools.combinations(enumerate(dropped, start=1), 2):
        differ = float(np.mean(a != b))
        if differ < expected - 0.1:
            what = "exactly the same entries" if differ == 0 else f"the same entries except {differ:.1%} of them"
            return False, (f"calls {first} and {second} on the same input dropped {what}; a new mask must be "
                           "drawn on every call: create the random generator once, outside the function, "
                           "not on every call")
        if differ > expected + 0.1:
            return False, (f"the masks of calls {first} and {second} disagree on {differ:.0%} of the entries, "
                           f"independent ones on about {expected:.0%}: draw new uniform numbers on every call")
    return True, "correct"


def _pair_of_arrays(got) -> bool:
    return isinstance(got, (tuple, list)) and len(got) == 2 and all(isinstance(item, np.ndarray) for item in got)


def _mask_like(array: np.ndarray) -> bool:
    """0 and one other value: a mask, whatever its scale (not the output x ⊙ mask)."""
    return np.unique(array[array != 0]).size <= 1


SWAPPED = Hint(lambda got, expected, a: _pair_of_arrays(got) and matches(got[0], expected[1])
               and matches(got[1], expected[0]),
               "the two arrays are the right ones in the wrong order: return (output, mask)")
SCALE = Hint(lambda got, expected, a: _pair_of_arrays(got) and _mask_like(got[1])
             and np.array_equal(got[1] != 0, expected[1] != 0) and not matches(got[1], expected[1]),
             "the mask keeps the right entries, but its non-zero value must be 1/(1 − p), one over the "
             "probability of keeping an entry (inverted dropout)")
KEEP = Hint(lambda got, expected, a: _pair_of_arrays(got) and _mask_like(got[1])
            and not np.array_equal(got[1] != 0, expected[1] != 0),
            "keep an entry where uniform >= p (so it is kept with probability 1 − p)")
HALF = Hint(lambda got, expected, a: isinstance(got, float) and np.isclose(got, 2 * expected),
            "the course's L2 penalty has a ½: (λ/2) Σ w², so that its gradient is exactly λw")

ASSIGNMENT = Assignment(
    id="a05",
    title="Regularisation",
    chapter="Regularisation",
    notebook="a05_regularisation.ipynb",
    questions=[
        Question("q1", "L1 penalty and its gradient", 2, ["l1_penalty", "l1_penalty_grad"],
                 checks("l1_penalty", l1_penalty, [
                     ("two weight matrices", lambda r: args([np.array([[1.0, -2.0]]), np.array([[0.5], [-0.5]])], 0.1), False),
                     ("a weight matrix and a bias vector", lambda r: args([np.array([[1.0, -2.0]]), np.array([0.5, -1.5])], 0.1), False),
                     ("hidden", lambda r: args(_weights(r, 3), float(r.uniform(0, 1))), True),
                 ]) + checks("l1_penalty_grad", l1_penalty_grad, [
                     ("a (2, 2) weight with a zero", lambda r: args(np.array([[1.0, -2.0], [0.0, 3.0]]), 0.1), False),
                     ("hidden", lambda r: args(randn(r, 3, 4), float(r.uniform(0, 1))), True),
                 ], float32=True)),
        Question("q2", "L2 penalty and its gradient", 2, ["l2_penalty", "l2_penalty_grad"],
                 checks("l2_penalty", l2_penalty, [
                     ("two weight matrices", lambda r: args([np.array([[1.0, -2.0]]), np.array([[0.5], [-0.5]])], 0.1), False),
                     ("a weight matrix and a bias vector", lambda r: args([np.array([[1.0, -2.0]]), np.array([0.5, -1.5])], 0.1), False),
                     ("hidden", lambda r: args(_weights(r, 3), float(r.uniform(0, 1))), True),
                 ], hints=[HALF]) + checks("l2_penalty_grad", l2_penalty_grad, [
                     ("a (2, 2) weight", lambda r: args(np.array([[1.0, -2.0], [0.0, 3.0]]), 0.1), False),
                     ("float32 inputs: the output stays float32", lambda r: args(randn(r, 3, 2, dtype=np.float32), 0.1), False, np.float32),
                     ("hidden", lambda r: args(randn(r, 2, 5, dtype=np.float32), 0.01), True, np.float32),
                 ])),
        Question("q3", "Inverted dropout, forward", 3, ["dropout_forward", "dropout"],
                 checks("dropout_forward", dropout_forward, [
                     ("p = 0.5 on a (2, 4) array", lambda r: _dropout_args(r, (2, 4), 0.5), False),
                     ("a uniform number equal to p: kept (uniform >= p)", lambda r: _dropout_args(r, (3, 3), 0.25, tie=True), False),
                     ("float32 inputs: the output and the mask stay float32",
                      lambda r: _dropout_args(r, (3, 4), 0.25, np.float32), False, np.float32),
                     ("hidden", lambda r: _dropout_args(r, (3, 5), 0.2), True),
                     # 40 entries: at p = 0.7 all are dropped with probability 6·10⁻⁷ (with 6, 12 %), and
                     # a mask that forgot the 1/(1 − p) would then pass
                     ("hidden", lambda r: _dropout_args(r, (40,), 0.7, np.float32), True, np.float32),
                 ], hints=[SWAPPED, SCALE, KEEP], result_names=("output", "mask")) + [
                     Check("dropout: p = 0.3 with your own random numbers", "dropout",
                           lambda r: args(randn(r, 200, 100), 0.3), None, judge=judge_random_dropout),
                     Check("dropout: p = 0.3 on a float32 input: the output and the mask stay float32", "dropout",
                           lambda r: args(randn(r, 200, 100, dtype=np.float32), 0.3), None, judge=judge_random_dropout),
                     Check("dropout: three calls on the same (100, 50) input draw three independent masks",
                           "dropout", lambda r: args(randn(r, 100, 50), 0.35), None, judge=judge_fresh_masks, calls=3),
                     # never p = 0.5: there keeping with probability p instead of 1 − p drops as many
                     # entries at the same scale, and the mistake passes (a red-team audit)
                     Check("dropout: hidden test 1", "dropout",
                           lambda r: args(randn(r, 100, 200), float(r.choice([0.1, 0.35, 0.8]))), None,
                           hidden=True, judge=judge_random_dropout),
                 ]),
        Question("q4", "Inverted dropout, backward", 1, ["dropout_backward"], checks("dropout_backward", dropout_backward, [
            ("a (2, 3) gradient", lambda r: args(randn(r, 2, 3), np.array([[2.0, 0, 2], [0, 2, 2]])), False),
            ("hidden", lambda r: args(randn(r, 4, 4), (r.random((4, 4)) > 0.25) / 0.75), True),
        ], float32=True)),
    ],
)
