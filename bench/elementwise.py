"""The element-wise and normalisation layers on their own, forward + backward: measured, no target.

Issue #3 sets no target for these layers; the developers' guide puts the bar for a well-written
NumPy layer at about 1.2× PyTorch, and these rows show how far each one is from it.  What sets
the distance: NumPy makes one pass over memory per operation, on one thread, where PyTorch runs a
layer's arithmetic in one or two fused passes and splits a tensor of more than 32,768 numbers over
its threads — so with 2 threads a layer that is close on one thread (ReLU, tanh) reads up to about
1.5×, and one made of many passes (softmax, layer norm) about 2×.  Reductions along rows already go to
BLAS (``course_lib/scratch/reductions.py``), which uses every thread.

The shapes are those the course's models hand these layers: a hidden layer of 512 units at batch
256; the attention scores of 32 sequences × 4 heads × 64 queries over 64 keys; the Transformer
layer's 32 × 64 tokens of width 128, and its feed-forward width 512.
"""
from __future__ import annotations

import numpy as np
import torch

from course_lib.scratch import GELU, BatchNorm1d, LayerNorm, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh

from .timing import compare

NOTE = "no target (none in issue #3; the guide's bar for a layer: about 1.2×)"


def _cases(quick: bool):
    hidden, scores, tokens, wide = ((64, 128), (512, 16), (256, 32), (256, 64)) if quick else \
        ((256, 512), (8192, 64), (2048, 128), (2048, 512))
    return [
        ("Sigmoid", Sigmoid, torch.nn.Sigmoid, hidden),
        ("Tanh", Tanh, torch.nn.Tanh, hidden),
        ("ReLU", ReLU, torch.nn.ReLU, hidden),
        ("GELU", GELU, torch.nn.GELU, wide),
        ("Softmax(dim=-1)", lambda: Softmax(dim=-1), lambda: torch.nn.Softmax(dim=-1), scores),
        ("LogSoftmax(dim=-1)", lambda: LogSoftmax(dim=-1), lambda: torch.nn.LogSoftmax(dim=-1), scores),
        (f"LayerNorm({tokens[1]})", lambda: LayerNorm(tokens[1]), lambda: torch.nn.LayerNorm(tokens[1]), tokens),
        (f"BatchNorm1d({hidden[1]}), train mode", lambda: BatchNorm1d(hidden[1]),
         lambda: torch.nn.BatchNorm1d(hidden[1]), hidden),
    ]


def run(quick: bool):
    rng = np.random.default_rng(0)
    rows = []
    for name, make, make_torch, shape in _cases(quick):
        x = rng.standard_normal(shape).astype(np.float32)
        grad = rng.standard_normal(shape).astype(np.float32)
        layer, torch_layer = make(), make_torch()
        x_torch = torch.from_numpy(x).requires_grad_()
        grad_torch = torch.from_numpy(grad)

        def numpy_step(layer=layer, x=x, grad=grad):
            layer(x)
            layer.backward(grad)

        def torch_step(torch_layer=torch_layer, x_torch=x_torch, grad_torch=grad_torch):
            x_torch.grad = None
            torch_layer(x_torch).backward(grad_torch)

        rows.append(compare(f"{name} fwd+bwd on {shape[0]}×{shape[1]}", numpy_step, torch_step, note=NOTE))
    return rows
