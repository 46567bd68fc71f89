"""Inverted dropout (Chapter "Regularisation", section "Dropout").

Training:  m_i ~ Bernoulli(1 − p),   y = x ⊙ m / (1 − p),   dL/dx = dL/dy ⊙ m / (1 − p).
Evaluation: y = x (the 1/(1 − p) scaling during training already keeps E[y] = x,
so nothing has to be rescaled at test time; that is what "inverted" means).

Channel-wise dropout (``Dropout1d``, ``Dropout2d``, ``Dropout3d``; Tompson et al. 2015) draws
one m per sample and channel and multiplies the channel's whole map by it: neighbouring numbers
of a feature map are strongly correlated, so dropping single ones barely regularises a
convolutional layer, while dropping whole maps does.

Random numbers come from ``course_lib.scratch.init.generator()`` so
``init.manual_seed`` makes a run reproducible.  p = 1 drops everything (output 0),
p = 0 is the identity, as in torch.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import init
from .layout import empty_like_layout
from .module import Module, before_overwrite, check_grad_output


def dropout_mask(shape, p: float, dtype, rng: np.random.Generator, like: Optional[np.ndarray] = None) -> np.ndarray:
    """The scaled mask m / (1 − p) in ``dtype`` (all zeros when p = 1).

    The random numbers are drawn in the shape's row-major order, so a seed gives the same mask
    whatever the input's memory layout; with ``like`` the mask is *stored* in that array's
    layout (see layout.py), so that x ⊙ m and its gradient keep it — a convolution's
    batch-innermost output stays batch-innermost through dropout.
    """
    stored = np.empty(shape, dtype) if like is None else empty_like_layout(shape, dtype, like)
    if p >= 1.0:
        stored[...] = 0
        return stored
    keep = rng.random(shape, dtype=np.dtype(dtype).type) >= p  # P(keep) = 1 − p
    return np.multiply(keep, np.asarray(1.0 / (1.0 - p), dtype=dtype), out=stored)


class _DropoutNd(Module):
    """What every dropout shares (torch's ``_DropoutNd``): p, inplace, the mask, the identity after
    ``eval()``.  As in torch, a channel dropout is not a ``Dropout``: they share this base instead."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout probability has to be between 0 and 1, got {p!r}")
        self.p = float(p)
        self.inplace = bool(inplace)
        self._mask = None
        self._identity = False
        self._output_shape = None  # also needed when dropout is the identity (eval, p = 0)

    def _check_input(self, x) -> None:
        if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
            got = f"dtype {x.dtype.name}" if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"{type(self).__name__} expected a float32 or float64 NumPy array, got {got}")

    def _mask_shape(self, x: np.ndarray) -> tuple:
        """One mask number per entry of x (the channel-wise classes: per sample and channel)."""
        return x.shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        self._identity = not self.training or self.p == 0.0
        self._output_shape = x.shape
        if self._identity:
            self._mask = None
            return x
        if self.inplace:
            before_overwrite(type(self).__name__, x)
        self._mask = dropout_mask(self._mask_shape(x), self.p, x.dtype, init.generator(), like=x)
        if self.inplace:
            x *= self._mask
            return x
        return np.asarray(x * self._mask)  # an array also for a 0-d x (a 0-d product is a NumPy scalar)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._output_shape is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        check_grad_output(type(self).__name__, grad_output, self._output_shape)
        if self._identity:
            return grad_output
        return np.asarray(grad_output * self._mask)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """``torch.nn.Dropout(p=0.5, inplace=False)``: every entry dropped on its own; the identity after ``eval()``."""


class _ChannelDropout(_DropoutNd):
    """Dropout of whole channels: input (N, C, *spatial) or, for one sample, (C, *spatial), with
    ``spatial_dims`` spatial axes; the mask, (N, C, 1, …) or (C, 1, …), is broadcast over each map."""

    spatial_dims = 2
    axes = "H, W"  # the names of the spatial axes, for messages

    def _check_input(self, x) -> None:
        super()._check_input(x)
        if x.ndim not in (self.spatial_dims + 1, self.spatial_dims + 2):
            hint = "; Dropout drops single numbers of any array" if x.ndim < self.spatial_dims + 1 else ""
            raise ValueError(f"{type(self).__name__} expected input of shape (N, C, {self.axes}) or, for one sample, "
                             f"(C, {self.axes}), got {x.shape}{hint}")

    def _mask_shape(self, x: np.ndarray) -> tuple:
        return x.shape[:x.ndim - self.spatial_dims] + (1,) * self.spatial_dims


class Dropout1d(_ChannelDropout):
    """``torch.nn.Dropout1d(p=0.5, inplace=False)``: whole channels of (N, C, L) or (C, L) input."""

    spatial_dims, axes = 1, "L"


class Dropout2d(_ChannelDropout):
    """``torch.nn.Dropout2d(p=0.5, inplace=False)``: whole feature maps of (N, C, H, W) input.

    torch also takes 3-D input, but reads it as (N, C, L) — with a warning that this will change to
    one (C, H, W) image without a batch axis.  Here 3-D input is refused, so that neither meaning
    is guessed: ``Dropout1d`` drops channels of (N, C, L), and ``x[None]`` makes one image a batch.
    """

    def _check_input(self, x) -> None:
        if isinstance(x, np.ndarray) and x.ndim == 3:
            raise ValueError(
                f"Dropout2d expected input of shape (N, C, H, W), got {x.shape}: torch reads 3-D input as "
                f"(N, C, L) and warns that this will change to one (C, H, W) image; use Dropout1d for "
                f"(N, C, L), or x[None] to make one (C, H, W) image a batch of one"
            )
        super()._check_input(x)


class Dropout3d(_ChannelDropout):
    """``torch.nn.Dropout3d(p=0.5, inplace=False)``: whole volumes of (N, C, D, H, W) or (C, D, H, W) input."""

    spatial_dims, axes = 3, "D, H, W"
