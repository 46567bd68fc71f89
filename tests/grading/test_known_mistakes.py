"""Each mistake an assignment's text warns about fails a *public* check, so ``check("qN")``
tells the student before the grader does; the solution passes the same checks.

Every wrong answer below is the solution with exactly one known mistake (the solution's own
function wrapped, or a short rewrite), and a control makes sure the test itself can tell.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib.grading import assignments
from course_lib.grading.runner import _copy, _prepare, judge_value
from course_lib.grading.student import Checker, plain

from .helpers import solution_functions


def _public_failures(assignment_id: str, question: str, namespace: dict) -> list:
    """(check name, message) of every public check of ``question`` that ``namespace`` fails."""
    failures = []
    for item in _prepare(assignments.get(assignment_id), seed=0):
        if item.question.id != question or item.check.hidden:
            continue
        passed, message = Checker._run_one(item, namespace)
        if not passed:
            failures.append((item.check.name, message))
    return failures


# --- the wrong answers --------------------------------------------------------------------------
def _naive_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _both_branches_sigmoid(x):
    # np.where evaluates both branches everywhere: exp(-x) overflows for x = -1000 even though unused
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-x)), np.exp(x) / (1.0 + np.exp(x)))


def _silenced_sigmoid(x):
    # an audit: its own errstate overrode the check's, and "no overflow, not even in a branch" passed
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


@np.errstate(over="ignore")
def _decorated_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


_errstate = np.errstate  # an audit of the mend: errstate imported by name was not caught


def _named_errstate_sigmoid(x):
    with _errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _seterr_sigmoid(x):
    old = np.seterr(all="ignore")
    try:
        return 1.0 / (1.0 + np.exp(-x))
    finally:
        np.seterr(**old)


def _softmax_over_everything(x, axis=-1):
    e = np.exp(x - x.max())
    return e / e.sum()


def _log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _mean_over_size(logits, labels):
    # an audit: np.prod returns a NumPy int64, which turns float32 into float64; the message named floats only
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    return p / np.prod(labels.shape)


def _softmax_ignoring_axis(x, axis=-1):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _divides_by_rows(grad):
    # the mean over the first axis only: right for 1-D predictions, wrong for a (N, k) batch
    return lambda prediction, target: grad(prediction, target) * prediction.size / len(prediction)


def _eps_inside_rmsprop(param, grad, square_avg, lr, alpha, eps):
    square_avg = alpha * square_avg + (1 - alpha) * grad * grad
    return param - lr * grad / np.sqrt(square_avg + eps), square_avg


def _eps_inside_adam(param, grad, m, v, t, lr, beta1, beta2, eps):
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad * grad
    return param - lr * (m / (1 - beta1 ** t)) / np.sqrt(v / (1 - beta2 ** t) + eps), m, v


def _reseeding_dropout(x, p):
    rng = np.random.default_rng(0)  # a new generator with the same seed on every call: the same mask
    mask = (rng.random(x.shape) >= p).astype(x.dtype) / (1 - p)
    return x * mask, mask


def _decay_one_epoch_early(initial_lr, epoch, step_size, gamma):
    return initial_lr * gamma ** ((epoch + 1) // step_size)


def _upcast(function):
    """The function with its results turned into float64, like a new array made without dtype=."""
    def wrapped(*args, **kwargs):
        result = function(*args, **kwargs)
        if isinstance(result, tuple):
            return tuple(np.asarray(r, dtype=np.float64) for r in result)
        return np.asarray(result, dtype=np.float64)
    return wrapped


def _pool_backward(overwrite: bool):
    """Max-pool backward written with a loop over output positions; ``overwrite`` uses = instead of +=."""
    def backward(grad_output, x, kernel_size, stride):
        n, c = x.shape[:2]
        grad_x = np.zeros_like(x)
        rows, cols = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
        for i in range(grad_output.shape[2]):
            for j in range(grad_output.shape[3]):
                window = x[:, :, i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size]
                a, b = np.unravel_index(window.reshape(n, c, -1).argmax(axis=2), (kernel_size, kernel_size))
                target = (rows, cols, i * stride + a, j * stride + b)
                if overwrite:
                    grad_x[target] = grad_output[:, :, i, j]
                else:
                    grad_x[target] += grad_output[:, :, i, j]
        return grad_x
    return backward


def _folds_extra_at_the_end(n_samples, k):
    sizes = [n_samples // k + (1 if i >= k - n_samples % k else 0) for i in range(k)]
    edges = np.cumsum([0] + sizes)
    everything = np.arange(n_samples, dtype=np.int64)
    return [(np.concatenate([everything[:start], everything[stop:]]), everything[start:stop])
            for start, stop in zip(edges[:-1], edges[1:])]


def _numerical_is_analytic(solution):
    return lambda x, y, W1, b1, W2, b2, eps=1e-6: solution["mlp_loss_and_grads"](x, y, W1, b1, W2, b2)[3]


def _attention(square_root):
    def attention(query, key, value, mask):
        scores = query @ np.swapaxes(key, -1, -2) / square_root(query.shape[-1])
        if mask is not None:
            scores = np.where(mask, -np.inf, scores)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        return weights @ value, weights
    return attention


# np.sqrt gives a NumPy float64 scalar, which turns float32 scores into float64; math.sqrt does not
_attention_with_numpy_sqrt = _attention(np.sqrt)


def _additive_float64_mask_attention(query, key, value, mask):
    """The formula as written, softmax(QKᵀ/√d + M): M = np.where(mask, -inf, 0.0) is float64 and
    turns float32 scores into float64 (an audit found only a hidden check caught it)."""
    scores = query @ np.swapaxes(key, -1, -2) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = scores + np.where(mask, -np.inf, 0.0)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ value, weights


def _float64_mask_dropout(x, p, uniform):
    mask = (uniform >= p) / (1 - p)  # a float64 mask turns a float32 input's output into float64
    return x * mask, mask


def _in_place_torch_step(weight, bias, x, y, lr):
    import torch

    w, b = torch.from_numpy(weight).requires_grad_(), torch.from_numpy(bias).requires_grad_()
    torch.nn.functional.cross_entropy(torch.from_numpy(x) @ w.T + b, torch.from_numpy(y)).backward()
    with torch.no_grad():  # the usual idiom, but these tensors share the caller's arrays
        w -= lr * w.grad
        b -= lr * b.grad
    return w.detach().numpy().copy(), b.detach().numpy().copy()


# an exercise-text audit (2026-12-06): answers a student following the text could write, whose
# messages pointed elsewhere (or which passed every public check)
def _clipped_sigmoid(x):
    return 1 / (1 + np.exp(-np.clip(x, -500, 500)))  # enough in float64; float32 overflows past 88


def _one_hot_float64_grad(logits, labels):
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return (p - np.eye(logits.shape[1])[labels]) / len(labels)  # np.eye is float64


def _relu_in_place(x):
    x[x < 0] = 0
    return x


def _column_major_forward(x, W1, b1, W2, b2):
    return W2 @ np.maximum(W1 @ x.T + b1[:, None], 0) + b2[:, None]  # (C, N), samples as columns


class _FromSolution:
    """A wrong answer made from the solution's own functions (``make(namespace)``)."""

    def __init__(self, make, name):
        self.make, self.__name__ = make, name


MISTAKES = [
    # (assignment, question, function, wrong answer, words in the check's name or message)
    ("a01", "q2", "sigmoid", _naive_sigmoid, "FloatingPointError"),
    ("a01", "q2", "sigmoid", _both_branches_sigmoid, "not even in a branch"),
    ("a01", "q2", "sigmoid", _silenced_sigmoid, "FloatingPointError"),
    ("a01", "q2", "sigmoid", _seterr_sigmoid, "FloatingPointError"),
    ("a01", "q2", "sigmoid", _decorated_sigmoid, "FloatingPointError"),
    ("a01", "q2", "sigmoid", _named_errstate_sigmoid, "FloatingPointError"),
    ("a01", "q5", "softmax", _softmax_over_everything, "normalise along the axis you are given"),
    ("a02", "q3", "cross_entropy_grad", _mean_over_size, "np.prod(x.shape)"),
    ("a01", "q5", "softmax", _softmax_ignoring_axis, "axis=0"),
    ("a01", "q2", "sigmoid", _clipped_sigmoid, "overflows past 88 in float32"),
    ("a02", "q3", "cross_entropy_grad", _one_hot_float64_grad, "a new array made without dtype="),
    ("a01", "q3", "relu", _relu_in_place, "which is a view of x"),
    ("a03", "q1", "mlp_forward", _column_major_forward, "rows are the samples of the batch"),
    ("a02", "q1", "mse_grad", _FromSolution(lambda s: _divides_by_rows(s["mse_grad"]), "mean_over_rows"), "all 6 entries"),
    ("a02", "q2", "bce_with_logits_grad", _FromSolution(lambda s: _divides_by_rows(s["bce_with_logits_grad"]), "mean_over_rows"), "all 4 entries"),
    ("a03", "q3", "numerical_grad_W2", _FromSolution(_numerical_is_analytic, "analytic"), "ε = 0.5"),
    ("a04", "q2", "rmsprop_step", _eps_inside_rmsprop, "ε goes outside the square root"),
    ("a04", "q3", "adam_step", _eps_inside_adam, "ε is added after the square root"),
    ("a04", "q4", "step_decay_lr", _decay_one_epoch_early, "epoch 9"),
    ("a05", "q3", "dropout", _reseeding_dropout, "create the random generator once"),
    ("a05", "q3", "dropout_forward", _float64_mask_dropout, "stay float32"),
    ("a10", "q1", "torch_sgd_step", _in_place_torch_step, "torch.from_numpy(array), which shares the array's memory"),
    ("a06", "q1", "conv2d_forward", _FromSolution(lambda s: _upcast(s["conv2d_forward"]), "float64"), "keep the input's precision"),
    ("a06", "q4", "max_pool2d_backward", _pool_backward(overwrite=True), "accumulate"),
    ("a08", "q1", "attention", _attention_with_numpy_sqrt, "keep the input's precision"),
    ("a08", "q1", "attention", _additive_float64_mask_attention, "keep the input's precision"),
    ("a09", "q1", "confusion_matrix", _FromSolution(lambda s: (lambda *a: s["confusion_matrix"](*a).T), "transposed"), "rows are true classes"),
    ("a09", "q3", "k_fold_indices", _folds_extra_at_the_end, "the first 2 folds"),
    # a workflow audit: swapped pairs were told about uneven folds, even where k divides n
    ("a09", "q3", "k_fold_indices", _FromSolution(lambda s: (lambda *a: [(v, t) for t, v in s["k_fold_indices"](*a)]),
                                                   "validation_first"), "the training indices first"),
]


@pytest.mark.parametrize("assignment_id, question, function, wrong, words", MISTAKES,
                         ids=[f"{m[0]}-{m[2]}-{m[3].__name__.strip('_')}" for m in MISTAKES])
def test_a_known_mistake_fails_a_public_check(assignment_id, question, function, wrong, words):
    solution = solution_functions(assignment_id)
    assert _public_failures(assignment_id, question, solution) == []
    answer = wrong.make(solution) if isinstance(wrong, _FromSolution) else wrong
    failures = _public_failures(assignment_id, question, {**solution, function: answer})
    assert failures, f"{function} with a known mistake passes every public check of {assignment_id} {question}"
    assert any(words in name or words in message for name, message in failures), failures


def test_the_axis_hint_is_for_answers_normalised_along_another_axis_only():
    """An audit: it applied to every wrong softmax of the right shape — a log-softmax too."""
    solution = solution_functions("a01")
    failures = _public_failures("a01", "q5", {**solution, "softmax": _log_softmax})
    assert failures and not any("normalise along the axis" in message for _, message in failures), failures


def test_an_input_shuffled_in_place_is_told_about_numpy_too():
    """An audit: a10's advice named only torch.from_numpy, where NumPy's shuffle changed the input."""
    from course_lib.grading.runner import in_place_advice

    question = assignments.get("a10").questions[1]
    assert "rng.shuffle(x)" in in_place_advice(question) and "torch.from_numpy" in in_place_advice(question)


def test_the_pool_control_is_right():
    # the rewrite of max-pool backward is right with += (so only the overwrite is the mistake)
    assert _public_failures("a06", "q4", {**solution_functions("a06"), "max_pool2d_backward": _pool_backward(False)}) == []


def test_python_float_keeps_float32_attention():
    # the float32 check is about the dtype rule, not the formula: the same code with math.sqrt passes
    assert _public_failures("a08", "q1", {**solution_functions("a08"), "attention": _attention(math.sqrt)}) == []


def test_a_dtype_failure_does_not_show_value_hints():
    # a08's mask hint is about values: it must not explain a float64 answer
    item = next(p for p in _prepare(assignments.get("a08"), seed=0)
                if p.check.function == "attention" and p.args[0].dtype == np.float32 and p.args[3] is not None)
    output, weights = _attention_with_numpy_sqrt(*_copy(item.args))
    passed, message = judge_value(item, plain((output, weights)))
    assert not passed and "precision" in message and "Hint" not in message


@pytest.mark.slow
def test_the_grader_turns_float_warnings_into_failures_where_a_check_asks():
    # the same rule in the sandboxed kernel as in check(): a naive sigmoid loses its sigmoid checks
    from .helpers import build, grade, messages, question_score

    naive = ("def sigmoid(x):\n    return 1.0 / (1.0 + np.exp(-x))\n\n\n"
             "def sigmoid_derivative(x):\n    s = sigmoid(x)\n    return s * (1 - s)\n")
    result = grade(build("a01", replace={"q2": naive}), "a01", seed=1)
    failed = [c.name for c in result.checks if c.question == "q2" and not c.passed]
    assert failed and all(name.startswith("sigmoid:") for name in failed), failed
    assert 0 < question_score(result, "q2") < 2
    assert "FloatingPointError" in messages(result, "q2")
    assert question_score(result, "q5") == 3  # the other questions run without the rule
    # its own np.errstate does not silence the check's (an audit: it scored 2 of 2), while a cell of the
    # notebook's own that uses np.errstate outside a check still runs
    silenced = ("def sigmoid(x):\n    with np.errstate(over='ignore'):\n        return 1.0 / (1.0 + np.exp(-x))\n\n\n"
                "def sigmoid_derivative(x):\n    s = sigmoid(x)\n    return s * (1 - s)\n")
    after = "with np.errstate(over='ignore'):\n    np.exp(np.array([1000.0]))\n"
    result = grade(build("a01", replace={"q2": silenced}, after=[after]), "a01", seed=1)
    assert 0 < question_score(result, "q2") < 2 and "FloatingPointError" in messages(result, "q2")


def test_the_fresh_masks_judge_wants_three_independent_masks():
    """Found by a red-team run: masks that differ but are not independent passed with two calls."""
    from course_lib.grading.assignments.a05_regularisation import judge_fresh_masks

    rng = np.random.default_rng(0)
    x, p = rng.standard_normal((100, 50)), 0.5

    def result(uniform):
        mask = (uniform >= p) / (1 - p)
        return x * mask, mask

    draws = [rng.random(x.shape) for _ in range(3)]
    assert judge_fresh_masks(tuple(result(u) for u in draws), (x, p), {}, None) == (True, "correct")
    same = judge_fresh_masks((result(draws[0]),) * 3, (x, p), {}, None)
    assert not same[0] and "calls 1 and 2 on the same input dropped exactly the same entries" in same[1]
    complement = judge_fresh_masks((result(draws[0]), result(1 - draws[0]), result(draws[1])), (x, p), {}, None)
    assert not complement[0] and "disagree on 100% of the entries, independent ones on about 50%" in complement[1]
    alternating = judge_fresh_masks((result(draws[0]), result(draws[1]), result(draws[0])), (x, p), {}, None)
    assert not alternating[0] and "calls 1 and 3" in alternating[1]


def test_the_random_dropout_judge_wants_independent_draws_not_just_the_right_fraction():
    from course_lib.grading.assignments.a05_regularisation import judge_random_dropout

    x, p = np.random.default_rng(0).standard_normal((200, 100)), 0.3
    scale = 1 / (1 - p)

    def judged(dropped):
        mask = np.where(dropped, 0.0, scale)
        return judge_random_dropout((x * mask, mask), (x, p), {}, None)

    assert judged(np.random.default_rng(1).random(x.shape) < p) == (True, "correct")
    first_entries = np.arange(x.size).reshape(x.shape) < p * x.size     # exactly 30 %, the first rows
    first_columns = np.broadcast_to(np.arange(100) < 30, x.shape)       # exactly 30 %, a stripe
    # one row of 100 draws (seed chosen: 30 % dropped, 43 changes, as expected) repeated in every row
    whole_columns = np.broadcast_to(np.random.default_rng(10).random(100) < p, x.shape)
    for pattern, along in ((first_entries, "rows"), (first_columns, "rows"), (whole_columns, "columns")):
        passed, message = judged(pattern)
        assert not passed and "independent random draws" in message and along in message


def test_the_optimiser_hints_appear_only_for_the_mistake_they_name():
    """An audit found "ε goes outside the square root" under any wrong RMSprop step, here one that
    forgets (1 − α), where ε already was outside."""
    def rmsprop_without_one_minus_alpha(param, grad, square_avg, lr, alpha, eps):
        square_avg = alpha * square_avg + grad * grad
        return param - lr * grad / (np.sqrt(square_avg) + eps), square_avg

    def adam_moving_m_wrongly(param, grad, m, v, t, lr, beta1, beta2, eps):
        m, v = beta1 * m + grad, beta2 * v + (1 - beta2) * grad * grad
        return param - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps), m, v

    for question, function, wrong, hint in (("q2", "rmsprop_step", rmsprop_without_one_minus_alpha, "ε goes outside"),
                                            ("q3", "adam_step", adam_moving_m_wrongly, "bias corrections")):
        failures = _public_failures("a04", question, {**solution_functions("a04"), function: wrong})
        assert failures and not any(hint in message for _, message in failures), failures


def test_float64_answers_are_held_to_float64_precision():
    """A relative error of 1e-4 is float32 rounding, not float64's: an answer that far off fails
    every float64 check (a mutation audit loosened float64's rtol to 1e-3 and nothing failed)."""
    solution = solution_functions("a01")
    exact = solution["softmax"]

    def softmax_off_by_1e4(x, axis=-1):
        return exact(x, axis=axis) * (1 + 1e-4)

    failures = dict(_public_failures("a01", "q5", {**solution, "softmax": softmax_off_by_1e4}))
    float64 = [item.check.name for item in _prepare(assignments.get("a01"), seed=0)
               if item.question.id == "q5" and not item.check.hidden and item.args[0].dtype == np.float64]
    assert len(float64) >= 3 and all(name in failures for name in float64), (float64, failures)
    assert all("differs from the expected values" in failures[name] for name in float64)
