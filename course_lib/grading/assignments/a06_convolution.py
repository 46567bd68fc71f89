"""Assignment 6 — Convolution and pooling (Chapter "Convolutional networks").

Forward and backward of a 2-D convolution with stride and padding and of max pooling,
graded against ``course_lib.scratch.conv`` and ``course_lib.scratch.pooling``.
"""
from __future__ import annotations

import numpy as np

from course_lib.scratch import conv, pooling

from ..spec import Assignment, Hint, Question, matches
from ._util import args, checks, randn


def conv2d_forward(x, weight, bias, stride, padding):
    return conv.conv2d_forward(x, weight, bias, stride=stride, padding=padding)


def conv2d_backward(grad_output, x, weight, stride, padding):
    return conv.conv2d_backward(grad_output, x, weight, stride=stride, padding=padding)


def max_pool2d_forward(x, kernel_size, stride):
    return pooling.max_pool2d_forward(x, kernel_size, stride)[0]


def max_pool2d_backward(grad_output, x, kernel_size, stride):
    _, argmax = pooling.max_pool2d_forward(x, kernel_size, stride)
    return pooling.max_pool2d_backward(grad_output, argmax, x.shape, kernel_size, stride)


def _out(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


def _conv(rng, n=2, c=3, h=6, w=5, o=4, k=3, stride=1, padding=0, dtype=np.float64, backward=False):
    """``k``: the kernel size, or (kh, kw) for a kernel that is not square."""
    kh, kw = (k, k) if isinstance(k, int) else k
    x = randn(rng, n, c, h, w, dtype=dtype)
    weight = randn(rng, o, c, kh, kw, dtype=dtype, scale=0.5)
    if backward:
        grad = randn(rng, n, o, _out(h, kh, stride, padding), _out(w, kw, stride, padding), dtype=dtype)
        return args(grad, x, weight, stride, padding)
    return args(x, weight, randn(rng, o, dtype=dtype), stride, padding)


def _pool(rng, n=2, c=2, h=6, w=6, k=2, stride=2, backward=False, ties=False):
    """``ties``: small whole numbers, so that most windows hold their maximum more than once."""
    x = rng.integers(0, 3, size=(n, c, h, w)).astype(np.float64) if ties else randn(rng, n, c, h, w)
    if backward:
        return args(randn(rng, n, c, (h - k) // stride + 1, (w - k) // stride + 1), x, k, stride)
    return args(x, k, stride)


FLIP = Hint(lambda got, expected, a: matches(got, conv2d_forward(a[0], a[1][:, :, ::-1, ::-1].copy(), *a[2:])),
            "deep-learning 'convolution' is cross-correlation: do not flip the kernel")
BIAS = Hint(lambda got, expected, a: matches(got, expected - a[2].reshape(1, -1, 1, 1)),
            "add the bias of each output channel (one number per channel, to every position)")
OVERLAP = Hint(lambda got, expected, a: isinstance(got, np.ndarray) and a[-1] < a[-2],
               "windows overlap when stride < kernel_size: accumulate (+=) the gradients, do not overwrite them")

ASSIGNMENT = Assignment(
    id="a06",
    title="Convolution and pooling",
    chapter="Convolutional networks",
    notebook="a06_convolution.ipynb",
    questions=[
        Question("q1", "Convolution, forward", 3, ["conv2d_forward"], checks("conv2d_forward", conv2d_forward, [
            ("3×3 kernel, stride 1, no padding", lambda r: _conv(r), False),
            ("stride 2, padding 1", lambda r: _conv(r, stride=2, padding=1), False),
            ("a 3×2 kernel (kh ≠ kw)", lambda r: _conv(r, k=(3, 2)), False),
            ("float32 inputs, padding 1: the output stays float32", lambda r: _conv(r, n=1, c=2, h=4, w=5, o=2, k=3, padding=1,
                                                                                 dtype=np.float32), False, np.float32),
            ("hidden", lambda r: _conv(r, n=1, c=2, h=7, w=8, o=3, k=2, stride=3, padding=2), True),
            ("hidden", lambda r: _conv(r, n=3, c=1, h=5, w=5, o=2, k=5, padding=1, dtype=np.float32), True, np.float32),
            ("hidden", lambda r: _conv(r, n=2, c=2, h=6, w=7, o=3, k=(2, 4), stride=2, padding=1), True),
        ], hints=[FLIP, BIAS])),
        Question("q2", "Convolution, backward", 4, ["conv2d_backward"], checks("conv2d_backward", conv2d_backward, [
            ("3×3 kernel, stride 1, no padding", lambda r: _conv(r, backward=True), False),
            ("stride 2, padding 1", lambda r: _conv(r, stride=2, padding=1, backward=True), False),
            ("a 2×3 kernel (kh ≠ kw), padding 1", lambda r: _conv(r, k=(2, 3), padding=1, backward=True), False),
            ("hidden", lambda r: _conv(r, n=1, c=2, h=7, w=8, o=3, k=2, stride=3, padding=2, backward=True), True),
            ("hidden", lambda r: _conv(r, n=2, c=3, h=6, w=6, o=2, k=3, stride=1, padding=2, backward=True), True),
            ("hidden", lambda r: _conv(r, n=1, c=2, h=5, w=7, o=2, k=(3, 1), stride=2, backward=True), True),
        ], result_names=("grad_x", "grad_weight", "grad_bias"), float32=True)),
        Question("q3", "Max pooling, forward", 1.5, ["max_pool2d_forward"], checks("max_pool2d_forward", max_pool2d_forward, [
            ("2×2 windows, stride 2", lambda r: _pool(r), False),
            ("3 images of 1 channel: x is (N, C, H, W)", lambda r: _pool(r, n=3, c=1, h=4, w=6), False),
            ("3×3 windows, stride 2, on an 8×6 image: the last row and column of windows do not fit (floor)",
             lambda r: _pool(r, h=8, w=6, k=3, stride=2), False),
            ("hidden", lambda r: _pool(r, h=7, w=5, k=3, stride=1), True),
            ("hidden", lambda r: _pool(r, h=5, w=8, k=2, stride=3), True),
        ], float32=True)),
        Question("q4", "Max pooling, backward", 1.5, ["max_pool2d_backward"], checks("max_pool2d_backward", max_pool2d_backward, [
            ("2×2 windows, stride 2", lambda r: _pool(r, backward=True), False),
            ("3 images of 1 channel: x is (N, C, H, W)", lambda r: _pool(r, n=3, c=1, h=4, w=6, backward=True), False),
            ("overlapping 3×3 windows, stride 1: a pixel can win several windows", lambda r: _pool(r, h=5, w=5, k=3, stride=1,
                                                                                                backward=True), False),
            ("ties: only the first maximum of a window (row by row) gets its gradient",
             lambda r: _pool(r, h=4, w=6, k=2, stride=2, backward=True, ties=True), False),
            ("2×2 windows, stride 3, on a 7×6 image: inputs no window covers get no gradient",
             lambda r: _pool(r, h=7, w=6, k=2, stride=3, backward=True), False),
            ("hidden", lambda r: _pool(r, h=7, w=6, k=3, stride=1, backward=True), True),
            ("hidden", lambda r: _pool(r, h=6, w=9, k=3, stride=3, backward=True, ties=True), True),
        ], hints=[OVERLAP], float32=True)),
    ],
)
