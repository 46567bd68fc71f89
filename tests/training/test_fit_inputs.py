"""What fit, its checkpoints and its metrics refuse or explain, on both sides (an audit of
course_lib.training, 2026-12-06: each case failed obscurely, late or silently before)."""
from __future__ import annotations

import functools
import os

import numpy as np
import pytest
import torch

from course_lib import metrics
from course_lib.scratch import BatchNorm1d, Linear, Sequential
from course_lib.scratch.losses import CrossEntropyLoss as ScratchCrossEntropy
from course_lib.scratch.optim import SGD as ScratchSGD
from course_lib.training import fit, load_training_checkpoint, save_training_checkpoint

from .test_fit import QUIET, blobs, scratch_twin, torch_fit, torch_mlp, weights_of


def _torch_batchnorm_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3)).double()


def _scratch_batchnorm_model():
    return Sequential(Linear(2, 8, dtype=np.float64), BatchNorm1d(8, dtype=np.float64), Linear(8, 3, dtype=np.float64))


@pytest.mark.parametrize("side", ["torch", "scratch"])
def test_a_last_batch_of_one_sample_is_explained_and_drop_last_leaves_it_out(side):
    x, y = blobs(n=91)  # 91 = 9 · 10 + 1
    model = _torch_batchnorm_model() if side == "torch" else _scratch_batchnorm_model()
    loss_fn = torch.nn.CrossEntropyLoss() if side == "torch" else ScratchCrossEntropy()
    make_optimizer = (lambda: torch.optim.SGD(model.parameters(), lr=0.1)) if side == "torch" else \
        (lambda: ScratchSGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match=r"one sample: the last of the epoch, as 91 samples are one more than a "
                                         r"multiple of batch_size=10; pass drop_last=True"):
        fit(model, (x, y), loss_fn=loss_fn, optimizer=make_optimizer(), epochs=1, batch_size=10, **QUIET)
    history = fit(model, (x, y), loss_fn=loss_fn, optimizer=make_optimizer(), epochs=2, batch_size=10,
                  drop_last=True, **QUIET)
    assert len(history) == 2 and np.isfinite(history.train["loss"]).all()


def test_drop_last_trains_on_the_full_batches_only():
    """With drop_last the epoch is the hand-written loop over the first 80 of a shuffled 90."""
    x, y = blobs(n=90)
    model, reference = torch_mlp(), torch_mlp()
    fit(model, (x, y), loss_fn=torch.nn.CrossEntropyLoss(), optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=1, batch_size=16, drop_last=True, seed=3, **QUIET)
    order = np.random.default_rng(3).permutation(90)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    for start in range(0, 80, 16):
        index = order[start:start + 16]
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(reference(torch.from_numpy(x[index])), torch.from_numpy(y[index])).backward()
        optimizer.step()
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="fewer than batch_size=128: with drop_last=True no mini-batch"):
        fit(model, (x, y), loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=1, batch_size=128,
            drop_last=True, **QUIET)
    with pytest.raises(ValueError, match=r"drop_last is its option \(DataLoader\(..., drop_last=True\)\)"):
        fit(model, [(torch.from_numpy(x), torch.from_numpy(y))] * 2, loss_fn=torch.nn.CrossEntropyLoss(),
            optimizer=optimizer, epochs=1, drop_last=True, **QUIET)


@pytest.mark.parametrize("seed", [-1, 1.5, "3", 2**64, True])
def test_a_seed_that_is_no_seed_is_refused_before_anything_is_reseeded(seed):
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    with pytest.raises(ValueError, match="seed must be None or an integer from 0 to 2\\*\\*32 - 1"):
        torch_fit(torch_mlp(), blobs(), seed=seed)
    torch.manual_seed(5)
    assert torch.equal(torch.rand(1), expected)


def test_a_missing_loss_or_optimiser_is_named():
    model = torch_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for loss_fn, opt, missing in ((None, optimizer, "loss_fn is"), (torch.nn.CrossEntropyLoss(), None, "optimizer is"),
                                  (None, None, "loss_fn and optimizer are")):
        with pytest.raises(TypeError, match=f"fit needs both loss_fn and optimizer; {missing} missing"):
            fit(model, blobs(), loss_fn=loss_fn, optimizer=opt, epochs=1, **QUIET)


def test_metrics_of_one_name_are_refused_and_partials_are_named_by_their_function():
    x, y = blobs()
    with pytest.raises(ValueError, match="two metrics are both called '<lambda>'"):
        torch_fit(torch_mlp(), (x, y), epochs=1, metrics=[lambda t, p: 1.0, lambda t, p: 0.5])
    history = torch_fit(torch_mlp(), (x, y), epochs=1,
                        metrics=[functools.partial(metrics.precision, average="macro"),
                                 functools.partial(metrics.recall, average="macro")])
    assert list(history.train) == ["loss", "precision", "recall"]
    assert history.train["precision"] != history.train["recall"]


def test_integer_features_and_float_class_labels_get_the_scratch_sides_words_on_the_torch_side():
    x, y = blobs()
    with pytest.raises(TypeError, match="the inputs are torch.int64 .* convert with x.astype\\(np.float32\\)"):
        torch_fit(torch_mlp(), (np.round(x).astype(np.int64), y), epochs=1)
    with pytest.raises(TypeError, match="class-index targets must be integers, got floats .* y.astype\\(np.int64\\)"):
        torch_fit(torch_mlp(), (x, y.astype(np.float64)), epochs=1)


def test_a_damaged_scratch_checkpoint_is_named(tmp_path):
    model = scratch_twin(torch_mlp())
    good = save_training_checkpoint(model, tmp_path / "good.npz", epoch=1, logs={})
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    array = tmp_path / "array.npy"
    np.save(array, np.zeros(3))
    for path, cause in ((cut, "BadZipFile"), (empty, "EOFError"), (array, "TypeError")):
        with pytest.raises(ValueError, match=f"{path.name} is not a scratch checkpoint written by fit \\({cause}"):
            load_training_checkpoint(model, path)


def test_a_checkpoint_path_under_a_file_fails_before_training(tmp_path):
    (tmp_path / "afile").write_text("")
    model = torch_mlp()
    before = weights_of(model)
    with pytest.raises(ValueError, match="cannot be written: .*afile'? is a file, not a folder"):
        torch_fit(model, blobs(), checkpoint=str(tmp_path / "afile" / "sub" / "ck.pt"))
    assert all(torch.equal(before[key], value) for key, value in model.state_dict().items())


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder")
def test_a_checkpoint_path_in_a_read_only_folder_fails_before_training(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="no permission to write in"):
            torch_fit(torch_mlp(), blobs(), checkpoint=str(folder / "ck.pt"))
    finally:
        folder.chmod(0o755)


def test_a_resumed_run_without_a_monitor_reports_no_best_epoch(tmp_path):
    """The checkpoint's run had one (its checkpoint monitor); the run that goes on without early stopping
    or a checkpoint watches nothing, as the same run without interruption would not."""
    x, y = blobs()
    model = torch_mlp()
    first = torch_fit(model, (x, y), epochs=2, checkpoint=dict(path=str(tmp_path / "e{epoch}.pt"), save="every"))
    assert first.best_epoch is not None
    resumed = torch_fit(model, (x, y), epochs=4, resume=tmp_path / "e2.pt")
    assert resumed.best_epoch is None and len(resumed) == 4
