"""Scratch gradient clipping against torch.nn.utils.clip_grad_norm_ / clip_grad_value_."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from course_lib.scratch.clip import clip_grad_norm_, clip_grad_value_
from course_lib.scratch.module import Parameter
from ..hypothesis_budget import examples


def pairs(grads):
    scratch = [Parameter(np.zeros_like(g)) for g in grads]
    for param, grad in zip(scratch, grads):
        param.grad[...] = grad
    torch_params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64 if g.dtype == np.float64
                                                    else torch.float32)) for g in grads]
    for param, grad in zip(torch_params, grads):
        param.grad = torch.tensor(grad.copy())
    return scratch, torch_params


@settings(max_examples=examples(20), deadline=None)
@given(
    seed=st.integers(0, 2**16),
    count=st.integers(1, 4),
    scale=st.sampled_from([1e-3, 1.0, 30.0]),
    max_norm=st.floats(0.01, 10.0),
    norm_type=st.sampled_from([1.0, 2.0, 3.0, math.inf]),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_clip_grad_norm_matches_torch(seed, count, scale, max_norm, norm_type, dtype):
    rng = np.random.default_rng(seed)
    grads = [(scale * rng.standard_normal(rng.integers(1, 5, size=rng.integers(1, 3)))).astype(dtype)
             for _ in range(count)]
    scratch, torch_params = pairs(grads)
    total = clip_grad_norm_(scratch, max_norm, norm_type)
    torch_total = torch.nn.utils.clip_grad_norm_(torch_params, max_norm, norm_type, foreach=False)
    tolerance = dict(rtol=1e-12) if dtype == np.float64 else dict(rtol=1e-5)
    np.testing.assert_allclose(total, torch_total.item(), **tolerance)
    assert np.asarray(total).dtype == dtype
    for param, torch_param in zip(scratch, torch_params):
        assert param.grad.dtype == dtype
        np.testing.assert_allclose(param.grad, torch_param.grad.numpy(), atol=1e-7 if dtype == np.float32 else 0,
                                   **tolerance)


def test_clipping_scales_direction_preserving_to_max_norm():
    grads = [np.array([3.0, 0.0]), np.array([[4.0]])]
    scratch, _ = pairs(grads)
    assert clip_grad_norm_(scratch, max_norm=1.0) == 5.0
    np.testing.assert_allclose(scratch[0].grad, [0.6 / (1 + 1e-6 / 5), 0.0])  # factor 1/(5 + 1e-6)
    np.testing.assert_allclose(np.sqrt(sum((p.grad ** 2).sum() for p in scratch)), 1.0, rtol=1e-6)


def test_small_gradients_are_left_alone_and_missing_ones_skipped():
    scratch, _ = pairs([np.array([0.1, -0.2])])
    scratch.append(Parameter(np.zeros(3)))
    scratch[-1].grad = None
    total = clip_grad_norm_(scratch, max_norm=10.0)
    np.testing.assert_allclose(total, math.sqrt(0.05))
    np.testing.assert_array_equal(scratch[0].grad, [0.1, -0.2])
    assert clip_grad_norm_([], 1.0) == 0.0
    single = Parameter(np.array([3.0, 4.0]))
    single.grad[...] = [3.0, 4.0]
    assert clip_grad_norm_(single, 100.0) == 5.0  # a single Parameter is accepted, as in torch


@settings(max_examples=examples(20), deadline=None)
@given(seed=st.integers(0, 2**16), clip=st.floats(0.0, 2.0), dtype=st.sampled_from([np.float64, np.float32]))
def test_clip_grad_value_matches_torch(seed, clip, dtype):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal((3, 2)).astype(dtype), rng.standard_normal(5).astype(dtype)]
    scratch, torch_params = pairs(grads)
    grad_arrays = [param.grad for param in scratch]
    clip_grad_value_(scratch, clip)
    torch.nn.utils.clip_grad_value_(torch_params, clip, foreach=False)
    for param, array, torch_param in zip(scratch, grad_arrays, torch_params):
        assert param.grad is array and array.dtype == dtype  # in place
        np.testing.assert_array_equal(param.grad, torch_param.grad.numpy())


def test_nonfinite_norm_can_raise():
    scratch, _ = pairs([np.array([np.inf, 1.0])])
    with pytest.raises(RuntimeError, match="non-finite|inf"):
        clip_grad_norm_(scratch, 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize("call", [
    lambda p: clip_grad_norm_(p, -1.0),
    lambda p: clip_grad_norm_(p, 1.0, norm_type=0.0),
    lambda p: clip_grad_value_(p, -0.5),
])
def test_invalid_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call([Parameter(np.ones(2))])


def test_wrong_argument_type_is_explained():
    with pytest.raises(TypeError, match="Parameters"):
        clip_grad_norm_([np.ones(2)], 1.0)


def test_the_model_instead_of_its_parameters_is_named():
    from course_lib.scratch import Linear

    for clip, argument in ((clip_grad_norm_, 1.0), (clip_grad_value_, 1.0)):
        with pytest.raises(TypeError, match="takes the parameters, not the model: pass model.parameters()"):
            clip(Linear(2, 2), argument)


def test_a_parameter_without_a_gradient_stays_without_one_after_clipping():
    """As torch: clipping skips a parameter whose .grad is None (it took no part in the step), so an
    optimiser with weight decay leaves it alone afterwards; reading its .grad would have made it zero."""
    from course_lib.scratch import optim

    used, unused = Parameter(np.ones(3)), Parameter(np.ones(2))
    used.grad = np.full(3, 10.0)
    clip_grad_norm_([used, unused], max_norm=1.0)
    clip_grad_value_([used, unused], clip_value=0.5)
    assert not unused.has_grad
    optim.SGD([used, unused], lr=0.1, weight_decay=0.5).step()
    np.testing.assert_array_equal(unused.data, np.ones(2))
