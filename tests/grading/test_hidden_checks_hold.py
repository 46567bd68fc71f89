"""Wrong answers that earned hidden checks before a red-team audit (2026-12-06, second round): the
grader's inputs or tolerances let an answer that does not compute what the question asks match the
expected values.  Each wrong answer must now fail the hidden checks it passed, for every one of
many seeds (the hidden inputs are drawn from the submission's seed), while the solution passes.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from course_lib.data import make_spirals
from course_lib.grading import assignments
from course_lib.grading.runner import _copy, _prepare, judge_value

from .helpers import solution_functions

SEEDS = range(20)
MORE_SEEDS = {"relu_derivative": range(300)}  # its all-negative draw came once in 64 seeds

# (assignment, question, function, the wrong answer's code, what it gets wrong)
WRONG = [
    ("a04", "q2", "rmsprop_step", '''
def rmsprop_step(param, grad, square_avg, lr, alpha, eps):
    new = alpha * square_avg + (1 - alpha) * grad * grad
    return param - lr * grad / (np.sqrt(new) + eps), square_avg.copy()
''', "the state it was given back: with gradients of 1e-8 the new state is below the absolute tolerance"),
    ("a04", "q3", "adam_step", '''
def adam_step(param, grad, m, v, t, lr, beta1, beta2, eps):
    m_new = beta1 * m + (1 - beta1) * grad
    v_new = beta2 * v + (1 - beta2) * grad * grad
    step = lr * (m_new / (1 - beta1 ** t)) / (np.sqrt(v_new / (1 - beta2 ** t)) + eps)
    return param - step, m.copy(), v.copy()
''', "the moments it was given back"),
    ("a04", "q4", "step_decay_lr", '''
def step_decay_lr(initial_lr, epoch, step_size, gamma):
    return 0.0
''', "a rate of 0: γ^k below the absolute tolerance"),
    ("a01", "q2", "sigmoid", '''
def sigmoid(x):
    return np.heaviside(x, 0.5).astype(x.dtype)
''', "a step function: the hidden inputs were all far out on the tails"),
    ("a01", "q2", "sigmoid_derivative", '''
def sigmoid_derivative(x):
    return np.where(x == 0, 0.25, 0.0).astype(x.dtype)
''', "0 but at 0: the moderate inputs were at |x| of 20–80"),
    ("a01", "q3", "relu_derivative", '''
def relu_derivative(x):
    return np.zeros_like(x)
''', "all zeros: an all-negative draw"),
    ("a02", "q2", "bce_with_logits", '''
def bce_with_logits(logits, targets):
    return float(np.mean(np.maximum(logits, 0) - logits * targets))
''', "no log term: every logit was in the hundreds"),
    ("a02", "q2", "bce_with_logits_grad", '''
def bce_with_logits_grad(logits, targets):
    return ((logits > 0).astype(logits.dtype) - targets) / logits.size
''', "a step instead of σ"),
    ("a02", "q3", "cross_entropy", '''
def cross_entropy(logits, labels):
    return float(np.mean(logits.max(axis=1) - logits[np.arange(len(labels)), labels]))
''', "a hard maximum instead of log-sum-exp"),
    ("a02", "q3", "cross_entropy_grad", '''
def cross_entropy_grad(logits, labels):
    n = len(labels)
    grad = np.zeros_like(logits)
    grad[np.arange(n), logits.argmax(axis=1)] += 1
    grad[np.arange(n), labels] -= 1
    return grad / n
''', "a one-hot softmax"),
    ("a03", "q2", "mlp_loss_and_grads", '''
def mlp_loss_and_grads(x, y, W1, b1, W2, b2):
    pre = x @ W1.T + b1
    hidden = np.maximum(pre, 0)
    logits = hidden @ W2.T + b2
    n = len(y)
    loss = float(np.mean(logits.max(axis=1) - logits[np.arange(n), y]))
    grad_logits = np.zeros_like(logits)
    grad_logits[np.arange(n), logits.argmax(axis=1)] += 1
    grad_logits[np.arange(n), y] -= 1
    grad_logits /= n
    grad_pre = (grad_logits @ W2) * (pre > 0)
    return loss, grad_pre.T @ x, grad_pre.sum(axis=0), grad_logits.T @ hidden, grad_logits.sum(axis=0)
''', "a hard maximum: the large-logits input had one class 1000 above the rest"),
    ("a03", "q3", "numerical_grad_W2", '''
def numerical_grad_W2(x, y, W1, b1, W2, b2, eps=1e-6):
    return mlp_loss_and_grads(x, y, W1, b1, W2, b2)[3]
''', "the exact gradient, no finite differences: at ε = 1e-5 the two agree within the tolerance"),
    ("a08", "q1", "attention", '''
def attention(query, key, value, mask):
    scores = query @ np.swapaxes(key, -1, -2)
    if mask is not None:
        scores = np.where(mask, -np.inf, scores)
    weights = (scores == scores.max(axis=-1, keepdims=True)).astype(query.dtype)
    return weights @ value, weights
''', "hard attention: with independent keys the scores of 800-sized queries are far apart"),
    ("a05", "q3", "dropout", '''
_generator = np.random.default_rng(0)


def dropout(x, p):
    mask = ((_generator.random(x.shape) < p) / (1 - p)).astype(x.dtype)
    return x * mask, mask
''', "keeps with probability p: at p = 0.5 it cannot be told from the right rule"),
]


def _with(assignment_id: str, source: str) -> dict:
    namespace = {**solution_functions(assignment_id), "np": np, "math": math}
    exec(source, namespace)  # noqa: S102 - test code written here
    return namespace


def _results(assignment_id, question, function, functions, seeds=SEEDS, hidden_only=True):
    """(check name, passed) of every check of ``function`` over ``seeds``."""
    outcomes = []
    for seed in seeds:
        for item in _prepare(assignments.get(assignment_id), seed=seed, questions=[question]):
            if item.check.function != function or (hidden_only and not item.check.hidden):
                continue
            values = []
            for _ in range(item.check.calls):
                args, kwargs = _copy(item.args), _copy(item.kwargs)
                with np.errstate(all="ignore"):
                    values.append(functions[function](*args, **kwargs))
            value = values[0] if item.check.calls == 1 else tuple(values)
            outcomes.append((item.check.name, judge_value(item, value)[0]))
    return outcomes


@pytest.mark.parametrize("assignment_id, question, function, source, mistake", WRONG,
                         ids=[f"{w[0]}-{w[2]}" for w in WRONG])
def test_a_wrong_answer_passes_no_hidden_check(assignment_id, question, function, source, mistake):
    passed = [name for name, ok in _results(assignment_id, question, function, _with(assignment_id, source),
                                            seeds=MORE_SEEDS.get(function, SEEDS)) if ok]
    assert passed == [], f"{function} ({mistake}) passed {passed}"
    # the solution passes them all (the new inputs are still ones the text's method solves)
    assert all(ok for _, ok in _results(assignment_id, question, function, solution_functions(assignment_id),
                                        seeds=range(3)))


def test_weights_trained_elsewhere_fail_the_held_out_spirals():
    """a03 q4: a train_mlp that returns weights trained once on spirals of its own, ignoring x and y,
    classified held-out spirals at 98 % before they were turned and relabelled."""
    solution = solution_functions("a03")
    x, y = make_spirals(n_per_class=100, n_classes=3, noise=0.2, seed=12345)
    offline = solution["train_mlp"](x.astype(np.float64), y, hidden=64, epochs=2000, lr=1.0, seed=0)
    outcomes = _results("a03", "q4", "train_mlp", {"train_mlp": lambda *a, **k: tuple(w.copy() for w in offline)},
                        seeds=range(5), hidden_only=False)
    held_out = [ok for name, ok in outcomes if "held-out" in name or name.endswith("hidden test 1")]
    assert held_out and not any(held_out), outcomes


def test_an_answer_right_for_one_kind_of_split_scores_the_same_on_every_seed():
    # a determinism audit (2026-12-06): k_fold_indices that gives the extra samples to the *last*
    # folds passed the first hidden check whenever its random n happened to be a multiple of k, so
    # two copies of the notebook could score differently.  Each hidden check now draws one kind only.
    last_folds = _with("a09", '''
def k_fold_indices(n_samples, k):
    sizes = np.full(k, n_samples // k)
    sizes[k - n_samples % k:] += 1 if n_samples % k else 0
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    indices = np.arange(n_samples)
    return [(np.concatenate([indices[:start], indices[stop:]]), indices[start:stop])
            for start, stop in zip(bounds[:-1], bounds[1:])]
''')
    outcomes = _results("a09", "q3", "k_fold_indices", last_folds, seeds=range(40))
    by_check = {}
    for name, ok in outcomes:
        by_check.setdefault(name, set()).add(ok)
    assert by_check == {"k_fold_indices: hidden test 1": {True}, "k_fold_indices: hidden test 2": {False}}, by_check
