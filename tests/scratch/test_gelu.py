"""GELU and the erf it needs: erf against math.erf (and its coefficients against their Chebyshev
recipe), GELU and its tanh form against torch and gradcheck."""
import math

import numpy as np
import pytest
import torch

from course_lib.scratch import gelu as gelu_module
from course_lib.scratch.gelu import GELU, erf, gelu, gelu_derivative
from course_lib.scratch.gradcheck import gradcheck

from .parity import assert_parity


def test_erf_matches_math_erf():
    x = np.concatenate([np.linspace(-7, 7, 20001), [-30.0, -2.5, 2.5, 30.0, 0.0]])
    expected = np.array([math.erf(value) for value in x])
    np.testing.assert_allclose(erf(x), expected, rtol=1e-14, atol=1e-15)


def _chebyshev_fit_in_powers(f, low, high, degree, centre):
    """f's Chebyshev interpolant of ``degree`` on [low, high], as powers of (t − centre)."""
    from numpy.polynomial import chebyshev, polynomial

    def nodes(s):
        return np.array([f(low + (high - low) * (value + 1) / 2) for value in np.atleast_1d(s)])

    in_s = chebyshev.cheb2poly(chebyshev.chebinterpolate(nodes, degree))
    s_of_t = polynomial.Polynomial([(2 * centre - low - high) / (high - low), 2 / (high - low)])
    return polynomial.Polynomial(in_s)(s_of_t).coef


def test_erf_coefficients_are_the_chebyshev_fits_the_comment_describes():
    """The constants in gelu.py come from this recipe: anyone can check or refit them."""
    split, one, centre = gelu_module._ERF_SPLIT, gelu_module._ERF_ONE, gelu_module._ERF_CENTRE
    assert centre == (1 / (1 + one) + 1 / (1 + split)) / 2
    for precision, (small_degree, large_degree) in {8: (10, 17), 4: (5, 8)}.items():
        small = _chebyshev_fit_in_powers(
            lambda u: math.erf(math.sqrt(u)) / math.sqrt(u) if u else 2 / math.sqrt(math.pi), 0, split ** 2, small_degree, 0)
        large = _chebyshev_fit_in_powers(lambda t: math.exp((1 / t - 1) ** 2) * math.erfc(1 / t - 1),
                                         1 / (1 + one), 1 / (1 + split), large_degree, centre)
        np.testing.assert_allclose(gelu_module._ERF_SMALL[precision], small, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(gelu_module._ERF_LARGE[precision], large, rtol=1e-9, atol=1e-12)


def test_float32_erf_is_within_about_half_a_unit_in_the_last_place():
    """float32 inputs are evaluated in double and rounded (the old float32 series was up to 9 units off)."""
    x = np.concatenate([np.linspace(-7, 7, 100001), np.geomspace(1e-38, 1, 2000)]).astype(np.float32)
    expected = np.array([math.erf(float(value)) for value in x])
    result = erf(x)
    assert result.dtype == np.float32
    units = np.abs(result.astype(np.float64) - expected) / np.spacing(np.abs(expected).astype(np.float32))
    assert units.max() <= 0.53


def test_erf_of_special_values_shapes_and_dtypes():
    special = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 6.0, -6.0, 0.75, -0.75, 1e-310, 40.0])
    result = erf(special)
    assert np.isnan(result[0]) and list(result[1:3]) == [1.0, -1.0]
    assert list(np.signbit(result[3:5])) == [False, True] and list(result[5:7]) == [1.0, -1.0]
    np.testing.assert_allclose(result[7:], [math.erf(v) for v in special[7:]], rtol=2e-15)
    assert erf(np.array([1, 2])).dtype == np.float64 and erf(np.float16([0.5])).dtype == np.float16
    assert erf(np.zeros((0, 3))).shape == (0, 3) and isinstance(erf(0.5), np.float64)
    # more numbers than one block, in a non-contiguous view: each the same as on its own
    big = np.random.default_rng(11).standard_normal((3, 50_000)) * 3
    view = big[:, ::-1].T
    pieces = np.concatenate([erf(piece) for piece in np.array_split(view.ravel(), 151)])
    assert np.array_equal(erf(view), pieces.reshape(view.shape))


def test_gelu_gradient_of_a_0_d_array():
    """An audit: the derivative's in-place passes failed on 0-d arrays (GELU'(0.5) = 0.8674951246561627)."""
    for zero_d in (np.array(0.5), np.float32(0.5)):
        layer = GELU()
        layer(np.asarray(zero_d))
        np.testing.assert_allclose(layer.backward(np.asarray(1.0, zero_d.dtype)), 0.8674951246561627, rtol=1e-6)
        np.testing.assert_allclose(gelu_derivative(zero_d), 0.8674951246561627, rtol=1e-6)


def test_gelu_module_keeps_phi_from_its_forward_and_gives_the_functional_gradient(monkeypatch):
    x = np.random.default_rng(12).standard_normal((40, 30)).astype(np.float32) * 3
    grad = np.random.default_rng(13).standard_normal(x.shape).astype(np.float32)
    layer = GELU()
    np.testing.assert_array_equal(layer(x), gelu(x))
    expected = grad * gelu_derivative(x)
    monkeypatch.setattr(gelu_module, "erf", lambda *args: pytest.fail("erf computed again in backward"))
    np.testing.assert_array_equal(layer.backward(grad), expected)


def test_gelu_matches_torch_and_gradcheck():
    x = np.random.default_rng(6).standard_normal((5, 7)) * 4
    assert_parity(torch.nn.GELU(), GELU(), x, np.random.default_rng(7).standard_normal(x.shape))
    gradcheck(GELU(), x)
    assert gelu(np.float32([1.0])).dtype == np.float32


def test_gelu_tanh_approximation_matches_torch_and_gradcheck():
    x = np.random.default_rng(8).standard_normal((5, 7)) * 4
    layer = GELU(approximate="tanh")
    assert_parity(torch.nn.GELU(approximate="tanh"), layer, x, np.random.default_rng(9).standard_normal(x.shape))
    gradcheck(GELU(approximate="tanh"), x)
    assert gelu(np.float32([1.0]), "tanh").dtype == np.float32
    assert repr(layer) == "GELU(approximate='tanh')"
    assert np.max(np.abs(gelu(x, "tanh") - gelu(x))) < 1e-3  # an approximation, a close one
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        GELU(approximate="erf")
