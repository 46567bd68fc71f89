"""2-D convolution by im2col and one matrix product (Chapter "Convolutional networks").

Forward, for input x of shape (N, C, H, W) and weight W of shape (O, C/g, kh, kw):

    y[n, o, i, j] = b[o] + Σ_{c, p, q} W[o, c, p, q] · x_pad[n, c, s·i + d·p, s·j + d·q]

with stride s, dilation d and zero padding, so the output has
H_out = ⌊(H + pad_top + pad_bottom − d·(kh − 1) − 1) / s⌋ + 1 rows (likewise W_out).
im2col gathers every receptive field into one column of X_col (C·kh·kw rows,
N·H_out·W_out columns); then Y = W_mat · X_col is a single GEMM.

The layer computes the same product transposed, Yᵀ = X_rows · W_matᵀ, with one *row*
per receptive field and the channels innermost (columns ordered p, q, c).  The rows are
ordered pixel by pixel, the images of the batch innermost (i, j, n), so the output comes
out *pixel-major* — memory order H, W, N, C — and the layers after it (ReLU, pooling, the
next convolution) move between neighbouring pixels by whole blocks of N·C numbers (see
``layout.py``).  A column of ones appended to X_rows carries the bias (the "bias trick"),
so the GEMM adds it.

Backward (Chapter "Convolutional networks", section "Backpropagation through a convolution"):

    dL/dW_mat = dL/dY · X_colᵀ          (one GEMM, or a sum of one per output row for a first
                                         layer's thin W_mat; with the ones column also dL/db)
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
from .layout import channels_last, empty_like_layout, pixel_major
from .module import Module, Parameter, check_dtype, expect_float

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


def _pad(x: np.ndarray, padding: Padding4) -> np.ndarray:
    """Zero-pad the last two axes, keeping x's memory layout (cheaper than np.pad's general machinery)."""
    top, bottom, left, right = padding
    if not any(padding):
        return x
    n, c, h, w = x.shape
    padded = empty_like_layout((n, c, h + top + bottom, w + left + right), x.dtype, x)
    padded[...] = 0
    padded[:, :, top : top + h, left : left + w] = x
    return padded


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
    The layer itself uses the transpose with channels innermost (``_receptive_field_rows``);
    this function rearranges that matrix, so both show the same numbers.
    """
    kernel_size, stride, dilation = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = resolve_padding(padding, kernel_size, stride, dilation)
    out_h, out_w = _check_geometry("im2col", x.shape, kernel_size, stride, pads, dilation)
    rows = _receptive_field_rows(x, kernel_size, stride, pads, dilation, out_h, out_w, groups=1)[0]
    (kh, kw), (n, c) = kernel_size, x.shape[:2]
    # rows (i, j, n) × columns (p, q, c)  →  (c, p, q) × (n, i, j)
    return rows.reshape(out_h, out_w, n, kh, kw, c).transpose(5, 3, 4, 2, 0, 1).reshape(c * kh * kw, -1)


def _receptive_field_rows(x, kernel_size, stride, pads, dilation, out_h, out_w, groups, ones_column=False):
    """Every receptive field as one row: shape (groups, H_out·W_out·N, kh·kw·C/groups [+ 1]).

    Row index = (i, j, n), pixel-major with the images innermost; column index = (p, q, c)
    with the channels innermost, so ``rows @ W_matᵀ`` is the output in pixel-major order
    (H, W, N, C).  The windows are a strided *view* of the padded input (an axis per output
    position and per kernel offset, each with its own step in memory); the single copy
    makes the matrix.  An NCHW input is first stored pixel-major (one pass, nine times
    smaller than the matrix).  Then each window row copies C or kw·C neighbouring numbers at
    once; with a single channel (an image) there is nothing to copy per row, so we fill the
    transposed matrix instead, whose rows are long runs of W_out·N numbers; the GEMM reads
    it just as fast.  ``ones_column`` appends a column of
    ones, so the bias becomes one more weight column (the "bias trick"): the forward GEMM
    adds it and the weight-gradient GEMM returns dL/db in its last column.
    """
    n, c = x.shape[:2]
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    group_channels = c // groups
    padded = _pad(x, pads)
    if not channels_last(padded):
        padded = pixel_major(padded)  # the images of the batch neighbours in memory (no copy if they are)
    rows_of_channels = channels_last(padded)  # pixel-major with C > 1 is: one image's pixel holds C neighbours
    s_n, s_c, s_h, s_w = padded.strides
    n_rows, n_cols = n * out_h * out_w, kh * kw * group_channels
    extra = 1 if ones_column else 0
    if rows_of_channels:
        windows = np.lib.stride_tricks.as_strided(
            padded,
            shape=(groups, out_h, out_w, n, kh, kw, group_channels),
            strides=(group_channels * s_c, sh * s_h, sw * s_w, s_n, dh * s_h, dw * s_w, s_c),
            writeable=False,
        )
        rows = np.empty((groups, n_rows, n_cols + extra), dtype=x.dtype)
        target = rows[:, :, :n_cols].reshape(windows.shape)  # a view into rows
    else:
        windows = np.lib.stride_tricks.as_strided(
            padded,
            shape=(groups, kh, kw, group_channels, out_h, out_w, n),
            strides=(group_channels * s_c, dh * s_h, dw * s_w, s_c, sh * s_h, sw * s_w, s_n),
            writeable=False,
        )
        columns = np.empty((groups, n_cols + extra, n_rows), dtype=x.dtype)
        rows = columns.transpose(0, 2, 1)
        target = columns[:, :n_cols].reshape(windows.shape)  # a view into columns
    assert target.size == 0 or np.may_share_memory(target, rows)  # splitting axes of a slice never copies: a view
    np.copyto(target, windows)  # the one copy
    if ones_column:
        rows[:, :, n_cols] = 1
    return rows


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
    (kh, kw), (n, c) = kernel_size, input_shape[:2]
    # (c, p, q) × (n, i, j)  →  one (i·j·n, c) block per kernel offset (p, q), rows pixel-major
    per_offset = columns.reshape(c, kh * kw, n, out_h, out_w).transpose(1, 3, 4, 2, 0).reshape(1, kh * kw, -1, c)
    return _add_back_into_image(per_offset, input_shape, kernel_size, stride, pads, dilation, out_h, out_w)


def _add_back_into_image(per_offset, input_shape, kernel_size, stride, pads, dilation, out_h, out_w) -> np.ndarray:
    """col2im for the gradient of every kernel offset: per_offset[g, p·kw + q] has shape
    (H_out·W_out·N, C/groups), rows pixel-major, and is added to the pixels that offset (p, q)
    touched.

    The image is built pixel-major (H, W, N, C), so each slice-add runs over long contiguous
    stretches of W_out·N·C numbers.  Returns an (N, C, H, W) view of that array.
    """
    n, c, h, w = input_shape
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    top, bottom, left, right = pads
    groups = per_offset.shape[0]
    grad_padded = np.zeros((h + top + bottom, w + left + right, n, groups, c // groups), dtype=per_offset.dtype)
    # (g, kh·kw, H_out·W_out·N, C/g)  →  (kh·kw, H_out, W_out, N, g, C/g)
    blocks = per_offset.reshape(groups, kh * kw, out_h, out_w, n, c // groups).transpose(1, 2, 3, 4, 0, 5)

    for p in range(kh):
        rows = slice(dh * p, dh * p + sh * (out_h - 1) + 1, sh)
        for q in range(kw):
            cols = slice(dw * q, dw * q + sw * (out_w - 1) + 1, sw)
            grad_padded[rows, cols] += blocks[p * kw + q]
    grad = grad_padded.reshape(h + top + bottom, w + left + right, n, c)[top : top + h, left : left + w]
    return grad.transpose(2, 3, 0, 1)


def _parse_conv_args(weight_shape, stride, padding, dilation, groups):
    kernel_size = (int(weight_shape[2]), int(weight_shape[3]))
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    pads = resolve_padding(padding, kernel_size, stride, dilation)
    return kernel_size, stride, pads, dilation, int(groups)


def _weight_rows(weight: np.ndarray, groups: int) -> np.ndarray:
    """W_mat per group with columns ordered (p, q, c) like the receptive-field rows: (g, O/g, kh·kw·C/g)."""
    out_channels, group_channels, kh, kw = weight.shape
    return weight.reshape(groups, out_channels // groups, group_channels, kh * kw).transpose(0, 1, 3, 2).reshape(
        groups, out_channels // groups, kh * kw * group_channels
    )


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

    Returns y of shape (N, O, H_out, W_out); with ``return_columns`` also the receptive-field
    matrix, which ``conv2d_backward`` can reuse instead of rebuilding it.  The GEMM produces
    the output pixel-major, so y is an (N, O, H_out, W_out) view of (H_out, W_out, N, O)
    memory: same numbers, and the next layers read it fastest (see ``layout.py``).
    """
    kernel_size, stride, pads, dilation, groups = _parse_conv_args(weight.shape, stride, padding, dilation, groups)
    n, c = x.shape[:2]
    out_channels = weight.shape[0]
    if c != weight.shape[1] * groups:
        raise ValueError(
            f"conv2d: input has {c} channels but the weight {weight.shape} with groups={groups} expects {weight.shape[1] * groups}"
        )
    out_h, out_w = _check_geometry("conv2d", x.shape, kernel_size, stride, pads, dilation)
    columns = _receptive_field_rows(x, kernel_size, stride, pads, dilation, out_h, out_w, groups, bias is not None)
    weight_rows = _weight_rows(weight, groups).astype(columns.dtype, copy=False)
    if bias is not None:  # the bias trick: [W_mat | b] against [X_rows | 1]
        group_bias = bias.reshape(groups, -1, 1).astype(columns.dtype, copy=False)
        weight_rows = np.concatenate([weight_rows, group_bias], axis=2)
    # (g, H_out·W_out·N, K) @ (g, K, O/g): one GEMM per group, output pixel-major
    out = np.matmul(columns, weight_rows.transpose(0, 2, 1))
    result = out.transpose(1, 0, 2).reshape(out_h, out_w, n, out_channels).transpose(2, 3, 0, 1)
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
):
    """Gradients of ``conv2d_forward``: returns (dL/dx, dL/dW, dL/db).

    ``x`` may be the input or just its shape when ``columns`` (from
    ``conv2d_forward(..., return_columns=True)``) is given.  ``input_grad=False``
    skips dL/dx (returned as None), as torch does for an input that needs no gradient;
    ``bias_grad=False`` returns None for dL/db.  ``overwrite_columns=True`` lets dL/dX_col
    reuse the columns' memory (they are spent once dL/dW is known), so only one
    im2col-sized array ever exists.  Without dL/dx, a C-contiguous (NCHW) ``grad_output``
    and the input array ``x`` take dL/dW one image at a time (``_weight_gradient_per_image``)
    and leave ``columns`` unused.
    """
    kernel_size, stride, pads, dilation, groups = _parse_conv_args(weight.shape, stride, padding, dilation, groups)
    input_shape = tuple(np.shape(x)) if isinstance(x, np.ndarray) else tuple(x)
    out_channels, group_channels, kh, kw = weight.shape
    n, _, out_h, out_w = grad_output.shape
    if not input_grad and groups == 1 and isinstance(x, np.ndarray) and grad_output.flags.c_contiguous:
        # before any receptive-field rows are built: this path does not use them (in x's dtype,
        # as the rows path computes, whose rows are made from x)
        return (None, *_weight_gradient_per_image(grad_output.astype(x.dtype, copy=False), x, kernel_size,
                                                  stride, pads, dilation, bias_grad))
    if columns is None:
        if not isinstance(x, np.ndarray):
            raise ValueError("conv2d_backward needs the input array x when columns is not given")
        columns = _receptive_field_rows(x, kernel_size, stride, pads, dilation, out_h, out_w, groups, bias_grad)
    n_weights = kh * kw * group_channels
    # dL/dY as (g, H_out·W_out·N, O/g), rows in the columns' order: a free view when grad_output
    # is stored pixel-major, as the layers after a convolution keep it
    grad_rows = grad_output.transpose(2, 3, 0, 1).reshape(-1, groups, out_channels // groups).transpose(1, 0, 2)
    grad_rows = grad_rows.astype(columns.dtype, copy=False)
    # dL/d[W_mat | b] = dL/dYᵀ · [X_rows | 1]: the bias gradient is the last column when it is there
    # (computed as its transpose [X_rows | 1]ᵀ · dL/dY, which BLAS runs faster for these shapes)
    rows_per_output_row = out_w * n
    if _weight_gradient_per_output_row(rows_per_output_row, columns.shape[2]):
        per_row = np.matmul(columns.reshape(groups, out_h, rows_per_output_row, -1).transpose(0, 1, 3, 2),
                            grad_rows.reshape(groups, out_h, rows_per_output_row, -1))
        grad_weight_rows = per_row.sum(axis=1).transpose(0, 2, 1)
    else:
        grad_weight_rows = np.matmul(columns.transpose(0, 2, 1), grad_rows).transpose(0, 2, 1)
    grad_weight = (
        grad_weight_rows[:, :, :n_weights]
        .reshape(groups, out_channels // groups, kh * kw, group_channels)
        .transpose(0, 1, 3, 2)
        .reshape(weight.shape)
    )
    grad_bias = None
    if bias_grad:
        has_ones = columns.shape[2] == n_weights + 1
        grad_bias = grad_weight_rows[:, :, n_weights].reshape(-1) if has_ones else grad_rows.sum(axis=1).reshape(-1)
    grad_input = None
    if input_grad:
        # dL/dX_rows = dL/dY · W_mat, computed as one (H_out·W_out·N, C/g) block per kernel offset
        # so that col2im adds contiguous blocks: weight (g, kh·kw, O/g, C/g)
        weight_per_offset = (
            weight.reshape(groups, out_channels // groups, group_channels, kh * kw).transpose(0, 3, 1, 2)
        ).astype(columns.dtype, copy=False)
        shape = (groups, kh * kw, grad_rows.shape[1], group_channels)
        buffer = _spent_columns(columns, shape) if overwrite_columns else None
        per_offset = np.matmul(grad_rows[:, None], weight_per_offset, out=buffer)
        grad_input = _add_back_into_image(per_offset, input_shape, kernel_size, stride, pads, dilation, out_h, out_w)
    return grad_input, grad_weight, grad_bias


def _weight_gradient_per_image(grad_output, x, kernel_size, stride, pads, dilation, bias_grad):
    """dL/dW and dL/db from a gradient stored NCHW (C-contiguous): dL/dW = Σ_n dL/dY_n · X_nᵀ.

    A gradient made as a plain (N, O, H_out, W_out) array — a layer used on its own, a loss's
    gradient — would first be copied pixel-major to meet the layer's receptive-field rows: a
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
    per_image = np.matmul(grad_output.reshape(n, out_channels, -1), columns.transpose(0, 2, 1))
    total = per_image.sum(axis=0)  # (O, C·kh·kw [+ 1]), columns ordered (c, p, q) like the weight
    grad_bias = total[:, n_weights].copy() if bias_grad else None
    return total[:, :n_weights].reshape(out_channels, c, kh, kw), grad_bias


def _weight_gradient_per_output_row(rows_per_output_row: int, weight_columns: int) -> bool:
    """Whether dL/dW is best summed over output rows i, one smaller GEMM each.

    A thin weight matrix (a first layer: few input channels, large images) makes dL/dW one
    long reduction over H_out·W_out·N rows, which BLAS runs slowly; the products of row
    blocks summed are faster then, and slower for the wider matrices of later layers
    (measured on the CNN of ``bench/``: 3–4 % off the whole training step, 9–10 % on it
    if used everywhere).
    """
    return rows_per_output_row >= 8 * weight_columns


def _spent_columns(columns: np.ndarray, shape) -> Optional[np.ndarray]:
    """The columns' own memory as an array of ``shape`` (None when they are a view we must not write)."""
    size = int(np.prod(shape))
    for base in (columns, columns.transpose(0, 2, 1)):
        if base.flags.c_contiguous and base.flags.writeable and base.size >= size:
            return base.reshape(-1)[:size].reshape(shape)
    return None


class Conv2d(Module):
    """``torch.nn.Conv2d``: weight (out_channels, in_channels/groups, kh, kw), bias (out_channels,).

    kernel_size, stride, padding and dilation take an int or a pair; padding also
    'same' or 'valid'.  Zero padding only (padding_mode='zeros').  Initialised like
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
        dtype=np.float32,
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        if self.groups < 1 or self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(
                f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must both be divisible by groups ({groups})"
            )
        if padding_mode != "zeros":
            raise ValueError(f"Conv2d here implements padding_mode='zeros' only, got {padding_mode!r}")
        self.kernel_size = _pair(kernel_size, "kernel_size")
        if min(self.kernel_size) < 1:
            raise ValueError(f"Conv2d: kernel_size must be ≥ 1, got {kernel_size!r}")
        self.stride, self.dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
        self.padding = padding if isinstance(padding, str) else _pair(padding, "padding")
        self._pads = resolve_padding(padding, self.kernel_size, self.stride, self.dilation)
        self.padding_mode = padding_mode
        self.dtype = check_dtype(dtype)
        shape = (self.out_channels, self.in_channels // self.groups) + self.kernel_size
        fan_in = shape[1] * shape[2] * shape[3]
        self.weight = Parameter(init.kaiming_uniform(shape, dtype=self.dtype))
        self.register_parameter("bias", Parameter(init.bias_uniform((out_channels,), fan_in, self.dtype)) if bias else None)
        self.requires_input_grad = True
        self._input_shape = None
        self._input = None  # kept only without dL/dx: an NCHW gradient then skips the pixel-major copy
        self._columns = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        expected = f"(N, C={self.in_channels}, H, W)"
        if not isinstance(x, np.ndarray):
            raise ValueError(f"Conv2d expected a NumPy array of shape {expected}, got {type(x).__name__}")
        if x.ndim != 4:
            raise ValueError(f"Conv2d expected input of shape {expected}, got {x.shape}")
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"Conv2d expected input of shape {expected}, got {x.shape} "
                f"(in_channels={self.in_channels} but the input has {x.shape[1]} channels)"
            )
        expect_float("Conv2d", x, self.dtype)
        _check_geometry("Conv2d", x.shape, self.kernel_size, self.stride, self._pads, self.dilation)
        bias = None if self.bias is None else self.bias.data
        out, self._columns = conv2d_forward(
            x, self.weight.data, bias, self.stride, self.padding, self.dilation, self.groups, return_columns=True
        )
        self._input_shape = x.shape
        self._input = None if self.requires_input_grad else x
        return out

    def backward(self, grad_output: np.ndarray) -> Optional[np.ndarray]:
        if self._columns is None:
            raise RuntimeError("Conv2d.backward needs a forward call first (one backward per forward)")
        n, _, h, w = self._input_shape
        out_h, out_w = _check_geometry("Conv2d", self._input_shape, self.kernel_size, self.stride, self._pads, self.dilation)
        expected = (n, self.out_channels, out_h, out_w)
        if not isinstance(grad_output, np.ndarray) or grad_output.shape != expected:
            raise ValueError(
                f"Conv2d.backward expected grad_output of shape {expected} (the output's shape), "
                f"got {getattr(grad_output, 'shape', type(grad_output).__name__)}"
            )
        grad_input, grad_weight, grad_bias = conv2d_backward(
            grad_output.astype(self.dtype, copy=False),
            self._input_shape if self._input is None else self._input,
            self.weight.data,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            columns=self._columns,
            input_grad=self.requires_input_grad,
            bias_grad=self.bias is not None,
            overwrite_columns=True,
        )
        self._columns = self._input = None  # spent (overwritten by dL/dX_col); like torch, one backward per forward
        self.weight.grad += grad_weight
        if self.bias is not None:
            self.bias.grad += grad_bias
        return grad_input

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in ((0, 0), "valid"):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text
