"""API contracts shared by every scratch module and optimiser, checked against torch where torch has one.

1. A registered parameter can only be replaced by a Parameter or None (TypeError, as in torch).
2. ``backward`` rejects a gradient that is not shaped like the forward output — with a ValueError
   naming both shapes — before it adds anything into a ``Parameter.grad``.
3. BatchNorm's ``num_batches_tracked`` is a buffer: a checkpoint continues a cumulative average.
4. Optimiser state is created at the first step (hyper-parameters may change before it).
5. ``zero_grad()`` (set_to_none=True) means "no gradient": ``step()`` skips such parameters as torch does.
6. ``load_state_dict`` returns torch's (missing_keys, unexpected_keys) and words a strict mismatch like torch.
7. An in-place layer may overwrite an output that the layer before it keeps for backward, as in torch:
   forward (inference) works, and that layer's backward raises instead of computing a wrong gradient.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib import scratch
from course_lib.interop import state_dict_from_torch, state_dict_to_torch
from course_lib.scratch import (
    AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Embedding, Flatten, GELU, LayerNorm, LeakyReLU, Linear,
    LogSoftmax, LSTM, LSTMCell, MaxPool2d, MSELoss, MultiheadAttention, Parameter, PositionalEncoding, ReLU,
    RNN, RNNCell, Sequential, Sigmoid, Softmax, Tanh, TransformerEncoderLayer, clip_grad_norm_, optim,
)
from course_lib.scratch.models import CNN, MLP, RecurrentModel, TransformerModel
from course_lib.scratch.optim import adam_update, rmsprop_update
from ..hypothesis_budget import examples

F64 = np.float64


def _normal(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# --- 1. assigning over a parameter ---------------------------------------------------------------
def test_assigning_an_array_over_a_parameter_raises_like_torch():
    layer = Linear(3, 2)
    weight = layer.weight
    with pytest.raises(TypeError, match=r"cannot assign 'numpy.ndarray' as parameter 'weight' \(Parameter or None"):
        layer.weight = np.ones((2, 3))
    with pytest.raises(TypeError) as torch_error:
        torch.nn.Linear(3, 2).weight = torch.ones(2, 3)
    assert "cannot assign 'torch.FloatTensor' as parameter 'weight'" in str(torch_error.value)
    # nothing changed: still the same registered parameter, in parameters() and state_dict()
    assert layer.weight is weight and layer.parameters()[0] is weight
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert layer(np.ones((1, 3), np.float32)).shape == (1, 2)
    with pytest.raises(TypeError, match="'int' as parameter 'bias'"):
        layer.bias = 0


def test_assigning_a_parameter_or_none_stays_allowed():
    layer, reference = Linear(3, 2), torch.nn.Linear(3, 2)
    replacement = Parameter(np.zeros((2, 3), np.float32))
    layer.weight = replacement
    assert layer.weight is replacement and list(layer.state_dict()) == ["weight", "bias"]
    layer.bias = None
    reference.bias = None
    assert layer.bias is None and list(layer.state_dict()) == list(reference.state_dict()) == ["weight"]
    assert layer(np.ones((1, 3), np.float32)).shape == (1, 2)
    other = Linear(3, 2)
    other.register_parameter("bias", None)  # un-registers, as assigning None does
    assert list(other.state_dict()) == ["weight"] and len(other.parameters()) == 1
    with pytest.raises(TypeError, match="'numpy.ndarray' as parameter 'scale'"):
        other.register_parameter("scale", np.ones(2))


def test_assigning_a_non_module_over_a_child_module_raises_like_torch():
    model = Sequential(Linear(2, 2), ReLU())
    with pytest.raises(TypeError, match="cannot assign 'numpy.ndarray' as child module '0'"):
        setattr(model, "0", np.zeros(2))
    assert len(model) == 2 and "0.weight" in model.state_dict()


def test_an_array_assigned_to_a_buffer_name_stays_a_buffer():
    layer = BatchNorm1d(2)
    layer.running_mean = np.ones(2, np.float32)
    assert np.array_equal(layer.state_dict()["running_mean"], [1, 1])


# --- 2. backward checks grad_output's shape first ------------------------------------------------
def _first(output):
    """The output whose gradient is backward's first argument (RNN, LSTM, MHA return tuples)."""
    return output[0] if isinstance(output, tuple) else output


def _no_input_grad(layer):
    layer.requires_input_grad = False
    return layer


def _dropout_in_eval():
    return Dropout(0.5).eval()


# name: (make the module, run forward on it); every scratch module with a backward
MODULES = {
    "Linear": (lambda: Linear(3, 2, dtype=F64), lambda m: m(_normal(4, 3))),
    "Linear (*, in) input": (lambda: Linear(3, 2, dtype=F64), lambda m: m(_normal(2, 4, 3))),
    "Linear requires_input_grad=False": (lambda: _no_input_grad(Linear(3, 2, dtype=F64)), lambda m: m(_normal(4, 3))),
    "Sigmoid": (Sigmoid, lambda m: m(_normal(4, 3))),
    "Tanh": (Tanh, lambda m: m(_normal(4, 3))),
    "ReLU": (ReLU, lambda m: m(_normal(4, 3))),
    "ReLU inplace": (lambda: ReLU(inplace=True), lambda m: m(_normal(4, 3))),
    "LeakyReLU": (LeakyReLU, lambda m: m(_normal(4, 3))),
    "LeakyReLU slope > 1": (lambda: LeakyReLU(2.0), lambda m: m(_normal(4, 3))),
    "Softmax": (lambda: Softmax(dim=-1), lambda m: m(_normal(4, 3))),
    "LogSoftmax": (lambda: LogSoftmax(dim=0), lambda m: m(_normal(4, 3))),
    "GELU": (GELU, lambda m: m(_normal(4, 3))),
    "GELU tanh": (lambda: GELU("tanh"), lambda m: m(_normal(4, 3))),
    "Dropout": (lambda: Dropout(0.5), lambda m: m(_normal(4, 3))),
    "Dropout eval": (_dropout_in_eval, lambda m: m(_normal(4, 3))),
    "Flatten": (Flatten, lambda m: m(_normal(4, 3, 2))),
    "BatchNorm1d": (lambda: BatchNorm1d(3, dtype=F64), lambda m: m(_normal(4, 3))),
    "BatchNorm1d (N, C, L)": (lambda: BatchNorm1d(3, dtype=F64), lambda m: m(_normal(4, 3, 5))),
    "BatchNorm2d": (lambda: BatchNorm2d(3, dtype=F64), lambda m: m(_normal(2, 3, 2, 2))),
    "LayerNorm": (lambda: LayerNorm(3, dtype=F64), lambda m: m(_normal(4, 3))),
    "Embedding": (lambda: Embedding(5, 3, dtype=F64), lambda m: m(np.array([[0, 1], [4, 4]]))),
    "Conv2d": (lambda: Conv2d(3, 2, 2, dtype=F64), lambda m: m(_normal(2, 3, 4, 4))),
    "MaxPool2d": (lambda: MaxPool2d(2), lambda m: m(_normal(2, 3, 4, 4))),
    "AvgPool2d": (lambda: AvgPool2d(2), lambda m: m(_normal(2, 3, 4, 4))),
    "PositionalEncoding": (lambda: PositionalEncoding(3, dtype=F64), lambda m: m(_normal(4, 2, 3))),
    "MultiheadAttention": (lambda: MultiheadAttention(4, 2, dtype=F64), lambda m: m(*(_normal(3, 2, 4),) * 3)),
    "TransformerEncoderLayer": (lambda: TransformerEncoderLayer(4, 2, 8, dropout=0.0, dtype=F64),
                                lambda m: m(_normal(3, 2, 4))),
    "RNN": (lambda: RNN(3, 4, dtype=F64), lambda m: m(_normal(5, 2, 3))),
    "LSTM": (lambda: LSTM(3, 4, dtype=F64), lambda m: m(_normal(5, 2, 3))),
    "RNNCell": (lambda: RNNCell(3, 4, dtype=F64), lambda m: m(_normal(2, 3))),
    "LSTMCell": (lambda: LSTMCell(3, 4, dtype=F64), lambda m: m(_normal(2, 3))),
    "Sequential": (lambda: Sequential(Linear(3, 3, dtype=F64), Tanh()), lambda m: m(_normal(4, 3))),
    "Sequential ReLU-MaxPool2d": (lambda: Sequential(Conv2d(1, 2, 3, dtype=F64), ReLU(), MaxPool2d(2)),
                                  lambda m: m(_normal(2, 1, 6, 6))),
    "MLP": (lambda: MLP([3, 5, 2], dtype=F64), lambda m: m(_normal(4, 3))),
    "CNN": (lambda: CNN(1, 3, image_size=20, channels=(2, 2, 2), hidden=4, dtype=F64),
            lambda m: m(_normal(2, 1, 20, 20))),
    "RecurrentModel": (lambda: RecurrentModel(3, 4, 2, dtype=F64), lambda m: m(_normal(2, 5, 3))),
    "TransformerModel": (lambda: TransformerModel(4, 2, 1, 2, input_size=3, dim_feedforward=8, max_len=8, dtype=F64),
                         lambda m: m(_normal(2, 5, 3))),
}


def _wrong_shapes(shape):
    """Shapes NumPy would happily broadcast or reshape against ``shape``, and plainly wrong ones."""
    candidates = [(1,) + shape[1:], shape[1:], shape[-1:], shape[::-1], shape + (1,), (shape[0] + 1,) + shape[1:]]
    return [bad for bad in dict.fromkeys(candidates) if bad != shape]


@pytest.mark.parametrize("name", MODULES)
def test_a_wrong_shaped_gradient_raises_and_changes_no_gradient(name):
    make, forward = MODULES[name]
    module = make()
    output = _first(forward(module))
    module.backward(_normal(*output.shape, seed=1))  # a correct pass: every parameter now holds a gradient
    output = _first(forward(module))  # a fresh forward (Conv2d allows one backward per forward)
    before = {key: param.grad.copy() for key, param in module.named_parameters()}
    for bad in _wrong_shapes(output.shape):
        with pytest.raises(ValueError) as error:
            module.backward(np.ones(bad))
        message = str(error.value)
        assert "expected" in message and f"got {bad}" in message, message
        for key, param in module.named_parameters():
            np.testing.assert_array_equal(param.grad, before[key], err_msg=f"{name}: '{key}'.grad changed")
    module.backward(np.ones(output.shape))  # the rejected calls left the module ready for a correct one


def test_the_error_names_the_expected_and_the_received_shape():
    layer = Sigmoid()
    layer(np.zeros((4, 3)))
    with pytest.raises(ValueError) as error:
        layer.backward(np.ones(3))
    assert str(error.value) == "Sigmoid.backward expected grad_output of shape (4, 3) (the output's shape), got (3,)"
    with pytest.raises(ValueError, match=r"of shape \(4, 3\) \(the output's shape\), got list"):
        layer.backward([[1.0] * 3] * 4)


def test_flatten_rejects_a_gradient_with_the_right_size_but_the_wrong_shape():
    layer = Flatten()
    assert layer(np.zeros((4, 3, 2))).shape == (4, 6)
    with pytest.raises(ValueError, match=r"Flatten.backward expected grad_output of shape \(4, 6\)"):
        layer.backward(np.zeros((6, 4)))


def test_attention_checks_both_gradients_before_out_proj_accumulates():
    """A wrong grad_attn_weights used to be noticed only after out_proj.backward had added its gradient."""
    layer = MultiheadAttention(4, 2, dtype=F64)
    x = _normal(3, 2, 4)
    output, weights = layer(x, x, x)
    layer.zero_grad(set_to_none=False)
    with pytest.raises(ValueError, match=r"grad_attn_weights of shape \(2, 3, 3\) \(the attention weights' shape\)"):
        layer.backward(np.ones(output.shape), np.ones(weights.shape[1:]))
    assert not any(param.grad.any() for param in layer.parameters())
    layer.backward(np.ones(output.shape), np.ones(weights.shape))


def test_a_loss_with_reduction_none_checks_its_gradient_too():
    loss = MSELoss(reduction="none")
    loss(np.zeros((4, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"grad_output of shape \(4, 3\)"):
        loss.backward(np.ones(3))


# --- 3. BatchNorm's num_batches_tracked ------------------------------------------------------------
def _batches(count, shape, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) * (i + 1) + i for i in range(count)]


@pytest.mark.parametrize("layer_class, torch_class, shape", [
    (BatchNorm1d, torch.nn.BatchNorm1d, (8, 3)),
    (BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5)),
    (BatchNorm2d, torch.nn.BatchNorm2d, (2, 3, 4, 4)),
])
def test_num_batches_tracked_is_a_buffer_like_torch(layer_class, torch_class, shape):
    layer, reference = layer_class(3, dtype=F64), torch_class(3, dtype=torch.float64)
    state = layer.state_dict()
    assert list(state) == list(reference.state_dict())
    count = state["num_batches_tracked"]
    assert isinstance(count, np.ndarray) and count.shape == () and count.dtype == np.int64
    for x in _batches(3, shape):
        layer(x)
    assert int(layer.state_dict()["num_batches_tracked"]) == 3
    layer.eval()(_batches(1, shape)[0])  # evaluation tracks nothing
    assert int(layer.num_batches_tracked) == 3
    layer.reset_running_stats()
    assert int(layer.state_dict()["num_batches_tracked"]) == 0
    # without running statistics there is nothing to count, and no key (as in torch)
    untracked = layer_class(3, track_running_stats=False)
    assert list(untracked.state_dict()) == list(torch_class(3, track_running_stats=False).state_dict())


@settings(max_examples=examples(15), deadline=None)
@given(split=st.integers(1, 4), momentum=st.sampled_from([None, 0.1, 0.5]), seed=st.integers(0, 2**16))
def test_a_checkpoint_continues_the_running_average_like_torch(split, momentum, seed):
    """N batches straight == `split` batches, state_dict, a fresh layer, the rest — and == torch."""
    batches = _batches(5, (6, 3), seed)
    straight = BatchNorm1d(3, momentum=momentum, dtype=F64)
    for x in batches:
        straight(x)
    first = BatchNorm1d(3, momentum=momentum, dtype=F64)
    for x in batches[:split]:
        first(x)
    resumed = BatchNorm1d(3, momentum=momentum, dtype=F64)
    resumed.load_state_dict(first.state_dict())
    for x in batches[split:]:
        resumed(x)
    reference = torch.nn.BatchNorm1d(3, momentum=momentum, dtype=torch.float64)
    for x in batches:
        reference(torch.from_numpy(x))
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_array_equal(resumed.state_dict()[key], straight.state_dict()[key], err_msg=key)
        np.testing.assert_allclose(resumed.state_dict()[key], reference.state_dict()[key].numpy(), rtol=1e-12,
                                   err_msg=key)


def test_interop_carries_num_batches_tracked_both_ways():
    batches = _batches(4, (6, 3))
    reference = torch.nn.BatchNorm1d(3, momentum=None, dtype=torch.float64)
    for x in batches[:3]:
        reference(torch.from_numpy(x))
    converted = state_dict_from_torch(reference.state_dict(), dtype=np.float32)
    assert converted["num_batches_tracked"].dtype == np.int64  # a count, not cast to the float dtype
    layer = BatchNorm1d(3, momentum=None, dtype=F64)
    layer.load_state_dict(state_dict_from_torch(reference.state_dict()))
    assert int(layer.num_batches_tracked) == 3
    layer(batches[3])
    reference(torch.from_numpy(batches[3]))
    np.testing.assert_allclose(layer.running_mean, reference.running_mean.numpy(), rtol=1e-12)
    fresh = torch.nn.BatchNorm1d(3, momentum=None, dtype=torch.float64)
    state_dict_to_torch(layer.state_dict(), fresh)
    assert int(fresh.num_batches_tracked) == 4


def test_an_older_state_dict_without_num_batches_tracked_still_loads_like_in_torch():
    """torch's BatchNorm fills the missing key with the layer's own count; strict loading passes."""
    layer, reference = BatchNorm1d(3, dtype=F64), torch.nn.BatchNorm1d(3, dtype=torch.float64)
    old = {key: value for key, value in layer.state_dict().items() if key != "num_batches_tracked"}
    old["running_mean"] = np.arange(3.0)
    result = layer.load_state_dict(old)
    torch_result = reference.load_state_dict({key: torch.from_numpy(value) for key, value in old.items()})
    assert tuple(result) == tuple(torch_result) == ([], [])
    assert int(layer.num_batches_tracked) == int(reference.num_batches_tracked) == 0
    np.testing.assert_array_equal(layer.running_mean, [0, 1, 2])
    model = Sequential(Linear(2, 3, dtype=F64), BatchNorm1d(3, dtype=F64))  # nested: the key has a prefix
    model[1].num_batches_tracked += 7
    model.load_state_dict({key: value for key, value in model.state_dict().items() if "num_batches" not in key})
    assert int(model[1].num_batches_tracked) == 7  # kept, as torch keeps its own count
    state_dict_to_torch(old, torch.nn.BatchNorm1d(3, dtype=torch.float64))  # and torch accepts it too


# --- 4. optimiser state is created at the first step ------------------------------------------------
@pytest.mark.parametrize("name, key, value", [
    ("RMSprop", "momentum", 0.9), ("RMSprop", "centered", True), ("Adam", "amsgrad", True), ("AdamW", "amsgrad", True),
])
def test_switching_an_option_on_before_the_first_step_works_like_torch(name, key, value):
    initial, rng = _normal(3, 2), np.random.default_rng(3)
    param, torch_param = Parameter(initial.copy()), torch.nn.Parameter(torch.tensor(initial))
    optimizer = getattr(optim, name)([param], lr=0.1)
    torch_optimizer = getattr(torch.optim, name)([torch_param], lr=0.1, foreach=False)
    assert optimizer.state_dict()["state"] == {} == torch_optimizer.state_dict()["state"]
    optimizer.param_groups[0][key] = value
    torch_optimizer.param_groups[0][key] = value
    for _ in range(4):
        grad = rng.standard_normal((3, 2))
        param.grad[...] = grad
        torch_param.grad = torch.tensor(grad)
        optimizer.step()
        torch_optimizer.step()
    np.testing.assert_allclose(param.data, torch_param.detach().numpy(), rtol=1e-12, atol=1e-14)
    torch_state = torch_optimizer.state[torch_param]
    assert set(optimizer.state[param]) == set(torch_state)
    for state_key, state_value in optimizer.state[param].items():
        np.testing.assert_allclose(state_value, torch_state[state_key].numpy(), rtol=1e-12, atol=1e-14)


def test_the_update_functions_start_from_an_empty_state():
    param, state = np.ones(3), {}
    adam_update(param, np.full(3, 0.5), state, lr=0.1, amsgrad=True)
    assert state["step"] == 1 and set(state) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    state = {}
    rmsprop_update(param, np.full(3, 0.5), state, lr=0.1, momentum=0.9, centered=True)
    assert set(state) == {"step", "square_avg", "grad_avg", "momentum_buffer"}


# --- 5. zero_grad(set_to_none=True): parameters without a gradient are skipped ----------------------
OPTIMISERS = [
    ("SGD", dict(lr=0.1, momentum=0.9)), ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)), ("Adam", dict(lr=0.1)),
    ("Adam", dict(lr=0.1, weight_decay=0.1, amsgrad=True)), ("AdamW", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)), ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
]


def _two_heads(zero_grad, name, kwargs, set_to_none, steps=3):
    """Two Linear heads on one input; the second takes part in step 1 only.  Returns every parameter."""
    scratch_heads = [Linear(2, 3, dtype=F64), Linear(2, 3, dtype=F64)]
    torch_heads = [torch.nn.Linear(2, 3, dtype=torch.float64), torch.nn.Linear(2, 3, dtype=torch.float64)]
    for scratch_head, torch_head in zip(scratch_heads, torch_heads):
        scratch_head.load_state_dict(state_dict_from_torch(torch_head.state_dict()))
    params = scratch_heads[0].parameters() + scratch_heads[1].parameters()
    torch_params = list(torch_heads[0].parameters()) + list(torch_heads[1].parameters())
    optimizer = getattr(optim, name)(params, **kwargs)
    torch_optimizer = getattr(torch.optim, name)(torch_params, foreach=False, **kwargs)
    model = Sequential(*scratch_heads)  # only to reach Module.zero_grad
    rng = np.random.default_rng(0)
    for step in range(steps):
        (optimizer if zero_grad == "optimizer" else model).zero_grad(set_to_none=set_to_none)
        torch_optimizer.zero_grad(set_to_none=set_to_none)
        active = [0, 1] if step == 0 else [0]
        x, grad = rng.standard_normal((4, 2)), rng.standard_normal((4, 3))
        for index in active:
            scratch_heads[index](x)
            scratch_heads[index].backward(grad)
            torch_heads[index](torch.from_numpy(x)).backward(torch.from_numpy(grad))
        optimizer.step()
        torch_optimizer.step()
    return params, torch_params


@pytest.mark.parametrize("zero_grad", ["optimizer", "module"])
@pytest.mark.parametrize("set_to_none", [True, False])
@pytest.mark.parametrize("name, kwargs", OPTIMISERS)
def test_a_layer_without_a_gradient_moves_exactly_as_in_torch(name, kwargs, set_to_none, zero_grad):
    """set_to_none=True: the unused head stays put; False: momentum/decay still move it — as torch does."""
    params, torch_params = _two_heads(zero_grad, name, kwargs, set_to_none)
    for param, torch_param in zip(params, torch_params):
        np.testing.assert_allclose(param.data, torch_param.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_has_grad_follows_torchs_grad_is_not_none():
    layer = Linear(2, 2, dtype=F64)
    assert not layer.weight.has_grad  # torch: a fresh parameter's .grad is None
    layer(np.ones((1, 2)))
    layer.backward(np.ones((1, 2)))
    assert layer.weight.has_grad and layer.bias.has_grad
    grad_array = layer.weight.grad
    layer.zero_grad()
    # like torch's old .grad tensor after zero_grad(set_to_none=True), the old array is not
    # written; reading .grad gives zeros, in the same array (and counts as using it)
    assert not layer.weight.has_grad and grad_array.all()
    assert layer.weight.grad is grad_array and not grad_array.any()
    layer.zero_grad(set_to_none=False)
    assert layer.weight.has_grad and not layer.weight.grad.any()  # a gradient that exists is zeroed and kept
    layer.zero_grad()
    layer.zero_grad(set_to_none=False)
    assert not layer.weight.has_grad  # torch zeroes only the .grad tensors that are not None
    layer.zero_grad()
    layer.weight.grad[...] = 1.0  # writing through .grad in place counts as a gradient arriving
    assert layer.weight.has_grad and not layer.bias.has_grad
    layer.bias.grad = None  # torch style: no gradient; the next backward still has an array to add into
    assert not layer.bias.has_grad
    layer(np.ones((1, 2)))
    layer.backward(np.ones((1, 2)))
    np.testing.assert_array_equal(layer.bias.grad, [1.0, 1.0])


def test_embedding_rows_written_in_place_count_as_a_gradient():
    table = Embedding(4, 2, dtype=F64)
    optimizer = optim.SGD(table.parameters(), lr=1.0)
    optimizer.zero_grad()
    table(np.array([1]))
    table.backward(np.ones((1, 2)))  # weight.grad[rows] += …
    before = table.weight.data.copy()
    optimizer.step()
    np.testing.assert_array_equal(table.weight.data[1], before[1] - 1)


def test_clip_grad_norm_skips_parameters_without_a_gradient():
    used, unused = Parameter(np.zeros(2)), Parameter(np.ones(3))
    used.grad[...] = [3.0, 4.0]  # unused: a fresh parameter, no gradient yet
    assert clip_grad_norm_([used, unused], max_norm=1.0) == 5.0
    assert not unused.has_grad  # clipping did not turn "no gradient" into a zero gradient
    decay = optim.SGD([used, unused], lr=0.5, weight_decay=1.0)
    decay.step()
    np.testing.assert_array_equal(unused.data, np.ones(3))  # weight decay alone would have halved it
    assert not np.array_equal(used.data, np.zeros(2))


# --- 6. load_state_dict's result and strict errors, as in torch -------------------------------------
def _pair():
    scratch = Sequential(Linear(3, 2), ReLU(), Linear(2, 1))
    reference = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1))
    return scratch, reference


def test_load_state_dict_returns_missing_and_unexpected_keys_like_torch():
    scratch, reference = _pair()
    state = {key: value for key, value in scratch.state_dict().items() if key != "2.bias"}
    state["extra"] = np.zeros(1)
    torch_state = {key: torch.from_numpy(np.asarray(value)) for key, value in state.items()}
    result = scratch.load_state_dict(state, strict=False)
    torch_result = reference.load_state_dict(torch_state, strict=False)
    assert result.missing_keys == torch_result.missing_keys == ["2.bias"]
    assert result.unexpected_keys == torch_result.unexpected_keys == ["extra"]
    assert tuple(result) == tuple(torch_result)
    assert repr(scratch.load_state_dict(scratch.state_dict())) == "<All keys matched successfully>"


def test_a_strict_key_mismatch_is_worded_like_torch():
    scratch, reference = _pair()
    state = {key: value for key, value in scratch.state_dict().items() if key != "2.bias"}
    state["extra"] = np.zeros(1)
    state["0.weight"] = state["0.weight"] + 1  # would change the layer if anything were loaded
    before = scratch[0].weight.data.copy()
    with pytest.raises(RuntimeError) as error:
        scratch.load_state_dict(state)
    with pytest.raises(RuntimeError) as torch_error:
        reference.load_state_dict({key: torch.from_numpy(np.asarray(value)) for key, value in state.items()})
    assert str(error.value) == str(torch_error.value)
    assert isinstance(error.value, KeyError)  # what this library raised before, for existing `except KeyError`
    np.testing.assert_array_equal(scratch[0].weight.data, before)  # nothing was loaded


# --- in-place layers after a layer that keeps its output ----------------------------------------
@pytest.mark.parametrize("keeper", [scratch.Sigmoid, scratch.Tanh, lambda: scratch.Softmax(dim=-1),
                                    lambda: scratch.LogSoftmax(dim=-1)])
@pytest.mark.parametrize("layer", [lambda inplace: scratch.ReLU(inplace=inplace),
                                   lambda inplace: scratch.LeakyReLU(0.1, inplace=inplace),
                                   lambda inplace: scratch.Dropout(0.5, inplace=inplace)])
def test_an_in_place_layer_may_overwrite_a_kept_output_but_then_backward_raises_as_in_torch(keeper, layer):
    x = np.random.default_rng(0).standard_normal((4, 3))
    scratch.init.manual_seed(0)
    expected = scratch.Sequential(keeper(), layer(False))(x)
    scratch.init.manual_seed(0)
    net = scratch.Sequential(keeper(), layer(True))
    np.testing.assert_array_equal(net(x), expected)  # inference is fine
    with pytest.raises(RuntimeError, match=r"\(inplace=True\) overwrote it"):
        net.backward(np.ones_like(expected))


def test_the_registry_of_kept_arrays_forgets_dead_ones_and_still_sees_a_write():
    """The registry is a plain dict of weak references: an inference loop (no backward to release
    what forward kept) must not grow it without bound, an entry whose array is gone is never taken
    for a new array with its id, and an in-place write after all that is still caught."""
    from course_lib.scratch import module

    layer, rng = scratch.Sigmoid(), np.random.default_rng(0)
    for _ in range(3000):
        layer(rng.standard_normal((2, 3)))
    assert len(module._KEPT_FOR_BACKWARD) <= 2 * 256
    kept = module.keep_for_backward(np.ones(3))
    key = id(kept)
    module._OVERWRITTEN[key] = "ReLU"
    del kept
    assert module._kept(key) is None
    for _ in range(100):  # new arrays, some of them likely at the dead one's address
        module.release_for_backward("Linear", np.ones(3), "input")  # never raises: none of them was kept
    net = scratch.Sequential(scratch.Sigmoid(), scratch.ReLU(inplace=True))
    out = net(rng.standard_normal((4, 3)))
    with pytest.raises(RuntimeError, match=r"Sigmoid.backward needs the output .* ReLU\(inplace=True\) overwrote it"):
        net.backward(np.ones_like(out))


def test_torch_also_allows_the_in_place_forward_and_refuses_its_backward():
    x = torch.randn(4, 3, requires_grad=True)
    y = torch.nn.ReLU(inplace=True)(torch.sigmoid(x))  # forward: fine
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("keeper", [lambda: scratch.Linear(3, 2, dtype=np.float64), scratch.GELU],
                         ids=["Linear", "GELU"])
def test_overwriting_the_input_a_layer_keeps_makes_its_backward_raise_as_in_torch(keeper):
    """Linear and GELU keep their input (∂L/∂W = δᵀx, GELU'(x)); an in-place layer that writes into
    it before backward made the gradient silently wrong (found by an audit against torch)."""
    layer = keeper()
    h = np.random.default_rng(0).standard_normal((4, 3))
    out = layer(h)
    scratch.ReLU(inplace=True)(h)
    with pytest.raises(RuntimeError, match=r"backward needs the input of its forward pass, but ReLU\(inplace=True\)"):
        layer.backward(np.ones_like(out))
    x_torch = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    h_torch = x_torch * 1.0
    y = torch.nn.Linear(3, 2).double()(h_torch) if keeper is not scratch.GELU else torch.nn.GELU()(h_torch)
    torch.nn.ReLU(inplace=True)(h_torch)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def _conv_without_input_grad():
    layer = scratch.Conv2d(2, 3, 3, dtype=np.float64)
    layer.requires_input_grad = False
    return layer


@pytest.mark.parametrize("make, shape, call", [
    (lambda: scratch.RNN(3, 4, dtype=np.float64), (5, 2, 3), lambda layer, x: layer(x)[0]),
    (lambda: scratch.LSTM(3, 4, dtype=np.float64), (5, 2, 3), lambda layer, x: layer(x)[0]),
    (lambda: scratch.MultiheadAttention(4, 2, dtype=np.float64), (3, 2, 4), lambda layer, x: layer(x, x, x)[0]),
    (_conv_without_input_grad, (2, 2, 6, 6), lambda layer, x: layer(x)),
], ids=["RNN", "LSTM", "MultiheadAttention", "Conv2d-without-input-grad"])
def test_the_other_layers_that_keep_their_input_raise_too(make, shape, call):
    """The RNN (its input is not copied when contiguous), attention (views of query, key and value)
    and a first convolution without dL/dx kept the caller's array unregistered: an in-place layer
    that overwrote it left weight gradients 2.7–11.5 off with no error (an audit, 2026-12-06)."""
    layer = make()
    x = np.random.default_rng(0).standard_normal(shape)
    out = call(layer, x)
    scratch.ReLU(inplace=True)(x)
    name = type(layer).__name__
    with pytest.raises(RuntimeError, match=rf"{name}.backward needs the input of its forward pass, but ReLU"):
        layer.backward(np.ones_like(out))
    assert all(not param.grad.any() for param in layer.parameters())  # nothing was added
    out = call(layer, x.copy())
    layer.backward(np.ones_like(out))  # a fresh forward: fine


def test_an_in_place_layer_refuses_an_array_whose_elements_share_memory():
    """Dropout(inplace=True) on a zero-stride view wrote each number several times, and its output
    disagreed with its own backward; torch refuses such a tensor (an audit, 2026-12-06)."""
    base = np.arange(1, 4, dtype=np.float32)
    x = np.lib.stride_tricks.as_strided(base, (4, 3), (0, 4))
    for layer in (scratch.Dropout(0.5, inplace=True), scratch.ReLU(inplace=True)):
        with pytest.raises(ValueError, match="several elements of this array are one number in memory"):
            layer(x)
    assert base.tolist() == [1, 2, 3]


def test_relu_and_leaky_relu_of_a_0d_array():
    """A TypeError ("return arrays must be of ArrayType") before an audit (2026-12-06); torch gives these."""
    for layer, value, grad in ((scratch.ReLU(), 0.0, 0.0), (scratch.LeakyReLU(0.1), -0.05, 0.2)):
        out = layer(np.array(-0.5, np.float32))
        assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float32
        assert np.isclose(out, value) and np.isclose(layer.backward(np.array(2.0, np.float32)), grad)


def test_an_output_may_be_overwritten_once_backward_has_used_it():
    sigmoid, relu = scratch.Sigmoid(), scratch.ReLU(inplace=True)
    y = sigmoid(np.linspace(-2, 2, 6))
    sigmoid.backward(np.ones(6))
    relu(y)  # backward is done: no error


def test_sigmoid_of_a_0d_array_and_numpy_step_sizes():
    assert np.isclose(scratch.Sigmoid()(np.array(0.5)), torch.sigmoid(torch.tensor(0.5)).item())
    optimizer = scratch.SGD([scratch.Parameter(np.zeros(1))], lr=1.0)
    assert scratch.StepLR(optimizer, step_size=np.int64(3)).step_size == 3
    with pytest.raises(ValueError, match="positive integer"):
        scratch.StepLR(optimizer, step_size=True)


def test_a_write_through_a_view_of_a_kept_output_is_noticed_too():
    # Flatten returns a reshape view: writing through it still corrupts Sigmoid's backward
    net = scratch.Sequential(scratch.Sigmoid(), scratch.Flatten(), scratch.ReLU(inplace=True))
    out = net(np.random.default_rng(0).standard_normal((2, 3, 4)))
    with pytest.raises(RuntimeError, match=r"Sigmoid.backward needs the output .* ReLU\(inplace=True\)"):
        net.backward(np.ones_like(out))
    tanh = scratch.Tanh()
    y = tanh(np.linspace(-1, 1, 6).reshape(2, 3))
    scratch.Dropout(0.5, inplace=True)(y[:, :2])
    with pytest.raises(RuntimeError, match=r"Tanh.backward .* Dropout\(inplace=True\)"):
        tanh.backward(np.ones((2, 3)))


def test_a_kept_output_that_no_in_place_layer_touched_backpropagates():
    sigmoid = scratch.Sigmoid()
    y = sigmoid(np.linspace(-2, 2, 6))
    scratch.ReLU(inplace=True)(np.linspace(-2, 2, 6))  # another array: no effect on Sigmoid
    np.testing.assert_allclose(sigmoid.backward(np.ones(6)), y * (1 - y))


@pytest.mark.parametrize("name", MODULES)
def test_a_second_backward_for_one_forward_raises_and_changes_no_gradient(name):
    """One backward per forward, as torch frees its graph: a second one used to add every parameter
    gradient again (Conv2d alone raised), and a module used at two places in one forward pass gave
    wrong gradients without a word."""
    make, forward = MODULES[name]
    module = make()
    output = _first(forward(module))
    module.backward(_normal(*output.shape, seed=1))
    before = {key: param.grad.copy() for key, param in module.named_parameters()}
    with pytest.raises(RuntimeError, match="already called for its last forward call.*Call forward again first"):
        module.backward(_normal(*output.shape, seed=1))
    for key, param in module.named_parameters():
        np.testing.assert_array_equal(param.grad, before[key], err_msg=f"{name}: '{key}'.grad changed")
    output = _first(forward(module))
    module.backward(_normal(*output.shape, seed=1))  # a new forward call allows a new backward


def test_a_module_used_twice_in_one_forward_pass_raises_at_its_second_backward():
    """An audit: a Linear tied to itself in a Sequential, a shared ReLU, and a cell unrolled over time
    gave wrong weight gradients (the last call's input paired with every upstream gradient)."""
    x = _normal(3, 4)
    tied = Linear(4, 4, dtype=F64)
    shared = ReLU()
    for network in (Sequential(tied, Tanh(), tied), Sequential(Linear(4, 4, dtype=F64), shared, Linear(4, 4, dtype=F64),
                                                                 shared)):
        output = network(x)
        with pytest.raises(RuntimeError, match="used at two places in a forward pass"):
            network.backward(np.ones_like(output))
    cell = RNNCell(4, 5, dtype=F64)
    h = None
    for step in range(3):
        h = cell(x, h)
    cell.backward(np.ones_like(h))
    with pytest.raises(RuntimeError, match="a cell unrolled over time.*use RNN or LSTM"):
        cell.backward(np.ones_like(h))


def test_modules_sharing_parameters_give_torchs_gradients_of_a_tied_layer():
    """The way the message points to: two modules, one Parameter."""
    x = _normal(3, 4)
    first, second = Linear(4, 4, dtype=F64), Linear(4, 4, dtype=F64)
    second.weight, second.bias = first.weight, first.bias
    network = Sequential(first, Tanh(), second)
    network.backward(np.ones_like(network(x)))
    reference = torch.nn.Linear(4, 4, dtype=torch.float64)
    reference.load_state_dict({"weight": torch.from_numpy(first.weight.data),
                               "bias": torch.from_numpy(first.bias.data)})
    out = reference(torch.tanh(reference(torch.from_numpy(x))))
    out.backward(torch.ones_like(out))
    np.testing.assert_allclose(first.weight.grad, reference.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(first.bias.grad, reference.bias.grad.numpy(), rtol=1e-12)


def test_a_loss_backward_uses_up_its_forward_as_torchs_graph():
    """One loss object for two terms (``l1 = loss(a, y); l2 = loss(b, z)``) keeps the second call only:
    a second backward raises (as torch's without retain_graph) instead of giving b's gradient for a."""
    loss_fn = MSELoss()
    prediction, target = _normal(3, 2), _normal(3, 2, seed=5)
    loss_fn(prediction, target)
    with pytest.raises(ValueError):
        loss_fn.backward(np.ones(4))  # a refused gradient does not use the call up
    first = loss_fn.backward()
    with pytest.raises(RuntimeError, match="already called for its last forward call"):
        loss_fn.backward()
    loss_fn(prediction, target)
    np.testing.assert_array_equal(loss_fn.backward(), first)


def test_the_class_hierarchy_is_torchs():
    """``isinstance`` answers as in torch for every pair of exported classes torch.nn also has: a
    CrossEntropyLoss was an NLLLoss here, a LogSoftmax a Softmax, a Dropout2d a Dropout (a style audit)."""
    twins = {name: (getattr(scratch, name), getattr(torch.nn, name)) for name in scratch.__all__
             if isinstance(getattr(scratch, name), type) and isinstance(getattr(torch.nn, name, None), type)}
    assert {"CrossEntropyLoss", "NLLLoss", "Softmax", "LogSoftmax", "Dropout", "Dropout2d", "Module"} <= set(twins)
    differ = [(a, b) for a in twins for b in twins
              if issubclass(twins[a][0], twins[b][0]) != issubclass(twins[a][1], twins[b][1])]
    assert differ == []
