"""Embedding: torch parity over random index shapes (with repeats and padding_idx), gradcheck, errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from course_lib.scratch import gradcheck
from course_lib.scratch.embedding import Embedding, embedding_backward

from .parity import assert_close, assert_parity
from ..hypothesis_budget import examples


@settings(max_examples=examples(20), deadline=None)
@given(
    shape=array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
    num_embeddings=st.integers(1, 8),
    dim=st.integers(1, 4),
    use_padding=st.booleans(),
    max_norm=st.sampled_from([None, 0.5, 1.5]),
    norm_type=st.sampled_from([2.0, 1.0, 3.0, float("inf")]),
    scale_grad_by_freq=st.booleans(),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_parity(shape, num_embeddings, dim, use_padding, max_norm, norm_type, scale_grad_by_freq, seed, data):
    rng = np.random.default_rng(seed)
    padding_idx = data.draw(st.integers(-num_embeddings, num_embeddings - 1)) if use_padding else None
    indices = rng.integers(0, num_embeddings, size=shape)  # small vocabularies: many repeats
    options = dict(padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq)
    torch_layer = torch.nn.Embedding(num_embeddings, dim, **options).double()
    layer = Embedding(num_embeddings, dim, **options, dtype=np.float64)
    grad = rng.standard_normal(shape + (dim,))
    _, grads_in, _ = assert_parity(torch_layer, layer, indices, grad)
    assert grads_in == (None,)
    # max_norm rescales the looked-up rows of the weight itself, in place, as torch does
    assert_close(layer.weight.data, torch_layer.weight.detach().numpy(), rtol=1e-12, what="weight after forward")
    if max_norm is not None and indices.size:
        looked_up = np.linalg.norm(layer.weight.data[np.unique(indices)], ord=norm_type, axis=1)
        assert looked_up.max() <= max_norm + 1e-6


def test_gradient_accumulates_and_padding_row_stays_zero():
    layer = Embedding(5, 3, padding_idx=1, dtype=np.float64)
    assert np.all(layer.weight.data[1] == 0)
    indices = np.array([[0, 1, 0], [4, 1, 0]])
    grad = np.ones((2, 3, 3))
    for _ in range(2):  # accumulates like torch
        layer(indices)
        layer.backward(grad)
    assert_close(layer.weight.grad[:, 0], [6.0, 0.0, 0.0, 0.0, 2.0])


def test_gradcheck_weight():
    layer = Embedding(6, 2, dtype=np.float64)
    indices = np.array([[1, 2, 2], [5, 1, 0]])
    assert gradcheck(layer, indices, check_inputs=[])


def test_dense_backward_helper_equals_one_hot_product():
    rng = np.random.default_rng(0)
    indices = rng.integers(0, 7, size=(4, 6))
    grad = rng.standard_normal((4, 6, 3))
    one_hot = np.eye(7)[indices.reshape(-1)]
    assert_close(embedding_backward(indices, grad, 7), one_hot.T @ grad.reshape(-1, 3))


def test_skewed_index_counts_match_one_hot_product():
    """One very frequent index (like padding), a few medium ones and many singletons: every size bucket."""
    rng = np.random.default_rng(1)
    indices = np.concatenate([np.zeros(600, np.int64), rng.integers(1, 20, 300), np.arange(20, 120)])
    indices = rng.permutation(indices).reshape(20, 50)
    grad = rng.standard_normal((20, 50, 4))
    one_hot = np.eye(120)[indices.reshape(-1)]
    assert_close(embedding_backward(indices, grad, 120), one_hot.T @ grad.reshape(-1, 4), rtol=1e-10, atol=1e-10)


def test_no_add_at_in_source():
    import inspect

    import course_lib.scratch.embedding as module

    assert "np.add.at(" not in inspect.getsource(module).replace("``np.add.at``", "")


def test_float32_default():
    layer = Embedding(4, 2)
    out = layer(np.array([0, 3]))
    assert out.dtype == np.float32 and layer.weight.dtype == np.float32


def test_errors():
    layer = Embedding(4, 2)
    with pytest.raises(ValueError, match="integer indices.*got dtype float64"):
        layer(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"index 4 is out of range: indices must be in \[0, 3\]"):
        layer(np.array([[0, 4]]))
    with pytest.raises(ValueError, match="index -1 is out of range"):
        layer(np.array([-1]))
    with pytest.raises(ValueError, match="NumPy array"):
        layer([0, 1])
    with pytest.raises(ValueError, match="padding_idx"):
        Embedding(4, 2, padding_idx=4)
    with pytest.raises(ValueError, match="max_norm must be a non-negative number or None, got -1"):
        Embedding(4, 2, max_norm=-1)
    with pytest.raises(ValueError, match="norm_type must be positive"):
        Embedding(4, 2, max_norm=1, norm_type=0)
    layer(np.array([0, 1]))
    with pytest.raises(ValueError, match=r"grad_output of shape \(2, 2\) \(the output's shape\), got \(2, 3\)"):
        layer.backward(np.zeros((2, 3), np.float32))
    with pytest.raises(RuntimeError, match="before forward"):
        Embedding(4, 2).backward(np.zeros((1, 2)))


@pytest.mark.parametrize("freeze", [True, False])
def test_from_pretrained_is_torchs(freeze):
    """A copy of the given table, frozen by default; the padding row keeps its values."""
    rng = np.random.default_rng(0)
    table = rng.standard_normal((6, 3))
    torch_layer = torch.nn.Embedding.from_pretrained(torch.tensor(table), freeze=freeze, padding_idx=2)
    layer = Embedding.from_pretrained(table, freeze=freeze, padding_idx=2)
    assert repr(layer) == repr(torch_layer) and layer.weight.requires_grad == torch_layer.weight.requires_grad
    indices, grad = rng.integers(0, 6, (4, 5)), rng.standard_normal((4, 5, 3))
    output = torch_layer(torch.from_numpy(indices))
    if not freeze:
        output.backward(torch.from_numpy(grad))
    assert_close(layer(indices), output.detach().numpy())
    layer.backward(grad)
    assert (layer.weight.grad is None) == freeze == (torch_layer.weight.grad is None)
    if not freeze:
        assert_close(layer.weight.grad, torch_layer.weight.grad.numpy())
    table[0, 0] = 99.0  # a copy, not a view
    assert layer.weight.data[0, 0] != 99.0 and np.array_equal(layer.weight.data[2], table[2])
    with pytest.raises(ValueError, match="2-D float32 or float64 array"):
        Embedding.from_pretrained(np.zeros(3))
