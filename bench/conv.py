"""Conv2d forward + backward: the two convolutions of the course's small CNN (Fashion-MNIST).

Layer 1 (1→32, 28×28) sees the images themselves, which need no gradient: torch skips
dL/dx because the input does not require grad, and the scratch layer skips it with
``requires_input_grad = False``.  Layer 2 (32→64, 13×13) computes dL/dx on both sides.

Each layer is timed twice.  First with NCHW arrays on both sides — a layer called on its own.
Then as it runs inside the CNN, where each side gets the memory layout its own previous layer
produces: PyTorch contiguous NCHW, the scratch layers batch-innermost (``layout.py``: the
convolutions write it, ReLU and pooling keep it), except the images themselves, NCHW on both
sides.  The difference between the two rows is the scratch layer's layout conversion.
"""
from __future__ import annotations

import numpy as np
import torch

from course_lib.scratch import init
from course_lib.scratch.conv import Conv2d
from course_lib.scratch.layout import batch_innermost

from .timing import compare, peak_python_memory


def _case(batch, in_channels, out_channels, size, input_grad, rng, in_network=False):
    layer = Conv2d(in_channels, out_channels, 3)
    layer.requires_input_grad = input_grad
    torch_layer = torch.nn.Conv2d(in_channels, out_channels, 3)
    x = rng.standard_normal((batch, in_channels, size, size)).astype(np.float32)
    grad = rng.standard_normal((batch, out_channels, size - 2, size - 2)).astype(np.float32)
    x_torch = torch.from_numpy(x).requires_grad_(input_grad)
    grad_torch = torch.from_numpy(grad)
    if in_network:  # the same numbers, stored as the scratch CNN's layers hand them on
        grad = batch_innermost(grad)
        x = batch_innermost(x) if input_grad else x  # layer 1 reads the images (NCHW)

    def numpy_step():
        layer(x)
        layer.backward(grad)

    def torch_step():
        x_torch.grad = None
        torch_layer(x_torch).backward(grad_torch)

    name = f"Conv2d {in_channels}→{out_channels} 3×3 on {size}×{size} fwd+bwd, batch {batch}"
    note = "with input grad on both sides" if input_grad else "first layer: no input grad on either side"
    if in_network:
        name += ", as inside the CNN"
        note += "; scratch arrays batch-innermost, torch's NCHW (each side's own layout)"
    else:
        note += "; NCHW arrays on both sides"
    row = compare(name, numpy_step, torch_step, target=1.5, note=note)
    row.extra["numpy_peak_bytes"] = peak_python_memory(numpy_step)
    return row


def run(quick: bool):
    init.manual_seed(0)
    rng = np.random.default_rng(0)
    batch = 8 if quick else 64
    return [
        _case(batch, 1, 32, 28, False, rng),
        _case(batch, 32, 64, 13, True, rng),
        _case(batch, 1, 32, 28, False, rng, in_network=True),
        _case(batch, 32, 64, 13, True, rng, in_network=True),
    ]
