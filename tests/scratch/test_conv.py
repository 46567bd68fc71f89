"""Conv2d and its functional forms: gradcheck, torch parity over random geometries and padding modes, errors."""
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.scratch import gradcheck, init
from course_lib.scratch.conv import (Conv2d, _weight_gradient_per_output_row, col2im, conv2d_backward, conv2d_forward,
                                     im2col, pad_by_mode, pad_by_mode_backward, resolve_padding)
from .parity import MEMORY_ORDERS, assert_close, assert_parity, assert_uniform_init, stored_in
from ..hypothesis_budget import examples


@st.composite
def conv_cases(draw):
    """A random but valid Conv2d configuration and input shape (small, for speed)."""
    groups = draw(st.sampled_from([1, 1, 1, 2]))
    in_channels = groups * draw(st.integers(1, 3))
    out_channels = groups * draw(st.integers(1, 3))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))  # often non-square
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(
        st.one_of(
            st.tuples(st.integers(0, 2), st.integers(0, 2)),
            st.integers(0, 2),
            st.sampled_from(["same", "valid"]),
        )
    )
    stride = (1, 1) if padding == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pads = (padding, padding) if isinstance(padding, int) else (0, 0) if isinstance(padding, str) else padding
    # the (dilated) kernel must fit in the padded input
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    height = max(1, reach[0] - 2 * pads[0]) + draw(st.integers(0, 4))
    width = max(1, reach[1] - 2 * pads[1]) + draw(st.integers(0, 4))
    batch = draw(st.integers(1, 3))
    bias = draw(st.booleans())
    config = dict(
        in_channels=in_channels,
        out_channels=out_channels,
        kernel_size=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=bias,
    )
    return config, (batch, in_channels, height, width)


def _torch_and_scratch(config, dtype=np.float64):
    torch_layer = torch.nn.Conv2d(**config).double()
    return torch_layer, Conv2d(**config, dtype=dtype)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=examples(20), deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_parity_with_torch(case, seed):
    """Forward, input gradient and weight/bias gradients equal torch's on the same weights."""
    config, shape = case
    rng = np.random.default_rng(seed)
    torch_layer, layer = _torch_and_scratch(config)
    x = rng.standard_normal(shape)
    with torch.no_grad():
        out_shape = torch_layer(torch.from_numpy(x)).shape
    assert_parity(torch_layer, layer, x, rng.standard_normal(tuple(out_shape)))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=examples(20), deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**16))
def test_first_layer_weight_gradients_from_either_gradient_layout_are_torchs(case, seed):
    """Without dL/dx, an NCHW gradient takes one GEMM per image (groups = 1) and a batch-innermost
    one (as the layers after a convolution hand it back) X_col: the weight and bias gradients
    are torch's both ways."""
    config, shape = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    for layout in ("NCHW", "batch-innermost"):
        torch_layer, layer = _torch_and_scratch(config)
        layer.requires_input_grad = False
        with torch.no_grad():
            grad = rng.standard_normal(tuple(torch_layer(torch.from_numpy(x)).shape))
        if layout == "batch-innermost":
            grad = np.ascontiguousarray(grad.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
        assert_parity(torch_layer, layer, x, grad, check_input_grads=[])
        assert layer._input is None  # the input is released with the columns


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=examples(20), deadline=None)
@given(case=conv_cases(), mode=st.sampled_from(["reflect", "replicate", "circular"]),
       layout=st.sampled_from(sorted(MEMORY_ORDERS.values())), seed=st.integers(0, 2**16))
def test_padding_modes_match_torch(case, mode, layout, seed):
    """padding_mode 'reflect', 'replicate', 'circular': torch's output and gradients, for any
    geometry and input layout, including a first layer that keeps the padded input."""
    config, shape = case
    config = dict(config, padding_mode=mode)
    batch, channels, height, width = shape
    pads = resolve_padding(config["padding"], config["kernel_size"], config["stride"], config["dilation"])
    shape = (batch, channels, max(height, max(pads[:2]) + 1), max(width, max(pads[2:]) + 1))  # reflect: pad < size
    rng = np.random.default_rng(seed)
    x = stored_in(rng.standard_normal(shape), layout)
    for input_grad in (True, False):
        torch_layer, layer = _torch_and_scratch(config)
        layer.requires_input_grad = input_grad
        with torch.no_grad():
            grad = rng.standard_normal(tuple(torch_layer(torch.from_numpy(x)).shape))
        assert_parity(torch_layer, layer, x, grad, check_input_grads=None if input_grad else [])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_gradcheck_and_what_they_copy(mode):
    rng = np.random.default_rng(0)
    layer = Conv2d(2, 3, (3, 2), padding=(2, 1), padding_mode=mode, dtype=np.float64)
    assert gradcheck(layer, rng.standard_normal((2, 2, 4, 5)))
    # with stride, dilation and groups too (a coverage audit: only the plain layer was checked)
    strided = Conv2d(4, 2, 2, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2, padding_mode=mode,
                     dtype=np.float64)
    assert gradcheck(strided, rng.standard_normal((2, 4, 5, 4)))
    row = np.arange(4.0).reshape(1, 1, 1, 4)
    expected = {"reflect": [2, 1, 0, 1, 2, 3, 2, 1], "replicate": [0, 0, 0, 1, 2, 3, 3, 3],
                "circular": [2, 3, 0, 1, 2, 3, 0, 1]}[mode]
    assert pad_by_mode(row, (0, 0, 2, 2), mode)[0, 0, 0].tolist() == expected
    # the adjoint: each input pixel collects the gradient of every copy of it
    counts = pad_by_mode_backward(np.ones((1, 1, 1, 8)), row.shape, (0, 0, 2, 2), mode)[0, 0, 0]
    assert counts.tolist() == [np.count_nonzero(np.array(expected) == k) for k in range(4)]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_an_inf_in_the_gradient_reaches_only_the_inputs_it_came_from(mode):
    """As products with 0/1 matrices, one inf in dL/dy made a whole plane of dL/dx NaN (0·inf = NaN;
    an audit); now dL/dx is non-finite exactly where torch's is, with the same values elsewhere."""
    rng = np.random.default_rng(0)
    layer = Conv2d(2, 2, 3, padding=1, padding_mode=mode, dtype=np.float64)
    torch_layer = torch.nn.Conv2d(2, 2, 3, padding=1, padding_mode=mode).double()
    torch_layer.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in layer.state_dict().items()})
    x = rng.standard_normal((1, 2, 6, 6))
    grad = rng.standard_normal((1, 2, 6, 6))
    grad[0, 1, 0, 5] = np.inf  # a corner: its gradient passes through a padded row and a padded column
    layer(x)
    ours = layer.backward(grad)
    x_torch = torch.from_numpy(x).requires_grad_()
    torch_layer(x_torch).backward(torch.from_numpy(grad))
    theirs = x_torch.grad.numpy()
    assert np.array_equal(np.isnan(ours), np.isnan(theirs)) and np.array_equal(np.isinf(ours), np.isinf(theirs))
    assert np.isfinite(ours).sum() > 0.5 * ours.size
    finite = np.isfinite(theirs)
    np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "config",
    [
        dict(in_channels=2, out_channels=3, kernel_size=(2, 3), stride=(2, 1), padding=(1, 0)),
        dict(in_channels=2, out_channels=2, kernel_size=3, stride=1, padding=1, bias=False),
        dict(in_channels=2, out_channels=4, kernel_size=2, stride=2, dilation=2, padding="valid", groups=2),
        dict(in_channels=1, out_channels=2, kernel_size=(2, 1), padding="same"),
    ],
)
def test_gradcheck(config):
    """Finite differences confirm dL/dx, dL/dW and dL/db in float64."""
    rng = np.random.default_rng(0)
    layer = Conv2d(**config, dtype=np.float64)
    x = rng.standard_normal((2, config["in_channels"], 5, 6))
    assert gradcheck(layer, x)


def test_functional_forms_match_torch_in_float32():
    """conv2d_forward/backward are torch's F.conv2d and its gradients; float32 stays float32."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 9, 7)).astype(np.float32)
    weight = rng.standard_normal((6, 2, 3, 2)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    kwargs = dict(stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    out, columns = conv2d_forward(x, weight, bias, return_columns=True, **kwargs)
    x_t, w_t, b_t = (torch.from_numpy(a).requires_grad_() for a in (x, weight, bias))
    out_t = torch.nn.functional.conv2d(x_t, w_t, b_t, **kwargs)
    grad = rng.standard_normal(out.shape).astype(np.float32)
    out_t.backward(torch.from_numpy(grad))
    assert out.dtype == np.float32 and columns.dtype == np.float32
    assert_close(out, out_t, rtol=1e-4, atol=1e-4, what="forward")
    for grads in (conv2d_backward(grad, x, weight, **kwargs), conv2d_backward(grad, x.shape, weight, columns=columns, **kwargs)):
        assert all(g.dtype == np.float32 for g in grads)
        assert_close(grads, (x_t.grad, w_t.grad, b_t.grad), rtol=1e-4, atol=1e-4, what="gradients")
    grad_input, grad_weight, grad_bias = conv2d_backward(grad, x, weight, input_grad=False, bias_grad=False, **kwargs)
    assert grad_input is None and grad_bias is None
    assert_close(grad_weight, w_t.grad, rtol=1e-4, atol=1e-4)


@settings(max_examples=examples(20), deadline=None)
@given(
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(st.integers(0, 2), st.integers(0, 2)),
    seed=st.integers(0, 2**16),
)
def test_col2im_is_the_adjoint_of_im2col(kernel, stride, padding, seed):
    """<im2col(x), Y> = <x, col2im(Y)>: col2im sums overlapping windows, it does not invert im2col."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 6, 5))
    columns = im2col(x, kernel, stride, padding)
    out_h = (6 + 2 * padding[0] - kernel[0]) // stride[0] + 1
    out_w = (5 + 2 * padding[1] - kernel[1]) // stride[1] + 1
    assert columns.shape == (3 * kernel[0] * kernel[1], 2 * out_h * out_w)
    y = rng.standard_normal(columns.shape)
    back = col2im(y, x.shape, kernel, stride, padding)
    assert back.shape == x.shape
    assert math.isclose(np.sum(columns * y), np.sum(x * back), rel_tol=1e-10, abs_tol=1e-10)


def test_col2im_counts_overlaps():
    """With a 3×3 kernel, stride 1, a pixel lies in as many windows as col2im(ones) says."""
    x_shape = (1, 1, 4, 4)
    counts = col2im(np.ones((9, 4)), x_shape, 3)[0, 0]
    expected = np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]])
    np.testing.assert_array_equal(counts, expected)


@pytest.mark.parametrize("in_channels, groups, bias, per_row", [(1, 1, True, True), (2, 2, False, True), (8, 1, True, False)],
                         ids=["one-channel: per-row sum", "grouped thin: per-row sum", "eight channels: one GEMM"])
def test_weight_gradient_either_way_is_torchs(in_channels, groups, bias, per_row):
    """A thin weight matrix (few input channels, large images) takes dL/dW as a sum over output
    rows of smaller products; a wide one, one GEMM.  Both are torch's numbers, bias included."""
    weight_columns = in_channels // groups * 3 * 3 + bias  # + the column of ones that carries the bias
    assert _weight_gradient_per_output_row(18 * 5, weight_columns) == per_row  # 18 pixels × 5 images a row
    rng = np.random.default_rng(12)
    x = rng.standard_normal((5, in_channels, 20, 20))
    torch_layer = torch.nn.Conv2d(in_channels, 4, 3, groups=groups, bias=bias).double()
    assert_parity(torch_layer, Conv2d(in_channels, 4, 3, groups=groups, bias=bias, dtype=np.float64),
                  x, rng.standard_normal((5, 4, 18, 18)))


def test_module_keeps_float32_and_accumulates_gradients():
    """float32 in, float32 out and grads; a second backward adds to .grad like torch."""
    rng = np.random.default_rng(2)
    layer = Conv2d(3, 4, 3, padding=1)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    out = layer(x)
    grad = rng.standard_normal(out.shape).astype(np.float32)
    grad_input = layer.backward(grad)
    assert out.dtype == grad_input.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == np.float32
    first = layer.weight.grad.copy()
    layer(x)
    assert_close(layer.backward(grad), grad_input, rtol=1e-6, atol=0)
    assert_close(layer.weight.grad, 2 * first, rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="already called for its last forward call"):
        layer.backward(grad)  # one backward per forward (and the im2col buffer was reused for dL/dX_col)


def test_requires_input_grad_false_skips_only_the_input_gradient():
    rng = np.random.default_rng(3)
    layer = Conv2d(1, 2, 3, dtype=np.float64)
    x = rng.standard_normal((2, 1, 5, 5))
    grad = rng.standard_normal((2, 2, 3, 3))
    layer(x)
    full = layer.backward(grad)
    expected_weight_grad = layer.weight.grad.copy()
    layer.zero_grad()
    layer.requires_input_grad = False
    layer(x)
    assert layer.backward(grad) is None and full.shape == x.shape
    assert_close(layer.weight.grad, expected_weight_grad)


def test_pointwise_kernel_never_overwrites_the_input():
    """With a 1×1 kernel im2col could be a view of x; backward reuses the columns' memory, so it must not be."""
    rng = np.random.default_rng(10)
    layer = Conv2d(1, 2, 1, dtype=np.float64)
    x = rng.standard_normal((3, 1, 4, 4))
    x_before = x.copy()
    torch_layer = torch.nn.Conv2d(1, 2, 1).double()
    assert_parity(torch_layer, layer, x, rng.standard_normal((3, 2, 4, 4)))
    np.testing.assert_array_equal(x, x_before)


def test_non_contiguous_input_and_float64_gradient():
    """Strided views (a flipped, transposed array) work; a float64 upstream gradient keeps float32 grads."""
    rng = np.random.default_rng(11)
    base = rng.standard_normal((2, 7, 6, 3))
    x = base.transpose(0, 3, 1, 2)[:, :, ::-1]  # (2, 3, 7, 6), negative and permuted strides
    torch_layer = torch.nn.Conv2d(3, 2, 3, stride=2, padding=1).double()
    layer = Conv2d(3, 2, 3, stride=2, padding=1, dtype=np.float64)
    assert_parity(torch_layer, layer, x, rng.standard_normal((2, 2, 4, 3)))
    layer32 = Conv2d(3, 2, 3)
    out = layer32(np.ascontiguousarray(x, dtype=np.float32))
    assert layer32.backward(rng.standard_normal(out.shape)).dtype == np.float32
    assert layer32.weight.grad.dtype == np.float32


def test_default_init_is_torchs_distribution():
    """U(−1/√fan_in, 1/√fan_in) for weight and bias, fan_in = C/groups·kh·kw; torch's shapes."""
    layer = Conv2d(8, 6, (3, 5), groups=2)
    bound = 1 / math.sqrt(4 * 3 * 5)
    assert layer.weight.shape == (6, 4, 3, 5) and layer.bias.shape == (6,)
    for param in (layer.weight.data, layer.bias.data):
        assert param.dtype == np.float32
        assert np.abs(param).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.8 * bound  # uses the whole range
    # the bias's distribution too, ungrouped (6 values only bounded it; an audit)
    assert_uniform_init(Conv2d(4, 300, 3).bias.data, 1 / math.sqrt(4 * 3 * 3), "Conv2d bias")
    assert Conv2d(2, 3, 1, bias=False).bias is None
    assert [name for name, _ in Conv2d(2, 3, 1).named_parameters()] == ["weight", "bias"]


def test_grouped_bias_init_bound_uses_the_per_group_fan_in_like_torch():
    """Catches a bias bound computed from all in_channels (1/√(C·kh·kw)) instead of torch's
    per-group fan_in C/groups·kh·kw: with groups=2 that bound is √2 too narrow."""
    init.manual_seed(0)
    torch.manual_seed(0)
    bound = 1 / math.sqrt(4 // 2 * 3 * 3)
    layer, torch_layer = Conv2d(4, 300, 3, groups=2), torch.nn.Conv2d(4, 300, 3, groups=2)  # 300 biases to judge
    assert_uniform_init(torch_layer.bias.detach().numpy(), bound, "torch's bias")  # the bound is torch's
    assert_uniform_init(layer.bias.data, bound, "bias")
    assert_uniform_init(layer.weight.data, bound, "weight")


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_padding_same_with_even_kernels_pads_bottom_right_like_torch():
    """An odd total padding puts the extra row/column at the bottom/right, as torch does."""
    config = dict(in_channels=2, out_channels=3, kernel_size=(4, 2), padding="same", dilation=(1, 3))
    torch_layer, layer = _torch_and_scratch(config)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 7, 8))
    out, _, _ = assert_parity(torch_layer, layer, x, rng.standard_normal((2, 3, 7, 8)))
    assert out.shape == (2, 3, 7, 8)


def test_circular_padding_as_large_as_the_input_matches_torch():
    """torch allows circular padding up to the input size (it wraps exactly once); catches
    refusing padding == size."""
    rng = np.random.default_rng(13)
    config = dict(in_channels=2, out_channels=3, kernel_size=3, padding=(2, 3), padding_mode="circular")
    torch_layer, layer = _torch_and_scratch(config)
    x = rng.standard_normal((2, 2, 2, 3))  # padding equals the height (2) and the width (3)
    out, _, _ = assert_parity(torch_layer, layer, x, rng.standard_normal((2, 3, 4, 7)))
    assert out.shape == (2, 3, 4, 7)


# --- errors a student will meet ------------------------------------------------------


def test_error_for_missing_batch_and_channel_axes():
    layer = Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=re.escape("Conv2d expected input of shape (N, C=3, H, W), got (28, 28)")):
        layer(np.zeros((28, 28), dtype=np.float32))


def test_error_for_channel_mismatch():
    with pytest.raises(ValueError, match=re.escape("in_channels=3 but the input has 1 channels")):
        Conv2d(3, 8, 3)(np.zeros((4, 1, 28, 28), dtype=np.float32))


def test_error_for_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"kernel covers 5×5 pixels but the padded input is only 4×4"):
        Conv2d(1, 1, 5, padding=1)(np.zeros((1, 1, 2, 2), dtype=np.float32))


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.uint8])
def test_error_for_wrong_dtype(dtype):
    with pytest.raises(ValueError, match="Conv2d expected input of dtype float32"):
        Conv2d(1, 1, 3)(np.zeros((1, 1, 5, 5), dtype=dtype))


def test_error_for_bad_arguments():
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be an int, a pair, 'same' or 'valid'"):
        Conv2d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match=r"padding_mode must be one of \('zeros', 'reflect', 'replicate', "
                                         r"'circular'\), got 'mirror'"):
        Conv2d(1, 1, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="'reflect' needs padding smaller than the input, but the input's width is 2"):
        Conv2d(1, 1, 3, padding=2, padding_mode="reflect")(np.zeros((1, 1, 5, 2), np.float32))
    with pytest.raises(ValueError, match="'circular' needs padding at most the input size.*height is 2.*wrap"):
        Conv2d(1, 1, 3, padding=3, padding_mode="circular")(np.zeros((1, 1, 2, 5), np.float32))
    with pytest.raises(ValueError, match="input has 3 channels but the weight"):
        conv2d_forward(np.zeros((1, 3, 5, 5)), np.zeros((2, 2, 3, 3)))


def test_error_for_wrong_grad_output_shape():
    layer = Conv2d(1, 2, 3)
    layer(np.zeros((1, 1, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=re.escape("expected grad_output of shape (1, 2, 3, 3)")):
        layer.backward(np.zeros((1, 2, 5, 5), dtype=np.float32))
    with pytest.raises(RuntimeError, match="forward call first"):
        Conv2d(1, 2, 3).backward(np.zeros((1, 2, 3, 3), dtype=np.float32))


def test_first_layer_on_an_empty_batch_gives_zero_weight_gradients():
    """N = 0 without dL/dx and with an NCHW gradient (the per-image path): zeros, as torch, no error."""
    layer = Conv2d(1, 3, 3)
    layer.requires_input_grad = False
    out = layer(np.zeros((0, 1, 6, 6), np.float32))
    assert out.shape == (0, 3, 4, 4)
    assert layer.backward(np.zeros((0, 3, 4, 4), np.float32)) is None
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_col2im_leaves_numpys_ufunc_buffer_size_as_it_found_it():
    """col2im adds with a smaller ufunc buffer (faster for its strided runs); the caller's setting survives."""
    previous = np.setbufsize(4096)
    try:
        layer = Conv2d(2, 3, 3, padding=1)
        out = layer(np.ones((2, 2, 6, 6), np.float32))
        layer.backward(np.ones(out.shape, np.float32))
        assert np.getbufsize() == 4096
    finally:
        np.setbufsize(previous)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@settings(max_examples=examples(25), deadline=None)
@given(case=conv_cases(), seed=st.integers(0, 2**16), x_order=st.sampled_from(sorted(MEMORY_ORDERS)),
       grad_order=st.sampled_from(sorted(MEMORY_ORDERS)), input_grad=st.booleans())
def test_parity_with_torch_for_every_memory_layout_of_input_and_gradient(case, seed, x_order, grad_order, input_grad):
    """The layer copies whatever layout it gets into X_col's order (and takes a batch-innermost
    gradient as a free view): torch's numbers for every pairing, with and without dL/dx."""
    config, shape = case
    rng = np.random.default_rng(seed)
    torch_layer, layer = _torch_and_scratch(config)
    layer.requires_input_grad = input_grad
    x = rng.standard_normal(shape)
    with torch.no_grad():
        out_shape = tuple(torch_layer(torch.from_numpy(x)).shape)
    grad = stored_in(rng.standard_normal(out_shape), MEMORY_ORDERS[grad_order])
    assert_parity(torch_layer, layer, stored_in(x, MEMORY_ORDERS[x_order]), grad,
                  check_input_grads=None if input_grad else [])


def test_the_functional_backward_gives_the_bias_gradient_from_columns_made_without_a_bias():
    """conv2d_backward with columns from a forward without bias (no column of ones) sums the bias
    gradient over N, H and W, as torch."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 5))
    weight = rng.standard_normal((4, 3, 3, 3))
    out, columns = conv2d_forward(x, weight, None, return_columns=True)
    grad = rng.standard_normal(out.shape)
    grad_bias = conv2d_backward(grad, x, weight, columns=columns)[2]
    np.testing.assert_allclose(grad_bias, grad.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_a_kernel_wider_than_the_input_is_refused_as_one_taller():
    for shape in ((1, 1, 5, 3), (1, 1, 3, 5)):
        kernel = (1, 4) if shape[3] == 3 else (4, 1)
        with pytest.raises(ValueError, match="the kernel covers"):
            Conv2d(1, 1, kernel)(np.ones(shape, np.float32))


def test_groups_must_divide_both_channel_counts_as_in_torch():
    for in_channels, out_channels in ((4, 3), (3, 4)):
        with pytest.raises(ValueError):
            torch.nn.Conv2d(in_channels, out_channels, 3, groups=2)
        with pytest.raises(ValueError, match="must both be divisible by groups"):
            Conv2d(in_channels, out_channels, 3, groups=2)
