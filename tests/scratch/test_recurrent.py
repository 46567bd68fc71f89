"""Tests for course_lib/scratch/recurrent.py and bptt.py: BPTT against finite differences and torch.nn."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from course_lib.interop import state_dict_from_torch
from course_lib.scratch import Module, gradcheck, init
from course_lib.scratch import bptt
from course_lib.scratch.bptt import lstm_backward, lstm_forward
from course_lib.scratch.recurrent import LSTM, RNN, LSTMCell, RNNCell
from .parity import assert_close, assert_uniform_init, copy_weights, to_numpy
from ..hypothesis_budget import examples

RTOL, ATOL = 1e-6, 1e-9


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _torch_run(torch_module, x, hx, grads):
    """Forward ``torch_module(x, hx)`` in float64 and backpropagate the (nested) ``grads``.

    Returns (outputs, grad_x, grad_hx, param_grads) as NumPy; ``hx`` may be an array,
    a tuple of arrays (LSTM) or None, and ``grad_hx`` has the same structure.
    """
    x_t = torch.tensor(x, requires_grad=True)
    if hx is None:
        hx_t = None
    elif isinstance(hx, tuple):
        hx_t = tuple(torch.tensor(h, requires_grad=True) for h in hx)
    else:
        hx_t = torch.tensor(hx, requires_grad=True)
    for param in torch_module.parameters():
        param.grad = None
    outputs = torch_module(x_t) if hx_t is None else torch_module(x_t, hx_t)
    leaves, leaf_grads = [], []

    def collect(out, grad):
        if isinstance(out, tuple):
            for item, item_grad in zip(out, (None,) * len(out) if grad is None else grad):
                collect(item, item_grad)
        elif grad is not None:
            leaves.append(out)
            leaf_grads.append(torch.tensor(grad))

    collect(outputs, grads)
    torch.autograd.backward(leaves, leaf_grads)

    def grad_of(tensor):
        return np.zeros(tuple(tensor.shape)) if tensor.grad is None else tensor.grad.numpy()

    if hx_t is None:
        grad_hx = None
    elif isinstance(hx_t, tuple):
        grad_hx = tuple(grad_of(h) for h in hx_t)
    else:
        grad_hx = grad_of(hx_t)
    param_grads = {name: grad_of(param) for name, param in torch_module.named_parameters()}
    return to_numpy(outputs), grad_of(x_t), grad_hx, param_grads


def _assert_module_parity(torch_module, scratch_module, x, hx, grads, backward_args):
    """Copy torch's weights, run both sides, compare outputs, input/hx grads and every parameter grad."""
    copy_weights(torch_module, scratch_module)
    expected_out, expected_gx, expected_ghx, expected_params = _torch_run(torch_module, x, hx, grads)
    scratch_module.zero_grad()
    actual_out = scratch_module(x) if hx is None else scratch_module(x, hx)
    actual_gx, actual_ghx = scratch_module.backward(*backward_args)
    name = type(scratch_module).__name__
    assert_close(actual_out, expected_out, RTOL, ATOL, what=f"{name} outputs")
    assert_close(actual_gx, expected_gx, RTOL, ATOL, what=f"{name} grad of input")
    assert_close(actual_ghx, expected_ghx, RTOL, ATOL, what=f"{name} grad of hx")
    actual_params = {key: param.grad for key, param in scratch_module.named_parameters()}
    assert sorted(actual_params) == sorted(expected_params)
    for key, expected in expected_params.items():
        assert_close(actual_params[key], expected, RTOL, ATOL, what=f"{name} grad of '{key}'")


@st.composite
def stack_configs(draw):
    """Small random recurrent stacks: sizes, layers, layout, bias, directions, which inputs and gradients."""
    return dict(
        length=draw(st.integers(1, 5)),
        batch=draw(st.integers(1, 3)),
        input_size=draw(st.integers(1, 4)),
        hidden_size=draw(st.integers(1, 5)),
        num_layers=draw(st.integers(1, 2)),
        batch_first=draw(st.booleans()),
        bias=draw(st.booleans()),
        bidirectional=draw(st.booleans()),
        unbatched=draw(st.sampled_from([False, False, False, True])),
        with_hx=draw(st.booleans()),
        # at least one of output / h_n / (c_n) sends a gradient back
        grad_mask=draw(st.tuples(st.booleans(), st.booleans(), st.booleans()).filter(any)),
        # the LSTM's projection of h (0: none); the RNN ignores it, as torch's RNN has none
        proj=draw(st.sampled_from([0, 0, 1, 2])),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def _proj_size(config) -> int:
    return min(config.get("proj", 0), config["hidden_size"] - 1)


def _inputs(config, lstm: bool):
    rng = np.random.default_rng(config["seed"])
    length, batch, features = config["length"], config["batch"], config["input_size"]
    if config["unbatched"]:
        x_shape = (length, features)
    else:
        x_shape = (batch, length, features) if config["batch_first"] else (length, batch, features)
    layers = config["num_layers"] * (2 if config["bidirectional"] else 1)
    width = (_proj_size(config) if lstm else 0) or config["hidden_size"]  # of h; c has hidden_size

    def state_shape(features):
        return (layers, features) if config["unbatched"] else (layers, batch, features)

    x = rng.standard_normal(x_shape)
    hx = None
    if config["with_hx"]:
        hx = ((rng.standard_normal(state_shape(width)), rng.standard_normal(state_shape(config["hidden_size"])))
              if lstm else rng.standard_normal(state_shape(width)))
    out_features = width * (2 if config["bidirectional"] else 1)
    out_shape = x_shape[:-1] + (out_features,)
    use_out, use_h, use_c = config["grad_mask"]
    grad_out = rng.standard_normal(out_shape) if use_out else None
    grad_h = rng.standard_normal(state_shape(width)) if use_h else None
    grad_c = rng.standard_normal(state_shape(config["hidden_size"])) if use_c else None
    return x, hx, grad_out, grad_h, grad_c


def _constructor_args(config):
    return (config["input_size"], config["hidden_size"]), dict(
        num_layers=config["num_layers"], bias=config["bias"], batch_first=config["batch_first"],
        bidirectional=config["bidirectional"],
    )


# ---------------------------------------------------------------------------
# parity with torch (float64, rtol 1e-6)
# ---------------------------------------------------------------------------
@settings(max_examples=examples(20), deadline=None)
@given(config=stack_configs(), nonlinearity=st.sampled_from(["tanh", "relu"]))
def test_rnn_matches_torch(config, nonlinearity):
    torch.manual_seed(config["seed"])
    args, kwargs = _constructor_args(config)
    torch_rnn = torch.nn.RNN(*args, nonlinearity=nonlinearity, **kwargs).double()
    rnn = RNN(*args, nonlinearity=nonlinearity, dtype=np.float64, **kwargs)
    x, hx, grad_out, grad_h, _ = _inputs(config, lstm=False)
    if grad_out is None and grad_h is None:
        grad_out = np.ones_like(torch_rnn(torch.tensor(x))[0].detach().numpy())
    _assert_module_parity(torch_rnn, rnn, x, hx, (grad_out, grad_h), (grad_out, grad_h))


@settings(max_examples=examples(20), deadline=None)
@given(config=stack_configs())
def test_lstm_matches_torch(config):
    torch.manual_seed(config["seed"])
    args, kwargs = _constructor_args(config)
    kwargs["proj_size"] = _proj_size(config)
    torch_lstm = torch.nn.LSTM(*args, **kwargs).double()
    lstm = LSTM(*args, dtype=np.float64, **kwargs)
    x, hx, grad_out, grad_h, grad_c = _inputs(config, lstm=True)
    grad_hc = None if grad_h is None and grad_c is None else (grad_h, grad_c)
    _assert_module_parity(torch_lstm, lstm, x, hx, (grad_out, (grad_h, grad_c)), (grad_out, grad_hc))


@pytest.mark.parametrize("cls", [RNN, LSTM])
@pytest.mark.parametrize("shape, batch_first", [((0, 2, 3), False), ((2, 0, 3), True), ((0, 3), False)])
def test_empty_sequences_are_refused_with_the_shape(cls, shape, batch_first):
    """torch refuses them too ("Expected sequence length to be larger than 0")."""
    with pytest.raises(ValueError, match=r"at least one time step, got input of shape \(" + str(shape[0])):
        cls(3, 4, batch_first=batch_first)(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("cls", [RNN, LSTM])
@pytest.mark.parametrize("kwargs", [{}, {"num_layers": 2, "bidirectional": True}, {"batch_first": True}])
def test_an_empty_batch_gives_empty_outputs_and_zero_gradients_like_torch(cls, kwargs):
    torch_module = getattr(torch.nn, cls.__name__)(3, 4, **kwargs).double()
    module = cls(3, 4, dtype=np.float64, **kwargs)
    module.load_state_dict(state_dict_from_torch(torch_module.state_dict()))
    x = np.zeros((0, 5, 3) if kwargs.get("batch_first") else (5, 0, 3))
    x_torch = torch.from_numpy(x).requires_grad_()
    output, torch_output = module(x)[0], torch_module(x_torch)[0]
    torch_output.sum().backward()
    assert output.shape == tuple(torch_output.shape)
    grad_input, _ = module.backward(np.ones(output.shape))
    assert grad_input.shape == tuple(x_torch.grad.shape)
    for (name, param), torch_param in zip(module.named_parameters(), torch_module.parameters()):
        np.testing.assert_array_equal(param.grad, torch_param.grad.numpy(), err_msg=name)


@pytest.mark.parametrize("cls, torch_cls", [(RNNCell, torch.nn.RNNCell), (LSTMCell, torch.nn.LSTMCell)])
def test_cells_take_an_empty_batch_like_torch(cls, torch_cls):
    """torch's cells accept N = 0 (as its sequence modules do): empty outputs, zero gradients."""
    cell = cls(3, 4)
    output, torch_output = cell(np.zeros((0, 3), dtype=np.float32)), torch_cls(3, 4)(torch.zeros(0, 3))
    h, torch_h = (output[0], torch_output[0]) if cls is LSTMCell else (output, torch_output)
    assert h.shape == tuple(torch_h.shape) == (0, 4)
    grad_x = cell.backward(np.zeros((0, 4), dtype=np.float32))[0]
    assert grad_x.shape == (0, 3)
    assert all(not param.grad.any() for param in cell.parameters())


@pytest.mark.parametrize("proj", [0, 2])
def test_lstm_matches_torch_over_several_backward_blocks(proj):
    """BPTT precomputes the gate derivatives a block of steps at a time (``_BACKWARD_BLOCK``);
    the random configurations above are shorter than one block.  Here: several full blocks and
    a partial one, in both directions, through two layers, and the same module run again on a
    shorter sequence (its reused buffers change shape)."""
    config = dict(batch=3, input_size=4, hidden_size=5, num_layers=2, batch_first=False, bias=True,
                  bidirectional=True, unbatched=False, with_hx=True, grad_mask=(True, True, True), proj=proj)
    torch.manual_seed(10)
    args, kwargs = _constructor_args(config)
    kwargs["proj_size"] = proj
    torch_lstm = torch.nn.LSTM(*args, **kwargs).double()
    lstm = LSTM(*args, dtype=np.float64, **kwargs)
    for length, seed in ((2 * bptt._BACKWARD_BLOCK + 3, 11), (bptt._BACKWARD_BLOCK + 1, 12)):
        x, hx, grad_out, grad_h, grad_c = _inputs(dict(config, length=length, seed=seed), lstm=True)
        torch_lstm.zero_grad()
        _assert_module_parity(torch_lstm, lstm, x, hx, (grad_out, (grad_h, grad_c)), (grad_out, (grad_h, grad_c)))


@pytest.mark.parametrize("proj", [0, 2])
def test_unbatched_lstm_with_initial_state_gives_torchs_gradient_of_c0(proj):
    """Unbatched input (L, H_in) with hx = (h0, c0): backward returns dL/dh0 *and* dL/dc0, torch's
    (catches a c0 gradient dropped or zeroed when the batch axis is taken off again)."""
    config = dict(length=4, batch=1, input_size=3, hidden_size=4, num_layers=2, batch_first=False, bias=True,
                  bidirectional=True, unbatched=True, with_hx=True, grad_mask=(True, True, True), proj=proj, seed=14)
    torch.manual_seed(14)
    args, kwargs = _constructor_args(config)
    kwargs["proj_size"] = proj
    torch_lstm = torch.nn.LSTM(*args, **kwargs).double()
    lstm = LSTM(*args, dtype=np.float64, **kwargs)
    x, hx, grad_out, grad_h, grad_c = _inputs(config, lstm=True)
    assert x.ndim == 2 and hx[1].shape == (4, 4)
    _assert_module_parity(torch_lstm, lstm, x, hx, (grad_out, (grad_h, grad_c)), (grad_out, (grad_h, grad_c)))


@pytest.mark.parametrize("cls, torch_cls", [(RNN, torch.nn.RNN), (LSTM, torch.nn.LSTM)])
def test_float32_stays_float32_and_matches_torch(cls, torch_cls):
    """The float32 path (σ via exp, buffers reused in place) agrees with torch to float32 precision."""
    rng = np.random.default_rng(1)
    torch.manual_seed(1)
    torch_module = torch_cls(5, 7, num_layers=2, batch_first=True)
    module = cls(5, 7, num_layers=2, batch_first=True)
    copy_weights(torch_module, module)
    x = rng.standard_normal((3, 6, 5)).astype(np.float32)
    output, _ = module(x)
    grad = rng.standard_normal(output.shape).astype(np.float32)
    grad_x, _ = module.backward(grad)
    x_t = torch.tensor(x, requires_grad=True)
    torch_output, _ = torch_module(x_t)
    torch_output.backward(torch.tensor(grad))
    assert output.dtype == np.float32 and grad_x.dtype == np.float32
    assert all(param.grad.dtype == np.float32 for param in module.parameters())
    assert_close(output, torch_output.detach(), rtol=1e-4, atol=1e-5, what="output")
    assert_close(grad_x, x_t.grad, rtol=1e-4, atol=1e-5, what="grad input")
    torch_params = dict(torch_module.named_parameters())
    for name, param in module.named_parameters():
        assert_close(param.grad, torch_params[name].grad, rtol=1e-4, atol=1e-4, what=name)


@settings(max_examples=examples(20), deadline=None)
@given(
    batch=st.integers(1, 3), input_size=st.integers(1, 4), hidden_size=st.integers(1, 5), bias=st.booleans(),
    nonlinearity=st.sampled_from(["tanh", "relu"]), unbatched=st.booleans(), with_hx=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_rnn_cell_matches_torch(batch, input_size, hidden_size, bias, nonlinearity, unbatched, with_hx, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    torch_cell = torch.nn.RNNCell(input_size, hidden_size, bias=bias, nonlinearity=nonlinearity).double()
    cell = RNNCell(input_size, hidden_size, bias=bias, nonlinearity=nonlinearity, dtype=np.float64)
    lead = () if unbatched else (batch,)
    x = rng.standard_normal(lead + (input_size,))
    hx = rng.standard_normal(lead + (hidden_size,)) if with_hx else None
    grad_h = rng.standard_normal(lead + (hidden_size,))
    _assert_module_parity(torch_cell, cell, x, hx, grad_h, (grad_h,))


@settings(max_examples=examples(20), deadline=None)
@given(
    batch=st.integers(1, 3), input_size=st.integers(1, 4), hidden_size=st.integers(1, 5), bias=st.booleans(),
    unbatched=st.booleans(), with_hx=st.booleans(),
    grad_mask=st.tuples(st.booleans(), st.booleans()).filter(any), seed=st.integers(0, 2**31 - 1),
)
def test_lstm_cell_matches_torch(batch, input_size, hidden_size, bias, unbatched, with_hx, grad_mask, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    torch_cell = torch.nn.LSTMCell(input_size, hidden_size, bias=bias).double()
    cell = LSTMCell(input_size, hidden_size, bias=bias, dtype=np.float64)
    lead = () if unbatched else (batch,)
    x = rng.standard_normal(lead + (input_size,))
    state = lead + (hidden_size,)
    hx = (rng.standard_normal(state), rng.standard_normal(state)) if with_hx else None
    grad_h, grad_c = (rng.standard_normal(state) if use else None for use in grad_mask)
    _assert_module_parity(torch_cell, cell, x, hx, (grad_h, grad_c), (grad_h, grad_c))


def test_multi_step_cell_loop_equals_lstm():
    """Unrolling LSTMCell by hand over time gives LSTM's output: the cell is one step of the layer."""
    rng = np.random.default_rng(2)
    lstm = LSTM(3, 4, dtype=np.float64)
    cell = LSTMCell(3, 4, dtype=np.float64)
    cell.load_state_dict({key[:-3]: value for key, value in lstm.state_dict().items()})
    x = rng.standard_normal((5, 2, 3))
    output, (h_n, c_n) = lstm(x)
    state = (np.zeros((2, 4)), np.zeros((2, 4)))
    for t in range(5):
        state = cell(x[t], state)
        assert_close(output[t], state[0], what=f"step {t}")
    assert_close(h_n[0], state[0])
    assert_close(c_n[0], state[1])


# ---------------------------------------------------------------------------
# finite differences (float64)
# ---------------------------------------------------------------------------
class _FlatStack(Module):
    """Expose an RNN/LSTM as fn(x, *states) -> flat tuple of outputs, for ``gradcheck``."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x, *states):
        if isinstance(self.inner, (LSTM, LSTMCell)):
            result = self.inner(x, tuple(states))
            if isinstance(self.inner, LSTMCell):
                return result
            output, (h_n, c_n) = result
            return output, h_n, c_n
        result = self.inner(x, states[0])
        return result if isinstance(self.inner, RNNCell) else tuple(result)

    def backward(self, *grads):
        if isinstance(self.inner, LSTM):
            grad_x, grad_hx = self.inner.backward(grads[0], (grads[1], grads[2]))
        else:
            grad_x, grad_hx = self.inner.backward(*grads)
        return (grad_x,) + (grad_hx if isinstance(grad_hx, tuple) else (grad_hx,))


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_lstm_gradcheck(batch_first, bidirectional):
    init.manual_seed(3)
    rng = np.random.default_rng(3)
    lstm = LSTM(3, 2, num_layers=2, batch_first=batch_first, bidirectional=bidirectional, dtype=np.float64)
    layers = 2 * (2 if bidirectional else 1)
    x = rng.standard_normal((2, 4, 3) if batch_first else (4, 2, 3))
    h0, c0 = rng.standard_normal((layers, 2, 2)), rng.standard_normal((layers, 2, 2))
    assert gradcheck(_FlatStack(lstm), x, h0, c0)


def test_lstm_with_projection_gradcheck():
    """proj_size: h_t = W_hr (o ⊙ tanh c_t) has 2 features, c_t keeps 3."""
    init.manual_seed(4)
    rng = np.random.default_rng(4)
    lstm = LSTM(3, 3, num_layers=2, bidirectional=True, proj_size=2, dtype=np.float64)
    x = rng.standard_normal((4, 2, 3))
    h0, c0 = rng.standard_normal((4, 2, 2)), rng.standard_normal((4, 2, 3))
    assert gradcheck(_FlatStack(lstm), x, h0, c0)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_gradcheck(nonlinearity):
    init.manual_seed(4)
    rng = np.random.default_rng(4)
    rnn = RNN(3, 4, num_layers=2, nonlinearity=nonlinearity, bidirectional=True, dtype=np.float64)
    x, h0 = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 4))
    assert gradcheck(_FlatStack(rnn), x, h0)


def test_cells_gradcheck():
    init.manual_seed(5)
    rng = np.random.default_rng(5)
    x, h, c = rng.standard_normal((3, 4)), rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    assert gradcheck(_FlatStack(LSTMCell(4, 2, dtype=np.float64)), x, h, c)
    assert gradcheck(_FlatStack(RNNCell(4, 2, dtype=np.float64)), x, h)


@pytest.mark.parametrize("kind", ["LSTM", "RNN"])
def test_recurrent_options_gradcheck(kind):
    """Options a coverage audit found no gradient check of (all compared with torch): no biases, an
    unbatched sequence, RNN with batch_first and ReLU."""
    init.manual_seed(7)
    rng = np.random.default_rng(7)
    make = LSTM if kind == "LSTM" else lambda *a, **k: RNN(*a, nonlinearity="relu", **k)
    states = 2 if kind == "LSTM" else 1
    no_bias = make(3, 2, num_layers=2, bidirectional=True, bias=False, batch_first=True, dtype=np.float64)
    assert gradcheck(_FlatStack(no_bias), rng.standard_normal((2, 4, 3)),
                     *(rng.standard_normal((4, 2, 2)) for _ in range(states)))
    unbatched = make(3, 2, bidirectional=True, dtype=np.float64)
    assert gradcheck(_FlatStack(unbatched), rng.standard_normal((4, 3)),
                     *(rng.standard_normal((2, 2)) for _ in range(states)))


def test_cells_options_gradcheck():
    init.manual_seed(8)
    rng = np.random.default_rng(8)
    x, h, c = rng.standard_normal((3, 4)), rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    assert gradcheck(_FlatStack(RNNCell(4, 2, nonlinearity="relu", dtype=np.float64)), x, h)
    assert gradcheck(_FlatStack(RNNCell(4, 2, bias=False, dtype=np.float64)), x, h)
    assert gradcheck(_FlatStack(LSTMCell(4, 2, bias=False, dtype=np.float64)), x, h, c)
    assert gradcheck(_FlatStack(LSTMCell(4, 2, dtype=np.float64)), x[0], h[0], c[0])  # unbatched


def test_functional_lstm_backward_gradcheck_reverse():
    """lstm_forward(reverse=True) reads time backwards; its BPTT is checked on its own."""
    rng = np.random.default_rng(6)
    length, batch, features, hidden = 4, 2, 3, 2
    weights = [rng.standard_normal(shape) * 0.5 for shape in
               [(4 * hidden, features), (4 * hidden, hidden), (4 * hidden,), (4 * hidden,)]]
    x, h0, c0 = rng.standard_normal((length, batch, features)), rng.standard_normal((batch, hidden)), rng.standard_normal((batch, hidden))
    state = {}

    def fn(x, h0, c0, *params):
        output, h_n, c_n, state["cache"] = lstm_forward(x, h0, c0, *params, reverse=True)
        return output, h_n, c_n

    def backward(grad_output, grad_h, grad_c):
        grad_x, grad_h0, grad_c0, grads = lstm_backward(grad_output, grad_h, grad_c, state["cache"])
        return (grad_x, grad_h0, grad_c0) + tuple(grads[key] for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    assert gradcheck(fn, x, h0, c0, *weights, backward=backward)


# ---------------------------------------------------------------------------
# inter-layer dropout
# ---------------------------------------------------------------------------
# with both directions, a projection and batch_first too (a coverage audit: only the plain stack was compared)
@pytest.mark.parametrize("bidirectional, proj_size, batch_first",
                         [(False, 0, False), (True, 0, False), (True, 2, True), (False, 2, False), (True, 0, True)])
def test_dropout_is_identity_in_eval_and_exact_in_training(bidirectional, proj_size, batch_first):
    """Training: each non-final layer's output is multiplied by the stored mask (compared with torch
    layers composed by hand, every gradient); eval: no dropout at all."""
    rng = np.random.default_rng(7)
    init.manual_seed(7)
    options = dict(bidirectional=bidirectional, proj_size=proj_size, batch_first=batch_first)
    lstm = LSTM(3, 4, num_layers=2, dropout=0.5, dtype=np.float64, **options)
    x = rng.standard_normal((2, 5, 3) if batch_first else (5, 2, 3))
    torch.manual_seed(7)
    width = (proj_size or 4) * (2 if bidirectional else 1)  # the first layer's output features
    torch_layers = [torch.nn.LSTM(3, 4, **options).double(), torch.nn.LSTM(width, 4, **options).double()]
    for layer, torch_layer in enumerate(torch_layers):
        for name, value in torch_layer.state_dict().items():
            getattr(lstm, name.replace("l0", f"l{layer}")).data[...] = value.numpy()

    output, _ = lstm(x)
    mask = lstm._state["masks"][0]  # stored time-major, (L, N, features), whatever batch_first
    kept = mask != 0
    assert 0 < kept.mean() < 1 and np.allclose(mask[kept], 2.0)
    grad = rng.standard_normal(output.shape)
    grad_x, _ = lstm.backward(grad)
    x_t = torch.tensor(x, requires_grad=True)
    middle, _ = torch_layers[0](x_t)
    expected, _ = torch_layers[1](middle * torch.tensor(mask.transpose(1, 0, 2) if batch_first else mask))
    expected.backward(torch.tensor(grad))
    assert_close(output, expected.detach(), what="output with dropout")
    assert_close(grad_x, x_t.grad, what="grad input with dropout")
    for layer, torch_layer in enumerate(torch_layers):
        for name, param in torch_layer.named_parameters():
            assert_close(getattr(lstm, name.replace("l0", f"l{layer}")).grad, param.grad, what=f"layer {layer} {name}")

    lstm.eval()
    eval_output, _ = lstm(x)
    no_dropout, _ = torch_layers[1](torch_layers[0](torch.tensor(x))[0])
    assert_close(eval_output, no_dropout.detach(), what="eval output")


@pytest.mark.parametrize("cls", [RNN, LSTM])
def test_dropout_drops_a_fraction_p_between_layers(cls):
    """p = 0.3 zeroes about 30 % of each non-final layer's outputs and scales the rest by 1/(1 − p);
    catches keeping with probability p instead of 1 − p (p = 0.5 cannot tell them apart)."""
    init.manual_seed(15)
    module = cls(3, 8, num_layers=3, dropout=0.3, dtype=np.float64)
    module(np.random.default_rng(15).standard_normal((40, 10, 3)))
    masks = module._state["masks"]
    assert masks[-1] is None and len(masks) == 3  # none after the last layer
    for mask in masks[:-1]:
        assert mask.shape == (40, 10, 8)  # 3200 draws: σ of the fraction ≈ 0.008, so ±0.04 is ~5σ
        assert abs(np.mean(mask == 0) - 0.3) < 0.04
        assert np.allclose(mask[mask != 0], 1 / 0.7)


def test_dropout_gradcheck_with_fixed_mask():
    rng = np.random.default_rng(8)
    rnn = RNN(2, 3, num_layers=2, dropout=0.3, dtype=np.float64)
    x, h0 = rng.standard_normal((3, 2, 2)), rng.standard_normal((2, 2, 3))
    flat = _FlatStack(rnn)

    class Reseeded(Module):  # same mask on every finite-difference evaluation
        def __init__(self):
            super().__init__()
            self.flat = flat

        def forward(self, *inputs):
            init.manual_seed(9)
            return self.flat(*inputs)

        def backward(self, *grads):
            return self.flat.backward(*grads)

    assert gradcheck(Reseeded(), x, h0)


# ---------------------------------------------------------------------------
# structure, errors and traps
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_parameter_names_shapes_and_init_match_torch(bias, bidirectional):
    projected = functools.partial(LSTM, proj_size=2), functools.partial(torch.nn.LSTM, proj_size=2)
    for cls, torch_cls in [(RNN, torch.nn.RNN), (LSTM, torch.nn.LSTM), projected]:
        module = cls(3, 5, num_layers=3, bias=bias, bidirectional=bidirectional)
        torch_module = torch_cls(3, 5, num_layers=3, bias=bias, bidirectional=bidirectional)
        ours = [(name, param.shape) for name, param in module.named_parameters()]
        theirs = [(name, tuple(param.shape)) for name, param in torch_module.named_parameters()]
        assert ours == theirs
        init.manual_seed(0)
        wide = cls(3, 25, num_layers=2, bias=bias, bidirectional=bidirectional)  # enough values per parameter
        for name, param in wide.named_parameters():  # torch: U(±1/√H) for every weight and bias
            assert_uniform_init(param.data, 1 / np.sqrt(25), name)
        assert all(param.dtype == np.float32 for param in module.parameters())
    for cls, torch_cls in [(RNNCell, torch.nn.RNNCell), (LSTMCell, torch.nn.LSTMCell)]:
        ours = [(name, param.shape) for name, param in cls(3, 5, bias=bias).named_parameters()]
        theirs = [(name, tuple(param.shape)) for name, param in torch_cls(3, 5, bias=bias).named_parameters()]
        assert ours == theirs


def test_wrong_feature_size_names_expected_shape():
    lstm = LSTM(4, 3, dtype=np.float64)
    with pytest.raises(ValueError, match=r"LSTM expected input of shape \(L, N, H_in=4\).*got \(5, 2, 3\)"):
        lstm(np.zeros((5, 2, 3)))


def test_two_dimensional_input_explains_layouts_and_batch_first():
    rnn = RNN(4, 3, batch_first=True, dtype=np.float64)
    with pytest.raises(ValueError, match=r"\(N, L, H_in=4\) with batch_first=True, or unbatched \(L, H_in=4\), got \(8, 5\)"):
        rnn(np.zeros((8, 5)))
    with pytest.raises(ValueError, match="got \\(2, 3, 5, 4\\)"):
        rnn(np.zeros((2, 3, 5, 4)))


def test_wrong_dtype_and_hidden_state_shape():
    lstm = LSTM(4, 3)
    with pytest.raises(ValueError, match="dtype float32, got float64"):
        lstm(np.zeros((5, 2, 4)))
    x = np.zeros((5, 2, 4), dtype=np.float32)
    with pytest.raises(ValueError, match=r"h_0 of shape \(1, 2, 3\)"):
        lstm(x, (np.zeros((2, 3), np.float32), np.zeros((1, 2, 3), np.float32)))
    with pytest.raises(ValueError, match="tuple \\(h_0, c_0\\)"):
        lstm(x, np.zeros((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"RNNCell expected input of shape \(N, input_size=4\)"):
        RNNCell(4, 3)(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"hx of shape \(2, 3\)"):
        RNNCell(4, 3)(np.zeros((2, 4), np.float32), np.zeros((3, 3), np.float32))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="dtype"):
        LSTM(2, 3, dtype=np.int64)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(2, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        LSTM(2, 3, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="num_layers"):
        RNN(2, 3, num_layers=0)
    with pytest.raises(ValueError, match="proj_size must be ≥ 0 and smaller than hidden_size=3, got 3"):
        LSTM(2, 3, proj_size=3)
    with pytest.raises(TypeError):
        RNN(2, 3, proj_size=1)  # as in torch, only the LSTM projects
    for not_an_int in (1.5, True):  # torch refuses both with a TypeError
        with pytest.raises(TypeError, match="proj_size must be an int"):
            LSTM(2, 3, proj_size=not_an_int)
    with pytest.raises(ValueError, match=r"h_0 of shape \(1, 2, 2\) \(num_layers·num_directions, N, proj_size\)"):
        LSTM(4, 3, proj_size=2)(np.zeros((5, 2, 4), np.float32), (np.zeros((1, 2, 3), np.float32),) * 2)


def test_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match="before forward"):
        LSTM(2, 3).backward(np.zeros((1, 1, 3), np.float32))


def test_changing_the_output_in_place_does_not_change_gradients():
    """forward returns a copy: BPTT needs the stored hidden states, not the caller's array."""
    rng = np.random.default_rng(10)
    lstm = LSTM(2, 3, num_layers=2, dtype=np.float64)
    x = rng.standard_normal((4, 2, 2))
    grad = rng.standard_normal((4, 2, 3))
    lstm(x)
    lstm.backward(grad)
    reference = [param.grad.copy() for param in lstm.parameters()]
    lstm.zero_grad()
    output, (h_n, _) = lstm(x)
    output[...] = 0
    h_n[...] = 0
    lstm.backward(grad)
    for param, expected in zip(lstm.parameters(), reference):
        assert_close(param.grad, expected)


def test_gradients_accumulate_over_calls():
    rng = np.random.default_rng(11)
    rnn = RNN(2, 3, dtype=np.float64)
    x, grad = rng.standard_normal((4, 2, 2)), rng.standard_normal((4, 2, 3))
    rnn(x)
    rnn.backward(grad)
    once = rnn.weight_hh_l0.grad.copy()
    rnn(x)
    rnn.backward(grad)
    assert_close(rnn.weight_hh_l0.grad, 2 * once)


def test_backward_checks_gradient_shapes():
    lstm = LSTM(2, 3, batch_first=True, dtype=np.float64)
    lstm(np.zeros((4, 5, 2)))
    with pytest.raises(ValueError, match=r"grad_output shaped like the output, \(4, 5, 3\), got \(5, 4, 3\)"):
        lstm.backward(np.zeros((5, 4, 3)))
    with pytest.raises(ValueError, match=r"grad_c_n shaped like c_n, \(1, 4, 3\), got \(4, 3\)"):
        lstm.backward(None, (None, np.zeros((4, 3))))
    cell = LSTMCell(2, 3, dtype=np.float64)
    cell(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"grad_c of shape \(4, 3\), got \(1, 3\)"):
        cell.backward(None, np.zeros((1, 3)))


def test_saturated_gates_stay_finite_and_match_torch():
    """Huge pre-activations overflow exp(−a) to inf inside σ; the gates must still be exact 0/1, not NaN."""
    torch.manual_seed(12)
    torch_lstm = torch.nn.LSTM(2, 3).double()
    lstm = LSTM(2, 3, dtype=np.float64)
    x = np.array([[[1e4, -1e4]], [[-1e4, 1e4]], [[3e2, 5e2]]])
    with np.errstate(invalid="raise", divide="raise", over="raise"):  # underflow to 0 is harmless
        _assert_module_parity(torch_lstm, lstm, x, None, (np.ones((3, 1, 3)), (None, None)), (np.ones((3, 1, 3)),))


def test_small_candidate_gates_keep_their_relative_accuracy():
    """g = tanh(a^g) was 2σ(2a) − 1, exact only up to an absolute ε: with no biases and inputs of 1e-5
    the float32 output was 1.2·10⁻² off relative to its size (torch 1.4·10⁻⁷; an audit).  Now g is
    np.tanh, and the output and the weight gradient are as accurate as torch's."""
    torch.manual_seed(0)
    torch_lstm = torch.nn.LSTM(4, 8, bias=False)
    lstm = LSTM(4, 8, bias=False)
    lstm.load_state_dict(state_dict_from_torch(torch_lstm.state_dict()))
    x = (np.random.default_rng(0).standard_normal((3, 2, 4)) * 1e-5).astype(np.float32)
    grad = np.random.default_rng(1).standard_normal((3, 2, 8)).astype(np.float32)
    reference_lstm = torch.nn.LSTM(4, 8, bias=False).double()
    reference_lstm.load_state_dict(torch_lstm.state_dict())
    reference = reference_lstm(torch.from_numpy(x).double())[0]
    reference.backward(torch.from_numpy(grad).double())
    output = lstm(x)[0]
    lstm.backward(grad)

    def relative(ours, theirs):
        theirs = theirs.detach().numpy()
        return np.abs(ours - theirs).max() / np.abs(theirs).max()

    assert relative(output, reference) < 1e-6
    assert relative(lstm.weight_hh_l0.grad, reference_lstm.weight_hh_l0.grad) < 1e-6
    assert relative(lstm.weight_ih_l0.grad, reference_lstm.weight_ih_l0.grad) < 1e-6
