"""Sinusoidal positional encoding: the table, x + PE, gradient pass-through, dropout, errors."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

from course_lib.scratch import init
from course_lib.scratch.gradcheck import gradcheck
from course_lib.scratch.positional import PositionalEncoding, sinusoidal_table

from .parity import assert_close
from ..hypothesis_budget import examples


def torch_tutorial_table(max_len, d_model):
    """The table as the PyTorch tutorial builds it (even d_model), as an independent oracle."""
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


@pytest.mark.parametrize("d_model", [1, 2, 5, 16])
def test_table_is_the_formula(d_model):
    """PE(pos, 2i) = sin(pos / 10000^{2i/d}), PE(pos, 2i+1) = cos(pos / 10000^{2i/d}), entry by entry."""
    table = sinusoidal_table(30, d_model, np.float64)
    for pos in range(30):
        for j in range(d_model):
            angle = pos / 10000 ** ((j - j % 2) / d_model)
            assert table[pos, j] == pytest.approx(math.sin(angle) if j % 2 == 0 else math.cos(angle), abs=1e-12)


def test_table_matches_pytorch_tutorial():
    assert_close(sinusoidal_table(100, 12, np.float64), torch_tutorial_table(100, 12))


def test_shift_is_a_rotation():
    """Each (sin, cos) pair at pos + k is the pair at pos rotated by k·ω: PE(pos+k) is linear in PE(pos)."""
    d_model, shift = 8, 5
    table = sinusoidal_table(50, d_model, np.float64)
    omegas = 10000.0 ** (-np.arange(0, d_model, 2) / d_model)
    for i, omega in enumerate(omegas):
        c, s = math.cos(shift * omega), math.sin(shift * omega)
        rotation = np.array([[c, -s], [s, c]])  # [sin(a+b), cos(a+b)] = [sin a, cos a] @ R
        pairs = table[:, 2 * i:2 * i + 2]
        np.testing.assert_allclose(pairs[:-shift] @ rotation, pairs[shift:], atol=1e-12)


@settings(max_examples=examples(20), deadline=None)
@given(st.integers(1, 4), st.integers(1, 7), st.integers(1, 6), st.booleans(), st.booleans(), st.integers(0, 2**16))
def test_forward_adds_table_and_backward_passes_gradient(batch, length, d_model, batch_first, batched, seed):
    rng = np.random.default_rng(seed)
    layer = PositionalEncoding(d_model, max_len=10, batch_first=batch_first, dtype=np.float64)
    table = sinusoidal_table(10, d_model, np.float64)[:length]
    if not batched:
        x, expected_table = rng.standard_normal((length, d_model)), table
    elif batch_first:
        x, expected_table = rng.standard_normal((batch, length, d_model)), table[None]
    else:
        x, expected_table = rng.standard_normal((length, batch, d_model)), table[:, None]
    np.testing.assert_allclose(layer(x), x + expected_table, rtol=1e-15)
    grad = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(grad), grad)


def test_gradcheck():
    x = np.random.default_rng(0).standard_normal((4, 2, 6))
    gradcheck(PositionalEncoding(6, max_len=8, dtype=np.float64), x)


@pytest.mark.parametrize("d_model", [1, 6, 7])
def test_the_module_matches_its_pytorch_twin(d_model):
    """The scratch module against ``course_lib.pytorch.models.PositionalEncoding`` (batch-first, as the
    models use it): same table buffer, same output, same input gradient (a coverage audit: only the
    table was compared)."""
    import torch

    from course_lib.pytorch.models import PositionalEncoding as TorchPositionalEncoding

    rng = np.random.default_rng(d_model)
    layer = PositionalEncoding(d_model, max_len=9, batch_first=True, dtype=np.float64)
    # the twin's table is made in torch's default float32 and .double() keeps those values (6·10⁻⁸ at most)
    twin = TorchPositionalEncoding(d_model, max_len=9, batch_first=True).double()
    np.testing.assert_allclose(layer.state_dict()["pe"], twin.state_dict()["pe"].numpy(), rtol=0, atol=1e-7)
    x, grad = rng.standard_normal((3, 5, d_model)), rng.standard_normal((3, 5, d_model))
    x_t = torch.tensor(x, requires_grad=True)
    out_t = twin(x_t)
    out_t.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(layer(x), out_t.detach().numpy(), rtol=0, atol=1e-7)
    np.testing.assert_array_equal(layer.backward(grad), x_t.grad.numpy())
    float32 = PositionalEncoding(d_model, max_len=9, batch_first=True)  # in float32 the two tables are one
    np.testing.assert_array_equal(float32.state_dict()["pe"], TorchPositionalEncoding(d_model, max_len=9, batch_first=True).pe.numpy())


def test_dropout_mask_is_reused_in_backward():
    layer = PositionalEncoding(6, max_len=8, dropout=0.5, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((5, 3, 6))
    init.manual_seed(3)
    out = layer(x)
    kept = out != 0
    assert 0.2 < kept.mean() < 0.8
    np.testing.assert_allclose(out[kept], 2 * (x + sinusoidal_table(8, 6, np.float64)[:5, None])[kept])
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), 2.0 * kept)
    np.testing.assert_array_equal(layer.eval()(x), x + sinusoidal_table(8, 6, np.float64)[:5, None])


def test_buffer_dtype_and_float32():
    layer = PositionalEncoding(4, max_len=6)
    assert list(layer.state_dict()) == ["pe"] and layer.pe.shape == (6, 4) and layer.pe.dtype == np.float32
    assert layer(np.zeros((3, 2, 4), np.float32)).dtype == np.float32


def test_errors():
    layer = PositionalEncoding(4, max_len=6)
    with pytest.raises(ValueError, match=r"expected input of shape \(L, N, d_model=4\) or \(L, d_model=4\), got \(3, 2, 5\)"):
        layer(np.zeros((3, 2, 5), np.float32))
    with pytest.raises(ValueError, match="max_len=6, got length 7"):
        layer(np.zeros((7, 2, 4), np.float32))
    with pytest.raises(ValueError, match="dtype float32, got float64"):
        layer(np.zeros((3, 2, 4)))
    with pytest.raises(ValueError, match="d_model ≥ 1"):
        sinusoidal_table(5, 0)


@pytest.mark.parametrize("layout", ["(L, N, d)", "(N, L, d)", "(L, d)"])
def test_the_twins_share_their_arguments_defaults_and_state_dict(layout):
    """Same constructor (d_model, max_len=5000, dropout, batch_first=False), same default layout, so a
    state_dict moves between them; the PyTorch twin once read (N, L, d) only, with max_len 512, and a
    sequence-first input went through it with no error and other numbers (a mirror audit)."""
    import inspect

    import torch

    from course_lib.pytorch.models import PositionalEncoding as TorchPositionalEncoding

    scratch_arguments = dict(inspect.signature(PositionalEncoding).parameters)
    scratch_arguments.pop("dtype")
    assert ({name: p.default for name, p in scratch_arguments.items()}
            == {name: p.default for name, p in inspect.signature(TorchPositionalEncoding).parameters.items()})
    batch_first = layout == "(N, L, d)"
    layer = PositionalEncoding(6, batch_first=batch_first)
    twin = TorchPositionalEncoding(6, batch_first=batch_first)
    twin.load_state_dict({key: torch.from_numpy(value) for key, value in layer.state_dict().items()})
    shape = {"(L, N, d)": (5, 3, 6), "(N, L, d)": (3, 5, 6), "(L, d)": (5, 6)}[layout]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    np.testing.assert_array_equal(layer(x), twin(torch.from_numpy(x)).numpy())
    with pytest.raises(ValueError, match="max_len=4, got length 5"):
        TorchPositionalEncoding(6, max_len=4, batch_first=batch_first)(torch.from_numpy(x))
    with pytest.raises(ValueError, match=r"d_model=6\) or \(L, d_model=6\), got"):
        twin(torch.zeros(5, 3, 4))


@pytest.mark.parametrize("size", [0, 2.0])
def test_both_twins_refuse_a_size_that_makes_no_table(size):
    from course_lib.pytorch.models import PositionalEncoding as TorchPositionalEncoding

    for make in (PositionalEncoding, TorchPositionalEncoding):
        with pytest.raises(ValueError, match="PositionalEncoding: d_model must be"):
            make(size)


def test_a_sequence_exactly_max_len_long_is_encoded():
    x = np.zeros((5, 1, 4), np.float32)
    np.testing.assert_array_equal(PositionalEncoding(4, max_len=5)(x)[:, 0], sinusoidal_table(5, 4))
