"""Frozen parameters (``requires_grad_(False)``) in every layer kind, against torch's.

Each layer is frozen in several patterns — each parameter alone, all of them, every other one —
on both sides.  A frozen parameter's gradient is None on both sides, the others' gradients and
the input gradients are torch's, and the layers skip the frozen parameters' products
(Conv2d's dL/dW, the recurrent layers' whole-sequence weight GEMM, BatchNorm's sums in
evaluation, LayerNorm's column sums), so these tests also check that the shortcuts give the
same input gradient as the full computation.
"""
import numpy as np
import pytest
import torch

from course_lib.scratch import (LSTM, RNN, BatchNorm2d, Conv2d, Embedding, LayerNorm, Linear, LSTMCell,
                                MultiheadAttention, RNNCell)
from course_lib.scratch.transformer import TransformerEncoderLayer

from .parity import assert_parity, copy_weights, random_like_output


def _cases():
    f64 = dict(dtype=np.float64)
    return {
        "Linear": (lambda: torch.nn.Linear(4, 3), lambda: Linear(4, 3, **f64), ((5, 4),), {}),
        "Conv2d": (lambda: torch.nn.Conv2d(3, 4, 3, padding=1, stride=2),
                   lambda: Conv2d(3, 4, 3, padding=1, stride=2, **f64), ((2, 3, 7, 6),), {}),
        "Conv2d groups, dilation": (lambda: torch.nn.Conv2d(4, 6, 3, groups=2, dilation=2, padding=2),
                                    lambda: Conv2d(4, 6, 3, groups=2, dilation=2, padding=2, **f64),
                                    ((2, 4, 6, 7),), {}),
        "Conv2d reflect, no bias": (lambda: torch.nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect", bias=False),
                                    lambda: Conv2d(2, 3, 3, padding=1, padding_mode="reflect", bias=False, **f64),
                                    ((3, 2, 5, 5),), {}),
        "BatchNorm2d": (lambda: torch.nn.BatchNorm2d(3), lambda: BatchNorm2d(3, **f64), ((4, 3, 5, 5),), {}),
        "LayerNorm": (lambda: torch.nn.LayerNorm((4, 5)), lambda: LayerNorm((4, 5), **f64), ((3, 4, 5),), {}),
        "Embedding": (lambda: torch.nn.Embedding(7, 3), lambda: Embedding(7, 3, **f64), (), {}),
        "RNN": (lambda: torch.nn.RNN(3, 4, num_layers=2, bidirectional=True),
                lambda: RNN(3, 4, num_layers=2, bidirectional=True, **f64), ((6, 2, 3),), {}),
        "LSTM": (lambda: torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True),
                 lambda: LSTM(3, 4, num_layers=2, bidirectional=True, **f64), ((13, 2, 3),), {}),
        "LSTM proj_size": (lambda: torch.nn.LSTM(3, 5, proj_size=2), lambda: LSTM(3, 5, proj_size=2, **f64),
                           ((12, 2, 3),), {}),
        "RNNCell": (lambda: torch.nn.RNNCell(3, 4), lambda: RNNCell(3, 4, **f64), ((5, 3), (5, 4)), {}),
        "LSTMCell": (lambda: torch.nn.LSTMCell(3, 4), lambda: LSTMCell(3, 4, **f64), ((5, 3),), {}),
        "MultiheadAttention": (lambda: torch.nn.MultiheadAttention(8, 2, kdim=5, vdim=6, add_bias_kv=True),
                               lambda: MultiheadAttention(8, 2, kdim=5, vdim=6, add_bias_kv=True, **f64),
                               ((4, 2, 8), (3, 2, 5), (3, 2, 6)), {}),
        "TransformerEncoderLayer": (lambda: torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0),
                                    lambda: TransformerEncoderLayer(8, 2, 16, dropout=0.0, **f64),
                                    ((4, 2, 8),), {}),
    }


CASES = _cases()


def _patterns(names):
    """Each parameter alone, all of them, and every other one."""
    patterns = [[name] for name in names] + [list(names), list(names[::2])]
    return [p for index, p in enumerate(patterns) if p not in patterns[:index]]


def _pair(case, frozen, train=True):
    make_torch, make_scratch, _, _ = CASES[case]
    torch.manual_seed(0)
    torch_module, module = make_torch().double(), make_scratch()
    copy_weights(torch_module, module)
    for side in (torch_module, module):
        side.train(train)
        for name, param in side.named_parameters():
            if name in frozen:
                param.requires_grad_(False)
    return torch_module, module


def _inputs(case, rng):
    shapes = CASES[case][2]
    if case == "Embedding":
        return (rng.integers(0, 7, size=(3, 4)),)
    return tuple(rng.standard_normal(shape) for shape in shapes)


@pytest.mark.parametrize("case, train", [(case, True) for case in CASES]
                         + [("BatchNorm2d", False), ("TransformerEncoderLayer", False)])
def test_frozen_parameters_get_no_gradient_and_the_rest_is_torchs(case, train):
    rng = np.random.default_rng(0)
    names = [name for name, _ in _pair(case, ())[1].named_parameters()]
    for frozen in _patterns(names):
        torch_module, module = _pair(case, frozen, train)
        inputs = _inputs(case, rng)
        with torch.no_grad():
            grad = random_like_output(rng, _numpy(torch_module(*(torch.as_tensor(a) for a in inputs))))
        if case == "BatchNorm2d" and train:  # the forward above moved torch's running statistics
            torch_module.load_state_dict(_pair(case, frozen, train)[0].state_dict())
        _, _, params = assert_parity(torch_module, module, inputs, grad, copy=False)
        for name in names:
            assert (params[name] is None) == (name in frozen), (case, frozen, name)


def _numpy(value):
    if isinstance(value, (tuple, list)):
        return tuple(_numpy(item) for item in value)
    return None if value is None else value.detach().numpy()


def test_the_functional_backward_passes_skip_what_is_frozen():
    """The shortcuts the layers take: no dL/dW from conv2d_backward, no gate-weight GEMM in
    lstm_backward and no sums in rnn_backward for parameters not named, no γ/β sums in batch
    norm's evaluation backward — and the input gradient unchanged."""
    from course_lib.scratch.batchnorm import batch_norm_backward
    from course_lib.scratch.conv import conv2d_backward, conv2d_forward
    from course_lib.scratch.bptt import lstm_backward, lstm_forward, rnn_backward, rnn_forward

    rng = np.random.default_rng(1)
    x, weight = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    grad = rng.standard_normal(conv2d_forward(x, weight, padding=1).shape)
    full = conv2d_backward(grad, x, weight, padding=1)
    frozen = conv2d_backward(grad, x, weight, padding=1, weight_grad=False)
    assert frozen[1] is None and np.allclose(frozen[0], full[0], rtol=1e-12) and np.allclose(frozen[2], full[2])

    x = rng.standard_normal((5, 2, 3))
    lstm_weights = [rng.standard_normal(shape) for shape in ((16, 3), (16, 4), (16,), (16,))]
    *_, cache = lstm_forward(x, np.zeros((2, 4)), np.zeros((2, 4)), *lstm_weights)
    grad = rng.standard_normal((5, 2, 4))
    grad_x, _, _, grads = lstm_backward(grad, None, None, cache)
    frozen_x, _, _, none = lstm_backward(grad, None, None, cache, needed=frozenset())
    _, _, _, some = lstm_backward(grad, None, None, cache, needed=frozenset({"bias_hh"}))
    assert none == {} and list(some) == ["bias_hh"] and np.allclose(some["bias_hh"], grads["bias_hh"])
    assert np.allclose(frozen_x, grad_x, rtol=1e-12)

    rnn_weights = [rng.standard_normal(shape) for shape in ((4, 3), (4, 4), (4,), (4,))]
    _, _, cache = rnn_forward(x, np.zeros((2, 4)), *rnn_weights)
    assert rnn_backward(grad, None, cache, needed=frozenset())[2] == {}

    x_hat, inv_std = rng.standard_normal((4, 3, 2, 2)), rng.random(3) + 0.5
    grad = rng.standard_normal(x_hat.shape)
    full = batch_norm_backward(grad, x_hat, inv_std, np.ones(3), batch_stats=False)
    frozen = batch_norm_backward(grad, x_hat, inv_std, np.ones(3), batch_stats=False, param_grads=False)
    assert frozen[1] is None and frozen[2] is None and np.array_equal(frozen[0], full[0])


@pytest.mark.parametrize("case, train", [("BatchNorm2d", False), ("BatchNorm2d", True), ("LayerNorm", True)])
def test_frozen_normalisation_shortcuts_use_a_trained_gamma(case, train):
    """γ = 1 and β = 0 (the defaults above) hide a shortcut that leaves γ out of dL/dx (BatchNorm
    in evaluation with γ and β frozen, LayerNorm with only γ frozen): here γ, β and the running
    statistics are random, and the frozen layer's dL/dx must still be torch's."""
    rng = np.random.default_rng(2)
    names = [name for name, _ in _pair(case, ())[1].named_parameters()]
    for frozen in _patterns(names):
        torch_module, module = _pair(case, frozen, train)
        with torch.no_grad():
            for param in torch_module.parameters():
                param.copy_(torch.as_tensor(rng.standard_normal(tuple(param.shape)) + 1.5))
            if case == "BatchNorm2d":
                torch_module.running_mean.copy_(torch.as_tensor(rng.standard_normal(3)))
                torch_module.running_var.copy_(torch.as_tensor(rng.random(3) + 0.5))
        copy_weights(torch_module, module)
        inputs = _inputs(case, rng)
        _, _, params = assert_parity(torch_module, module, inputs, rng.standard_normal(inputs[0].shape),
                                     copy=False)
        for name in names:
            assert (params[name] is None) == (name in frozen), (case, frozen, name)
