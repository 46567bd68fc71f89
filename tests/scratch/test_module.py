"""Module/Sequential plumbing: names like torch, state_dict round trips, load errors, modes, zero_grad,
the ReLU → max-pool reordering."""
import copy
import re

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from course_lib.interop import state_dict_from_torch, state_dict_to_torch
from course_lib.scratch import LSTM, Conv2d, LayerNorm, Linear, MaxPool2d, Module, Parameter, Sequential
from course_lib.scratch.activations import ReLU, Tanh
from course_lib.scratch.batchnorm import BatchNorm1d
from course_lib.scratch.dropout import Dropout

from .parity import assert_close, assert_parity
from .test_pooling import pool_cases
from ..hypothesis_budget import examples


def _models(dtype=np.float64):
    """The same architecture on both sides, with a nested Sequential and a buffer-carrying layer."""
    scratch = Sequential(
        Linear(4, 6, dtype=dtype),
        BatchNorm1d(6, dtype=dtype),
        ReLU(),
        Dropout(0.0),
        Sequential(Linear(6, 5, dtype=dtype), Tanh(), Linear(5, 3, bias=False, dtype=dtype)),
    )
    reference = torch.nn.Sequential(
        torch.nn.Linear(4, 6),
        torch.nn.BatchNorm1d(6),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.0),
        torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3, bias=False)),
    ).double()
    return scratch, reference


def test_named_parameters_match_torch_order_names_and_shapes():
    scratch, reference = _models()
    assert [(name, param.shape) for name, param in scratch.named_parameters()] == [
        (name, tuple(param.shape)) for name, param in reference.named_parameters()
    ]
    assert len(scratch.parameters()) == len(list(reference.parameters()))


def test_state_dict_keys_and_their_order_match_torch_including_num_batches_tracked():
    scratch, reference = _models()
    assert list(scratch.state_dict()) == list(reference.state_dict())


def test_whole_model_parity_train_and_eval():
    scratch, reference = _models()
    rng = np.random.default_rng(0)
    x, grad = rng.standard_normal((8, 4)), rng.standard_normal((8, 3))
    assert_parity(reference, scratch, x, grad)
    reference.eval()
    scratch.eval()
    assert_parity(reference, scratch, rng.standard_normal((5, 4)), rng.standard_normal((5, 3)), copy=False)


def test_state_dict_round_trips():
    scratch, reference = _models()
    reference[1].running_mean.normal_()
    scratch.load_state_dict(state_dict_from_torch(reference.state_dict()))
    state = scratch.state_dict()
    for key, value in state_dict_from_torch(reference.state_dict()).items():
        assert_close(state[key], value, what=key)
    # the state dict is a copy, not a view of the live parameters
    state["0.weight"][...] = 0
    assert not np.all(scratch[0].weight.data == 0)
    # scratch → scratch and scratch → torch
    other, fresh = _models()
    other.load_state_dict(scratch.state_dict())
    for key, value in scratch.state_dict().items():
        assert np.array_equal(other.state_dict()[key], value)
    state_dict_to_torch(scratch.state_dict(), fresh)
    for key, value in scratch.state_dict().items():
        assert_close(fresh.state_dict()[key], value, what=key)


def test_moving_weights_to_torch_names_a_swapped_or_wrong_argument():
    """A model instead of its state_dict raised "argument of type 'Linear' is not iterable", swapped
    arguments "as_tensor(): argument 'dtype' must be torch.dtype", and a non-integer count was truncated
    (an audit, 2026-12-06)."""
    scratch, reference = _models()
    before = {key: value.clone() for key, value in reference.state_dict().items()}
    with pytest.raises(TypeError, match="got Sequential: pass model.state_dict()"):
        state_dict_to_torch(scratch, reference)
    with pytest.raises(TypeError, match=r"loads into a torch.nn.Module, got Sequential: the arguments are"):
        state_dict_to_torch(reference.state_dict(), scratch)
    state = scratch.state_dict()
    state["1.num_batches_tracked"] = np.array(2.7)
    with pytest.raises(ValueError, match=r"'1.num_batches_tracked' is a count \(torch.int64\), got the non-integer"):
        state_dict_to_torch(state, reference)
    for key, value in reference.state_dict().items():
        assert torch.equal(value, before[key])


def test_load_state_dict_reports_missing_unexpected_and_shape_errors():
    scratch, _ = _models()
    state = scratch.state_dict()
    missing = dict(state)
    del missing["4.0.bias"]
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "4.0.bias"'):
        scratch.load_state_dict(missing)
    with pytest.raises(KeyError, match=r'Unexpected key\(s\) in state_dict: "extra.weight"'):  # still a KeyError too
        scratch.load_state_dict({**state, "extra.weight": np.zeros(2)})
    wrong = dict(state)
    wrong["0.weight"] = np.zeros((4, 6))
    with pytest.raises(ValueError, match=r"'0.weight' expected shape \(6, 4\), got \(4, 6\)"):
        scratch.load_state_dict(wrong)
    # strict=False ignores unknown keys and loads what it can
    partial = {"0.bias": np.arange(6.0), "not.a.key": np.zeros(1)}
    scratch.load_state_dict(partial, strict=False)
    assert np.array_equal(scratch[0].bias.data, np.arange(6.0))


def test_load_casts_to_parameter_dtype():
    layer = Linear(2, 2)  # float32
    layer.load_state_dict({"weight": np.ones((2, 2)), "bias": np.zeros(2)})
    assert layer.weight.dtype == np.float32


def test_train_eval_propagates_to_every_submodule():
    scratch, _ = _models()
    scratch.eval()
    assert all(not module.training for module in scratch.modules())
    scratch.train()
    assert all(module.training for module in scratch.modules())
    scratch[4].eval()
    assert scratch.training and not scratch[4][1].training


def test_zero_grad_clears_every_parameter():
    scratch, _ = _models()
    rng = np.random.default_rng(1)
    scratch(rng.standard_normal((4, 4)))
    scratch.backward(rng.standard_normal((4, 3)))
    assert any(np.any(param.grad != 0) for param in scratch.parameters())
    scratch.zero_grad()
    assert all(np.all(param.grad == 0) for param in scratch.parameters())


def test_sequential_container_protocol():
    first, second = Linear(2, 3), ReLU()
    model = Sequential(first, second)
    assert len(model) == 2 and model[0] is first and list(model) == [first, second]
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in repr(model)


def test_shared_parameter_is_listed_once_and_reassignment_unregisters():
    class Tied(Module):
        def __init__(self):
            super().__init__()
            self.encoder = Linear(3, 3)
            self.decoder = Linear(3, 3)
            self.decoder.weight = self.encoder.weight  # weight tying

    model = Tied()
    assert [name for name, _ in model.named_parameters()] == ["encoder.weight", "encoder.bias", "decoder.bias"]
    model.encoder = None
    assert sorted(name for name, _ in model.named_parameters()) == ["decoder.bias", "decoder.weight"]


def test_reassigned_parameter_keeps_its_place_like_torch():
    layer = Linear(3, 3)
    layer.weight = Parameter(np.zeros((3, 3), np.float32))
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_augmented_assignment_keeps_a_buffer_registered():
    class Counter(Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("count", np.zeros(1))

    counter = Counter()
    counter.count += 1
    assert "count" in counter.state_dict()


def test_missing_super_init_is_explained():
    class Broken(Module):
        def __init__(self):
            self.weight = Parameter(np.zeros(2))

    with pytest.raises(AttributeError, match="must call super"):
        Broken()


# --- Sequential runs ReLU → MaxPool2d as MaxPool2d → ReLU (exact; a quarter of ReLU's work) ---


def test_sequential_runs_relu_after_a_max_pool_that_follows_it():
    relu, pool, relu2, pool2, pool3 = ReLU(), MaxPool2d(2), ReLU(inplace=True), MaxPool2d(2), MaxPool2d(1)
    assert Sequential(relu, pool, Tanh()).execution_order()[:2] == [pool, relu]
    assert Sequential(relu2, pool2, pool3).execution_order() == [pool2, pool3, relu2]  # through both pools
    # not swapped: indices would point elsewhere in all-negative windows; other activations are
    # not exact (tanh saturates: new ties); a subclass may change forward
    with_indices = MaxPool2d(2, return_indices=True)
    assert Sequential(relu, with_indices).execution_order() == [relu, with_indices]
    assert isinstance(Sequential(Tanh(), pool).execution_order()[0], Tanh)

    class MyReLU(ReLU):
        pass

    mine = MyReLU()
    assert Sequential(mine, pool).execution_order() == [mine, pool]


def _shape_keeping_relu_pool_network():
    """Conv → ReLU → a 3×3 pool of stride 1 (the output has the input's shape, so nothing else
    would notice a backward in the wrong order), with the same network in torch."""
    rng = np.random.default_rng(7)
    conv = Conv2d(1, 2, 3, padding=1, dtype=np.float64)
    network = Sequential(conv, ReLU(), MaxPool2d(3, stride=1, padding=1))
    reference = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, padding=1, dtype=torch.float64), torch.nn.ReLU(),
                                    torch.nn.MaxPool2d(3, stride=1, padding=1))
    reference[0].load_state_dict(state_dict_to_torch(conv.state_dict(), reference[0]))
    x, grad = rng.standard_normal((2, 1, 5, 5)), rng.standard_normal((2, 2, 5, 5))
    x_torch = torch.from_numpy(x).requires_grad_()
    reference(x_torch).backward(torch.from_numpy(grad))
    return network, x, grad, (x_torch.grad.numpy(), reference[0].weight.grad.numpy())


def test_a_backward_loop_over_the_written_order_after_a_swapped_forward_raises():
    """An audit: ``for layer in reversed(list(seq))`` after ``seq(x)`` met the pool before the ReLU
    that ran after it, and gave wrong gradients without a word (a confusing shape error for 2×2 pools)."""
    network, x, grad, (expected_dx, expected_dw) = _shape_keeping_relu_pool_network()
    network(x)
    grad_in = grad
    with pytest.raises(RuntimeError, match=r"MaxPool2d.backward came before ReLU.backward.*execution_order"):
        for layer in reversed(list(network)):
            grad_in = layer.backward(grad_in)
    grad_in = grad
    for layer in reversed(network.execution_order()):  # the order the error names: right
        grad_in = layer.backward(grad_in)
    np.testing.assert_allclose(grad_in, expected_dx, rtol=1e-12)
    np.testing.assert_allclose(network[0].weight.grad, expected_dw, rtol=1e-12)


def test_sequential_backward_follows_the_order_its_layers_ran_in():
    """An audit: layers run one by one in the written order, then the Sequential's backward, went back
    through the swapped order (wrong gradients for a shape-keeping pool)."""
    network, x, grad, (expected_dx, expected_dw) = _shape_keeping_relu_pool_network()
    h = x
    for layer in network:
        h = layer(h)
    np.testing.assert_allclose(network.backward(grad), expected_dx, rtol=1e-12)
    np.testing.assert_allclose(network[0].weight.grad, expected_dw, rtol=1e-12)
    network.zero_grad()
    network(x)  # and after the Sequential's own (swapped) forward
    np.testing.assert_allclose(network.backward(grad), expected_dx, rtol=1e-12)
    np.testing.assert_allclose(network[0].weight.grad, expected_dw, rtol=1e-12)


@settings(max_examples=examples(25), deadline=None)
@given(case=pool_cases(with_dilation=True), seed=st.integers(0, 2**16))
def test_relu_max_pool_swap_is_exact_against_torch(case, seed):
    """Rounded inputs: many ties, zeros and all-negative windows; output and gradient bit for bit."""
    config, dilation, shape = case
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal(shape) * 1.5)
    reference = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.MaxPool2d(**config, dilation=dilation))
    scratch = Sequential(ReLU(), MaxPool2d(**config, dilation=dilation))
    x_torch = torch.from_numpy(x).requires_grad_()
    out = reference(x_torch)
    assume(bool(torch.isfinite(out).all()))  # see test_max_pool_parity_with_torch
    grad = np.round(rng.standard_normal(tuple(out.shape)) * 4)
    out.backward(torch.from_numpy(grad))
    np.testing.assert_array_equal(scratch(x), out.detach().numpy())
    np.testing.assert_array_equal(scratch.backward(grad), x_torch.grad.numpy())


def test_conv_relu_pool_block_parity_float32_and_float64():
    for dtype, torch_dtype, rtol in [(np.float64, torch.float64, 1e-6), (np.float32, torch.float32, 1e-4)]:
        scratch = Sequential(Conv2d(2, 3, 3, dtype=dtype), ReLU(), MaxPool2d(2), Conv2d(3, 2, 2, dtype=dtype), ReLU(),
                             MaxPool2d(2, stride=1))
        reference = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                        torch.nn.Conv2d(3, 2, 2), torch.nn.ReLU(),
                                        torch.nn.MaxPool2d(2, stride=1)).to(torch_dtype)
        rng = np.random.default_rng(3)
        x = rng.standard_normal((4, 2, 11, 11)).astype(dtype)
        assert_parity(reference, scratch, x, rng.standard_normal((4, 2, 2, 2)).astype(dtype), rtol=rtol, atol=1e-6)


def test_a_shared_module_is_listed_once_but_saved_and_loaded_under_each_name_as_in_torch():
    """Weight tying: the same Linear twice in a Sequential."""
    shared, torch_shared = Linear(2, 2), torch.nn.Linear(2, 2)
    model = Sequential(shared, ReLU(), shared)
    torch_model = torch.nn.Sequential(torch_shared, torch.nn.ReLU(), torch_shared)
    assert [name for name, _ in model.named_modules()] == [name for name, _ in torch_model.named_modules()]
    assert [name for name, _ in model.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]
    assert [name for name, _ in model.named_parameters()] == [name for name, _ in torch_model.named_parameters()]
    assert list(model.state_dict()) == list(torch_model.state_dict())
    loaded = model.load_state_dict({name: value.numpy() for name, value in torch_model.state_dict().items()})
    assert not loaded.missing_keys and not loaded.unexpected_keys
    np.testing.assert_array_equal(shared.weight.data, torch_shared.weight.detach().numpy())


def test_slicing_a_sequential_gives_a_sequential_with_the_same_names():
    first, second, third = Linear(2, 3), ReLU(), Linear(3, 1)
    model = Sequential(first, second, third)
    tail = model[1:]
    assert isinstance(tail, Sequential) and len(tail) == 2
    assert [name for name, _ in tail.named_children()] == ["1", "2"]
    assert tail[0] is second and tail[1] is third and model[-1] is third
    x = np.ones((4, 3), np.float32)
    np.testing.assert_array_equal(tail(x), third(np.maximum(x, 0)))


def test_a_frozen_layer_trains_like_torchs_frozen_layer():
    """requires_grad_(False): no gradient (grad is None, as torch's), optimisers with momentum and
    weight decay leave the layer where it is, and the gradient still flows through it to the input;
    the other layers follow torch step by step."""
    from course_lib.scratch import gradcheck, optim
    from course_lib.scratch.losses import MSELoss
    from course_lib.scratch.regularization import add_l2_penalty_grad

    from .parity import copy_weights

    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    torch_model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2)).double()
    model = Sequential(Linear(4, 5, dtype=np.float64), ReLU(), Linear(5, 2, dtype=np.float64))
    copy_weights(torch_model, model)
    assert torch_model[0].requires_grad_(False) is torch_model[0] and model[0].requires_grad_(False) is model[0]
    frozen = model[0].weight.data.copy()
    torch_opt = torch.optim.SGD(torch_model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    for _ in range(5):
        x, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 2))
        torch_opt.zero_grad()
        torch_x = torch.tensor(x, requires_grad=True)
        torch.nn.functional.mse_loss(torch_model(torch_x), torch.tensor(y)).backward()
        torch_opt.step()
        opt.zero_grad()
        loss_fn = MSELoss()
        loss_fn(model(x), y)
        grad_x = model.backward(loss_fn.backward())
        add_l2_penalty_grad(model.parameters(), 0.0)  # skips the frozen parameters, adds 0 to the others
        opt.step()
        assert np.allclose(grad_x, torch_x.grad.numpy(), rtol=1e-10)
    assert model[0].weight.grad is None and torch_model[0].weight.grad is None
    assert np.array_equal(model[0].weight.data, frozen)
    for (name, param), (_, torch_param) in zip(model.named_parameters(), torch_model.named_parameters()):
        assert np.allclose(param.data, torch_param.detach().numpy(), rtol=1e-10), name
    assert gradcheck(model, rng.standard_normal((3, 4)))  # the frozen parameters are constants
    model.requires_grad_(True)
    model(x)
    model.backward(np.ones((8, 2)))
    assert model[0].weight.grad is not None and model[0].weight.has_grad


def test_zero_grad_without_set_to_none_leaves_a_missing_gradient_missing_like_torch():
    """Found by an audit: zero_grad(set_to_none=False) gave every parameter a zero gradient, so a
    frozen weight (or one a step did not use) was moved by weight decay and momentum."""
    from course_lib.scratch import optim

    from .parity import copy_weights

    torch_layer, layer = torch.nn.Linear(3, 2).double(), Linear(3, 2, dtype=np.float64)
    copy_weights(torch_layer, layer)
    torch_layer.weight.requires_grad_(False)
    layer.weight.requires_grad_(False)
    torch_opt = torch.optim.SGD(torch_layer.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    opt = optim.SGD(layer.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    x = np.ones((2, 3))
    for _ in range(3):
        torch_opt.zero_grad(set_to_none=False)
        opt.zero_grad(set_to_none=False)
        torch_layer(torch.from_numpy(x)).sum().backward()
        layer(x)
        layer.backward(np.ones((2, 2)))
        torch_opt.step()
        opt.step()
    assert torch_layer.weight.grad is None and layer.weight.grad is None
    assert np.array_equal(layer.weight.data, torch_layer.weight.detach().numpy())
    assert np.allclose(layer.bias.data, torch_layer.bias.detach().numpy(), rtol=1e-12)


def test_a_parameter_pickled_before_requires_grad_existed_still_trains():
    import pickle

    param = Parameter(np.ones(2))
    del param.__dict__["requires_grad"]  # what an older pickle holds
    restored = pickle.loads(pickle.dumps(param))
    restored.add_to_grad(np.array([1.0, 2.0]))
    assert restored.requires_grad and restored.grad.tolist() == [1.0, 2.0]


def test_torchs_positional_device_is_taken_and_a_dtype_in_its_place_gets_a_clear_error():
    """torch's fourth Linear argument is device: Linear(4, 3, True, 'cpu') said "data type 'cpu' not
    understood" (audit); now it builds the layer, as torch's does, and a dtype written where the
    device goes, or a torch dtype, is named as such."""
    assert Linear(4, 3, True, "cpu").weight.dtype == np.float32
    assert Linear(4, 3, True, "cpu", np.float64).weight.dtype == np.float64
    with pytest.raises(ValueError, match="got <class 'numpy.float64'>; this looks like a dtype"):
        Linear(4, 3, True, np.float64)
    with pytest.raises(ValueError, match="got torch.float64; this looks like a dtype"):
        Linear(4, 3, True, torch.float64)
    with pytest.raises(TypeError, match="NumPy float type"):
        Linear(4, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="got 'cuda:1'; the scratch layers compute with NumPy on the CPU"):
        Linear(4, 3, device="cuda:1")
    with pytest.raises(ValueError, match=r"device must be None or 'cpu', got True$"):
        Linear(4, 3, True, True)


@pytest.mark.parametrize("make, x", [
    (lambda: Linear(8, 5), np.ones((4, 8), np.float32)),
    (lambda: Sequential(Linear(8, 5), Tanh(), Linear(5, 3)), np.ones((4, 8), np.float32)),
    (lambda: LayerNorm(8), np.ones((4, 8), np.float32)),
    (lambda: ReLU(), np.ones((4, 8), np.float32)),
    (lambda: MaxPool2d(2), np.ones((2, 3, 4, 4), np.float32)),
    (lambda: BatchNorm1d(8), np.arange(32, dtype=np.float32).reshape(4, 8)),
    (lambda: LSTM(8, 5), np.ones((3, 2, 8), np.float32)),
], ids=["Linear", "Sequential", "LayerNorm", "ReLU", "MaxPool2d", "BatchNorm1d", "LSTM"])
def test_a_float64_gradient_is_taken_in_the_outputs_dtype_as_torch_does(make, x):
    """torch casts the gradient given to backward to its output's dtype; NumPy would promote the
    float32 layer's dL/dx to float64 (and every layer before it with it).  Conv2d cast on its own;
    Linear, the activations, norms, pooling and the rest returned float64 (audit, 2026-12-06)."""
    layer = make()
    output = layer(x)
    first = output[0] if isinstance(output, tuple) else output
    grads = layer.backward(np.ones(first.shape))  # float64, as np.ones makes it
    for grad in (grads if isinstance(grads, tuple) else (grads,)):
        if grad is not None:
            assert grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in layer.parameters())


def test_a_scalar_parameter_stays_0_d_and_trains_and_converts_like_torchs():
    """np.ascontiguousarray made a 0-d parameter (a learnable temperature) shape (1,): its state dict
    did not load from or into torch's, and a 0-d gradient was refused (an audit, 2026-12-07)."""
    from course_lib.scratch import optim

    class Scaled(Module):
        def __init__(self):
            super().__init__()
            self.temperature = Parameter(np.array(2.0))

    class TorchScaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.temperature = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float64))

    model, torch_model = Scaled(), TorchScaled()
    assert model.temperature.data.shape == () and model.temperature.grad.shape == ()
    model.load_state_dict(state_dict_from_torch(torch_model.state_dict()))
    torch_model.load_state_dict(state_dict_to_torch(model.state_dict(), torch_model))
    assert model.temperature.data.shape == () and model.temperature.data == 0.5
    adam, torch_adam = optim.Adam(model.parameters(), lr=0.1), torch.optim.Adam(torch_model.parameters(), lr=0.1)
    for step in range(3):
        model.temperature.add_to_grad(np.array(step - 0.5))
        torch_model.temperature.grad = torch.tensor(step - 0.5, dtype=torch.float64)
        adam.step(), torch_adam.step()
        adam.zero_grad(), torch_adam.zero_grad()
    assert_close(model.temperature.data, torch_model.temperature.detach(), rtol=1e-12, atol=0)


def test_a_bfloat16_torch_state_dict_converts_to_float32():
    """NumPy has no bfloat16: torch's .numpy() raised "unsupported ScalarType BFloat16", even with a dtype
    asked for (an audit, 2026-12-07); float32 holds every bfloat16 exactly."""
    layer = torch.nn.Linear(2, 3).to(torch.bfloat16)
    for dtype in (None, np.float32):
        state = state_dict_from_torch(layer.state_dict(), dtype=dtype)
        assert state["weight"].dtype == np.float32
        assert np.array_equal(state["weight"], layer.weight.detach().float().numpy())
    scratch = Linear(2, 3, dtype=np.float64)
    scratch.load_state_dict(layer.state_dict())  # the tensors themselves, as torch's load_state_dict takes them
    assert np.array_equal(scratch.weight.data, layer.weight.detach().double().numpy())


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.complex64])
def test_a_grad_output_that_is_not_float_is_refused_by_name(dtype):
    """An integer dL/dy gave ReLU an integer dL/dx, a complex one was kept by Sigmoid and lost its
    imaginary part in Conv2d (an audit, 2026-12-07): every backward now refuses it, naming the dtype."""
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(np.float32)
    for layer in (ReLU(), Conv2d(3, 2, 3), MaxPool2d(2), Linear(5, 4)):
        out = layer(x)
        with pytest.raises(ValueError, match=f"grad_output as a float array .*got dtype {np.dtype(dtype).name}"):
            layer.backward(np.ones(out.shape, dtype))


def test_a_trained_parameter_needs_float_data_as_in_torch():
    with pytest.raises(ValueError, match="needs float data .*got dtype int64; convert with"):
        Parameter(np.ones(3, dtype=np.int64))
    assert Parameter(np.ones(3, dtype=np.int64), requires_grad=False).data.dtype == np.int64
    assert Parameter([1.0, 2.0]).data.dtype == np.float64


@pytest.mark.parametrize("make, message", [
    (lambda: Linear(5.5, 3), "Linear: in_features must be a whole number, got float 5.5"),
    (lambda: Linear(4, "3"), "Linear: out_features must be a whole number, got str '3'"),
    (lambda: BatchNorm1d(5.5), "BatchNorm1d: num_features must be a whole number, got float 5.5"),
    (lambda: Conv2d(3.0, 4, 3), "Conv2d: in_channels must be a whole number, got float 3.0"),
    (lambda: LSTM(6, 4.5), "LSTM: hidden_size must be a whole number, got float 4.5"),
    (lambda: LSTM(6, 4, num_layers=1.5), "LSTM: num_layers must be a whole number, got float 1.5"),
    (lambda: LayerNorm(8.0), "LayerNorm: normalized_shape must be a whole number, got float 8.0"),
])
def test_a_size_that_is_not_a_whole_number_is_named(make, message):
    """int(d / 2) silently truncated 5.5 to 5, or Linear(5.5, 3) failed inside NumPy (an audit, 2026-12-07);
    torch refuses both."""
    with pytest.raises(ValueError, match=re.escape(message)):
        make()
    assert Linear(np.int64(4), 3).in_features == 4  # NumPy integers are whole numbers


def test_negative_sizes_and_0_d_inputs_and_empty_sequences():
    """Conv2d(-3, 4, 3) said "math domain error" and LayerNorm(-1) NumPy's "negative dimensions";
    Tanh and GELU returned a NumPy scalar for a 0-d array; attention over a sequence of length 0 raised
    "zero-size array to reduction operation maximum" where torch returns an empty output (an audit,
    2026-12-07)."""
    from course_lib.scratch import GELU, MultiheadAttention

    with pytest.raises(ValueError, match="Conv2d: in_channels must be at least 0, got -3"):
        Conv2d(-3, 4, 3)
    with pytest.raises(ValueError, match="LayerNorm: normalized_shape must be at least 0, got -1"):
        LayerNorm(-1)
    for layer in (Tanh(), GELU(), GELU(approximate="tanh")):
        out = layer(np.array(0.5, dtype=np.float32))
        assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float32
    attention = MultiheadAttention(8, 2, dtype=np.float64)
    torch_attention = torch.nn.MultiheadAttention(8, 2).double()
    x = np.zeros((0, 3, 8))
    out, weights = attention(x, x, x)
    expected, expected_weights = torch_attention(*(torch.from_numpy(x),) * 3)
    assert out.shape == tuple(expected.shape) == (0, 3, 8) and weights.shape == tuple(expected_weights.shape)


def test_a_cells_backward_takes_float_arrays_as_every_backward_does():
    """RNNCell/LSTMCell.backward took a Python list (and integers) through np.asarray, where every other
    backward refuses them (an audit, 2026-12-07)."""
    from course_lib.scratch import LSTMCell, RNNCell

    for cell in (RNNCell(3, 4), LSTMCell(3, 4)):
        cell(np.ones((2, 3), dtype=np.float32))
        with pytest.raises(ValueError, match=r"backward expected grad_h as a float array of shape \(2, 4\), got list"):
            cell.backward([[0.0] * 4] * 2)
        with pytest.raises(ValueError, match=r"grad_h as a float array of shape \(2, 4\), got dtype int64"):
            cell.backward(np.ones((2, 4), dtype=np.int64))
        assert cell.backward(np.ones((2, 4)))[0].dtype == np.float32  # float64 is taken in the cell's dtype


# --- registration and loading, as torch (an audit of call sequences and module structures) ----------


def test_deleting_an_attribute_unregisters_it():
    network = Sequential(Linear(2, 3), Linear(3, 1))
    del network[1].bias  # torch: gone from parameters() and state_dict()
    assert "1.bias" not in network.state_dict() and len(network.parameters()) == 3
    holder = Module()
    holder.layer, holder.norm = Linear(2, 2), BatchNorm1d(2)
    del holder.layer
    assert [name for name, _ in holder.named_parameters()] == ["norm.weight", "norm.bias"]
    del holder.norm.running_mean
    assert "norm.running_mean" not in holder.state_dict()
    with pytest.raises(AttributeError):
        del holder.layer


def test_register_buffer_refuses_a_name_in_use_and_leaves_none_out_of_the_state_dict():
    layer = Linear(2, 2)
    for name in ("weight", "in_features", "forward"):
        with pytest.raises(KeyError, match=f"attribute '{name}' already exists"):
            layer.register_buffer(name, np.zeros(2))
    with pytest.raises(KeyError, match="without '.'"):
        layer.register_buffer("a.b", np.zeros(2))
    layer.register_buffer("scale", None)
    assert "scale" not in layer.state_dict() and dict(layer.named_buffers()) == {}
    layer.register_buffer("scale", np.ones(2))  # registering the same buffer again replaces it, as torch
    assert list(layer.state_dict()) == ["weight", "bias", "scale"]
    norm = BatchNorm1d(2)
    norm.running_mean = None
    assert "running_mean" not in norm.state_dict()


def test_a_failed_load_changes_nothing_even_when_a_late_value_does_not_convert():
    norm = BatchNorm1d(3)
    before = norm.state_dict()
    bad = dict(before, weight=np.full(3, 5.0), num_batches_tracked=np.array("abc"))
    with pytest.raises(ValueError, match=r"'num_batches_tracked' should hold int64 numbers.*nothing was loaded"):
        norm.load_state_dict(bad)
    for key, value in norm.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


def test_load_state_dict_takes_parameters_and_trained_torch_tensors_and_writes_buffers_in_place():
    source, target = BatchNorm1d(3), BatchNorm1d(3)
    source.weight.data[...] = [1.0, 2.0, 3.0]
    source.running_mean[...] = [0.5, 0.25, 0.125]
    running_mean = target.running_mean  # a reference kept outside, as torch users keep them
    values = {"weight": source.weight, "bias": torch.nn.Parameter(torch.ones(3)),
              **{key: value for key, value in source.state_dict().items() if key not in ("weight", "bias")}}
    target.load_state_dict(values)
    np.testing.assert_array_equal(target.weight.data, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(target.bias.data, [1.0, 1.0, 1.0])
    assert target.running_mean is running_mean
    np.testing.assert_array_equal(running_mean, [0.5, 0.25, 0.125])


def test_a_child_registered_twice_is_one_child_as_in_torch():
    shared = Linear(2, 2)
    network, reference = Sequential(shared, Tanh(), shared), torch.nn.Sequential(*(torch.nn.Linear(2, 2),) * 2)
    assert [name for name, _ in network.named_children()] == ["0", "1"]
    assert [name for name, _ in reference.named_children()] == ["0"]  # torch: one child (and no Tanh here)
    assert list(network.children()) == [shared, network[1]]


def test_module_list_registers_its_items_as_torch_does():
    """An audit: scratch had no ModuleList, add_module, apply or Sequential.append (a plain list of layers
    is invisible to parameters() and state_dict(), in torch as here)."""
    from course_lib.scratch import ModuleList

    class Tower(Module):
        def __init__(self, layers):
            super().__init__()
            self.layers = layers

    scratch_tower = Tower(ModuleList([Linear(3, 4), Tanh(), Linear(4, 2)]))
    torch_tower = torch.nn.Module()
    torch_tower.layers = torch.nn.ModuleList([torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)])
    assert list(scratch_tower.state_dict()) == list(torch_tower.state_dict())
    assert len(scratch_tower.parameters()) == 4 and len(Tower([Linear(3, 4)]).parameters()) == 0
    layers = scratch_tower.layers
    assert len(layers) == 3 and layers[-1] is list(layers)[2] and isinstance(layers[1:], ModuleList)
    assert [type(layer).__name__ for layer in reversed(layers)] == ["Linear", "Tanh", "Linear"]
    layers.append(ReLU()).extend([Tanh()])
    layers[1] = ReLU()
    assert [type(layer).__name__ for layer in layers] == ["Linear", "ReLU", "Linear", "ReLU", "Tanh"]
    scratch_tower.eval()
    assert not any(layer.training for layer in layers)
    with pytest.raises(TypeError, match="container, not a layer"):
        layers(np.zeros((2, 3)))
    with pytest.raises(TypeError, match=r"item 0 would be a list"):
        layers[0] = [Linear(1, 1)]
    with pytest.raises(TypeError, match="use append"):
        layers.extend(Linear(1, 1))
    assert len(ModuleList().extend(Sequential(Linear(1, 1), Tanh()))) == 2  # as torch: a Sequential's items
    with pytest.raises(IndexError):
        layers[7] = ReLU()


def test_add_module_apply_and_sequential_append_as_torch():
    network = Sequential(Linear(2, 3))
    network.append(ReLU()).extend([Linear(3, 1)])
    assert list(network.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    network.add_module("head", Tanh())
    assert network.head is network[-1] and len(network) == 4
    with pytest.raises(KeyError, match="attribute 'training' already exists"):
        network.add_module("training", Tanh())
    with pytest.raises(TypeError, match="'extra' is the class Tanh"):
        network.add_module("extra", Tanh)
    visited = []
    assert network.apply(lambda module: visited.append(type(module).__name__)) is network
    assert visited == ["Linear", "ReLU", "Linear", "Tanh", "Sequential"]  # children first, as torch
    network.apply(lambda module: module.weight.data.fill(0.5) if isinstance(module, Linear) else None)
    assert np.all(network[0].weight.data == 0.5) and np.all(network[2].weight.data == 0.5)


def test_running_a_layer_again_before_backward_keeps_the_order_of_the_sequential():
    """An audit of the first version, which went back in the order of the layers' last forward calls:
    looking at a hidden layer (seq[0](x)) between forward and backward reordered the backward pass."""
    x, grad = np.random.default_rng(5).standard_normal((3, 4)), np.random.default_rng(6).standard_normal((3, 4))
    network = Sequential(Linear(4, 4, dtype=np.float64), Tanh(), Linear(4, 4, dtype=np.float64))
    twin = copy.deepcopy(network)
    network(x)
    network[0](x)  # a peek at the first layer, on the same input
    twin(x)
    expected = twin.backward(grad)
    np.testing.assert_array_equal(network.backward(grad), expected)
    for mine, theirs in zip(network.parameters(), twin.parameters()):
        np.testing.assert_array_equal(mine.grad, theirs.grad)


def test_a_module_that_replaces_call_keeps_backward_as_it_was():
    """An audit: a Module subclass overriding __call__ (or taking forward from a mixin) never noted a
    forward, so its second training step raised 'already called'."""
    class Twice(Module):
        def __call__(self, x):
            return 2 * x

        def backward(self, grad):
            return 2 * grad

    layer = Twice()
    for _ in range(3):
        layer.backward(np.ones_like(layer(np.ones(2))))
    network = Sequential(Twice(), ReLU(), MaxPool2d(2))
    out = network(np.ones((1, 1, 4, 4)))
    assert network.backward(np.ones_like(out)).shape == (1, 1, 4, 4)
