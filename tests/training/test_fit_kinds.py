"""fit, evaluate and predict with the pieces a user writes: loss and scheduler subclasses, torch's
functional losses, an optimizer class of one's own, a submodule frozen in eval mode, a DataLoader with
its own generator, and targets that do not fit the outputs (an audit, 2026-12-07)."""
from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch

from course_lib import scratch
from course_lib.data.torch_data import tensor_dataset
from course_lib.training import evaluate, fit, predict
from course_lib.training import backends

from .test_fit import QUIET, blobs, torch_mlp


class SmoothBCE(torch.nn.BCELoss):
    pass


class Plateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    pass


def test_a_subclass_or_the_functional_form_of_a_loss_is_that_loss():
    class MyMSE(scratch.MSELoss):
        pass

    assert backends.loss_kind(SmoothBCE()) == backends.loss_kind(torch.nn.functional.binary_cross_entropy) == "BCELoss"
    smoothed = functools.partial(torch.nn.functional.cross_entropy, label_smoothing=0.1)
    assert backends.loss_kind(smoothed) == "CrossEntropyLoss"
    assert backends.loss_kind(MyMSE()) == "MSELoss" and backends.loss_kind(lambda output, y: output.sum()) is None

    class Probabilities(torch.nn.Module):  # ends in torch.sigmoid, not in a Sigmoid layer
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1).double()

        def forward(self, x):
            return torch.sigmoid(self.linear(x))

    torch.manual_seed(0)
    model = Probabilities()
    x, labels = blobs()
    y = (labels == 0).astype(np.float64)[:, None]
    expected = evaluate(model, (x, y), loss_fn=torch.nn.BCELoss(), device="cpu")
    for loss_fn in (SmoothBCE(), torch.nn.functional.binary_cross_entropy):  # accuracy read 0.5: threshold 0
        assert evaluate(model, (x, y), loss_fn=loss_fn, device="cpu") == expected


def test_a_reduce_on_plateau_subclass_and_an_optimizer_class_of_ones_own_train():
    class MySGD(torch.optim.Optimizer):
        def __init__(self, params, lr):
            super().__init__(params, {"lr": lr})

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                for parameter in group["params"]:
                    if parameter.grad is not None:
                        parameter -= group["lr"] * parameter.grad

    MySGD.__module__ = "__main__"  # as a notebook defines it: the module name alone refused it
    model = torch_mlp()
    optimizer = MySGD(model.parameters(), lr=0.1)
    history = fit(model, blobs(), loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=3,
                  scheduler=Plateau(optimizer, patience=0), **QUIET)
    assert len(history["loss"]) == 3 and history["loss"][-1] < history["loss"][0]


@pytest.mark.parametrize("side", ["torch", "scratch"])
def test_evaluate_and_predict_give_back_every_submodules_mode(side):
    if side == "torch":
        model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 3)).double()
    else:
        model = scratch.Sequential(scratch.Linear(2, 4, dtype=np.float64), scratch.BatchNorm1d(4, dtype=np.float64),
                                   scratch.Linear(4, 3, dtype=np.float64))
    model.train()
    model[1].eval()  # a BatchNorm frozen for fine-tuning
    x, y = blobs()
    loss_fn = torch.nn.CrossEntropyLoss() if side == "torch" else scratch.CrossEntropyLoss()
    evaluate(model, (x, y), loss_fn=loss_fn, device="cpu")
    predict(model, x, device="cpu")
    assert model.training and model[0].training and not model[1].training and model[2].training


def test_the_seed_also_sets_a_dataloaders_own_generator():
    x, y = blobs()
    loader = torch.utils.data.DataLoader(tensor_dataset(x, y), batch_size=16, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    start = torch_mlp()
    histories = []
    for _ in range(2):  # the same loader twice: its generator has moved on after the first run
        model = copy.deepcopy(start)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        histories.append(fit(model, loader, loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=2,
                             seed=0, **QUIET)["loss"])
    assert histories[0] == histories[1]


def test_targets_that_do_not_fit_the_outputs_get_the_scratch_sides_words():
    x, y = blobs()
    model = torch_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for labels, shown in ((y + 1, "class 3"), (y - 1, "class -1")):  # numbered from 1; -1 not ignore_index
        with pytest.raises(ValueError, match=f"CrossEntropyLoss: a target is {shown}, but the outputs have 3 classes"):
            fit(model, (x, labels), loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=1, **QUIET)
    ignored = np.where(np.arange(len(y)) % 5 == 0, -100, y)  # ignore_index is no class: allowed
    fit(model, (x, ignored), loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=1, **QUIET)
    binary = torch.nn.Sequential(torch.nn.Linear(2, 1)).double()
    with pytest.raises(TypeError, match="BCEWithLogitsLoss: the targets are int64, but a binary cross-entropy takes"):
        fit(binary, (x, (y == 0).astype(np.int64)[:, None]), loss_fn=torch.nn.BCEWithLogitsLoss(),
            optimizer=torch.optim.SGD(binary.parameters(), lr=0.1), epochs=1, **QUIET)


@pytest.mark.parametrize("side", ["torch", "scratch"])
def test_a_submodule_frozen_in_eval_mode_stays_frozen_through_fit(side):
    """fit called model.train() every epoch, which unfroze a BatchNorm put in eval mode for fine-tuning
    and updated its running statistics (an audit, 2026-12-07)."""
    if side == "torch":
        model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 3)).double()
        optimizer, loss_fn = torch.optim.SGD(model.parameters(), lr=0.1), torch.nn.CrossEntropyLoss()
        statistics = lambda: model[1].running_mean.clone().numpy()  # noqa: E731
    else:
        model = scratch.Sequential(scratch.Linear(2, 4, dtype=np.float64), scratch.BatchNorm1d(4, dtype=np.float64),
                                   scratch.Linear(4, 3, dtype=np.float64))
        optimizer, loss_fn = scratch.optim.SGD(model.parameters(), lr=0.1), scratch.CrossEntropyLoss()
        statistics = lambda: model[1].running_mean.copy()  # noqa: E731
    model.train()
    model[1].eval()
    before = statistics()
    fit(model, blobs(), loss_fn=loss_fn, optimizer=optimizer, epochs=2, **QUIET)
    np.testing.assert_array_equal(statistics(), before)
    assert model.training and not model[1].training
