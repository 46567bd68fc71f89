"""Assignment 8 — Attention (Chapter "Attention and Transformers").

Scaled dot-product attention with boolean masks (True = not allowed, as in
``torch.nn.MultiheadAttention``), splitting and merging heads, a causal mask and the
sinusoidal positional encoding; references from ``course_lib.scratch.attention`` and
``course_lib.scratch.positional``.
"""
from __future__ import annotations

import numpy as np

from course_lib.scratch import attention as ref
from course_lib.scratch.positional import sinusoidal_table

from ..spec import Assignment, Hint, Question, has_nonfinite, matches
from ._util import args, checks, randn


def attention(query, key, value, mask):
    return ref.scaled_dot_product_attention(query, key, value, attn_mask=mask)


def _mha(embed_dim, num_heads, dtype):
    return ref.MultiheadAttention(embed_dim, num_heads, batch_first=True, dtype=dtype)


def split_heads(x, num_heads):
    return np.ascontiguousarray(_mha(x.shape[-1], num_heads, x.dtype)._to_heads(x, seq_first=False))


def merge_heads(x):
    n, heads, length, head_dim = x.shape
    out = np.empty((n, length, heads * head_dim), dtype=x.dtype)
    _mha(heads * head_dim, heads, x.dtype)._heads_into(out, x, seq_first=False)
    return out


def causal_mask(size):
    return np.isneginf(ref.generate_square_subsequent_mask(size, dtype=np.float64))


def positional_encoding(max_len, d_model):
    return sinusoidal_table(max_len, d_model, dtype=np.float64)


def _qkv(rng, lead=(), length=4, source=5, d_k=3, d_v=2, mask=None, dtype=np.float64, scale=1.0, close_keys=False):
    """``scale``: the queries' size; at 1000 the scores reach thousands and exp(scores) overflows.
    ``close_keys``: the keys are one shared vector plus differences of about 2/``scale``, so the
    scores are large but a few units apart and the softmax is not one-hot (with independent keys,
    attending only to the best key passed; a red-team audit)."""
    query = randn(rng, *lead, length, d_k, dtype=dtype, scale=scale)
    if close_keys:
        key = (randn(rng, *lead, 1, d_k) + randn(rng, *lead, source, d_k, scale=2.0 / np.max(scale))).astype(dtype)
    else:
        key = randn(rng, *lead, source, d_k, dtype=dtype)
    value = randn(rng, *lead, source, d_v, dtype=dtype)
    if mask == "causal":
        mask = np.triu(np.ones((length, source), bool), k=1)
    elif mask == "padding":
        keep = rng.integers(1, source + 1, size=lead[0] if lead else 1)
        mask = (np.arange(source)[None, :] >= keep[:, None])[:, None, :]  # (N, 1, S): per-sequence padding
        mask = mask.reshape(len(keep), *(1,) * len(lead), source) if lead else mask[0]  # broadcasts over lead[1:] too
    return args(query, key, value, mask)


def _unscaled(query, key, value, mask):
    return ref.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=1.0)


OVERFLOW = Hint(lambda got, expected, a: has_nonfinite(got) and float(np.abs(a[0]).max()) > 100,
                "with scores in the thousands, exp overflows, or underflows to 0/0 when a maximum is taken over "
                "more than the row or before masking: subtract each row's maximum over the allowed keys (mask "
                "first, then max(axis=-1, keepdims=True)) before exponentiating; the softmax is unchanged")
SCALE = Hint(lambda got, expected, a: matches(got, _unscaled(*a)),
             "divide the scores by √d_k (the size of the last axis of query)")
MASK = Hint(lambda got, expected, a: a[3] is not None and (matches(got, attention(*a[:3], ~a[3]))
                                                           or matches(got, attention(*a[:3], None))),
            "True in the mask means 'not allowed': set those scores to −∞ before the softmax")
# NaN with a mask: 0·∞ from multiplying by the mask, or −∞ − (−∞) from a maximum or a sum taken over
# an axis where every score may be masked (the queries' axis, not the keys')
MASK_NAN = Hint(lambda got, expected, a: a[3] is not None and has_nonfinite(got),
                "with a mask, NaN comes from 0·∞ or −∞ − (−∞): set the masked scores with np.where(mask, -np.inf, "
                "scores) (multiplying by the mask gives 0·∞), and take the softmax's maximum and sum over the keys, "
                "axis=-1 (over another axis a whole slice can be masked)")

ASSIGNMENT = Assignment(
    id="a08",
    title="Attention",
    chapter="Attention and Transformers",
    notebook="a08_attention.ipynb",
    questions=[
        Question("q1", "Scaled dot-product attention", 4, ["attention"], checks("attention", attention, [
            ("4 queries, 5 keys, no mask", lambda r: _qkv(r), False),
            ("a batch of 2: any leading axes (transpose only the last two)", lambda r: _qkv(r, lead=(2,), length=3,
                                                                                             source=4), False),
            ("a causal mask", lambda r: _qkv(r, length=4, source=4, mask="causal"), False),
            ("scores in the thousands: the softmax must not overflow", lambda r: _qkv(r, scale=1000.0), False),
            ("large scores with a causal mask: the maximum over the allowed keys",
             lambda r: _qkv(r, length=4, source=4, mask="causal", scale=1000.0), False),
            ("one query far larger than the others: the maximum of each row",
             lambda r: _qkv(r, scale=np.array([[5000.0], [1.0], [1.0], [1.0]])), False),
            ("a padding mask of shape (N, 1, S), one per sequence: it broadcasts over the queries",
             lambda r: _qkv(r, lead=(3,), length=2, source=5, mask="padding"), False),
            ("leading axes (2, 3) with a mask of shape (2, 1, 1, S): it broadcasts over heads and queries",
             lambda r: _qkv(r, lead=(2, 3), length=2, source=4, mask="padding"), False),
            ("float32 inputs with a causal mask: output and weights stay float32",
             lambda r: _qkv(r, length=4, source=4, mask="causal", dtype=np.float32), False, np.float32),
            ("hidden", lambda r: _qkv(r, lead=(2, 3), length=3, source=6, d_k=4, d_v=5), True),
            ("hidden", lambda r: _qkv(r, lead=(3,), length=2, source=6, mask="padding"), True),
            ("hidden", lambda r: _qkv(r, length=5, source=5, mask="causal", dtype=np.float32), True, np.float32),
            ("hidden", lambda r: _qkv(r, lead=(2,), length=3, source=4, mask="causal", scale=800.0, close_keys=True), True),
        ], hints=[OVERFLOW, MASK, MASK_NAN, SCALE], result_names=("output", "weights"))),
        Question("q2", "Splitting and merging heads", 2, ["split_heads", "merge_heads"],
                 checks("split_heads", split_heads, [
                     ("(2, 3, 8) into 2 heads", lambda r: args(randn(r, 2, 3, 8), 2), False),
                     ("hidden", lambda r: args(randn(r, 1, 5, 12), 4), True),
                 ], float32=True) + checks("merge_heads", merge_heads, [
                     ("(2, 2, 3, 4) back to (2, 3, 8)", lambda r: args(randn(r, 2, 2, 3, 4)), False),
                     ("hidden", lambda r: args(randn(r, 3, 4, 2, 3)), True),
                 ], float32=True)),
        Question("q3", "A causal mask", 1, ["causal_mask"], checks("causal_mask", causal_mask, [
            # larger than shown: a smaller mask is the shown one cropped (an audit)
            ("size 4", lambda r: args(4), False, np.float64, {"twin": lambda r: args(int(r.integers(5, 10)))}),
            ("hidden", lambda r: args(int(r.integers(5, 65))), True),
        ])),
        Question("q4", "Sinusoidal positional encoding", 2, ["positional_encoding"], checks("positional_encoding", positional_encoding, [
            # twins: the second call still asks for fewer positions and a wider table than the first, and
            # more positions than shown (fewer would be the shown table's first rows: an audit)
            ("10 positions, d_model 6", lambda r: args(10, 6), False, np.float64,
             {"twin": lambda r: args(int(r.integers(11, 17)), int(r.choice([4, 6])))}),
            ("4 positions, d_model 8 (after the call above)", lambda r: args(4, 8), False, np.float64,
             {"twin": lambda r: args(int(r.integers(5, 10)), int(r.choice([8, 10])))}),
            ("hidden", lambda r: args(int(r.integers(20, 60)), int(2 * r.integers(4, 16))), True),
        ])),
    ],
)
