"""Memory layout of image batches: NCHW, NHWC ("channels last"), pixel-major or batch-innermost.

Every scratch layer takes and returns arrays of shape (N, C, H, W), as torch does.  How
those numbers lie in memory is a separate choice: NCHW keeps each channel's image
together, NHWC keeps the C channels of one pixel together, *pixel-major* (memory order
H, W, N, C) keeps one pixel of every image of the batch together, and *batch-innermost*
(memory order C, H, W, N — how cuda-convnet stored activations) keeps one pixel of one
channel of every image together.  A convolution computed as the GEMM W_mat · X_col, with
X_col's columns ordered (i, j, n), produces its output batch-innermost; then a row of the
next layer's X_col (one channel, one kernel offset, every output pixel and image) is made
of runs of W_out·N neighbouring numbers, and its col2im adds runs as long.  ReLU and
pooling allocate their results in the layout of their input (``empty_like_layout``), so
the layout flows from one convolution to the next.  torch calls the NHWC idea
``torch.channels_last``; layouts change speed, never values.
"""
from __future__ import annotations

import numpy as np


def memory_order(x: np.ndarray) -> tuple:
    """x's axes from the outermost in memory (largest stride) to the innermost."""
    return tuple(sorted(range(x.ndim), key=lambda axis: (-abs(x.strides[axis]), axis)))


def empty_like_layout(shape, dtype, like: np.ndarray) -> np.ndarray:
    """An uninitialised array of ``shape`` whose axes lie in memory in the order of ``like``'s
    (same number of axes; the sizes may differ, e.g. a pooling input's shape from its output)."""
    order = memory_order(like)
    return np.empty([shape[axis] for axis in order], dtype=dtype).transpose(np.argsort(order))


def batch_innermost(x: np.ndarray) -> np.ndarray:
    """The same (N, C, H, W) values stored batch-innermost (memory order C, H, W, N); x itself if it is."""
    if x.transpose(1, 2, 3, 0).flags.c_contiguous:
        return x
    stored = np.empty((x.shape[1], x.shape[2], x.shape[3], x.shape[0]), dtype=x.dtype)
    np.copyto(stored.transpose(3, 0, 1, 2), x)
    return stored.transpose(3, 0, 1, 2)
