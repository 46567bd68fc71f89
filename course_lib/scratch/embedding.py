"""Embedding lookup table (Chapter "A small Transformer", section "The model", derives its gradient).

Forward: row lookup, y[..., :] = W[i, :] for every index i in the input, which equals
one_hot(i) · W without ever building the one-hot matrix.

Backward: the one-hot view gives dL/dW = one_hot(indices)ᵀ · dL/dy, i.e. row r of
the weight gradient is the sum of the upstream gradients of every position that
looked up r.  We compute those sums by sorting the indices so that equal ones are
contiguous and summing each run in a few padded, vectorised steps
(``embedding_grad_rows``), instead of the slow unbuffered ``np.add.at``.
Indices are not differentiable: backward returns None.  The ``padding_idx`` row is
initialised to 0 and never receives a gradient.  As in torch, ``max_norm`` rescales in place,
before the lookup, every looked-up row whose ``norm_type``-norm exceeds it (the weight
itself changes: the gradient then flows through the rescaled rows, not through the
rescaling), and ``scale_grad_by_freq`` divides each row's gradient by the number of times
the batch looked it up.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from . import init
from ..checks import whole
from .module import Module, Parameter, check_device, check_dtype, check_grad_output


def embedding_grad_rows(indices: np.ndarray, grad_output: np.ndarray,
                        scale_by_count: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """The non-zero rows of dL/dW: ``(rows, sums)`` with distinct, sorted ``rows`` and
    ``sums[k]`` = Σ of grad_output over the positions whose index is ``rows[k]`` (divided by
    their number with ``scale_by_count``: torch's ``scale_grad_by_freq``).

    Sorting makes the positions of each row contiguous (a "group").  Groups are bucketed
    by size rounded up to a power of two; each bucket is one padded gather of shape
    (groups, width, D) summed over the width axis.  That is O(n·D) work in at most
    ⌊log₂ n⌋ + 1 vectorised steps, whatever the mix of rare and frequent tokens (a padding
    token can fill half the batch), and far faster than ``np.add.reduceat`` on rows.
    """
    embedding_dim = grad_output.shape[-1]
    flat_indices = indices.reshape(-1)
    flat_grad = grad_output.reshape(-1, embedding_dim)
    count_all = flat_indices.size
    if count_all == 0:
        return flat_indices, flat_grad
    order = np.argsort(flat_indices, kind="stable")
    sorted_indices = flat_indices[order]
    starts = np.flatnonzero(np.r_[True, sorted_indices[1:] != sorted_indices[:-1]])
    counts = np.diff(np.r_[starts, count_all])
    sums = np.empty((starts.size, embedding_dim), dtype=flat_grad.dtype)
    padded_grad = np.concatenate([flat_grad, np.zeros((1, embedding_dim), flat_grad.dtype)])  # last row: zeros
    order_or_pad = np.r_[order, count_all]
    width_exponent = np.ceil(np.log2(counts)).astype(np.int64)
    for exponent in np.unique(width_exponent):  # ≤ ⌊log₂ n⌋ + 1 buckets, not a loop over the batch
        groups = np.flatnonzero(width_exponent == exponent)
        offsets = np.arange(1 << int(exponent))
        positions = np.where(offsets < counts[groups, None], starts[groups, None] + offsets, count_all)
        sums[groups] = padded_grad[order_or_pad[positions]].sum(axis=1)
    if scale_by_count:
        sums /= counts[:, None].astype(sums.dtype)
    return sorted_indices[starts], sums


def embedding_backward(indices: np.ndarray, grad_output: np.ndarray, num_embeddings: int) -> np.ndarray:
    """Dense dL/dW of shape (num_embeddings, D) = one_hot(indices)ᵀ · grad_output."""
    grad_weight = np.zeros((num_embeddings, grad_output.shape[-1]), dtype=grad_output.dtype)
    rows, sums = embedding_grad_rows(indices, grad_output)
    grad_weight[rows] = sums
    return grad_weight


def embedding_renorm_(weight: np.ndarray, indices: np.ndarray, max_norm: float, norm_type: float = 2.0) -> None:
    """torch's ``embedding_renorm_``: each distinct looked-up row r with ‖W_r‖_p > max_norm is
    multiplied, in place, by max_norm / (‖W_r‖_p + 10⁻⁷)."""
    rows = np.unique(indices)
    if rows.size == 0:
        return
    norms = np.linalg.norm(weight[rows].astype(np.float64), ord=norm_type, axis=1)
    too_long = norms > max_norm
    rows, norms = rows[too_long], norms[too_long]
    weight[rows] *= (max_norm / (norms + 1e-7))[:, None].astype(weight.dtype)


class Embedding(Module):
    """``torch.nn.Embedding(num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
    norm_type=2.0, scale_grad_by_freq=False)``.

    weight: (num_embeddings, embedding_dim), initialised N(0, 1) like torch.
    Input: integer indices of any shape (*); output: (*, embedding_dim).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: Optional[int] = None,
                 max_norm: Optional[float] = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 device=None, dtype=np.float32):
        super().__init__()
        self.num_embeddings = whole("Embedding", "num_embeddings", num_embeddings)
        self.embedding_dim = whole("Embedding", "embedding_dim", embedding_dim)
        if self.num_embeddings < 1 or self.embedding_dim < 1:
            raise ValueError(
                f"Embedding needs num_embeddings ≥ 1 and embedding_dim ≥ 1, got {num_embeddings}, {embedding_dim}"
            )
        if padding_idx is not None:
            whole("Embedding", "padding_idx", padding_idx)
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"Embedding padding_idx must be within [-{self.num_embeddings}, {self.num_embeddings - 1}], "
                    f"got {padding_idx}"
                )
            padding_idx = int(padding_idx) % self.num_embeddings  # torch stores it non-negative
        self.padding_idx = padding_idx
        if max_norm is not None and not float(max_norm) >= 0:
            raise ValueError(f"Embedding max_norm must be a non-negative number or None, got {max_norm}")
        if not float(norm_type) > 0:
            raise ValueError(f"Embedding norm_type must be positive (2.0 for the Euclidean norm), got {norm_type}")
        self.max_norm = None if max_norm is None else float(max_norm)
        self.norm_type = float(norm_type)
        self.scale_grad_by_freq = bool(scale_grad_by_freq)
        self.dtype = check_dtype(dtype)
        check_device("Embedding", device)
        weight = init.normal((self.num_embeddings, self.embedding_dim), 1.0, self.dtype)
        if padding_idx is not None:
            weight[padding_idx] = 0
        self.weight = Parameter(weight)
        self._indices = None

    @classmethod
    def from_pretrained(cls, embeddings: np.ndarray, freeze: bool = True, padding_idx: Optional[int] = None,
                        max_norm: Optional[float] = None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False) -> "Embedding":
        """torch's ``Embedding.from_pretrained``: a table holding a copy of ``embeddings``
        (num_embeddings, embedding_dim), frozen unless ``freeze=False``.  As in torch, the
        ``padding_idx`` row keeps its given values (it only never receives a gradient)."""
        embeddings = np.asarray(embeddings)
        if embeddings.ndim != 2 or embeddings.dtype not in (np.float32, np.float64):
            raise ValueError(f"Embedding.from_pretrained expected a 2-D float32 or float64 array (num_embeddings, "
                             f"embedding_dim), got shape {embeddings.shape} and dtype {embeddings.dtype}")
        layer = cls(*embeddings.shape, padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                    scale_grad_by_freq=scale_grad_by_freq, dtype=embeddings.dtype)
        layer.weight.data[...] = embeddings
        layer.weight.requires_grad_(not freeze)
        return layer

    def _check_indices(self, indices) -> None:
        if not isinstance(indices, np.ndarray):
            raise ValueError(f"Embedding expected a NumPy array of integer indices, got {type(indices).__name__}")
        if not np.issubdtype(indices.dtype, np.integer):
            raise ValueError(
                f"Embedding expected integer indices (token ids), got dtype {indices.dtype.name}; "
                f"convert with indices.astype(np.int64)"
            )
        if indices.size and (indices.min() < 0 or indices.max() >= self.num_embeddings):
            bad = indices.min() if indices.min() < 0 else indices.max()
            raise ValueError(
                f"Embedding index {int(bad)} is out of range: indices must be in [0, {self.num_embeddings - 1}] "
                f"for num_embeddings={self.num_embeddings}"
            )

    def forward(self, indices: np.ndarray) -> np.ndarray:
        self._check_indices(indices)
        self._indices = indices.copy()  # a caller refilling its batch array must not move the gradient
        if self.max_norm is not None:
            embedding_renorm_(self.weight.data, indices, self.max_norm, self.norm_type)
        return self.weight.data[indices]

    def backward(self, grad_output: np.ndarray) -> None:
        if self._indices is None:
            raise RuntimeError("Embedding.backward called before forward")
        expected = self._indices.shape + (self.embedding_dim,)
        check_grad_output("Embedding", grad_output, expected)
        rows, sums = embedding_grad_rows(self._indices, grad_output, scale_by_count=self.scale_grad_by_freq)
        if self.padding_idx is not None:
            keep = rows != self.padding_idx  # the padding vector stays fixed
            rows, sums = rows[keep], sums[keep]
        # rows are distinct, so buffered fancy-index += is exact here (unlike for raw indices)
        if self.weight.requires_grad:
            self.weight.grad[rows] += sums
        return None

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += ", scale_grad_by_freq=True"
        return text
