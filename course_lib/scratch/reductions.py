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

# row_maxima compares the columns one at a time for at least _SWEEP_ROWS rows of at most _SWEEP_WIDTH
_SWEEP_WIDTH, _SWEEP_ROWS = 16, 256


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

    ``rows.max(axis=1)`` reduces each row in a call of its own, which costs tens of nanoseconds a
    row however short it is: 0.49 ms for (8192, 10) float32, where the maximum of all its numbers
    at once takes 0.005.  For many short rows (at most 16 numbers, at least 256 rows) the columns are
    instead compared one at a time, each comparison one call down all R rows: 0.045 ms for
    (8192, 10), and faster than ``max`` for such shapes in float32 and float64, from a few percent
    (256 rows of 12 to 16 float64 numbers) to 30× (8,192 rows of 2); about as fast for 65,536 rows
    of float64, whose columns no longer stay in the cache.  Wider rows would have to be folded in
    halves first, which was faster for some shapes and up to 2.4× slower for others (odd widths,
    arrays larger than the cache, float64; numpy 2.4.6, one thread, 2026-12-07), so they are left
    to ``max``.  A maximum is exact whatever the order of the comparisons, and ``np.maximum``
    propagates NaN as ``max`` does, so the values are ``max``'s (the sign of a NaN, and of a maximum
    that is a tie of +0 and −0, aside).
    """
    count, width = rows.shape
    if width > _SWEEP_WIDTH or count < _SWEEP_ROWS or width == 0:
        return rows.max(axis=1, keepdims=True)  # the method: np.max's Python dispatch costs µs
    return _column_sweep_maxima(rows)


def _column_sweep_maxima(rows: np.ndarray) -> np.ndarray:
    """``row_maxima`` of a matrix with at least one column, one column at a time."""
    result = rows[:, :1].copy()
    for column in range(1, rows.shape[1]):
        np.maximum(result, rows[:, column:column + 1], out=result)
    return result
