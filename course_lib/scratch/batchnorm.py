"""Batch normalisation (Chapter "Optimisation", section "Initialisation and batch normalisation").

For each channel c, over the batch and every spatial position (M values):

  μ_c = (1/M) Σ x,   σ²_c = (1/M) Σ (x − μ_c)²        (biased: the batch is all we normalise)
  x̂ = (x − μ_c) / √(σ²_c + ε),   y = γ_c x̂ + β_c

Backward (g = dL/dy), derived in the chapter by differentiating through μ and σ²:

  dL/dγ_c = Σ g x̂,   dL/dβ_c = Σ g,
  dL/dx = γ_c / √(σ²_c + ε) · ( g − mean(g) − x̂ · mean(g x̂) )

Running estimates for evaluation (PyTorch's convention, momentum m = 0.1):

  running_mean ← (1 − m) running_mean + m μ,
  running_var  ← (1 − m) running_var  + m σ² · M/(M − 1)   (unbiased variance)

With ``momentum=None`` the update is a cumulative average (m = 1/t at step t), so the
count t of batches seen so far is part of the layer's state: ``num_batches_tracked`` is a
buffer (an int64 array of shape (), as in torch) and travels in ``state_dict``, so a reloaded
checkpoint continues the average instead of restarting it.
In ``eval()`` the running estimates replace μ and σ², so the layer is a fixed
affine map and dL/dx = γ g / √(running_var + ε).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from .layout import memory_order
from ..checks import whole
from .module import Module, Parameter, check_device, check_dtype, check_grad_output, expect_float
from .reductions import column_sums, row_dots, row_sums


def _per_channel(values: np.ndarray, ndim: int) -> np.ndarray:
    """Reshape a (C,) vector to broadcast against an input with ``ndim`` dimensions."""
    return values.reshape((1, -1) + (1,) * (ndim - 2))


def _channel_sum(a: np.ndarray, b: Optional[np.ndarray] = None) -> np.ndarray:
    """Σ a (or Σ a·b) over every axis but the channel axis 1, without an (N, C, …) temporary.

    In memory an input with spatial axes is (P, C, Q): P numbers outside each channel's block,
    Q inside it (NCHW: P = N, Q = H·W; batch-innermost: P = 1, Q = H·W·N).  The sums over Q
    are matrix products (see reductions.py): for (64, 32, 26, 26) float32, Σ x 78 → 42–58 µs and
    Σ x² 243–290 → 63–100 µs against ``einsum`` on an (N, C, L) view (which is itself several
    times faster than ``(a * b).sum(axis=(0, 2, 3))``).  Everything else takes the ``einsum``:
    BatchNorm1d's (N, C) (Σ a down its columns is a matrix product too), arrays with gaps in
    memory or with the channels innermost, and two arrays in different layouts.
    """
    if a.ndim == 2 and b is None and a.flags.c_contiguous:
        return column_sums(a)
    if a.ndim > 2:
        order = tuple(range(a.ndim)) if a.flags.c_contiguous else memory_order(a)
        stored = a.transpose(order)
        other = None if b is None else b.transpose(order)
        inside = math.prod(stored.shape[order.index(1) + 1:])
        if stored.flags.c_contiguous and (other is None or other.flags.c_contiguous) and inside > 1:
            rows = stored.reshape(-1, inside)  # (P·C, Q)
            sums = row_sums(rows) if other is None else row_dots(rows, other.reshape(rows.shape))
            return sums.reshape(-1, a.shape[1]).sum(axis=0)
    a3 = a.reshape(a.shape[0], a.shape[1], -1)
    if b is None:
        return np.einsum("ncl->c", a3)
    return np.einsum("ncl,ncl->c", a3, b.reshape(a3.shape))


def _centered_statistics(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(μ, biased σ², x − μ); two passes (centre, then square) for accuracy.

    The first mean is refined once, μ = μ₀ + mean(x − μ₀): summed in float32, μ₀ of inputs near
    1000 was off by 2·10⁻³ (torch's by 6·10⁻⁵), and every x̂ inherited the error; the sum of the
    small differences x − μ₀ is accurate."""
    count = x.size // x.shape[1]
    mean = _channel_sum(x) / count
    with np.errstate(invalid="ignore"):  # ∞ − ∞ where a channel holds ±∞: NaN, quietly, as torch's
        centered = x - _per_channel(mean, x.ndim)
    if np.isfinite(mean).all():  # with ±∞ in a channel x − μ₀ is NaN there: torch's running mean keeps the ∞
        correction = _channel_sum(centered) / count
        centered -= _per_channel(correction, x.ndim)
        mean += correction
    return mean, _channel_sum(centered, centered) / count, centered


def _inverse_std(var: np.ndarray, eps: float, dtype) -> np.ndarray:
    return (1.0 / np.sqrt(var + np.asarray(eps, dtype=var.dtype))).astype(dtype, copy=False)


def _scale_and_shift(x_hat: np.ndarray, weight: Optional[np.ndarray], bias: Optional[np.ndarray]) -> np.ndarray:
    """γ x̂ + β as a new array (x̂ itself is kept for backward)."""
    out = x_hat * _per_channel(weight, x_hat.ndim) if weight is not None else x_hat.copy()
    if bias is not None:
        out += _per_channel(bias, x_hat.ndim)
    return out


def batch_norm_forward(
    x: np.ndarray,
    mean: np.ndarray,
    var: np.ndarray,
    weight: Optional[np.ndarray] = None,
    bias: Optional[np.ndarray] = None,
    eps: float = 1e-5,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y = γ (x − μ)/√(σ² + ε) + β.  Returns ``(y, x_hat, inv_std)``; backward needs the last two."""
    inv_std = _inverse_std(var, eps, x.dtype)
    x_hat = x - _per_channel(mean, x.ndim)
    x_hat *= _per_channel(inv_std, x.ndim)
    return _scale_and_shift(x_hat, weight, bias), x_hat, inv_std


def batch_norm_backward(
    grad_output: np.ndarray,
    x_hat: np.ndarray,
    inv_std: np.ndarray,
    weight: Optional[np.ndarray] = None,
    batch_stats: bool = True,
    param_grads: bool = True,
) -> Tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]:
    """Returns ``(grad_input, grad_weight, grad_bias)``.

    ``batch_stats`` says whether μ and σ² came from this batch (training) and therefore
    depend on x, or are fixed running estimates (evaluation).  ``param_grads=False`` (frozen
    γ and β) returns None for their gradients and, with running estimates, skips their two
    passes over the batch; with batch statistics dL/dx needs the same sums anyway.
    """
    ndim = grad_output.ndim
    if not batch_stats and not param_grads:
        scale = inv_std if weight is None else weight * inv_std
        return grad_output * _per_channel(scale, ndim), None, None
    grad_bias = _channel_sum(grad_output)
    grad_weight = _channel_sum(grad_output, x_hat)
    scale = inv_std if weight is None else weight * inv_std
    grad_input = grad_output * _per_channel(scale, ndim)
    if not batch_stats:
        return grad_input, grad_weight, grad_bias
    count = grad_output.size // grad_output.shape[1]
    # γ/σ · (g − mean(g) − x̂ · mean(g x̂)), with the per-channel factors folded together
    grad_input -= x_hat * _per_channel(scale * grad_weight / count, ndim)
    grad_input -= _per_channel(scale * grad_bias / count, ndim)
    return grad_input, grad_weight, grad_bias


class _BatchNorm(Module):
    """Shared by BatchNorm1d and BatchNorm2d; they differ only in the accepted input ranks."""

    _ranks: Tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: Optional[float] = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=np.float32,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if whole(type(self).__name__, "num_features", num_features) < 1:
            raise ValueError(f"{type(self).__name__} needs num_features ≥ 1, got {num_features}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.dtype = check_dtype(dtype)
        check_device(type(self).__name__, device)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=self.dtype))
            # torch's keyword-only bias=False keeps γ and drops β
            self.register_parameter("bias", Parameter(np.zeros(self.num_features, dtype=self.dtype)) if bias else None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=self.dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=self.dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:  # as in torch: nothing to track, nothing in state_dict
            self.running_mean = None
            self.running_var = None
            self.num_batches_tracked = None
        self._cache = None

    def _check_input(self, x) -> None:
        name = type(self).__name__
        if not isinstance(x, np.ndarray) or x.ndim not in self._ranks or x.shape[1] != self.num_features:
            got = x.shape if isinstance(x, np.ndarray) else type(x).__name__
            expected = self._layout.format(C=self.num_features)
            raise ValueError(f"{name} expected input of shape {expected}, got {got}")
        expect_float(name, x, self.dtype)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        # like torch: batch statistics in training, and in eval when nothing was tracked (or both
        # running statistics were set to None)
        use_batch_stats = (self.training or not self.track_running_stats
                           or (self.running_mean is None and self.running_var is None))
        if x.size == 0:  # an empty batch, as torch: an empty output, and no statistics to update
            if self.training and self.track_running_stats and self.num_batches_tracked is not None:
                self.num_batches_tracked += 1  # torch counts the batch all the same
            self._cache = (x, None, use_batch_stats)
            return np.empty_like(x)
        if use_batch_stats:
            count = x.size // self.num_features
            if count <= 1:  # one value's variance is 0: every output would be the bias
                raise ValueError(
                    f"{type(self).__name__} expected more than 1 value per channel when training "
                    "(or in eval mode without running statistics), "
                    f"got input of shape {x.shape}"
                )
            mean, var, centered = _centered_statistics(x)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, count)
            inv_std = _inverse_std(var, self.eps, x.dtype)
            x_hat = centered  # normalised in place: x − μ is not needed again
            x_hat *= _per_channel(inv_std, x.ndim)
        else:
            inv_std = _inverse_std(self.running_var, self.eps, x.dtype)
            x_hat = x - _per_channel(self.running_mean, x.ndim)
            x_hat *= _per_channel(inv_std, x.ndim)
        weight = None if self.weight is None else self.weight.data
        bias = None if self.bias is None else self.bias.data
        self._cache = (x_hat, inv_std, use_batch_stats)
        return _scale_and_shift(x_hat, weight, bias)

    def _update_running_stats(self, mean: np.ndarray, var: np.ndarray, count: int) -> None:
        if self.num_batches_tracked is not None:
            self.num_batches_tracked += 1  # in place: the 0-d array stays the registered buffer
        if self.running_mean is None or self.running_var is None:  # set to None: nothing to update, as torch
            return
        factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        unbiased_var = var * (count / (count - 1))
        # update the arrays in place through local names: `self.running_mean *= …` would
        # re-assign the attribute and so un-register the buffer
        running_mean, running_var = self.running_mean, self.running_var
        running_mean *= 1 - factor
        running_mean += factor * mean
        running_var *= 1 - factor
        running_var += factor * unbiased_var

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        x_hat, inv_std, use_batch_stats = self._cache
        check_grad_output(type(self).__name__, grad_output, x_hat.shape)  # before weight.grad changes
        weight = None if self.weight is None else self.weight.data
        if x_hat.size == 0:  # an empty batch: nothing flows back, and the parameters' share is zero
            grad_input, grad_weight = np.empty_like(grad_output), np.zeros(self.num_features, self.dtype)
            grad_bias = grad_weight.copy()
        else:
            trained = [p for p in (self.weight, self.bias) if p is not None and p.requires_grad]
            grad_input, grad_weight, grad_bias = batch_norm_backward(grad_output, x_hat, inv_std, weight,
                                                                     use_batch_stats, param_grads=bool(trained))
        if self.weight is not None and grad_weight is not None:
            self.weight.add_to_grad(grad_weight)  # nothing for a frozen γ (add_to_grad)
        if self.bias is not None and grad_bias is not None:
            self.bias.add_to_grad(grad_bias)
        return grad_input

    def _complete_state_dict(self, state_dict, prefix: str) -> None:
        """An older ``state_dict`` without ``num_batches_tracked`` keeps this layer's own count.

        torch's BatchNorm does the same (``_load_from_state_dict``, for checkpoints saved before
        the buffer existed), so such checkpoints still load under ``strict=True``.
        """
        key = prefix + "num_batches_tracked"
        if self.track_running_stats and key not in state_dict:
            state_dict[key] = self.num_batches_tracked.copy()

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """``torch.nn.BatchNorm1d``: input (N, C) or (N, C, L); statistics per feature C."""

    _ranks = (2, 3)
    _layout = "(N, C={C}) or (N, C={C}, L)"


class BatchNorm2d(_BatchNorm):
    """``torch.nn.BatchNorm2d``: input (N, C, H, W); statistics per channel over N, H and W."""

    _ranks = (4,)
    _layout = "(N, C={C}, H, W)"
