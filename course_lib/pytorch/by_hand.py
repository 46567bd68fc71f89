"""The algorithms ``torch.nn`` hides, written with tensor operations and autograd.

Each function takes its weights as plain tensors laid out exactly as the matching
``torch.nn`` module stores them, so a test (or a reader) can pass ``module.weight``
and check that the two agree.  Autograd does the backward pass; what is shown by
hand is the forward computation the chapter derives.  Everything runs on whatever
device the inputs live on (CPU or CUDA): no tensor is created on a fixed device.

- ``neuron``, ``linear``, ``mlp``: a = φ(w·x + b) and its stacked form (Chapter "A multilayer perceptron, from scratch and in PyTorch").
- ``conv2d_unfold``: convolution as im2col (``F.unfold``) + one matrix product (Chapter "Convolutional networks").
- ``rnn_cell``, ``lstm_cell``: one recurrent step with every gate written out (Chapter "Recurrent networks").
- ``scaled_dot_product_attention``, ``multi_head_attention``: softmax(QKᵀ/√d_k + M)·V and its
  multi-head form with the packed in-projection of ``nn.MultiheadAttention`` (Chapter "Attention and Transformers").
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

Tensor = torch.Tensor
IntPair = Union[int, Tuple[int, int]]


# --- neurons and multilayer perceptrons --------------------------------------------------------
def neuron(x: Tensor, weight: Tensor, bias: Tensor, activation: Callable[[Tensor], Tensor] = torch.sigmoid) -> Tensor:
    """One neuron: a = φ(Σ_j w_j x_j + b) for a batch x of shape (N, d) and w of shape (d,)."""
    if weight.ndim != 1 or x.shape[-1] != weight.shape[0]:
        raise ValueError(f"neuron expected x of shape (N, d) and weight of shape (d,), "
                         f"got x {tuple(x.shape)} and weight {tuple(weight.shape)}")
    return activation((x * weight).sum(dim=-1) + bias)


def linear(x: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """z = x Wᵀ + b with W of shape (out_features, in_features), as ``nn.Linear`` stores it."""
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear expected input of shape (*, in_features={weight.shape[1]}), got {tuple(x.shape)}")
    out = x @ weight.T
    return out if bias is None else out + bias


def mlp(
    x: Tensor,
    weights: Sequence[Tensor],
    biases: Sequence[Tensor],
    activation: Callable[[Tensor], Tensor] = torch.relu,
) -> Tensor:
    """a⁰ = x, aˡ = φ(aˡ⁻¹ Wˡᵀ + bˡ) for the hidden layers, no φ after the last (logits)."""
    if len(weights) != len(biases) or not weights:
        raise ValueError(f"mlp needs one bias per weight, got {len(weights)} weights and {len(biases)} biases")
    for index, (weight, bias) in enumerate(zip(weights, biases)):
        x = linear(x, weight, bias)
        if index < len(weights) - 1:
            x = activation(x)
    return x


def init_mlp(sizes: Sequence[int], generator: Optional[torch.Generator] = None, device=None, dtype=None):
    """Weights and biases for ``mlp``: U(-1/√fan_in, 1/√fan_in) like ``nn.Linear``, with requires_grad.

    They are drawn on the CPU and then moved to ``device``, so one seed gives the same weights on
    every device; ``generator`` is therefore a CPU generator (torch refuses a CUDA one here)."""
    weights, biases = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / math.sqrt(fan_in)
        weight = (torch.rand(fan_out, fan_in, generator=generator, dtype=dtype) * 2 - 1) * bound
        bias = (torch.rand(fan_out, generator=generator, dtype=dtype) * 2 - 1) * bound
        weights.append(weight.to(device).requires_grad_())
        biases.append(bias.to(device).requires_grad_())
    return weights, biases


# --- convolution as a matrix product ------------------------------------------------------------
def _pair(value: IntPair, name: str, smallest: int) -> Tuple[int, int]:
    if isinstance(value, numbers.Integral):
        pair = (value, value)
    else:
        pair = tuple(value) if isinstance(value, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(isinstance(v, numbers.Integral) and v >= smallest for v in pair):
        hint = "; write the padding out, e.g. padding=1 for a 3×3 kernel" if isinstance(value, str) else ""
        raise ValueError(f"conv2d_unfold: {name} must be an int or a pair of ints, each >= {smallest}, "
                         f"got {value!r}{hint}")
    return int(pair[0]), int(pair[1])


def conv2d_unfold(
    x: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> Tensor:
    """2-D cross-correlation Y[n, o] = Σ_c W[o, c] ⋆ X[n, c] + b[o] via im2col.

    ``F.unfold`` copies every receptive field into a column: (N, C·kh·kw, L) with L = H_out·W_out.
    The convolution is then one matrix product of the flattened kernels (C_out, C·kh·kw)
    with those columns.
    """
    if x.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"conv2d_unfold expected input of shape (N, C={weight.shape[1]}, H, W), got {tuple(x.shape)}"
        )
    stride, padding, dilation = _pair(stride, "stride", 1), _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    out_channels, _, kernel_h, kernel_w = weight.shape
    height, width = x.shape[2:]
    out_h = (height + 2 * padding[0] - dilation[0] * (kernel_h - 1) - 1) // stride[0] + 1
    out_w = (width + 2 * padding[1] - dilation[1] * (kernel_w - 1) - 1) // stride[1] + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"conv2d_unfold: a {kernel_h}×{kernel_w} kernel does not fit input {tuple(x.shape)}")
    columns = F.unfold(x, (kernel_h, kernel_w), dilation=dilation, padding=padding, stride=stride)
    out = weight.reshape(out_channels, -1) @ columns  # (C_out, C·kh·kw) @ (N, C·kh·kw, L) -> (N, C_out, L)
    if bias is not None:
        out = out + bias.reshape(1, out_channels, 1)
    return out.reshape(x.shape[0], out_channels, out_h, out_w)


# --- recurrent cells ---------------------------------------------------------------------------------
def rnn_cell(x: Tensor, h: Tensor, weight_ih: Tensor, weight_hh: Tensor, bias_ih: Tensor, bias_hh: Tensor) -> Tensor:
    """Elman step: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)."""
    return torch.tanh(linear(x, weight_ih, bias_ih) + linear(h, weight_hh, bias_hh))


def lstm_cell(
    x: Tensor,
    state: Tuple[Tensor, Tensor],
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Optional[Tensor] = None,
    bias_hh: Optional[Tensor] = None,
) -> Tuple[Tensor, Tensor]:
    """One LSTM step with the gates written out (torch's row order in the weights: i, f, g, o).

    i = σ(x W_iiᵀ + h W_hiᵀ + b_i)   input gate      f = σ(…)  forget gate
    g = tanh(x W_igᵀ + h W_hgᵀ + b_g) candidate      o = σ(…)  output gate
    c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c')
    """
    h, c = state
    hidden = h.shape[-1]
    if weight_ih.shape[0] != 4 * hidden:
        raise ValueError(f"lstm_cell expected weight_ih of shape (4·hidden={4 * hidden}, input), got {tuple(weight_ih.shape)}")
    # One GEMM per input for all four gates, then split (the rows are stacked i, f, g, o).
    gates = linear(x, weight_ih, bias_ih) + linear(h, weight_hh, bias_hh)
    input_pre, forget_pre, candidate_pre, output_pre = gates.split(hidden, dim=-1)
    input_gate = torch.sigmoid(input_pre)
    forget_gate = torch.sigmoid(forget_pre)
    candidate = torch.tanh(candidate_pre)
    output_gate = torch.sigmoid(output_pre)
    c_next = forget_gate * c + input_gate * candidate
    h_next = output_gate * torch.tanh(c_next)
    return h_next, c_next


# --- attention -----------------------------------------------------------------------------------------
def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Optional[Tensor] = None,
    is_causal: bool = False,
    return_weights: bool = False,
):
    """softmax(Q Kᵀ / √d_k + M) V over the last two dimensions (…, L, d_k), (…, S, d_k), (…, S, d_v).

    Mask convention of ``F.scaled_dot_product_attention``: a boolean ``attn_mask`` is True where
    attention IS allowed; a float mask is added to the scores.  ``is_causal`` lets position i see
    only positions j ≤ i.  A row whose positions are all masked gives NaN here (a softmax over −∞ only),
    as in ``nn.MultiheadAttention``; ``F.scaled_dot_product_attention`` returns zeros for such a row.
    """
    d_k = query.shape[-1]
    if key.shape[-1] != d_k:
        raise ValueError(f"query and key need the same last dimension d_k, got {tuple(query.shape)} and {tuple(key.shape)}")
    scores = query @ key.transpose(-2, -1) / math.sqrt(d_k)
    length, source = scores.shape[-2:]
    if is_causal:
        allowed = torch.ones(length, source, dtype=torch.bool, device=scores.device).tril()
        scores = scores.masked_fill(~allowed, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        else:
            scores = scores + attn_mask
    weights = torch.softmax(scores, dim=-1)
    out = weights @ value
    return (out, weights) if return_weights else out


def multi_head_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    num_heads: int,
    in_proj_weight: Tensor,
    in_proj_bias: Optional[Tensor],
    out_proj_weight: Tensor,
    out_proj_bias: Optional[Tensor],
    key_padding_mask: Optional[Tensor] = None,
    attn_mask: Optional[Tensor] = None,
    need_weights: bool = True,
    average_attn_weights: bool = True,
):
    """``nn.MultiheadAttention`` (batch_first, same embed dim for q, k, v) from tensor operations.

    Q = q W_qᵀ + b_q, K = k W_kᵀ + b_k, V = v W_vᵀ + b_v with W_q, W_k, W_v the three row blocks
    of ``in_proj_weight``; each is split into h heads of size d/h, attention runs per head, the
    heads are concatenated and projected by ``out_proj``.

    Mask convention of ``nn.MultiheadAttention`` — the OPPOSITE of ``F.scaled_dot_product_attention``:
    boolean masks are True where attention is NOT allowed.  ``key_padding_mask`` (N, S) hides keys
    (padding); ``attn_mask`` is (L, S) or (N·h, L, S).  Float masks are added to the scores.
    Returns ``(output (N, L, d), weights)`` where weights are averaged over heads (N, L, S), or
    per head (N, h, L, S) with ``average_attn_weights=False``, or None without ``need_weights``.
    """
    if query.ndim != 3 or key.ndim != 3 or value.ndim != 3:
        raise ValueError(f"multi_head_attention expected batched inputs (N, L, E), got query {tuple(query.shape)}, "
                         f"key {tuple(key.shape)} and value {tuple(value.shape)} (for one sequence, "
                         "x.unsqueeze(0) adds the batch dimension)")
    for name, mask in (("attn_mask", attn_mask), ("key_padding_mask", key_padding_mask)):
        if mask is not None and not (mask.dtype == torch.bool or mask.is_floating_point()):
            raise ValueError(f"multi_head_attention: {name} must be boolean (True = not allowed) or floating "
                             f"(added to the scores), got {mask.dtype}: an integer 0/1 mask would be added "
                             "to the scores and mask nothing")
    batch, length, embed_dim = query.shape
    source = key.shape[1]
    if embed_dim % num_heads:
        raise ValueError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
    head_dim = embed_dim // num_heads
    w_q, w_k, w_v = in_proj_weight.chunk(3)
    b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)

    def split_heads(x: Tensor, size: int) -> Tensor:  # (N, T, d) -> (N, h, T, d/h)
        return x.reshape(batch, size, num_heads, head_dim).transpose(1, 2)

    q = split_heads(linear(query, w_q, b_q), length)
    k = split_heads(linear(key, w_k, b_k), source)
    v = split_heads(linear(value, w_v, b_v), source)

    # Build one additive mask (N, h, L, S): −inf where attention is not allowed.
    additive = torch.zeros(batch, num_heads, length, source, dtype=q.dtype, device=q.device)
    if attn_mask is not None:
        mask = attn_mask if attn_mask.ndim == 2 else attn_mask.reshape(batch, num_heads, length, source)
        additive = additive.masked_fill(mask, float("-inf")) if mask.dtype == torch.bool else additive + mask
    if key_padding_mask is not None:
        padding = key_padding_mask.reshape(batch, 1, 1, source)
        additive = (
            additive.masked_fill(padding, float("-inf")) if padding.dtype == torch.bool else additive + padding
        )
    heads, weights = scaled_dot_product_attention(q, k, v, attn_mask=additive, return_weights=True)
    concatenated = heads.transpose(1, 2).reshape(batch, length, embed_dim)
    out = linear(concatenated, out_proj_weight, out_proj_bias)
    if not need_weights:
        return out, None
    return out, weights.mean(dim=1) if average_attn_weights else weights
