"""bench/elementwise.py: every row times one scratch layer against its torch twin, forward and backward."""
import numpy as np
import torch

from bench import elementwise
from bench.timing import Row


def test_each_row_runs_the_layer_and_its_twin_forward_and_backward_on_the_same_numbers(monkeypatch):
    rows = []

    def fake_compare(name, numpy_fn, torch_fn, target=None, note=""):
        numpy_fn()
        torch_fn()
        rows.append((name, target, note))
        return Row(name, 1.0, 1.0, target, note)

    monkeypatch.setattr(elementwise, "compare", fake_compare)
    results = elementwise.run(quick=True)
    assert len(results) == len(rows) == 8 and all(row.target is None for row in results)
    assert [name.split(" ")[0] for name, _, _ in rows] == [
        "Sigmoid", "Tanh", "ReLU", "GELU", "Softmax(dim=-1)", "LogSoftmax(dim=-1)", "LayerNorm(32)", "BatchNorm1d(128),"]


def test_the_cases_are_twins_that_agree():
    """The timed pairs compute the same function (a row of two different layers would time nothing useful)."""
    rng = np.random.default_rng(0)
    for name, make, make_torch, shape in elementwise._cases(quick=True):
        x = rng.standard_normal(shape).astype(np.float32)
        grad = rng.standard_normal(shape).astype(np.float32)
        layer, torch_layer = make(), make_torch()
        x_torch = torch.from_numpy(x).requires_grad_()
        out = torch_layer(x_torch)
        out.backward(torch.from_numpy(grad))
        np.testing.assert_allclose(layer(x), out.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(layer.backward(grad), x_torch.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name)
