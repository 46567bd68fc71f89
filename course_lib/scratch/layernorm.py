"""Layer normalisation (Chapter "Attention and Transformers", section "The encoder layer").

Each sample is normalised over its last len(normalized_shape) dimensions, D =
prod(normalized_shape) features, not over the batch as in batch normalisation:

    μ = mean(x),   σ² = mean((x − μ)²)          (over the normalised dimensions)
    x̂ = (x − μ) / √(σ² + ε),   y = γ ⊙ x̂ + β

Backward, with g = dL/dy ⊙ γ and means over the normalised dimensions:

    dL/dx = (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) / √(σ² + ε)
    dL/dγ = Σ_batch dL/dy ⊙ x̂,   dL/dβ = Σ_batch dL/dy

The statistics use the biased variance (divide by D, as torch does), and the
same computation runs in training and evaluation: there are no running stats.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from ..checks import whole
from .module import Module, Parameter, check_device, check_dtype, check_grad_output, expect_float, received
from .reductions import column_sums, row_dot_means, row_means


def _rows(array: np.ndarray, normalized_ndim: int) -> np.ndarray:
    """``array`` as a matrix with one sample per row and its D normalised features along the row
    (a view when the array is contiguous): the means and sums below are then matrix products
    (see reductions.py)."""
    features = math.prod(array.shape[array.ndim - normalized_ndim:])
    return array.reshape(-1, features)


def layer_norm_forward(
    x: np.ndarray,
    normalized_ndim: int,
    weight: Optional[np.ndarray] = None,
    bias: Optional[np.ndarray] = None,
    eps: float = 1e-5,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(y, x_hat, inv_std)``; ``x_hat`` (x's shape) and ``inv_std`` (x's shape with the
    normalised dimensions of size 1) are what backward needs."""
    rows = _rows(x, normalized_ndim)
    x_hat = rows - row_means(rows)
    # the mean refined once, μ = μ₀ + mean(x − μ₀): μ₀ (a float32 product with fl(1/D)) can be an ulp
    # of the row's offset away, which a constant row of 123.456 turned into outputs of −5·10⁻³ instead
    # of 0; the mean of the small differences x − μ₀ is accurate
    x_hat -= row_means(x_hat)
    inv_std = row_dot_means(x_hat, x_hat)                                    # σ² (biased, as torch)
    inv_std += eps
    np.sqrt(inv_std, out=inv_std)
    np.divide(1, inv_std, out=inv_std)
    x_hat *= inv_std
    y = x_hat.copy() if weight is None else x_hat * weight.reshape(-1)
    if bias is not None:
        y += bias.reshape(-1)
    stats_shape = x.shape[:x.ndim - normalized_ndim] + (1,) * normalized_ndim
    return y.reshape(x.shape), x_hat.reshape(x.shape), inv_std.reshape(stats_shape)


def layer_norm_backward(
    grad_output: np.ndarray,
    x_hat: np.ndarray,
    inv_std: np.ndarray,
    normalized_ndim: int,
    weight: Optional[np.ndarray] = None,
    weight_grad: bool = True,
    bias_grad: bool = True,
) -> Tuple[np.ndarray, Optional[np.ndarray], Optional[np.ndarray]]:
    """Return ``(grad_input, grad_weight or None, grad_bias or None)`` for ``layer_norm_forward``;
    ``weight_grad=False`` / ``bias_grad=False`` (a frozen γ / β) skip that parameter's sum."""
    grad_rows, x_hat_rows = _rows(grad_output, normalized_ndim), _rows(x_hat, normalized_ndim)
    grad_bias = column_sums(grad_rows).reshape(x_hat.shape[x_hat.ndim - normalized_ndim:]) if bias_grad else None
    grad_weight = None
    if weight is not None and weight_grad:
        product = grad_rows * x_hat_rows
        grad_weight = column_sums(product).reshape(weight.shape)
        grad_xhat = grad_rows * weight.reshape(-1)
    elif weight is not None:
        product = np.empty_like(x_hat_rows)
        grad_xhat = grad_rows * weight.reshape(-1)
    else:
        product = np.empty_like(x_hat_rows)
        grad_xhat = grad_rows.copy()
    mean_grad = row_means(grad_xhat)
    mean_grad_xhat = row_dot_means(grad_xhat, x_hat_rows)
    # grad_xhat becomes dL/dx in place: (g − mean(g) − x̂·mean(g·x̂)) / σ
    grad_xhat -= mean_grad
    np.multiply(x_hat_rows, mean_grad_xhat, out=product)
    grad_xhat -= product
    grad_xhat *= inv_std.reshape(-1, 1)
    return grad_xhat.reshape(grad_output.shape), grad_weight, grad_bias


class LayerNorm(Module):
    """``torch.nn.LayerNorm``: weight γ (ones) and bias β (zeros) of shape ``normalized_shape``.

    ``elementwise_affine=False`` drops both parameters; ``bias=False`` drops β only.
    """

    def __init__(
        self,
        normalized_shape: Union[int, Sequence[int]],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device=None,
        dtype=np.float32,
    ):
        super().__init__()
        if not hasattr(normalized_shape, "__iter__"):  # one size: an int (a float is refused below)
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(whole("LayerNorm", "normalized_shape", size, 0) for size in normalized_shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.dtype = check_dtype(dtype)
        check_device("LayerNorm", device)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=self.dtype))
            self.register_parameter(
                "bias", Parameter(np.zeros(self.normalized_shape, dtype=self.dtype)) if bias else None
            )
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self._cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        ndim = len(self.normalized_shape)
        if not isinstance(x, np.ndarray) or x.ndim < ndim or x.shape[x.ndim - ndim:] != self.normalized_shape:
            expected = ", ".join(["*"] + [str(size) for size in self.normalized_shape])
            shape = received(x)
            raise ValueError(f"LayerNorm expected input of shape ({expected}), got {shape}")
        expect_float("LayerNorm", x, self.dtype)
        weight = None if self.weight is None else self.weight.data
        bias = None if self.bias is None else self.bias.data
        y, x_hat, inv_std = layer_norm_forward(x, ndim, weight, bias, self.eps)
        self._cache = (x_hat, inv_std)
        return y

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("LayerNorm.backward called before forward")
        x_hat, inv_std = self._cache
        check_grad_output("LayerNorm", grad_output, x_hat.shape)
        weight = None if self.weight is None else self.weight.data
        grad_input, grad_weight, grad_bias = layer_norm_backward(
            grad_output, x_hat, inv_std, len(self.normalized_shape), weight,
            weight_grad=self.weight is not None and self.weight.requires_grad,
            bias_grad=self.bias is not None and self.bias.requires_grad,
        )
        if grad_weight is not None:
            self.weight.add_to_grad(grad_weight)
        if grad_bias is not None:
            self.bias.add_to_grad(grad_bias)
        return grad_input

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
