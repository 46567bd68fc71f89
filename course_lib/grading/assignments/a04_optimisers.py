"""Assignment 4 — Optimisers (Chapter "Optimisation").

One update step of SGD with momentum, RMSprop and Adam, exactly as ``torch.optim``
(references: ``course_lib.scratch.optim``'s ``sgd_update``, ``rmsprop_update``,
``adam_update``), and a step-decayed learning rate (``lr_scheduler.StepLR``).
"""
from __future__ import annotations

import numpy as np

from course_lib.scratch import optim as ref
from course_lib.scratch.lr_scheduler import StepLR
from course_lib.scratch.module import Parameter

from ..spec import Assignment, Hint, Question, compare, matches
from ._util import args, checks, randn


def sgd_momentum_step(param, grad, velocity, lr, momentum):
    param, velocity = param.copy(), velocity.copy()
    ref.sgd_update(param, grad, {"momentum_buffer": velocity}, lr=lr, momentum=momentum)
    return param, velocity


def rmsprop_step(param, grad, square_avg, lr, alpha, eps):
    param, square_avg = param.copy(), square_avg.copy()
    ref.rmsprop_update(param, grad, {"step": 0, "square_avg": square_avg}, lr=lr, alpha=alpha, eps=eps)
    return param, square_avg


def adam_step(param, grad, m, v, t, lr, beta1, beta2, eps):
    param, m, v = param.copy(), m.copy(), v.copy()
    ref.adam_update(param, grad, {"step": t - 1, "exp_avg": m, "exp_avg_sq": v}, lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    return param, m, v


def _at_a_boundary(rng):
    """An epoch that is a multiple of the step size: the rate has just been decayed."""
    step_size = int(rng.integers(2, 8))
    return args(float(rng.uniform(0.01, 1)), step_size * int(rng.integers(1, 6)), step_size, float(rng.uniform(0.1, 0.9)))


def _schedule_twin(epoch_of):
    """A twin (``Check.twin``) for a fixed step-decay case: another initial rate, step size s (3–14)
    and γ, at the epoch ``epoch_of(s, rng)`` names where the case's own (25, 9 or 20 for s = 10) was —
    inside an interval after some decays, just before the first decay, at a decay.  The number of
    decays is drawn too (2–4): with two always, lr·γ² answered both (an audit)."""
    def twin(rng):
        step_size = int(rng.integers(3, 15))
        return args(float(rng.uniform(0.01, 1)), epoch_of(step_size, rng), step_size, float(rng.uniform(0.2, 0.8)))

    return twin


def step_decay_lr(initial_lr, epoch, step_size, gamma):
    optimizer = ref.SGD([Parameter(np.zeros(1))], lr=initial_lr)
    scheduler = StepLR(optimizer, step_size=step_size, gamma=gamma)
    for _ in range(epoch):
        optimizer.step()
        scheduler.step()
    return float(optimizer.param_groups[0]["lr"])


def _state(rng, shape, positive=False, dtype=np.float64):
    value = randn(rng, *shape, dtype=dtype)
    return np.abs(value) if positive else value


def _sgd(rng, shape=(3, 4), dtype=np.float64):
    return args(_state(rng, shape, dtype=dtype), _state(rng, shape, dtype=dtype), _state(rng, shape, dtype=dtype),
                float(rng.uniform(0.01, 0.5)), float(rng.uniform(0.5, 0.99)))


def _rms(rng, shape=(5,), fresh=False, eps=1e-8):
    """``fresh``: square_avg = 0 and gradients of about 1e-8, where √v is as small as ε."""
    grad = _state(rng, shape) * (1e-8 if fresh else 1.0)
    square_avg = np.zeros(shape) if fresh else _state(rng, shape, positive=True)
    return args(_state(rng, shape), grad, square_avg, float(rng.uniform(0.001, 0.1)), float(rng.uniform(0.9, 0.999)), eps)


def _adam(rng, shape=(2, 3), t=None, fresh=False, betas=(0.9, 0.999), eps=1e-8):
    """``fresh``: the first step from m = v = 0 with gradients of about 1e-8, where √v̂ is as small as ε."""
    param, grad = _state(rng, shape), _state(rng, shape) * (1e-8 if fresh else 1.0)
    m = np.zeros(shape) if fresh else _state(rng, shape)
    v = np.zeros(shape) if fresh else _state(rng, shape, positive=True)
    step = 1 if fresh else int(t or rng.integers(1, 50))
    return args(param, grad, m, v, step, float(rng.uniform(1e-4, 1e-2)), *betas, eps)


def _moments_right_update_wrong(got, expected) -> bool:
    """The returned averages are right and the parameter is not: the error is in the update itself."""
    return (isinstance(got, (tuple, list)) and len(got) == len(expected)
            and compare(got[1:], expected[1:], rtol=1e-5, atol=0.0)[0]  # relative only: gradients of 1e-8
            and not matches(got[0], expected[0]))


def _eps_inside_rmsprop(param, grad, square_avg, lr, alpha, eps):
    """The parameter as the usual slip computes it: θ − η g / √(v + ε)."""
    square_avg = alpha * square_avg + (1 - alpha) * grad * grad
    return param - lr * grad / np.sqrt(square_avg + eps)


# hints only where the answer shows the mistake they name (an audit found the ε hint under every wrong answer)
BIAS = Hint(lambda got, expected, a: _moments_right_update_wrong(got, expected),
            "m and v are right, the step is not: check the bias corrections m̂ = m / (1 − β₁ᵗ), "
            "v̂ = v / (1 − β₂ᵗ), and that ε is added after the square root")
EPS = Hint(lambda got, expected, a: (_moments_right_update_wrong(got, expected)
                                     and matches(got[0], _eps_inside_rmsprop(*a))),
           "ε goes outside the square root: θ − η g / (√v + ε)")
OFF_BY_ONE = Hint(lambda got, expected, a: isinstance(got, float) and np.isclose(got * a[3], expected),
                  "the rate is multiplied by γ once every step_size epochs: γ^(epoch // step_size)")

# gradients of 1e-8 make states of 1e-19 to 1e-9, below the default absolute tolerance: there an
# unchanged (or zero) state passed; relative comparison only (a red-team audit)
TINY = {"atol": 0.0}
# the optimiser's state is what a step most naturally updates in place
STATE_ADVICE = ("return new arrays instead: `v = momentum * v + grad` makes a new array, while `v *= momentum` "
                "or `v[...] = …` changes the caller's")

ASSIGNMENT = Assignment(
    id="a04",
    title="Optimisers",
    chapter="Optimisation",
    notebook="a04_optimisers.ipynb",
    questions=[
        Question("q1", "SGD with momentum", 2, ["sgd_momentum_step"], checks("sgd_momentum_step", sgd_momentum_step, [
            ("one step on a (3, 4) parameter", lambda r: _sgd(r), False),
            ("float32 inputs: the output stays float32", lambda r: _sgd(r, (2, 3), np.float32), False, np.float32),
            ("hidden", lambda r: _sgd(r, (7,)), True),
            ("hidden", lambda r: _sgd(r, (2, 2, 3), np.float32), True, np.float32),
        ], result_names=("new_param", "new_velocity")), in_place_advice=STATE_ADVICE),
        Question("q2", "RMSprop", 2, ["rmsprop_step"], checks("rmsprop_step", rmsprop_step, [
            ("one step on a (5,) parameter", lambda r: _rms(r), False),
            ("a fresh state (square_avg = 0) and gradients of 1e-8, where ε counts", lambda r: _rms(r, fresh=True), False,
             np.float64, TINY),
            ("ε = 0.1: use the ε you are given", lambda r: _rms(r, eps=0.1), False),
            ("hidden", lambda r: _rms(r, (3, 3)), True),
            ("hidden", lambda r: _rms(r, (2, 4), fresh=True), True, np.float64, TINY),
            ("hidden", lambda r: _rms(r, (3, 2), eps=float(r.uniform(0.01, 0.5))), True),
        ], hints=[EPS], result_names=("new_param", "new_square_avg"), float32=True), in_place_advice=STATE_ADVICE),
        Question("q3", "Adam", 3, ["adam_step"], checks("adam_step", adam_step, [
            ("the first step (t = 1)", lambda r: _adam(r, t=1), False),
            ("step t = 10", lambda r: _adam(r, t=10), False),
            ("the first step from m = v = 0 with gradients of 1e-8, where ε counts", lambda r: _adam(r, fresh=True), False,
             np.float64, TINY),
            ("β₁ = 0.8, β₂ = 0.99, ε = 0.01: use the values you are given", lambda r: _adam(r, t=3, betas=(0.8, 0.99), eps=0.01), False),
            ("hidden", lambda r: _adam(r, (4, 2)), True),
            ("hidden", lambda r: _adam(r, (3,), fresh=True), True, np.float64, TINY),
            ("hidden", lambda r: _adam(r, (6,), t=1000), True),
            ("hidden", lambda r: _adam(r, (2, 2), t=7, betas=(float(r.uniform(0.5, 0.85)), float(r.uniform(0.9, 0.99))),
                                       eps=float(r.uniform(1e-3, 0.1))), True),
        ], hints=[BIAS], result_names=("new_param", "new_m", "new_v"), float32=True), in_place_advice=STATE_ADVICE),
        Question("q4", "A step-decayed learning rate", 1, ["step_decay_lr"], checks("step_decay_lr", step_decay_lr, [
            ("epoch 25 of lr 0.1, halved every 10 epochs", lambda r: args(0.1, 25, 10, 0.5), False, np.float64,
             {"twin": _schedule_twin(lambda s, r: int(r.integers(2, 5)) * s + int(r.integers(1, s)))}),
            ("epoch 9 of the same: still the first 10 epochs", lambda r: args(0.1, 9, 10, 0.5), False, np.float64,
             {"twin": _schedule_twin(lambda s, r: s - 1)}),
            ("epoch 20 of the same: the second halving happens at epoch 20", lambda r: args(0.1, 20, 10, 0.5), False,
             np.float64, {"twin": _schedule_twin(lambda s, r: int(r.integers(2, 5)) * s)}),
            ("hidden", lambda r: args(float(r.uniform(0.01, 1)), int(r.integers(0, 40)), int(r.integers(2, 8)), float(r.uniform(0.1, 0.9))), True),
            ("hidden", lambda r: _at_a_boundary(r), True),
        ], hints=[OFF_BY_ONE], atol=0.0)),  # relative only: γ^k falls below any absolute tolerance
    ],
)
