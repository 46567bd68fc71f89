"""MaxPool2d and AvgPool2d: gradcheck, torch parity (ties included), overlaps, cache blocks, errors."""
import contextlib
import re

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from course_lib.scratch import gradcheck
from course_lib.scratch import pooling
from course_lib.scratch.pooling import AvgPool2d, MaxPool2d, max_pool2d_backward, max_pool2d_forward
from .parity import MEMORY_ORDERS, assert_parity, stored_in
from ..hypothesis_budget import examples

pairs = st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))


def _as_pair(value):
    return (value, value) if isinstance(value, int) else value


@st.composite
def pool_cases(draw, with_dilation):
    kernel = draw(pairs)
    stride = draw(st.one_of(st.none(), pairs))
    dilation = draw(pairs) if with_dilation else 1
    reach = [d * (k - 1) + 1 for k, d in zip(_as_pair(kernel), _as_pair(dilation))]
    padding = tuple(draw(st.integers(0, k // 2)) for k in _as_pair(kernel))  # torch: padding ≤ kernel/2
    ceil_mode = draw(st.booleans())
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 8)), draw(st.integers(1, 8)))
    assume(all(size + 2 * p >= r for size, p, r in zip(shape[2:], padding, reach)))
    return dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=ceil_mode), dilation, shape


def _inputs(rng, shape, ties):
    x = rng.standard_normal(shape)
    return np.round(x) if ties else x  # rounding makes many equal values: tie-breaking is tested


@settings(max_examples=examples(20), deadline=None)
@given(case=pool_cases(with_dilation=True), ties=st.booleans(), seed=st.integers(0, 2**16))
def test_max_pool_parity_with_torch(case, ties, seed):
    """Output and input gradient equal torch's, also with ties, overlaps, padding, dilation, ceil mode."""
    config, dilation, shape = case
    rng = np.random.default_rng(seed)
    x = _inputs(rng, shape, ties)
    torch_layer = torch.nn.MaxPool2d(**config, dilation=dilation)
    layer = MaxPool2d(**config, dilation=dilation)
    out = torch_layer(torch.from_numpy(x))
    # a dilated window can fall entirely into the padding: its output is −∞ and torch then
    # sends the gradient to an out-of-window index (a torch quirk we do not copy)
    assume(bool(torch.isfinite(out).all()))
    assert_parity(torch_layer, layer, x, rng.standard_normal(tuple(out.shape)))
    # torch's flat indices
    _, expected_indices = torch.nn.MaxPool2d(**config, dilation=dilation, return_indices=True)(torch.from_numpy(x))
    _, indices = MaxPool2d(**config, dilation=dilation, return_indices=True)(x)
    np.testing.assert_array_equal(indices, expected_indices.numpy())


@settings(max_examples=examples(20), deadline=None)
@given(
    case=pool_cases(with_dilation=False),
    count_include_pad=st.booleans(),
    divisor_override=st.sampled_from([None, None, 3]),
    seed=st.integers(0, 2**16),
)
def test_avg_pool_parity_with_torch(case, count_include_pad, divisor_override, seed):
    config, _, shape = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    kwargs = dict(config, count_include_pad=count_include_pad, divisor_override=divisor_override)
    torch_layer, layer = torch.nn.AvgPool2d(**kwargs), AvgPool2d(**kwargs)
    out_shape = tuple(torch_layer(torch.from_numpy(x)).shape)
    assert_parity(torch_layer, layer, x, rng.standard_normal(out_shape))


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_ceil_mode_window_past_the_padding(count_include_pad):
    """In ceil mode the last window sticks out past the right padding; torch divides by its clipped size."""
    kwargs = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=count_include_pad)
    x = np.random.default_rng(8).standard_normal((2, 2, 6, 6))
    grad = np.random.default_rng(9).standard_normal((2, 2, 4, 4))
    out, _, _ = assert_parity(torch.nn.AvgPool2d(**kwargs), AvgPool2d(**kwargs), x, grad)
    assert out.shape == (2, 2, 4, 4)


@pytest.mark.parametrize(
    "kwargs",
    [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1), dict(kernel_size=(2, 3), stride=(1, 2), ceil_mode=True)],
)
def test_max_pool_ties_go_to_the_first_maximum_like_torch(kwargs):
    """Constant input: every window is one big tie; torch picks the first (row-major) element."""
    x = np.full((2, 3, 6, 7), 0.5)
    torch_layer, layer = torch.nn.MaxPool2d(**kwargs), MaxPool2d(**kwargs)
    out_shape = tuple(torch_layer(torch.from_numpy(x)).shape)
    grad = np.random.default_rng(0).standard_normal(out_shape)
    assert_parity(torch_layer, layer, x, grad)


def test_max_pool_tie_by_hand():
    """2×2 windows of a constant image: the whole gradient lands on each window's top-left pixel."""
    layer = MaxPool2d(2)
    layer(np.ones((1, 1, 4, 4)))
    grad_input = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    expected = np.array([[1, 0, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]], dtype=float)
    np.testing.assert_array_equal(grad_input[0, 0], expected)


def test_overlapping_windows_accumulate():
    """With stride 1 a pixel that is the maximum of several windows collects all their gradients."""
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the maximum of all four 2×2 windows
    layer = MaxPool2d(2, stride=1)
    layer(x)
    grad_input = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert grad_input[0, 0, 1, 1] == 10.0 and grad_input.sum() == 10.0
    avg = AvgPool2d(2, stride=1)
    avg(x)
    grad_avg = avg.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_allclose(grad_avg[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])


def test_max_pool_nan_propagates_like_torch():
    x = np.arange(32, dtype=np.float64).reshape(1, 2, 4, 4)
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = x[0, 1, 2, 2] = np.nan
    torch_layer, layer = torch.nn.MaxPool2d(2, stride=1), MaxPool2d(2, stride=1)
    assert_parity(torch_layer, layer, x, np.random.default_rng(1).standard_normal((1, 2, 3, 3)))


def test_two_by_two_tournament_matches_torch_on_odd_sizes_infinities_and_nan():
    """MaxPool2d(2) takes the tournament path.  Odd sizes (a last row and column no window
    covers), −∞ windows, ties and NaN (which wins by torch's rule, not by comparison) all give
    torch's numbers; repeated calls reuse freed memory, so a stale gradient would show."""
    rng = np.random.default_rng(11)
    x = np.round(rng.standard_normal((3, 4, 7, 9)))
    x[0, 0, :2, :2] = -np.inf
    x[0, 1, 2:4, 4:6] = [[-np.inf, 1.0], [1.0, -np.inf]]
    with_nan = x.copy()
    with_nan[1, 2, 0, 1] = with_nan[2, 3, 5, 5] = np.nan
    layer, torch_layer = MaxPool2d(2), torch.nn.MaxPool2d(2)
    for inputs in (x, x, with_nan, x):
        assert_parity(torch_layer, layer, inputs, rng.standard_normal((3, 4, 3, 4)))


def test_infinite_gradient_is_routed_not_spread():
    """A non-finite upstream gradient reaches only the argmax (0·inf would make NaN elsewhere)."""
    layer = MaxPool2d(2)
    layer(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    grad_input = layer.backward(np.array([[[[np.inf]]]]))
    np.testing.assert_array_equal(grad_input[0, 0], [[0, 0], [0, np.inf]])


@pytest.mark.parametrize("kernel_size, stride", [(2, 2), (3, 1), (3, 2)])
def test_non_finite_gradients_reach_what_torchs_reach_with_overlapping_windows_too(kernel_size, stride):
    """Overlapping windows add their contributions, a branch of its own (an audit: only 2×2 was tested)."""
    rng = np.random.default_rng(0)
    x = rng.permutation(2 * 9 * 9).reshape(1, 2, 9, 9).astype(np.float64)  # distinct values: no ties
    layer, torch_layer = MaxPool2d(kernel_size, stride=stride), torch.nn.MaxPool2d(kernel_size, stride=stride)
    out = layer(x)
    grad = rng.standard_normal(out.shape)
    grad[0, 0, 0, 0], grad[0, 1, 1, 1], grad[0, 1, 0, 0] = np.inf, np.nan, -np.inf
    ours = layer.backward(grad)
    x_torch = torch.from_numpy(x).requires_grad_()
    torch_layer(x_torch).backward(torch.from_numpy(grad))
    theirs = x_torch.grad.numpy()
    for kind in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(kind(ours), kind(theirs))
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-12, atol=0)


@pytest.mark.parametrize("layer", [MaxPool2d(3, stride=2, padding=1), AvgPool2d(3, stride=2, padding=1),
                                   # options a coverage audit found no gradient check of (each compared with torch)
                                   MaxPool2d(2, stride=1, dilation=2), MaxPool2d(3, stride=2, ceil_mode=True),
                                   AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
                                   AvgPool2d(2, stride=2, padding=1, divisor_override=3)], ids=repr)
def test_gradcheck(layer):
    rng = np.random.default_rng(5)
    x = rng.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) / 10.0  # distinct values: no ties under ±ε
    assert gradcheck(layer, x)


def test_avg_pool_gradcheck_count_exclude_pad_ceil_mode():
    layer = AvgPool2d((2, 3), stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    assert gradcheck(layer, np.random.default_rng(6).standard_normal((1, 2, 5, 6)))


@pytest.mark.parametrize("layer_type", [MaxPool2d, AvgPool2d])
def test_float32_stays_float32(layer_type):
    layer = layer_type(2)
    out = layer(np.random.default_rng(7).standard_normal((2, 3, 8, 8)).astype(np.float32))
    assert out.dtype == np.float32
    assert layer.backward(np.ones_like(out)).dtype == np.float32


def test_functional_max_pool_returns_first_offset():
    x = np.array([[[[1.0, 3.0, 3.0], [0.0, 3.0, 2.0]]]])
    out, argmax = max_pool2d_forward(x, (2, 2), stride=1)
    np.testing.assert_array_equal(out[0, 0], [[3.0, 3.0]])
    np.testing.assert_array_equal(argmax[0, 0], [[1, 0]])  # offsets (0,1) and (0,0), not (1,1)
    grad = max_pool2d_backward(np.ones((1, 1, 1, 2)), argmax, x.shape, (2, 2), stride=1)
    np.testing.assert_array_equal(grad[0, 0], [[0, 2, 0], [0, 0, 0]])


# --- errors a student will meet ------------------------------------------------------


@pytest.mark.parametrize("layer_type", [MaxPool2d, AvgPool2d])
def test_errors(layer_type):
    name = layer_type.__name__
    layer = layer_type(2)
    with pytest.raises(ValueError, match=re.escape(f"{name} expected input of shape (N, C, H, W), got (28, 28)")):
        layer(np.zeros((28, 28)))
    with pytest.raises(ValueError, match=f"{name} expected a float32 or float64 input, got int64"):
        layer(np.zeros((1, 1, 4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="too small for kernel"):
        layer_type(3)(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match="padding .* must be between 0 and half the kernel size"):
        layer_type(2, padding=2)
    layer(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=re.escape("expected grad_output of shape (1, 1, 2, 2)")):
        layer.backward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(RuntimeError, match="before forward"):
        layer_type(2).backward(np.zeros((1, 1, 2, 2)))


@settings(max_examples=examples(30), deadline=None)
@given(
    kernel=st.sampled_from([2, 3, (2, 3)]),
    stride=st.sampled_from([None, 1, 2]),
    shape=st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(3, 9), st.integers(3, 9)),
    order=st.sampled_from(sorted(MEMORY_ORDERS)),
    grad_order=st.sampled_from(sorted(MEMORY_ORDERS)),
    nan=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_max_pool_in_cache_blocks_equals_one_block(kernel, stride, shape, order, grad_order, nan, seed):
    """Forward and backward in blocks along N or C (one entry per block here) give the numbers of a
    single block bit for bit, in every memory layout — ties, NaN, overlapping windows and an
    upstream gradient stored differently from the input included."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.standard_normal(shape)).astype(np.float32)
    if nan:
        x[tuple(rng.integers(0, size) for size in shape)] = np.nan
    x = stored_in(x, MEMORY_ORDERS[order])
    results = []
    for block_bytes in (1 << 40, 1):  # one block; one image or channel per block
        with _block_bytes(block_bytes):
            out, argmax = max_pool2d_forward(x, kernel, stride)
            grad = stored_in(np.round(np.random.default_rng(seed).standard_normal(out.shape)), MEMORY_ORDERS[grad_order])
            results.append((out, argmax, max_pool2d_backward(grad.astype(np.float32), argmax, x.shape, kernel, stride)))
    for single, blocked in zip(*results):
        np.testing.assert_array_equal(blocked, single)


def test_cache_blocks_split_the_outermost_of_n_and_c():
    x = np.zeros((6, 4, 8, 8), np.float32)  # NCHW: images are outermost
    blocks = pooling._cache_blocks(x)
    assert len(blocks) == 1
    batch_innermost = stored_in(x, MEMORY_ORDERS["batch-innermost"])
    with _block_bytes(x.nbytes // 4):  # room for one of 4 channels, or 1.5 of 6 images
        assert pooling._cache_blocks(x) == [(slice(start, start + 1),) for start in range(6)]
        assert pooling._cache_blocks(batch_innermost) == [(slice(None), slice(c, c + 1)) for c in range(4)]
    with _block_bytes(x[:1].nbytes // 2):  # a single image: its channels are split, two per block
        assert pooling._cache_blocks(x[:1]) == [(slice(None), slice(c, c + 2)) for c in (0, 2)]


@contextlib.contextmanager
def _block_bytes(size):
    """Pool in blocks of ``size`` bytes (hypothesis tests cannot take pytest's monkeypatch)."""
    original, pooling._BLOCK_BYTES = pooling._BLOCK_BYTES, size
    try:
        yield
    finally:
        pooling._BLOCK_BYTES = original


def test_windows_of_minus_infinity_point_at_their_first_real_entry_like_torch():
    """Padding is −∞ too, so such a window ties with its padding; torch's indices and gradient go
    to the window's first real entry (found with random geometries and mostly −∞ inputs)."""
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(200):
        kernel, stride, dilation = int(rng.integers(2, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 3))
        padding, ceil_mode = int(rng.integers(1, kernel // 2 + 1)), bool(rng.integers(0, 2))
        x = rng.standard_normal((2, 2, int(rng.integers(4, 9)), int(rng.integers(4, 9))))
        x[rng.random(x.shape) < 0.6] = -np.inf
        torch_pool = torch.nn.MaxPool2d(kernel, stride, padding, dilation, return_indices=True, ceil_mode=ceil_mode)
        x_torch = torch.from_numpy(x).requires_grad_()
        try:
            torch_out, torch_indices = torch_pool(x_torch)
        except RuntimeError:  # a geometry torch refuses (e.g. an output of size 0)
            continue
        pool = MaxPool2d(kernel, stride, padding, dilation, return_indices=True, ceil_mode=ceil_mode)
        out, indices = pool(x)
        grad = rng.standard_normal(out.shape)
        torch_out.backward(torch.from_numpy(grad))
        np.testing.assert_array_equal(out, torch_out.detach().numpy())
        np.testing.assert_array_equal(indices, torch_indices.numpy())
        np.testing.assert_allclose(pool.backward(grad), x_torch.grad.numpy(), rtol=1e-12)
        checked += 1
    assert checked > 100


def test_overlapping_windows_add_their_gradients_in_one_bincount_in_the_inputs_layout(monkeypatch):
    """Which path runs (the parity tests above pass on either), and that it keeps the input's memory layout."""
    from course_lib.scratch import pooling
    from course_lib.scratch.layout import batch_innermost, memory_order

    calls = []
    bincount = np.bincount
    monkeypatch.setattr(pooling.np, "bincount", lambda *args, **kwargs: calls.append(1) or bincount(*args, **kwargs))
    rng = np.random.default_rng(21)
    x = rng.standard_normal((4, 3, 11, 9)).astype(np.float32)
    for stored in (x, batch_innermost(x)):
        layer = MaxPool2d(3, stride=2, padding=1)
        grad = rng.standard_normal(layer(stored).shape).astype(np.float32)
        result = layer.backward(grad)
        torch_x = torch.from_numpy(x).requires_grad_()
        torch.nn.MaxPool2d(3, stride=2, padding=1)(torch_x).backward(torch.from_numpy(grad))
        np.testing.assert_allclose(result, torch_x.grad.numpy(), rtol=1e-6, atol=1e-6)
        assert result.dtype == np.float32 and memory_order(result) == memory_order(stored)
    assert len(calls) == 2
    calls.clear()
    out, argmax = max_pool2d_forward(x, 3, 2, 1)
    expected = max_pool2d_backward(np.ones_like(out), argmax, x.shape, 3, 2, 1)
    for shape in (list(x.shape), np.array(x.shape)):  # any sequence, as before the cache (an audit)
        np.testing.assert_array_equal(max_pool2d_backward(np.ones_like(out), argmax, shape, 3, 2, 1), expected)
    layer = MaxPool2d(2)  # disjoint windows write their winners directly
    calls.clear()
    layer.backward(np.ones_like(layer(x)))
    assert calls == []
