"""Inverted dropout (Chapter "Regularisation", section "Dropout").

Training:  m_i ~ Bernoulli(1 − p),   y = x ⊙ m / (1 − p),   dL/dx = dL/dy ⊙ m / (1 − p).
Evaluation: y = x (the 1/(1 − p) scaling during training already keeps E[y] = x,
so nothing has to be rescaled at test time; that is what "inverted" means).

Random numbers come from ``course_lib.scratch.init.generator()`` so
``init.manual_seed`` makes a run reproducible.  p = 1 drops everything (output 0),
p = 0 is the identity, as in torch.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import init
from .layout import empty_like_layout
from .module import Module, before_overwrite, check_grad_output


def dropout_mask(shape, p: float, dtype, rng: np.random.Generator, like: Optional[np.ndarray] = None) -> np.ndarray:
    """The scaled mask m / (1 − p) in ``dtype`` (all zeros when p = 1).

    The random numbers are drawn in the shape's row-major order, so a seed gives the same mask
    whatever the input's memory layout; with ``like`` the mask is *stored* in that array's
    layout (see layout.py), so that x ⊙ m and its gradient keep it — a convolution's
    batch-innermost output stays batch-innermost through dropout.
    """
    stored = np.empty(shape, dtype) if like is None else empty_like_layout(shape, dtype, like)
    if p >= 1.0:
        stored[...] = 0
        return stored
    keep = rng.random(shape, dtype=np.dtype(dtype).type) >= p  # P(keep) = 1 − p
    return np.multiply(keep, np.asarray(1.0 / (1.0 - p), dtype=dtype), out=stored)


class Dropout(Module):
    """``torch.nn.Dropout(p=0.5, inplace=False)``; the identity after ``eval()``."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability has to be between 0 and 1, got {p!r}")
        self.p = float(p)
        self.inplace = bool(inplace)
        self._mask = None
        self._identity = False
        self._output_shape = None  # also needed when dropout is the identity (eval, p = 0)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
            got = f"dtype {x.dtype.name}" if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"Dropout expected a float32 or float64 NumPy array, got {got}")
        self._identity = not self.training or self.p == 0.0
        self._output_shape = x.shape
        if self._identity:
            self._mask = None
            return x
        if self.inplace:
            before_overwrite("Dropout", x)
        self._mask = dropout_mask(x.shape, self.p, x.dtype, init.generator(), like=x)
        if self.inplace:
            x *= self._mask
            return x
        return x * self._mask

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._output_shape is None:
            raise RuntimeError("Dropout.backward called before forward")
        check_grad_output("Dropout", grad_output, self._output_shape)
        if self._identity:
            return grad_output
        return grad_output * self._mask

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
