"""LayerNorm: gradcheck, parity with torch.nn.LayerNorm, errors, dtype."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from course_lib.scratch import init
from course_lib.scratch.gradcheck import gradcheck
from course_lib.scratch.layernorm import LayerNorm
from .parity import assert_parity
from ..hypothesis_budget import examples


@st.composite
def layernorm_cases(draw):
    normalized_shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    batch_shape = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=2)))
    elementwise_affine = draw(st.booleans())
    bias = draw(st.booleans())
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    seed = draw(st.integers(0, 2**16))
    return normalized_shape, batch_shape, elementwise_affine, bias, eps, seed


@settings(max_examples=examples(20), deadline=None)
@given(layernorm_cases())
def test_parity_with_torch(case):
    normalized_shape, batch_shape, elementwise_affine, bias, eps, seed = case
    rng = np.random.default_rng(seed)
    torch_layer = torch.nn.LayerNorm(normalized_shape, eps=eps, elementwise_affine=elementwise_affine,
                                     bias=bias, dtype=torch.float64)
    if elementwise_affine:  # move γ, β away from 1 and 0 so their gradients matter
        with torch.no_grad():
            for param in torch_layer.parameters():
                param.copy_(torch.from_numpy(rng.standard_normal(tuple(param.shape))))
    layer = LayerNorm(normalized_shape, eps=eps, elementwise_affine=elementwise_affine, bias=bias, dtype=np.float64)
    x = rng.standard_normal(batch_shape + normalized_shape) * 3 + 1
    grad = rng.standard_normal(x.shape)
    assert_parity(torch_layer, layer, x, grad)


@pytest.mark.parametrize("elementwise_affine,bias", [(True, True), (True, False), (False, True)])
def test_gradcheck(elementwise_affine, bias):
    rng = np.random.default_rng(1)
    layer = LayerNorm((3, 4), elementwise_affine=elementwise_affine, bias=bias, dtype=np.float64)
    for param in layer.parameters():
        param.data[...] = rng.standard_normal(param.shape)
    gradcheck(layer, rng.standard_normal((2, 3, 4)))


def test_parameters_match_torch_names_and_defaults():
    layer = LayerNorm(6)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    np.testing.assert_array_equal(layer.weight.data, np.ones(6, dtype=np.float32))
    np.testing.assert_array_equal(layer.bias.data, np.zeros(6, dtype=np.float32))
    assert LayerNorm(6, bias=False).bias is None
    assert LayerNorm(6, elementwise_affine=False).parameters() == []


def test_float32_stays_float32():
    init.manual_seed(0)
    layer = LayerNorm(8)
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    assert layer.weight.grad.dtype == np.float32


def test_constant_input_gives_bias_not_nan():
    """Zero variance: ε keeps 1/√(σ²+ε) finite, x̂ = 0, y = β."""
    layer = LayerNorm(4, dtype=np.float64)
    layer.bias.data[...] = [1, 2, 3, 4]
    out = layer(np.full((2, 4), 7.0))
    np.testing.assert_allclose(out, [[1, 2, 3, 4]] * 2)
    assert np.all(np.isfinite(layer.backward(np.ones((2, 4)))))


def test_bad_shape_and_dtype():
    layer = LayerNorm((3, 4))
    with pytest.raises(ValueError, match=r"LayerNorm expected input of shape \(\*, 3, 4\), got \(2, 4, 3\)"):
        layer(np.zeros((2, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="float32.*float64"):
        layer(np.zeros((2, 3, 4), dtype=np.float64))


def test_a_constant_row_normalises_to_zero_and_a_large_offset_keeps_its_digits():
    """The mean is refined once (an audit): a float32 row of 123.456 gave outputs of −5·10⁻³ (torch: 0),
    and rows of 123.456 ± 10⁻³ lost their small deviations to the mean's error."""
    constant = np.full((4, 768), 123.456, np.float32)
    assert np.abs(LayerNorm(768)(constant)).max() < 1e-6
    rng = np.random.default_rng(0)
    x = (123.456 + 1e-3 * rng.standard_normal((8, 4096))).astype(np.float32)
    reference = torch.nn.LayerNorm(4096).double()(torch.from_numpy(x).double()).detach().numpy()
    torch_error = np.abs(torch.nn.LayerNorm(4096)(torch.from_numpy(x)).detach().numpy() - reference).max()
    assert np.abs(LayerNorm(4096)(x) - reference).max() <= max(torch_error, 1e-5)
