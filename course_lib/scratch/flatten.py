"""Flatten dimensions start_dim..end_dim into one (Chapter "Convolutional networks").

Flattening only reinterprets the memory layout, so the backward pass is the
inverse reshape:  dL/dx = reshape(dL/dy, x.shape).
"""
from __future__ import annotations

import numpy as np

from ..checks import whole
from .module import Module, check_grad_output


def flatten(x: np.ndarray, start_dim: int = 0, end_dim: int = -1) -> np.ndarray:
    """``torch.flatten``: merge dimensions start_dim..end_dim (inclusive) of ``x``."""
    if x.ndim == 0:
        return x.reshape(1)
    start = start_dim + x.ndim if start_dim < 0 else start_dim
    end = end_dim + x.ndim if end_dim < 0 else end_dim
    if not (0 <= start < x.ndim and 0 <= end < x.ndim):
        raise ValueError(
            f"Flatten(start_dim={start_dim}, end_dim={end_dim}) does not fit an input with "
            f"{x.ndim} dimensions, shape {x.shape}"
        )
    if start > end:
        raise ValueError(
            f"Flatten: start_dim ({start_dim}) comes after end_dim ({end_dim}) for input of shape {x.shape}"
        )
    merged = int(np.prod(x.shape[start : end + 1]))
    return x.reshape(x.shape[:start] + (merged,) + x.shape[end + 1 :])


class Flatten(Module):
    """``torch.nn.Flatten(start_dim=1, end_dim=-1)``: (N, C, H, W) → (N, C·H·W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = whole("Flatten", "start_dim", start_dim), whole("Flatten", "end_dim", end_dim)
        self._input_shape = self._output_shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise ValueError(f"Flatten expected a NumPy array, got {type(x).__name__}")
        out = flatten(x, self.start_dim, self.end_dim)
        self._input_shape, self._output_shape = x.shape, out.shape
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._input_shape is None:
            raise RuntimeError("Flatten.backward called before forward")
        # reshape alone would accept any gradient with the right number of entries, e.g. (6, 4) for (4, 6)
        check_grad_output("Flatten", grad_output, self._output_shape)
        return grad_output.reshape(self._input_shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
