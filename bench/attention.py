"""Multi-head self-attention and a Transformer encoder layer, forward + backward.

Both sides compute the gradient with respect to the input and every parameter.
The NumPy side runs all heads of all samples at once with batched ``np.matmul`` on
(N, heads, L, head_dim) views and a single (N·L, E) × (E, 3E) GEMM for Q, K and V.
"""
from __future__ import annotations

import numpy as np
import torch

from course_lib.scratch.attention import MultiheadAttention
from course_lib.scratch.transformer import TransformerEncoderLayer

from .timing import compare


def run(quick: bool):
    batch, length, d_model, heads = (8, 32, 64, 4) if quick else (32, 64, 128, 4)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, length, d_model)).astype(np.float32)
    grad = rng.standard_normal((batch, length, d_model)).astype(np.float32)
    x_torch = torch.from_numpy(x).requires_grad_()
    grad_torch = torch.from_numpy(grad)
    shape = f"N={batch} L={length} E={d_model} heads={heads}"

    attention = MultiheadAttention(d_model, heads, batch_first=True)
    torch_attention = torch.nn.MultiheadAttention(d_model, heads, batch_first=True)

    def numpy_attention(need_weights: bool):
        attention.zero_grad()
        attention(x, x, x, need_weights=need_weights)
        grad_query, grad_key, grad_value = attention.backward(grad)
        return grad_query + grad_key + grad_value  # self-attention: dL/dx is the sum

    def torch_attention_step(need_weights: bool):
        torch_attention.zero_grad()
        x_torch.grad = None
        out, _ = torch_attention(x_torch, x_torch, x_torch, need_weights=need_weights)
        out.backward(grad_torch)
        return x_torch.grad

    rows = [
        compare(
            f"MultiheadAttention self-attn fwd+bwd, {shape}, need_weights=False",
            lambda: numpy_attention(False), lambda: torch_attention_step(False), target=1.5,
            note="the training call (as inside TransformerEncoderLayer): torch runs its fused "
                 "scaled_dot_product_attention; grads to x and all 4 parameters on both sides",
        ),
        compare(
            f"MultiheadAttention self-attn fwd+bwd, {shape}, need_weights=True",
            lambda: numpy_attention(True), lambda: torch_attention_step(True), target=1.5,
            note="both also return the head-averaged weights (torch's explicit softmax path)",
        ),
    ]

    dim_feedforward = 4 * d_model
    encoder = TransformerEncoderLayer(d_model, heads, dim_feedforward, dropout=0.1, batch_first=True)
    torch_encoder = torch.nn.TransformerEncoderLayer(d_model, heads, dim_feedforward, dropout=0.1, batch_first=True)

    def numpy_encoder():
        encoder.zero_grad()
        encoder(x)
        return encoder.backward(grad)

    def torch_encoder_step():
        torch_encoder.zero_grad()
        x_torch.grad = None
        torch_encoder(x_torch).backward(grad_torch)
        return x_torch.grad

    rows.append(compare(
        f"TransformerEncoderLayer fwd+bwd, {shape} FF={dim_feedforward}", numpy_encoder, torch_encoder_step,
        target=1.5, note="post-norm, ReLU, dropout 0.1 in train mode on both sides",
    ))
    return rows
