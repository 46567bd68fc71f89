"""Weight penalties: values and gradients against torch autograd; the SGD weight_decay equivalence."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from course_lib.scratch import Linear, Parameter, Sequential, gradcheck
from course_lib.scratch.regularization import (
    L1Penalty,
    L2Penalty,
    add_l1_penalty_grad,
    add_l2_penalty_grad,
    l1_penalty,
    l2_penalty,
)

from .parity import assert_close
from ..hypothesis_budget import examples


@settings(max_examples=examples(20), deadline=None)
@given(
    shapes=st.lists(array_shapes(min_dims=1, max_dims=3, max_side=4), min_size=1, max_size=3),
    strength=st.floats(0.0, 2.0),
    seed=st.integers(0, 2**16),
)
def test_penalties_match_torch_autograd(shapes, strength, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for shape in shapes]
    arrays[0].reshape(-1)[0] = 0.0  # |w| at 0: torch's subgradient is 0, so is ours
    for penalty, add_grad, torch_penalty in [
        (l1_penalty, add_l1_penalty_grad, lambda ws: strength * sum(w.abs().sum() for w in ws)),
        (l2_penalty, add_l2_penalty_grad, lambda ws: strength / 2 * sum((w * w).sum() for w in ws)),
    ]:
        params = [Parameter(array.copy()) for array in arrays]
        for param in params:
            param.grad[...] = 1.0  # backward must add, not overwrite
        tensors = [torch.from_numpy(array.copy()).requires_grad_() for array in arrays]
        expected = torch_penalty(tensors)
        expected.backward()
        assert_close(penalty(params, strength), expected, what=penalty.__name__)
        add_grad(params, strength)
        for param, tensor in zip(params, tensors):
            assert_close(param.grad, tensor.grad + 1.0, what=add_grad.__name__)


def test_l2_gradient_equals_sgd_weight_decay():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((3, 4))
    grad = rng.standard_normal((3, 4))
    lr, decay = 0.1, 0.05
    torch_weight = torch.nn.Parameter(torch.from_numpy(weight.copy()))
    torch_weight.grad = torch.from_numpy(grad.copy())
    torch.optim.SGD([torch_weight], lr=lr, weight_decay=decay).step()
    param = Parameter(weight.copy())
    param.grad[...] = grad
    add_l2_penalty_grad([param], decay)
    param.data -= lr * param.grad
    assert_close(param.data, torch_weight)


def test_penalty_classes_on_a_model():
    model = Sequential(Linear(3, 2, dtype=np.float64), Linear(2, 1, dtype=np.float64))
    weights = [param for name, param in model.named_parameters() if name.endswith("weight")]
    penalty = L2Penalty(weights, 0.3)
    assert_close(penalty.value(), 0.15 * sum((w.data**2).sum() for w in weights))
    penalty.backward()
    assert_close(weights[1].grad, 0.3 * weights[1].data)
    assert np.all(model[0].bias.grad == 0)  # biases were not passed, so untouched
    l1 = L1Penalty(weights, 0.5)
    assert_close(l1.value(), 0.5 * sum(np.abs(w.data).sum() for w in weights))


def test_float32_grads_stay_float32():
    param = Parameter(np.ones(3, np.float32))
    add_l2_penalty_grad([param], 0.1)
    add_l1_penalty_grad([param], 0.1)
    assert param.grad.dtype == np.float32
    assert_close(param.grad, np.full(3, 0.2), rtol=1e-6)


def test_penalty_gradients_skip_frozen_parameters():
    """A frozen parameter (requires_grad False) has no gradient (None): adding the L1/L2 penalty
    gradient leaves it without one, raises nothing, and still reaches the trainable parameters."""
    frozen, trained = Parameter(np.array([1.0, -2.0])), Parameter(np.array([0.5, -3.0]))
    frozen.requires_grad_(False)
    for add_grad, expected in ((add_l1_penalty_grad, [0.1, -0.1]), (add_l2_penalty_grad, [0.15, -0.4])):  # cumulative
        add_grad([frozen, trained], 0.1)
        assert frozen.grad is None and not frozen.has_grad, add_grad.__name__
        assert_close(trained.grad, expected, what=add_grad.__name__)
    L1Penalty([frozen], 0.1).backward()
    L2Penalty([frozen], 0.1).backward()
    assert frozen.grad is None


def test_errors():
    with pytest.raises(ValueError, match="≥ 0"):
        l2_penalty([Parameter(np.ones(2))], -1.0)
    with pytest.raises(ValueError, match="take Parameters"):
        l1_penalty([np.ones(2)], 0.1)


def test_l2_penalty_accumulates_in_float64_as_documented():
    """np.vdot summed float32 weights in float32 and cast afterwards (an audit): 3·10⁻⁵ relative error on
    10⁷ weights, and inf for a weight of 3·10¹⁹."""
    weights = np.random.default_rng(0).standard_normal(10**7).astype(np.float32)
    exact = 0.5 * 0.1 * np.sum(weights.astype(np.float64) ** 2)
    assert l2_penalty([Parameter(weights)], 0.1) == pytest.approx(exact, rel=1e-12)
    assert np.isfinite(l2_penalty([Parameter(np.array([3e19, 1.0], np.float32))], 1.0))


@pytest.mark.parametrize("norm", ["l1", "l2"])
def test_penalty_gradients_pass_a_finite_difference_check(norm):
    """A coverage audit: the penalties' gradients were only compared with torch's autograd.  (For L1, the
    weights stay away from 0, where |w| has no derivative and the subgradient 0 is a choice.)"""
    penalty, add_grad = (l1_penalty, add_l1_penalty_grad) if norm == "l1" else (l2_penalty, add_l2_penalty_grad)
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5,)]
    weights = [rng.choice([-1, 1], shape) * rng.uniform(0.1, 2, shape) for shape in shapes]

    def value(*arrays):
        return np.asarray(penalty([Parameter(array) for array in arrays], 0.3))

    def backward(grad):
        params = [Parameter(weight.copy()) for weight in weights]
        for param in params:
            param.grad = np.zeros_like(param.data)
        add_grad(params, 0.3)
        return tuple(float(grad) * param.grad for param in params)

    assert gradcheck(value, *weights, backward=backward)


@pytest.mark.parametrize("strength", [float("nan"), float("inf"), "0.1", True, -0.5])
def test_a_strength_that_is_no_finite_number_is_refused(strength):
    """NaN and inf gave a NaN or infinite penalty, and the string "0.1" was read (an audit, 2026-12-06)."""
    with pytest.raises(ValueError, match="finite number ≥ 0"):
        l2_penalty([Parameter(np.ones(2))], strength)


def test_a_model_instead_of_its_parameters_is_named():
    with pytest.raises(ValueError, match="got the model Linear itself: pass model.parameters()"):
        l1_penalty(Linear(2, 2), 0.1)


def test_one_parameter_is_taken_and_no_parameters_are_refused():
    """l2_penalty(model.weight, λ) raised "'Parameter' object is not iterable", and a generator read a
    second time silently gave a penalty of 0 (an audit, 2026-12-07)."""
    layer = Linear(3, 2, dtype=np.float64)
    assert l2_penalty(layer.weight, 0.1) == l2_penalty([layer.weight], 0.1)
    parameters = iter(layer.parameters())
    list(parameters)  # read once: now used up
    with pytest.raises(ValueError, match=r"penalties got no parameters .*pass a list, such as model.parameters\(\)"):
        l2_penalty(parameters, 0.1)
