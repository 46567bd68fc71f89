"""Flatten: torch parity over random shapes and dims, gradcheck, errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from course_lib.scratch import gradcheck
from course_lib.scratch.flatten import Flatten, flatten

from .parity import assert_close, assert_parity
from ..hypothesis_budget import examples


@settings(max_examples=examples(20), deadline=None)
@given(shape=array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=4), seed=st.integers(0, 2**16), data=st.data())
def test_parity(shape, seed, data):
    ndim = len(shape)
    start = data.draw(st.integers(-ndim, ndim - 1))
    end = data.draw(st.integers(-ndim, ndim - 1))
    if (start % ndim) > (end % ndim):
        start, end = end, start
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    torch_layer = torch.nn.Flatten(start, end)
    grad = rng.standard_normal(tuple(torch_layer(torch.from_numpy(x)).shape))
    assert_parity(torch_layer, Flatten(start, end), x, grad)


def test_default_flattens_all_but_batch_and_gradcheck():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    layer = Flatten()
    assert layer(x).shape == (2, 60)
    assert gradcheck(layer, x)
    assert_close(flatten(x, 1, 2), torch.flatten(torch.from_numpy(x), 1, 2))


def test_keeps_dtype_and_integer_inputs():
    assert Flatten()(np.zeros((2, 3, 4), np.float32)).dtype == np.float32
    assert Flatten()(np.arange(24).reshape(2, 3, 4)).shape == (2, 12)


def test_errors():
    with pytest.raises(ValueError, match=r"does not fit an input with 1 dimensions, shape \(5,\)"):
        Flatten()(np.zeros(5))
    with pytest.raises(ValueError, match="comes after end_dim"):
        Flatten(2, 1)(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="NumPy array"):
        Flatten()([[1.0]])
    with pytest.raises(RuntimeError, match="before forward"):
        Flatten().backward(np.zeros(3))
