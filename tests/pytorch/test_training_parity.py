"""Trained from the same weights on the same batches, the PyTorch CNN and its scratch twin stay together.

This is the mechanism behind ``bench/reproduce.py`` (the seed's CNN experiment): if the two
sides drift apart in a few float64 steps, their 5-epoch accuracies cannot be compared.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.interop import state_dict_from_torch
from course_lib.pytorch.models import CNN as TorchCNN
from course_lib.scratch import losses, optim
from course_lib.scratch.models import CNN as ScratchCNN
from course_lib.training import fit

from ..devices import DEVICES, forward_devices

torch.set_num_threads(1)
SMALL = dict(channels=(4, 6, 8), hidden=12)


def synthetic_images(rng, n):
    """Images whose class (0–3) is the quadrant holding a bright blob: learnable in a few steps."""
    labels = rng.integers(0, 4, n)
    images = rng.uniform(0, 0.2, (n, 1, 28, 28))
    for index, quadrant in enumerate(labels):
        row, col = 4 + 14 * (quadrant // 2), 4 + 14 * (quadrant % 2)
        images[index, 0, row:row + 6, col:col + 6] += 0.8
    return images, labels


@pytest.mark.parametrize("device", DEVICES)
def test_float64_training_steps_agree_in_loss_and_weights(device):
    """On CUDA too: cuDNN's float64 convolutions differ from NumPy's GEMMs only by rounding."""
    rng = np.random.default_rng(0)
    x, y = synthetic_images(rng, 96)
    torch.manual_seed(0)
    torch_model = TorchCNN(num_classes=4, **SMALL).double()
    scratch_model = ScratchCNN(num_classes=4, dtype=np.float64, **SMALL)
    scratch_model.load_state_dict(state_dict_from_torch(torch_model.state_dict()))
    settings = dict(lr=1e-3, alpha=0.9, eps=1e-7)
    ran_on = forward_devices(torch_model)
    torch_history = fit(torch_model, (x, y), loss_fn=torch.nn.CrossEntropyLoss(),
                        optimizer=torch.optim.RMSprop(torch_model.parameters(), **settings),
                        epochs=2, batch_size=32, seed=5, device=device, progress=False)
    assert ran_on == {device}
    scratch_history = fit(scratch_model, (x, y), loss_fn=losses.CrossEntropyLoss(),
                          optimizer=optim.RMSprop(scratch_model.parameters(), **settings),
                          epochs=2, batch_size=32, seed=5, device="cpu", progress=False)
    np.testing.assert_allclose(scratch_history["loss"], torch_history["loss"], rtol=1e-9)
    assert torch_history["loss"][1] < torch_history["loss"][0]  # it did learn something
    for key, value in torch_model.state_dict().items():
        np.testing.assert_allclose(scratch_model.state_dict()[key], value.cpu().numpy(), rtol=1e-7, atol=1e-9, err_msg=key)


def test_reproduce_runs_both_sides_from_the_same_weights_on_tiny_data():
    import bench.reproduce as reproduce

    rng = np.random.default_rng(1)
    x_train, y_train = synthetic_images(rng, 128)
    x_test, y_test = synthetic_images(rng, 64)
    results = reproduce.train_both(x_train.astype(np.float32), y_train, x_test.astype(np.float32), y_test, epochs=1)
    torch_side, scratch_side = results["torch"], results["scratch"]
    # float32, two RMSprop steps of the full 93 322-parameter CNN: the runs differ only by rounding
    assert abs(torch_side["train_loss"] - scratch_side["train_loss"]) < 1e-4 * torch_side["train_loss"]
    assert abs(torch_side["accuracy"] - scratch_side["accuracy"]) <= 1 / 64
    assert torch_side["train_seconds"] > 0 and scratch_side["train_seconds"] > 0


def test_reproduction_record_round_trips(tmp_path):
    """A full run's rows become the JSON the book reads, with the setup that produced them."""
    import bench.reproduce as reproduce
    from bench.timing import Row

    extra = {"dataset": "Fashion-MNIST", "epochs": 5, "torch_accuracy": 0.9004, "scratch_accuracy": 0.9011,
             "gap_pp": 0.07, "targets_met": True}
    path = tmp_path / "results" / "reproduce.json"
    reproduce.save_record([Row("CNN Fashion-MNIST", 300.0, 120.0, None, "note", extra)], path)
    record = reproduce.load_record(path)
    assert record["runs"] == [extra]
    assert record["setup"]["optimizer"] == {"name": "RMSprop", "lr": 1e-3, "alpha": 0.9, "eps": 1e-7}
    assert record["setup"]["init"].startswith("Keras") and record["targets"]["torch_accuracy"] == 0.90


@pytest.mark.parametrize("init", ["keras", "torch"])
def test_init_study_trains_the_pytorch_side_with_either_initialisation(init, monkeypatch):
    import bench.reproduce as reproduce
    from course_lib.pytorch import models

    calls = []
    real = models.keras_init_
    monkeypatch.setattr(models, "keras_init_", lambda model: calls.append(model) or real(model))
    rng = np.random.default_rng(2)
    x_train, y_train = synthetic_images(rng, 128)
    x_test, y_test = synthetic_images(rng, 64)
    result = reproduce.train_torch(x_train.astype(np.float32), y_train, x_test.astype(np.float32), y_test,
                                   epochs=1, seed=0, init=init)
    assert result["init"] == init and 0 <= result["accuracy"] <= 1 and result["train_loss"] > 0
    assert len(calls) == (init == "keras")  # the Keras initialisation is applied exactly when asked for
    with pytest.raises(ValueError, match="init must be 'keras' or 'torch'"):
        reproduce.train_torch(x_train, y_train, x_test, y_test, epochs=1, seed=0, init="glorot")
