"""End to end: a scratch MLP trained with scratch optimisers follows the torch MLP step by step.

Same initial weights (copied through state_dict), same mini-batches, float64: the
training losses must agree within 1e-4 at each of 100 steps, and the final weights closely.
This ties together Linear, ReLU, CrossEntropyLoss, backward, the optimisers and a schedule.
"""
import math

import numpy as np
import pytest
import torch

from course_lib.interop import state_dict_to_torch
from course_lib.scratch import init, lr_scheduler, optim
from course_lib.scratch.activations import ReLU
from course_lib.scratch.linear import Linear
from course_lib.scratch.losses import CrossEntropyLoss
from course_lib.scratch import Sequential

STEPS, BATCH_SIZE, HIDDEN = 100, 32, 16


def spirals(points_per_class=100, classes=3, seed=0):
    """Interleaved spiral arms in 2-D (the classic non-linearly-separable toy problem)."""
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.05, 1.0, points_per_class), classes)
    label = np.repeat(np.arange(classes), points_per_class)
    angle = 4.0 * radius + 2 * np.pi * label / classes + 0.2 * rng.standard_normal(radius.size)
    x = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return x, label


def minibatch_indices(n, seed=1):
    """STEPS mini-batches drawn by reshuffling the data every epoch."""
    rng = np.random.default_rng(seed)
    batches = []
    while len(batches) < STEPS:
        order = rng.permutation(n)
        batches.extend(order[i:i + BATCH_SIZE] for i in range(0, n - BATCH_SIZE + 1, BATCH_SIZE))
    return batches[:STEPS]


def scratch_mlp():
    init.manual_seed(0)
    return Sequential(Linear(2, HIDDEN, dtype=np.float64), ReLU(), Linear(HIDDEN, HIDDEN, dtype=np.float64), ReLU(),
                      Linear(HIDDEN, 3, dtype=np.float64))


def torch_mlp():
    return torch.nn.Sequential(torch.nn.Linear(2, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, HIDDEN),
                               torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 3)).double()


OPTIMISERS = {
    "SGD-momentum": (lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                     lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, foreach=False), None),
    "Adam": (lambda p: optim.Adam(p, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01, foreach=False), None),
    "SGD-nesterov-inverse-sqrt": (
        lambda p: optim.SGD(p, lr=0.2, momentum=0.9, nesterov=True, weight_decay=1e-4),
        lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9, nesterov=True, weight_decay=1e-4, foreach=False),
        0.05),
}


@pytest.mark.parametrize("name", OPTIMISERS)
def test_scratch_training_follows_torch(name):
    make_scratch_opt, make_torch_opt, delta = OPTIMISERS[name]
    x, y = spirals()
    model, reference = scratch_mlp(), torch_mlp()
    state_dict_to_torch(model.state_dict(), reference)
    loss_fn, torch_loss_fn = CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    optimizer, torch_optimizer = make_scratch_opt(model.parameters()), make_torch_opt(reference.parameters())
    schedulers = []
    if delta is not None:  # the course's decaying rate η/√(1 + δt) on both sides
        schedulers = [lr_scheduler.InverseSqrtLR(optimizer, delta),
                      torch.optim.lr_scheduler.LambdaLR(torch_optimizer, lambda t: 1 / math.sqrt(1 + delta * t))]

    losses, torch_losses = [], []
    for batch in minibatch_indices(len(x)):
        xb, yb = x[batch], y[batch]
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        model.backward(loss_fn.backward())
        optimizer.step()

        torch_optimizer.zero_grad()
        torch_loss = torch_loss_fn(reference(torch.from_numpy(xb)), torch.from_numpy(yb))
        torch_loss.backward()
        torch_optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
        losses.append(float(loss))
        torch_losses.append(torch_loss.item())

    np.testing.assert_allclose(losses, torch_losses, rtol=1e-4, atol=1e-4)
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10])  # it did learn something
    for param_name, param in model.named_parameters():
        np.testing.assert_allclose(param.data, reference.state_dict()[param_name].numpy(), rtol=1e-6, atol=1e-8)
