"""Scratch learning-rate schedulers against torch.optim.lr_scheduler: the same lr at every step."""
import math

import numpy as np
import pytest
import torch

from course_lib.scratch import lr_scheduler, optim
from course_lib.scratch.module import Parameter

STEPS = 30


def inverse_sqrt(delta):
    return lambda t: 1 / math.sqrt(1 + delta * t)


# (scratch scheduler factory, torch scheduler factory)
SCHEDULES = {
    "StepLR": (lambda o: lr_scheduler.StepLR(o, step_size=7, gamma=0.5),
               lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
    "StepLR-default-gamma": (lambda o: lr_scheduler.StepLR(o, step_size=1),
                             lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=1)),
    "ExponentialLR": (lambda o: lr_scheduler.ExponentialLR(o, gamma=0.9),
                      lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    "LambdaLR": (lambda o: lr_scheduler.LambdaLR(o, lambda t: 0.95 ** t + 0.01 * (t % 3)),
                 lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 0.95 ** t + 0.01 * (t % 3))),
    "InverseSqrtLR": (lambda o: lr_scheduler.InverseSqrtLR(o, delta=0.3),
                      lambda o: torch.optim.lr_scheduler.LambdaLR(o, inverse_sqrt(0.3))),
    "InverseSqrtLR-delta0": (lambda o: lr_scheduler.InverseSqrtLR(o, delta=0.0),
                             lambda o: torch.optim.lr_scheduler.LambdaLR(o, inverse_sqrt(0.0))),
    "CosineAnnealingLR": (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10),
                          lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10)),
    "CosineAnnealingLR-eta_min": (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01),
                                  lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.01)),
}


def optimiser_pair(lrs=(0.1, 0.03)):
    """Two parameter groups with different initial rates, on both sides."""
    scratch_groups = [{"params": [Parameter(np.zeros(2))], "lr": lr} for lr in lrs]
    torch_groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs]
    return optim.SGD(scratch_groups), torch.optim.SGD(torch_groups)


@pytest.mark.parametrize("name", SCHEDULES)
def test_same_lr_sequence_as_torch(name):
    make_scratch, make_torch = SCHEDULES[name]
    scratch_opt, torch_opt = optimiser_pair()
    scratch_sched, torch_sched = make_scratch(scratch_opt), make_torch(torch_opt)
    sequence = []
    for _ in range(STEPS + 1):
        assert scratch_sched.get_last_lr() == torch_sched.get_last_lr()  # identical, not just close
        assert [g["lr"] for g in scratch_opt.param_groups] == [g["lr"] for g in torch_opt.param_groups]
        assert scratch_sched.last_epoch == torch_sched.last_epoch
        sequence.append(scratch_sched.get_last_lr()[0])
        scratch_opt.step()
        torch_opt.step()
        scratch_sched.step()
        torch_sched.step()
    assert len(set(sequence)) > 1 or name == "InverseSqrtLR-delta0"


@pytest.mark.parametrize("name", ["StepLR", "InverseSqrtLR", "CosineAnnealingLR"])
def test_closed_forms(name):
    scratch_opt, _ = optimiser_pair(lrs=(0.2,))
    sched = SCHEDULES[name][0](scratch_opt)
    closed = {"StepLR": lambda t: 0.2 * 0.5 ** (t // 7),
              "InverseSqrtLR": lambda t: 0.2 / math.sqrt(1 + 0.3 * t),
              "CosineAnnealingLR": lambda t: 0.2 * (1 + math.cos(math.pi * t / 10)) / 2}[name]
    for t in range(STEPS):
        assert sched.get_last_lr()[0] == pytest.approx(closed(t), rel=1e-12, abs=1e-15)
        scratch_opt.step()  # no gradients: nothing moves, but the schedule follows a step as it must
        sched.step()


@pytest.mark.parametrize("name,optimiser", [("InverseSqrtLR", "SGD"), ("StepLR", "Adam"),
                                            ("ExponentialLR", "RMSprop"), ("CosineAnnealingLR", "AdamW"),
                                            ("LambdaLR", "Adagrad")])
def test_schedule_with_optimiser_gives_torch_parameters(name, optimiser):
    rng = np.random.default_rng(1)
    initial = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    scratch_params = [Parameter(a.copy()) for a in initial]
    torch_params = [torch.nn.Parameter(torch.tensor(a.copy())) for a in initial]
    kwargs = dict(lr=0.05, momentum=0.9) if optimiser == "SGD" else dict(lr=0.05)
    scratch_opt = getattr(optim, optimiser)(scratch_params, **kwargs)
    torch_opt = getattr(torch.optim, optimiser)(torch_params, foreach=False, **kwargs)
    make_scratch, make_torch = SCHEDULES[name]
    scratch_sched, torch_sched = make_scratch(scratch_opt), make_torch(torch_opt)
    for _ in range(STEPS):
        grads = [rng.standard_normal(a.shape) for a in initial]
        for param, grad in zip(scratch_params, grads):
            param.grad[...] = grad
        for param, grad in zip(torch_params, grads):
            param.grad = torch.tensor(grad)
        scratch_opt.step()
        torch_opt.step()
        scratch_sched.step()
        torch_sched.step()
    for scratch_param, torch_param in zip(scratch_params, torch_params):
        np.testing.assert_allclose(scratch_param.data, torch_param.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_two_chained_schedulers_match_torch():
    scratch_opt, torch_opt = optimiser_pair()
    scratch_scheds = [lr_scheduler.ExponentialLR(scratch_opt, gamma=0.9), lr_scheduler.StepLR(scratch_opt, 4, 0.5)]
    torch_scheds = [torch.optim.lr_scheduler.ExponentialLR(torch_opt, gamma=0.9),
                    torch.optim.lr_scheduler.StepLR(torch_opt, 4, 0.5)]
    for _ in range(STEPS):
        scratch_opt.step()
        torch_opt.step()
        for sched in scratch_scheds + torch_scheds:
            sched.step()
        assert scratch_scheds[1].get_last_lr() == torch_scheds[1].get_last_lr()


def test_lambda_per_group_and_state_dict():
    scratch_opt, torch_opt = optimiser_pair()
    lambdas = [lambda t: 0.5 ** t, lambda t: 1.0 / (t + 1)]
    scratch_sched = lr_scheduler.LambdaLR(scratch_opt, lambdas)
    torch_sched = torch.optim.lr_scheduler.LambdaLR(torch_opt, lambdas)
    for _ in range(20):  # the 20 steps of the other schedules (a coverage audit: 5 here)
        scratch_opt.step()
        torch_opt.step()
        scratch_sched.step()
        torch_sched.step()
        assert scratch_sched.get_last_lr() == torch_sched.get_last_lr()
    saved = scratch_sched.state_dict()
    assert saved["last_epoch"] == 20 and "optimizer" not in saved
    other = lr_scheduler.LambdaLR(optimiser_pair()[0], lambdas)
    other.load_state_dict(saved)
    assert other.last_epoch == 20 and other.get_last_lr() == scratch_sched.get_last_lr()


def _step_together(scratch_opt, torch_opt, scratch_scheds, torch_scheds, steps=STEPS):
    """Step both sides ``steps`` times; the rates must be identical before and after every step."""
    for _ in range(steps + 1):
        for scratch_sched, torch_sched in zip(scratch_scheds, torch_scheds):
            assert scratch_sched.get_last_lr() == torch_sched.get_last_lr()
            assert scratch_sched.last_epoch == torch_sched.last_epoch
        assert [g["lr"] for g in scratch_opt.param_groups] == [g["lr"] for g in torch_opt.param_groups]
        scratch_opt.step()
        torch_opt.step()
        for sched in list(scratch_scheds) + list(torch_scheds):
            sched.step()


# (scratch, torch) factories taking last_epoch
RESUMABLE = {
    "StepLR": (lambda o, k: lr_scheduler.StepLR(o, step_size=7, gamma=0.5, last_epoch=k),
               lambda o, k: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5, last_epoch=k)),
    "ExponentialLR": (lambda o, k: lr_scheduler.ExponentialLR(o, gamma=0.9, last_epoch=k),
                      lambda o, k: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9, last_epoch=k)),
    "LambdaLR": (lambda o, k: lr_scheduler.LambdaLR(o, lambda t: 0.95 ** t, last_epoch=k),
                 lambda o, k: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 0.95 ** t, last_epoch=k)),
    "CosineAnnealingLR": (lambda o, k: lr_scheduler.CosineAnnealingLR(o, T_max=10, last_epoch=k),
                          lambda o, k: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, last_epoch=k)),
}


@pytest.mark.parametrize("name, last_epoch", [("StepLR", 6), ("StepLR", 9), ("StepLR", 0), ("ExponentialLR", 4),
                                              ("ExponentialLR", 0), ("LambdaLR", 5), ("CosineAnnealingLR", 3)])
def test_resumed_schedule_continues_like_torch(name, last_epoch):
    """Resuming with last_epoch=k (the optimiser state loaded: 'initial_lr' there, lr mid-schedule):
    the constructor's step goes to t = k + 1 as torch's does — StepLR decays when k + 1 is a
    multiple of step_size, ExponentialLR keeps the loaded lr — and the rates go on as torch's."""
    make_scratch, make_torch = RESUMABLE[name]
    scratch_opt, torch_opt = optimiser_pair(lrs=(0.07, 0.02))
    for opt in (scratch_opt, torch_opt):
        for group, initial in zip(opt.param_groups, (0.1, 0.03)):
            group["initial_lr"] = initial
    scratch_sched, torch_sched = make_scratch(scratch_opt, last_epoch), make_torch(torch_opt, last_epoch)
    assert scratch_sched.base_lrs == torch_sched.base_lrs == [0.1, 0.03]
    _step_together(scratch_opt, torch_opt, [scratch_sched], [torch_sched], steps=15)


@pytest.mark.parametrize("name", ["LambdaLR", "InverseSqrtLR", "CosineAnnealingLR"])
def test_load_state_dict_restores_base_lrs_like_torch(name):
    """A saved schedule loaded into a scheduler whose optimiser started at other rates goes on with
    the saved base_lrs (as torch's load_state_dict, which takes the whole state), not the new ones."""
    make_scratch, make_torch = SCHEDULES[name]
    scratch_opt, torch_opt = optimiser_pair()
    first = make_scratch(scratch_opt), make_torch(torch_opt)
    _step_together(scratch_opt, torch_opt, [first[0]], [first[1]], steps=4)
    saved = [sched.state_dict() for sched in first]
    scratch_opt, torch_opt = optimiser_pair(lrs=(0.5, 0.2))
    scratch_sched, torch_sched = make_scratch(scratch_opt), make_torch(torch_opt)
    scratch_sched.load_state_dict(saved[0])
    torch_sched.load_state_dict(saved[1])
    assert scratch_sched.base_lrs == torch_sched.base_lrs == [0.1, 0.03]
    _step_together(scratch_opt, torch_opt, [scratch_sched], [torch_sched], steps=12)


def test_a_second_scheduler_keeps_the_initial_lr_the_first_recorded_like_torch():
    """'initial_lr' is recorded once (setdefault): a StepLR built after a LambdaLR has already halved
    lr takes the original rates as its base_lrs, as torch's does (not the halved ones)."""
    scratch_opt, torch_opt = optimiser_pair()
    scratch_scheds = [lr_scheduler.LambdaLR(scratch_opt, lambda t: 0.5), lr_scheduler.StepLR(scratch_opt, 3, 0.5)]
    torch_scheds = [torch.optim.lr_scheduler.LambdaLR(torch_opt, lambda t: 0.5),
                    torch.optim.lr_scheduler.StepLR(torch_opt, 3, 0.5)]
    assert [g["initial_lr"] for g in scratch_opt.param_groups] == [g["initial_lr"] for g in torch_opt.param_groups]
    assert scratch_scheds[1].base_lrs == torch_scheds[1].base_lrs == [0.1, 0.03]
    _step_together(scratch_opt, torch_opt, scratch_scheds, torch_scheds, steps=10)


def test_scheduler_records_initial_lr_like_torch():
    scratch_opt, torch_opt = optimiser_pair()
    lr_scheduler.StepLR(scratch_opt, step_size=3)
    torch.optim.lr_scheduler.StepLR(torch_opt, step_size=3)
    assert [g["initial_lr"] for g in scratch_opt.param_groups] == [g["initial_lr"] for g in torch_opt.param_groups]
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.ExponentialLR(optimiser_pair()[0], gamma=0.9, last_epoch=4)


def test_scratch_scheduler_drives_a_torch_optimiser():
    _, torch_opt = optimiser_pair()
    scheduler = lr_scheduler.InverseSqrtLR(torch_opt, delta=1.0)
    scheduler.step()
    assert torch_opt.param_groups[0]["lr"] == 0.1 * (1 / math.sqrt(2.0))


@pytest.mark.parametrize("make", [
    lambda o: lr_scheduler.StepLR(o, step_size=0),
    lambda o: lr_scheduler.StepLR(o, step_size=2.5),
    lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=-0.1),
    lambda o: lr_scheduler.ExponentialLR(o, gamma=-1.0),
    lambda o: lr_scheduler.InverseSqrtLR(o, delta=-0.1),
    lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0),
    lambda o: lr_scheduler.LambdaLR(o, [lambda t: 1.0]),  # two groups, one lambda
    lambda o: lr_scheduler.LambdaLR(o, 0.5),
])
def test_invalid_arguments_raise_value_error(make):
    with pytest.raises(ValueError):
        make(optimiser_pair()[0])


def test_scheduler_needs_an_optimiser():
    with pytest.raises(TypeError, match="param_groups"):
        lr_scheduler.StepLR([Parameter(np.zeros(1))], step_size=2)


def test_step_with_an_epoch_says_what_to_do_instead():
    scheduler = lr_scheduler.StepLR(optimiser_pair()[0], step_size=2)
    with pytest.raises(TypeError, match="takes no epoch"):
        scheduler.step(3)


# --- found by an audit of the schedulers (2026-12-06) --------------------------------------------------
def test_a_group_added_after_the_scheduler_is_refused_as_in_torch():
    """LambdaLR left the new group at its rate forever and CosineAnnealingLR annealed it from its own;
    torch raises on the next step."""
    first, second = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    optimizer = optim.SGD([first], lr=0.1)
    scheduler = lr_scheduler.LambdaLR(optimizer, lambda t: 0.5)
    optimizer.add_param_group({"params": [second], "lr": 1.0})
    optimizer.step()
    with pytest.raises(ValueError, match="the optimizer has 2 parameter groups, the scheduler was made for 1"):
        scheduler.step()


class _Halving:
    """A callable object with state, as torch saves it (functions are saved as None)."""

    def __init__(self):
        self.factor = 1.0

    def __call__(self, step):
        return self.factor


def test_lambda_lr_state_saves_and_loads_like_torchs():
    """A torch LambdaLR state (lr_lambdas: [None]) replaced the function with None: the next step()
    raised TypeError; a callable object's state was not saved."""
    param = Parameter(np.zeros(2))
    optimizer = optim.SGD([param], lr=0.1)
    scheduler = lr_scheduler.LambdaLR(optimizer, lambda t: 0.9 ** t)
    reference = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD([torch.zeros(2, requires_grad=True)], lr=0.1),
                                                  lambda t: 0.9 ** t)
    scheduler.load_state_dict(reference.state_dict())
    optimizer.step()
    scheduler.step()
    assert scheduler.get_last_lr() == pytest.approx([0.1 * 0.9])
    halving = _Halving()
    saved = lr_scheduler.LambdaLR(optim.SGD([Parameter(np.zeros(2))], lr=0.1), halving)
    halving.factor = 0.25
    state = saved.state_dict()
    assert state["lr_lambdas"] == [{"factor": 0.25}]
    fresh = _Halving()
    lr_scheduler.LambdaLR(optim.SGD([Parameter(np.zeros(2))], lr=0.1), fresh).load_state_dict(state)
    assert fresh.factor == 0.25


def test_a_chained_non_scheduler_and_a_lambda_factor_that_is_no_rate_are_named():
    """ChainedScheduler([1]) raised AttributeError, and LambdaLR took a string factor ("can't multiply
    sequence") or a negative one (a negative learning rate) (an audit, 2026-12-07)."""
    optimizer = optim.SGD([Parameter(np.zeros(2))], lr=0.1)
    with pytest.raises(TypeError, match=r"ChainedScheduler: schedulers\[0\] is a int, not a scheduler"):
        lr_scheduler.ChainedScheduler([1])
    for factor in ("0.5", -1.0, math.nan):
        with pytest.raises(ValueError, match=r"lr_lambda\(0\) must return a finite factor ≥ 0"):
            lr_scheduler.LambdaLR(optimizer, lambda step, factor=factor: factor)


def test_reduce_on_plateau_counts_an_equal_value_as_no_improvement_as_torch():
    """threshold=0 in min mode: a loss that stays the same is a bad epoch, so the rate drops."""
    param = Parameter(np.zeros(1))
    scratch = lr_scheduler.ReduceLROnPlateau(optim.SGD([param], lr=1.0), threshold=0, patience=1)
    reference_optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(reference_optimizer, threshold=0, patience=1)
    rates = []
    for loss in (4.0, 4.0, 4.0, 4.0, 3.0):
        scratch.step(loss)
        reference.step(loss)
        rates.append((scratch.optimizer.param_groups[0]["lr"], reference_optimizer.param_groups[0]["lr"]))
    assert [mine for mine, _ in rates] == [theirs for _, theirs in rates] == [1.0, 1.0, 0.1, 0.1, 0.1]


def test_sequential_lr_load_state_dict_leaves_the_callers_dict_as_it_was():
    param = Parameter(np.zeros(1))
    optimizer = optim.SGD([param], lr=1.0)
    schedule = lr_scheduler.SequentialLR(optimizer, [lr_scheduler.ConstantLR(optimizer, factor=0.5, total_iters=2),
                                                     lr_scheduler.ExponentialLR(optimizer, gamma=0.9)], milestones=[2])
    schedule.step()
    saved = schedule.state_dict()
    keys = sorted(saved)
    schedule.load_state_dict(saved)
    schedule.load_state_dict(saved)  # the same dict twice: a restore must not consume it
    assert sorted(saved) == keys
