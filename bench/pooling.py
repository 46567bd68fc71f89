"""MaxPool2d 2×2 forward + backward on the outputs of the two convolutions in bench/conv.py."""
from __future__ import annotations

import numpy as np
import torch

from course_lib.scratch.pooling import MaxPool2d

from .timing import compare, peak_python_memory


def _case(shape, rng):
    layer, torch_layer = MaxPool2d(2), torch.nn.MaxPool2d(2)
    x = rng.standard_normal(shape).astype(np.float32)
    out_shape = shape[:2] + (shape[2] // 2, shape[3] // 2)
    grad = rng.standard_normal(out_shape).astype(np.float32)
    x_torch = torch.from_numpy(x).requires_grad_()
    grad_torch = torch.from_numpy(grad)

    def numpy_step():
        layer(x)
        layer.backward(grad)

    def torch_step():
        x_torch.grad = None
        torch_layer(x_torch).backward(grad_torch)

    batch, channels, height, width = shape
    name = f"MaxPool2d 2×2 on {batch}×{channels}×{height}×{width} fwd+bwd"
    row = compare(name, numpy_step, torch_step, target=1.5)
    row.extra["numpy_peak_bytes"] = peak_python_memory(numpy_step)
    return row


def run(quick: bool):
    rng = np.random.default_rng(0)
    batch = 8 if quick else 64
    return [_case((batch, 32, 26, 26), rng), _case((batch, 64, 11, 11), rng)]
