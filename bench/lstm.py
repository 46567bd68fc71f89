"""LSTM forward + backward through time: fused-gate NumPy BPTT against ``torch.nn.LSTM``.

Both sides compute the gradient of the input and of every parameter from an
upstream gradient on the output sequence (batch 32, 50 steps, 64 → 128 by default).

The row's note also gives the time of the scratch LSTM's matrix products alone
(``products_alone``): the same GEMMs, with the same shapes and memory layouts, and
nothing else.  PyTorch runs the LSTM as one fused oneDNN kernel per direction, with
the element-wise gate arithmetic inside it; NumPy makes a separate pass over memory for
every element-wise operation of every time step.  When the products alone take as long
as PyTorch's whole step, that is where the rest of the NumPy time goes.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from course_lib.interop import state_dict_from_torch
from course_lib.scratch.recurrent import LSTM

from .timing import ROUNDS, compare


def products_alone(batch: int, steps: int, features_in: int, hidden: int) -> Callable[[], None]:
    """A function that runs only the matrix products of one scratch LSTM forward + backward.

    They are those of ``course_lib.scratch.bptt`` (see ``lstm_forward`` and
    ``lstm_backward``), in its feature-major layout with K = hidden + features_in + 1:
    per step forward (4H × K) · (K × N) and backward (H × 4H) · (4H × N), then once
    ∂L/∂[W_hh | W_ih | b] = (4H × L·N) · (L·N × K) and ∂L/∂X = (L·N × 4H) · (4H × in).
    """
    rng = np.random.default_rng(0)
    H, N, L = hidden, batch, steps
    K = H + features_in + 1

    def matrix(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    weight, weight_hh_t, weight_ih = matrix(4 * H, K), matrix(H, 4 * H), matrix(4 * H, features_in)
    inputs, gates, grad_gates = matrix(L + 1, K, N), matrix(L, 4 * H, N), matrix(L, 4 * H, N)
    grad_h = matrix(H, N)
    grad_t, columns = matrix(4 * H, L * N), matrix(K, L * N)

    def run() -> None:
        for t in range(L):
            np.matmul(weight, inputs[t], out=gates[t])
        for t in reversed(range(L)):
            np.matmul(weight_hh_t, grad_gates[t], out=grad_h)
        np.matmul(grad_t, columns.T)
        np.matmul(grad_t.T, weight_ih)

    return run


def run(quick: bool, rounds: int = ROUNDS):
    """The LSTM row; ``rounds`` as in ``compare`` (the book's chapter on sequence models uses fewer)."""
    batch, steps, features_in, hidden = (8, 10, 16, 32) if quick else (32, 50, 64, 128)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((steps, batch, features_in)).astype(np.float32)
    grad = rng.standard_normal((steps, batch, hidden)).astype(np.float32)

    torch_lstm = torch.nn.LSTM(features_in, hidden)
    lstm = LSTM(features_in, hidden)
    lstm.load_state_dict(state_dict_from_torch(torch_lstm.state_dict()))
    x_torch = torch.from_numpy(x).requires_grad_()
    grad_torch = torch.from_numpy(grad)

    def numpy_step():
        lstm(x)
        lstm.backward(grad)

    def torch_step():
        output, _ = torch_lstm(x_torch)
        output.backward(grad_torch)

    name = f"LSTM {features_in}→{hidden} fwd+bwd, batch {batch}, {steps} steps"
    row = compare(name, numpy_step, torch_step, rounds=rounds, target=1.5)
    # the same rounds and pauses as the row itself, against the same PyTorch step
    products = compare("products", products_alone(batch, steps, features_in, hidden), torch_step, rounds=rounds).numpy_s
    row.extra["products_s"] = products
    row.note = (f"the scratch LSTM's {2 * steps + 2} matrix products alone: {products * 1e3:.2f} ms "
                f"({products / row.torch_s:.2f}× PyTorch's whole fused step)")
    return [row]
