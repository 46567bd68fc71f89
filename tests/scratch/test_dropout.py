"""Dropout: eval identity, inverted scaling, mask reuse in backward, p edge cases."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from course_lib.scratch import Module, gradcheck, init
from course_lib.scratch.dropout import Dropout, Dropout2d

from .parity import assert_close, assert_parity
from ..hypothesis_budget import examples


def test_eval_is_identity_and_matches_torch():
    x = np.random.default_rng(0).standard_normal((4, 5))
    layer = Dropout(0.7).eval()
    out = layer(x)
    assert out is x or np.array_equal(out, x)
    grad = np.random.default_rng(1).standard_normal((4, 5))
    assert np.array_equal(layer.backward(grad), grad)
    assert_parity(torch.nn.Dropout(0.7).eval(), layer, x, grad)


@settings(max_examples=examples(20), deadline=None)
@given(shape=array_shapes(min_dims=1, max_dims=4, max_side=5), seed=st.integers(0, 2**16))
def test_eval_parity_random_shapes(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    assert_parity(torch.nn.Dropout(0.3).eval(), Dropout(0.3).eval(), x, rng.standard_normal(shape))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_train_mode_preserves_mean_and_drops_fraction_p(p, dtype):
    init.manual_seed(0)
    x = np.full((400, 500), 2.0, dtype=dtype)
    out = Dropout(p)(x)
    assert out.dtype == dtype
    kept = out != 0
    # 200 000 Bernoulli draws: the standard error of the kept fraction is < 0.0012
    assert abs(kept.mean() - (1 - p)) < 0.006
    # each entry is 2/(1-p) with probability 1-p: variance 4p/(1-p); allow 5 standard errors
    assert abs(out.mean() - 2.0) < 5 * (4 * p / (1 - p) / x.size) ** 0.5
    assert np.allclose(out[kept], 2.0 / (1 - p))


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_backward_uses_the_forward_mask(p):
    init.manual_seed(3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 7)) + 5.0  # never 0, so out == 0 marks a dropped entry
    layer = Dropout(p)
    out = layer(x)
    grad = rng.standard_normal((6, 7))
    grad_in = layer.backward(grad)
    mask = out / x  # 0 or 1/(1-p)
    assert set(np.unique(np.round(mask, 12))) <= {0.0, round(1 / (1 - p), 12)}
    assert np.allclose(grad_in, grad * mask)
    # a second backward needs a second forward, as every module's
    with pytest.raises(RuntimeError, match="already called for its last forward call"):
        layer.backward(grad)


@pytest.mark.parametrize("layer, shape", [(Dropout(0.4), (3, 4)), (Dropout2d(0.4), (3, 4, 2, 2))])
def test_gradcheck_with_the_mask_redrawn_identically(layer, shape):
    """Dropout's own forward inside the finite differences: reseeding before every call makes each
    forward draw the same mask, so the layer is a fixed linear map there, and backward must match it."""

    class Reseeded(Module):
        def forward(self, x):
            init.manual_seed(5)
            return layer(x)

        def backward(self, grad_output):
            return layer.backward(grad_output)

    assert gradcheck(Reseeded(), np.random.default_rng(0).standard_normal(shape))


def test_seed_makes_masks_reproducible():
    x = np.ones((50, 50))
    init.manual_seed(11)
    first = Dropout(0.5)(x)
    init.manual_seed(11)
    second = Dropout(0.5)(x)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, Dropout(0.5)(x))


def test_p_zero_is_identity_and_p_one_zeroes_like_torch():
    x = np.random.default_rng(0).standard_normal((3, 4))
    grad = np.ones((3, 4))
    for p in (0.0, 1.0):
        layer, torch_layer = Dropout(p), torch.nn.Dropout(p)
        x_torch = torch.from_numpy(x.copy()).requires_grad_()
        out_torch = torch_layer(x_torch)
        out_torch.backward(torch.from_numpy(grad))
        assert_close(layer(x), out_torch, what=f"p={p} output")
        assert_close(layer.backward(grad), x_torch.grad, what=f"p={p} grad")
        assert np.all(np.isfinite(layer(x)))


def test_inplace_writes_into_input():
    init.manual_seed(0)
    x = np.ones((10, 10))
    out = Dropout(0.5, inplace=True)(x)
    assert out is x and np.any(x == 0)


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", None, True])
def test_invalid_p(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        Dropout(p)


def test_bad_input():
    with pytest.raises(ValueError, match="float32 or float64"):
        Dropout()(np.arange(4))
    with pytest.raises(ValueError, match="NumPy array"):
        Dropout()([1.0, 2.0])


def test_a_0_d_input_gives_0_d_arrays_in_training():
    """An audit: x * mask of two 0-d arrays is a NumPy scalar, not the array every layer returns."""
    init.manual_seed(0)
    for dtype in (np.float32, np.float64):
        layer = Dropout(0.5)
        out = layer(np.asarray(2.0, dtype))
        grad = layer.backward(np.asarray(1.0, dtype))
        assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == dtype
        assert isinstance(grad, np.ndarray) and grad.shape == () and float(grad) in (0.0, 2.0)
        assert float(out) == 2.0 * float(grad)


def test_dropout_with_p_zero_returns_its_input_and_draws_no_random_numbers():
    """As torch, p = 0 is the identity without drawing: the next Dropout's mask is the one it would
    have been without the p = 0 layer before it."""
    x = np.ones((4, 5), np.float32)
    init.manual_seed(0)
    expected = Dropout(0.5)(x)
    init.manual_seed(0)
    assert Dropout(0.0)(x) is x
    np.testing.assert_array_equal(Dropout(0.5)(x), expected)
