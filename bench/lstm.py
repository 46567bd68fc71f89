"""LSTM forward + backward through time: fused-gate NumPy BPTT against ``torch.nn.LSTM``.

Both sides compute the gradient of the input and of every parameter from an
upstream gradient on the output sequence (batch 32, 50 steps, 64 → 128 by default).
"""
from __future__ import annotations

import numpy as np
import torch

from course_lib.interop import state_dict_from_torch
from course_lib.scratch.recurrent import LSTM

from .timing import compare


def run(quick: bool):
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
    return [compare(name, numpy_step, torch_step, target=1.5)]
