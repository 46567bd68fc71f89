"""Sums along the rows or down the columns of a matrix, as matrix products; row maxima (``row_maxima``).

NumPy runs ``np.sum(x, axis=-1)`` and ``np.mean`` on one thread with a short inner loop per row,
and sums over an outer axis one row after another.  Multiplying by a vector of ones (or of 1/D)
hands the same sums to BLAS, which vectorises them and uses both cores: on a (2048, 512) float32
array, row means 200 → 30 µs, column sums 98 → 50 µs, and the row-by-row dot products
Σ_j a_ij b_ij (a stack of (1 × D)·(D × 1) products) 350 → 105 µs — without writing the product
a ⊙ b (numpy 2.4.6, OpenBLAS 0.3.31, 2 threads, 2026-12-05).

The price is accuracy on long rows.  BLAS adds each row in a few SIMD lanes, one number after
another, so in float32 the rounding error grows with the row's length where NumPy's pairwise
sum (and torch's) grows with its logarithm.  Measured on rows of one repeated value 0.1, the
worst case (numpy 2.4.6, OpenBLAS 0.3.31, 2026-12-06), relative error of the float32 sum:
676 numbers 4.9·10⁻⁷ (NumPy 1.9·10⁻⁷), 43,264 (BatchNorm2d's rows at batch 64 on 26 × 26)
3.6·10⁻⁶ (1.9·10⁻⁷), and 1.5·10⁻⁴ for a single row of 10⁶ (6.3·10⁻⁸); ``row_dots`` of that
43,264-long row with itself 8.8·10⁻⁶.  On random values of both signs or of varied size the
errors stay within a few 10⁻⁷.  In float64 (the parity tests) the same cases stay below 3·10⁻¹³.
"""
from __future__ import annotations

import numpy as np

# row_maxima folds rows of at most _FOLD_WIDTH numbers, in matrices of at least _FOLD_ROWS rows
_FOLD_WIDTH, _FOLD_ROWS, _COLUMNS_LEFT = 64, 256, 16


def row_means(rows: np.ndarray) -> np.ndarray:
    """mean_j rows_ij for each row i of a matrix (R, D), shape (R, 1)."""
    return np.matmul(rows, np.full(rows.shape[1], 1 / max(rows.shape[1], 1), dtype=rows.dtype))[:, None]


def row_sums(rows: np.ndarray) -> np.ndarray:
    """Σ_j rows_ij for each row i of a matrix (R, D), shape (R, 1)."""
    return np.matmul(rows, np.ones(rows.shape[1], dtype=rows.dtype))[:, None]


def row_dots(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_j a_ij · b_ij for each row i of two matrices (R, D), shape (R, 1)."""
    return np.matmul(a[:, None, :], b[:, :, None])[:, 0]


def row_dot_means(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """mean_j a_ij · b_ij for each row i of two matrices (R, D), shape (R, 1): ``row_dots`` / D."""
    dots = row_dots(a, b)
    dots /= max(a.shape[1], 1)
    return dots


def column_sums(rows: np.ndarray) -> np.ndarray:
    """Σ_i rows_ij over the rows of a matrix (R, D), shape (D,)."""
    return np.matmul(np.ones(rows.shape[0], dtype=rows.dtype), rows)


def row_maxima(rows: np.ndarray) -> np.ndarray:
    """max_j rows_ij for each row i of a matrix (R, D), shape (R, 1); NaN in a row gives NaN.

    ``np.max(rows, axis=1)`` reduces each row in a call of its own, which costs about 100 ns
    a row whatever its length: on (8192, 64) float32 (the attention scores of 128 heads and
    sequences of 64) 0.87 ms, where the maximum of all the numbers at once takes 0.09.  Short
    rows are instead folded in halves — the maximum of the left and right half of every row at
    once — down to 16 columns, and then those columns are compared one at a time down the rows
    (each comparison one call over all R rows): 0.46 ms on (8192, 64), 0.04 instead of 0.50 on
    (8192, 10).  From about 100 numbers a row, and for a few hundred rows or fewer, ``np.max``
    is as fast or faster, and is used (numpy 2.4.6, one thread, 2026-12-07).  A maximum is
    exact whatever the order of comparisons, and ``np.maximum`` propagates NaN as ``np.max``
    does, so the values are ``np.max``'s (a NaN's sign or payload aside).
    """
    count, width = rows.shape
    if width > _FOLD_WIDTH or count < _FOLD_ROWS or width == 0:
        return rows.max(axis=1, keepdims=True)  # the method: np.max's Python dispatch costs µs
    return _folded_row_maxima(rows)


def _folded_row_maxima(rows: np.ndarray) -> np.ndarray:
    """``row_maxima`` of a matrix with at least one column: halves folded down to 16 columns, then
    the columns one at a time."""
    maxima = rows
    while maxima.shape[1] > _COLUMNS_LEFT:
        half = maxima.shape[1] // 2
        folded = np.maximum(maxima[:, :half], maxima[:, half:2 * half])
        if maxima.shape[1] % 2:  # an odd width's last column joins the first
            np.maximum(folded[:, :1], maxima[:, -1:], out=folded[:, :1])
        maxima = folded
    result = maxima[:, :1].copy()
    for column in range(1, maxima.shape[1]):
        np.maximum(result, maxima[:, column:column + 1], out=result)
    return result
