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
])
def test_bad_arguments_are_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()
