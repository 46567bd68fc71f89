"""course_lib.scratch.init against torch.nn.init: the same gains, and draws from the same distributions."""
import math

import numpy as np
import pytest
import torch

from course_lib.scratch import init

NONLINEARITIES = [("linear", None), ("conv2d", None), ("conv_transpose3d", None), ("sigmoid", None), ("tanh", None),
                  ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 1), ("selu", None)]


@pytest.mark.parametrize("nonlinearity, param", NONLINEARITIES)
def test_calculate_gain_is_torchs(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


def _torch_std(fill, shape, **kwargs):
    tensor = torch.empty(shape, dtype=torch.float64)
    torch.manual_seed(0)
    fill(tensor, **kwargs)
    return float(tensor.std())


SHAPE = (300, 200, 3)  # fan_in 600, fan_out 900: both differ, so a mode mix-up shows


@pytest.mark.parametrize("ours, theirs, kwargs", [
    (init.kaiming_normal, torch.nn.init.kaiming_normal_, {}),
    (init.kaiming_normal, torch.nn.init.kaiming_normal_, dict(mode="fan_out")),
    (init.kaiming_normal, torch.nn.init.kaiming_normal_, dict(a=0.3, nonlinearity="leaky_relu")),
    (init.kaiming_normal, torch.nn.init.kaiming_normal_, dict(nonlinearity="tanh", mode="fan_out")),
    (init.kaiming_uniform, torch.nn.init.kaiming_uniform_, dict(a=0.0)),
    (init.kaiming_uniform, torch.nn.init.kaiming_uniform_, dict(a=math.sqrt(5))),
    (init.kaiming_uniform, torch.nn.init.kaiming_uniform_, dict(a=0.0, mode="fan_out", nonlinearity="relu")),
    (init.xavier_normal, torch.nn.init.xavier_normal_, {}),
    (init.xavier_normal, torch.nn.init.xavier_normal_, dict(gain=5 / 3)),
    (init.xavier_uniform, torch.nn.init.xavier_uniform_, dict(gain=2.0)),
])
def test_the_spread_of_each_initialiser_is_torchs(ours, theirs, kwargs):
    init.manual_seed(0)
    drawn = ours(SHAPE, dtype=np.float64, **kwargs)
    assert drawn.shape == SHAPE and drawn.dtype == np.float64
    assert drawn.std() == pytest.approx(_torch_std(theirs, SHAPE, **kwargs), rel=0.01)
    assert abs(drawn.mean()) < 0.01 * drawn.std()


def test_the_defaults_are_the_ones_the_layers_rely_on():
    """kaiming_uniform's a = √5 is Linear's U(±1/√fan_in); kaiming_normal's defaults are He's √(2/fan_in)."""
    init.manual_seed(1)
    weight = init.kaiming_uniform((64, 400))
    assert weight.dtype == np.float32 and np.abs(weight).max() <= 1 / math.sqrt(400)
    assert np.abs(weight).max() > 0.99 / math.sqrt(400)
    assert init.kaiming_normal((500, 400)).std() == pytest.approx(math.sqrt(2 / 400), rel=0.01)


@pytest.mark.parametrize("call, match", [
    (lambda: init.calculate_gain("gelu"), r"unknown nonlinearity 'gelu' \(one of 'linear'"),
    (lambda: init.calculate_gain("leaky_relu", "0.2"), "slope must be a number, got '0.2'"),
    (lambda: init.kaiming_normal((3, 4), mode="fan_avg"), "mode must be 'fan_in' or 'fan_out', got 'fan_avg'"),
    (lambda: init.xavier_normal((5,)), r"at least 2 dimensions, got shape \(5,\)"),
    (lambda: init.orthogonal((5,)), r"orthogonal needs a weight with at least 2 dimensions, got shape \(5,\)"),
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (6, 2, 3), (2, 3, 3, 3), (1, 7), (7, 1)])
@pytest.mark.parametrize("gain", [1.0, 5 / 3])
def test_orthogonal_is_torchs_construction_from_the_same_normal_draws(shape, gain):
    """torch.nn.init.orthogonal_ draws one standard normal (rows, columns) matrix and orthogonalises it:
    drawn again from the same seed, ours makes the same matrix of it."""
    rows, columns = shape[0], math.prod(shape[1:])
    torch.manual_seed(3)
    draws = torch.empty(rows, columns, dtype=torch.float64).normal_(0, 1)
    torch.manual_seed(3)
    expected = torch.nn.init.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=gain)
    np.testing.assert_allclose(init._orthogonalise(draws.numpy(), gain).reshape(shape), expected.numpy(),
                               rtol=0, atol=1e-13)


@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_orthogonal_rows_or_columns_are_orthonormal_times_the_gain(dtype, tolerance):
    init.manual_seed(4)
    for shape in [(64, 32), (32, 64), (16, 4, 3, 3), (128, 128)]:
        weight = init.orthogonal(shape, gain=2.0, dtype=dtype)
        assert weight.shape == shape and weight.dtype == dtype
        matrix = weight.reshape(shape[0], -1).astype(np.float64)
        gram = matrix @ matrix.T if matrix.shape[0] <= matrix.shape[1] else matrix.T @ matrix
        np.testing.assert_allclose(gram, 4.0 * np.eye(len(gram)), rtol=0, atol=4 * tolerance)
    init.manual_seed(4)
    first, second = init.orthogonal((64, 32), dtype=dtype), init.orthogonal((64, 32), dtype=dtype)
    assert not np.array_equal(first, second)  # each call draws anew
    init.manual_seed(4)
    assert np.array_equal(first, init.orthogonal((64, 32), dtype=dtype))  # manual_seed repeats the draws
    assert init.orthogonal((0, 5), dtype=dtype).shape == (0, 5)
