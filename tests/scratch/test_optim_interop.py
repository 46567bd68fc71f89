"""course_lib.interop's optimiser states: training stopped on one side continues on the other exactly."""
import numpy as np
import pytest
import torch

from course_lib.interop import optimizer_state_from_torch, optimizer_state_to_torch
from course_lib.scratch import optim
from course_lib.scratch.lr_scheduler import StepLR
from course_lib.scratch.module import Parameter
from .test_optim import CASES, SHAPES, assert_same, feed_same_gradients, make_pair

# steps before the move and after it: enough for every buffer, step count and bias correction to matter
BEFORE, AFTER = 7, 13


def _fresh_torch(name, kwargs, scratch_params):
    """torch parameters equal to ``scratch_params`` now, under a new torch optimiser (fresh state)."""
    params = [torch.nn.Parameter(torch.tensor(param.data.copy())) for param in scratch_params]
    return params, getattr(torch.optim, name)(params, foreach=False, **kwargs)


def _fresh_scratch(name, kwargs, torch_params):
    params = [Parameter(param.detach().numpy().copy()) for param in torch_params]
    return params, getattr(optim, name)(params, **kwargs)


def _train_alone(params, optimizer, rng, steps):
    """``steps`` steps of ``optimizer`` with random gradients, on one side only (torch or scratch parameters)."""
    for _ in range(steps):
        for param, shape in zip(params, SHAPES):
            if isinstance(param, torch.Tensor):
                param.grad = torch.tensor(rng.standard_normal(shape))
            else:
                param.grad[...] = rng.standard_normal(shape)
        optimizer.step()


@pytest.mark.parametrize("direction", ["scratch to torch", "torch to scratch"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_the_moved_state_continues_exactly(name, kwargs, direction):
    dtype = np.float64
    scratch_params, torch_params, scratch_opt, torch_opt, rng = make_pair(name, kwargs, dtype)
    if direction == "scratch to torch":
        _train_alone(scratch_params, scratch_opt, rng, BEFORE)
        torch_params, torch_opt = _fresh_torch(name, kwargs, scratch_params)
        optimizer_state_to_torch(scratch_opt.state_dict(), torch_opt)
    else:
        _train_alone(torch_params, torch_opt, rng, BEFORE)
        scratch_params, scratch_opt = _fresh_scratch(name, kwargs, torch_params)
        optimizer_state_from_torch(torch_opt.state_dict(), scratch_opt)
    feed_same_gradients(scratch_params, torch_params, scratch_opt, torch_opt, rng, steps=AFTER, dtype=dtype)
    assert_same(scratch_params, torch_params, scratch_opt, torch_opt, dtype)


def test_a_fresh_state_would_not_continue():
    """The tests above can fail: without the moved state, Adam's next steps differ from the first run's."""
    scratch_params, _, scratch_opt, _, rng = make_pair("Adam", dict(lr=0.01), np.float64)
    _train_alone(scratch_params, scratch_opt, rng, BEFORE)
    torch_params, torch_opt = _fresh_torch("Adam", dict(lr=0.01), scratch_params)
    feed_same_gradients(scratch_params, torch_params, scratch_opt, torch_opt, rng, steps=1, dtype=np.float64)
    with pytest.raises(AssertionError):
        assert_same(scratch_params, torch_params, scratch_opt, torch_opt, np.float64)


def test_groups_learning_rates_and_dtypes_move():
    """Two groups with their own rates, a rate a scheduler lowered, float32 parameters from float64 torch state."""
    groups = [([0, 2], dict(lr=0.05)), ([1], dict(lr=0.2, momentum=0.5))]
    _, torch_params, _, torch_opt, rng = make_pair("SGD", dict(lr=0.1, momentum=0.9), np.float64, groups=groups)
    _train_alone(torch_params, torch_opt, rng, 3)
    torch_opt.param_groups[1]["lr"] = 0.02  # as a scheduler leaves it
    scratch_params = [Parameter(param.detach().numpy().astype(np.float32)) for param in torch_params]
    scratch_opt = optim.SGD([{"params": [scratch_params[0], scratch_params[2]], "lr": 0.05},
                             {"params": [scratch_params[1]], "lr": 0.2, "momentum": 0.5}], lr=0.1, momentum=0.9)
    loaded = optimizer_state_from_torch(torch_opt.state_dict(), scratch_opt)
    assert [group["lr"] for group in scratch_opt.param_groups] == [0.05, 0.02]
    assert "foreach" not in scratch_opt.param_groups[0] and "foreach" not in loaded["param_groups"][0]
    buffer = scratch_opt.state[scratch_params[1]]["momentum_buffer"]
    assert buffer.dtype == np.float32
    np.testing.assert_allclose(buffer, torch_opt.state[torch_params[1]]["momentum_buffer"].numpy(), rtol=1e-6)
    # a copy: stepping the torch optimiser on does not move the scratch state
    before, loaded_before = buffer.copy(), loaded["state"][2]["momentum_buffer"].copy()  # 2: the second group's
    for param in torch_params:
        param.grad = torch.ones_like(param)
    torch_opt.step()
    assert np.array_equal(scratch_opt.state[scratch_params[1]]["momentum_buffer"], before)
    assert np.array_equal(loaded["state"][2]["momentum_buffer"], loaded_before)


def test_a_state_torch_keeps_as_none_is_left_out():
    """torch's SGD without momentum saved ``momentum_buffer: None`` (before torch 2.0): a fresh scratch state."""
    scratch_params, sgd = _trained_scratch("SGD", dict(lr=0.1, momentum=0.9))
    saved = sgd.state_dict()
    saved["state"] = {0: {"momentum_buffer": None}}
    loaded = optimizer_state_from_torch(saved, sgd)
    assert loaded["state"] == {0: {}} and sgd.state[scratch_params[0]] == {}


def test_torch_runtime_entries_stay_the_torch_optimisers():
    scratch_params, _, scratch_opt, _, rng = make_pair("Adam", dict(lr=0.01), np.float32)
    params = [torch.nn.Parameter(torch.tensor(param.data.copy())) for param in scratch_params]
    torch_opt = torch.optim.Adam(params, lr=0.5, foreach=False)
    scratch_opt.param_groups[0]["lr"] = 0.003
    optimizer_state_to_torch(scratch_opt.state_dict(), torch_opt)
    assert torch_opt.param_groups[0]["lr"] == 0.003 and torch_opt.param_groups[0]["foreach"] is False


def test_scheduler_state_moves_with_the_optimiser():
    """A scheduler's state is plain numbers on both sides: torch's StepLR goes on from the scratch one's step."""
    scratch_params, _, scratch_opt, _, rng = make_pair("SGD", dict(lr=1.0, momentum=0.9), np.float64)
    scheduler = StepLR(scratch_opt, step_size=3, gamma=0.5)
    for _ in range(4):
        _train_alone(scratch_params, scratch_opt, rng, 1)
        scheduler.step()
    torch_params, torch_opt = _fresh_torch("SGD", dict(lr=1.0, momentum=0.9), scratch_params)
    torch_scheduler = torch.optim.lr_scheduler.StepLR(torch_opt, step_size=3, gamma=0.5)
    optimizer_state_to_torch(scratch_opt.state_dict(), torch_opt)
    torch_scheduler.load_state_dict(scheduler.state_dict())
    for _ in range(4):
        feed_same_gradients(scratch_params, torch_params, scratch_opt, torch_opt, rng, steps=1, dtype=np.float64)
        scheduler.step()
        torch_scheduler.step()
        assert torch_opt.param_groups[0]["lr"] == scratch_opt.param_groups[0]["lr"]
    assert scratch_opt.param_groups[0]["lr"] == 0.25
    assert_same(scratch_params, torch_params, scratch_opt, torch_opt, np.float64)


# --- what cannot move is refused, before anything is loaded ------------------------------------
def _trained_scratch(name="Adam", kwargs=None):
    scratch_params, _, scratch_opt, _, rng = make_pair(name, kwargs or {}, np.float64)
    for param in scratch_params:
        param.grad[...] = 1.0
    scratch_opt.step()
    return scratch_params, scratch_opt


def test_another_kind_of_optimiser_is_refused():
    scratch_params, sgd = _trained_scratch("SGD", dict(lr=0.1, momentum=0.9))
    torch_params, adam = _fresh_torch("Adam", {}, scratch_params)
    with pytest.raises(ValueError, match=r"no 'amsgrad', 'betas'.*another kind of optimiser"):
        optimizer_state_to_torch(sgd.state_dict(), adam)
    assert adam.state_dict()["state"] == {} and adam.param_groups[0]["lr"] == 0.001
    with pytest.raises(ValueError, match="no 'dampening', 'momentum', 'nesterov'"):
        optimizer_state_from_torch(adam.state_dict(), sgd)


def test_other_parameters_are_refused():
    scratch_params, adam = _trained_scratch()
    before = {key: value.copy() for key, value in adam.state[scratch_params[0]].items() if key != "step"}
    # one parameter fewer
    torch_params, fewer = _fresh_torch("Adam", {}, scratch_params[:2])
    with pytest.raises(ValueError, match="group 0 of the optimiser has 2 parameters, the state's 3"):
        optimizer_state_to_torch(adam.state_dict(), fewer)
    # the same count, another shape
    other = [torch.nn.Parameter(torch.zeros(shape)) for shape in [(3, 4), (5,), (2, 3, 2)]]
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(4, 3\), the parameter \(3, 4\)"):
        optimizer_state_to_torch(adam.state_dict(), torch.optim.Adam(other))
    # two groups against one
    torch_params, two = _fresh_torch("Adam", {}, scratch_params)
    two = torch.optim.Adam([{"params": torch_params[:1]}, {"params": torch_params[1:]}])
    with pytest.raises(ValueError, match="the optimiser has 2 parameter groups, the state 1"):
        optimizer_state_to_torch(adam.state_dict(), two)
    # and the scratch side refuses a torch state of another shape, keeping its own
    torch_adam = torch.optim.Adam(other)
    for param in other:
        param.grad = torch.ones_like(param)
    torch_adam.step()
    with pytest.raises(ValueError, match=r"has shape \(3, 4\), the parameter \(4, 3\)"):
        optimizer_state_from_torch(torch_adam.state_dict(), adam)
    for key, value in before.items():
        assert np.array_equal(adam.state[scratch_params[0]][key], value)


def test_an_optimiser_instead_of_its_state_is_refused():
    scratch_params, adam = _trained_scratch()
    torch_params, torch_adam = _fresh_torch("Adam", {}, scratch_params)
    with pytest.raises(TypeError, match=r"got the optimiser Adam itself: pass optimizer.state_dict\(\)"):
        optimizer_state_to_torch(adam, torch_adam)
    with pytest.raises(TypeError, match=r"got the optimiser Adam itself"):
        optimizer_state_from_torch(torch_adam, adam)
    with pytest.raises(TypeError, match="a mapping with 'state' and 'param_groups', got list"):
        optimizer_state_from_torch([], adam)
    # the target on the wrong side (an audit, 2026-12-06: torch's and NumPy's own errors before)
    with pytest.raises(TypeError, match="loads into a scratch optimiser .*, got torch.optim.adam.Adam"):
        optimizer_state_from_torch(torch_adam.state_dict(), torch_adam)
    with pytest.raises(TypeError, match="loads into a torch.optim optimiser, got Adam: the arguments are"):
        optimizer_state_to_torch(adam.state_dict(), adam)


def test_adamw_stays_adamw_when_it_loads_an_adam_state():
    """An Adam state's groups say decoupled_weight_decay=False, and loading one made a scratch AdamW
    an Adam with L2 decay (its next step 1.6·10⁻² away from torch's AdamW; an audit, 2026-12-06).
    torch's AdamW keeps its decay decoupled whatever it loads; so does the scratch one."""
    scratch_params, adam = _trained_scratch("Adam", dict(lr=0.1, weight_decay=0.5))
    torch_params, torch_adam = _fresh_torch("Adam", dict(lr=0.1, weight_decay=0.5), scratch_params)
    optimizer_state_to_torch(adam.state_dict(), torch_adam)
    reference_params, reference = _fresh_torch("AdamW", dict(lr=0.1, weight_decay=0.5), scratch_params)
    reference.load_state_dict(torch_adam.state_dict())
    assert reference.param_groups[0]["decoupled_weight_decay"]
    for load in ("scratch state", "torch state"):
        params, adamw = _fresh_scratch("AdamW", dict(lr=0.1, weight_decay=0.5), torch_params)
        if load == "scratch state":
            adamw.load_state_dict(adam.state_dict())
        else:
            optimizer_state_from_torch(torch_adam.state_dict(), adamw)
        assert adamw.param_groups[0]["decoupled_weight_decay"]
        rng = np.random.default_rng(3)
        _train_alone(params, adamw, rng, 1)
        rng = np.random.default_rng(3)
        _train_alone(reference_params, reference, rng, 1)
        for mine, theirs in zip(params, reference_params):
            np.testing.assert_allclose(mine.data, theirs.detach().numpy(), rtol=1e-6)
        reference_params, reference = _fresh_torch("AdamW", dict(lr=0.1, weight_decay=0.5), scratch_params)
        reference.load_state_dict(torch_adam.state_dict())


def test_a_state_dict_lists_only_parameters_that_have_state_as_torchs():
    """Plain SGD keeps no state: its state_dict's "state" is empty, as torch's, not one empty dict a parameter."""
    params = [Parameter(np.ones(2)), Parameter(np.ones(3))]
    optimizer = optim.SGD(params, lr=0.1)
    for param in params:
        param.grad = np.ones_like(param.data)
    optimizer.step()
    reference = torch.optim.SGD([torch.ones(2, requires_grad=True)], lr=0.1)
    reference.param_groups[0]["params"][0].grad = torch.ones(2)
    reference.step()
    assert optimizer.state_dict()["state"] == reference.state_dict()["state"] == {}


def test_a_stray_key_is_refused_on_the_way_to_torch():
    """(That state_dict_from_torch copies is tests/training/test_fit.py's test_from_torch_copies.)"""
    from course_lib.interop import state_dict_from_torch, state_dict_to_torch

    layer = torch.nn.Linear(2, 2)
    state = state_dict_from_torch(layer.state_dict())
    with pytest.raises(KeyError):
        state_dict_to_torch({**state, "stray": np.zeros(1)}, layer)
