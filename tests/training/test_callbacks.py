"""Early stopping and what it watches, with the monitored numbers given: the patience counter, ties and
min_delta in both modes, a loss that became infinite; fit's named metrics and its 0/1 labels from one
score per sample (each found untested by a mutation audit)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import course_lib.training.loop as loop
from course_lib.scratch import Linear
from course_lib.scratch.losses import MSELoss
from course_lib.scratch.optim import SGD
from course_lib.training import fit
from course_lib.training.backends import _labels_from_outputs
from course_lib.training.callbacks import EarlyStopping, _Monitor
from course_lib.training.epoch_metrics import NAMED_METRICS


def _fit_with_losses(monkeypatch, losses, **early_stopping):
    """fit a tiny scratch model whose epoch losses are ``losses``, one per epoch; its History."""
    given = iter(losses)
    real_logs = loop._EpochAccumulator.logs

    def logs(self, *args, **kwargs):
        out = real_logs(self, *args, **kwargs)
        out["loss"] = float(next(given))
        return out

    monkeypatch.setattr(loop._EpochAccumulator, "logs", logs)
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 2)).astype(np.float32), rng.random((8, 1)).astype(np.float32)
    model = Linear(2, 1)
    return fit(model, (x, y), loss_fn=MSELoss(), optimizer=SGD(model.parameters(), lr=0.01), epochs=len(losses),
               batch_size=8, progress=False, metrics=(), early_stopping=dict(monitor="loss", **early_stopping))


def test_patience_counts_epochs_without_improvement_in_a_row(monkeypatch):
    """Bad, good, bad, good …: never two bad epochs in a row, so patience=2 never stops the run."""
    history = _fit_with_losses(monkeypatch, [5, 6, 4, 5, 3, 4, 2, 3, 1, 2], patience=2)
    assert len(history) == 10 and history.stopped_epoch is None and history.best_epoch == 9


def test_two_bad_epochs_in_a_row_stop_a_run_with_patience_two(monkeypatch):
    history = _fit_with_losses(monkeypatch, [5, 4, 4.5, 4.2, 1, 1], patience=2)
    assert len(history) == 4 and history.stopped_epoch == 4 and history.best_epoch == 2


@pytest.mark.parametrize("mode, values, expected", [
    ("max", [0.8, 0.8, 0.79, 0.86, 0.9], [True, False, False, True, False]),    # 0.9 − 0.86 ≤ 0.05
    ("min", [0.8, 0.8, 0.81, 0.74, 0.7], [True, False, False, True, False]),
])
def test_a_tie_or_a_change_within_min_delta_is_no_improvement_in_either_mode(mode, values, expected):
    monitor = _Monitor("es", "val_accuracy" if mode == "max" else "val_loss", "auto", True, ["loss", "accuracy"],
                       min_delta=0.05)
    assert monitor.mode == mode
    assert [monitor.improved({monitor.monitor: value}) for value in values] == expected
    exact = _Monitor("es", "val_accuracy", "auto", True, ["loss", "accuracy"])
    assert [exact.improved({"val_accuracy": value}) for value in (0.8, 0.8, 0.8001)] == [True, False, True]


def test_early_stopping_defaults_and_refusals_as_documented():
    assert (EarlyStopping().patience, EarlyStopping().min_delta, EarlyStopping().restore_best) == (5, 0.0, True)
    with pytest.raises(ValueError, match="min_delta must be a number >= 0, got -1"):
        EarlyStopping(min_delta=-1)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=0)


def test_an_infinite_training_loss_stops_fit_as_a_nan_does():
    x, y = np.full((4, 2), 1e20, np.float32), np.zeros((4, 1), np.float32)
    model = Linear(2, 1)
    with pytest.raises(FloatingPointError, match="the training loss became inf in epoch 1"):
        with np.errstate(over="ignore", invalid="ignore"):  # 0 · ∞ in the step with lr = 0
            fit(model, (x, y), loss_fn=MSELoss(), optimizer=SGD(model.parameters(), lr=0.0), epochs=1,
                batch_size=4, progress=False, metrics=())


def test_named_metrics_are_macro_averages():
    """fit's "precision", "recall" and "f1" average the classes' scores (macro), as the docs say."""
    y_true, y_pred = np.array([0, 0, 0, 1]), np.array([0, 1, 1, 1])
    assert NAMED_METRICS["precision"](y_true, y_pred) == pytest.approx((1.0 + 1 / 3) / 2)
    assert NAMED_METRICS["recall"](y_true, y_pred) == pytest.approx((1 / 3 + 1.0) / 2)
    assert NAMED_METRICS["f1"](y_true, y_pred) == pytest.approx((0.5 + 0.5) / 2)


def test_one_score_per_sample_is_class_one_above_the_threshold_only_on_both_sides():
    """A logit of exactly 0 (probability ½) is class 0 for a scratch model and a torch model alike."""
    scores = np.array([[-0.5], [0.0], [0.5]])
    numpy_labels = _labels_from_outputs(scores, 0.0, None)
    torch_labels = _labels_from_outputs(torch.from_numpy(scores), 0.0, None).numpy()
    assert numpy_labels.tolist() == torch_labels.tolist() == [0, 0, 1]


def test_a_functional_cross_entropy_with_ignore_index_in_a_partial_trains():
    """fit's class-target check reads ignore_index from a functools.partial too: label 255 marks
    samples to leave out, as nn.CrossEntropyLoss(ignore_index=255) would."""
    import functools

    torch.manual_seed(0)
    model = torch.nn.Linear(2, 3)
    x = np.random.default_rng(0).standard_normal((8, 2)).astype(np.float32)
    y = np.array([0, 1, 2, 255] * 2)
    loss_fn = functools.partial(torch.nn.functional.cross_entropy, ignore_index=255)
    history = fit(model, (x, y), loss_fn=loss_fn, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=1,
                  batch_size=8, progress=False, device="cpu", metrics=())
    assert np.isfinite(history["loss"][0])
    with pytest.raises(ValueError, match="a target is class 255, but the outputs have 3 classes"):
        fit(model, (x, y), loss_fn=torch.nn.functional.cross_entropy, optimizer=torch.optim.SGD(model.parameters(),
            lr=0.1), epochs=1, batch_size=8, progress=False, device="cpu", metrics=())
