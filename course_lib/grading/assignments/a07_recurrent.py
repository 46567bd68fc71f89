"""Assignment 7 — Recurrent networks (Chapter "Recurrent networks").

An RNN step, an LSTM cell forward and backward, and backpropagation through time,
graded against ``course_lib.scratch.bptt`` (torch's gate order i, f, g, o).
"""
from __future__ import annotations

import itertools

import numpy as np

from course_lib.scratch import bptt as ref

from ..spec import Assignment, Hint, Question, matches
from ._util import args, checks, randn


def rnn_step(x, h, W_ih, W_hh, b_ih, b_hh):
    return ref.rnn_forward(x[None], h, W_ih, W_hh, b_ih, b_hh)[1]


def lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh):
    _, h_new, c_new, _ = ref.lstm_forward(x[None], h, c, W_ih, W_hh, b_ih, b_hh)
    return h_new, c_new


def lstm_cell_backward(grad_h_new, grad_c_new, x, h, c, W_ih, W_hh, b_ih, b_hh):
    *_, cache = ref.lstm_forward(x[None], h, c, W_ih, W_hh, b_ih, b_hh)
    grad_x, grad_h0, grad_c0, grads = ref.lstm_backward(None, grad_h_new, grad_c_new, cache)
    return grad_x[0], grad_h0, grad_c0, grads["weight_ih"], grads["weight_hh"], grads["bias_ih"]


def rnn_bptt(x, h0, W_ih, W_hh, b_ih, b_hh, grad_output):
    output, _, cache = ref.rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh)
    grad_x, grad_h0, grads = ref.rnn_backward(grad_output, None, cache)
    return grad_x, grad_h0, grads["weight_ih"], grads["weight_hh"], grads["bias_ih"]


def _weights(rng, d, h, gates=1, dtype=np.float64):
    return (randn(rng, gates * h, d, dtype=dtype, scale=0.5), randn(rng, gates * h, h, dtype=dtype, scale=0.5),
            randn(rng, gates * h, dtype=dtype, scale=0.1), randn(rng, gates * h, dtype=dtype, scale=0.1))


def _rnn(rng, n=3, d=4, h=5, dtype=np.float64):
    return args(randn(rng, n, d, dtype=dtype), randn(rng, n, h, dtype=dtype), *_weights(rng, d, h, dtype=dtype))


def _lstm(rng, n=2, d=3, h=4, backward=False):
    state = (randn(rng, n, d), randn(rng, n, h), randn(rng, n, h), *_weights(rng, d, h, gates=4))
    if backward:
        return args(randn(rng, n, h), randn(rng, n, h), *state)
    return args(*state)


def _bptt(rng, length=4, n=2, d=3, h=4):
    return args(randn(rng, length, n, d), randn(rng, n, h), *_weights(rng, d, h), randn(rng, length, n, h))


def _gates_reordered(got, args) -> bool:
    """True if ``got`` is the LSTM cell's output with the four gate blocks read in another order."""
    x, h, c, W_ih, W_hh, b_ih, b_hh = args
    blocks = lambda w: np.split(w, 4)  # noqa: E731 - rows i, f, g, o
    for order in itertools.permutations(range(4)):
        if order != (0, 1, 2, 3):
            reorder = lambda w: np.concatenate([blocks(w)[k] for k in order])  # noqa: E731
            if matches(got, lstm_cell(x, h, c, reorder(W_ih), reorder(W_hh), reorder(b_ih), reorder(b_hh))):
                return True
    return False


GATES = Hint(lambda got, expected, a: _gates_reordered(got, a),
             "the fused pre-activation is split in PyTorch's order: input, forget, cell (g), output")
DIRECT_C = Hint(lambda got, expected, a: matches(got, lstm_cell_backward(a[0], np.zeros_like(a[1]), *a[2:])),
                "the gradient reaching c′ has two parts: the grad_c_new you are given, and the part through "
                "h′ = o ⊙ tanh(c′)")
BACKWARD_CHECKLIST = Hint(lambda got, expected, a: True,
                          "things to check: the gate order (input, forget, cell g, output); the gradient reaching "
                          "c′ (grad_c_new plus the part through h′ = o ⊙ tanh(c′)); ∂L/∂c, the third result, is that "
                          "whole gradient at c′ times f; the derivatives σ′ = σ(1 − σ) and tanh′ = 1 − tanh²")
PREVIOUS_STATE = Hint(lambda got, expected, a: len(got) == 5 and matches(got[:3], expected[:3])
                      and matches(got[4], expected[4]) and not matches(got[3], expected[3]),
                      "∂L/∂W_hh pairs each step's δa_t with the state that step read, h_{t−1} (h0 at the first "
                      "step), not with its own output h_t")
FUTURE = Hint(lambda got, expected, a: True,
              "things to check: the gradient reaching h_t is the output gradient at t plus the gradient flowing "
              "back from step t + 1; δa_t = δh_t ⊙ (1 − h_t²) uses h_t, the state after the step")

ASSIGNMENT = Assignment(
    id="a07",
    title="Recurrent networks",
    chapter="Recurrent networks",
    notebook="a07_recurrent.ipynb",
    questions=[
        Question("q1", "One RNN step", 2, ["rnn_step"], checks("rnn_step", rnn_step, [
            ("batch 3, 4 inputs, 5 hidden units", lambda r: _rnn(r), False),
            ("float32 inputs: the output stays float32", lambda r: _rnn(r, n=2, d=3, h=4, dtype=np.float32), False, np.float32),
            ("hidden", lambda r: _rnn(r, n=1, d=2, h=6), True),
            ("hidden", lambda r: _rnn(r, n=4, d=3, h=3, dtype=np.float32), True, np.float32),
        ])),
        Question("q2", "LSTM cell, forward", 3, ["lstm_cell"], checks("lstm_cell", lstm_cell, [
            ("batch 2, 3 inputs, 4 hidden units", lambda r: _lstm(r), False),
            ("hidden", lambda r: _lstm(r, n=3, d=5, h=2), True),
        ], hints=[GATES], result_names=("h_new", "c_new"), float32=True)),
        Question("q3", "LSTM cell, backward", 3, ["lstm_cell_backward"], checks("lstm_cell_backward", lstm_cell_backward, [
            ("batch 2, 3 inputs, 4 hidden units", lambda r: _lstm(r, backward=True), False),
            ("hidden", lambda r: _lstm(r, n=3, d=2, h=3, backward=True), True),
        ], hints=[DIRECT_C, BACKWARD_CHECKLIST],
           result_names=("grad_x", "grad_h", "grad_c", "grad_W_ih", "grad_W_hh", "grad_b"), float32=True)),
        Question("q4", "Backpropagation through time", 3, ["rnn_bptt"], checks("rnn_bptt", rnn_bptt, [
            ("4 steps, batch 2", lambda r: _bptt(r), False),
            ("12 steps: the gradient flows back to the first step", lambda r: _bptt(r, length=12), False),
            ("hidden", lambda r: _bptt(r, length=7, n=3, d=2, h=5), True),
            ("hidden", lambda r: _bptt(r, length=int(r.integers(15, 25)), n=2, d=3, h=4), True),
        ], hints=[PREVIOUS_STATE, FUTURE],
           result_names=("grad_x", "grad_h0", "grad_W_ih", "grad_W_hh", "grad_b"), float32=True)),
    ],
)
