"""course_lib.training: fit / evaluate / predict on both sides.

What the tests prove:
- fit does exactly the documented loop: a hand-written torch loop over the same seeded
  batch order gives the same per-epoch losses and the same final weights;
- History holds per-epoch train/val loss and metrics, and the recorded validation loss is
  what evaluate() gives for the final weights;
- early stopping stops after ``patience`` epochs without improvement and restores the
  best epoch's weights; checkpoints are written (best / every epoch) and load back;
- the same seed gives identical histories, another seed a different one;
- a scratch MLP and a torch MLP from the same float64 weights give the same per-epoch
  losses and metrics through fit, and end with the same weights;
- evaluate/predict shapes, batch-size independence, mode restored; clear errors.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from course_lib import metrics
from course_lib.interop import state_dict_from_torch
from course_lib.scratch import Linear, Sequential
from course_lib.scratch.activations import ReLU
from course_lib.scratch.losses import CrossEntropyLoss as ScratchCrossEntropy
from course_lib.scratch.optim import SGD as ScratchSGD
from course_lib.training import (Checkpoint, EarlyStopping, History, evaluate, fit, load_training_checkpoint,
                                 predict)

from ..devices import DEVICES, forward_devices, needs_cuda

QUIET = dict(progress=False, device="cpu")


def blobs(n=90, seed=0, dtype=np.float64):
    """Three Gaussian blobs in 2-D with labels 0, 1, 2."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 2.0], [2.0, -1.0], [-2.0, -1.0]])
    y = np.arange(n) % 3
    x = centres[y] + rng.normal(scale=1.0, size=(n, 2))
    return x.astype(dtype), y


def torch_mlp(seed=0, dtype=torch.float64, dropout=False):
    torch.manual_seed(seed)
    dropout_layer = [torch.nn.Dropout(0.5)] if dropout else []
    return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), *dropout_layer, torch.nn.Linear(8, 3)).to(dtype)


def scratch_twin(torch_model):
    model = Sequential(Linear(2, 8, dtype=np.float64), ReLU(), Linear(8, 3, dtype=np.float64))
    model.load_state_dict(state_dict_from_torch(torch_model.state_dict()))
    return model


def torch_fit(model, data, epochs=3, lr=0.1, **kwargs):
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    return fit(model, data, loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=epochs,
               batch_size=16, **{**QUIET, **kwargs})


def weights_of(model):
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


# --- what fit computes --------------------------------------------------------------------------
def test_fit_is_the_documented_loop():
    x, y = blobs()
    model, reference = torch_mlp(), torch_mlp()
    history = torch_fit(model, (x, y), epochs=3, seed=5)

    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(5)
    x_t, y_t = torch.as_tensor(x), torch.as_tensor(y)
    for epoch in range(3):
        order = rng.permutation(len(x))
        total, correct = 0.0, 0
        for start in range(0, len(x), 16):
            index = torch.as_tensor(order[start:start + 16])
            optimizer.zero_grad()
            output = reference(x_t[index])
            loss = loss_fn(output, y_t[index])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
            correct += (output.argmax(1) == y_t[index]).sum().item()
        assert history.train["loss"][epoch] == pytest.approx(total / len(x), rel=1e-12)
        assert history.train["accuracy"][epoch] == pytest.approx(correct / len(x), rel=1e-12)
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)


def test_history_contents_and_validation_matches_evaluate():
    x, y = blobs(120)
    model = torch_mlp()
    history = torch_fit(model, (x[:90], y[:90]), val_data=(x[90:], y[90:]), metrics=("accuracy", "f1"))
    assert isinstance(history, History) and len(history) == 3
    assert set(history.train) == set(history.val) == {"loss", "accuracy", "f1"}
    assert all(len(values) == 3 for values in (*history.train.values(), *history.val.values()))
    assert history.epochs == [1, 2, 3]
    assert all(seconds > 0 for seconds in history.epoch_time)
    assert history["val_loss"] is history.val["loss"] and history["loss"] is history.train["loss"]
    assert history.keys() == ["loss", "accuracy", "f1", "val_loss", "val_accuracy", "val_f1"]
    assert history.best_epoch is None and history.stopped_epoch is None
    final = evaluate(model, (x[90:], y[90:]), loss_fn=torch.nn.CrossEntropyLoss(), metrics=("accuracy", "f1"))
    assert final["loss"] == pytest.approx(history.val["loss"][-1], rel=1e-12)
    predicted = predict(model, x[90:]).argmax(axis=1)
    assert final["accuracy"] == pytest.approx(metrics.accuracy(y[90:], predicted))
    assert final["f1"] == pytest.approx(metrics.f1(y[90:], predicted, average="macro"))
    assert history.train["loss"][-1] < history.train["loss"][0]  # it learned something


def test_same_seed_same_history_other_seed_different():
    x, y = blobs()
    first = torch_fit(torch_mlp(), (x, y), seed=1, val_data=(x, y))
    again = torch_fit(torch_mlp(), (x, y), seed=1, val_data=(x, y))
    other = torch_fit(torch_mlp(), (x, y), seed=2, val_data=(x, y))
    assert first.train == again.train and first.val == again.val
    assert first.train["loss"] != other.train["loss"]
    # the scratch side too
    scratch_histories = []
    for _ in range(2):
        model = scratch_twin(torch_mlp())
        scratch_histories.append(fit(model, (x, y), loss_fn=ScratchCrossEntropy(),
                                     optimizer=ScratchSGD(model.parameters(), lr=0.1), epochs=2, seed=1, **QUIET))
    assert scratch_histories[0].train == scratch_histories[1].train


def test_fit_seeds_torch_for_dropout():
    """fit(seed=...) must seed torch too, or the dropout masks depend on earlier random draws."""
    x, y = blobs()

    def run(noise, seed=3):
        model = torch_mlp(dropout=True)
        torch.rand(noise)  # moves torch's global generator; fit(seed=3) must reset it
        return torch_fit(model, (x, y), epochs=2, seed=seed).train

    assert run(1) == run(7)
    assert run(1) != run(1, seed=4)  # the seed given, not a constant of fit's


def test_scratch_dropout_draws_apart_from_the_stream_of_the_initial_weights():
    """An audit: fit(seed=s) reset the scratch generator to default_rng(s), the stream from which
    seed_everything(s) had drawn the initial weights, so with p = 0.5 the first masks kept exactly the
    weights that had come out positive."""
    from course_lib import seed_everything
    from course_lib.scratch import Dropout, Linear, Sequential
    from course_lib.training.loop import _seed_everything_for

    seed_everything(0)
    layer = Linear(256, 1, bias=False)  # the first 256 numbers of the stream
    positive = layer.weight.data[0] >= 0
    _seed_everything_for(Sequential(layer, Dropout(0.5)), 0)
    kept = Dropout(0.5)(np.ones(256, dtype=np.float32)) > 0
    # float32 draw 2k + 1 is the top half of float64 draw k: it was kept exactly where weight k is positive
    agree = np.mean(kept[1::2] == positive[:128])
    assert 0.3 < agree < 0.7, agree  # independent streams: about half agree
    _seed_everything_for(Sequential(layer), 0)
    assert np.array_equal(Dropout(0.5)(np.ones(256, dtype=np.float32)) > 0, kept)  # still the seed's alone


def test_scratch_and_torch_agree_through_fit():
    x, y = blobs(100)
    torch_model = torch_mlp(seed=3)
    scratch_model = scratch_twin(torch_model)
    common = dict(epochs=4, batch_size=16, val_data=(x[80:], y[80:]), metrics=("accuracy", "f1"), seed=7, **QUIET)
    torch_history = fit(torch_model, (x[:80], y[:80]), loss_fn=torch.nn.CrossEntropyLoss(),
                        optimizer=torch.optim.SGD(torch_model.parameters(), lr=0.1, momentum=0.9), **common)
    scratch_history = fit(scratch_model, (x[:80], y[:80]), loss_fn=ScratchCrossEntropy(),
                          optimizer=ScratchSGD(scratch_model.parameters(), lr=0.1, momentum=0.9), **common)
    for side in ("train", "val"):
        theirs, ours = getattr(torch_history, side), getattr(scratch_history, side)
        np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-10)
        assert ours["accuracy"] == theirs["accuracy"] and ours["f1"] == pytest.approx(theirs["f1"], abs=1e-12)
    for key, value in scratch_model.state_dict().items():
        np.testing.assert_allclose(value, torch_model.state_dict()[key].numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(predict(scratch_model, x), predict(torch_model, x), rtol=1e-9, atol=1e-12)


# --- interop: the weight conversion behind scratch_twin ------------------------------------------
def test_from_torch_copies():
    """state_dict_from_torch must copy, not share memory with the torch tensors it reads."""
    model = torch.nn.Linear(2, 3)
    converted = state_dict_from_torch(model.state_dict())
    before = converted["weight"].copy()
    with torch.no_grad():
        model.weight.add_(1.0)
    np.testing.assert_array_equal(converted["weight"], before)


def test_to_torch_keeps_the_modules_dtype():
    """state_dict_to_torch must cast float64 arrays to the module's own dtype, not keep theirs."""
    from course_lib.interop import state_dict_to_torch

    model = torch.nn.Linear(2, 3)  # float32
    converted = state_dict_to_torch({"weight": np.ones((3, 2)), "bias": np.zeros(3)}, model)
    assert converted["weight"].dtype == torch.float32


# --- early stopping and checkpoints -----------------------------------------------------------------
def anti_validation():
    """Validation labels shifted by one class: as training improves, validation loss rises."""
    x, y = blobs(90)
    return (x, y), (x, (y + 1) % 3)


@pytest.mark.parametrize("device", DEVICES)
def test_early_stopping_stops_and_restores_the_best_weights(tmp_path, device):
    train, val = anti_validation()
    model = torch_mlp()
    ran_on = forward_devices(model)
    history = torch_fit(model, train, epochs=20, val_data=val, early_stopping=EarlyStopping(patience=2),
                        checkpoint=Checkpoint(tmp_path / "epoch{epoch}.pt", save="every"), device=device)
    assert ran_on == {device} and next(model.parameters()).device.type == "cpu"  # borrowed, then given back
    best = int(np.argmin(history.val["loss"])) + 1
    assert history.best_epoch == best
    assert history.stopped_epoch == best + 2 == len(history) < 20
    # the model now holds the weights saved after the best epoch (a GPU run's files load on the CPU) …
    best_model = torch_mlp(seed=99)
    info = load_training_checkpoint(best_model, tmp_path / f"epoch{best}.pt")
    assert info["epoch"] == best and info["logs"]["val_loss"] == pytest.approx(history.val["loss"][best - 1])
    for key, value in best_model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key].cpu(), value, rtol=0, atol=0)
    # … which give the best validation loss again
    again = evaluate(model, val, loss_fn=torch.nn.CrossEntropyLoss(), device=device)
    assert again["loss"] == pytest.approx(min(history.val["loss"]), rel=1e-12)


def test_early_stopping_restores_a_best_epoch_after_the_first(tmp_path):
    """A validation loss that falls, then rises: one label in ten shifted, so once the model grows
    confident the shifted labels cost more than the right ones save.  The anti-validation runs
    above have their best epoch first, so restoring "the first epoch" would pass them (an audit)."""
    x, y = blobs(90)
    shifted = y.copy()
    shifted[::10] = (shifted[::10] + 1) % 3
    model = torch_mlp()
    history = torch_fit(model, (x, y), epochs=30, lr=0.03, val_data=(x, shifted),
                        early_stopping=EarlyStopping(patience=2),
                        checkpoint=Checkpoint(tmp_path / "epoch{epoch}.pt", save="every"))
    best = int(np.argmin(history.val["loss"])) + 1
    assert best > 1 and history.best_epoch == best and history.stopped_epoch == best + 2 == len(history)
    best_model = torch_mlp(seed=99)
    load_training_checkpoint(best_model, tmp_path / f"epoch{best}.pt")
    for key, value in best_model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)


def test_early_stopping_options():
    train, val = anti_validation()
    # restore_best=False keeps the last weights
    model = torch_mlp()
    history = torch_fit(model, train, epochs=20, val_data=val,
                        early_stopping=dict(patience=1, restore_best=False))
    last = evaluate(model, val, loss_fn=torch.nn.CrossEntropyLoss())["loss"]
    assert last == pytest.approx(history.val["loss"][-1], rel=1e-12) and history.stopped_epoch == len(history)
    # a min_delta larger than any improvement: only the first epoch counts as one
    history = torch_fit(torch_mlp(), train, epochs=20, early_stopping=dict(patience=3, min_delta=10.0))
    assert history.best_epoch == 1 and history.stopped_epoch == 4
    # monitoring a metric to maximise
    history = torch_fit(torch_mlp(), train, epochs=20, val_data=val,
                        early_stopping=dict(patience=2, monitor="val_accuracy"))
    assert history.best_epoch == int(np.argmax(history.val["accuracy"])) + 1


def test_a_tie_is_not_an_improvement():
    """Early stopping must treat an equal loss as no improvement, not as a new best epoch."""
    x, y = blobs()
    history = torch_fit(torch_mlp(), (x, y), epochs=10, lr=0.0, shuffle=False, early_stopping=dict(patience=2))
    assert history.best_epoch == 1 and history.stopped_epoch == 3


def test_early_stopping_monitor_decides_best_epoch(tmp_path):
    """The best epoch follows early stopping's monitor (val_loss), not a checkpoint's other one."""
    train, val = anti_validation()
    history = torch_fit(torch_mlp(), train, epochs=20, val_data=val, early_stopping=dict(patience=2),
                        checkpoint=dict(path=tmp_path / "best.pt", monitor="loss"))
    assert history.best_epoch == int(np.argmin(history.val["loss"])) + 1


def test_checkpoint_best_for_both_sides(tmp_path):
    x, y = blobs(120)
    train, val = (x[:90], y[:90]), (x[90:], y[90:])
    model = torch_mlp()
    history = torch_fit(model, train, epochs=4, val_data=val, checkpoint=tmp_path / "best.pt")
    assert history.best_epoch == int(np.argmin(history.val["loss"])) + 1
    restored = torch_mlp(seed=42)
    info = load_training_checkpoint(restored, tmp_path / "best.pt")
    assert info["epoch"] == history.best_epoch
    assert evaluate(restored, val, loss_fn=torch.nn.CrossEntropyLoss())["loss"] == pytest.approx(
        history.val["loss"][history.best_epoch - 1], rel=1e-12)

    scratch_model = scratch_twin(torch_mlp())
    scratch_history = fit(scratch_model, train, loss_fn=ScratchCrossEntropy(),
                          optimizer=ScratchSGD(scratch_model.parameters(), lr=0.1), epochs=3, val_data=val,
                          checkpoint={"path": tmp_path / "scratch.npz", "monitor": "val_accuracy"}, **QUIET)
    fresh = scratch_twin(torch_mlp(seed=5))
    info = load_training_checkpoint(fresh, tmp_path / "scratch.npz")
    assert info["epoch"] == scratch_history.best_epoch == int(np.argmax(scratch_history.val["accuracy"])) + 1
    assert evaluate(fresh, val)["accuracy"] == scratch_history.val["accuracy"][info["epoch"] - 1]


def test_save_every_writes_every_epoch(tmp_path):
    """save="every" must write a file after each epoch, not only after an improvement."""
    x, y = blobs()
    torch_fit(torch_mlp(), (x, y), epochs=4, lr=0.0, shuffle=False,
              checkpoint=Checkpoint(tmp_path / "e{epoch}.pt", save="every"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["e1.pt", "e2.pt", "e3.pt", "e4.pt"]


def test_checkpoint_of_a_model_with_config_is_a_deploy_checkpoint(tmp_path):
    from course_lib.deploy import read_checkpoint

    x, y = blobs()
    model = torch_mlp()
    model.config = {"name": "test-mlp"}
    torch_fit(model, (x, y), epochs=1, checkpoint=tmp_path / "model.pt")
    payload = read_checkpoint(tmp_path / "model.pt")
    assert payload["config"] == {"name": "test-mlp"} and payload["extra"]["epoch"] == 1
    assert load_training_checkpoint(torch_mlp(), tmp_path / "model.pt")["epoch"] == 1


# --- data forms, evaluate and predict -----------------------------------------------------------
def test_a_scratch_model_fed_by_a_shuffling_dataloader_repeats_with_the_seed():
    """The loader shuffles with torch's global generator, which torch starts from a random seed in every
    process: fit's seed must fix it for a scratch model too, whatever state torch was left in."""
    x, y = blobs()
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(y))
    runs = []
    for earlier in (1, 2):
        torch.manual_seed(earlier)  # what ran before fit
        model = scratch_twin(torch_mlp())
        loader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=True)
        runs.append(fit(model, loader, loss_fn=ScratchCrossEntropy(), epochs=2, seed=0,
                        optimizer=ScratchSGD(model.parameters(), lr=0.1), **QUIET).train)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("device", DEVICES)
def test_dataloader_gives_the_same_result_as_unshuffled_arrays(device):
    x, y = blobs()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.as_tensor(x), torch.as_tensor(y)),
                                         batch_size=16, shuffle=False, pin_memory=device == "cuda")
    from_loader = torch_fit(torch_mlp(), loader, val_data=loader, device=device)
    from_arrays = torch_fit(torch_mlp(), (x, y), val_data=(x, y), shuffle=False, device=device)
    assert from_loader.train == from_arrays.train and from_loader.val == from_arrays.val
    # a scratch model takes the same loader (its tensors become NumPy arrays); float64 on either device
    scratch_model = scratch_twin(torch_mlp())
    scratch = fit(scratch_model, loader, val_data=loader, loss_fn=ScratchCrossEntropy(), epochs=3,
                  optimizer=ScratchSGD(scratch_model.parameters(), lr=0.1, momentum=0.9), **QUIET)
    np.testing.assert_allclose(scratch.train["loss"], from_loader.train["loss"], rtol=1e-10)
    np.testing.assert_allclose(scratch.val["loss"], from_loader.val["loss"], rtol=1e-10)


def test_inputs_are_cast_to_the_model_dtype():
    x, y = blobs(dtype=np.float64)
    model = torch_mlp(dtype=torch.float32)  # float64 inputs, uint8 labels: both converted
    history = torch_fit(model, (x, y.astype(np.uint8)), epochs=1)
    assert np.isfinite(history.train["loss"][0])
    assert predict(model, x).dtype == np.float32


def test_binary_logits_use_threshold_zero():
    x, y = blobs()
    y_binary = (y == 0).astype(np.float32)
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    fit(model, (x, y_binary[:, None]), loss_fn=torch.nn.BCEWithLogitsLoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, **QUIET)
    result = evaluate(model, (x, y_binary[:, None]), loss_fn=torch.nn.BCEWithLogitsLoss())
    logits = predict(model, x)
    assert logits.shape == (len(x), 1)
    assert result["accuracy"] == pytest.approx(metrics.accuracy(y_binary.astype(int), (logits[:, 0] > 0).astype(int)))


@pytest.mark.parametrize("side", ["torch", "scratch"])
def test_evaluate_and_predict_shapes_and_mode(side):
    x, y = blobs(50)
    model = torch_mlp() if side == "torch" else scratch_twin(torch_mlp())
    model.train()
    outputs = predict(model, x, batch_size=7)
    assert isinstance(outputs, np.ndarray) and outputs.shape == (50, 3)
    # (atol: on a GPU, "auto" runs there, and another batch size may take another float64 kernel,
    # whose last-bit differences are large relative to a logit near 0; a CUDA audit)
    np.testing.assert_allclose(outputs, predict(model, x, batch_size=256), rtol=1e-12, atol=1e-12)
    assert model.training  # restored
    loss_fn = torch.nn.CrossEntropyLoss() if side == "torch" else ScratchCrossEntropy()
    result = evaluate(model, (x, y), loss_fn=loss_fn, metrics=("accuracy", "precision", "recall"))
    assert set(result) == {"loss", "accuracy", "precision", "recall"}
    assert model.training
    assert result["accuracy"] == pytest.approx(metrics.accuracy(y, outputs.argmax(axis=1)))


def test_evaluate_runs_in_eval_mode():
    """evaluate must switch dropout off, not score the model in training mode."""
    x, y = blobs()
    model = torch_mlp(dropout=True).train()
    got = evaluate(model, (x, y), loss_fn=torch.nn.CrossEntropyLoss(), device="cpu")["loss"]
    model.eval()
    with torch.no_grad():
        want = torch.nn.CrossEntropyLoss()(model(torch.as_tensor(x)), torch.as_tensor(y)).item()
    assert got == pytest.approx(want, rel=1e-12)


def test_eval_mode_is_kept_after_evaluate_and_predict():
    """evaluate and predict must restore the mode the model had, not always set train()."""
    x, y = blobs()
    model = torch_mlp().eval()
    evaluate(model, (x, y), device="cpu")
    assert not model.training
    predict(model, x, device="cpu")
    assert not model.training


def test_predict_runs_in_eval_mode():
    """predict must switch dropout off, not predict in training mode."""
    x, _ = blobs()
    model = torch_mlp(dropout=True).train()
    got = predict(model, x, device="cpu")
    model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(got, model(torch.as_tensor(x)).numpy(), rtol=1e-12)


def test_evaluate_and_predict_build_no_graph():
    """evaluate and predict must run under no_grad, not build an autograd graph."""
    x, y = blobs()
    model = torch_mlp()
    grad_flags = []
    model.register_forward_hook(lambda module, inputs, output: grad_flags.append(torch.is_grad_enabled()))
    predict(model, x, device="cpu")
    evaluate(model, (x, y), loss_fn=torch.nn.CrossEntropyLoss(), device="cpu")
    assert grad_flags and not any(grad_flags)


def test_fit_trains_in_train_mode_even_after_eval():
    """fit must switch a model left in eval mode back to train mode before training."""
    x, y = blobs()
    model = torch_mlp(dropout=True).eval()
    modes = []
    model.register_forward_hook(lambda module, inputs, output: modes.append(module.training))
    torch_fit(model, (x, y), epochs=1)
    assert modes and all(modes)


def test_progress_bar_can_be_switched_off(capsys):
    x, y = blobs(32)
    torch_fit(torch_mlp(), (x, y), epochs=2, progress=True)
    assert "epoch 2/2" in capsys.readouterr().err
    torch_fit(torch_mlp(), (x, y), epochs=2, progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_progress_bar_total_counts_the_partial_batch(capsys):
    """The progress bar's total must count the last, partial batch (round up, not down)."""
    x, y = blobs()  # 90 samples / 16 = 6 batches per epoch
    torch_fit(torch_mlp(), (x, y), epochs=2, progress=True)
    assert "12/12" in capsys.readouterr().err


@needs_cuda
def test_fit_runs_on_cuda_unchanged():
    x, y = blobs()
    model = torch_mlp()
    ran_on = forward_devices(model)
    history = fit(model, (x, y), loss_fn=torch.nn.CrossEntropyLoss(),
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, val_data=(x, y), progress=False)
    assert ran_on == {"cuda"}  # device="auto" picked the GPU
    assert np.isfinite(history.val["loss"]).all()
    assert predict(model, x).shape == (len(x), 3)
    cpu_model = torch_mlp()
    cpu_history = fit(cpu_model, (x, y), loss_fn=torch.nn.CrossEntropyLoss(),
                      optimizer=torch.optim.SGD(cpu_model.parameters(), lr=0.1), epochs=2, val_data=(x, y),
                      progress=False, device="cpu")
    np.testing.assert_allclose(history.val["loss"], cpu_history.val["loss"], rtol=1e-9)


def devices_of(model, loss_fn=None, optimizer=None):
    tensors = [*model.parameters(), *model.buffers(), *(loss_fn.buffers() if loss_fn is not None else [])]
    if optimizer is not None:
        tensors += [v for state in optimizer.state.values() for k, v in state.items() if k != "step"]
    return {tensor.device.type for tensor in tensors}


@needs_cuda
def test_fit_evaluate_and_predict_borrow_the_gpu_and_give_everything_back():
    """A CPU model trained with device='cuda' comes back to the CPU, with its weighted loss and
    the optimiser's state, even when fit raises; training it again continues exactly as if it
    had stayed on the GPU."""
    x, y = blobs()

    def weighted_loss():
        return torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64))

    def run(model, loss_fn, optimizer):
        return fit(model, (x, y), loss_fn=loss_fn, optimizer=optimizer, epochs=2, progress=False, device="cuda")

    borrowed, loss_fn = torch_mlp(), weighted_loss()
    optimizer = torch.optim.Adam(borrowed.parameters(), lr=0.01)
    ran_on = forward_devices(borrowed)
    first = run(borrowed, loss_fn, optimizer)
    assert ran_on == {"cuda"} and devices_of(borrowed, loss_fn, optimizer) == {"cpu"}
    with torch.no_grad():
        on_cpu = borrowed(torch.as_tensor(x)).numpy()  # the chapters' pattern: call the model right after fit
    np.testing.assert_allclose(predict(borrowed, x, device="cuda"), on_cpu, rtol=1e-12)
    assert evaluate(borrowed, (x, y), loss_fn=loss_fn, device="cuda")["loss"] == pytest.approx(
        evaluate(borrowed, (x, y), loss_fn=loss_fn, device="cpu")["loss"], rel=1e-12)
    assert devices_of(borrowed, loss_fn, optimizer) == {"cpu"}
    second = run(borrowed, loss_fn, optimizer)

    resident, resident_loss = torch_mlp().cuda(), weighted_loss().cuda()  # put on the GPU by the user: stays
    resident_optimizer = torch.optim.Adam(resident.parameters(), lr=0.01)
    assert run(resident, resident_loss, resident_optimizer).train == first.train
    assert run(resident, resident_loss, resident_optimizer).train == second.train
    assert devices_of(resident, resident_loss, resident_optimizer) == {"cuda"}
    fit(resident, (x, y), loss_fn=resident_loss, optimizer=resident_optimizer, epochs=1, **QUIET)
    assert devices_of(resident, resident_loss, resident_optimizer) == {"cuda"}

    with pytest.raises(FloatingPointError):
        fit(borrowed, (x * np.nan, y), loss_fn=loss_fn, optimizer=optimizer, epochs=1, progress=False,
            device="cuda")
    assert devices_of(borrowed, loss_fn, optimizer) == {"cpu"}


# --- errors ----------------------------------------------------------------------------------------
def test_clear_errors_for_bad_inputs():
    x, y = blobs(30)
    model = torch_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    call = dict(loss_fn=loss_fn, optimizer=optimizer, epochs=1, **QUIET)
    with pytest.raises(ValueError, match="x has 30 samples but y has 29"):
        fit(model, (x, y[:-1]), **call)
    with pytest.raises(ValueError, match="val_data: x has 30 samples but y has 3"):
        fit(model, (x, y), val_data=(x, y[:3]), **call)
    with pytest.raises(TypeError, match=r"tuple \(x, y\)"):
        fit(model, x, **call)
    with pytest.raises(TypeError, match="NumPy array or a torch tensor"):
        fit(model, ("not an array", y), **call)
    with pytest.raises(TypeError, match="torch.nn.Module or a course_lib.scratch.Module"):
        fit(object(), (x, y), **call)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        fit(model, (x, y), **{**call, "epochs": 0})
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        fit(model, (x, y), metrics=("auc",), **call)
    with pytest.raises(ValueError, match="no val_data"):
        fit(model, (x, y), early_stopping=EarlyStopping(monitor="val_loss"), **call)
    with pytest.raises(ValueError, match="cannot monitor 'val_acc'"):
        fit(model, (x, y), val_data=(x, y), checkpoint=Checkpoint("unused.pt", monitor="val_acc"), **call)
    with pytest.raises(ValueError, match="does not hold this model's parameters"):
        fit(model, (x, y), **{**call, "optimizer": torch.optim.SGD(torch_mlp().parameters(), lr=0.1)})
    scratch_model = scratch_twin(model)
    with pytest.raises(TypeError, match="needs a torch.optim optimizer"):
        fit(model, (x, y), **{**call, "optimizer": ScratchSGD(scratch_model.parameters(), lr=0.1)})
    with pytest.raises(TypeError, match="a torch model needs a torch loss"):
        fit(model, (x, y), **{**call, "loss_fn": ScratchCrossEntropy()})
    scratch_call = dict(loss_fn=ScratchCrossEntropy(), optimizer=ScratchSGD(scratch_model.parameters(), lr=0.1),
                        epochs=1, progress=False)
    with pytest.raises(TypeError, match="scratch model needs a scratch loss"):
        fit(scratch_model, (x, y), **{**scratch_call, "loss_fn": loss_fn})
    with pytest.raises(ValueError, match="scratch models run on the CPU"):
        fit(scratch_model, (x, y), device="cuda", **scratch_call)
    with pytest.raises(ValueError, match="needs a loss_fn or at least one metric"):
        evaluate(model, (x, y), metrics=())


def test_a_one_shot_generator_is_a_clear_error_before_training():
    x, y = blobs(32)

    def batches():
        return ((torch.as_tensor(x[i:i + 16]), torch.as_tensor(y[i:i + 16])) for i in range(0, 32, 16))

    model = torch_mlp()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match="iterated only once"):
        torch_fit(model, batches(), epochs=2)
    with pytest.raises(ValueError, match="iterated only once"):
        torch_fit(model, (x, y), epochs=1, val_data=batches())
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    assert len(torch_fit(model, batches(), epochs=1)) == 1  # one epoch reads it once: fine
    assert "accuracy" in evaluate(model, batches())


def test_scheduler_is_stepped_once_per_epoch_on_both_sides():
    from course_lib.scratch.lr_scheduler import StepLR as ScratchStepLR

    x, y = blobs(48)
    torch_model = torch_mlp()
    scratch_model = scratch_twin(torch_model)
    torch_optimizer = torch.optim.SGD(torch_model.parameters(), lr=0.2)
    scratch_optimizer = ScratchSGD(scratch_model.parameters(), lr=0.2)
    common = dict(epochs=4, batch_size=16, **QUIET)
    torch_history = fit(torch_model, (x, y), loss_fn=torch.nn.CrossEntropyLoss(), optimizer=torch_optimizer,
                        scheduler=torch.optim.lr_scheduler.StepLR(torch_optimizer, step_size=2, gamma=0.5), **common)
    scratch_history = fit(scratch_model, (x, y), loss_fn=ScratchCrossEntropy(), optimizer=scratch_optimizer,
                          scheduler=ScratchStepLR(scratch_optimizer, step_size=2, gamma=0.5), **common)
    assert torch_history.lr == scratch_history.lr == pytest.approx([0.2, 0.2, 0.1, 0.1])
    np.testing.assert_allclose(scratch_history.train["loss"], torch_history.train["loss"], rtol=1e-10)


def test_reduce_on_plateau_gets_the_validation_loss():
    """ReduceLROnPlateau must be stepped with the validation loss, not the training loss."""
    train, val = anti_validation()
    model = torch_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
    history = fit(model, train, loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=6, batch_size=16,
                  val_data=val, scheduler=scheduler, **QUIET)
    dummy = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    replay = torch.optim.lr_scheduler.ReduceLROnPlateau(dummy, patience=0, factor=0.5)
    expected = []
    for val_loss in history.val["loss"]:
        expected.append(dummy.param_groups[0]["lr"])
        replay.step(val_loss)
    assert history.lr == expected and min(expected) < 0.1


def test_a_fused_optimisers_step_counter_follows_its_parameters_back(monkeypatch):
    """torch keeps a fused (or capturable) optimiser's ``step`` on the parameter's device: after
    fit borrowed a GPU, the counter must come back with the parameters, or the next CPU step fails;
    a plain optimiser's counter stays on the CPU, where torch keeps it.  The state that a GPU would
    hold is stood in for by objects that say they are elsewhere and record where they are sent."""
    from course_lib.training import backends

    class Elsewhere:
        device = torch.device("meta")

        def __init__(self, key, moved):
            self.key, self.moved = key, moved

        def to(self, device):
            self.moved.append((self.key, device.type))
            return torch.zeros(())

    monkeypatch.setattr(backends, "_is_tensor", lambda value: isinstance(value, (torch.Tensor, Elsewhere)))
    for fused in (True, False):
        model = torch_mlp()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01, fused=fused)
        model(torch.as_tensor(blobs()[0])).sum().backward()
        optimizer.step()
        moved = []
        for state in optimizer.state.values():
            for key in list(state):
                state[key] = Elsewhere(key, moved)
        backends._align_optimizer_state(optimizer)
        keys = {key for key, device in moved}
        assert {device for _, device in moved} == {"cpu"}
        assert keys == ({"step", "exp_avg", "exp_avg_sq"} if fused else {"exp_avg", "exp_avg_sq"}), (fused, keys)


def test_a_copy_to_the_cpu_is_never_asynchronous():
    """non_blocking=True is safe only for copies to a GPU: a copy from a GPU to the CPU would be
    read before it finished."""
    from course_lib.training.backends import _TorchBackend

    with _TorchBackend(torch_mlp(), "cpu") as backend:
        assert backend.non_blocking is False


@needs_cuda
def test_a_fused_optimiser_and_gpu_inputs_come_back_to_the_cpu_usable():
    x, y = blobs()
    model, loss_fn = torch_mlp(), torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01, fused=True)
    fit(model, (x, y), loss_fn=loss_fn, optimizer=optimizer, epochs=1, progress=False, device="cuda")
    fit(model, (x, y), loss_fn=loss_fn, optimizer=optimizer, epochs=1, progress=False, device="cpu")  # steps on the CPU
    expected = predict(model, x, device="cpu")
    np.testing.assert_array_equal(predict(model, torch.as_tensor(x).cuda(), device="cpu"), expected)


# --- found by an audit of bad inputs: silent wrong results and lost state -----------------------------
def regression_data(n=40):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 2))
    return x, x.sum(axis=1)


def test_a_regression_target_of_another_shape_is_refused_not_broadcast():
    x, y = regression_data()
    model = torch.nn.Linear(2, 1).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"y\[:, None\]"):
        fit(model, (x, y), loss_fn=torch.nn.MSELoss(), optimizer=optimizer, epochs=1, **QUIET)
    with pytest.raises(ValueError, match="broadcast"):
        evaluate(model, (x, y), loss_fn=torch.nn.MSELoss(), device="cpu")
    history = fit(model, (x, y[:, None]), loss_fn=torch.nn.MSELoss(), optimizer=optimizer, epochs=2, **QUIET)
    assert history.keys() == ["loss"]  # a regression loss records no accuracy by default
    with pytest.raises(ValueError, match="real values"):
        evaluate(model, (x, y[:, None]), loss_fn=torch.nn.MSELoss(), metrics=("accuracy",), device="cpu")


def test_labels_as_floats_or_one_hot_rows_count_as_the_classes_they_are():
    x, y = blobs()
    model = torch_mlp()
    torch_fit(model, (x, y), epochs=5)
    expected = evaluate(model, (x, y), device="cpu")["accuracy"]
    assert 0.5 < expected < 1
    assert evaluate(model, (x, y.astype(np.float64)), device="cpu")["accuracy"] == expected
    assert evaluate(model, (x, np.eye(3)[y]), device="cpu")["accuracy"] == expected


def test_a_model_ending_in_a_sigmoid_is_thresholded_at_one_half():
    x, y = blobs()
    binary = (y == 0).astype(np.float64)[:, None]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Sigmoid()).double()
    fit(model, (x, binary), loss_fn=torch.nn.BCELoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
        epochs=20, batch_size=16, **QUIET)
    with torch.no_grad():
        truth = float(((model(torch.as_tensor(x)) > 0.5).double() == torch.as_tensor(binary)).double().mean())
    assert truth > 0.8
    assert evaluate(model, (x, binary), device="cpu")["accuracy"] == pytest.approx(truth)  # no loss_fn given


def test_bceloss_probabilities_are_thresholded_at_one_half():
    """With BCELoss the outputs are probabilities: threshold them at 0.5, not at 0 as for logits."""

    class Probability(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1).double()
            with torch.no_grad():
                self.linear.weight[:] = torch.tensor([[3.0, 0.0]])
                self.linear.bias.zero_()

        def forward(self, x):
            return torch.sigmoid(self.linear(x))  # no Sigmoid module: only BCELoss says "probabilities"

    x, _ = blobs()
    y = (x[:, :1] > 0).astype(np.float64)
    assert evaluate(Probability(), (x, y), loss_fn=torch.nn.BCELoss(), device="cpu")["accuracy"] == 1.0


def test_bool_targets_become_floats_for_bce():
    """Boolean targets must become floats for BCEWithLogitsLoss, not integer class labels."""
    x, _ = blobs()
    y = x[:, :1] > 0
    model = torch.nn.Linear(2, 1).double()
    history = fit(model, (x, y), loss_fn=torch.nn.BCEWithLogitsLoss(),
                  optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, **QUIET)
    assert np.isfinite(history.train["loss"][0])


def test_a_validation_set_or_checkpoint_path_that_cannot_work_fails_before_training(tmp_path):
    x, y = blobs()
    for bad in (dict(val_data=(x[:10, :1], y[:10])), dict(checkpoint=str(tmp_path / "{Epoch}.pt")),
                dict(checkpoint=str(tmp_path)), dict(scheduler="step")):
        model = torch_mlp()
        before = weights_of(model)
        with pytest.raises((ValueError, TypeError, RuntimeError)):
            torch_fit(model, (x, y), epochs=2, **bad)
        assert all(torch.equal(before[key], value) for key, value in model.state_dict().items()), bad


def test_a_diverging_run_keeps_its_history_and_gets_its_best_weights_back():
    """Epoch 1 trains normally; then the learning rate jumps and the loss overflows: fit raises, with
    the History so far on the exception and the best epoch's weights restored (early stopping's
    restore_best), not a model full of NaN."""
    x, y = blobs()
    model = torch_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0 if epoch == 0 else 1e300)
    with pytest.raises(FloatingPointError, match="were restored") as raised:
        fit(model, (x, y), loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=4, scheduler=scheduler,
            val_data=(x, y), early_stopping=dict(patience=3, restore_best=True), **QUIET)
    history = raised.value.history
    assert len(history) >= 1 and history.best_epoch >= 1
    assert all(torch.isfinite(value).all() for value in model.state_dict().values())


def test_a_checkpoint_of_another_model_loads_nothing(tmp_path):
    from course_lib.training import load_training_checkpoint, save_training_checkpoint

    small = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).double()
    path = save_training_checkpoint(small, tmp_path / "small.pt", epoch=1, logs={})
    model = torch_mlp()
    before = weights_of(model)
    with pytest.raises(ValueError, match="another model; nothing was loaded"):
        load_training_checkpoint(model, path)
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())
    twin = scratch_twin(torch_mlp(1))
    scratch_path = save_training_checkpoint(Sequential(Linear(2, 8, dtype=np.float64), ReLU(),
                                                       Linear(8, 2, dtype=np.float64)),
                                            tmp_path / "small.npz", epoch=1, logs={})
    kept = {key: value.copy() for key, value in twin.state_dict().items()}
    with pytest.raises(ValueError, match="nothing was loaded"):
        load_training_checkpoint(twin, scratch_path)
    assert all(np.array_equal(kept[key], value) for key, value in twin.state_dict().items())


def test_a_loss_class_instead_of_an_instance_and_raw_pixels_get_clear_errors():
    x, y = blobs()
    model = torch_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match=r"pass an instance: CrossEntropyLoss\(\)"):
        fit(model, (x, y), loss_fn=torch.nn.CrossEntropyLoss, optimizer=optimizer, epochs=1, **QUIET)
    with pytest.raises(TypeError, match="to_float_images"):
        predict(model, (x * 50).clip(0, 255).astype(np.uint8), device="cpu")


def test_more_bad_inputs_name_the_mistake():
    """The rest of the audit's obscure errors that a student meets in the first week."""
    from course_lib.training import EarlyStopping

    x, y = blobs()
    model = torch_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"shape \(64,\), one class per sample, got \(64, 1\).*reshape\(-1\)"):
        fit(model, (x, y[:, None]), loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=1, **QUIET)
    with pytest.raises(TypeError, match="class names"):
        fit(model, (x, np.array(["a", "b", "c"])[y]), loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer,
            epochs=1, **QUIET)
    with pytest.raises(TypeError, match="inputs x only"):
        predict(model, (x, y), device="cpu")
    from course_lib.pytorch.models import CNN

    with pytest.raises(ValueError, match=r"x\[:, None\]"):
        predict(CNN(), np.zeros((2, 28, 28), np.float32), device="cpu")
    for patience in ("3", 2.5, 0):
        with pytest.raises(ValueError, match="patience must be a positive integer"):
            EarlyStopping(patience=patience)


def test_a_scratch_checkpoint_loaded_into_a_torch_model_says_so(tmp_path):
    from course_lib.training import load_training_checkpoint, save_training_checkpoint

    path = save_training_checkpoint(scratch_twin(torch_mlp()), tmp_path / "s.npz", epoch=1, logs={})
    with pytest.raises(ValueError, match="scratch model's .npz checkpoint"):
        load_training_checkpoint(torch_mlp(), path)


def test_targets_that_are_neither_labels_nor_probabilities_are_named():
    from course_lib.training.epoch_metrics import _target_labels

    with pytest.raises(ValueError, match="such as 0.5"):  # 0.5 alone could be a soft label; with 2.0, no
        _target_labels(np.array([0.5, 2.0]), None)
    assert _target_labels(np.array([0.2, 0.9]), None).tolist() == [0, 1]
    assert _target_labels(np.array([2.0, 0.0]), None).tolist() == [2, 0]


def test_soft_target_of_exactly_one_half_is_class_0():
    """A soft binary target of exactly 0.5 must count as class 0 (> 0.5 is class 1), not class 1."""
    from course_lib.training.epoch_metrics import _target_labels

    assert _target_labels(np.array([0.5, 0.25, 0.75]), None).tolist() == [0, 0, 1]


def test_a_token_id_outside_the_vocabulary_is_named_before_torch_fails():
    """torch's own message was "index out of range in self" (from the bad-input audit)."""
    from course_lib.pytorch.models import RecurrentModel, TransformerModel

    tokens = np.array([[1, 2, 3], [4, 12, 0]])
    for model in (RecurrentModel(8, 16, 2, vocab_size=10), TransformerModel(d_model=8, nhead=2, num_layers=1,
                                                                             output_size=2, vocab_size=10)):
        with pytest.raises(ValueError, match=r"token ids must lie in \[0, 10\).*from 0 to 12"):
            predict(model, tokens, device="cpu")
        with pytest.raises(ValueError, match="token ids"):
            fit(model, (tokens, np.array([0, 1])), loss_fn=torch.nn.CrossEntropyLoss(),
                optimizer=torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, **QUIET)
        with pytest.raises(TypeError, match="inputs must be integers"):
            predict(model, tokens.astype(np.float32), device="cpu")
        assert predict(model, tokens % 10, device="cpu").shape == (2, 2)
