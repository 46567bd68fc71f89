"""The shared parity helpers must catch every kind of mismatch (other test files rely on them)."""
import numpy as np
import pytest
import torch

from course_lib.scratch import Linear

from .parity import assert_close, assert_parity, copy_weights, torch_forward_backward


@pytest.mark.parametrize(
    "actual, expected",
    [
        ([1.0, 2.0], [1.0, 2.1]),
        ([np.inf], [-np.inf]),
        ([1.0], [np.inf]),
        ([np.nan], [1.0]),
        ([1.0], [np.nan]),
        ([1.0, 2.0], [1.0, 2.0, 3.0]),
        ([[1.0, 2.0]], [1.0, 2.0]),
    ],
)
def test_assert_close_rejects(actual, expected):
    with pytest.raises(AssertionError):
        assert_close(np.array(actual), np.array(expected))


def test_assert_close_accepts_and_handles_structures():
    assert_close(np.array([1.0, np.nan, np.inf]), torch.tensor([1.0 + 1e-9, np.nan, np.inf], dtype=torch.float64))
    assert_close((np.ones(2), (np.zeros(1), None)), (np.ones(2), (np.zeros(1), None)))
    with pytest.raises(AssertionError, match=r"\[1\]\[0\]"):
        assert_close((np.ones(2), (np.zeros(1),)), (np.ones(2), (np.ones(1),)), what="out")
    with pytest.raises(AssertionError):
        assert_close((np.ones(2),), (np.ones(2), np.ones(2)))
    with pytest.raises(AssertionError):
        assert_close(None, np.ones(1))


def test_copy_weights_and_torch_forward_backward():
    torch_layer = torch.nn.Linear(3, 2).double()
    layer = Linear(3, 2, dtype=np.float64)
    copy_weights(torch_layer, layer)
    assert_close(layer.weight.data, torch_layer.weight, rtol=0, atol=0)
    x = np.arange(6.0).reshape(2, 3)
    grad = np.ones((2, 2))
    out, grads_in, param_grads = torch_forward_backward(torch_layer, x, grad)
    assert_close(out, x @ layer.weight.data.T + layer.bias.data)
    assert_close(grads_in[0], grad @ layer.weight.data)
    assert_close(param_grads["weight"], grad.T @ x)
    assert_close(param_grads["bias"], grad.sum(0))


class _WrongBiasGrad(Linear):
    def backward(self, grad_output):
        result = super().backward(grad_output)
        self.bias.grad *= 1.01
        return result


def test_assert_parity_catches_a_wrong_parameter_gradient():
    x, grad = np.ones((2, 3)), np.ones((2, 2))
    assert_parity(torch.nn.Linear(3, 2).double(), Linear(3, 2, dtype=np.float64), x, grad)
    with pytest.raises(AssertionError, match="grad of 'bias'"):
        assert_parity(torch.nn.Linear(3, 2).double(), _WrongBiasGrad(3, 2, dtype=np.float64), x, grad)
