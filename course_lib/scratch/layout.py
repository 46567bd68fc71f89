"""Memory layout of image batches: NCHW, NHWC ("channels last") or pixel-major.

Every scratch layer takes and returns arrays of shape (N, C, H, W), as torch does.  How
those numbers lie in memory is a separate choice: NCHW keeps each channel's image
together, NHWC keeps the C channels of one pixel together, and *pixel-major* (memory
order H, W, N, C) keeps one pixel of every image of the batch together.  A convolution
computed as one matrix product produces its output pixel-major (one GEMM row per output
pixel and image, the channels along the row); then moving by one pixel, as pooling
windows and the next im2col do, moves by one whole block of N·C numbers, so those layers
read long contiguous runs instead of C numbers at a time.  ReLU and pooling allocate their
results in the layout of their input (``empty_like_layout``), so the layout flows through.
torch calls the NHWC idea ``torch.channels_last``; layouts change speed, never values.
"""
from __future__ import annotations

import numpy as np


def channels_last(x: np.ndarray) -> bool:
    """True when the (N, C, H, W) array x stores the channels of a pixel next to each other.

    One channel is stored the same either way (NumPy may then report any stride for C, e.g.
    after fancy indexing): we call it NCHW, whose image rows are the long contiguous runs.
    """
    return x.ndim == 4 and x.shape[1] > 1 and abs(x.strides[1]) <= min(abs(x.strides[2]), abs(x.strides[3]))


def memory_order(x: np.ndarray) -> tuple:
    """x's axes from the outermost in memory (largest stride) to the innermost."""
    return tuple(sorted(range(x.ndim), key=lambda axis: (-abs(x.strides[axis]), axis)))


def empty_like_layout(shape, dtype, like: np.ndarray) -> np.ndarray:
    """An uninitialised array of ``shape`` whose axes lie in memory in the order of ``like``'s
    (same number of axes; the sizes may differ, e.g. a pooling input's shape from its output)."""
    order = memory_order(like)
    return np.empty([shape[axis] for axis in order], dtype=dtype).transpose(np.argsort(order))


def pixel_major(x: np.ndarray) -> np.ndarray:
    """The same (N, C, H, W) values stored pixel-major (memory order H, W, N, C); x itself if it is."""
    if x.transpose(2, 3, 0, 1).flags.c_contiguous:
        return x
    return np.ascontiguousarray(x.transpose(2, 3, 0, 1)).transpose(2, 3, 0, 1)
