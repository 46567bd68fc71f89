"""What a GPU user meets, checked on the CPU: every spelling of the CPU for a scratch model, bfloat16
outputs (the usual mixed precision on a GPU), an optimiser of the user's own, and a checkpoint loaded
into a model that should stay where it is (an audit of the CUDA paths, 2026-12-07)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import deploy, metrics, plots
from course_lib.pytorch.models import MLP
from course_lib.training import evaluate, fit, predict
from course_lib.training.backends import _TorchBackend

from .test_fit import blobs, scratch_twin, torch_mlp


@pytest.mark.parametrize("device", ["cpu", "CPU", " cpu ", "cpu:0", torch.device("cpu"), "auto", None])
def test_a_scratch_model_takes_every_spelling_of_the_cpu_the_torch_side_takes(device):
    model = scratch_twin(torch_mlp())
    x, y = blobs(12)
    assert predict(model, x, device=device).shape == (12, 3)


@pytest.mark.parametrize("device", ["cuda", torch.device("cuda"), "mps"])
def test_a_scratch_model_still_refuses_a_gpu_by_name(device):
    with pytest.raises(ValueError, match="scratch models run on the CPU with NumPy"):
        predict(scratch_twin(torch_mlp()), blobs(6)[0], device=device)


def test_a_bfloat16_model_predicts_and_its_outputs_are_scored_and_plotted():
    model = torch_mlp(dtype=torch.bfloat16)
    x, y = blobs(30)
    scores = predict(model, x, device="cpu")
    assert scores.dtype == np.float32 and scores.shape == (30, 3)
    expected = model(torch.from_numpy(x).to(torch.bfloat16)).float().detach().numpy()
    np.testing.assert_array_equal(scores, expected)
    labels = torch.from_numpy(scores.argmax(axis=1)).to(torch.bfloat16)
    assert metrics.accuracy(torch.from_numpy(y).to(torch.bfloat16), labels) == metrics.accuracy(y, scores.argmax(1))
    assert plots._numpy(torch.ones(2, dtype=torch.bfloat16)).dtype == np.float32
    assert np.isfinite(evaluate(model, (x, y), loss_fn=torch.nn.CrossEntropyLoss(), device="cpu")["loss"])


class _OwnSGD:
    """An optimiser of the user's own, in torch's layout (param_groups, state), not a torch.optim.Optimizer."""

    def __init__(self, params, lr):
        self.param_groups = [{"params": list(params), "lr": lr}]
        self.state = {}

    def zero_grad(self, set_to_none=True):
        for param in self.param_groups[0]["params"]:
            param.grad = None

    @torch.no_grad()
    def step(self):
        for param in self.param_groups[0]["params"]:
            velocity = self.state.setdefault(param, {"velocity": torch.zeros_like(param)})["velocity"]
            velocity.mul_(0.9).add_(param.grad)
            param.sub_(self.param_groups[0]["lr"] * velocity)


def test_an_optimiser_of_ones_own_in_torchs_layout_has_its_state_moved_with_the_model():
    """Its state follows the model to the training device and back, as a torch optimiser's does
    (it stayed on the device it was made on, and the next step on a GPU mixed devices)."""
    model = torch_mlp()
    optimizer = _OwnSGD(model.parameters(), lr=0.05)
    history = fit(model, blobs(30), loss_fn=torch.nn.CrossEntropyLoss(), optimizer=optimizer, epochs=2,
                  batch_size=10, seed=0, progress=False, device="cpu")
    assert history.epochs == [1, 2] and len(optimizer.state) == 4
    assert _TorchBackend(model, "cpu", optimizer=optimizer).optimizer is optimizer
    assert _TorchBackend(model, "cpu", optimizer=object()).optimizer is None


def test_load_checkpoint_leaves_a_given_model_on_its_device(tmp_path):
    """A model the user put on a GPU stayed there only with device= named; it was moved to the CPU.
    On the CPU the meta device stands in for "not the CPU": loading must not move the model off it."""
    torch.manual_seed(0)
    source = MLP([4, 3, 2])
    deploy.save_checkpoint(source, tmp_path / "mlp.ckpt")
    elsewhere = MLP([4, 3, 2]).to("meta")
    with pytest.warns(UserWarning, match="meta"):  # torch: copying into a meta tensor is a no-op
        loaded = deploy.load_checkpoint(tmp_path / "mlp.ckpt", model=elsewhere)
    assert loaded is elsewhere and next(loaded.parameters()).device.type == "meta" and not loaded.training
    target = MLP([4, 3, 2])
    deploy.load_checkpoint(tmp_path / "mlp.ckpt", model=target)
    for key, value in source.state_dict().items():
        torch.testing.assert_close(target.state_dict()[key], value)
    assert next(deploy.load_checkpoint(tmp_path / "mlp.ckpt").parameters()).device.type == "cpu"  # rebuilt
