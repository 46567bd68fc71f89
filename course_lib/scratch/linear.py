"""Fully connected layer y = x Wᵀ + b (Chapter "Forward propagation", eq. forward-affine).

Backward (Chapter "Backpropagation"):
  dL/dx = dL/dy · W,   dL/dW = Σ_batch dL/dyᵀ · x,   dL/db = Σ_batch dL/dy.
"""
from __future__ import annotations

import math

import numpy as np

from . import init
from ..checks import whole
from .module import (Module, Parameter, check_device, check_dtype, check_grad_output, expect_float, keep_for_backward,
                     received, release_for_backward)
from .reductions import column_sums


class Linear(Module):
    """``torch.nn.Linear``: weight of shape (out_features, in_features), bias (out_features,).

    Accepts inputs of shape (*, in_features); leading dimensions are flattened for the GEMMs.
    Set ``requires_input_grad = False`` on a first layer to skip dL/dx (backward then
    returns None), as torch does for an input that does not require grad.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=np.float32):
        super().__init__()
        self.in_features, self.out_features = whole("Linear", "in_features", in_features), \
            whole("Linear", "out_features", out_features)
        if self.in_features < 0 or self.out_features < 0:  # as torch, which refuses a negative dimension
            raise ValueError(f"Linear needs in_features and out_features >= 0, got {in_features} and {out_features}")
        self.dtype = check_dtype(dtype)
        check_device("Linear", device)
        self.weight = Parameter(init.kaiming_uniform((out_features, in_features), dtype=self.dtype))
        self.register_parameter(
            "bias", Parameter(init.bias_uniform((out_features,), in_features, self.dtype)) if bias else None
        )
        self.requires_input_grad = True
        self._input = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim < 1 or x.shape[-1] != self.in_features:
            shape = received(x)
            raise ValueError(f"Linear expected input of shape (*, in_features={self.in_features}), got {shape}")
        expect_float("Linear", x, self.dtype)
        self._input = keep_for_backward(x)  # backward raises if an in-place layer overwrites it
        out = x @ self.weight.data.T
        if self.bias is not None:
            out += self.bias.data
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        x = self._input
        if x is None:
            raise RuntimeError("Linear.backward called before forward")
        release_for_backward("Linear", x, "input")
        # checked before weight.grad changes: a wrong gradient must leave the gradients as they were
        check_grad_output("Linear", grad_output, x.shape[:-1] + (self.out_features,))
        rows = math.prod(x.shape[:-1])  # not -1: with a zero-width layer there is nothing to infer it from
        grad_2d = grad_output.reshape(rows, self.out_features)
        x_2d = x.reshape(rows, self.in_features)
        if self.weight.requires_grad:  # a frozen weight gets no gradient, and none is computed
            # straight into .grad after zero_grad: no zeros written first, no temporary to add
            grad_weight, accumulate = self.weight.grad_for_write()
            if accumulate:
                grad_weight += grad_2d.T @ x_2d
            else:
                np.matmul(grad_2d.T, x_2d, out=grad_weight)
        if self.bias is not None:
            self.bias.add_to_grad(column_sums(grad_2d))  # Σ over the batch, as a matrix product
        return grad_output @ self.weight.data if self.requires_input_grad else None

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
