"""Activations: gradcheck, torch parity over random shapes, stability, errors."""
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from course_lib.scratch import activations, gradcheck
from course_lib.scratch.activations import (
    LeakyReLU,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
    leaky_relu,
    leaky_relu_derivative,
    log_softmax,
    relu,
    relu_derivative,
    sigmoid,
    sigmoid_derivative,
    softmax,
    tanh,
    tanh_derivative,
)
from .parity import assert_close, assert_parity
from ..hypothesis_budget import examples

ELEMENTWISE = [
    (Sigmoid, torch.nn.Sigmoid, {}),
    (Tanh, torch.nn.Tanh, {}),
    (ReLU, torch.nn.ReLU, {}),
    (LeakyReLU, torch.nn.LeakyReLU, {}),
    (LeakyReLU, torch.nn.LeakyReLU, {"negative_slope": 0.2}),
    (LeakyReLU, torch.nn.LeakyReLU, {"negative_slope": 1.5}),  # slopes outside [0, 1] take another code path
    (LeakyReLU, torch.nn.LeakyReLU, {"negative_slope": -0.3}),
]


def _away_from_kinks(rng, shape):
    """Random inputs kept away from 0, where ReLU's finite difference is meaningless."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.05, 0.5, x)


@pytest.mark.parametrize("scratch_cls, torch_cls, kwargs", ELEMENTWISE)
def test_elementwise_gradcheck(scratch_cls, torch_cls, kwargs):
    x = _away_from_kinks(np.random.default_rng(0), (3, 4))
    assert gradcheck(scratch_cls(**kwargs), x)


@pytest.mark.parametrize("scratch_cls, torch_cls, kwargs", ELEMENTWISE)
@settings(max_examples=examples(20), deadline=None)
@given(shape=array_shapes(min_dims=1, max_dims=4, max_side=5), seed=st.integers(0, 2**16))
def test_elementwise_parity(scratch_cls, torch_cls, kwargs, shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    x.reshape(-1)[0] = 0.0  # the kink: both sides must agree on the derivative at 0
    assert_parity(torch_cls(**kwargs), scratch_cls(**kwargs), x, rng.standard_normal(shape))


@pytest.mark.parametrize("scratch_cls, torch_cls", [(Softmax, torch.nn.Softmax), (LogSoftmax, torch.nn.LogSoftmax)])
@settings(max_examples=examples(20), deadline=None)
@given(shape=array_shapes(min_dims=1, max_dims=4, max_side=5), seed=st.integers(0, 2**16), data=st.data())
def test_softmax_parity(scratch_cls, torch_cls, shape, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 5
    assert_parity(torch_cls(dim=dim), scratch_cls(dim=dim), x, rng.standard_normal(shape))


@pytest.mark.parametrize("scratch_cls", [Softmax, LogSoftmax])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_gradcheck(scratch_cls, dim):
    x = np.random.default_rng(1).standard_normal((3, 4, 2))
    assert gradcheck(scratch_cls(dim=dim), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_stable_for_huge_logits(dtype):
    x = np.array([[1000.0, -1000.0, 0.0], [1000.0, 1000.0, -1000.0], [-1000.0, -1000.0, -1000.0]], dtype=dtype)
    grad = np.ones_like(x)
    for scratch_cls, torch_fn in [(Softmax, torch.softmax), (LogSoftmax, torch.log_softmax)]:
        layer = scratch_cls(dim=1)
        out = layer(x)
        grad_in = layer.backward(grad)
        assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad_in))
        assert out.dtype == dtype and grad_in.dtype == dtype
        assert_close(out, torch_fn(torch.from_numpy(x.astype(np.float64)), 1), rtol=1e-6, atol=1e-6)
    assert_close(softmax(x, axis=1)[1], [0.5, 0.5, 0.0])
    assert_close(log_softmax(x, axis=1)[0], [0.0, -2000.0, -1000.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_skips_the_shift_only_when_the_unshifted_sums_are_safe(dtype, monkeypatch):
    """Ordinary logits: no row maxima are computed, and the values are torch's; large logits, rows of
    only very negative logits, ±∞ and NaN take the shifted path and still give torch's values."""
    calls = []
    shifted = activations._max_along
    monkeypatch.setattr(activations, "_max_along", lambda x, axis: calls.append(axis) or shifted(x, axis))
    rng = np.random.default_rng(5)
    for shape, axis in [((64, 10), -1), ((8, 4, 5), 1), ((3, 7), 0), ((0, 4), -1)]:
        x = (rng.standard_normal(shape) * 3).astype(dtype)
        expected = torch.softmax(torch.from_numpy(x.astype(np.float64)), axis).numpy()
        out = softmax(x, axis=axis)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, expected, rtol=8 * np.finfo(dtype).eps, atol=0)
    assert calls == []
    rare = [[1000.0, 0.0, -5.0], [-30.0, -31.0, -40.0], [np.inf, 1.0, 0.0], [np.nan, 1.0, 0.0],
            [-np.inf, -np.inf, -np.inf], [-np.inf, 2.0, 1.0]]
    for row in rare:
        x = np.array([row, [0.5, 0.25, 0.0]], dtype=dtype)
        with np.errstate(invalid="ignore"):
            out = softmax(x)
        expected = torch.softmax(torch.from_numpy(x.astype(np.float64)), -1).numpy()
        np.testing.assert_allclose(out, expected, rtol=8 * np.finfo(dtype).eps, atol=0, equal_nan=True)
    assert len(calls) == len(rare) - 1  # the last row's sum is e² + e > 1: no shift needed


def test_softmax_without_the_shift_is_more_accurate_than_with_it():
    """e^{x − m} magnifies the rounding of x − m by |x − m|; e^{x} / Σ e^{x} does not round first."""
    x = (np.random.default_rng(6).standard_normal((2048, 64)) * 10).astype(np.float32)
    exact = torch.softmax(torch.from_numpy(x.astype(np.float64)), -1).numpy()
    units = np.abs(softmax(x) - exact) / np.spacing(exact.astype(np.float32))
    assert units.max() < 10  # the shifted form: about 60 here


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_stable_for_large_inputs(dtype):
    x = np.array([-1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):
        out = sigmoid(x)
    assert out.dtype == dtype
    assert_close(out, torch.sigmoid(torch.from_numpy(x.astype(np.float64))), rtol=1e-6, atol=0)
    assert out[0] == 0.0 and out[-1] == 1.0 and out[3] == 0.5


@pytest.mark.parametrize("dtype, reach", [(np.float32, 120.0), (np.float64, 760.0)])
def test_sigmoid_gives_torchs_values_across_the_whole_range(dtype, reach):
    """1/(1 + e^{−x}) lets e^{−x} overflow below −88.7 (float32) or −709.8 (float64): σ is then 0,
    as torch's sigmoid in the same dtype gives; elsewhere within a few units in the last place."""
    x = np.concatenate([np.linspace(-reach, reach, 20001), [np.inf, -np.inf, np.nan, 0.0, -0.0]]).astype(dtype)
    expected = torch.sigmoid(torch.from_numpy(x)).numpy()
    with np.errstate(all="raise"):
        out = sigmoid(x)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out == 0, expected == 0)
    units = np.abs(out - expected) / np.spacing(np.abs(expected))
    assert np.nanmax(units) <= 4
    assert np.isnan(out[-3]) and out[-5] == 1 and out[-4] == 0
    assert isinstance(sigmoid(np.array(-1000.0, dtype=dtype)), np.ndarray)


def test_derivative_helpers_match_autograd():
    x = np.linspace(-4, 4, 41)
    x_torch = torch.from_numpy(x).requires_grad_()
    for derivative, function in [
        (sigmoid_derivative, torch.sigmoid),
        (tanh_derivative, torch.tanh),
        (relu_derivative, torch.relu),
        (leaky_relu_derivative, torch.nn.functional.leaky_relu),
    ]:
        (grad,) = torch.autograd.grad(function(x_torch).sum(), x_torch)
        assert_close(derivative(x), grad, what=derivative.__name__)
    assert_close(leaky_relu_derivative(x, 0.3)[x <= 0], np.full((x <= 0).sum(), 0.3))


def test_functional_forms_match_torch():
    x = np.random.default_rng(3).standard_normal((4, 5))
    t = torch.from_numpy(x)
    assert_close(tanh(x), torch.tanh(t))
    assert_close(relu(x), torch.relu(t))
    assert_close(leaky_relu(x, 0.1), torch.nn.functional.leaky_relu(t, 0.1))
    assert_close(softmax(x, axis=0), torch.softmax(t, 0))
    assert_close(log_softmax(x), torch.log_softmax(t, -1))


@pytest.mark.parametrize("layer", [Sigmoid(), Tanh(), ReLU(), LeakyReLU(), Softmax(dim=-1), LogSoftmax(dim=-1)])
def test_float32_stays_float32(layer):
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    assert layer(x).dtype == np.float32
    assert layer.backward(np.ones((2, 3), np.float32)).dtype == np.float32


@pytest.mark.parametrize("layer", [Sigmoid(), Tanh(), ReLU(), LeakyReLU(), Softmax(dim=-1), LogSoftmax(dim=-1)])
def test_rejects_integer_and_non_array_input(layer):
    with pytest.raises(ValueError, match="float32 or float64"):
        layer(np.arange(6).reshape(2, 3))
    with pytest.raises(ValueError, match="NumPy array"):
        layer([[1.0, 2.0]])


def test_softmax_bad_dim():
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        Softmax(dim=2)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="integer dim"):
        Softmax(dim=None)


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="before forward"):
        ReLU().backward(np.ones(3))


def test_relu_backward_rejects_a_gradient_of_the_wrong_shape():
    """Broadcasting would silently give a wrong-shaped dL/dx; the error names both shapes instead."""
    layer = ReLU()
    layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"expected grad_output of shape \(2, 3\) \(the output's shape\), got \(3,\)"):
        layer.backward(np.ones(3))


@pytest.mark.parametrize(
    "scratch_cls, torch_cls, kwargs",
    [(ReLU, torch.nn.ReLU, {}), (LeakyReLU, torch.nn.LeakyReLU, {"negative_slope": 0.2}),
     (LeakyReLU, torch.nn.LeakyReLU, {"negative_slope": -0.3})],
)
def test_inplace_overwrites_the_input_and_matches_torch(scratch_cls, torch_cls, kwargs):
    """``inplace=True`` (torch's argument): the output *is* the input array, gradients unchanged."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5)) * 3
    x[0, 0] = 0.0
    grad = rng.standard_normal(x.shape)
    torch_x = torch.tensor(x, requires_grad=True)
    # the reference runs out of place: torch's in-place LeakyReLU refuses a negative slope in backward
    # (it recovers the mask from the output); the scratch layer keeps the slope from the input instead
    torch_y = torch_cls(**kwargs)(torch_x)
    torch_y.backward(torch.tensor(grad))
    layer = scratch_cls(inplace=True, **kwargs)
    data = x.copy()
    out = layer(data)
    assert out is data
    assert_close(out, torch_y.detach().numpy())
    assert_close(layer.backward(grad), torch_x.grad.numpy())
    assert "inplace=True" in repr(layer)
    assert scratch_cls(**kwargs).inplace is False


@pytest.mark.parametrize("negative_slope", [0.2, -0.3])
def test_inplace_leaky_relu_makes_no_input_sized_temporary(negative_slope):
    """In place means the only new array is the saved slope (1 or a) that backward needs."""
    x = np.random.default_rng(4).standard_normal(1_000_000)
    expected = np.where(x > 0, x, negative_slope * x)
    layer = LeakyReLU(negative_slope, inplace=True)
    tracemalloc.start()
    try:
        out = layer(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out is x
    assert peak < 1.5 * x.nbytes, f"peak {peak} bytes for an input of {x.nbytes}"
    np.testing.assert_array_equal(x, expected)


def test_inplace_refuses_a_read_only_array():
    x = np.ones((2, 3))
    x.flags.writeable = False
    with pytest.raises(ValueError, match=r"ReLU\(inplace=True\) overwrites its input, but got a read-only array"):
        ReLU(inplace=True)(x)
    assert np.all(ReLU()(x) == 1)  # the default never writes


@pytest.mark.parametrize("order", [(0, 1, 2, 3), (1, 2, 3, 0), (0, 2, 3, 1)], ids=["NCHW", "batch-innermost", "NHWC"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_of_a_large_array_in_chunks_equals_numpy_maximum_bit_for_bit(order, dtype):
    """Large arrays go through relu's chunked path (several chunks and a short last one, any
    memory layout, in place or not); small and non-contiguous ones through plain np.maximum.
    Special values included: NaN propagates, −inf and −0.0 give 0, +inf stays."""
    from course_lib.scratch.activations import _CHUNK, _SMALL
    from course_lib.scratch.layout import memory_order

    rng = np.random.default_rng(3)
    shape = (5, 7, 61, 67)  # 143,045 numbers: more than one chunk, not a multiple of one
    assert np.prod(shape) > _CHUNK and np.prod(shape) % _CHUNK and _SMALL < _CHUNK
    stored = rng.standard_normal([shape[axis] for axis in order]).astype(dtype)
    stored.reshape(-1)[:6] = [np.nan, -np.inf, np.inf, -0.0, 0.0, -1.0]
    stored.reshape(-1)[-1] = np.nan  # in the last, short chunk
    x = stored.transpose(np.argsort(order))  # shape `shape`, memory in `order`
    expected = np.maximum(x, 0)
    out = relu(x)
    assert memory_order(out) == memory_order(x) == order and out.dtype == dtype
    np.testing.assert_array_equal(out, expected)
    assert not np.signbit(out).any()
    copy = x.copy(order="K")
    assert relu(copy, out=copy) is copy  # in place
    np.testing.assert_array_equal(copy, expected)
    for small_or_strided in (x[:1, :1], x[:, :, ::2]):
        np.testing.assert_array_equal(relu(small_or_strided), np.maximum(small_or_strided, 0))
    layer = ReLU()
    np.testing.assert_array_equal(layer(x), expected)
    grad = rng.standard_normal(shape).astype(dtype)
    np.testing.assert_array_equal(layer.backward(grad), grad * ~(x <= 0))  # NaN passes it on, as in torch


@pytest.mark.parametrize("layer_name", ["ReLU", "LeakyReLU"])
def test_special_values_give_torchs_outputs_and_gradients(layer_name):
    """NaN, ±inf, ±0: the same outputs and gradients as torch (its ReLU passes the gradient at NaN)."""
    x = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, -1.0, 1.0])
    grad = np.arange(1.0, 8.0)
    layer, torch_layer = {"ReLU": ReLU, "LeakyReLU": LeakyReLU}[layer_name](), getattr(torch.nn, layer_name)()
    x_torch = torch.from_numpy(x.copy()).requires_grad_()
    out_torch = torch_layer(x_torch)
    out_torch.backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(layer(x), out_torch.detach().numpy())
    np.testing.assert_array_equal(layer.backward(grad), x_torch.grad.numpy())


@pytest.mark.parametrize("negative_slope", [0.0, 0.01, 1.0, -0.5, 2.0])
def test_leaky_relu_function_and_layer_give_torchs_values_at_every_slope(negative_slope):
    """max(x, a·x) gave NaN at +∞ for a = 0 (0·∞ is NaN) where torch gives +∞; the layer and the
    function now both compute x times its slope, signs of zero and NaN included."""
    x = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, -1.0, 1.0, -5e-324, 5e-324])
    expected = torch.nn.functional.leaky_relu(torch.from_numpy(x), negative_slope).numpy()
    with np.errstate(invalid="ignore"):  # 0·∞, as torch computes it too
        for result in (leaky_relu(x, negative_slope), LeakyReLU(negative_slope)(x)):
            assert np.array_equal(result, expected, equal_nan=True)
            assert np.array_equal(np.signbit(result), np.signbit(expected))


@pytest.mark.parametrize("negative_slope", [0.0, 0.01, 0.3, 1.0])
def test_leaky_relu_slope_of_a_large_array_is_exactly_one_or_the_slope(negative_slope):
    """The backward rule's 1-or-a array, made in chunks for a large input, in the input's layout."""
    from course_lib.scratch.layout import memory_order

    rng = np.random.default_rng(4)
    x = rng.standard_normal((7, 61, 67, 5)).astype(np.float32).transpose(3, 0, 1, 2)  # 143,045 numbers, NHWC
    x[0, 0, 0, :3] = [0.0, -0.0, np.nan]
    slope = leaky_relu_derivative(x, negative_slope)
    expected = np.where(x > 0, np.float32(1), np.float32(negative_slope))
    np.testing.assert_array_equal(slope, expected)
    assert slope.dtype == np.float32 and memory_order(slope) == memory_order(x)
    layer = LeakyReLU(negative_slope)
    layer(x)
    grad = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(grad), grad * expected)


def test_the_functional_leaky_relu_has_torchs_default_slope():
    x = np.array([-1.0, 2.0])
    np.testing.assert_array_equal(activations.leaky_relu(x), torch.nn.functional.leaky_relu(torch.from_numpy(x)).numpy())
