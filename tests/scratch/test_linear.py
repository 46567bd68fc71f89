"""Linear: gradcheck, torch parity for (*, in_features) inputs with and without bias, dtypes, errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from course_lib.interop import state_dict_from_torch
from course_lib.scratch import Linear, gradcheck, init

from .parity import assert_close, assert_parity, assert_uniform_init
from ..hypothesis_budget import examples


@settings(max_examples=examples(20), deadline=None)
@given(
    leading=array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4),
    in_features=st.integers(1, 6),
    out_features=st.integers(1, 6),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_parity(leading, in_features, out_features, bias, seed):
    rng = np.random.default_rng(seed)
    torch_layer = torch.nn.Linear(in_features, out_features, bias=bias).double()
    layer = Linear(in_features, out_features, bias=bias, dtype=np.float64)
    x = rng.standard_normal(leading + (in_features,))
    assert_parity(torch_layer, layer, x, rng.standard_normal(leading + (out_features,)))


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (3,), (2, 2, 3)])
def test_gradcheck(bias, shape):
    layer = Linear(3, 2, bias=bias, dtype=np.float64)
    assert gradcheck(layer, np.random.default_rng(0).standard_normal(shape))


def test_float32_default_and_parity():
    layer = Linear(5, 4)
    assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
    torch_layer = torch.nn.Linear(5, 4)
    layer.load_state_dict(state_dict_from_torch(torch_layer.state_dict()))
    x = np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32)
    out = layer(x)
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32
    assert_close(out, torch_layer(torch.from_numpy(x)), rtol=1e-5, atol=1e-6)


def test_gradients_accumulate_over_backward_calls():
    layer = Linear(3, 2, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((4, 3))
    layer(x)
    layer.backward(np.ones((4, 2)))
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(np.ones((4, 2)))
    assert_close(layer.weight.grad, 2 * once)
    with pytest.raises(RuntimeError, match="already called for its last forward call"):
        layer.backward(np.ones((4, 2)))  # one backward per forward, as torch frees its graph
    assert_close(layer.weight.grad, 2 * once)


def test_requires_input_grad_false_skips_only_the_input_gradient():
    rng = np.random.default_rng(4)
    layer = Linear(5, 3, dtype=np.float64)
    x, grad = rng.standard_normal((4, 5)), rng.standard_normal((4, 3))
    layer(x)
    assert layer.backward(grad).shape == x.shape
    expected = [p.grad.copy() for p in layer.parameters()]
    layer.zero_grad()
    layer.requires_input_grad = False
    layer(x)
    assert layer.backward(grad) is None
    for parameter, grad_expected in zip(layer.parameters(), expected):
        assert_close(parameter.grad, grad_expected)


def test_parameter_names_shapes_and_init_range_like_torch():
    layer, torch_layer = Linear(7, 3), torch.nn.Linear(7, 3)
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [
        (n, tuple(p.shape)) for n, p in torch_layer.named_parameters()
    ]
    wide = Linear(7, 300)  # enough biases to see their distribution
    assert_uniform_init(wide.weight.data, 1 / np.sqrt(7), "weight")
    assert_uniform_init(wide.bias.data, 1 / np.sqrt(7), "bias")
    assert [n for n, _ in Linear(7, 3, bias=False).named_parameters()] == ["weight"]


def test_kaiming_normal_has_torchs_standard_deviation():
    """init.kaiming_normal is He init, N(0, 2/fan_in) — torch.nn.init.kaiming_normal_'s default (ReLU
    gain √2, fan_in mode); catches std √(1/fan_in).  fan_in of a conv weight counts kh·kw too."""
    init.manual_seed(0)
    torch.manual_seed(0)
    shape = (64, 16, 3, 3)
    std = np.sqrt(2 / (16 * 3 * 3))
    weight = init.kaiming_normal(shape)
    torch_weight = torch.nn.init.kaiming_normal_(torch.empty(shape)).numpy()
    assert weight.shape == shape and weight.dtype == np.float32
    for values, what in ((weight, "ours"), (torch_weight, "torch's")):  # 9216 draws: std within ~0.7 %
        assert abs(values.std() / std - 1) < 0.03, what
        assert abs(values.mean()) < 0.05 * std, what
    assert abs(init.kaiming_normal((500, 40)).std() / np.sqrt(2 / 40) - 1) < 0.03  # a Linear weight


def test_errors():
    layer = Linear(3, 2)
    with pytest.raises(ValueError, match=r"Linear expected input of shape \(\*, in_features=3\), got \(4, 5\)"):
        layer(np.zeros((4, 5), np.float32))
    with pytest.raises(ValueError, match="dtype float32, got float64"):
        layer(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        Linear(3, 2, dtype=np.int32)
    with pytest.raises(RuntimeError, match="before forward"):
        Linear(3, 2).backward(np.zeros((1, 2), np.float32))


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors is a no-op:UserWarning")  # torch's own init
@pytest.mark.parametrize("in_features, out_features", [(0, 3), (3, 0)])
def test_zero_width_layers_work_as_in_torch(in_features, out_features):
    """torch accepts Linear(0, n) and Linear(n, 0) (with a warning that there is nothing to initialise)."""
    torch_layer = torch.nn.Linear(in_features, out_features).double()
    layer = Linear(in_features, out_features, dtype=np.float64)
    layer.load_state_dict({name: value.numpy() for name, value in torch_layer.state_dict().items()})
    x, grad = np.ones((2, in_features)), np.ones((2, out_features))
    x_torch = torch.from_numpy(x).requires_grad_()
    torch_layer(x_torch).backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(layer(x), torch_layer(x_torch).detach().numpy())
    np.testing.assert_array_equal(layer.backward(grad), x_torch.grad.numpy())
    np.testing.assert_array_equal(layer.weight.grad, torch_layer.weight.grad.numpy())
    np.testing.assert_array_equal(layer.bias.grad, torch_layer.bias.grad.numpy())
