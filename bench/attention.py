"""Multi-head self-attention forward + backward (grads to the input and every parameter)."""
from __future__ import annotations

import numpy as np
import torch

from course_lib.scratch.attention import MultiheadAttention

from .timing import compare


def run(quick: bool):
    batch, length, d_model, heads = (8, 32, 64, 4) if quick else (32, 64, 128, 4)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, length, d_model)).astype(np.float32)
    grad = rng.standard_normal((batch, length, d_model)).astype(np.float32)

    layer = MultiheadAttention(d_model, heads, batch_first=True)
    torch_layer = torch.nn.MultiheadAttention(d_model, heads, batch_first=True)
    x_torch = torch.from_numpy(x).requires_grad_()
    grad_torch = torch.from_numpy(grad)

    def numpy_step(need_weights):
        layer.zero_grad()
        layer(x, x, x, need_weights=need_weights)
        grad_query, grad_key, grad_value = layer.backward(grad)
        return grad_query + grad_key + grad_value  # self-attention: dL/dx is the sum

    def torch_step(need_weights):
        torch_layer.zero_grad()
        x_torch.grad = None
        out, _ = torch_layer(x_torch, x_torch, x_torch, need_weights=need_weights)
        out.backward(grad_torch)
        return x_torch.grad

    name = f"MultiheadAttention self-attn fwd+bwd, N={batch} L={length} E={d_model} heads={heads}"
    return [
        compare(
            name + ", need_weights=False", lambda: numpy_step(False), lambda: torch_step(False), target=1.5,
            note="the usual training call (as in TransformerEncoderLayer): torch runs its fused "
                 "scaled_dot_product_attention kernel; grads to x and all 4 parameters on both sides",
        ),
        compare(
            name + ", need_weights=True", lambda: numpy_step(True), lambda: torch_step(True), target=1.5,
            note="both also return the head-averaged weights (torch's explicit softmax path)",
        ),
    ]
