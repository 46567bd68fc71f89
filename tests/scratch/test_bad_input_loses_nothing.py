"""Mistakes a student makes with the scratch API get an error that names them, and lose nothing.

From an audit of the library's error messages (2026-12-06): each case below was silent, changed
state before raising, or named the wrong thing.  torch's behaviour is the reference where it has one.
"""
import warnings

import numpy as np
import pytest
import torch

from course_lib import scratch as S
from course_lib.scratch import lr_scheduler, optim


def _f32(*shape, value=1.0):
    return np.full(shape, value, dtype=np.float32)


@pytest.mark.parametrize("item,message", [
    (S.ReLU, r"item 1 is the class ReLU, not a layer: write ReLU\(…\)"),
    ([S.ReLU()], r"item 1 is a list: pass the layers one by one, Sequential\(\*layers\)"),
    (torch.nn.ReLU(), r"item 1 is a torch\.nn\.modules\.activation\.ReLU: use the layers of course_lib\.scratch"),
    (np.tanh, r"item 1 is numpy\.ufunc, not a scratch Module"),
])
def test_sequential_refuses_what_is_not_a_module(item, message):
    # it used to skip the item: Sequential(Linear, ReLU, Linear) without the () was a linear model
    with pytest.raises(TypeError, match=message):
        S.Sequential(S.Linear(4, 3), item, S.Linear(3, 2))


def test_a_failed_load_state_dict_loads_nothing():
    model = S.Sequential(S.Linear(4, 3), S.ReLU(), S.Linear(3, 2))
    before = model.state_dict()
    checkpoint = {key: value + 1 for key, value in before.items()}
    checkpoint["2.bias"] = np.zeros(3, np.float32)  # the last key has the wrong shape
    with pytest.raises(ValueError, match=r"'2\.bias' expected shape \(2,\), got \(3,\) \(nothing was loaded\)"):
        model.load_state_dict(checkpoint)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    for wrong in ([1, 2], S.Linear(4, 3)):
        with pytest.raises(TypeError, match="load_state_dict expected a dict of arrays"):
            S.Linear(4, 3).load_state_dict(wrong)


def test_a_failed_optimiser_load_keeps_its_hyper_parameters():
    model = S.Linear(4, 3)
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    model.weight.grad[...] = 1
    model.bias.grad[...] = 1
    optimizer.step()
    other_model = S.Linear(4, 5)
    other = optim.Adam(other_model.parameters(), lr=0.5, betas=(0.5, 0.6))
    for param in other_model.parameters():
        param.grad[...] = 1
    other.step()
    state = optimizer.state_dict()
    with pytest.raises(ValueError, match=r"state 'exp_avg' has shape \(5, 4\), its parameter \(3, 4\)"):
        optimizer.load_state_dict(other.state_dict())
    assert optimizer.param_groups[0]["lr"] == 0.01 and optimizer.param_groups[0]["betas"] == (0.9, 0.999)
    np.testing.assert_array_equal(optimizer.state_dict()["state"][0]["exp_avg"], state["state"][0]["exp_avg"])
    with pytest.raises(ValueError, match=r"expected what an optimiser's state_dict\(\) returns.*a model's state_dict\?"):
        optimizer.load_state_dict(model.state_dict())


def test_bce_refuses_targets_outside_zero_one():
    prediction = _f32(2, 1, value=0.9)
    for target, message in ((_f32(2, 1, value=2.0), "values from 2.0 to 2.0"),
                            (np.array([[-1.0], [1.0]], np.float32), "labels -1/\\+1"),
                            (np.array([[np.nan], [1.0]], np.float32), "got NaN")):
        with pytest.raises(ValueError, match=r"BCELoss expected targets in \[0, 1\].*" + message):
            S.BCELoss()(prediction, target)
    soft = np.array([[0.25], [1.0]], np.float32)  # probabilities are targets too, as in torch
    expected = torch.nn.BCELoss()(torch.from_numpy(prediction), torch.from_numpy(soft)).item()
    assert S.BCELoss()(prediction, soft) == pytest.approx(expected, rel=1e-6)


def _failing_calls():
    x4, x_image, x_seq = _f32(2, 4), _f32(2, 3, 8, 8), _f32(5, 2, 4)
    return [
        ("Linear", S.Linear(4, 3), (x4,), (_f32(2, 5),), lambda m, out: m.backward(np.ones_like(out))),
        ("Conv2d", S.Conv2d(3, 4, 3), (x_image,), (_f32(2, 2, 8, 8),), lambda m, out: m.backward(np.ones_like(out))),
        ("LSTM", S.LSTM(4, 3), (x_seq,), (_f32(5, 2, 6),), lambda m, out: m.backward(np.ones_like(out[0]))),
        ("Sequential", S.Sequential(S.Linear(4, 3), S.ReLU(), S.Linear(3, 2)), (x4,), (_f32(2, 7),),
         lambda m, out: m.backward(np.ones_like(out))),
        ("MSELoss", S.MSELoss(), (x4, x4), (x4, _f32(4)), lambda m, out: m.backward()),
        ("CrossEntropyLoss", S.CrossEntropyLoss(), (x4, np.array([0, 1])), (x4, np.array([0, 9])),
         lambda m, out: m.backward()),
    ]


FAILING_CALLS = _failing_calls()


@pytest.mark.parametrize("name,module,good,bad,backward", FAILING_CALLS, ids=[c[0] for c in FAILING_CALLS])
def test_backward_after_a_failed_forward_raises(name, module, good, bad, backward):
    # it used to return the gradient of the call before the failed one, silently
    output = module(*good)
    backward(module, output)
    with pytest.raises(ValueError):
        module(*bad)
    with pytest.raises(RuntimeError, match=rf"{name}\.backward: the last forward call failed \(ValueError: .*\); "
                                           "call forward again before backward"):
        backward(module, output)  # a gradient shaped like the last good output
    backward(module, module(*good))  # a forward call that succeeds makes backward work again


@pytest.mark.parametrize("layer,x", [
    (S.Linear(4, 3), torch.ones(2, 4)), (S.LayerNorm(4), torch.ones(2, 4)),
    (S.PositionalEncoding(4), torch.ones(5, 2, 4)), (S.TransformerEncoderLayer(4, 2, 8), torch.ones(5, 2, 4)),
    (S.RNN(4, 3), torch.ones(5, 2, 4)), (S.LSTM(4, 3), torch.ones(5, 2, 4)), (S.RNNCell(4, 3), torch.ones(2, 4)),
], ids=lambda value: type(value).__name__)
def test_a_torch_tensor_is_named_not_its_shape(layer, x):
    # the message used to say "expected (*, in_features=4), got torch.Size([2, 4])": the shapes agree
    with pytest.raises(ValueError, match=r"got a torch\.Tensor, not a NumPy array \(scratch layers take arrays: "
                                         r"x\.detach\(\)\.cpu\(\)\.numpy\(\)\)"):
        layer(x)


def test_recurrent_layers_name_each_mistake():
    with pytest.raises(ValueError, match=r"RNN expected input of shape .*, got list, not a NumPy array"):
        S.RNN(4, 3)(_f32(5, 2, 4).tolist())  # an AttributeError on .ndim before
    with pytest.raises(ValueError, match="RNN expected h_0 of dtype float32, got float64"):
        S.RNN(4, 3)(_f32(5, 2, 4), np.zeros((1, 2, 3)))  # it blamed the input
    with pytest.raises(ValueError, match=r"LSTMCell expected c of dtype float32, got float64 \(convert with c\.astype"):
        S.LSTMCell(4, 3)(_f32(2, 4), (_f32(2, 3), np.zeros((2, 3))))
    lstm = S.LSTM(4, 3)
    output, (h_n, _) = lstm(_f32(5, 2, 4))
    with pytest.raises(ValueError, match=r"one tuple \(grad_h_n, grad_c_n\) — either may be None — got \(1, 2, 3\)"):
        lstm.backward(np.ones_like(output), np.ones_like(h_n))  # it unpacked the array's first axis
    with pytest.raises(ValueError, match=r"LSTM\.backward expected grad_output as a NumPy array \(or None\), got list"):
        lstm.backward(np.ones_like(output).tolist())  # it went through np.asarray, unlike every other backward
    cell = S.RNNCell(3, 4)
    cell(_f32(2, 3))
    with pytest.raises(ValueError, match=r"RNNCell\.backward expected grad_h of shape \(2, 4\), got None"):
        cell.backward(None)


def test_a_loss_backward_names_a_gradient_that_is_no_array():
    loss = S.MSELoss()
    loss(_f32(2), _f32(2, value=0.0))
    for wrong, name in (([1.0], "list"), ("a", "str")):
        with pytest.raises(ValueError, match=rf"MSELoss\.backward expected grad_output as a NumPy array or a number "
                                             rf"\(or None\), got {name}, not a NumPy array"):
            loss.backward(wrong)
    for right in (None, 2.0, np.float32(2), np.array(2.0)):  # a refused gradient leaves the call usable
        assert loss.backward(right).shape == (2,)
        loss(_f32(2), _f32(2, value=0.0))


def test_optimiser_and_layer_arguments_are_named():
    with pytest.raises(TypeError, match=r"got torch\.nn\.parameter\.Parameter \(a PyTorch parameter"):
        optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)
    for lr in ("0.1", None):
        with pytest.raises(TypeError, match="learning rate lr must be a number"):
            optim.SGD(S.Linear(2, 2).parameters(), lr=lr)
    assert optim.SGD(S.Linear(2, 2).parameters(), lr=np.float32(0.1)).param_groups[0]["lr"] == np.float32(0.1)
    with pytest.raises(ValueError, match="Linear needs in_features and out_features >= 0, got -1 and 2"):
        S.Linear(-1, 2)  # a math domain error before


def test_a_scheduler_stepped_before_its_optimiser_warns_as_torch_does():
    optimizer = optim.SGD(S.Linear(2, 2).parameters(), lr=0.1)
    schedule = lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)  # the constructor's own step: no warning
    with pytest.warns(UserWarning, match=r"StepLR\.step\(\) was called before the optimiser's step\(\)"):
        schedule.step()
    with warnings.catch_warnings():  # once, as torch (it repeated on every early step: an audit, 2026-12-06)
        warnings.simplefilter("error")
        schedule.step()
    optimizer = optim.SGD(S.Linear(2, 2).parameters(), lr=0.1)
    schedule = lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            optimizer.step()
            schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0125)
