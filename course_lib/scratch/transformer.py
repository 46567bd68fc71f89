"""The Transformer encoder layer (Chapter "Attention and Transformers", section "The encoder layer").

Post-norm (``norm_first=False``, the original of Vaswani et al. 2017):

    x₁ = LayerNorm₁(x + Dropout₁(SelfAttention(x)))
    y  = LayerNorm₂(x₁ + Dropout₂(FFN(x₁))),       FFN(z) = W₂ Dropout(act(W₁ z + b₁)) + b₂

Pre-norm (``norm_first=True``, easier to train deep):

    x₁ = x + Dropout₁(SelfAttention(LayerNorm₁(x)))
    y  = x₁ + Dropout₂(FFN(LayerNorm₂(x₁)))

Backward follows the same graph in reverse; a residual connection x + f(x) sends the
gradient both ways, dL/dx = g + f'(x)ᵀ g, and self-attention's dL/dx is the sum of its
query, key and value gradients (the same x feeds all three).

The activation is ReLU or the exact GELU(x) = x Φ(x) = x · ½(1 + erf(x/√2)) that torch
uses by default; NumPy has no erf, so ``erf`` below computes it to ~1e-15.
"""
from __future__ import annotations

import math
from typing import Optional, Union

import numpy as np

from .activations import ReLU
from .attention import MultiheadAttention
from .dropout import Dropout
from .layernorm import LayerNorm
from .linear import Linear
from .module import (Module, check_device, check_dtype, check_grad_output, expect_float, keep_for_backward, received,
                     release_for_backward)


def erf(x: np.ndarray) -> np.ndarray:
    """The error function erf(x) = 2/√π ∫₀ˣ e^{−t²} dt, element-wise, to about 1e-15.

    |x| < 2.5: erf(x) = 2/√π · e^{−x²} · Σₙ (2x²)ⁿ x / (1·3·5···(2n+1))  (positive terms: no cancellation);
    |x| ≥ 2.5: erfc(x) = e^{−x²} / (√π · (x + ½/(x + 1/(x + (3/2)/(x + …)))))  (Laplace's continued fraction).
    """
    x = np.asarray(x)
    magnitude = np.abs(x)
    result = np.empty_like(magnitude)
    small = magnitude < 2.5
    xs = magnitude[small]
    two_x_squared = 2 * xs * xs
    term, total = xs.copy(), xs.copy()
    for n in range(1, 60):  # 60 terms reach double precision for |x| < 2.5
        term *= two_x_squared / (2 * n + 1)
        total += term
    result[small] = (2 / math.sqrt(math.pi)) * np.exp(-xs * xs) * total
    xl = magnitude[~small]
    fraction = xl.copy()
    for k in range(60, 0, -1):  # evaluate the continued fraction from its tail
        fraction = xl + (k / 2) / fraction
    result[~small] = 1 - np.exp(-xl * xl) / (math.sqrt(math.pi) * fraction)
    return np.copysign(result, x)


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """GELU(x) = x · Φ(x) = x · ½(1 + erf(x/√2)) (torch's default, approximate='none').

    ``approximate='tanh'``: ½ x (1 + tanh(√(2/π) (x + 0.044715 x³))), the form GPT-2 and BERT used.
    """
    if _check_approximate(approximate) == "tanh":
        return x * (0.5 * (1 + np.tanh(_gelu_tanh_argument(x))))
    return x * (0.5 * (1 + erf(x * np.asarray(1 / math.sqrt(2), x.dtype))))


def gelu_derivative(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """dGELU/dx = Φ(x) + x φ(x), with φ(x) = e^{−x²/2}/√(2π).

    For the tanh form, with u = √(2/π)(x + 0.044715 x³) and t = tanh u:
    ½(1 + t) + ½ x (1 − t²) √(2/π)(1 + 3·0.044715 x²).
    """
    if _check_approximate(approximate) == "tanh":
        t = np.tanh(_gelu_tanh_argument(x))
        du = np.asarray(math.sqrt(2 / math.pi), x.dtype) * (1 + np.asarray(3 * _GELU_CUBIC, x.dtype) * x * x)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
    cdf = 0.5 * (1 + erf(x * np.asarray(1 / math.sqrt(2), x.dtype)))
    return cdf + x * np.exp(-0.5 * x * x) * np.asarray(1 / math.sqrt(2 * math.pi), x.dtype)


_GELU_CUBIC = 0.044715


def _gelu_tanh_argument(x: np.ndarray) -> np.ndarray:
    return np.asarray(math.sqrt(2 / math.pi), x.dtype) * (x + np.asarray(_GELU_CUBIC, x.dtype) * x * x * x)


def _check_approximate(approximate) -> str:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"GELU: approximate must be 'none' or 'tanh' (as in torch), got {approximate!r}")
    return approximate


class GELU(Module):
    """``torch.nn.GELU(approximate='none')``: exact (erf-based) or ``'tanh'``; backward needs the input x."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = _check_approximate(approximate)
        self._input = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
            got = f"dtype {x.dtype.name}" if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"GELU expected a float32 or float64 NumPy array, got {got}")
        self._input = keep_for_backward(x)  # backward raises if an in-place layer overwrites it
        return gelu(x, self.approximate)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._input is None:
            raise RuntimeError("GELU.backward called before forward")
        check_grad_output("GELU", grad_output, np.shape(self._input))
        release_for_backward("GELU", self._input, "input")
        return grad_output * gelu_derivative(self._input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class TransformerEncoderLayer(Module):
    """``torch.nn.TransformerEncoderLayer``: same constructor, submodule names and ``state_dict`` keys.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)`` with src of shape
    (S, N, E), (N, S, E) with ``batch_first=True``, or unbatched (S, E); masks as in
    ``MultiheadAttention`` (boolean True = not allowed, or float added).  ``backward(grad)``
    returns dL/dsrc and accumulates every parameter gradient.
    ``activation`` is "relu", "gelu" or a scratch Module with forward/backward.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: Union[str, Module] = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None,
                 dtype=np.float32):
        super().__init__()
        self.dtype = check_dtype(dtype)
        check_device("TransformerEncoderLayer", device)
        self.d_model = int(d_model)
        self.batch_first = bool(batch_first)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            dtype=self.dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=self.dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=self.dtype)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=self.dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=self.dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if isinstance(activation, Module):
            self.activation = activation
        elif activation == "relu":
            self.activation = ReLU()
        elif activation == "gelu":
            self.activation = GELU()
        else:
            raise ValueError(f"TransformerEncoderLayer activation should be 'relu', 'gelu' or a scratch Module, "
                             f"got {activation!r}")
        self._shape = None

    # --- the two sub-blocks and their backward rules
    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        out, _ = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)
        return self.dropout1(out)

    def _sa_block_backward(self, grad_output):
        grad_query, grad_key, grad_value = self.self_attn.backward(self.dropout1.backward(grad_output))
        return grad_query + grad_key + grad_value  # x fed query, key and value

    def _ff_block(self, x):
        hidden = self.dropout(self.activation(self.linear1(x.reshape(-1, self.d_model))))
        return self.dropout2(self.linear2(hidden).reshape(x.shape))

    def _ff_block_backward(self, grad_output):
        grad = self.linear2.backward(self.dropout2.backward(grad_output).reshape(-1, self.d_model))
        grad = self.linear1.backward(self.dropout.backward(self.activation.backward(grad)))
        return grad.reshape(grad_output.shape)

    def forward(self, src: np.ndarray, src_mask: Optional[np.ndarray] = None,
                src_key_padding_mask: Optional[np.ndarray] = None, is_causal: bool = False) -> np.ndarray:
        layout = "(N, S, E)" if self.batch_first else "(S, N, E)"
        if not isinstance(src, np.ndarray) or src.ndim not in (2, 3) or src.shape[-1] != self.d_model:
            shape = received(src)
            raise ValueError(f"TransformerEncoderLayer expected src of shape {layout.replace('E)', f'E={self.d_model})')} "
                             f"or (S, E={self.d_model}), got {shape}")
        expect_float("TransformerEncoderLayer", src, self.dtype)
        self._shape = src.shape
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff_block(self.norm2(x))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._shape is None:
            raise RuntimeError("TransformerEncoderLayer.backward called before forward")
        check_grad_output("TransformerEncoderLayer", grad_output, self._shape)
        if self.norm_first:
            grad_x1 = grad_output + self.norm2.backward(self._ff_block_backward(grad_output))
            return grad_x1 + self.norm1.backward(self._sa_block_backward(grad_x1))
        grad_x1 = self.norm2.backward(grad_output)  # dL/d(x₁ + FFN(x₁))
        grad_x1 = grad_x1 + self._ff_block_backward(grad_x1)
        grad_sum = self.norm1.backward(grad_x1)  # dL/d(x + SA(x))
        return grad_sum + self._sa_block_backward(grad_sum)

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}, batch_first={self.batch_first}"
