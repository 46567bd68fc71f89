"""Scaled dot-product attention and multi-head attention (Chapter "Attention and Transformers").

Scaled dot-product attention of queries Q (L×d_k), keys K (S×d_k) and values V (S×d_v):

    S = Q Kᵀ / √d_k + M,     P = softmax(S) (row-wise),     O = P V

M is an additive mask: 0 where query i may look at key j, −∞ where it may not.
Boolean masks follow ``torch.nn.MultiheadAttention``: **True = not allowed** (→ −∞);
float masks are added as they are.  (Careful: ``torch.nn.functional.scaled_dot_product_attention``
uses the opposite boolean convention, True = allowed.)

Backward (the book derives it; d = dL/d·):

    dV = Pᵀ dO,   dP = dO Vᵀ,   dS = P ⊙ (dP − rowsum(dP ⊙ P)),
    dQ = dS K / √d_k,   dK = dSᵀ Q / √d_k

Multi-head attention projects the inputs with W_Q, W_K, W_V (stacked in
``in_proj_weight``), runs h attentions on d_k = E/h-sized slices in parallel and
mixes the concatenated heads with ``out_proj``:

    head_i = Attention(Q W_Qᵢᵀ, K W_Kᵢᵀ, V W_Vᵢᵀ),   MHA = Concat(head_1..h) W_Oᵀ + b_O

Fully masked rows (a query with every key masked): softmax of a row of −∞ is 0/0.
Here such a row gets **zero weights and zero output** (so the MHA output is just
``out_proj.bias``) and zero gradient, in every mode.  torch 2.13 gives the same zeros on
its ``scaled_dot_product_attention`` path (``need_weights=False`` in training mode, and
``TransformerEncoderLayer`` in training mode), but NaN for such rows with
``need_weights=True`` and on its inference fast path (``eval()`` without autograd and with
``batch_first=True``, for both ``MultiheadAttention`` and ``TransformerEncoderLayer``): there the scratch result is finite
where torch's is NaN (measured with torch 2.13.0).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from . import init
from .dropout import dropout_mask as make_dropout_mask
from .linear import Linear
from ..checks import whole
from .module import (Module, Parameter, check_device, check_dtype, check_grad_output, expect_float, keep_for_backward,
                     release_for_backward)
from .reductions import column_sums


# --------------------------------------------------------------------------- masks
def generate_square_subsequent_mask(size: int, dtype=np.float32) -> np.ndarray:
    """Causal float mask (size, size): 0 on and below the diagonal, −∞ above (like torch's)."""
    mask = np.zeros((size, size), dtype=check_dtype(dtype))
    mask[np.triu_indices(size, k=1)] = -np.inf
    return mask


def additive_mask(mask: Optional[np.ndarray], dtype, name: str = "mask", layer: str = "attention") -> Optional[np.ndarray]:
    """A boolean mask (True = not allowed) as 0/−∞ floats; a float mask cast to ``dtype``."""
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"{layer} expected {name} to be a NumPy array, got {type(mask).__name__}")
    if mask.dtype == np.bool_:
        return np.where(mask, -np.inf, 0.0).astype(dtype)
    if np.issubdtype(mask.dtype, np.floating):
        return mask.astype(dtype, copy=False)
    raise ValueError(
        f"{layer} expected {name} to be boolean (True = not allowed) or floating (added to the scores), "
        f"got dtype {mask.dtype}"
    )


# --------------------------------------------------------------------------- functional forms
def masked_softmax(scores: np.ndarray) -> np.ndarray:
    """Row-wise softmax over the last axis, computed IN PLACE; rows of only −∞ become 0."""
    if scores.shape[-1] == 0:  # no keys (a sequence of length 0): nothing to weigh, as torch returns
        return scores
    row_max = scores.max(axis=-1, keepdims=True)
    # a fully masked row has max −∞; shifting by 0 instead gives exp(−∞) = 0, not nan
    row_max[np.isneginf(row_max)] = 0
    scores -= row_max
    np.exp(scores, out=scores)
    total = scores.sum(axis=-1, keepdims=True)
    total[total == 0] = 1  # only fully masked rows sum to 0; they stay all-zero
    scores /= total
    return scores


def masked_softmax_backward(grad_weights: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """dL/dS = P ⊙ (dL/dP − rowsum(dL/dP ⊙ P)), computed IN PLACE in ``grad_weights``."""
    row_dot = np.einsum("...ij,...ij->...i", grad_weights, weights)[..., None]
    grad_weights -= row_dot
    grad_weights *= weights
    return grad_weights


def _check_attention_inputs(query, key, value) -> None:
    """Errors a student can read for the shapes the attention products need (they were NumPy's
    "matmul: Input operand 1 has a mismatch …")."""
    where = "scaled_dot_product_attention"
    for name, array in (("query", query), ("key", key), ("value", value)):
        if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
            got = f"dtype {array.dtype.name}" if isinstance(array, np.ndarray) else type(array).__name__
            raise ValueError(f"{where} expected {name} as a float NumPy array, got {got}")
        if array.ndim < 2:
            raise ValueError(f"{where} expected {name} of shape (..., length, features), got {array.shape}")
    if not query.dtype == key.dtype == value.dtype:
        raise ValueError(f"{where} expected query, key and value of one dtype, got {query.dtype.name}, "
                         f"{key.dtype.name} and {value.dtype.name}")
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(f"{where} expected key of shape (..., S, E={query.shape[-1]}), the query's features "
                         f"(query {query.shape}), got {key.shape}")
    if value.shape[-2] != key.shape[-2]:
        raise ValueError(f"{where} expected value of shape (..., S={key.shape[-2]}, E_v), one row per key "
                         f"(key {key.shape}), got {value.shape}")
    try:
        np.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except ValueError:
        raise ValueError(f"{where}: the leading (batch) axes of query {query.shape}, key {key.shape} and value "
                         f"{value.shape} do not match") from None


def scaled_dot_product_attention(
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    attn_mask: Optional[np.ndarray] = None,
    is_causal: bool = False,
    scale: Optional[float] = None,
    dropout_mask: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """O = softmax(Q Kᵀ · scale + M) V over the last two axes; returns ``(output, weights)``.

    Shapes: query (..., L, d_k), key (..., S, d_k), value (..., S, d_v) with broadcastable
    leading axes; ``attn_mask`` broadcastable to (..., L, S), boolean (True = not allowed,
    as in ``nn.MultiheadAttention`` — the *opposite* of ``torch.nn.functional.
    scaled_dot_product_attention``, where True means allowed) or float (added).  ``scale`` defaults to 1/√d_k.  ``is_causal`` masks keys j > i
    (and may not be combined with ``attn_mask``).  ``weights`` is P = softmax(...), of shape
    (..., L, S); if ``dropout_mask`` is given the output uses (P ⊙ dropout_mask) V while
    ``weights`` stays P.  Fully masked rows give zero weights and zero output.
    """
    _check_attention_inputs(query, key, value)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both")
        length, source_length = query.shape[-2], key.shape[-2]
        attn_mask = ~np.tri(length, source_length, dtype=bool)
    # S = Q Kᵀ, (…, L, S), computed as (K Qᵀ)ᵀ so that it lies in memory key by key: the
    # softmax reduces over the keys (the last axis), and NumPy's max over an axis that is
    # not the contiguous one runs across whole rows at once — 0.26 against 0.80 ms for the
    # (32, 4, 64, 64) scores of bench/attention.py.  The same dot products, stored transposed.
    scores = np.swapaxes(np.matmul(key, np.swapaxes(query, -1, -2)), -1, -2)
    scores *= np.asarray(scale, dtype=scores.dtype)
    mask = additive_mask(attn_mask, scores.dtype, "attn_mask", "scaled_dot_product_attention")
    if mask is not None:
        try:
            np.broadcast_shapes(scores.shape, mask.shape)
        except ValueError:
            raise ValueError(f"scaled_dot_product_attention expected attn_mask broadcastable to the scores' shape "
                             f"(..., L, S) = {scores.shape}, got {mask.shape}") from None
        if np.broadcast_shapes(scores.shape, mask.shape) == scores.shape:
            scores += mask  # in place: no second (…, L, S) array
        else:
            scores = scores + mask
    weights = masked_softmax(scores)
    used = weights if dropout_mask is None else weights * dropout_mask
    return np.matmul(used, value), weights


def scaled_dot_product_attention_backward(
    grad_output: Optional[np.ndarray],
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    weights: np.ndarray,
    scale: Optional[float] = None,
    grad_weights: Optional[np.ndarray] = None,
    dropout_mask: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients ``(dQ, dK, dV)`` of ``scaled_dot_product_attention``.

    ``weights`` is the P the forward returned; ``grad_weights`` (optional) is dL/dP from
    any other use of P; ``dropout_mask`` must be the one the forward used.  No gradient
    flows into a float mask (it is treated as a constant).  Leading axes must not
    have been broadcast in the forward (pass full-size arrays).
    """
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    used = weights if dropout_mask is None else weights * dropout_mask
    if grad_output is None:
        grad_output = np.zeros(weights.shape[:-1] + value.shape[-1:], dtype=weights.dtype)
    grad_value = np.matmul(np.swapaxes(used, -1, -2), grad_output)
    # dL/d(P ⊙ dropout) = dL/dO Vᵀ, stored key-major like P (see the forward)
    grad_scores = np.swapaxes(np.matmul(value, np.swapaxes(grad_output, -1, -2)), -1, -2)
    if dropout_mask is not None:
        grad_scores *= dropout_mask
    if grad_weights is not None:
        grad_scores += grad_weights
    masked_softmax_backward(grad_scores, weights)  # now dL/dS
    scale = np.asarray(scale, dtype=grad_scores.dtype)
    grad_query = np.matmul(grad_scores, key)
    grad_query *= scale
    grad_key = np.matmul(np.swapaxes(grad_scores, -1, -2), query)
    grad_key *= scale
    return grad_query, grad_key, grad_value


# --------------------------------------------------------------------------- module
class MultiheadAttention(Module):
    """``torch.nn.MultiheadAttention``.

    Parameters as in torch: ``in_proj_weight`` (3E, E) = [W_Q; W_K; W_V] (Xavier-uniform),
    ``in_proj_bias`` (3E,) (zeros), ``out_proj`` a ``Linear(E, E)`` with zero bias.
    Inputs are (L, N, E), or (N, L, E) with ``batch_first=True``, or unbatched (L, E).
    Keys and values with other widths (``kdim``, ``vdim``: cross-attention to features of
    another size) get three separate weights instead, as in torch: ``q_proj_weight`` (E, E),
    ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim), each Xavier-uniform, and
    ``in_proj_weight`` is None.  ``add_bias_kv`` appends a learned key ``bias_k`` and value
    ``bias_v`` (1, 1, E) (Xavier-normal) to every sequence of projected keys and values, and
    ``add_zero_attn`` a zero key and value after that, as torch does: every query can then attend
    to "nothing", and the attention weights have S + 1 or S + 2 columns; masks are padded with
    "allowed" for the extra columns.  (With ``is_causal=True`` and ``need_weights=False``, torch's
    fast path hides those columns from every row where L ≤ S — its ``need_weights=True`` path does
    not; this module always follows the latter, and the mask as given.)

    ``forward`` returns ``(attn_output, attn_weights)`` exactly like torch: the weights are
    averaged over heads (N, L, S) by default, per head (N, num_heads, L, S) with
    ``average_attn_weights=False``, None with ``need_weights=False``.  With dropout the
    returned weights are the dropped-out ones (as in torch).

    ``backward(grad_attn_output, grad_attn_weights=None)`` returns
    ``(grad_query, grad_key, grad_value)``.  For self-attention (one array x passed as
    query, key and value) dL/dx is the SUM of the three.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: Optional[int] = None,
                 vdim: Optional[int] = None, batch_first: bool = False, device=None,
                 dtype=np.float32):
        super().__init__()
        embed_dim, num_heads = whole("MultiheadAttention", "embed_dim", embed_dim), \
            whole("MultiheadAttention", "num_heads", num_heads)
        if num_heads < 1 or embed_dim < 1 or embed_dim % num_heads != 0:
            raise ValueError(
                f"MultiheadAttention needs embed_dim divisible by num_heads (each head gets embed_dim / num_heads "
                f"features), got embed_dim={embed_dim} and num_heads={num_heads}"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention dropout must be a probability in [0, 1], got {dropout}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.dtype = check_dtype(dtype)
        check_device("MultiheadAttention", device)
        self.kdim = embed_dim if kdim is None else int(kdim)
        self.vdim = embed_dim if vdim is None else int(vdim)
        if self.kdim < 1 or self.vdim < 1:
            raise ValueError(f"MultiheadAttention needs kdim ≥ 1 and vdim ≥ 1, got kdim={kdim} and vdim={vdim}")
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(init.xavier_uniform((3 * embed_dim, embed_dim), dtype=self.dtype))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:  # torch's order: the three weights, then in_proj_weight as None
            for name, width in (("q_proj_weight", embed_dim), ("k_proj_weight", self.kdim),
                                ("v_proj_weight", self.vdim)):
                self.register_parameter(name, Parameter(init.xavier_uniform((embed_dim, width), dtype=self.dtype)))
            self.register_parameter("in_proj_weight", None)
        self.register_parameter(
            "in_proj_bias", Parameter(np.zeros(3 * embed_dim, dtype=self.dtype)) if bias else None
        )
        for name in ("bias_k", "bias_v"):  # torch: Xavier-normal on (1, 1, E), std = √(2 / (E + E))
            self.register_parameter(name, Parameter(init.normal((1, 1, embed_dim), math.sqrt(1.0 / embed_dim),
                                                                self.dtype)) if add_bias_kv else None)
        self.add_zero_attn = bool(add_zero_attn)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=self.dtype)
        if bias:
            self.out_proj.bias.data[...] = 0  # torch zeroes both biases
        self._cache = None

    # --- layout helpers: everything inside runs on (N, heads, length, head_dim) views
    def _to_heads(self, x: np.ndarray, seq_first: bool) -> np.ndarray:
        """(N, L, E) or (L, N, E) (last axis may be a slice) → (N, heads, L, head_dim) view."""
        split = x.reshape(x.shape[:-1] + (self.num_heads, self.head_dim))
        return split.transpose(1, 2, 0, 3) if seq_first else split.transpose(0, 2, 1, 3)

    def _heads_into(self, out: np.ndarray, heads: np.ndarray, seq_first: bool) -> None:
        """Write (N, heads, L, head_dim) into ``out`` of layout (N, L, E)/(L, N, E) (last axis may be a slice)."""
        self._to_heads(out, seq_first)[...] = heads

    def _projection(self, index: int):
        """The Parameter and the rows of it that project query (0), key (1) or value (2)."""
        if self.in_proj_weight is not None:
            return self.in_proj_weight, slice(index * self.embed_dim, (index + 1) * self.embed_dim)
        return (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[index], slice(None)

    def _check_input(self, name: str, x, batched: bool) -> None:
        width, symbol = {"query": (self.embed_dim, "E"), "key": (self.kdim, "kdim"), "value": (self.vdim, "vdim")}[name]
        length = "S" if name != "query" else "L"
        batched_layout = f"(N, {length}, {symbol}={width})" if self.batch_first else f"({length}, N, {symbol}={width})"
        unbatched_layout = f"({length}, {symbol}={width})"
        if name == "query" and not (isinstance(x, np.ndarray) and x.ndim in (2, 3)):
            layout = f"{batched_layout} or unbatched {unbatched_layout}"
        else:
            layout = batched_layout if batched else unbatched_layout
        if not isinstance(x, np.ndarray):
            raise ValueError(f"MultiheadAttention expected {name} to be a NumPy array of shape {layout}, "
                             f"got {type(x).__name__}")
        if x.ndim != (3 if batched else 2) or x.shape[-1] != width:
            raise ValueError(f"MultiheadAttention expected {name} of shape {layout}, got {x.shape}")
        expect_float("MultiheadAttention", x, self.dtype)

    def _combined_mask(self, attn_mask, key_padding_mask, batch: int, length: int, source_length: int, batched: bool):
        """The additive mask, broadcastable to (N, heads, L, S), or None."""
        heads = self.num_heads
        mask = None
        if attn_mask is not None:
            mask = additive_mask(attn_mask, self.dtype, "attn_mask", "MultiheadAttention")
            three_d = (batch * heads if batched else heads, length, source_length)
            if mask.shape == (length, source_length):
                pass
            elif mask.shape == three_d:
                mask = mask.reshape(batch, heads, length, source_length)
            else:
                lead = "N·num_heads" if batched else "num_heads"
                raise ValueError(
                    f"MultiheadAttention expected attn_mask of shape (L, S) = {(length, source_length)} or "
                    f"({lead}, L, S) = {three_d}, got {attn_mask.shape}"
                )
        if key_padding_mask is not None:
            padding = additive_mask(key_padding_mask, self.dtype, "key_padding_mask", "MultiheadAttention")
            expected = (batch, source_length) if batched else (source_length,)
            if padding.shape != expected:
                what = "(N, S)" if batched else "(S,)"
                raise ValueError(
                    f"MultiheadAttention expected key_padding_mask of shape {what} = {expected}, got {padding.shape}"
                )
            padding = padding.reshape(batch, 1, 1, source_length)
            mask = padding if mask is None else mask + padding
        return mask

    def _extra_keys(self, k_heads, v_heads, mask):
        """Append bias_k/bias_v and the zero key/value (torch's add_bias_kv, add_zero_attn) to the
        (N, heads, S, head_dim) keys and values, and "allowed" columns to the additive mask."""
        batch, heads, _, head_dim = k_heads.shape
        keys, values = [k_heads], [v_heads]
        if self.bias_k is not None:
            keys.append(np.broadcast_to(self.bias_k.data.reshape(1, heads, 1, head_dim), (batch, heads, 1, head_dim)))
            values.append(np.broadcast_to(self.bias_v.data.reshape(1, heads, 1, head_dim), (batch, heads, 1, head_dim)))
        if self.add_zero_attn:
            keys.append(np.zeros((batch, heads, 1, head_dim), self.dtype))
            values.append(np.zeros((batch, heads, 1, head_dim), self.dtype))
        extra = len(keys) - 1
        if not extra:
            return k_heads, v_heads, mask
        if mask is not None:
            mask = np.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, extra)])
        return np.concatenate(keys, axis=2), np.concatenate(values, axis=2), mask

    # --- forward / backward
    def forward(
        self,
        query: np.ndarray,
        key: np.ndarray,
        value: np.ndarray,
        key_padding_mask: Optional[np.ndarray] = None,
        need_weights: bool = True,
        attn_mask: Optional[np.ndarray] = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        batched = isinstance(query, np.ndarray) and query.ndim == 3
        for name, x in (("query", query), ("key", key), ("value", value)):
            self._check_input(name, x, batched)
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"MultiheadAttention expected key and value of the same length and batch size, "
                             f"got shapes {key.shape} and {value.shape}")
        if is_causal and attn_mask is None:
            raise ValueError(
                "MultiheadAttention: is_causal=True is only a hint that attn_mask is causal; pass the mask too "
                "(e.g. generate_square_subsequent_mask(L)), as torch requires"
            )
        self_attention = query is key and key is value  # checked before any reshaping makes new views
        seq_first = batched and not self.batch_first
        if not batched:  # treat (L, E) as a batch of one
            query, key, value = query[None], key[None], value[None]
        batch_axis = 1 if seq_first else 0
        if query.shape[batch_axis] != key.shape[batch_axis]:
            raise ValueError(f"MultiheadAttention expected query and key with the same batch size, "
                             f"got {query.shape[batch_axis]} and {key.shape[batch_axis]}")
        batch = query.shape[batch_axis]
        length, source_length = query.shape[1 - batch_axis], key.shape[1 - batch_axis]
        mask = self._combined_mask(attn_mask, key_padding_mask, batch, length, source_length, batched)

        E = self.embed_dim
        bias = None if self.in_proj_bias is None else self.in_proj_bias.data
        if self_attention and self._qkv_same_embed_dim:  # one GEMM for Q, K and V
            x_2d = query.reshape(-1, E)
            projected = x_2d @ self.in_proj_weight.data.T
            if bias is not None:
                projected += bias
            projected = projected.reshape(query.shape[:-1] + (3 * E,))
            q_proj, k_proj, v_proj = projected[..., :E], projected[..., E:2 * E], projected[..., 2 * E:]
            inputs_2d = (x_2d,)
        else:
            inputs_2d = tuple(x.reshape(-1, x.shape[-1]) for x in (query, key, value))
            projections = []
            for index, (x, x_2d) in enumerate(zip((query, key, value), inputs_2d)):
                weight, rows = self._projection(index)
                out = x_2d @ weight.data[rows].T
                if bias is not None:
                    out += bias[index * E:(index + 1) * E]
                projections.append(out.reshape(x.shape[:-1] + (E,)))
            q_proj, k_proj, v_proj = projections

        q_heads = self._to_heads(q_proj, seq_first)
        k_heads = self._to_heads(k_proj, seq_first)
        v_heads = self._to_heads(v_proj, seq_first)
        k_heads, v_heads, mask = self._extra_keys(k_heads, v_heads, mask)
        source_length = k_heads.shape[2]
        dropout_mask = None
        if self.training and self.dropout > 0:
            # the attention weights themselves are dropped, as in torch (one mask per head)
            dropout_mask = make_dropout_mask(
                (batch, self.num_heads, length, source_length), self.dropout, self.dtype, init.generator()
            )
        context, weights = scaled_dot_product_attention(q_heads, k_heads, v_heads, mask, dropout_mask=dropout_mask)

        # concatenate the heads back into the input's layout, then mix them with out_proj
        merged = np.empty(query.shape[:-1] + (E,), dtype=self.dtype)
        self._heads_into(merged, context, seq_first)
        output = self.out_proj(merged.reshape(-1, E)).reshape(merged.shape)

        for x_2d in inputs_2d:  # views of the caller's arrays, which dW_in needs: backward raises if overwritten
            keep_for_backward(x_2d)
        self._cache = dict(
            inputs_2d=inputs_2d, shapes=(query.shape, key.shape, value.shape), heads=(q_heads, k_heads, v_heads),
            sources=key.shape[1 - batch_axis],  # S, before bias_k and the zero key
            weights=weights, dropout_mask=dropout_mask, seq_first=seq_first, batched=batched,
            need_weights=need_weights, average=average_attn_weights,
        )
        attn_weights = None
        if need_weights:
            returned = weights if dropout_mask is None else weights * dropout_mask
            # C order, as torch returns them (the scores lie key-major in memory, see the functional form)
            attn_weights = np.ascontiguousarray(returned.mean(axis=1)) if average_attn_weights else returned.copy()
            if not batched:
                attn_weights = attn_weights[0]
        if not batched:
            output = output[0]
        return output, attn_weights

    def backward(self, grad_attn_output: Optional[np.ndarray], grad_attn_weights: Optional[np.ndarray] = None):
        cache = self._cache
        if cache is None:
            raise RuntimeError("MultiheadAttention.backward called before forward")
        for x_2d in cache["inputs_2d"]:
            release_for_backward("MultiheadAttention", x_2d, "input")
        E, heads = self.embed_dim, self.num_heads
        query_shape, key_shape, value_shape = cache["shapes"]
        seq_first, batched = cache["seq_first"], cache["batched"]
        q_heads, k_heads, v_heads = cache["heads"]
        weights, dropout_mask = cache["weights"], cache["dropout_mask"]

        # check both gradients before out_proj.backward adds into any Parameter.grad
        if grad_attn_output is not None:
            output_shape = query_shape if batched else query_shape[1:]
            check_grad_output("MultiheadAttention", grad_attn_output, output_shape, name="grad_attn_output")
        if grad_attn_weights is not None:
            if not cache["need_weights"]:
                raise ValueError("MultiheadAttention.backward got grad_attn_weights but forward ran with need_weights=False")
            batch, _, length, source_length = weights.shape
            expected = (length, source_length) if cache["average"] else (heads, length, source_length)
            if batched:
                expected = (batch,) + expected
            check_grad_output("MultiheadAttention", grad_attn_weights, expected, name="grad_attn_weights",
                              what="the attention weights' shape")

        grad_context = None
        if grad_attn_output is not None:
            grad_merged = self.out_proj.backward(grad_attn_output.reshape(-1, E))
            grad_context = self._to_heads(grad_merged.reshape(query_shape), seq_first)

        grad_weights = None
        if grad_attn_weights is not None:
            grad_weights = grad_attn_weights if batched else grad_attn_weights[None]
            if cache["average"]:  # the mean over heads spreads the gradient evenly
                grad_weights = grad_weights[:, None] * np.asarray(1.0 / heads, dtype=self.dtype)
            if dropout_mask is not None:  # torch returns the dropped-out weights
                grad_weights = grad_weights * dropout_mask

        grad_q, grad_k, grad_v = scaled_dot_product_attention_backward(
            grad_context, q_heads, k_heads, v_heads, weights, grad_weights=grad_weights, dropout_mask=dropout_mask
        )
        sources = cache["sources"]
        if self.bias_k is not None:  # the appended key and value are the same for every batch entry
            self.bias_k.add_to_grad(grad_k[:, :, sources].sum(axis=0).reshape(1, 1, E))
            self.bias_v.add_to_grad(grad_v[:, :, sources].sum(axis=0).reshape(1, 1, E))
        grad_k, grad_v = grad_k[:, :, :sources], grad_v[:, :, :sources]
        return self._input_projection_backward(grad_q, grad_k, grad_v, (query_shape, key_shape, value_shape),
                                               seq_first, batched)

    def _input_projection_backward(self, grad_q, grad_k, grad_v, input_shapes, seq_first, batched):
        """Through [Q K V] = x W_inᵀ + b_in: accumulate dW_in, db_in; return the three input gradients."""
        E = self.embed_dim
        query_shape = input_shapes[0]
        inputs_2d = self._cache["inputs_2d"]
        if len(inputs_2d) == 1:  # self-attention: one (…, 3E) gradient and one GEMM for dW_in
            grad_projected = np.empty(query_shape[:-1] + (3 * E,), dtype=self.dtype)
            for index, grad in enumerate((grad_q, grad_k, grad_v)):
                self._heads_into(grad_projected[..., index * E:(index + 1) * E], grad, seq_first)
            grad_2d = grad_projected.reshape(-1, 3 * E)
            self.in_proj_weight.add_to_grad(grad_2d.T @ inputs_2d[0])
            if self.in_proj_bias is not None:
                self.in_proj_bias.add_to_grad(column_sums(grad_2d))
            grads_2d = [grad_2d[:, index * E:(index + 1) * E] for index in range(3)]
            shapes = (query_shape,) * 3
        else:
            grads_2d, shapes = [], input_shapes
            for index, (grad, shape, x_2d) in enumerate(zip((grad_q, grad_k, grad_v), shapes, inputs_2d)):
                grad_projected = np.empty(shape[:-1] + (E,), dtype=self.dtype)
                self._heads_into(grad_projected, grad, seq_first)
                grad_2d = grad_projected.reshape(-1, E)
                weight, rows = self._projection(index)
                if weight.requires_grad:
                    weight.grad[rows] += grad_2d.T @ x_2d
                if self.in_proj_bias is not None and self.in_proj_bias.requires_grad:
                    self.in_proj_bias.grad[index * E:(index + 1) * E] += column_sums(grad_2d)
                grads_2d.append(grad_2d)
        grads = []
        for index, (grad_2d, shape) in enumerate(zip(grads_2d, shapes)):
            weight, rows = self._projection(index)
            grad_input = (grad_2d @ weight.data[rows]).reshape(shape)
            grads.append(grad_input if batched else grad_input[0])
        return tuple(grads)

    def extra_repr(self) -> str:
        # torch's repr shows only out_proj; this one lists the arguments, in the constructor's order
        options = "" if self.in_proj_bias is not None else ", bias=False"
        options += ", add_bias_kv=True" if self.bias_k is not None else ""
        options += ", add_zero_attn=True" if self.add_zero_attn else ""
        options += "" if self._qkv_same_embed_dim else f", kdim={self.kdim}, vdim={self.vdim}"
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}{options}, "
                f"batch_first={self.batch_first}")
