"""2-D convolution by im2col and one matrix product (Chapter "Convolutional networks").

Forward, for input x of shape (N, C, H, W) and weight W of shape (O, C/g, kh, kw):

    y[n, o, i, j] = b[o] + Σ_{c, p, q} W[o, c, p, q] · x_pad[n, c, s·i + d·p, s·j + d·q]

with stride s, dilation d and zero padding, so the output has
H_out = ⌊(H + pad_top + pad_bottom − d·(kh − 1) − 1) / s⌋ + 1 rows (likewise W_out).
im2col gathers every receptive field into one column of X_col (C·kh·kw rows,
N·H_out·W_out columns); then Y = W_mat · X_col is a single GEMM.

The layer computes exactly this product.  X_col's columns are ordered output pixel by
output pixel with the images of the batch innermost, (i, j, n), so Y comes out stored
(C, H, W, N) — the batch innermost, as cuda-convnet stored its activations — and the layers
after it (ReLU, pooling, the next convolution) keep that layout (see ``layout.py``): then
every row of the next X_col is made of long contiguous runs of W_out·N numbers.  A row of
ones appended to X_col carries the bias (the "bias trick"), so the GEMM adds it.

Backward (Chapter "Convolutional networks", section "Backpropagation through a convolution"):

    dL/dW_mat = dL/dY · X_colᵀ          (one GEMM, or a sum of one per output row for a first
                                         layer's thin W_mat; with the ones row also dL/db)
    dL/db     = Σ_{n,i,j} dL/dy[n, :, i, j]
    dL/dX_col = W_matᵀ · dL/dY          (one GEMM)
    dL/dx     = col2im(dL/dX_col)       (kh·kw strided slice-adds: overlapping windows add up)

With groups g the channels split into g independent convolutions, which is a
batched GEMM over the group axis.  No loop touches the batch, channels or pixels:
the only Python loops run over the kh·kw kernel offsets.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np

from . import init
from .layout import batch_innermost, memory_order
from ..checks import whole
from .module import (Module, Parameter, check_device, check_dtype, check_grad_output, expect_float, keep_for_backward,
                     received, release_for_backward)

IntPair = Union[int, Tuple[int, int]]
# (top, bottom, left, right) zero padding
Padding4 = Tuple[int, int, int, int]


def _pair(value: IntPair, name: str) -> Tuple[int, int]:
    """Turn ``3`` into ``(3, 3)``; check a pair of non-negative ints."""
    if isinstance(value, (int, np.integer)):
        pair = (int(value), int(value))
    else:
        pair = tuple(int(v) for v in value)
        if len(pair) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v < 0 for v in pair):
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    return pair


def resolve_padding(
    padding: Union[str, IntPair], kernel_size: Tuple[int, int], stride: Tuple[int, int], dilation: Tuple[int, int]
) -> Padding4:
    """(top, bottom, left, right) zero padding for an int, a pair, 'valid' or 'same'.

    'same' keeps H and W (stride 1 only, as in torch); when the total padding
    d·(k − 1) is odd the extra row/column goes at the bottom/right, like torch.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1 (as in torch), got stride {stride}")
            total_h = dilation[0] * (kernel_size[0] - 1)
            total_w = dilation[1] * (kernel_size[1] - 1)
            return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
        raise ValueError(f"padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    pad_h, pad_w = _pair(padding, "padding")
    return (pad_h, pad_h, pad_w, pad_w)


def conv_output_size(size: int, kernel: int, stride: int, pad_before: int, pad_after: int, dilation: int = 1) -> int:
    """⌊(size + pads − d·(k − 1) − 1) / s⌋ + 1 (torch's floor rule)."""
    return (size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


def _pad(x: np.ndarray, padding: Padding4, order=None) -> np.ndarray:
    """Zero-pad the last two axes: one copy into an array whose axes lie in memory in ``order``
    (outermost first; default: x's own layout), with zeros written only around the interior."""
    if not any(padding) and order is None:
        return x
    top, bottom, left, right = padding
    n, c, h, w = x.shape
    order = memory_order(x) if order is None else order
    shape = (n, c, h + top + bottom, w + left + right)
    padded = np.empty([shape[axis] for axis in order], dtype=x.dtype).transpose(np.argsort(order))
    padded[:, :, :top] = 0
    padded[:, :, top + h:] = 0
    padded[:, :, top:top + h, :left] = 0
    padded[:, :, top:top + h, left + w:] = 0
    np.copyto(padded[:, :, top:top + h, left:left + w], x)
    return padded


# torch's padding modes: zeros, or copies of the input's own pixels (see ``_source_indices``)
PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _source_indices(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """For each padded position i along one axis (−before ≤ i < size + after), the index of the
    input row or column it copies."""
    position = np.arange(-before, size + after)
    if mode == "replicate":
        return np.clip(position, 0, size - 1)
    if mode == "circular":
        return np.mod(position, size)
    mirrored = np.abs(position)  # reflect: mirrored at the first and last row, which are not repeated
    return np.where(mirrored > size - 1, 2 * (size - 1) - mirrored, mirrored)


def _check_mode_padding(layer: str, x_shape, padding: Padding4, mode: str) -> None:
    """torch's limits: reflection needs pad < size, circular padding wraps at most once."""
    _, _, h, w = x_shape
    for pads, size, axis in ((padding[:2], h, "height"), (padding[2:], w, "width")):
        if mode == "reflect" and max(pads) >= size:
            raise ValueError(f"{layer}: padding_mode='reflect' needs padding smaller than the input, but the "
                             f"input's {axis} is {size} and the padding {max(pads)}")
        if mode == "circular" and max(pads) > size:
            raise ValueError(f"{layer}: padding_mode='circular' needs padding at most the input size, but the "
                             f"input's {axis} is {size} and the padding {max(pads)} (it would wrap more than once)")


def pad_by_mode(x: np.ndarray, padding: Padding4, mode: str) -> np.ndarray:
    """Pad the last two axes by copying input pixels ('reflect', 'replicate' or 'circular', as torch's
    ``F.pad``): one gather with the rows' and the columns' source indices."""
    top, bottom, left, right = padding
    rows = _source_indices(x.shape[2], top, bottom, mode)
    columns = _source_indices(x.shape[3], left, right, mode)
    return x[:, :, rows[:, None], columns[None, :]]


def pad_by_mode_backward(grad_padded: np.ndarray, input_shape, padding: Padding4, mode: str) -> np.ndarray:
    """dL/dx from dL/d(padded x): every padded pixel hands its gradient to the pixel it copied.

    The interior is dL/dx's start; then each padded column, and afterwards each padded row (of
    the column-folded array, so a corner reaches its source through both), is added onto the
    row or column it copied — one slice-add per padded row or column, as few as the padding is
    wide.  (As the products Rᵀ g C with the 0/1 matrices that pick each padded row's and column's
    source, one NaN or inf in g turned a whole plane of dL/dx into NaN, since 0·NaN = NaN.)
    """
    top, bottom, left, right = padding
    _, _, h, w = input_shape
    columns = grad_padded[:, :, :, left:left + w].copy()
    for column, source in enumerate(_source_indices(w, left, right, mode)):
        if not left <= column < left + w:
            columns[:, :, :, source] += grad_padded[:, :, :, column]
    grad = columns[:, :, top:top + h].copy()
    for row, source in enumerate(_source_indices(h, top, bottom, mode)):
        if not top <= row < top + h:
            grad[:, :, source] += columns[:, :, row]
    return grad


def _check_geometry(layer: str, x_shape, kernel_size, stride, padding: Padding4, dilation) -> Tuple[int, int]:
    """Output (H_out, W_out); a readable ValueError if the kernel does not fit."""
    _, _, h, w = x_shape
    padded = (h + padding[0] + padding[1], w + padding[2] + padding[3])
    reach = (dilation[0] * (kernel_size[0] - 1) + 1, dilation[1] * (kernel_size[1] - 1) + 1)
    if reach[0] > padded[0] or reach[1] > padded[1]:
        raise ValueError(
            f"{layer}: the kernel covers {reach[0]}×{reach[1]} pixels but the padded input is only "
            f"{padded[0]}×{padded[1]} (input {h}×{w}, padding {padding}); use a smaller kernel or more padding"
        )
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{layer}: stride and dilation must be ≥ 1, got stride {stride}, dilation {dilation}")
    return (
        conv_output_size(h, kernel_size[0], stride[0], padding[0], padding[1], dilation[0]),
        conv_output_size(w, kernel_size[1], stride[1], padding[2], padding[3], dilation[1]),
    )


def im2col(
    x: np.ndarray,
    kernel_size: IntPair,
    stride: IntPair = 1,
    padding: Union[str, IntPair] = 0,
    dilation: IntPair = 1,
) -> np.ndarray:
    """The textbook column matrix X_col of shape (C·kh·kw, N·H_out·W_out).

    Row index = (c, p, q) in row-major order, matching ``weight.reshape(O, -1)``;
    column index = (n, i, j), like ``torch.nn.functional.unfold`` with the batch folded in.
    The layer itself keeps the images of the batch innermost, columns (i, j, n)
    (``_columns``); this function reorders that matrix's columns, so both show the same numbers.
    """
    kernel_size, stride, dilation = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = resolve_padding(padding, kernel_size, stride, dilation)
    out_h, out_w = _check_geometry("im2col", x.shape, kernel_size, stride, pads, dilation)
    columns = _columns(x, kernel_size, stride, pads, dilation, out_h, out_w, groups=1)[0]
    n = x.shape[0]
    # columns (i, j, n)  →  (n, i, j)
    return columns.reshape(-1, out_h, out_w, n).transpose(0, 3, 1, 2).reshape(columns.shape[0], -1)


def _batch_innermost_padded(x: np.ndarray, pads: Padding4) -> np.ndarray:
    """x (N, C, H, W), in any memory layout, zero-padded and stored as a C-contiguous
    (C, H_pad, W_pad, N) array: the images of the batch innermost (see ``layout.py``).

    Without padding, an input already stored so (a previous convolution's output, after
    ReLU and pooling) is returned as a view; otherwise this is one transposing copy, which
    writes the padding's zeros around it.
    """
    if not any(pads):
        return batch_innermost(x).transpose(1, 2, 3, 0)
    return _pad(x, pads, order=(1, 2, 3, 0)).transpose(1, 2, 3, 0)


def _row_length(length: int, itemsize: int) -> int:
    """Memory for a row of ``length`` numbers: rounded up to an *odd* number of 64-byte cache lines.

    A matrix whose rows are a multiple of many cache lines apart (7,744 floats = 484 lines for
    the 32→64 convolution of the course CNN) maps the rows of one column onto few cache sets,
    and OpenBLAS's packing of it thrashes them: that forward GEMM took 1.31 ms with such rows
    and 1.11–1.16 ms with 16 more floats per row (an odd 485 lines).  The extra numbers are
    never read.
    """
    per_line = max(1, 64 // itemsize)
    lines = -(-length // per_line)
    return (lines + (lines % 2 == 0)) * per_line


def _columns(x, kernel_size, stride, pads, dilation, out_h, out_w, groups, ones_row=False):
    """X_col of every group: shape (groups, kh·kw·C/groups [+ 1], H_out·W_out·N).

    Row index = (c, p, q), as ``weight.reshape(O, -1)`` orders a kernel; column index =
    (i, j, n), the images of the batch innermost, so ``W_mat @ X_col`` is the output stored
    (C, H, W, N) — the layout the next layers keep (see ``layout.py``).  The input is first
    stored (C, H, W, N) as well (one pass, nine times smaller than the matrix): then each
    row of X_col is made of long contiguous runs of W_out·N numbers (stride 1).  The windows
    are a strided *view* of that array (an axis per output position and per kernel offset,
    each with its own step in memory); the single copy makes the matrix.  ``ones_row``
    appends a row of ones, so the bias becomes one more weight column (the "bias trick"):
    the forward GEMM adds it and the weight-gradient GEMM returns dL/db in its last row.
    The rows lie ``_row_length`` apart in memory, a little more than their length.
    """
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    group_channels = c // groups
    padded = _batch_innermost_padded(x, pads)
    s_c, s_h, s_w, s_n = padded.strides
    n_rows, length = kh * kw * group_channels, out_h * out_w * n
    windows = np.lib.stride_tricks.as_strided(
        padded,
        shape=(groups, group_channels, kh, kw, out_h, out_w, n),
        strides=(group_channels * s_c, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w, s_n),
        writeable=False,
    )
    storage = np.empty((groups, n_rows + ones_row, _row_length(length, x.dtype.itemsize)), dtype=x.dtype)
    columns = storage[:, :, :length]
    target = columns[:, :n_rows].reshape(windows.shape)  # splitting axes of a slice: a view into columns
    assert target.size == 0 or np.may_share_memory(target, storage)
    np.copyto(target, windows)  # the one copy
    if ones_row:
        columns[:, n_rows] = 1
    return columns


def col2im(
    columns: np.ndarray,
    input_shape: Tuple[int, int, int, int],
    kernel_size: IntPair,
    stride: IntPair = 1,
    padding: Union[str, IntPair] = 0,
    dilation: IntPair = 1,
) -> np.ndarray:
    """The adjoint of ``im2col``: add every column entry back to the pixel it came from.

    Overlapping windows make pixels receive several contributions, so this *sums*
    (it is not the inverse of im2col).  One strided slice-add per kernel offset.
    """
    kernel_size, stride, dilation = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = resolve_padding(padding, kernel_size, stride, dilation)
    out_h, out_w = _check_geometry("col2im", input_shape, kernel_size, stride, pads, dilation)
    n = input_shape[0]
    # columns (n, i, j)  →  (i, j, n), the layer's order
    rows = columns.shape[0]
    reordered = columns.reshape(rows, n, out_h, out_w).transpose(0, 2, 3, 1).reshape(1, rows, -1)
    return _add_back_into_image(reordered, input_shape, kernel_size, stride, pads, dilation, out_h, out_w)


def _add_back_into_image(grad_columns, input_shape, kernel_size, stride, pads, dilation, out_h, out_w) -> np.ndarray:
    """col2im of dL/dX_col, shape (groups, kh·kw·C/groups, H_out·W_out·N) in ``_columns``' order.

    The image gradient is built stored (C, H, W, N): each kernel offset (p, q) adds one
    block of X_col's rows to the pixels that offset touched, and with stride 1 each block
    row is a contiguous run of W_out·N numbers.  Returns an (N, C, H, W) view of that array.
    """
    n, c, h, w = input_shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    top, bottom, left, right = pads
    groups = grad_columns.shape[0]
    grad_padded = np.zeros((c, h + top + bottom, w + left + right, n), dtype=grad_columns.dtype)
    target = grad_padded.reshape(groups, c // groups, *grad_padded.shape[1:])
    blocks = grad_columns.reshape(groups, c // groups, kh, kw, out_h, out_w, n)
    run = out_w * n if sw == 1 else n  # numbers each slice-add reads and writes contiguously
    previous = np.setbufsize(_slice_add_buffer(run))
    try:
        for p in range(kh):
            rows = slice(dh * p, dh * p + sh * (out_h - 1) + 1, sh)
            for q in range(kw):
                cols = slice(dw * q, dw * q + sw * (out_w - 1) + 1, sw)
                target[:, :, rows, cols] += blocks[:, :, p, q]
    finally:
        np.setbufsize(previous)  # (NumPy 1.x would not restore it on leaving an errstate block)
    return grad_padded[:, top : top + h, left : left + w].transpose(3, 0, 1, 2)


def _slice_add_buffer(run: int) -> int:
    """NumPy's ufunc buffer size (in elements) for adding arrays whose contiguous runs are ``run`` long.

    With the default of 8,192 elements NumPy copies several short runs into a buffer to make
    its inner loop longer; for runs of a few hundred numbers that copy costs more than it
    saves.  Measured on a (352, 704) float32 slice-add: 96 µs with the default, 39 µs with any
    buffer ≤ the run; runs of 32 were fastest with 512 (141 µs against 163).  Numbers are
    identical either way: only how NumPy walks the arrays changes.
    """
    return min(8192, max(512, run // 16 * 16))


def _parse_conv_args(weight_shape, stride, padding, dilation, groups):
    kernel_size = (int(weight_shape[2]), int(weight_shape[3]))
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = resolve_padding(padding, kernel_size, stride, dilation)
    return kernel_size, stride, pads, dilation, int(groups)


def _weight_matrix(weight: np.ndarray, groups: int) -> np.ndarray:
    """W_mat per group, one flattened kernel per row, columns ordered (c, p, q): (g, O/g, C/g·kh·kw).

    This is ``weight``'s own memory order, so for a C-contiguous weight it is a view."""
    return weight.reshape(groups, weight.shape[0] // groups, -1)


def conv2d_forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: Optional[np.ndarray] = None,
    stride: IntPair = 1,
    padding: Union[str, IntPair] = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    return_columns: bool = False,
):
    """``torch.nn.functional.conv2d`` in NumPy: x (N, C, H, W), weight (O, C/groups, kh, kw).

    Returns y of shape (N, O, H_out, W_out); with ``return_columns`` also X_col, which
    ``conv2d_backward`` can reuse instead of rebuilding it.  The GEMM Y_mat = W_mat · X_col
    produces the output with the images of the batch innermost, so y is an (N, O, H_out,
    W_out) view of (O, H_out, W_out, N) memory: same numbers, and the next layers read it
    fastest (see ``layout.py``).
    """
    kernel_size, stride, pads, dilation, groups = _parse_conv_args(weight.shape, stride, padding, dilation, groups)
    n, c = x.shape[:2]
    out_channels = weight.shape[0]
    if c != weight.shape[1] * groups:
        raise ValueError(
            f"conv2d: input has {c} channels but the weight {weight.shape} with groups={groups} expects {weight.shape[1] * groups}"
        )
    out_h, out_w = _check_geometry("conv2d", x.shape, kernel_size, stride, pads, dilation)
    columns = _columns(x, kernel_size, stride, pads, dilation, out_h, out_w, groups, bias is not None)
    weight_matrix = _weight_matrix(weight, groups).astype(columns.dtype, copy=False)
    if bias is not None:  # the bias trick: [W_mat | b] against [X_col; 1]
        group_bias = bias.reshape(groups, -1, 1).astype(columns.dtype, copy=False)
        weight_matrix = np.concatenate([weight_matrix, group_bias], axis=2)
    # (g, O/g, K) @ (g, K, H_out·W_out·N): one GEMM per group
    out = np.matmul(weight_matrix, columns)
    result = out.reshape(out_channels, out_h, out_w, n).transpose(3, 0, 1, 2)
    return (result, columns) if return_columns else result


def conv2d_backward(
    grad_output: np.ndarray,
    x: np.ndarray,
    weight: np.ndarray,
    stride: IntPair = 1,
    padding: Union[str, IntPair] = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    columns: Optional[np.ndarray] = None,
    input_grad: bool = True,
    bias_grad: bool = True,
    overwrite_columns: bool = False,
    weight_grad: bool = True,
):
    """Gradients of ``conv2d_forward``: returns (dL/dx, dL/dW, dL/db).

    ``x`` may be the input or just its shape when ``columns`` (from
    ``conv2d_forward(..., return_columns=True)``) is given.  ``input_grad=False``
    skips dL/dx (returned as None), as torch does for an input that needs no gradient;
    ``bias_grad=False`` returns None for dL/db, ``weight_grad=False`` None for dL/dW and skips
    its product (a frozen weight).  ``overwrite_columns=True`` lets dL/dX_col
    reuse the columns' memory (they are spent once dL/dW is known), so only one
    im2col-sized array ever exists.  Without dL/dx, a C-contiguous (NCHW) ``grad_output``
    and the input array ``x`` take dL/dW one image at a time (``_weight_gradient_per_image``)
    and leave ``columns`` unused.
    """
    kernel_size, stride, pads, dilation, groups = _parse_conv_args(weight.shape, stride, padding, dilation, groups)
    input_shape = tuple(np.shape(x)) if isinstance(x, np.ndarray) else tuple(x)
    out_channels, group_channels, kh, kw = weight.shape
    n, _, out_h, out_w = grad_output.shape
    if not weight_grad:  # a frozen weight: no dL/dW product, and dL/dx needs only W and dL/dY
        dtype = columns.dtype if columns is not None else x.dtype if isinstance(x, np.ndarray) else weight.dtype
        grad_matrix = _grad_matrix(grad_output.astype(dtype, copy=False), groups)
        grad_bias = grad_matrix.sum(axis=2).reshape(-1) if bias_grad else None
        spent = columns is not None and overwrite_columns and columns.flags.writeable
        grad_input = None if not input_grad else _input_gradient(
            grad_matrix, weight, columns if spent else None, input_shape, kernel_size, stride, pads, dilation,
            (out_h, out_w))
        return grad_input, None, grad_bias
    if not input_grad and groups == 1 and isinstance(x, np.ndarray) and grad_output.flags.c_contiguous:
        # before any columns are built: this path does not use them (in x's dtype,
        # as the columns path computes, whose columns are made from x)
        return (None, *_weight_gradient_per_image(grad_output.astype(x.dtype, copy=False), x, kernel_size,
                                                  stride, pads, dilation, bias_grad))
    if columns is None:
        if not isinstance(x, np.ndarray):
            raise ValueError("conv2d_backward needs the input array x when columns is not given")
        columns = _columns(x, kernel_size, stride, pads, dilation, out_h, out_w, groups, bias_grad)
    n_weights = kh * kw * group_channels
    grad_matrix = _grad_matrix(grad_output.astype(columns.dtype, copy=False), groups)
    # dL/d[W_mat | b] = dL/dY_mat · [X_col; 1]ᵀ, computed transposed, [X_col; 1] · dL/dY_matᵀ (the
    # faster orientation for BLAS here): the bias gradient is its last row when the ones are there
    rows_per_output_row = out_w * n
    if _weight_gradient_per_output_row(rows_per_output_row, columns.shape[1]):
        per_row = np.matmul(columns.reshape(groups, -1, out_h, rows_per_output_row).transpose(0, 2, 1, 3),
                            grad_matrix.reshape(groups, -1, out_h, rows_per_output_row).transpose(0, 2, 3, 1))
        grad_weight_matrix = per_row.sum(axis=1)
    else:
        grad_weight_matrix = np.matmul(columns, grad_matrix.transpose(0, 2, 1))
    grad_weight = grad_weight_matrix[:, :n_weights].transpose(0, 2, 1).reshape(weight.shape)
    grad_bias = None
    if bias_grad:
        has_ones = columns.shape[1] == n_weights + 1
        grad_bias = grad_weight_matrix[:, n_weights].reshape(-1) if has_ones else grad_matrix.sum(axis=2).reshape(-1)
    spent = overwrite_columns and columns.flags.writeable
    grad_input = None if not input_grad else _input_gradient(
        grad_matrix, weight, columns if spent else None, input_shape, kernel_size, stride, pads, dilation,
        (out_h, out_w))
    return grad_input, grad_weight, grad_bias


def _grad_matrix(grad_output: np.ndarray, groups: int) -> np.ndarray:
    """dL/dY_mat as (g, O/g, H_out·W_out·N), columns in X_col's order: a free view when grad_output
    is stored (O, H_out, W_out, N), as the layers after a convolution keep it."""
    grad_matrix = batch_innermost(grad_output).transpose(1, 2, 3, 0)
    return grad_matrix.reshape(groups, grad_output.shape[1] // groups, -1)


def _input_gradient(grad_matrix, weight, spent_columns, input_shape, kernel_size, stride, pads, dilation, out_hw):
    """dL/dx: dL/dX_col = W_matᵀ · dL/dY_mat, written over ``spent_columns`` (X_col, no longer
    needed) when given, then added back into the image (col2im)."""
    groups, n_weights = grad_matrix.shape[0], weight[0].size
    weight_t = _weight_matrix(weight, groups).transpose(0, 2, 1).astype(grad_matrix.dtype, copy=False)
    buffer = None if spent_columns is None else spent_columns[:, :n_weights]
    grad_columns = np.matmul(weight_t, grad_matrix, out=buffer)
    return _add_back_into_image(grad_columns, input_shape, kernel_size, stride, pads, dilation, *out_hw)


def _weight_gradient_per_image(grad_output, x, kernel_size, stride, pads, dilation, bias_grad):
    """dL/dW and dL/db from a gradient stored NCHW (C-contiguous): dL/dW = Σ_n dL/dY_n · X_nᵀ.

    A gradient made as a plain (N, O, H_out, W_out) array — a layer used on its own, a loss's
    gradient — would first be copied batch-innermost to meet the layer's X_col: a
    strided pass over the whole output.  For a first layer (no dL/dx) that copy costs more than
    the product itself, so instead each image's receptive fields are gathered in NCHW order,
    X_n of shape (C·kh·kw [+ a row of ones for the bias], H_out·W_out), which is cheap for the
    few channels of an input image, and one small GEMM per image contracts them with dL/dY_n
    (NumPy's batched matmul, no Python loop).
    """
    n, c = x.shape[:2]
    out_channels, out_h, out_w = grad_output.shape[1:]
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    padded = _pad(x, pads)
    s_n, s_c, s_h, s_w = padded.strides
    windows = np.lib.stride_tricks.as_strided(
        padded, shape=(n, c, kh, kw, out_h, out_w),
        strides=(s_n, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w), writeable=False)
    n_weights = c * kh * kw
    columns = np.empty((n, n_weights + bool(bias_grad), out_h * out_w), dtype=grad_output.dtype)
    columns[:, :n_weights].reshape(windows.shape)[...] = windows
    if bias_grad:
        columns[:, n_weights] = 1
    per_image = np.matmul(grad_output.reshape(n, out_channels, out_h * out_w), columns.transpose(0, 2, 1))  # explicit: N may be 0
    total = per_image.sum(axis=0)  # (O, C·kh·kw [+ 1]), columns ordered (c, p, q) like the weight
    grad_bias = total[:, n_weights].copy() if bias_grad else None
    return total[:, :n_weights].reshape(out_channels, c, kh, kw), grad_bias


def _weight_gradient_per_output_row(rows_per_output_row: int, weight_columns: int) -> bool:
    """Whether dL/dW is best summed over output rows i, one smaller GEMM each.

    A thin weight matrix (a first layer: few input channels, large images) makes dL/dW one
    long reduction over H_out·W_out·N rows, which BLAS runs slowly; the products of row
    blocks summed are faster then, and slower for the wider matrices of later layers
    (measured on the CNN of ``bench/``: 3–4 % off the whole training step, 9–10 % on it
    if used everywhere).  Measured again with X_col batch-innermost: the first layer's dL/dW
    0.41 ms summed per row against 0.69 as one GEMM; the second's 1.52 against 1.38.
    """
    return rows_per_output_row >= 8 * weight_columns


class Conv2d(Module):
    """``torch.nn.Conv2d``: weight (out_channels, in_channels/groups, kh, kw), bias (out_channels,).

    kernel_size, stride, padding and dilation take an int or a pair; padding also
    'same' or 'valid'.  ``padding_mode`` 'zeros' (the default), 'reflect', 'replicate' or
    'circular' as in torch (``pad_by_mode``: the input is padded first, then convolved
    without padding).  Initialised like
    torch: U(−1/√fan_in, 1/√fan_in) with fan_in = in_channels/groups · kh · kw.
    Set ``requires_input_grad = False`` on a first layer to skip dL/dx (backward
    then returns None), as torch does for an input that does not require grad.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: Union[str, IntPair] = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=np.float32,
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = (
            whole("Conv2d", name, value, minimum) for name, value, minimum in
            (("in_channels", in_channels, 0), ("out_channels", out_channels, 0), ("groups", groups, 1)))
        if self.groups < 1 or self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must both be divisible by groups ({groups})"
            )
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"Conv2d padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.kernel_size = _pair(kernel_size, "kernel_size")
        if min(self.kernel_size) < 1:
            raise ValueError(f"Conv2d: kernel_size must be ≥ 1, got {kernel_size!r}")
        self.stride, self.dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
        self.padding = padding if isinstance(padding, str) else _pair(padding, "padding")
        self._pads = resolve_padding(padding, self.kernel_size, self.stride, self.dilation)
        self.padding_mode = padding_mode
        self.dtype = check_dtype(dtype)
        check_device("Conv2d", device)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        fan_in = shape[1] * shape[2] * shape[3]
        self.weight = Parameter(init.kaiming_uniform(shape, dtype=self.dtype))
        self.register_parameter("bias", Parameter(init.bias_uniform((out_channels,), fan_in, self.dtype)) if bias else None)
        self.requires_input_grad = True
        self._input_shape = None
        self._input = None  # kept only without dL/dx: an NCHW gradient then skips the layout copy
        self._columns = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        expected = f"(N, C={self.in_channels}, H, W)"
        if not isinstance(x, np.ndarray):
            raise ValueError(f"Conv2d expected a NumPy array of shape {expected}, got {received(x)}")
        if x.ndim != 4:
            raise ValueError(f"Conv2d expected input of shape {expected}, got {x.shape}")
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d expected input of shape {expected}, got {x.shape} "
                f"(in_channels={self.in_channels} but the input has {x.shape[1]} channels)"
            )
        expect_float("Conv2d", x, self.dtype)
        if self.out_channels == 0:
            raise ValueError("Conv2d with out_channels=0 has no filter to apply (torch refuses it too): "
                             "give it at least one output channel")
        _check_geometry("Conv2d", x.shape, self.kernel_size, self.stride, self._pads, self.dilation)
        bias = None if self.bias is None else self.bias.data
        self._input_shape = x.shape
        padding = self.padding
        if self.padding_mode != "zeros":
            _check_mode_padding("Conv2d", x.shape, self._pads, self.padding_mode)
            x, padding = pad_by_mode(x, self._pads, self.padding_mode), 0
        out, self._columns = conv2d_forward(
            x, self.weight.data, bias, self.stride, padding, self.dilation, self.groups, return_columns=True
        )
        # without dL/dx the weight gradient reads x itself: backward raises if an in-place layer overwrites it
        self._input = None if self.requires_input_grad else keep_for_backward(x)
        return out

    def backward(self, grad_output: np.ndarray) -> Optional[np.ndarray]:
        if self._columns is None:
            raise RuntimeError("Conv2d.backward needs a forward call first (one backward per forward)")
        if self._input is not None:
            release_for_backward("Conv2d", self._input, "input")
        n, _, h, w = self._input_shape
        out_h, out_w = _check_geometry("Conv2d", self._input_shape, self.kernel_size, self.stride, self._pads, self.dilation)
        expected = (n, self.out_channels, out_h, out_w)
        check_grad_output("Conv2d", grad_output, expected)
        by_mode = self.padding_mode != "zeros"  # then the convolution saw the padded input, unpadded
        padded_shape = (n, self._input_shape[1], h + sum(self._pads[:2]), w + sum(self._pads[2:]))
        grad_input, grad_weight, grad_bias = conv2d_backward(
            grad_output.astype(self.dtype, copy=False),
            self._input if self._input is not None else padded_shape if by_mode else self._input_shape,
            self.weight.data,
            self.stride,
            0 if by_mode else self.padding,
            self.dilation,
            self.groups,
            columns=self._columns,
            input_grad=self.requires_input_grad,
            bias_grad=self.bias is not None and self.bias.requires_grad,
            overwrite_columns=True,
            weight_grad=self.weight.requires_grad,
        )
        self._columns = self._input = None  # spent (overwritten by dL/dX_col); like torch, one backward per forward
        if by_mode and grad_input is not None:
            grad_input = pad_by_mode_backward(grad_input, self._input_shape, self._pads, self.padding_mode)
        if grad_weight is not None:
            self.weight.add_to_grad(grad_weight)
        if grad_bias is not None:
            self.bias.add_to_grad(grad_bias)
        return grad_input

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):  # torch shows padding='valid' too (as padding=valid)
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode}"
        return text
