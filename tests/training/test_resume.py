"""fit(..., resume=path): a run interrupted after a checkpoint goes on as if it had never stopped."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from course_lib.training import state as training_state
from course_lib.scratch import Linear, Sequential, init, lr_scheduler as scratch_schedules
from course_lib.scratch.activations import ReLU
from course_lib.scratch.dropout import Dropout
from course_lib.scratch.losses import CrossEntropyLoss as ScratchCrossEntropy
from course_lib.scratch.optim import SGD as ScratchSGD, Adam as ScratchAdam
from course_lib import seed_everything
from course_lib.training import Checkpoint, fit, load_training_checkpoint, save_training_checkpoint

from ..devices import DEVICES

EPOCHS, STOP_AFTER = 6, 3
TRAIN_BATCHES, VAL_BATCHES = 6, 2  # 96 training and 32 validation samples in batches of 16


def blobs(n, seed):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    y = np.arange(n) % 3
    return centres[y] + rng.normal(scale=1.2, size=(n, 2)), y


TRAIN, VAL = blobs(96, 0), blobs(32, 1)


class Interrupted(Exception):
    """Stands for the kernel being stopped (fit handles KeyboardInterrupt and errors alike)."""


def interrupting(loss_class, calls: int | None):
    """A loss that raises on its call number ``calls`` + 1 (None: never), counting validation calls too."""
    class Loss(loss_class):
        made = 0

        def __call__(self, *args, **kwargs):
            Loss.made += 1
            if calls is not None and Loss.made > calls:
                raise Interrupted(f"stopped at loss call {Loss.made}")
            return super().__call__(*args, **kwargs)

    return Loss()


# fit checks the validation set with one batch before training, then every epoch costs
# TRAIN_BATCHES + VAL_BATCHES calls: this many calls end inside epoch STOP_AFTER + 1
CALLS_INTO_NEXT_EPOCH = 1 + STOP_AFTER * (TRAIN_BATCHES + VAL_BATCHES) + 2


def torch_model():
    return torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                               torch.nn.Linear(16, 3)).double()


def shuffling_loader(kind):
    """A DataLoader over TRAIN that shuffles with torch's global generator ("global"), with its own
    ("own"), or through a batch sampler whose sampler has its own ("batch_sampler")."""
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(TRAIN[0]), torch.as_tensor(TRAIN[1]))
    own = None if kind == "global" else torch.Generator().manual_seed(11)
    if kind == "batch_sampler":
        sampler = torch.utils.data.RandomSampler(dataset, generator=own)
        return torch.utils.data.DataLoader(dataset, batch_sampler=torch.utils.data.BatchSampler(sampler, 16, False))
    return torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True, generator=own)


def torch_run(tmp_path, *, epochs=EPOCHS, calls=None, resume=None, device="cpu", config=False, loader=False,
              patience=50, scheduler=True, val=VAL, save="every", progress=False):
    torch.manual_seed(7)
    model = torch_model()
    if config:
        model.config = {"name": "resumable"}  # saved through course_lib.deploy's checkpoint format
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5) if scheduler else None
    train = shuffling_loader(loader) if loader else TRAIN
    history = fit(model, train, val_data=val, loss_fn=interrupting(torch.nn.CrossEntropyLoss, calls),
                  optimizer=optimizer, scheduler=lr_scheduler, epochs=epochs, batch_size=16, seed=3,
                  early_stopping=None if patience is None else dict(patience=patience), device=device,
                  progress=progress, resume=resume, checkpoint=Checkpoint(tmp_path / "epoch{epoch}.pt", save=save))
    return model, history


def scratch_run(tmp_path, *, epochs=EPOCHS, calls=None, resume=None, patience=50, scheduler=True, loader=None,
                train=None):
    init.manual_seed(7)
    model = Sequential(Linear(2, 16, dtype=np.float64), ReLU(), Dropout(0.3), Linear(16, 3, dtype=np.float64))
    optimizer = ScratchAdam(model.parameters(), lr=0.02)
    train = train if train is not None else shuffling_loader(loader) if loader else TRAIN
    history = fit(model, train, val_data=VAL, loss_fn=interrupting(ScratchCrossEntropy, calls), optimizer=optimizer,
                  scheduler=scratch_schedules.StepLR(optimizer, step_size=2, gamma=0.5) if scheduler else None,
                  epochs=epochs, batch_size=16, seed=3, early_stopping=dict(patience=patience), progress=False,
                  resume=resume, checkpoint=Checkpoint(tmp_path / "epoch{epoch}.npz", save="every"))
    return model, history


def weights(model):
    return {key: (value.detach().cpu().numpy() if hasattr(value, "detach") else value).copy()
            for key, value in model.state_dict().items()}


def tensor_devices(value) -> set:
    """The device types of every tensor in a loaded checkpoint (nested dicts, lists and tuples)."""
    if isinstance(value, torch.Tensor):
        return {value.device.type}
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
    return set().union(*(tensor_devices(item) for item in items))


def assert_same_run(a, b):
    (model_a, history_a), (model_b, history_b) = a, b
    for key, value in weights(model_a).items():
        assert np.array_equal(value, weights(model_b)[key]), key  # bit for bit
    summary_a, summary_b = history_a.to_dict(), history_b.to_dict()
    assert len(summary_a.pop("epoch_time")) == len(summary_b.pop("epoch_time"))
    assert summary_a == summary_b


def interrupt_then_resume(run, tmp_path, suffix, **kwargs):
    """The run stopped inside the epoch after STOP_AFTER, then resumed from that epoch's checkpoint."""
    with pytest.raises(Interrupted) as stopped:
        run(tmp_path / "first", calls=CALLS_INTO_NEXT_EPOCH, **kwargs)
    assert len(stopped.value.history) == STOP_AFTER  # fit hands the History so far to the exception
    assert not (tmp_path / "first" / f"epoch{STOP_AFTER + 1}{suffix}").exists()
    return run(tmp_path / "first", resume=tmp_path / "first" / f"epoch{STOP_AFTER}{suffix}", **kwargs)


@pytest.mark.parametrize("device", DEVICES)
def test_a_resumed_torch_run_is_the_run_that_never_stopped(tmp_path, device):
    """Adam, a StepLR schedule, dropout, validation and early stopping's counters, bit for bit."""
    whole = torch_run(tmp_path / "whole", device=device)
    resumed = interrupt_then_resume(torch_run, tmp_path, ".pt", device=device)
    assert_same_run(whole, resumed)
    assert resumed[1].lr == [0.02, 0.02, 0.01, 0.01, 0.005, 0.005]
    assert next(resumed[0].parameters()).device.type == "cpu"  # borrowed and given back, as in any fit call
    # every tensor of a checkpoint is saved from the CPU, the optimiser's averages too (a CUDA audit: they
    # stayed on the GPU, so a plain torch.load on a machine without one could not read the file)
    saved = torch.load(tmp_path / "whole" / f"epoch{EPOCHS}.pt", weights_only=True)
    assert tensor_devices(saved) == {"cpu"}
    # the resumed run went on writing checkpoints, and they are those of the whole run
    for epoch in range(STOP_AFTER + 1, EPOCHS + 1):
        mine, theirs = torch_model(), torch_model()
        assert load_training_checkpoint(mine, tmp_path / "first" / f"epoch{epoch}.pt")["epoch"] == epoch
        load_training_checkpoint(theirs, tmp_path / "whole" / f"epoch{epoch}.pt")
        assert all(np.array_equal(value, weights(theirs)[key]) for key, value in weights(mine).items())


def test_a_resumed_scratch_run_is_the_run_that_never_stopped(tmp_path):
    whole = scratch_run(tmp_path / "whole")
    resumed = interrupt_then_resume(scratch_run, tmp_path, ".npz")
    assert_same_run(whole, resumed)


class NoisyBatches:
    """TRAIN in batches of 16, each with noise from NumPy's and Python's global generators (data
    augmentation as many notebooks write it): fit does not seed those, seed_everything does."""

    def __iter__(self):
        for start in range(0, len(TRAIN[1]), 16):
            x, y = TRAIN[0][start:start + 16], TRAIN[1][start:start + 16]
            yield x + np.random.normal(scale=0.3, size=x.shape) * random.random(), y


def test_a_run_whose_data_draw_from_the_global_generators_resumes_exactly(tmp_path):
    """An audit: a checkpoint kept the batch order's, torch's and the scratch generators, not NumPy's
    or Python's global ones, so such a run resumed on other noise (with seed_everything before both)."""
    def run(where, **kwargs):
        seed_everything(5)
        return scratch_run(where, train=NoisyBatches(), **kwargs)

    whole = run(tmp_path / "whole")
    assert_same_run(whole, interrupt_then_resume(run, tmp_path, ".npz"))


def test_a_deploy_checkpoint_and_a_shuffling_dataloader_resume_exactly(tmp_path):
    whole = torch_run(tmp_path / "whole", config=True, loader="global")
    resumed = interrupt_then_resume(torch_run, tmp_path, ".pt", config=True, loader="global")
    assert_same_run(whole, resumed)
    from course_lib.deploy import read_checkpoint

    assert read_checkpoint(tmp_path / "first" / "epoch2.pt")["training_state"]["epoch"] == 2


@pytest.mark.parametrize("run,suffix,kind", [(torch_run, ".pt", "own"), (scratch_run, ".npz", "own"),
                                             (torch_run, ".pt", "batch_sampler"), (scratch_run, ".npz", "global")],
                         ids=["torch", "scratch", "torch-batch-sampler", "scratch-global"])
def test_a_shuffling_dataloader_resumes_exactly(tmp_path, run, suffix, kind):
    """DataLoader(..., generator=g) shuffles with g, not with torch's global generator: g's state is kept too;
    and a scratch model fed by a DataLoader depends on torch's global generator, which is kept for it as well."""
    whole = run(tmp_path / "whole", loader=kind)
    resumed = interrupt_then_resume(run, tmp_path, suffix, loader=kind)
    assert_same_run(whole, resumed)


def test_the_resumed_run_needs_its_generators(tmp_path, monkeypatch):
    """The test above can fail: without the saved generators the batch order and dropout masks differ."""
    whole = torch_run(tmp_path / "whole")
    monkeypatch.setattr(training_state, "restore_random_state", lambda saved, batch_order, loader=None: None)
    resumed = interrupt_then_resume(torch_run, tmp_path, ".pt")
    with pytest.raises(AssertionError):
        assert_same_run(whole, resumed)


@pytest.mark.parametrize("run,suffix", [(torch_run, ".pt"), (scratch_run, ".npz")], ids=["torch", "scratch"])
def test_early_stopping_goes_on_counting(tmp_path, run, suffix):
    """Patience used up partly before the stop and partly after it: the same stopping epoch, the same
    restored best weights."""
    whole = run(tmp_path / "whole", epochs=30, patience=2, scheduler=False)
    history = whole[1]
    assert history.stopped_epoch is not None and history.stopped_epoch > history.best_epoch
    stop = history.best_epoch + 1  # one epoch without improvement already counted at the checkpoint
    run(tmp_path / "first", epochs=stop, patience=2, scheduler=False)
    resumed = run(tmp_path / "first", epochs=30, patience=2, scheduler=False,
                  resume=tmp_path / "first" / f"epoch{stop}{suffix}")
    assert_same_run(whole, resumed)
    assert resumed[1].stopped_epoch == history.stopped_epoch and resumed[1].best_epoch == history.best_epoch


def test_the_progress_bar_counts_the_epochs_left(tmp_path, capsys):
    torch_run(tmp_path, epochs=STOP_AFTER)
    capsys.readouterr()
    torch_run(tmp_path, resume=tmp_path / f"epoch{STOP_AFTER}.pt", progress=True)
    shown = capsys.readouterr().err
    left = (EPOCHS - STOP_AFTER) * TRAIN_BATCHES
    assert f"epoch {STOP_AFTER + 1}/{EPOCHS}" in shown and f"epoch {EPOCHS}/{EPOCHS}" in shown
    assert f"{left}/{left}" in shown and "epoch 1/" not in shown


def test_one_epoch_left_takes_a_generator(tmp_path):
    """A one-shot iterator of batches serves one epoch: fit refuses it for several, not for the last one."""
    torch_run(tmp_path, epochs=STOP_AFTER, scheduler=False)
    model = torch_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    batches = ((TRAIN[0][start:start + 16], TRAIN[1][start:start + 16]) for start in range(0, 96, 16))
    history = fit(model, batches, loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=STOP_AFTER + 1,
                  progress=False, device="cpu", early_stopping=dict(patience=50), val_data=VAL,
                  resume=tmp_path / f"epoch{STOP_AFTER}.pt")
    assert len(history) == STOP_AFTER + 1


def test_a_best_only_checkpoint_remembers_the_best_so_far(tmp_path):
    """save='best' without early stopping: after resuming, an epoch counts as the best only if it beats
    the best before the stop (validation labels shifted by one class, so the first epoch stays best)."""
    shifted = (VAL[0], (VAL[1] + 1) % 3)
    whole = torch_run(tmp_path / "whole", patience=None, val=shifted, save="best")
    best = whole[1].best_epoch
    assert best < EPOCHS and sorted(path.name for path in (tmp_path / "whole").iterdir()) == [f"epoch{best}.pt"]
    torch_run(tmp_path / "first", epochs=best, patience=None, val=shifted, save="best")
    resumed = torch_run(tmp_path / "first", patience=None, val=shifted, save="best",
                        resume=tmp_path / "first" / f"epoch{best}.pt")
    assert_same_run(whole, resumed)
    assert sorted(path.name for path in (tmp_path / "first").iterdir()) == [f"epoch{best}.pt"]


TORCH_SCHEDULERS = {
    "ReduceLROnPlateau": lambda optimizer: torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5, threshold=0.5),
    "CosineAnnealingLR": lambda optimizer: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4),
    "LambdaLR": lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1 / (1 + epoch)),
    "OneCycleLR": lambda optimizer: torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=EPOCHS),
}
SCRATCH_SCHEDULERS = {
    "CosineAnnealingLR": lambda optimizer: scratch_schedules.CosineAnnealingLR(optimizer, T_max=4),
    "LambdaLR": lambda optimizer: scratch_schedules.LambdaLR(optimizer, lambda epoch: 1 / (1 + epoch)),
    "InverseSqrtLR": lambda optimizer: scratch_schedules.InverseSqrtLR(optimizer, delta=0.5),
    "ExponentialLR": lambda optimizer: scratch_schedules.ExponentialLR(optimizer, gamma=0.7),
}


def scheduled_run(side, kind, tmp_path, **kwargs):
    """A plain model (no dropout) trained with SGD and the scheduler ``kind``, checkpointed every epoch."""
    if side == "torch":
        torch.manual_seed(1)
        model = torch.nn.Linear(2, 3).double()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
        schedule, loss_fn, suffix = TORCH_SCHEDULERS[kind](optimizer), torch.nn.CrossEntropyLoss(), ".pt"
    else:
        init.manual_seed(1)
        model = Linear(2, 3, dtype=np.float64)
        optimizer = ScratchSGD(model.parameters(), lr=0.1, momentum=0.5)
        schedule, loss_fn, suffix = SCRATCH_SCHEDULERS[kind](optimizer), ScratchCrossEntropy(), ".npz"
    history = fit(model, TRAIN, val_data=VAL, loss_fn=loss_fn, optimizer=optimizer, scheduler=schedule,
                  batch_size=16, progress=False, checkpoint=Checkpoint(tmp_path / f"e{{epoch}}{suffix}", save="every"),
                  **({"device": "cpu"} if side == "torch" else {}), **kwargs)
    return model, history


@pytest.mark.parametrize("side,kind", [("torch", kind) for kind in TORCH_SCHEDULERS]
                         + [("scratch", kind) for kind in SCRATCH_SCHEDULERS])
def test_every_schedule_resumes_where_it_stood(tmp_path, side, kind):
    whole = scheduled_run(side, kind, tmp_path / "whole", epochs=EPOCHS)
    scheduled_run(side, kind, tmp_path / "first", epochs=STOP_AFTER)
    suffix = ".pt" if side == "torch" else ".npz"
    resumed = scheduled_run(side, kind, tmp_path / "first", epochs=EPOCHS,
                            resume=tmp_path / "first" / f"e{STOP_AFTER}{suffix}")
    assert_same_run(whole, resumed)
    assert len(set(resumed[1].lr)) > 1  # the schedule did change the rate


def test_early_stopping_watching_something_else_starts_afresh(tmp_path):
    """The run watched the training loss; the resumed one watches a validation loss far above it
    (labels shifted by one class).  Its first epoch is its first best: the old best training loss
    and the old counters must not carry over, or no epoch would ever beat it."""
    shifted = (VAL[0], (VAL[1] + 1) % 3)

    def run(epochs, monitor, resume=None):
        model = torch_model()
        return fit(model, TRAIN, val_data=shifted, loss_fn=torch.nn.CrossEntropyLoss(),
                   optimizer=torch.optim.Adam(model.parameters(), lr=0.02), epochs=epochs, batch_size=16,
                   early_stopping=dict(patience=1, monitor=monitor), progress=False, device="cpu", resume=resume,
                   checkpoint=Checkpoint(tmp_path / "epoch{epoch}.pt", save="every"))

    before = run(STOP_AFTER, "loss")
    assert min(before.train["loss"]) < min(before.val["loss"]) / 2
    history = run(EPOCHS, "val_loss", resume=tmp_path / f"epoch{before.best_epoch}.pt")
    assert history.best_epoch > before.best_epoch


# --- what cannot resume is refused before training, and loads nothing ----------------------------
def test_nothing_left_to_train_is_refused(tmp_path):
    torch_run(tmp_path, epochs=STOP_AFTER)
    with pytest.raises(ValueError, match="checkpoint of epoch 3, so epochs=3 leaves nothing to train"):
        torch_run(tmp_path, epochs=STOP_AFTER, resume=tmp_path / "epoch3.pt")


def test_a_run_ended_by_early_stopping_is_not_resumed(tmp_path):
    whole = torch_run(tmp_path, epochs=30, patience=1, scheduler=False)
    stopped = whole[1].stopped_epoch
    with pytest.raises(ValueError, match=f"ended by early stopping at epoch {stopped}"):
        torch_run(tmp_path, epochs=40, patience=1, scheduler=False, resume=tmp_path / f"epoch{stopped}.pt")


def test_a_checkpoint_of_weights_only_says_how_to_use_it(tmp_path):
    model = torch.nn.Linear(2, 3).double()
    save_training_checkpoint(model, tmp_path / "weights.pt", epoch=2, logs={"loss": 1.0})
    with pytest.raises(ValueError, match="holds weights only, no training state.*load_training_checkpoint"):
        fit(model, TRAIN, loss_fn=torch.nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=4, progress=False, device="cpu", resume=tmp_path / "weights.pt")
    scratch_model = Linear(2, 3, dtype=np.float64)
    save_training_checkpoint(scratch_model, tmp_path / "weights.npz", epoch=2, logs={"loss": 1.0})
    with pytest.raises(ValueError, match="holds weights only"):
        fit(scratch_model, TRAIN, loss_fn=ScratchCrossEntropy(), optimizer=ScratchSGD(scratch_model.parameters(), lr=0.1),
            epochs=4, progress=False, resume=tmp_path / "weights.npz")


def test_another_layout_version_is_refused(tmp_path):
    model = torch.nn.Linear(2, 3).double()
    save_training_checkpoint(model, tmp_path / "future.pt", epoch=2, logs={}, training_state={"version": 99})
    with pytest.raises(ValueError, match="layout version 99; this course_lib reads version 1"):
        fit(model, TRAIN, loss_fn=torch.nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=4, progress=False, device="cpu", resume=tmp_path / "future.pt")


def test_schedulers_must_match_the_run(tmp_path):
    torch_run(tmp_path / "with", epochs=2)
    torch_run(tmp_path / "without", epochs=2, scheduler=False)
    with pytest.raises(ValueError, match="used a StepLR scheduler; pass one of the same kind"):
        torch_run(tmp_path / "with", epochs=4, scheduler=False, resume=tmp_path / "with" / "epoch2.pt")
    with pytest.raises(ValueError, match="had no scheduler, but fit got StepLR"):
        torch_run(tmp_path / "without", epochs=4, resume=tmp_path / "without" / "epoch2.pt")
    model = torch_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    with pytest.raises(ValueError, match="used a StepLR scheduler, fit got ExponentialLR"):
        fit(model, TRAIN, loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=4, progress=False,
            device="cpu", scheduler=torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.9),
            resume=tmp_path / "with" / "epoch2.pt")


def test_another_optimiser_is_refused_and_nothing_is_loaded(tmp_path):
    torch_run(tmp_path, epochs=2, scheduler=False)
    model = torch_model()
    before = weights(model)
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="resume: the state of group 0 has no 'dampening'.*another kind of optimiser"):
        fit(model, TRAIN, loss_fn=torch.nn.CrossEntropyLoss(), optimizer=sgd, epochs=4, progress=False,
            device="cpu", resume=tmp_path / "epoch2.pt")
    assert all(np.array_equal(value, weights(model)[key]) for key, value in before.items())
    assert sgd.state_dict()["state"] == {}


def test_another_models_checkpoint_is_refused(tmp_path):
    torch_run(tmp_path, epochs=2, scheduler=False)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    with pytest.raises(ValueError, match="holds the weights of another model; nothing was loaded"):
        fit(model, TRAIN, loss_fn=torch.nn.CrossEntropyLoss(), optimizer=torch.optim.Adam(model.parameters()),
            epochs=4, progress=False, device="cpu", resume=tmp_path / "epoch2.pt")


# --- the record itself --------------------------------------------------------------------------
def test_numpy_numbers_in_an_optimiser_are_stored_as_python_numbers(tmp_path):
    """torch.load(weights_only=True) refuses NumPy scalars: an lr given as np.float64 must not make the
    checkpoint unreadable when the run is resumed."""
    model = torch.nn.Linear(2, 3).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=np.float64(0.1), momentum=np.float32(0.5))
    fit(model, TRAIN, loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=1, progress=False,
        device="cpu", checkpoint=Checkpoint(tmp_path / "e{epoch}.pt", save="every"))
    fit(model, TRAIN, loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=2, progress=False,
        device="cpu", resume=tmp_path / "e1.pt")
    assert type(optimizer.param_groups[0]["lr"]) is float


def test_the_optimisers_tensors_are_stored_from_the_cpu():
    """What the CUDA test above checks on a GPU, checked here through the call that moves them."""
    moved = []

    class Watched(torch.Tensor):
        def cpu(self, *args, **kwargs):
            moved.append(self.shape)
            return super().cpu(*args, **kwargs)

    average = torch.arange(3.0).as_subclass(Watched)
    stored = training_state.plain({"state": {0: {"exp_avg": average, "step": torch.tensor(4.0)}}})
    assert moved == [torch.Size([3])]  # (the plain step tensor goes through the same call)
    assert torch.equal(stored["state"][0]["exp_avg"], torch.arange(3.0))
    assert training_state.plain({"dtype": torch.float32}) == {"dtype": torch.float32}  # not a tensor: kept


def test_a_state_that_cannot_be_stored_safely_is_refused_when_saved():
    with pytest.raises(TypeError, match=r"cannot checkpoint the state of X\['lr_lambdas'\]\[0\]: it holds a function"):
        training_state.plain({"lr_lambdas": [lambda step: 1.0]}, "the state of X")


def test_pack_and_unpack_keep_types():
    record = {"version": 1, "optimizer": {"state": {0: {"step": 3, "exp_avg": np.arange(3.0)}},
                                          "param_groups": [{"betas": (0.9, 0.999), "params": [0]}]},
              "monitors": {"checkpoint": float("inf"), "early_stopping": None}, "flag": True,
              "random": {"batch_order": np.random.default_rng(0).bit_generator.state}}
    back = training_state.unpack(training_state.pack(record))
    assert back["optimizer"]["state"][0]["step"] == 3 and 0 in back["optimizer"]["state"]
    assert np.array_equal(back["optimizer"]["state"][0]["exp_avg"], np.arange(3.0))
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["monitors"] == {"checkpoint": float("inf"), "early_stopping": None} and back["flag"] is True
    assert back["random"] == record["random"]  # 128-bit generator state, exactly
    with pytest.raises(TypeError, match="cannot hold a object"):
        training_state.pack({"x": object()})


def test_a_counter_in_a_schedulers_state_stays_a_counter_through_a_checkpoint():
    """torch's MultiStepLR keeps its milestones as a Counter and calls elements() at a SequentialLR's
    milestone: a state read back as a dict crashed the resumed run there."""
    from collections import Counter

    record = {"milestones": Counter({3: 1, 5: 2}), "betas": (0.9, 0.999), "plain": {"a": 1}}
    back = training_state.unpack(training_state.pack(record))
    assert isinstance(back["milestones"], Counter) and back["milestones"] == record["milestones"]
    assert sorted(back["milestones"].elements()) == [3, 5, 5]
    assert training_state.plain(record)["milestones"] == record["milestones"]
    assert isinstance(training_state.plain(record)["milestones"], Counter)
    assert training_state.plain(record)["betas"] == (0.9, 0.999)
