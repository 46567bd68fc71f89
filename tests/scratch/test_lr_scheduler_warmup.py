"""Warm-up, milestones, sequences, chains and plateaus: MultiStepLR, ConstantLR, LinearLR, SequentialLR,
ChainedScheduler and ReduceLROnPlateau against torch.optim.lr_scheduler, rate for rate (bit for bit)."""
import math

import numpy as np
import pytest
import torch

from course_lib.scratch import Linear, Sequential, init, lr_scheduler as scratch
from course_lib.scratch.activations import ReLU
from course_lib.scratch.losses import CrossEntropyLoss
from course_lib.scratch.module import Parameter
from course_lib.scratch.optim import SGD
from course_lib.training import Checkpoint, fit

from .test_lr_scheduler import optimiser_pair

nn_sched = torch.optim.lr_scheduler
STEPS = 40


def _pair(build):
    """``build(module, optimizer)`` on both sides: the same schedule written once for both libraries."""
    return lambda o: build(scratch, o), lambda o: build(nn_sched, o)


SCHEDULES = {
    "MultiStepLR": _pair(lambda m, o: m.MultiStepLR(o, milestones=[3, 7, 7, 12], gamma=0.5)),
    "MultiStepLR-unsorted": _pair(lambda m, o: m.MultiStepLR(o, milestones=[9, 2], gamma=0.3)),
    "ConstantLR": _pair(lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=4)),
    "ConstantLR-default": _pair(lambda m, o: m.ConstantLR(o)),
    "LinearLR-warm-up": _pair(lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=6)),
    "LinearLR-decay": _pair(lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=10)),
    "LinearLR-default": _pair(lambda m, o: m.LinearLR(o)),
    "warm-up then cosine": _pair(lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.01, total_iters=5), m.CosineAnnealingLR(o, T_max=20, eta_min=0.001)],
        milestones=[5])),
    "constant, exponential, step": _pair(lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=3), m.ExponentialLR(o, gamma=0.9), m.StepLR(o, 4, 0.5)],
        milestones=[4, 15])),
    "warm-up then multistep": _pair(lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.2, total_iters=4), m.MultiStepLR(o, [3, 10])], milestones=[6])),
    "warm-up then multistep from its step 0": _pair(lambda m, o: m.SequentialLR(
        o, [m.ConstantLR(o, factor=0.5, total_iters=2), m.MultiStepLR(o, [0, 0, 5], gamma=0.5)], milestones=[2])),
    "warm-up then lambda": _pair(lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.5, total_iters=3), m.LambdaLR(o, lambda t: 1 / math.sqrt(1 + 0.5 * t))],
        milestones=[3])),
    "a sequence that starts with a sequence": _pair(lambda m, o: m.SequentialLR(
        o, [m.SequentialLR(o, [m.LinearLR(o, 0.2, total_iters=3), m.ExponentialLR(o, 0.9)], [3]), m.StepLR(o, 3, 0.5)],
        [6])),
    "a sequence that starts with a chain": _pair(lambda m, o: m.SequentialLR(
        o, [m.ChainedScheduler([m.ConstantLR(o, 0.5, 2), m.ExponentialLR(o, 0.9)]), m.StepLR(o, 3, 0.5)], [6])),
    "chained constant and exponential": _pair(lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.1, total_iters=2), m.ExponentialLR(o, gamma=0.9)])),
    "chained linear and step, optimizer given": _pair(lambda m, o: m.ChainedScheduler(
        [m.LinearLR(o, start_factor=0.3, total_iters=5), m.StepLR(o, 3, 0.7)], optimizer=o)),
}


def _step_together(pair, scheds, steps=STEPS):
    (scratch_opt, torch_opt), (scratch_sched, torch_sched) = pair, scheds
    rates = []
    for _ in range(steps + 1):
        assert scratch_sched.get_last_lr() == torch_sched.get_last_lr()  # identical, not just close
        assert [g["lr"] for g in scratch_opt.param_groups] == [g["lr"] for g in torch_opt.param_groups]
        if hasattr(torch_sched, "last_epoch"):  # torch's ChainedScheduler has none
            assert scratch_sched.last_epoch == torch_sched.last_epoch
        rates.append(scratch_opt.param_groups[0]["lr"])
        scratch_opt.step()
        torch_opt.step()
        scratch_sched.step()
        torch_sched.step()
    return rates


@pytest.mark.parametrize("name", SCHEDULES)
def test_same_rates_as_torch_at_every_step(name):
    pair = optimiser_pair()
    make_scratch, make_torch = SCHEDULES[name]
    rates = _step_together(pair, (make_scratch(pair[0]), make_torch(pair[1])))
    assert len(set(rates)) > 1


def test_the_warm_up_rises_linearly_then_the_cosine_decays_from_the_full_rate():
    """The closed forms the docstrings state, checked apart from torch (which could share a mistake)."""
    optimizer = SGD([Parameter(np.zeros(1))], lr=0.1)
    schedule = scratch.SequentialLR(optimizer, [scratch.LinearLR(optimizer, start_factor=0.01, total_iters=5),
                                                scratch.CosineAnnealingLR(optimizer, T_max=20)], milestones=[5])
    for t in range(26):
        expected = 0.1 * (0.01 + 0.99 * t / 5) if t < 5 else 0.1 * (1 + math.cos(math.pi * (t - 5) / 20)) / 2
        assert schedule.get_last_lr()[0] == pytest.approx(expected, rel=1e-12, abs=1e-16), t
        optimizer.step()
        schedule.step()


@pytest.mark.parametrize("build, last_epoch", [
    (lambda m, o, k: m.MultiStepLR(o, [3, 7], 0.5, last_epoch=k), 2),
    (lambda m, o, k: m.MultiStepLR(o, [3, 7], 0.5, last_epoch=k), 6),
    (lambda m, o, k: m.LinearLR(o, 0.25, 1.0, 6, last_epoch=k), 3),
    (lambda m, o, k: m.ConstantLR(o, 0.5, 4, last_epoch=k), 3),
])
def test_a_resumed_schedule_goes_on_like_torchs(build, last_epoch):
    """last_epoch=k with the optimiser state loaded ('initial_lr' there, lr mid-schedule), as torch."""
    pair = optimiser_pair(lrs=(0.07, 0.02))
    for opt in pair:
        for group, initial in zip(opt.param_groups, (0.1, 0.03)):
            group["initial_lr"] = initial
    _step_together(pair, (build(scratch, pair[0], last_epoch), build(nn_sched, pair[1], last_epoch)), 15)


@pytest.mark.parametrize("name", ["warm-up then cosine", "constant, exponential, step", "warm-up then multistep",
                                  "chained linear and step, optimizer given"])
@pytest.mark.parametrize("source", ["scratch", "torch"])
def test_a_saved_sequence_or_chain_loads_and_goes_on_like_torchs(name, source):
    """state_dict mid-run (each inner schedule's state nested, as torch's), loaded into a fresh
    scheduler — from the scratch one or from torch's own state — goes on with torch's rates."""
    make_scratch, make_torch = SCHEDULES[name]
    pair = optimiser_pair()
    first = make_scratch(pair[0]), make_torch(pair[1])
    _step_together(pair, first, steps=7)
    saved = first[0].state_dict() if source == "scratch" else first[1].state_dict()
    assert len(saved["_schedulers"]) in (2, 3) and "optimizer" not in saved
    fresh = optimiser_pair()
    for opt, old in zip(fresh, pair):  # the optimiser's state, loaded as a resumed run does
        for group, old_group in zip(opt.param_groups, old.param_groups):
            group.update(lr=old_group["lr"], initial_lr=old_group["initial_lr"])
    scratch_sched, torch_sched = make_scratch(fresh[0]), make_torch(fresh[1])
    scratch_sched.load_state_dict(saved)
    torch_sched.load_state_dict(first[1].state_dict())
    for opt, old in zip(fresh, pair):  # the constructors' step moved the rates: the loaded state's rates
        for group, old_group in zip(opt.param_groups, old.param_groups):
            group["lr"] = old_group["lr"]
    _step_together(fresh, (scratch_sched, torch_sched), steps=20)


METRICS = [1.0, 0.9, 0.95, 0.93, 0.91, 0.8999, 0.89, 0.9, 0.9, 0.9, 0.85, 0.86, 0.86, 0.87, 0.7, 0.7, 0.7, 0.7,
           0.7, 0.71, 0.69, float("nan"), 0.68, 0.7, 0.7]


@pytest.mark.parametrize("kwargs", [
    dict(patience=1, factor=0.5),
    dict(patience=0, factor=0.5, cooldown=2),
    dict(patience=2, factor=0.1, threshold=0.05),
    dict(patience=1, factor=0.5, threshold_mode="abs", threshold=0.02),
    dict(mode="max", patience=1, factor=0.5),
    dict(mode="max", patience=0, factor=0.3, threshold_mode="abs", threshold=0.0),
    dict(patience=0, factor=0.5, min_lr=[0.04, 0.005]),
    dict(patience=0, factor=0.9, min_lr=0.09, eps=1e-3),
])
def test_reduce_on_plateau_reduces_when_torchs_does(kwargs):
    scratch_opt, torch_opt = optimiser_pair()
    scratch_sched = scratch.ReduceLROnPlateau(scratch_opt, **kwargs)
    torch_sched = nn_sched.ReduceLROnPlateau(torch_opt, **kwargs)
    metrics = METRICS if kwargs.get("mode") != "max" else [-m for m in METRICS]
    rates = set()
    for metric in metrics:
        scratch_sched.step(np.float32(metric) if metric == 0.86 else metric)  # NumPy numbers welcome
        torch_sched.step(metric if metric != 0.86 else float(np.float32(metric)))
        assert scratch_sched.get_last_lr() == torch_sched.get_last_lr()
        assert [g["lr"] for g in scratch_opt.param_groups] == [g["lr"] for g in torch_opt.param_groups]
        assert (scratch_sched.num_bad_epochs, scratch_sched.cooldown_counter, scratch_sched.last_epoch) == \
            (torch_sched.num_bad_epochs, torch_sched.cooldown_counter, torch_sched.last_epoch)
        rates.add(scratch_opt.param_groups[0]["lr"])
    assert len(rates) > 1


def test_reduce_on_plateau_state_loads_from_either_side_and_goes_on():
    scratch_opt, torch_opt = optimiser_pair()
    scratch_sched = scratch.ReduceLROnPlateau(scratch_opt, patience=1, factor=0.5, cooldown=1)
    torch_sched = nn_sched.ReduceLROnPlateau(torch_opt, patience=1, factor=0.5, cooldown=1)
    for metric in METRICS[:9]:
        scratch_sched.step(metric)
        torch_sched.step(metric)
    rates = [g["lr"] for g in scratch_opt.param_groups]
    assert rates == [g["lr"] for g in torch_opt.param_groups] and rates != [0.1, 0.03]
    for saved in (scratch_sched.state_dict(), torch_sched.state_dict()):
        fresh_opt, reference_opt = optimiser_pair(lrs=rates)  # the optimiser's state, as a resumed run loads it
        fresh = scratch.ReduceLROnPlateau(fresh_opt, patience=7)
        fresh.load_state_dict(saved)
        reference = nn_sched.ReduceLROnPlateau(reference_opt, patience=7)
        reference.load_state_dict(torch_sched.state_dict())
        assert (fresh.best, fresh.patience, fresh.num_bad_epochs) == (reference.best, 1, reference.num_bad_epochs)
        for metric in METRICS[9:]:
            fresh.step(metric)
            reference.step(metric)
            assert fresh.get_last_lr() == reference.get_last_lr()


def _blobs(n=64, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    return np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])[y] + rng.normal(scale=1.5, size=(n, 2)), y


def _model():
    init.manual_seed(0)
    return Sequential(Linear(2, 8, dtype=np.float64), ReLU(), Linear(8, 3, dtype=np.float64))


def test_fit_steps_the_scratch_plateau_schedule_with_the_validation_loss():
    (x, y), val = _blobs(), _blobs(32, seed=1)
    model = _model()
    optimizer = SGD(model.parameters(), lr=0.5)
    history = fit(model, (x, y), loss_fn=CrossEntropyLoss(), optimizer=optimizer, epochs=8, batch_size=16,
                  val_data=val, scheduler=scratch.ReduceLROnPlateau(optimizer, patience=0, factor=0.5, threshold=0.2),
                  progress=False, seed=0)
    replay_opt = SGD([Parameter(np.zeros(1))], lr=0.5)
    replay = scratch.ReduceLROnPlateau(replay_opt, patience=0, factor=0.5, threshold=0.2)
    expected = []
    for val_loss in history.val["loss"]:
        expected.append(replay_opt.param_groups[0]["lr"])
        replay.step(val_loss)
    assert history.lr == expected and min(expected) < 0.5


def _scratch_setup():
    model = _model()
    optimizer = SGD(model.parameters(), lr=0.3, momentum=0.9)
    schedule = scratch.SequentialLR(optimizer, [scratch.LinearLR(optimizer, start_factor=0.1, total_iters=3),
                                                scratch.MultiStepLR(optimizer, [2, 4], gamma=0.5)], milestones=[3])
    return model, optimizer, schedule, CrossEntropyLoss(), "npz"


def _torch_setup():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    schedule = nn_sched.SequentialLR(optimizer, [nn_sched.LinearLR(optimizer, 0.1, total_iters=3),
                                                 nn_sched.MultiStepLR(optimizer, [2, 4], 0.5)], [5])
    return model, optimizer, schedule, torch.nn.CrossEntropyLoss(), "pt"


@pytest.mark.parametrize("setup, stop", [(_scratch_setup, 4), (_torch_setup, 3)], ids=["scratch", "torch"])
def test_fit_resumes_a_warm_up_sequence_where_it_stopped(tmp_path, setup, stop):
    """The sequence's nested state goes through fit's checkpoint and the resumed run ends with the weights
    and rates of the run that never stopped.  On torch's side the checkpoint turned MultiStepLR's Counter
    into a dict, and torch's SequentialLR failed at its milestone after a resume (audit)."""
    (x, y), val = _blobs(), _blobs(32, seed=1)

    def run(folder, epochs, resume=None):
        model, optimizer, schedule, loss_fn, suffix = setup()
        history = fit(model, (x, y), loss_fn=loss_fn, optimizer=optimizer, epochs=epochs, batch_size=16,
                      val_data=val, scheduler=schedule, progress=False, seed=0, resume=resume,
                      checkpoint=Checkpoint(folder / f"epoch{{epoch}}.{suffix}", save="every"))
        weights = {key: value.detach().numpy() if hasattr(value, "detach") else value
                   for key, value in model.state_dict().items()}
        return {key: np.array(value) for key, value in weights.items()}, history

    whole_weights, whole = run(tmp_path / "whole", 10)
    run(tmp_path / "part", stop)
    suffix = setup()[-1]
    resumed_weights, resumed = run(tmp_path / "part", 10, resume=tmp_path / "part" / f"epoch{stop}.{suffix}")
    assert resumed.lr == whole.lr and len(set(whole.lr)) > 3
    for key, value in whole_weights.items():
        assert np.array_equal(value, resumed_weights[key]), key


@pytest.mark.parametrize("make, error, match", [
    (lambda o: scratch.MultiStepLR(o, milestones=5), ValueError, "milestones must be a list"),
    (lambda o: scratch.MultiStepLR(o, milestones=[2, 2.5]), ValueError, "integers >= 0"),
    (lambda o: scratch.MultiStepLR(o, milestones=[3], gamma=-1), ValueError, "gamma must be a number >= 0, got -1"),
    (lambda o: scratch.ConstantLR(o, factor=1.5), ValueError, "factor must be a number > 0 and <= 1, got 1.5"),
    (lambda o: scratch.ConstantLR(o, total_iters=0), ValueError, "total_iters must be a positive integer"),
    (lambda o: scratch.LinearLR(o, start_factor=0), ValueError, "start_factor must be a number > 0 and <= 1, got 0"),
    (lambda o: scratch.LinearLR(o, end_factor=2), ValueError, "end_factor must be a number >= 0 and <= 1, got 2"),
    (lambda o: scratch.SequentialLR(o, [scratch.StepLR(o, 2)], milestones=[3]), ValueError,
     "one milestone fewer than schedulers: got 1 schedulers and 1 milestones"),
    (lambda o: scratch.SequentialLR(o, [], milestones=[]), ValueError, "at least one scheduler"),
    (lambda o: scratch.SequentialLR(o, [scratch.StepLR(o, 2), scratch.StepLR(optimiser_pair()[0], 2)], [3]),
     ValueError, r"schedulers\[1\] \(StepLR\) drives another one"),
    (lambda o: scratch.SequentialLR(o, [scratch.StepLR(o, 2), scratch.ReduceLROnPlateau(o)], [3]), ValueError,
     "cannot run ReduceLROnPlateau"),
    (lambda o: scratch.SequentialLR(o, [nn_sched.StepLR(optimiser_pair()[1], 2)], []), TypeError,
     "not a scheduler of course_lib.scratch.lr_scheduler"),
    (lambda o: scratch.ChainedScheduler([]), ValueError, "at least one scheduler"),
    (lambda o: scratch.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor must be >= 0 and < 1"),
    (lambda o: scratch.ReduceLROnPlateau(o, mode="avg"), ValueError, "mode must be 'min' or 'max'"),
    (lambda o: scratch.ReduceLROnPlateau(o, threshold_mode="pct"), ValueError, "threshold_mode must be"),
    (lambda o: scratch.ReduceLROnPlateau(o, patience=-1), ValueError, "patience must be an integer >= 0"),
    (lambda o: scratch.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs"),
    (lambda o: scratch.ReduceLROnPlateau(o).step("0.5 loss"), TypeError, "expected the metric as a number, got str"),
    # an audit of the new schedulers (2026-12-07): these failed later, mid-training, or with a bare TypeError
    (lambda o: scratch.ConstantLR(o, factor="0.5"), ValueError, "factor must be a number > 0 and <= 1, got '0.5'"),
    (lambda o: scratch.ConstantLR(o, factor=0), ValueError, "factor must be a number > 0"),
    (lambda o: scratch.MultiStepLR(o, [2], gamma=None), ValueError, "gamma must be a number >= 0, got None"),
    (lambda o: scratch.LinearLR(o, start_factor=None), ValueError, "start_factor must be a number > 0"),
    (lambda o: scratch.ReduceLROnPlateau(o, min_lr="0.1"), ValueError, "min_lr must be a number >= 0, got '0.1'"),
    (lambda o: scratch.ReduceLROnPlateau(o, min_lr=[0.01, None]), ValueError, r"min_lr\[1\] must be a number"),
    (lambda o: scratch.ReduceLROnPlateau(o, factor="0.5"), ValueError, "factor must be >= 0 and < 1"),
    (lambda o: scratch.SequentialLR(None, [scratch.StepLR(o, 2)], []), TypeError, "needs the optimizer"),
    (lambda o: scratch.ReduceLROnPlateau(o).step(torch.tensor([1.0, 2.0])), TypeError,
     r"got Tensor \(.*one element"),
    (lambda o: scratch.SequentialLR(o, [scratch.LinearLR(o), scratch.ChainedScheduler([scratch.StepLR(o, 2)])], [3]),
     ValueError, r"schedulers\[1\] is a ChainedScheduler; only the first schedule may be"),
])
def test_bad_arguments_are_named(make, error, match):
    with pytest.raises(error, match=match):
        make(optimiser_pair()[0])


def test_a_counter_survives_a_scratch_checkpoints_packing():
    from collections import Counter

    from course_lib.training import state

    record = {"milestones": Counter({2: 1, 7: 2}), "plain": {2: 1}}
    arrays = state.pack(state.plain(record))
    back = state.unpack({key: np.asarray(value) for key, value in arrays.items()})
    assert isinstance(back["milestones"], Counter) and back["milestones"] == record["milestones"]
    assert type(back["plain"]) is dict


def _torch_optimiser_with_tensor_rates():
    """A torch optimiser whose rates are tensors (as a compiled or fused step needs them), two groups."""
    groups = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": torch.tensor(rate, dtype=torch.float64)}
              for rate in (0.1, 0.03)]
    return torch.optim.SGD(groups, lr=torch.tensor(0.1, dtype=torch.float64))


_ON_TENSOR_RATES = {**SCHEDULES, "StepLR": _pair(lambda m, o: m.StepLR(o, 3, 0.5)),
                    "CosineAnnealingLR": _pair(lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=0.01)),
                    "LambdaLR": _pair(lambda m, o: m.LambdaLR(o, lambda t: 0.9 ** t)),
                    "plateau": _pair(lambda m, o: m.ReduceLROnPlateau(o, patience=1, factor=0.5))}


@pytest.mark.parametrize("name", _ON_TENSOR_RATES)
def test_a_torch_optimisers_tensor_rate_is_filled_in_place_as_torchs_schedulers_fill_it(name):
    """A scratch schedule replaced a tensor rate by another object (a float, for the plateau), so a fused or
    compiled torch step holding the tensor kept the old rate; and the first rate, not copied, was
    rewritten with it."""
    make_scratch, make_torch = _ON_TENSOR_RATES[name]
    scratch_opt, torch_opt = _torch_optimiser_with_tensor_rates(), _torch_optimiser_with_tensor_rates()
    held = [group["lr"] for group in scratch_opt.param_groups]
    scratch_sched, torch_sched = make_scratch(scratch_opt), make_torch(torch_opt)
    seen = set()
    for step in range(STEPS):
        for opt in (scratch_opt, torch_opt):
            opt.step()
        if name == "plateau":
            scratch_sched.step(1.0)
            torch_sched.step(1.0)
        else:
            scratch_sched.step()
            torch_sched.step()
        for mine, theirs, tensor in zip(scratch_opt.param_groups, torch_opt.param_groups, held):
            assert mine["lr"] is tensor and torch.equal(mine["lr"], theirs["lr"]), (step, mine["lr"], theirs["lr"])
        last = scratch_sched.get_last_lr()
        assert all(torch.equal(a, b) for a, b in zip(last, torch_sched.get_last_lr()))
        assert not any(rate is tensor for rate in last for tensor in held)  # copies, as torch's
        seen.add(float(held[0]))
    assert [float(g.get("initial_lr", rate)) for g, rate in zip(scratch_opt.param_groups, (0.1, 0.03))] == [0.1, 0.03]
    assert len(seen) > 1  # the schedule did move the rate
