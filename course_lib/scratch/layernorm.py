"""Layer normalisation (Chapter "Attention and Transformers", section "Layer normalisation").

Each sample is normalised over its last D = len(normalized_shape) dimensions
(the features), not over the batch as in batch normalisation:

    μ = mean(x),   σ² = mean((x − μ)²)          (over the normalised dimensions)
    x̂ = (x − μ) / √(σ² + ε),   y = γ ⊙ x̂ + β

Backward, with g = dL/dy ⊙ γ and means over the normalised dimensions:

    dL/dx = (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)) / √(σ² + ε)
    dL/dγ = Σ_batch dL/dy ⊙ x̂,   dL/dβ = Σ_batch dL/dy

The statistics use the biased variance (divide by D, as torch does), and the
same computation runs in training and evaluation: there are no running stats.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple, Union

import numpy as np

from .module import Module, Parameter, check_dtype, check_grad_output, expect_float


def layer_norm_forward(
    x: np.ndarray,
    normalized_ndim: int,
    weight: Optional[np.ndarray] = None,
    bias: Optional[np.ndarray] = None,
    eps: float = 1e-5,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(y, x_hat, inv_std)``; ``x_hat`` and ``inv_std`` are what backward needs."""
    axes = tuple(range(x.ndim - normalized_ndim, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    x_hat = x - mean
    variance = np.mean(np.square(x_hat), axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(variance + eps)
    x_hat *= inv_std
    if weight is None:
        y = x_hat.copy()
    else:
        y = x_hat * weight
    if bias is not None:
        y += bias
    return y, x_hat, inv_std


def layer_norm_backward(
    grad_output: np.ndarray,
    x_hat: np.ndarray,
    inv_std: np.ndarray,
    normalized_ndim: int,
    weight: Optional[np.ndarray] = None,
) -> Tuple[np.ndarray, Optional[np.ndarray], np.ndarray]:
    """Return ``(grad_input, grad_weight or None, grad_bias)`` for ``layer_norm_forward``."""
    axes = tuple(range(x_hat.ndim - normalized_ndim, x_hat.ndim))
    batch_axes = tuple(range(x_hat.ndim - normalized_ndim))
    grad_bias = grad_output.sum(axis=batch_axes)
    grad_weight = None
    if weight is not None:
        grad_weight = (grad_output * x_hat).sum(axis=batch_axes)
        grad_xhat = grad_output * weight
    else:
        grad_xhat = grad_output.copy()
    mean_grad = grad_xhat.mean(axis=axes, keepdims=True)
    mean_grad_xhat = np.mean(grad_xhat * x_hat, axis=axes, keepdims=True)
    # grad_xhat becomes dL/dx in place: (g − mean(g) − x̂·mean(g·x̂)) / σ
    grad_xhat -= mean_grad
    grad_xhat -= x_hat * mean_grad_xhat
    grad_xhat *= inv_std
    return grad_xhat, grad_weight, grad_bias


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
        dtype=np.float32,
    ):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)):
            normalized_shape = (int(normalized_shape),)
        self.normalized_shape = tuple(int(size) for size in normalized_shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        self.dtype = check_dtype(dtype)
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
            shape = getattr(x, "shape", type(x).__name__)
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
            grad_output, x_hat, inv_std, len(self.normalized_shape), weight
        )
        if self.weight is not None:
            self.weight.add_to_grad(grad_weight)
        if self.bias is not None:
            self.bias.add_to_grad(grad_bias)
        return grad_input

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
