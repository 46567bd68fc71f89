"""Element-wise activations and (log-)softmax (Chapter "Activation functions").

Forward and local backward rule of each one, side by side (g = dL/dy):

  sigmoid     σ(x) = 1 / (1 + e^{−x})               dL/dx = g · σ(x)(1 − σ(x))
  tanh        tanh(x)                               dL/dx = g · (1 − tanh²(x))
  ReLU        max(x, 0)                             dL/dx = g · [x > 0]
  LeakyReLU   x if x > 0 else a·x                   dL/dx = g · (1 if x > 0 else a)
  softmax     p_i = e^{x_i} / Σ_j e^{x_j}            dL/dx = p ⊙ (g − Σ_j g_j p_j)
  log-softmax x_i − log Σ_j e^{x_j}                 dL/dx = g − p · Σ_j g_j

Numerical stability (Chapter "Activation functions", section "Softmax and its numerics"):
log-softmax subtracts max_j x_j first (the result is unchanged, e^{…} never overflows),
softmax does so whenever the unshifted sums show it is needed (``softmax``), and sigmoid
lets e^{−x} overflow to ∞ for very negative x, where 1/(1 + ∞) = 0 is the right limit.
The derivative helpers (``sigmoid_derivative`` …) take the pre-activation x, for plots.
At x = 0 ReLU's derivative is taken as 0 and LeakyReLU's as a, as in PyTorch.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .layout import empty_like_layout, memory_order
from .module import Module, before_overwrite, check_grad_output, keep_for_backward, release_for_backward
from .reductions import row_dots, row_maxima, row_sums


def _expect_float_array(layer: str, x) -> None:
    if not isinstance(x, np.ndarray):
        raise ValueError(f"{layer} expected a NumPy array, got {type(x).__name__}")
    if x.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"{layer} expected a float32 or float64 array, got dtype {x.dtype.name} "
            f"(convert with x.astype(np.float32))"
        )


def _axis_in_range(layer: str, x: np.ndarray, axis: int) -> int:
    if x.ndim == 0:
        raise ValueError(f"{layer} expected an input with at least one dimension, got shape ()")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{layer}: dim {axis} is out of range for an input of shape {x.shape}")
    return axis


# --- functional forms -------------------------------------------------------
def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1/(1+e^{−x}), in four passes over memory.

    Below x ≈ −88.7 in float32 (−709.8 in float64) e^{−x} overflows to ∞, and 1/(1 + ∞) = 0 is
    the right limit: torch's sigmoid gives 0 there too (the exact value is below the smallest
    normal number).  That overflow is expected, so it is not reported.  Elsewhere the result is
    within a few units in the last place, like the form with e^{−|x|} on both branches
    (``sigmoid_from_exp``), which never overflows but takes seven passes: 232 → 109 µs on
    (256, 512) float32 (numpy 2.4.6, 2026-12-07).
    """
    one = np.ones((), x.dtype)  # a 0-d array: NumPy takes it faster than a Python number
    out = np.negative(x, out=np.empty_like(x))  # out=: an array even for a 0-d x, so it can be reused in place
    with np.errstate(over="ignore", under="ignore"):  # e^{−x} = ∞ gives σ = 0, the limit; σ may be subnormal
        np.exp(out, out=out)
        out += one
        return np.divide(one, out, out=out)


def sigmoid_from_exp(x: np.ndarray, exp_neg_abs: np.ndarray) -> np.ndarray:
    """σ(x) given e^{−|x|} (which BCEWithLogitsLoss has computed already).

    σ(x) = 1/(1 + e^{−x}) for x ≥ 0 and e^{x}/(1 + e^{x}) for x < 0; both are
    numerator/(1 + e^{−|x|}) with numerator max(e^{−|x|}, [x ≥ 0]).  The max is
    branch-free: a masked select (np.where) is several times slower on random signs.
    """
    numerator = np.maximum(exp_neg_abs, x >= 0)
    numerator /= 1 + exp_neg_abs
    return numerator


def sigmoid_derivative(x: np.ndarray) -> np.ndarray:
    """dσ/dx = σ(x)(1 − σ(x)); at most 1/4 (at x = 0), which is why deep sigmoid nets vanish."""
    s = sigmoid(x)
    return s * (1 - s)


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh(x) = 2σ(2x) − 1."""
    return np.tanh(x)


def tanh_derivative(x: np.ndarray) -> np.ndarray:
    """d tanh/dx = 1 − tanh²(x)."""
    t = np.tanh(x)
    return 1 - t * t


def relu(x: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
    """max(x, 0), into ``out`` when given (``out=x`` works in place); see ``maximum_with``."""
    return maximum_with(x, 0, out)


def maximum_with(x: np.ndarray, value: float, out: Optional[np.ndarray] = None) -> np.ndarray:
    """np.maximum(x, value) for a number ``value``, computed against a chunk of copies of it.

    NumPy runs its vectorised maximum only when both operands are arrays, and against a scalar
    falls back to an element-by-element loop: np.maximum(x, 0) took 513 µs on 64×32×26×26
    float32, against 222 µs a chunk at a time against an array of zeros (numpy 2.4.6, measured
    2026-12-05).  Same numbers either way; the result keeps x's memory layout (see layout.py).
    Below ``_SMALL`` numbers the plain call is faster than the set-up.
    """
    if x.size < _SMALL:  # out=: an array also for a 0-d x (NumPy would return a scalar)
        return np.maximum(x, x.dtype.type(value), out=np.empty_like(x) if out is None else out)
    if out is None:
        out = empty_like_layout(x.shape, x.dtype, x)
    order = memory_order(x)
    source, target = x.transpose(order), out.transpose(order)
    if not (source.flags.c_contiguous and target.flags.c_contiguous and x.dtype == out.dtype):
        return np.maximum(x, x.dtype.type(value), out=out)
    source, target = source.reshape(-1), target.reshape(-1)
    constant = _constant(x.dtype, value)
    for start in range(0, source.size, constant.size):
        stop = min(start + constant.size, source.size)
        np.maximum(source[start:stop], constant[:stop - start], out=target[start:stop])
    return out


_CHUNK = 1 << 17  # numbers per np.maximum call in maximum_with (512 KB in float32)
_SMALL = 1 << 15  # float32 (128, 128): 7 µs as one call, 10 in chunks; (64, 512): 13 and 12
_CONSTANTS = {}


def _constant(dtype, value: float) -> np.ndarray:
    """A read-only chunk of ``value`` in ``dtype``, made once (a few are kept: 0, and the
    negative slopes of the LeakyReLU layers in use)."""
    key = (np.dtype(dtype), float(value))
    constant = _CONSTANTS.get(key)
    if constant is None:
        if len(_CONSTANTS) >= 8:
            _CONSTANTS.clear()
        constant = _CONSTANTS[key] = np.full(_CHUNK, value, dtype=dtype)
        constant.flags.writeable = False
    return constant


def _relu_mask(x: np.ndarray) -> np.ndarray:
    """Where ReLU passes the gradient: not x ≤ 0.  That is x > 0, except at NaN, where torch's
    ReLU also passes it (its backward zeroes the gradient where the output is ≤ 0)."""
    mask = np.asarray(np.less_equal(x, 0))  # an array also for a 0-d x (NumPy returns a scalar there)
    return np.logical_not(mask, out=mask)


def relu_derivative(x: np.ndarray) -> np.ndarray:
    """[x > 0] as 0/1 in x's dtype (0 at x = 0, like torch; 1 at NaN, see ``_relu_mask``)."""
    return _relu_mask(x).astype(x.dtype)


def leaky_relu(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """x for x > 0, negative_slope·x otherwise: x times its slope, 1 or a (``_leaky_relu_slope``).

    Branch-free, and torch's values at ±∞ for every a: max(x, a·x), which this used for 0 ≤ a ≤ 1,
    gave NaN at +∞ for a = 0 (0·∞ is NaN, and the maximum keeps a NaN) where torch gives +∞.
    """
    slope = _leaky_relu_slope(x, negative_slope)
    return np.multiply(x, slope, out=slope)  # out=: an array also for a 0-d x


def _leaky_relu_slope(x: np.ndarray, negative_slope: float) -> np.ndarray:
    """The local derivative 1 or a as an array (used by backward)."""
    positive = x > 0
    if 0 <= negative_slope <= 1:  # max([x > 0], a) is 1 or a; avoids np.where's slow random-mask select
        slope = np.asarray(positive, dtype=x.dtype)  # an array also for a 0-d x
        return maximum_with(slope, negative_slope, out=slope)
    return np.where(positive, np.asarray(1, dtype=x.dtype), np.asarray(negative_slope, dtype=x.dtype))


def leaky_relu_derivative(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """1 for x > 0, negative_slope otherwise (also at x = 0, like torch)."""
    return _leaky_relu_slope(x, negative_slope)


def _sum_along(x: np.ndarray, axis: int, weights: Optional[np.ndarray] = None) -> np.ndarray:
    """Σ over ``axis`` (kept, with size 1) of x, or of x ⊙ weights.

    Over the last axis of contiguous arrays the sums are matrix products (see reductions.py):
    forward + backward on (2048, 512) float32, softmax 2.10 → 1.81 ms and log-softmax
    2.57 → 2.14 (medians of 30 alternating rounds, 2026-12-05)."""
    if (_is_last_axis(x, axis) and x.size and x.flags.c_contiguous  # (…, 0) cannot reshape to (-1, 0)
            and (weights is None or weights.flags.c_contiguous)):
        rows = x.reshape(-1, x.shape[-1])
        sums = row_sums(rows) if weights is None else row_dots(rows, weights.reshape(rows.shape))
        return sums.reshape(x.shape[:-1] + (1,))
    return np.sum(x if weights is None else x * weights, axis=axis, keepdims=True)


def _is_last_axis(x: np.ndarray, axis) -> bool:
    """Whether ``axis`` names x's last axis (an out-of-range or non-integer axis does not, and is
    left to NumPy, which refuses it)."""
    integer = isinstance(axis, (int, np.integer)) and not isinstance(axis, bool)
    return integer and x.ndim > 0 and axis in (-1, x.ndim - 1)


def _max_along(x: np.ndarray, axis: int) -> np.ndarray:
    """max over ``axis`` (kept, with size 1) of x; over the last axis of a contiguous array by
    ``row_maxima`` (see reductions.py: many short rows are compared column by column)."""
    if _is_last_axis(x, axis) and x.flags.c_contiguous and x.size:
        return row_maxima(x.reshape(-1, x.shape[-1])).reshape(x.shape[:-1] + (1,))
    return np.max(x, axis=axis, keepdims=True)


def _empty_like(x: np.ndarray, axis: int) -> np.ndarray:
    """The (log-)softmax of an empty array, as torch's: an empty array (a maximum over an empty axis
    would raise); ``axis`` is still checked."""
    np.lib.array_utils.normalize_axis_index(axis, x.ndim)
    return np.empty_like(x)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """s_i = e^{x_i − m} / Σ_j e^{x_j − m} with m = max_j x_j (stable for any finite x).

    The shift by m only guards against overflow and a vanishing denominator, so it is skipped
    when the unshifted sums show neither: if every Σ_j e^{x_j} is finite and at least 1, no
    e^{x_j} overflowed and no row's denominator is small, and e^{x_i} / Σ_j e^{x_j} is the same
    softmax — more accurate than the shifted one, as x_i − m is not rounded before e^{…}
    magnifies its error (float32, logits of spread 10: within 7 units in the last place of the
    exact values, the shifted form within 64).  Otherwise (large logits, rows of only very
    negative logits, ±∞ or NaN) the maximum is subtracted.  The row maxima are the costly part
    for short rows (0.9 of the 3 ms of forward + backward on (8192, 64) float32, numpy 2.4.6).
    """
    if x.size == 0:
        return _empty_like(x, axis)
    if x.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):  # an e^{x} = ∞ sends this to the shift
            exp = np.exp(x)
            sums = _sum_along(exp, axis)
        if ((sums >= 1) & (sums < np.inf)).all():  # false for NaN too
            exp /= sums
            return exp
        np.subtract(x, _max_along(x, axis), out=exp)
    else:
        exp = x - _max_along(x, axis)
    np.exp(exp, out=exp)  # in place: one (…)-sized temporary in all
    exp /= _sum_along(exp, axis)
    return exp


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x_i − m − log Σ_j e^{x_j − m}: no overflow, and no log(0) for very negative logits."""
    if x.size == 0:
        return _empty_like(x, axis)
    shifted = x - _max_along(x, axis)
    shifted -= np.log(_sum_along(np.exp(shifted), axis))
    return shifted


def softmax_backward(grad_output: np.ndarray, output: np.ndarray, axis: int = -1) -> np.ndarray:
    """dL/dx = p ⊙ (g − Σ_j g_j p_j): the Jacobian diag(p) − p pᵀ applied without forming it."""
    grad = grad_output - _sum_along(grad_output, axis, weights=output)
    grad *= output
    return grad


def log_softmax_backward(grad_output: np.ndarray, output: np.ndarray, axis: int = -1) -> np.ndarray:
    """dL/dx = g − softmax(x) · Σ_j g_j, where softmax(x) = e^{log_softmax(x)}."""
    grad = np.exp(output)
    grad *= _sum_along(grad_output, axis)
    return np.subtract(grad_output, grad, out=grad)  # in the one temporary


# --- modules ------------------------------------------------------------------
_NOT_GIVEN = object()  # `_get_saved()` without a gradient (e.g. from a subclass) skips the shape check


class _Activation(Module):
    """Keeps what backward needs from forward and checks the call order."""

    def __init__(self) -> None:
        super().__init__()
        self._saved = None

    def _check_input(self, x) -> None:
        _expect_float_array(type(self).__name__, x)

    def _get_saved(self, grad_output=_NOT_GIVEN):
        """What forward kept, after checking that ``grad_output`` (when given) has the output's shape.

        Every activation keeps an array of its output's shape (the output, or the mask/slope
        of x), so that is the shape to check against.
        """
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        if grad_output is not _NOT_GIVEN:
            check_grad_output(type(self).__name__, grad_output, np.shape(self._saved))
            release_for_backward(type(self).__name__, self._saved)  # raises if an in-place layer wrote into it
        return self._saved


class Sigmoid(_Activation):
    """``torch.nn.Sigmoid``; backward reuses the output: σ' = σ(1 − σ)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        out = sigmoid(x)
        self._saved = keep_for_backward(out)  # backward raises if an in-place layer overwrites it
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        out = self._get_saved(grad_output)
        return grad_output * out * (1 - out)


class Tanh(_Activation):
    """``torch.nn.Tanh``; backward reuses the output: tanh' = 1 − tanh²."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        out = np.tanh(x, out=np.empty_like(x))  # out=: an array also for a 0-d x (NumPy returns a scalar)
        self._saved = keep_for_backward(out)  # backward raises if an in-place layer overwrites it
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        out = self._get_saved(grad_output)
        return grad_output * (1 - out * out)


class ReLU(_Activation):
    """``torch.nn.ReLU(inplace=False)``; backward only needs the mask x > 0.

    With ``inplace=True`` the output is written into the input array and returned (no new
    activation-sized array, as torchvision's models use it); the caller must not need x again.
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        if self.inplace:
            before_overwrite("ReLU", x)
        out = relu(x, out=x if self.inplace else None)
        # the mask, from the output in one pass: max(x, 0) ≠ 0 exactly where not x ≤ 0 (see _relu_mask)
        self._saved = out != 0
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output * self._get_saved(grad_output)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(_Activation):
    """``torch.nn.LeakyReLU(negative_slope=0.01, inplace=False)``; ``inplace`` as in ReLU."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = float(negative_slope)
        self.inplace = bool(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        if self.inplace:
            before_overwrite("LeakyReLU", x)
        self._saved = _leaky_relu_slope(x, self.negative_slope)  # from x, before it may be overwritten
        # x · (1 or a) is the leaky ReLU (see leaky_relu), from the slope that backward needs anyway
        return np.multiply(x, self._saved, out=x if self.inplace else np.empty_like(x))

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output * self._get_saved(grad_output)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class _AlongDim(_Activation):
    """What Softmax and LogSoftmax share: the required ``dim`` (torch's implicit choice is deprecated).
    As in torch, a LogSoftmax is not a Softmax."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim is None or not isinstance(dim, (int, np.integer)):
            raise ValueError(f"{type(self).__name__} needs an integer dim, e.g. dim=-1 for the last axis; got {dim!r}")
        self.dim = int(dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """``torch.nn.Softmax(dim)``; ``dim`` is required (torch's implicit choice is deprecated)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        out = softmax(x, axis=_axis_in_range(type(self).__name__, x, self.dim))
        self._saved = keep_for_backward(out)  # backward raises if an in-place layer overwrites it
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return softmax_backward(grad_output, self._get_saved(grad_output), axis=self.dim)


class LogSoftmax(_AlongDim):
    """``torch.nn.LogSoftmax(dim)``: the stable partner of NLLLoss."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check_input(x)
        out = log_softmax(x, axis=_axis_in_range(type(self).__name__, x, self.dim))
        self._saved = keep_for_backward(out)  # backward raises if an in-place layer overwrites it
        return out

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return log_softmax_backward(grad_output, self._get_saved(grad_output), axis=self.dim)
