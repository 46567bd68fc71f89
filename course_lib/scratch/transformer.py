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

The activation is ReLU or GELU (gelu.py).
"""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from .activations import ReLU
from .attention import MultiheadAttention
from .dropout import Dropout
from .gelu import GELU
from .layernorm import LayerNorm
from .linear import Linear
from ..checks import whole
from .module import Module, check_device, check_dtype, check_grad_output, expect_float, received


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
        self.d_model = whole("TransformerEncoderLayer", "d_model", d_model)
        whole("TransformerEncoderLayer", "dim_feedforward", dim_feedforward)
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
