"""Max and average pooling (Chapter "Convolutional networks", section "Pooling").

For a window of size kh×kw, stride s, dilation d and padding p, output pixel (i, j) sees
x_pad[s·i + d·a, s·j + d·b] for a < kh, b < kw, and

    max pooling:      y[i, j] = max_{a,b} x_pad[s·i + d·a, s·j + d·b]
    average pooling:  y[i, j] = (1 / |window|) Σ_{a,b} x_pad[s·i + a, s·j + b]

with H_out = ⌊(H + 2p − d·(kh − 1) − 1) / s⌋ + 1 (⌈·⌉ with ``ceil_mode``, as in torch).

Backward: max pooling routes dL/dy[i, j] to the one input that was the maximum
(the *first* maximum in row-major window order when there are ties, like torch);
average pooling spreads dL/dy[i, j] / |window| over the whole window.  Overlapping
windows (s < k) add their contributions.  The loops below run over the kh·kw kernel
offsets, each step one strided slice of the whole batch, in blocks of about a megabyte
(``_cache_blocks``), however many images or channels a block holds.  Results keep the memory
layout of the arrays they come from (see layout.py).
"""
from __future__ import annotations

import functools
from typing import List, Optional, Tuple, Union

import numpy as np

from .layout import empty_like_layout, memory_order
from .module import Module, check_grad_output

IntPair = Union[int, Tuple[int, int]]


def _pair(value: IntPair, name: str) -> Tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        return (int(value), int(value))
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def pool_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False) -> int:
    """torch's rule: floor (or ceil) of (size + 2p − d·(k − 1) − 1) / s, plus one.

    In ceil mode the last window must still start inside the input or its left padding.
    """
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


class _PoolGeometry:
    """Sizes, padding and the kh·kw strided slices shared by forward and backward."""

    def __init__(self, layer, x_shape, kernel_size, stride, padding, dilation, ceil_mode):
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
        n, c, h, w = x_shape
        self.out_h = pool_output_size(h, kh, sh, ph, dh, ceil_mode)
        self.out_w = pool_output_size(w, kw, sw, pw, dw, ceil_mode)
        if self.out_h < 1 or self.out_w < 1:
            raise ValueError(
                f"{layer}: input {h}×{w} is too small for kernel {kernel_size} with padding {padding} "
                f"(the output would be {self.out_h}×{self.out_w})"
            )
        # the padded array must hold every window (ceil mode can reach past the right padding)
        self.padded_h = max(h + 2 * ph, (self.out_h - 1) * sh + dh * (kh - 1) + 1)
        self.padded_w = max(w + 2 * pw, (self.out_w - 1) * sw + dw * (kw - 1) + 1)
        self.x_shape, self.pad = x_shape, (ph, pw)
        self.kernel_size, self.stride, self.dilation = (kh, kw), (sh, sw), (dh, dw)
        self.overlapping = sh < dh * (kh - 1) + 1 or sw < dw * (kw - 1) + 1
        self.slices: List[Tuple[slice, slice]] = [
            (
                slice(dh * a, dh * a + sh * (self.out_h - 1) + 1, sh),
                slice(dw * b, dw * b + sw * (self.out_w - 1) + 1, sw),
            )
            for a in range(kh)
            for b in range(kw)
        ]  # row-major order: the first slice that attains the maximum wins ties

    def first_real_offsets(self) -> np.ndarray:
        """(out_h, out_w): the kernel offset of each window's first entry inside the input, not the padding."""
        (kh, kw), (sh, sw), (dh, dw), (ph, pw) = self.kernel_size, self.stride, self.dilation, self.pad
        _, _, h, w = self.x_shape
        rows = np.arange(self.out_h)[:, None] * sh + dh * np.arange(kh) - ph      # (out_h, kh) input rows
        cols = np.arange(self.out_w)[:, None] * sw + dw * np.arange(kw) - pw      # (out_w, kw)
        first_row = np.argmax((rows >= 0) & (rows < h), axis=1)                    # a window always has one
        first_col = np.argmax((cols >= 0) & (cols < w), axis=1)
        return first_row[:, None] * kw + first_col[None, :]

    @property
    def tiles_exactly(self) -> bool:
        """Windows that neither overlap nor leave gaps, inside or between them (e.g. 2×2, stride 2)."""
        return self.dilation == (1, 1) and self.stride == self.kernel_size

    @property
    def needs_padding(self) -> bool:
        n, c, h, w = self.x_shape
        return (self.padded_h, self.padded_w) != (h, w)

    def padded(self, x: np.ndarray, fill: float) -> np.ndarray:
        if not self.needs_padding:
            return x
        n, c, h, w = x.shape
        ph, pw = self.pad
        out = empty_like_layout((n, c, self.padded_h, self.padded_w), x.dtype, x)
        out[...] = fill
        out[:, :, ph : ph + h, pw : pw + w] = x
        return out

    def empty_gradient(self, dtype, like: np.ndarray) -> np.ndarray:
        """The padded input's gradient, stored in ``like``'s memory layout, for backward to fill.

        Windows that tile the input write every pixel they cover exactly once, so only what
        they leave uncovered (a last odd row or column) is zeroed; otherwise (gaps or overlaps,
        where contributions add up) all of it is.
        """
        n, c = self.x_shape[:2]
        grad_padded = empty_like_layout((n, c, self.padded_h, self.padded_w), dtype, like)
        if self.tiles_exactly:
            grad_padded[:, :, self.out_h * self.stride[0]:] = 0
            grad_padded[:, :, :, self.out_w * self.stride[1]:] = 0
        else:
            grad_padded[...] = 0
        return grad_padded

    def crop(self, grad_padded: np.ndarray) -> np.ndarray:
        if not self.needs_padding:
            return grad_padded
        n, c, h, w = self.x_shape
        ph, pw = self.pad
        return grad_padded[:, :, ph : ph + h, pw : pw + w]


def _check_input(layer: str, x) -> None:
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{layer} expected a NumPy array of shape (N, C, H, W), got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{layer} expected input of shape (N, C, H, W), got {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(f"{layer} expected a float32 or float64 input, got {x.dtype.name}")


def _check_padding(layer: str, padding, kernel_size) -> None:
    for p, k in zip(padding, kernel_size):
        if p < 0 or 2 * p > k:  # torch's rule (it ignores dilation here)
            raise ValueError(
                f"{layer}: padding {padding} must be between 0 and half the kernel size {kernel_size} (as in torch)"
            )


def max_pool2d_forward(
    x: np.ndarray,
    kernel_size: IntPair,
    stride: Optional[IntPair] = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
) -> Tuple[np.ndarray, np.ndarray]:
    """Max pooling of x (N, C, H, W); returns (y, argmax) where argmax[n, c, i, j] is the
    row-major kernel offset a·kw + b of the winning input (the first one on ties).

    Padding counts as −∞, so it never wins (where all of a window's real entries are −∞, the first
    of them does).  NaN wins as in torch (it propagates).
    """
    kernel_size, padding, dilation = _pair(kernel_size, "kernel_size"), _pair(padding, "padding"), _pair(dilation, "dilation")
    stride = kernel_size if stride is None else _pair(stride, "stride")
    _check_padding("MaxPool2d", padding, kernel_size)
    geometry = _PoolGeometry("MaxPool2d", x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    padded = geometry.padded(x, -np.inf)
    out_shape = (x.shape[0], x.shape[1], geometry.out_h, geometry.out_w)
    out = empty_like_layout(out_shape, x.dtype, padded)  # x's memory layout (see layout.py)
    argmax = empty_like_layout(out_shape, np.uint8 if len(geometry.slices) <= 256 else np.int32, padded)
    for block in _cache_blocks(padded):
        windows = [padded[block][:, :, rows, cols] for rows, cols in geometry.slices]
        if kernel_size == (2, 2):
            _max_of_four(*windows, out=out[block], argmax=argmax[block])
        else:
            _running_max(windows, out[block], argmax[block])
    if out.size and np.isnan(np.max(out)):  # np.max propagates NaN: one read, no boolean array
        # rare: torch lets a NaN win (and the last NaN of a window), so redo those windows its way
        windows = [padded[:, :, rows, cols] for rows, cols in geometry.slices]
        np.copyto(out, windows[0])
        argmax[...] = 0
        for offset, window in enumerate(windows[1:], start=1):
            better = (window > out) | np.isnan(window)
            np.copyto(out, window, where=better)
            np.copyto(argmax, offset, where=better)
    if geometry.needs_padding and out.size:
        # rare: a window whose real entries are all −∞ ties with its −∞ padding, which may come
        # first; torch points at the window's first real entry, and so does this
        unbeaten = np.isneginf(out)
        if unbeaten.any():
            np.copyto(argmax, geometry.first_real_offsets().astype(argmax.dtype), where=unbeaten)
    return out, argmax


# Pooling makes several passes over its arrays (maxima, comparisons, the winner's offset, and
# backward one pass per kernel offset).  An array larger than the L2 cache would be streamed from
# memory again by every pass, so the work runs in blocks of about this many bytes along the
# outermost axis in memory — the channels of a batch-innermost array, the images of an NCHW one.
# Pooling never mixes images or channels, so the blocks are independent; the loop's length follows
# the array's size in bytes (6 blocks of 6 channels for the CNN's first pooling input, 64×32×26×26
# float32, 5.5 MB).  Measured there, batch-innermost: forward 1.31 → 1.03 ms, backward 1.13 → 0.98
# ms (0.5 and 2 MB blocks did no better); NCHW: 1.82 → 1.50 and 1.47 → 1.28 ms.
_BLOCK_BYTES = 1 << 20


def _cache_blocks(x: np.ndarray) -> List[tuple]:
    """Index tuples that split x (N, C, H, W) into blocks of about ``_BLOCK_BYTES`` along N or C,
    whichever lies further out in memory (the other one if that has a single entry)."""
    outer, inner = sorted((0, 1), key=lambda axis: -abs(x.strides[axis]))
    axis = outer if x.shape[outer] > 1 else inner
    entries = x.shape[axis]
    step = max(1, _BLOCK_BYTES * entries // max(x.nbytes, 1))
    return [(slice(None),) * axis + (slice(start, start + step),) for start in range(0, entries, step)]


def _running_max(windows, out: np.ndarray, argmax: np.ndarray) -> None:
    """The maximum over any number of window views, and the offset of the first one that attains it."""
    np.copyto(out, windows[0])
    argmax[...] = 0
    for offset, window in enumerate(windows[1:], start=1):
        # strictly greater keeps the earlier offset on ties; offsets only grow, so
        # max(argmax, better·offset) records the latest strict improvement
        better = window > out
        np.maximum(out, window, out=out)
        np.maximum(argmax, better * argmax.dtype.type(offset), out=argmax)


def _max_of_four(top_left, top_right, bottom_left, bottom_right, out: np.ndarray, argmax: np.ndarray) -> None:
    """A 2×2 window as a knock-out tournament: best of each row, then the better row; the
    maxima are written into ``out`` and the winners' offsets into ``argmax`` (uint8).

    Three maxima and three comparisons instead of a running maximum over four offsets.
    The left (then the top) entry wins ties, i.e. the first maximum in row-major order,
    like torch; the winner's offset is 2·[bottom row won] + [right won].  "Right won" is
    read off the row's maximum — it differs from the left entry only if the right one was
    strictly larger — which reads one window view instead of two (NaN, which this gets
    wrong, is redone by the caller).
    """
    top = np.maximum(top_left, top_right)
    top_right_won = top != top_left
    bottom = np.maximum(bottom_left, bottom_right)
    bottom_right_won = bottom != bottom_left
    bottom_won = bottom > top
    np.maximum(top, bottom, out=out)
    # argmax = 2·bottom_won + (bottom_right_won if bottom_won else top_right_won), in bit
    # operations on 0/1 bytes (np.where on booleans is several times slower)
    bottom_bit, top_right_bit, bottom_right_bit = (a.view(np.uint8) for a in (bottom_won, top_right_won, bottom_right_won))
    np.bitwise_xor(top_right_bit, bottom_right_bit, out=argmax)
    argmax &= bottom_bit
    argmax ^= top_right_bit
    argmax |= bottom_bit << 1


def max_pool2d_backward(
    grad_output: np.ndarray,
    argmax: np.ndarray,
    input_shape: Tuple[int, int, int, int],
    kernel_size: IntPair,
    stride: Optional[IntPair] = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    ceil_mode: bool = False,
) -> np.ndarray:
    """dL/dx: each dL/dy[n, c, i, j] goes to the input its window's argmax points at.

    The result is stored in the input's memory layout, which argmax has kept (see layout.py).
    """
    kernel_size, padding, dilation = _pair(kernel_size, "kernel_size"), _pair(padding, "padding"), _pair(dilation, "dilation")
    stride = kernel_size if stride is None else _pair(stride, "stride")
    geometry = _PoolGeometry("MaxPool2d", input_shape, kernel_size, stride, padding, dilation, ceil_mode)
    if geometry.overlapping:
        return geometry.crop(_overlapping_max_pool_backward(grad_output, argmax, geometry))
    grad_padded = geometry.empty_gradient(grad_output.dtype, argmax)  # argmax kept the input's layout
    # multiplying by the 0/1 mask is exact for finite gradients (and much faster than np.where);
    # the sum is finite iff every entry is, unless it overflows — then np.where, which is right anyway
    finite = bool(np.isfinite(np.sum(grad_output)))
    zero = grad_output.dtype.type(0)
    for block in _cache_blocks(grad_padded):
        block_grad, block_argmax = grad_output[block], argmax[block]
        for offset, (rows, cols) in enumerate(geometry.slices):
            winners = block_argmax == offset
            target = grad_padded[block][:, :, rows, cols]
            if finite:
                np.multiply(block_grad, winners, out=target)  # disjoint windows: plain writes
            else:
                target[...] = np.where(winners, block_grad, zero)
    return geometry.crop(grad_padded)


def _overlapping_max_pool_backward(grad_output: np.ndarray, argmax: np.ndarray, geometry: "_PoolGeometry"):
    """The padded input's gradient where windows overlap (one input can win several windows, whose
    gradients add up): each window's gradient is added to its winner's place by ``np.bincount`` —
    the sums in float64, then rounded once to the gradient's dtype — one cache block at a time (see
    ``_cache_blocks``), the windows and the places both taken in the memory order of the input, so
    that the sums fill in order.  One pass per kernel offset, adding where that offset won, took
    1.6–2.6 ms on 32×16×32×32 float32 (3×3, stride 2, padding 1), this 1.2–1.4, and 41–64 ms on
    64×64×56×56 against 38–42; as fast or faster for every shape measured, NCHW or batch-innermost
    (numpy 2.4.6, 2026-12-07; a first version over the whole array at once was up to 2.8× slower
    than the old passes on batch-innermost arrays larger than the cache — an audit)."""
    grad_padded = empty_like_layout((*geometry.x_shape[:2], geometry.padded_h, geometry.padded_w),
                                    grad_output.dtype, argmax)  # argmax kept the input's layout
    order = tuple(memory_order(grad_padded))
    (kh, kw), (dh, dw) = geometry.kernel_size, geometry.dilation
    for block in _cache_blocks(grad_padded):
        target = grad_padded[block].transpose(order)  # the block's gradient, axes in memory order
        # places in a compact array of the block's shape in memory order (the block itself may be a
        # strided part of grad_padded, when the axis it splits is not the outermost in memory)
        compact = np.cumprod((1,) + target.shape[:0:-1])[::-1]
        steps = dict(zip(order, (int(step) for step in compact)))
        winner = (dh * steps[2]) * (np.arange(kh * kw) // kw) + (dw * steps[3]) * (np.arange(kh * kw) % kw)
        offsets = argmax[block].transpose(order)
        place = winner.take(offsets)  # each window's winner, relative to its window's corner
        place += _window_corners(offsets.shape, tuple(steps[axis] for axis in order), order, geometry.stride)
        sums = np.bincount(place.reshape(-1), weights=grad_output[block].transpose(order).reshape(-1),
                           minlength=target.size)
        np.copyto(target, sums.reshape(target.shape), casting="unsafe")
    return grad_padded


@functools.lru_cache(maxsize=8)
def _window_corners(shape, steps, order, stride) -> np.ndarray:
    """The memory position of each window's top-left entry, for windows stored in the axis order
    ``order`` (``shape`` and ``steps`` — elements between neighbours — given in that order, of
    the (N, C, out_h, out_w) axes); read-only and kept, since a layer sees the same shapes every step."""
    axis_steps = dict(zip(order, steps))
    scale = {0: axis_steps[0], 1: axis_steps[1], 2: stride[0] * axis_steps[2], 3: stride[1] * axis_steps[3]}
    corners = np.zeros(shape, dtype=np.intp)
    for position, axis in enumerate(order):
        index_shape = [1] * len(shape)
        index_shape[position] = shape[position]
        corners += (np.arange(shape[position]) * scale[axis]).reshape(index_shape)
    corners.flags.writeable = False
    return corners


def _avg_divisor(geometry: _PoolGeometry, kernel_size, stride, padding, count_include_pad, divisor_override, dtype):
    """Per-window divisor, shape (H_out, W_out): torch's pool_size rule, separable in rows and columns."""
    if divisor_override is not None:
        return np.asarray(divisor_override, dtype=dtype)
    n, c, h, w = geometry.x_shape
    sizes = []
    for out_size, size, k, s, p in zip((geometry.out_h, geometry.out_w), (h, w), kernel_size, stride, padding):
        start = np.arange(out_size) * s - p
        end = np.minimum(start + k, size + p)  # windows are clipped to the padded input
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, size)  # and to the real input
        sizes.append(end - start)
    return np.multiply.outer(sizes[0], sizes[1]).astype(dtype)


def avg_pool2d_forward(
    x: np.ndarray,
    kernel_size: IntPair,
    stride: Optional[IntPair] = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Optional[int] = None,
) -> np.ndarray:
    """Average pooling of x (N, C, H, W), dividing by torch's window size (see AvgPool2d).

    The result is stored in x's memory layout (see layout.py), and the work runs in blocks that
    stay in the L2 cache (``_cache_blocks``), as for max pooling.
    """
    kernel_size, padding = _pair(kernel_size, "kernel_size"), _pair(padding, "padding")
    stride = kernel_size if stride is None else _pair(stride, "stride")
    _check_padding("AvgPool2d", padding, kernel_size)
    geometry = _PoolGeometry("AvgPool2d", x.shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    divisor = _avg_divisor(geometry, kernel_size, stride, padding, count_include_pad, divisor_override, x.dtype)
    padded = geometry.padded(x, 0.0)
    total = empty_like_layout((x.shape[0], x.shape[1], geometry.out_h, geometry.out_w), x.dtype, padded)
    for block in _cache_blocks(padded):
        windows = [padded[block][:, :, rows, cols] for rows, cols in geometry.slices]
        target = total[block]
        np.copyto(target, windows[0])
        for window in windows[1:]:  # summed in row-major window order
            target += window
        target /= divisor
    return total


def avg_pool2d_backward(
    grad_output: np.ndarray,
    input_shape: Tuple[int, int, int, int],
    kernel_size: IntPair,
    stride: Optional[IntPair] = None,
    padding: IntPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Optional[int] = None,
) -> np.ndarray:
    """dL/dx: every input of a window receives dL/dy / divisor; overlaps add up.

    The result is stored in grad_output's memory layout, in cache-sized blocks.
    """
    kernel_size, padding = _pair(kernel_size, "kernel_size"), _pair(padding, "padding")
    stride = kernel_size if stride is None else _pair(stride, "stride")
    geometry = _PoolGeometry("AvgPool2d", input_shape, kernel_size, stride, padding, (1, 1), ceil_mode)
    share = empty_like_layout(grad_output.shape, grad_output.dtype, grad_output)
    np.divide(grad_output, _avg_divisor(
        geometry, kernel_size, stride, padding, count_include_pad, divisor_override, grad_output.dtype
    ), out=share)
    grad_padded = geometry.empty_gradient(grad_output.dtype, grad_output)
    for block in _cache_blocks(grad_padded):
        block_share = share[block]
        for rows, cols in geometry.slices:
            target = grad_padded[block][:, :, rows, cols]
            if geometry.tiles_exactly:
                np.copyto(target, block_share)
            else:
                target += block_share
    return geometry.crop(grad_padded)


def _as_given(kernel_size, stride, *others) -> tuple:
    """The sizes as the caller wrote them (an int stays an int), stride defaulting to kernel_size:
    what torch's repr shows."""
    return (kernel_size, kernel_size if stride is None else stride) + others


class _Pool2d(Module):
    """Shared argument handling; pooling has no parameters."""

    name = "Pool2d"

    def _check_grad(self, grad_output) -> None:
        if self._input_shape is None:
            raise RuntimeError(f"{self.name}.backward called before forward")
        check_grad_output(self.name, grad_output, self._output_shape)


class MaxPool2d(_Pool2d):
    """``torch.nn.MaxPool2d`` (stride defaults to kernel_size; padding counts as −∞).

    With ``return_indices`` the forward also returns torch's indices (flat positions
    h·W + w in each input plane) and ``backward(grad_output, grad_indices=None)``.
    """

    name = "MaxPool2d"

    def __init__(
        self,
        kernel_size: IntPair,
        stride: Optional[IntPair] = None,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        self.padding, self.dilation = _pair(padding, "padding"), _pair(dilation, "dilation")
        if min(self.kernel_size) < 1 or min(self.stride) < 1 or min(self.dilation) < 1:
            raise ValueError(
                f"MaxPool2d: kernel_size, stride and dilation must be ≥ 1, got {kernel_size!r}, {stride!r}, {dilation!r}"
            )
        _check_padding("MaxPool2d", self.padding, self.kernel_size)
        self._given = _as_given(kernel_size, stride, padding, dilation)
        self.return_indices, self.ceil_mode = bool(return_indices), bool(ceil_mode)
        self._input_shape = self._output_shape = self._argmax = None

    def _args(self):
        return self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode

    def forward(self, x: np.ndarray):
        _check_input("MaxPool2d", x)
        out, self._argmax = max_pool2d_forward(x, *self._args())
        self._input_shape, self._output_shape = x.shape, out.shape
        if not self.return_indices:
            return out
        return out, self._flat_indices()

    def _flat_indices(self) -> np.ndarray:
        """torch's indices: row·W + column of the winner in the unpadded input plane."""
        (_, kw), (sh, sw), (ph, pw), (dh, dw) = self.kernel_size, self.stride, self.padding, self.dilation
        out_h, out_w = self._output_shape[2:]
        rows = np.arange(out_h).reshape(-1, 1) * sh - ph + dh * (self._argmax // kw)
        cols = np.arange(out_w) * sw - pw + dw * (self._argmax % kw)
        return (rows * self._input_shape[3] + cols).astype(np.int64)

    def backward(self, grad_output: np.ndarray, grad_indices=None) -> np.ndarray:
        self._check_grad(grad_output)
        return max_pool2d_backward(grad_output, self._argmax, self._input_shape, *self._args())

    def extra_repr(self) -> str:
        kernel_size, stride, padding, dilation = self._given
        return (f"kernel_size={kernel_size}, stride={stride}, padding={padding}, dilation={dilation}, "
                f"ceil_mode={self.ceil_mode}")


class AvgPool2d(_Pool2d):
    """``torch.nn.AvgPool2d``: divides by the window's size clipped to the padded input (kh·kw
    except at a ``ceil_mode`` edge; ``count_include_pad``), by the number of real pixels in the
    window (``count_include_pad=False``), or by ``divisor_override`` — torch's rule."""

    name = "AvgPool2d"

    def __init__(
        self,
        kernel_size: IntPair,
        stride: Optional[IntPair] = None,
        padding: IntPair = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: Optional[int] = None,
    ):
        super().__init__()
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        self.padding = _pair(padding, "padding")
        if min(self.kernel_size) < 1 or min(self.stride) < 1:
            raise ValueError(f"AvgPool2d: kernel_size and stride must be ≥ 1, got {kernel_size!r}, {stride!r}")
        if divisor_override is not None and divisor_override == 0:
            raise ValueError("AvgPool2d: divisor_override must not be zero")
        _check_padding("AvgPool2d", self.padding, self.kernel_size)
        self._given = _as_given(kernel_size, stride, padding)
        self.ceil_mode, self.count_include_pad = bool(ceil_mode), bool(count_include_pad)
        self.divisor_override = divisor_override
        self._input_shape = self._output_shape = None

    def _args(self):
        return self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad, self.divisor_override

    def forward(self, x: np.ndarray) -> np.ndarray:
        _check_input("AvgPool2d", x)
        out = avg_pool2d_forward(x, *self._args())
        self._input_shape, self._output_shape = x.shape, out.shape
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        self._check_grad(grad_output)
        return avg_pool2d_backward(grad_output, self._input_shape, *self._args())

    def extra_repr(self) -> str:
        kernel_size, stride, padding = self._given
        return f"kernel_size={kernel_size}, stride={stride}, padding={padding}"
