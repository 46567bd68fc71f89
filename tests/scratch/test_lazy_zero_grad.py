"""Lazily zeroed gradients give the same numbers as zeros written at once.

After ``zero_grad()`` a backward pass overwrites the gradient (``Parameter.grad_for_write``,
``add_to_grad``) instead of writing zeros and adding to them; several uses of one parameter
still add up, and reading ``.grad`` shows zeros.
"""
import numpy as np

from course_lib.scratch import Linear, Parameter, optim


def test_a_shared_weight_still_sums_both_uses_after_zero_grad():
    first, second = Linear(3, 2, dtype=np.float64), Linear(3, 2, dtype=np.float64)
    second.weight = first.weight
    x1, x2 = np.random.default_rng(0).standard_normal((2, 4, 3))
    g1, g2 = np.random.default_rng(1).standard_normal((2, 4, 2))
    for _ in range(2):  # the second round starts from stale arrays
        first.zero_grad()
        second.zero_grad()
        first(x1)
        second(x2)
        first.backward(g1)
        second.backward(g2)
        np.testing.assert_allclose(first.weight.grad, g1.T @ x1 + g2.T @ x2, rtol=1e-13)


def test_grad_for_write_tells_the_layer_whether_to_add():
    param = Parameter(np.ones(3))
    array, accumulate = param.grad_for_write()
    assert not accumulate and param.has_grad  # no gradient yet: the caller overwrites every element
    array[...] = 5
    assert param.grad_for_write()[1]  # now there is one to add to
    param.zero_grad()
    array, accumulate = param.grad_for_write()
    assert not accumulate and param.has_grad  # stale 5s: the caller overwrites every element
    param.zero_grad(set_to_none=False)
    assert param.grad_for_write()[1] and not param.grad.any()
    param.grad = None
    array, accumulate = param.grad_for_write()
    assert not accumulate and array.shape == (3,)


def test_add_to_grad_after_zero_grad_ignores_the_old_values():
    param = Parameter(np.zeros(2))
    param.add_to_grad(np.array([1.0, 2.0]))
    param.add_to_grad(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(param.grad, [2.0, 4.0])
    param.zero_grad()
    param.add_to_grad(np.array([3.0, 3.0]))
    np.testing.assert_array_equal(param.grad, [3.0, 3.0])


def test_an_optimiser_step_after_lazy_zeroing_matches_eager_zeroing():
    rng = np.random.default_rng(2)
    x, g = rng.standard_normal((8, 5)), rng.standard_normal((8, 3))
    models = [Linear(5, 3, dtype=np.float64) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    optimisers = [optim.SGD(model.parameters(), lr=0.1, momentum=0.9) for model in models]
    for _ in range(3):
        for model, optimiser, set_to_none in zip(models, optimisers, (True, False)):
            optimiser.zero_grad(set_to_none=set_to_none)
            model(x)
            model.backward(g)
            optimiser.step()
    np.testing.assert_array_equal(models[0].weight.data, models[1].weight.data)
