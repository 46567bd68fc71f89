"""Assignment 3 — Backpropagation for a two-layer MLP (Chapter "Backpropagation").

The network is Linear(D→H) → ReLU → Linear(H→C) with mean cross-entropy, weights in
torch's layout (W1: (H, D), b1: (H,), W2: (C, H), b2: (C,)).  References are
``course_lib.scratch``'s Linear, ReLU, CrossEntropyLoss and ``numerical_gradient``.
The training question is judged on held-out spirals the student never sees.
"""
from __future__ import annotations

import numpy as np

from course_lib.data import make_spirals
from course_lib.scratch import Linear
from course_lib.scratch.activations import ReLU
from course_lib.scratch.gradcheck import numerical_gradient
from course_lib.scratch.losses import CrossEntropyLoss

from ..spec import Assignment, Check, Hint, Question, compare, has_nonfinite
from ._util import args, checks, randn

TARGET_ACCURACY = 0.9


def _layers(W1, b1, W2, b2):
    first = Linear(W1.shape[1], W1.shape[0], dtype=W1.dtype)
    second = Linear(W2.shape[1], W2.shape[0], dtype=W2.dtype)
    first.load_state_dict({"weight": W1.copy(), "bias": b1.copy()})
    second.load_state_dict({"weight": W2.copy(), "bias": b2.copy()})
    return first, ReLU(), second


def mlp_forward(x, W1, b1, W2, b2):
    first, relu, second = _layers(W1, b1, W2, b2)
    return second(relu(first(x)))


def mlp_loss_and_grads(x, y, W1, b1, W2, b2):
    first, relu, second = _layers(W1, b1, W2, b2)
    loss_fn = CrossEntropyLoss()
    loss = loss_fn(second(relu(first(x))), y)
    first.backward(relu.backward(second.backward(loss_fn.backward())))
    return (np.float64(loss), first.weight.grad, first.bias.grad, second.weight.grad, second.bias.grad)


def numerical_grad_W2(x, y, W1, b1, W2, b2, eps=1e-6):
    W2 = W2.copy()
    return numerical_gradient(lambda: float(CrossEntropyLoss()(mlp_forward(x, W1, b1, W2, b2), y)), W2, eps)


def _network(rng, n=6, d=4, h=5, c=3, dtype=np.float64):
    x = randn(rng, n, d, dtype=dtype)
    y = rng.integers(0, c, size=n).astype(np.int64)
    return x, y, randn(rng, h, d, dtype=dtype, scale=0.5), randn(rng, h, dtype=dtype, scale=0.1), \
        randn(rng, c, h, dtype=dtype, scale=0.5), randn(rng, c, dtype=dtype, scale=0.1)


def _large_logits(rng, **sizes):
    """Output biases of ±1000: the softmax inside the loss overflows unless it subtracts the maximum."""
    x, y, W1, b1, W2, b2 = _network(rng, **sizes)
    return args(x, y, W1, b1, W2, b2 + np.array([1000.0, 0.0, -1000.0], dtype=b2.dtype))


def _one_loud_sample(rng, **sizes):
    """One sample's input 3000 times larger: its logits are in the thousands, the others' near 1, so
    subtracting the batch's maximum instead of each row's leaves the others at e^(−1000) = 0."""
    x, y, *weights = _network(rng, **sizes)
    x[0] *= 3000.0
    return args(x, y, *weights)


def _zero_preactivation(rng, **sizes):
    """The first sample is zero and the first hidden unit has no bias: its pre-activation is exactly 0,
    where ReLU's derivative is 0 (as in PyTorch and Assignment 1)."""
    x, y, W1, b1, W2, b2 = _network(rng, **sizes)
    x[0] = 0.0
    b1[0] = 0.0
    return args(x, y, W1, b1, W2, b2)


def _forward_args(rng, **sizes):
    x, _, *weights = _network(rng, **sizes)
    return args(x, *weights)


def _spirals(rng):
    # two independent 63-bit seeds: the held-out set cannot be regenerated from the training set (a
    # red-team run recovered a 31-bit seed, and so seed + 1, from three training points in seconds)
    seed, held_out_seed = (int(s) for s in rng.integers(0, 2**63, size=2))
    x_train, y_train = make_spirals(n_per_class=100, n_classes=3, noise=0.2, seed=seed)
    x_test, y_test = make_spirals(n_per_class=100, n_classes=3, noise=0.2, seed=held_out_seed)
    training = args(x_train.astype(np.float64), y_train, hidden=64, epochs=2000, lr=1.0, seed=seed % 1000)
    return (*training, (x_test.astype(np.float64), y_test))


def judge_training(value, call_args, call_kwargs, secret):
    x_test, y_test = secret
    hidden, classes, features = call_kwargs["hidden"], 3, call_args[0].shape[1]
    shapes = ((hidden, features), (hidden,), (classes, hidden), (classes,))
    if not (isinstance(value, tuple) and len(value) == 4):
        return False, "train_mlp should return the tuple (W1, b1, W2, b2)"
    for name, array, shape in zip(("W1", "b1", "W2", "b2"), value, shapes):
        ok, message = compare(array, np.zeros(shape), path=name, values=False)
        if not ok:
            return False, message
        if not np.all(np.isfinite(array)):
            return False, f"{name} contains nan or inf: the learning rate may be too large"
    predictions = np.argmax(mlp_forward(x_test, *value), axis=1)
    accuracy = float(np.mean(predictions == y_test))
    if accuracy < TARGET_ACCURACY:
        return False, (f"the trained network classifies {accuracy:.1%} of held-out spiral points correctly; "
                       f"the target is {TARGET_ACCURACY:.0%} (train longer, or check your gradients with q3)")
    return True, f"held-out accuracy {accuracy:.1%}"


OVERFLOW = Hint(lambda got, expected, a: has_nonfinite(got),
                "exp(logits) overflows for large logits (or underflows to 0/0 when shifted by one maximum for the "
                "whole batch): compute the softmax as exp(z − max z) / Σ exp(z − max z) and the log-probabilities "
                "as z − max z − log Σ exp(z − max z), the maximum taken over each row")
MEAN = Hint(lambda got, expected, a: isinstance(got, tuple) and len(got) == 5 and isinstance(got[1], np.ndarray)
            and got[1].shape == expected[1].shape and np.allclose(got[1], expected[1] * len(a[0])),
            "the loss is the mean over the batch, so the gradients are divided by the batch size")

ASSIGNMENT = Assignment(
    id="a03",
    title="Backpropagation for a two-layer network",
    chapter="Backpropagation",
    notebook="a03_backprop.ipynb",
    call_timeout_s=60.0,
    question_timeout_s=150.0,
    questions=[
        Question("q1", "Forward pass", 2, ["mlp_forward"], checks("mlp_forward", mlp_forward, [
            ("6 samples, 4 → 5 → 3", lambda r: _forward_args(r), False),
            ("float32 inputs: the output stays float32", lambda r: _forward_args(r, n=3, d=4, h=2, c=3, dtype=np.float32), False, np.float32),
            ("hidden", lambda r: _forward_args(r, n=9, d=3, h=7, c=4), True),
            ("hidden", lambda r: _forward_args(r, n=4, d=5, h=3, c=2, dtype=np.float32), True, np.float32),
        ])),
        Question("q2", "Backward pass", 4, ["mlp_loss_and_grads"], checks("mlp_loss_and_grads", mlp_loss_and_grads, [
            ("6 samples, 4 → 5 → 3", lambda r: args(*_network(r)), False),
            ("logits of ±1000: the softmax must not overflow", lambda r: _large_logits(r), False),
            ("one sample with logits in the thousands: the maximum of each row", lambda r: _one_loud_sample(r), False),
            ("a pre-activation of exactly 0: ReLU's derivative there is 0", lambda r: _zero_preactivation(r), False),
            ("hidden", lambda r: args(*_network(r, n=10, d=3, h=8, c=4)), True),
            ("hidden", lambda r: args(*_network(r, n=3, d=6, h=4, c=5)), True),
            ("hidden", lambda r: _large_logits(r, n=7, d=2, h=6, c=3), True),
        ], hints=[OVERFLOW, MEAN], result_names=("loss", "dW1", "db1", "dW2", "db2"), float32=True)),
        Question("q3", "Gradient check", 2, ["numerical_grad_W2"], checks("numerical_grad_W2", numerical_grad_W2, [
            ("6 samples, 4 → 5 → 3", lambda r: args(*_network(r)), False),
            ("a large ε = 0.5: the estimate must use ε (it then differs from the exact gradient)",
             lambda r: args(*_network(r), eps=0.5), False),
            ("hidden", lambda r: args(*_network(r, n=5, d=3, h=4, c=2), eps=1e-5), True),
            ("hidden", lambda r: args(*_network(r, n=4, d=3, h=6, c=3), eps=0.3), True),
        ], atol=1e-6, rtol=1e-4),
                 in_place_advice=("to perturb an entry and restore it, save its value and assign it back: adding and "
                                     "then subtracting ε can leave a rounding error behind")),
        Question("q4", "Training on spirals", 2, ["train_mlp"], [
            Check("train_mlp: 300 spiral points, judged on 300 held-out points", "train_mlp", _spirals, None,
                  hidden=False, judge=judge_training, timeout_s=90.0),
            Check("train_mlp: hidden test 1", "train_mlp", _spirals, None,
                  hidden=True, judge=judge_training, timeout_s=90.0),
        ]),
    ],
)
