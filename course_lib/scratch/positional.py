"""Sinusoidal positional encoding (Chapter "Attention and Transformers", section "Positional encoding").

Attention is permutation-equivariant (reorder the tokens and its outputs are reordered alike: it
sees no order), so the position of each token is added to its
embedding (Vaswani et al. 2017, "Attention Is All You Need", section 3.5):

    PE(pos, 2i)   = sin(pos / 10000^{2i/d_model})
    PE(pos, 2i+1) = cos(pos / 10000^{2i/d_model})

Each pair of dimensions is a rotation at its own frequency, so PE(pos + k) is a
linear function of PE(pos) for every offset k.  Forward is y = x + PE[:L] (then
dropout); the table is a constant, so backward passes the gradient straight through
(the dropout mask aside).  Same layout as the PyTorch tutorial's ``PositionalEncoding``.
"""
from __future__ import annotations

import math

import numpy as np

from .dropout import Dropout
from ..checks import whole
from .module import Module, check_dtype, check_grad_output, expect_float, received


def sinusoidal_table(max_len: int, d_model: int, dtype=np.float32) -> np.ndarray:
    """The (max_len, d_model) table PE (for plots and for ``PositionalEncoding``)."""
    if max_len < 1 or d_model < 1:
        raise ValueError(f"sinusoidal_table needs max_len ≥ 1 and d_model ≥ 1, got {max_len} and {d_model}")
    position = np.arange(max_len, dtype=np.float64)[:, None]
    # 10000^{−2i/d} for 2i = 0, 2, 4, …, written as exp(−2i·ln(10000)/d)
    inverse_frequency = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
    angles = position * inverse_frequency
    table = np.empty((max_len, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : d_model // 2])  # odd d_model: one cosine column fewer
    return table.astype(check_dtype(dtype))


class PositionalEncoding(Module):
    """y = dropout(x + PE[:L]) for x of shape (L, N, d_model), (N, L, d_model) with
    ``batch_first=True``, or unbatched (L, d_model).  The table is the buffer ``pe``
    of shape (max_len, d_model)."""

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0, batch_first: bool = False,
                 dtype=np.float32):
        super().__init__()
        self.d_model = whole("PositionalEncoding", "d_model", d_model, 1)
        self.max_len = whole("PositionalEncoding", "max_len", max_len, 1)
        self.batch_first = bool(batch_first)
        self.dtype = check_dtype(dtype)
        self.dropout = Dropout(dropout)
        self.register_buffer("pe", sinusoidal_table(self.max_len, self.d_model, self.dtype))
        self._output_shape = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        layout = "(N, L, d_model)" if self.batch_first else "(L, N, d_model)"
        if not isinstance(x, np.ndarray) or x.ndim not in (2, 3) or x.shape[-1] != self.d_model:
            shape = received(x)
            raise ValueError(
                f"PositionalEncoding expected input of shape {layout.replace('d_model', f'd_model={self.d_model}')} "
                f"or (L, d_model={self.d_model}), got {shape}"
            )
        expect_float("PositionalEncoding", x, self.dtype)
        batch_first = self.batch_first and x.ndim == 3
        length = x.shape[1] if batch_first else x.shape[0]
        if length > self.max_len:
            raise ValueError(f"PositionalEncoding was built for sequences of length ≤ max_len={self.max_len}, "
                             f"got length {length}")
        self._output_shape = x.shape
        table = self.pe[:length]
        if x.ndim == 3:
            table = table[None] if batch_first else table[:, None]
        return self.dropout(x + table)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._output_shape is None:
            raise RuntimeError("PositionalEncoding.backward called before forward")
        check_grad_output("PositionalEncoding", grad_output, self._output_shape)
        return self.dropout.backward(grad_output)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"
