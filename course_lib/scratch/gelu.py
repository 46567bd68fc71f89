"""GELU, the activation of BERT and GPT (Chapter "Attention and Transformers", section "The encoder layer").

GELU(x) = x Φ(x) = x · ½(1 + erf(x/√2)), the exact form torch uses by default, or with
``approximate="tanh"`` ½ x (1 + tanh(√(2/π) (x + 0.044715 x³))).  NumPy has no erf, so ``erf``
below computes it, to about 2·10⁻¹⁵ relative.  Backward: GELU'(x) = Φ(x) + x φ(x).
"""
from __future__ import annotations

import math

import numpy as np

from .module import Module, check_grad_output, keep_for_backward, release_for_backward


# erf from two polynomials, fitted once by Chebyshev interpolation of Python's math.erf and math.erfc
# (degrees chosen so that the fit's error is below the arithmetic's):
#   |x| < 0.75        erf(x) = x · P(x²)
#   0.75 ≤ |x| < 6    erf(x) = sign(x) · (1 − e^{−x²} · Q(1/(1 + |x|) − c)),  Q ≈ e^{x²} erfc(|x|) — smooth in 1/(1 + |x|)
#   |x| ≥ 6           erf(x) = sign(x)  (erfc(6) ≈ 2·10⁻¹⁷ is below half a unit in the last place of 1)
# Coefficients in powers of x² and of 1/(1 + |x|) − c, the constant term first.  Double precision uses
# degrees 10 and 17: erf within 1.5·10⁻¹⁵ absolute and 2.1·10⁻¹⁵ relative of the exact value, largest just
# above 0.75 (an audit against 200-bit mpmath).  Single precision uses lower ones, still evaluated in double,
# then rounded: within 0.53 units in the last place of float32.  tests/scratch/test_gelu.py refits
# them from this recipe (numpy.polynomial.chebyshev.chebinterpolate).
_ERF_SPLIT, _ERF_ONE, _ERF_CENTRE = 0.75, 6.0, 0.3571428571428571
_ERF_SMALL = {
    8: (1.1283791670955108, -0.3761263890314588, 0.1128379166920407, -0.026866170297445795, 0.005223973933009867,
        -0.000854809481735203, 0.0001204626950635838, -1.4703789609835153e-05, 1.3147382457898574e-06,
        1.1310238632779642e-07, -8.510055070860475e-08),
    4: (1.1283791655787505, -0.3761261946943318, 0.11283386538372883, -0.026835114567113013, 0.0051153321103036,
        -0.0006756479557358877),
}
_ERF_LARGE = {
    8: (0.2785600956364382, 0.9844125307859779, 0.4734786937000267, -0.4172132258499678, -0.2013634212301608,
        0.5565438570683036, -0.250521571110009, -0.5195307006973561, 1.0599900023037516, -0.603066978761058,
        -1.0450963073981856, 2.950176353157902, -3.110687266292952, -0.6820990616145471, 9.585527601429373,
        -16.95990131432024, -0.8896422660073985, 30.42167518818402),
    4: (0.2785600956364385, 0.9844125791531035, 0.47347889667202786, -0.41722770341674437, -0.20142202586865182,
        0.5577710677506179, -0.24599890921838663, -0.5614627971244965, 0.9338175694206399),
}


def _polynomial(coefficients, v: np.ndarray) -> np.ndarray:
    """Σ_k coefficients[k] · v^k by Horner's rule, in place in one array."""
    total = np.full_like(v, coefficients[-1])
    for coefficient in coefficients[-2::-1]:
        total *= v
        total += coefficient
    return total


# numbers per block of ``erf``: the block's float64 work arrays stay in the L2 cache through the
# polynomials' passes (1.7× faster on 2048 × 512 numbers than one block, numpy 2.4.6, 2026-12-07)
_ERF_BLOCK = 1 << 16


def erf(x: np.ndarray) -> np.ndarray:
    """The error function erf(x) = 2/√π ∫₀ˣ e^{−t²} dt, element-wise (NumPy has none).

    From two fitted polynomials (see ``_ERF_SMALL``, ``_ERF_LARGE``): float64 results are within
    2.1·10⁻¹⁵ of the exact value, relative (and 1.5·10⁻¹⁵ absolute); float32 and float16 inputs are
    evaluated in double and rounded, within about half a unit in the last place.  Integers give
    float64; NaN stays NaN, erf(±∞) = ±1.  The numbers beyond the first polynomial's range are
    picked by index (``take``: several times faster than a boolean mask on mixed ranges).
    """
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    precision = 8 if dtype.itemsize >= 8 else 4
    flat = x.reshape(-1)
    result = np.empty(flat.shape, dtype)
    for start in range(0, flat.size, _ERF_BLOCK):
        result[start:start + _ERF_BLOCK] = _erf_block(flat[start:start + _ERF_BLOCK], precision)
    return result.reshape(x.shape) if x.ndim else result[0]


def _erf_block(x: np.ndarray, precision: int) -> np.ndarray:
    """``erf`` of a 1-D block, in float64 (the caller rounds it to the input's precision).

    The first polynomial runs on every number, clamped to its range (most numbers of a layer's
    input are in it, and picking them out costs more than the polynomial); the second only on the
    numbers beyond, picked by index, clamped at 6 (where 1 − erfc rounds to 1)."""
    work = x.astype(np.float64)
    magnitude = np.abs(work)
    z = np.minimum(magnitude, _ERF_SPLIT)
    result = _polynomial(_ERF_SMALL[precision], z * z)
    result *= z
    beyond = np.flatnonzero(~(magnitude < _ERF_SPLIT))  # NaN too: it stays NaN through the formula
    z = np.minimum(magnitude.take(beyond), _ERF_ONE)
    v = np.add(z, 1.0)
    np.divide(1.0, v, out=v)
    v -= _ERF_CENTRE
    complement = _polynomial(_ERF_LARGE[precision], v)
    np.multiply(z, z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    complement *= z  # erfc(|x|)
    result[beyond] = np.subtract(1.0, complement, out=complement)
    return np.copysign(result, work, out=result)


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """GELU(x) = x · Φ(x) = x · ½(1 + erf(x/√2)) (torch's default, approximate='none').

    ``approximate='tanh'``: ½ x (1 + tanh(√(2/π) (x + 0.044715 x³))), the form GPT-2 and BERT used.
    """
    if _check_approximate(approximate) == "tanh":
        return x * (0.5 * (1 + np.tanh(_gelu_tanh_argument(x))))
    return x * _normal_cdf(x)


def gelu_derivative(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """dGELU/dx = Φ(x) + x φ(x), with φ(x) = e^{−x²/2}/√(2π).

    For the tanh form, with u = √(2/π)(x + 0.044715 x³) and t = tanh u:
    ½(1 + t) + ½ x (1 − t²) √(2/π)(1 + 3·0.044715 x²).
    """
    if _check_approximate(approximate) == "tanh":
        t = np.tanh(_gelu_tanh_argument(x))
        du = np.asarray(math.sqrt(2 / math.pi), x.dtype) * (1 + np.asarray(3 * _GELU_CUBIC, x.dtype) * x * x)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du
    return _gelu_derivative_from_cdf(x, _normal_cdf(x))


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) = ½(1 + erf(x/√2)), in x's dtype (as torch computes it)."""
    return 0.5 * (1 + erf(x * np.asarray(1 / math.sqrt(2), x.dtype)))


def _gelu_derivative_from_cdf(x: np.ndarray, cdf: np.ndarray) -> np.ndarray:
    """Φ(x) + x φ(x), given Φ(x) (the GELU module keeps it from its forward: no second erf)."""
    derivative = np.multiply(x, x, out=np.empty_like(x))  # out=: an array also for a 0-d x
    derivative *= np.asarray(-0.5, x.dtype)
    np.exp(derivative, out=derivative)
    derivative *= x
    derivative *= np.asarray(1 / math.sqrt(2 * math.pi), x.dtype)
    derivative += cdf
    return derivative


_GELU_CUBIC = 0.044715


def _gelu_tanh_argument(x: np.ndarray) -> np.ndarray:
    return np.asarray(math.sqrt(2 / math.pi), x.dtype) * (x + np.asarray(_GELU_CUBIC, x.dtype) * x * x * x)


def _check_approximate(approximate) -> str:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"GELU: approximate must be 'none' or 'tanh' (as in torch), got {approximate!r}")
    return approximate


class GELU(Module):
    """``torch.nn.GELU(approximate='none')``: exact (erf-based) or ``'tanh'``; backward needs the input x
    (and, for the exact form, Φ(x), kept from the forward)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = _check_approximate(approximate)
        self._input = None
        self._cdf = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
            got = f"dtype {x.dtype.name}" if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"GELU expected a float32 or float64 NumPy array, got {got}")
        self._input = keep_for_backward(x)  # backward raises if an in-place layer overwrites it
        if self.approximate == "tanh":
            self._cdf = None
            return np.asarray(gelu(x, self.approximate))  # an array also for a 0-d x
        self._cdf = _normal_cdf(x)
        return np.multiply(x, self._cdf, out=np.empty_like(x))

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        if self._input is None:
            raise RuntimeError("GELU.backward called before forward")
        check_grad_output("GELU", grad_output, np.shape(self._input))
        release_for_backward("GELU", self._input, "input")
        if self._cdf is None:
            return grad_output * gelu_derivative(self._input, self.approximate)
        return grad_output * _gelu_derivative_from_cdf(self._input, self._cdf)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"
