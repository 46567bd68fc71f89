"""Memory layout of image batches: NCHW or NHWC ("channels last").

Every scratch layer takes and returns arrays of shape (N, C, H, W), as torch does.  How
those numbers lie in memory is a separate choice: NCHW keeps each channel's image
together, NHWC keeps the C channels of one pixel together.  A convolution computed as
one matrix product produces its output channels last, and the layers after it (ReLU,
pooling, the next convolution) run fastest when they keep that layout, so they allocate
their results in the layout of their input.  torch calls the same idea
``torch.channels_last``; it changes speed, never values.
"""
from __future__ import annotations

import numpy as np


def channels_last(x: np.ndarray) -> bool:
    """True when the (N, C, H, W) array x stores the channels of a pixel next to each other.

    One channel is stored the same either way (NumPy may then report any stride for C, e.g.
    after fancy indexing): we call it NCHW, whose image rows are the long contiguous runs.
    """
    return x.ndim == 4 and x.shape[1] > 1 and abs(x.strides[1]) <= min(abs(x.strides[2]), abs(x.strides[3]))


def empty_nchw(shape, dtype, channels_last: bool) -> np.ndarray:
    """An uninitialised (N, C, H, W) array stored NHWC when ``channels_last``, else NCHW."""
    if not channels_last:
        return np.empty(shape, dtype=dtype)
    n, c, h, w = shape
    return np.empty((n, h, w, c), dtype=dtype).transpose(0, 3, 1, 2)


def zeros_nchw(shape, dtype, channels_last: bool) -> np.ndarray:
    """Like ``empty_nchw``, filled with zeros."""
    out = empty_nchw(shape, dtype, channels_last)
    out[...] = 0
    return out
