"""Scratch optimisers against torch.optim: same parameters and same state after 20 identical steps."""
import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from course_lib.scratch import optim
from course_lib.scratch.linear import Linear
from course_lib.scratch.module import Parameter
from ..hypothesis_budget import examples

SHAPES = [(4, 3), (5,), (2, 3, 2)]
TOLERANCE = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=2e-5, atol=2e-6)}
# state entries that have the same name and meaning in torch
STATE_KEYS = ("momentum_buffer", "sum", "square_avg", "grad_avg", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


def make_pair(name, kwargs, dtype, seed=0, groups=None):
    """The same random parameters as scratch Parameters and torch Parameters, with both optimisers."""
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
    scratch_params = [Parameter(array.copy()) for array in initial]
    torch_params = [torch.nn.Parameter(torch.tensor(array.copy())) for array in initial]
    if groups is not None:  # groups: list of (indices, extra hyper-parameters)
        scratch_arg = [dict(params=[scratch_params[i] for i in idx], **extra) for idx, extra in groups]
        torch_arg = [dict(params=[torch_params[i] for i in idx], **extra) for idx, extra in groups]
    else:
        scratch_arg, torch_arg = scratch_params, torch_params
    scratch_opt = getattr(optim, name)(scratch_arg, **kwargs)
    torch_opt = getattr(torch.optim, name)(torch_arg, foreach=False, **kwargs)
    return scratch_params, torch_params, scratch_opt, torch_opt, rng


def feed_same_gradients(scratch_params, torch_params, scratch_opt, torch_opt, rng, steps, dtype):
    for _ in range(steps):
        grads = [rng.standard_normal(shape).astype(dtype) for shape in SHAPES]
        for param, grad in zip(scratch_params, grads):
            param.grad[...] = grad
        for param, grad in zip(torch_params, grads):
            param.grad = torch.tensor(grad.copy())
        scratch_opt.step()
        torch_opt.step()


def assert_same(scratch_params, torch_params, scratch_opt, torch_opt, dtype):
    for scratch_param, torch_param in zip(scratch_params, torch_params):
        assert scratch_param.data.dtype == dtype
        np.testing.assert_allclose(scratch_param.data, torch_param.detach().numpy(), **TOLERANCE[dtype])
        scratch_state, torch_state = scratch_opt.state[scratch_param], torch_opt.state[torch_param]
        for key in STATE_KEYS:
            assert (key in scratch_state) == (key in torch_state and torch_state[key] is not None), key
            if key in scratch_state:
                assert scratch_state[key].dtype == dtype
                np.testing.assert_allclose(scratch_state[key], torch_state[key].numpy(), **TOLERANCE[dtype])
        if "step" in torch_state:
            assert scratch_state["step"] == int(torch_state["step"])


CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("Adagrad", dict(lr=0.1, maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.3, eps=1e-3)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.6), eps=1e-4)),  # weights ≥ 0.5 take torch.lerp's other branch
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.2, decoupled_weight_decay=True)),  # torch's spelling of AdamW
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.2, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.0, 0.9), maximize=True)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_matches_torch_after_20_steps(name, kwargs, dtype):
    pair = make_pair(name, kwargs, dtype)
    feed_same_gradients(*pair, steps=20, dtype=dtype)
    assert_same(*pair[:4], dtype=dtype)


def test_centred_rmsprop_stays_finite_where_its_averages_overflow_as_torch_does():
    """Gradients of 10²¹ overflow v = α v + (1 − α) g² in float32 at once and m² a few steps later;
    torch's v − m² (a fused multiply-add) is then inf and the step 0, not inf − inf = NaN."""
    rng = np.random.default_rng(0)
    grad = (rng.standard_normal(6) * 1e21).astype(np.float32)
    grad[:2] = [1e17, -3e16]  # two entries that stay finite and move
    scratch_param, torch_param = Parameter(np.ones(6, np.float32)), torch.nn.Parameter(torch.ones(6))
    scratch_opt = optim.RMSprop([scratch_param], lr=1e-2, centered=True)
    torch_opt = torch.optim.RMSprop([torch_param], lr=1e-2, centered=True, foreach=False)
    with np.errstate(over="ignore"):  # v's own overflow warns, as any float32 overflow does
        for _ in range(20):
            scratch_param.grad[...] = grad
            torch_param.grad = torch.from_numpy(grad.copy())
            scratch_opt.step()
            torch_opt.step()
    expected = torch_param.detach().numpy()
    assert np.isfinite(expected).all()
    np.testing.assert_allclose(scratch_param.data, expected, **TOLERANCE[np.float32])
    assert np.isinf(torch_opt.state[torch_param]["square_avg"].numpy()).any()  # the case is reached
    assert (scratch_param.data[:2] != 1).all()


def test_the_centred_rmsprop_update_takes_a_0d_array_as_torch_takes_a_scalar():
    """The functional update on 0-d arrays (the module's Parameters are at least 1-d): the overflow
    guard above must not index into a NumPy scalar."""
    param, state = np.array(1.0), {}
    torch_param = torch.nn.Parameter(torch.tensor(1.0, dtype=torch.float64))
    torch_opt = torch.optim.RMSprop([torch_param], lr=0.1, centered=True, foreach=False)
    for grad in (0.5, -0.3, 0.2):
        optim.rmsprop_update(param, np.array(grad), state, lr=0.1, centered=True)
        torch_param.grad = torch.tensor(grad, dtype=torch.float64)
        torch_opt.step()
    assert param.shape == () and param == pytest.approx(torch_param.item(), rel=1e-12)


@settings(max_examples=examples(20), deadline=None)
@given(
    name=st.sampled_from(["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]),
    lr=st.floats(1e-4, 0.5),
    weight_decay=st.sampled_from([0.0, 1e-3, 0.3]),
    flag_a=st.booleans(),
    flag_b=st.booleans(),
    decay=st.floats(0.0, 0.99),
    maximize=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_matches_torch_random_hyperparameters(name, lr, weight_decay, flag_a, flag_b, decay, maximize, seed):
    """flag_a/flag_b switch nesterov/dampening, centered/momentum or amsgrad; decay is a momentum, alpha or beta."""
    kwargs = dict(lr=lr, weight_decay=weight_decay, maximize=maximize)
    if name == "SGD":
        kwargs.update(momentum=decay, nesterov=flag_a and decay > 0, dampening=0.0 if flag_a else 0.5 * flag_b)
    elif name == "Adagrad":
        kwargs.update(lr_decay=decay * flag_a, initial_accumulator_value=0.1 * flag_b)
    elif name == "RMSprop":
        # centered RMSprop divides by √(v − m²); with a small alpha, v and m² are nearly equal and the
        # subtraction cancels most digits, so torch's fused multiply-add and NumPy's separate ops
        # differ far above 1e-12 (alpha → 0 even rounds v − m² below zero: NaN).  Keep alpha ≥ 0.5
        # there; the uncentered form is well conditioned for any alpha ≥ 0.1.
        alpha = max(decay, 0.5) if flag_a else max(decay, 0.1)
        kwargs.update(alpha=alpha, centered=flag_a, momentum=0.9 * flag_b)
    else:
        kwargs.update(betas=(decay, 0.999 if flag_a else 0.5), amsgrad=flag_b)
    pair = make_pair(name, kwargs, np.float64, seed=seed)
    feed_same_gradients(*pair, steps=20, dtype=np.float64)
    assert_same(*pair[:4], dtype=np.float64)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_param_groups_with_their_own_hyperparameters(name):
    extra = {"SGD": dict(momentum=0.5), "Adagrad": dict(lr_decay=0.1), "RMSprop": dict(centered=True),
             "Adam": dict(amsgrad=True), "AdamW": dict(weight_decay=0.5)}[name]
    groups = [([0, 2], dict(lr=0.2)), ([1], dict(lr=0.01, **extra))]
    pair = make_pair(name, dict(lr=0.05), np.float64, groups=groups)
    assert len(pair[2].param_groups) == 2 and pair[2].param_groups[1]["lr"] == 0.01
    feed_same_gradients(*pair, steps=20, dtype=np.float64)
    assert_same(*pair[:4], dtype=np.float64)


def test_changing_lr_between_steps_is_honoured():
    pair = make_pair("SGD", dict(lr=0.1, momentum=0.9), np.float64)
    scratch_params, torch_params, scratch_opt, torch_opt, rng = pair
    for lr in [0.1, 0.05, 0.3, 0.0]:
        scratch_opt.param_groups[0]["lr"] = lr
        torch_opt.param_groups[0]["lr"] = lr
        feed_same_gradients(*pair, steps=3, dtype=np.float64)
    assert_same(*pair[:4], dtype=np.float64)


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adagrad", dict(lr=0.1)),
                                         ("RMSprop", dict(centered=True, momentum=0.5)),
                                         ("Adam", dict(amsgrad=True)), ("AdamW", dict())])
def test_state_dict_round_trip_resumes_exactly(name, kwargs):
    uninterrupted = make_pair(name, kwargs, np.float64, seed=3)
    feed_same_gradients(*uninterrupted, steps=20, dtype=np.float64)

    rng = np.random.default_rng(3)
    params = [Parameter(rng.standard_normal(shape)) for shape in SHAPES]
    first = getattr(optim, name)(params, **kwargs)

    def feed(optimizer, params, steps):
        for _ in range(steps):
            for param in params:
                param.grad[...] = rng.standard_normal(param.shape)
            optimizer.step()

    feed(first, params, steps=10)
    saved = first.state_dict()
    assert set(saved["state"]) == {0, 1, 2}
    saved_copy = copy.deepcopy(saved)

    # a fresh optimiser on copies of the parameters continues where the first stopped
    resumed_params = [Parameter(param.data.copy()) for param in params]
    resumed = getattr(optim, name)(resumed_params, lr=123.0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == first.param_groups[0]["lr"]
    feed(resumed, resumed_params, steps=10)
    for param, reference in zip(resumed_params, uninterrupted[0]):
        np.testing.assert_array_equal(param.data, reference.data)
    # loading copies: stepping the resumed optimiser did not touch the saved dictionary
    for index, state in saved["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(value, saved_copy["state"][index][key])


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1)),
                                         ("Adagrad", dict(lr=0.1))])
def test_load_state_dict_replaces_the_state_as_torch_does(name, kwargs):
    """Loading a state saved before any step restarts momentum (found by an audit: the scratch side
    kept the buffers of parameters the saved state did not name, and moved 3.4x as far)."""
    scratch_param = Parameter(np.zeros(2))
    torch_param = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    scratch, reference = getattr(optim, name)([scratch_param], **kwargs), getattr(torch.optim, name)([torch_param], **kwargs)
    saved = (scratch.state_dict(), copy.deepcopy(reference.state_dict()))  # torch's aliases its live state
    for _ in range(3):
        scratch_param.grad[...] = 1.0
        torch_param.grad = torch.ones(2, dtype=torch.float64)
        scratch.step()
        reference.step()
    scratch.load_state_dict(saved[0])
    reference.load_state_dict(saved[1])
    before = scratch_param.data.copy(), torch_param.detach().numpy().copy()
    scratch_param.grad[...] = 1.0
    torch_param.grad = torch.ones(2, dtype=torch.float64)
    scratch.step()
    reference.step()
    np.testing.assert_allclose(scratch_param.data - before[0], torch_param.detach().numpy() - before[1], rtol=1e-12)


def test_named_parameters_are_accepted_as_torch_accepts_them():
    scratch_model = Linear(3, 2, dtype=np.float64)
    torch_model = torch.nn.Linear(3, 2, dtype=torch.float64)
    scratch = optim.SGD(scratch_model.named_parameters(), lr=0.1)
    reference = torch.optim.SGD(torch_model.named_parameters(), lr=0.1)
    assert scratch.param_groups[0]["param_names"] == reference.param_groups[0]["param_names"] == ["weight", "bias"]
    assert [p.shape for p in scratch.param_groups[0]["params"]] == [(2, 3), (2,)]


def test_a_torch_optimisers_state_is_refused_clearly():
    """It loaded without complaint and the first step failed on ndarray + Tensor (review finding)."""
    torch_param = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    reference = torch.optim.Adam([torch_param])
    torch_param.grad = torch.ones(2, dtype=torch.float64)
    reference.step()
    with pytest.raises(TypeError, match="PyTorch optimiser's state.*optimizer_state_from_torch"):
        optim.Adam([Parameter(np.zeros(2))]).load_state_dict(reference.state_dict())
    # before its first step a torch optimiser's state holds no tensors, but its groups hold torch's
    # runtime switches (foreach, fused, …), which loaded silently (an audit, 2026-12-06)
    fresh = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))], lr=0.5)
    scratch = optim.Adam([Parameter(np.zeros(2))])
    with pytest.raises(TypeError, match="PyTorch optimiser's state"):
        scratch.load_state_dict(fresh.state_dict())
    assert scratch.param_groups[0]["lr"] == 1e-3 and "foreach" not in scratch.param_groups[0]


def test_load_state_dict_rejects_a_different_model():
    params = [Parameter(np.zeros((2, 2)))]
    adam = optim.Adam(params)
    params[0].grad[...] = 1.0
    adam.step()
    other = optim.Adam([Parameter(np.zeros(3))])
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(adam.state_dict())
    with pytest.raises(ValueError, match="parameter groups"):
        optim.Adam([{"params": [Parameter(np.zeros(1))]}, {"params": [Parameter(np.zeros(1))]}]).load_state_dict(
            adam.state_dict())


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_float32_stays_float32(name):
    params = [Parameter(np.ones((3, 2), dtype=np.float32))]
    optimizer = getattr(optim, name)(params, lr=np.float64(0.1))  # a NumPy float64 lr must not upcast
    for _ in range(3):
        params[0].grad[...] = 0.5
        optimizer.step()
    assert params[0].data.dtype == np.float32
    assert all(value.dtype == np.float32 for value in optimizer.state[params[0]].values()
               if isinstance(value, np.ndarray))


def test_step_updates_in_place_and_skips_missing_gradients():
    model = Linear(3, 2, dtype=np.float64)
    weight_array, bias_before = model.weight.data, model.bias.data.copy()
    model.weight.grad[...] = 1.0
    model.bias.grad = None
    optimizer = optim.SGD(model.parameters(), lr=0.5)
    optimizer.step()
    assert model.weight.data is weight_array  # layers keep references to .data: update it in place
    np.testing.assert_array_equal(model.bias.data, bias_before)
    optimizer.zero_grad()
    assert np.all(model.weight.grad == 0) and np.all(model.bias.grad == 0)


def test_zero_grad_keeps_the_gradient_arrays():
    params = [Parameter(np.ones(3)), Parameter(np.ones((2, 2)))]
    grads = [param.grad for param in params]
    for grad in grads:
        grad[...] = 7.0
    optim.Adam(params).zero_grad()
    for param, grad in zip(params, grads):
        assert param.grad is grad and not grad.any()


def test_step_returns_the_closure_loss():
    param = Parameter(np.array([2.0]))

    def closure():
        param.grad[...] = 2 * param.data
        return float(param.data[0] ** 2)

    assert optim.SGD([param], lr=0.25).step(closure) == 4.0
    np.testing.assert_allclose(param.data, [1.0])


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=-0.1),
    lambda p: optim.SGD(p, momentum=-0.5),
    lambda p: optim.SGD(p, weight_decay=-1e-4),
    lambda p: optim.SGD(p, nesterov=True),
    lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True),
    lambda p: optim.Adagrad(p, lr_decay=-1),
    lambda p: optim.Adagrad(p, initial_accumulator_value=-0.1),
    lambda p: optim.Adagrad(p, eps=-1e-10),
    lambda p: optim.RMSprop(p, alpha=-0.1),
    lambda p: optim.RMSprop(p, momentum=-0.1),
    lambda p: optim.Adam(p, lr=-1e-3),
    lambda p: optim.Adam(p, betas=(1.0, 0.999)),
    lambda p: optim.Adam(p, betas=(0.9, -0.1)),
    lambda p: optim.Adam(p, betas=(0.9,)),
    lambda p: optim.Adam(p, eps=-1.0),
    lambda p: optim.AdamW(p, weight_decay=-0.01),
    lambda p: optim.AdamW(p, lr=float("nan")),
    lambda p: optim.SGD([{"params": p}, {"params": p}]),
    lambda p: optim.SGD([]),
])
def test_invalid_hyperparameters_raise_value_error(make):
    with pytest.raises(ValueError):
        make([Parameter(np.zeros(2))])


def test_errors_a_student_can_read():
    model = Linear(2, 2)
    with pytest.raises(TypeError, match="model.parameters"):
        optim.SGD(model, lr=0.1)
    with pytest.raises(TypeError, match="Parameter"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match=r"betas\[0\] must be in \[0, 1\)"):
        optim.Adam(model.parameters(), betas=(1.5, 0.9))
    with pytest.raises(ValueError, match="Nesterov .*, got momentum=0.9 and dampening=0.1"):
        optim.SGD(model.parameters(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    # a gradient unlike its parameter is refused when it is assigned, as torch refuses it
    with pytest.raises(ValueError, match=r"shape \(2, 2\), dtype float32\), got an array of shape \(3, 2\)"):
        model.weight.grad = np.zeros((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="dtype float64"):
        model.weight.grad = np.zeros((2, 2), dtype=np.float64)
    with pytest.raises(ValueError, match="got list"):
        model.weight.grad = [[0.0, 0.0], [0.0, 0.0]]


def test_step_checks_every_gradient_before_it_moves_a_parameter():
    model = Linear(2, 2)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    model.weight.grad[...] = 1
    model.bias.grad[...] = 1
    model.bias.data = model.bias.data.astype(np.float64)  # values replaced by an array of another dtype
    weight = model.weight.data.copy()
    with pytest.raises(ValueError, match=r"gradient of shape \(2,\) and dtype float32 .* \(no parameter was updated\)"):
        optimizer.step()
    np.testing.assert_array_equal(model.weight.data, weight)  # the weight comes first: it did not move


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.05)), ("SGD", dict(lr=0.02, momentum=0.9)), ("SGD", dict(lr=0.02, momentum=0.9, nesterov=True)),
    ("Adagrad", dict(lr=0.5)), ("RMSprop", dict(lr=0.02)), ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adam", dict(lr=0.05)), ("Adam", dict(lr=0.05, amsgrad=True)), ("AdamW", dict(lr=0.05, weight_decay=1e-3)),
])
def test_each_optimiser_minimises_an_ill_conditioned_quadratic(name, kwargs):
    """L(θ) = ½ (θ − θ*)ᵀ A (θ − θ*) with eigenvalues 1 … 10: 300 steps must cut the loss by 100×."""
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    hessian = basis @ np.diag(np.linspace(1.0, 10.0, 6)) @ basis.T
    optimum = rng.standard_normal(6)
    theta = Parameter(np.zeros(6))

    def loss():
        difference = theta.data - optimum
        return 0.5 * difference @ hessian @ difference

    optimizer = getattr(optim, name)([theta], **kwargs)
    initial_loss = loss()
    for _ in range(300):
        optimizer.zero_grad()
        theta.grad += hessian @ (theta.data - optimum)
        optimizer.step()
    assert loss() < initial_loss / 100


def test_adam_betas_that_are_not_a_pair_are_named():
    from course_lib.scratch import Parameter
    from course_lib.scratch.optim import Adam, AdamW

    for make in (Adam, AdamW):
        with pytest.raises(ValueError, match=r"betas must be a pair \(beta1, beta2\), got 0.9"):
            make([Parameter(np.zeros(2))], betas=0.9)


@pytest.mark.parametrize("update, torch_class", [(optim.sgd_update, torch.optim.SGD),
                                                 (optim.adagrad_update, torch.optim.Adagrad),
                                                 (optim.rmsprop_update, torch.optim.RMSprop),
                                                 (optim.adam_update, torch.optim.Adam)])
def test_the_exported_update_rules_default_to_torchs_hyperparameters(update, torch_class):
    """The classes call the update rules with every argument; the rules' own defaults must still be
    torch's (Adam's betas (0.9, 0.999), RMSprop's α 0.99 …), for a reader who calls one alone."""
    grads = [np.array([1.0, -2.0]), np.array([0.1, 3.0]), np.array([-1.0, 0.5])]
    param, state = np.array([1.0, 1.0]), {}
    reference = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    torch_optimizer = torch_class([reference], lr=0.1)
    for grad in grads:
        update(param, grad, state, lr=0.1)
        reference.grad = torch.from_numpy(grad)
        torch_optimizer.step()
    np.testing.assert_allclose(param, reference.detach().numpy(), rtol=1e-12)
