"""Linear layer forward + backward: the GEMMs every other benchmark builds on."""
from __future__ import annotations

import numpy as np
import torch

from course_lib.scratch import Linear

from .timing import compare


def run(quick: bool):
    batch, features_in, features_out = (64, 256, 128) if quick else (256, 784, 512)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, features_in)).astype(np.float32)
    grad = rng.standard_normal((batch, features_out)).astype(np.float32)

    layer = Linear(features_in, features_out)
    torch_layer = torch.nn.Linear(features_in, features_out)
    x_torch = torch.from_numpy(x).requires_grad_()
    grad_torch = torch.from_numpy(grad)

    def numpy_step():
        layer(x)
        layer.backward(grad)

    def torch_step():
        out = torch_layer(x_torch)
        out.backward(grad_torch)

    return [compare(f"Linear {features_in}→{features_out} fwd+bwd, batch {batch}", numpy_step, torch_step, target=1.5)]
