"""Memory layout changes speed, never numbers.

A convolution returns its output batch-innermost ((C, H, W, N) memory, NCHW shape) and ReLU
and pooling keep the layout of their input.  These tests check that NCHW, NHWC, pixel-major
and batch-innermost inputs give the same results (bit for bit where no sum is involved), that the layout flows through the CNN, that 2×2 pooling's
tournament breaks every kind of tie like torch, and that a whole batch-64 CNN step equals
torch's.
"""
import itertools

import numpy as np
import pytest
import torch

from course_lib.pytorch.models import CNN as TorchCNN
from course_lib.scratch import AvgPool2d, Conv2d, Dropout, MaxPool2d, ReLU, init
from course_lib.scratch.layout import batch_innermost, empty_like_layout, memory_order
from course_lib.scratch.models import CNN
from .parity import MEMORY_ORDERS, assert_close, copy_weights, stored_in


def _nhwc(x: np.ndarray) -> np.ndarray:
    return stored_in(x, MEMORY_ORDERS["NHWC"])


def pixel_major(x: np.ndarray) -> np.ndarray:
    return stored_in(x, MEMORY_ORDERS["pixel-major"])


def _seeded(layer):
    """``layer`` after re-seeding the scratch generator: each layout draws the same dropout mask."""
    init.manual_seed(0)
    return layer


@pytest.mark.parametrize("make_layer", [lambda: ReLU(), lambda: MaxPool2d(2), lambda: MaxPool2d(3, stride=2, padding=1),
                                        lambda: AvgPool2d(2), lambda: AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
                                        lambda: _seeded(Dropout(0.3)),
                                        lambda: Conv2d(8, 16, 3, padding=1), lambda: Conv2d(8, 16, 3, stride=2, groups=2)],
                         ids=["relu", "maxpool", "maxpool-overlapping", "avgpool", "avgpool-overlapping", "dropout",
                              "conv", "conv-strided-groups"])
def test_every_input_layout_gives_identical_numbers(make_layer):
    rng = np.random.default_rng(0)
    x = np.round(rng.standard_normal((5, 8, 12, 12)), 1).astype(np.float32)  # rounding: ties in the pools
    results, reference = [], None
    for layout_x in (x, _nhwc(x), pixel_major(x), batch_innermost(x)):
        layer = make_layer()
        if reference is None:
            reference = layer
        else:
            layer.load_state_dict(reference.state_dict())
        out = layer(layout_x)
        grad = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
        results.append((out, layer.backward(grad), [p.grad.copy() for p in layer.parameters()]))
    (out_a, grad_a, params_a) = results[0]
    for out_b, grad_b, params_b in results[1:]:
        if not params_a:  # ReLU, dropout and pooling only move numbers (average pooling sums in window order): bit for bit
            np.testing.assert_array_equal(out_b, out_a)
            np.testing.assert_array_equal(grad_b, grad_a)
        # a convolution's GEMM may sum in another order for the other layout: float32 rounding only
        for expected, actual in zip((out_a, grad_a, *params_a), (out_b, grad_b, *params_b)):
            np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


PIXEL_MAJOR = MEMORY_ORDERS["pixel-major"]  # memory order H, W, N, C
BATCH_INNERMOST = MEMORY_ORDERS["batch-innermost"]  # memory order C, H, W, N


@pytest.mark.parametrize("make_pool", [lambda: MaxPool2d(2), lambda: AvgPool2d(2)], ids=["maxpool", "avgpool"])
def test_convolution_output_is_batch_innermost_and_the_layers_after_it_keep_it(make_pool):
    """Forward and backward through Conv → ReLU → Dropout → pooling → Conv: every activation and
    every gradient between the convolutions stays batch-innermost (a layer that silently went back
    to NCHW would cost a strided pass, not a wrong number, so only this test would notice)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 10, 10)).astype(np.float32)
    conv, relu, dropout, pool, conv2 = Conv2d(3, 5, 3), ReLU(), Dropout(0.2), make_pool(), Conv2d(5, 6, 3, padding=1)
    features = conv(x)
    activations = [features, relu(features)]
    activations.append(dropout(activations[-1]))
    activations.append(pool(activations[-1]))
    out = conv2(activations[-1])
    assert out.shape == (4, 6, 4, 4)
    grads = [conv2.backward(rng.standard_normal(out.shape).astype(np.float32))]
    grads.append(pool.backward(grads[-1]))
    grads.append(dropout.backward(grads[-1]))
    grads.append(relu.backward(grads[-1]))
    for array in activations + [out] + grads:
        assert memory_order(array) == BATCH_INNERMOST, array.strides  # (a padded input's gradient is a view into its padded array)


def test_empty_like_layout_pixel_major_and_batch_innermost():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    for like in (x, _nhwc(x), pixel_major(x), batch_innermost(x)):
        made = empty_like_layout((7, 3, 2, 5), np.float64, like)
        assert made.shape == (7, 3, 2, 5) and made.dtype == np.float64
        assert memory_order(made) == memory_order(like)
    stored = pixel_major(x)
    np.testing.assert_array_equal(stored, x)
    assert memory_order(stored) == PIXEL_MAJOR
    stored = batch_innermost(x[:, :, ::-1])  # any input strides
    np.testing.assert_array_equal(stored, x[:, :, ::-1])
    assert memory_order(stored) == BATCH_INNERMOST and batch_innermost(stored) is stored


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_every_tie_pattern_of_a_2x2_window_matches_torch(layout):
    """All 3⁴ windows with entries in {0, 1, 2}: the first maximum in row-major order wins."""
    patterns = np.array(list(itertools.product([0.0, 1.0, 2.0], repeat=4)))  # (81, 4)
    x = np.zeros((81, 3, 2, 2))
    x[:, :, 0, 0], x[:, :, 0, 1], x[:, :, 1, 0], x[:, :, 1, 1] = (patterns[:, None, k] for k in range(4))
    x = np.tile(x, (1, 1, 6, 6))  # 12×12 images, every window a copy of the pattern
    x = _nhwc(x) if layout == "nhwc" else x
    layer, torch_layer = MaxPool2d(2), torch.nn.MaxPool2d(2, return_indices=True)
    out = layer(x)
    grad = np.random.default_rng(3).standard_normal(out.shape)
    x_t = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
    out_t, _ = torch_layer(x_t)
    out_t.backward(torch.from_numpy(grad))
    assert_close(out, out_t, rtol=0, atol=0, what="max")
    assert_close(layer.backward(grad), x_t.grad, rtol=0, atol=0, what="routed gradient")


def test_cnn_step_on_a_full_batch_matches_torch():
    """A whole CNN forward/backward on a batch of 64 (channels last inside): torch's numbers."""
    torch.manual_seed(0)
    torch_model, model = TorchCNN().double(), CNN(dtype=np.float64)
    copy_weights(torch_model, model)
    x = np.random.default_rng(4).random((64, 1, 28, 28))
    out = model(x)
    x_t = torch.from_numpy(x).requires_grad_()
    out_t = torch_model(x_t)
    grad = np.random.default_rng(5).standard_normal(out.shape)
    out_t.backward(torch.from_numpy(grad))
    assert_close(out, out_t, rtol=1e-10, atol=1e-12, what="logits")
    assert_close(model.backward(grad), x_t.grad, rtol=1e-8, atol=1e-12, what="dL/dx")
    for name, parameter in torch_model.named_parameters():
        assert_close(dict(model.named_parameters())[name].grad, parameter.grad, rtol=1e-8, atol=1e-12, what=name)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2, stride=3, dilation=2), dict(kernel_size=2, stride=1),
                                    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
                                    dict(kernel_size=(2, 3), stride=(2, 3))])
def test_pooling_geometries_that_do_not_tile_leave_zeros_where_no_window_reaches(kwargs):
    """Gaps (dilation, stride > kernel), overlaps and padding: every pixel's gradient is torch's."""
    rng = np.random.default_rng(6)
    x = _nhwc(np.round(rng.standard_normal((3, 4, 11, 12)), 1))
    layer, torch_layer = MaxPool2d(**kwargs), torch.nn.MaxPool2d(**kwargs)
    for _ in range(2):  # the second call reuses freed memory: stale numbers would show up
        out = layer(x)
        grad = rng.standard_normal(out.shape)
        x_t = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
        torch_layer(x_t).backward(torch.from_numpy(grad))
        assert_close(layer.backward(grad), x_t.grad, rtol=1e-12, atol=1e-12, what=f"routed gradient {kwargs}")


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2, stride=3), dict(kernel_size=2, stride=1),
                                    dict(kernel_size=2, stride=2, padding=1, ceil_mode=True),
                                    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
                                    dict(kernel_size=(2, 3), stride=(2, 3)), dict(kernel_size=2, divisor_override=3)])
def test_average_pooling_geometries_that_do_not_tile_leave_zeros_where_no_window_reaches(kwargs):
    """Gaps (stride > kernel), overlaps, padding and ceil mode, on a channels-last input: every
    pixel's gradient is torch's, and the result keeps the input's layout."""
    rng = np.random.default_rng(7)
    x = _nhwc(np.round(rng.standard_normal((3, 4, 11, 12)), 1))
    layer, torch_layer = AvgPool2d(**kwargs), torch.nn.AvgPool2d(**kwargs)
    for _ in range(2):  # the second call reuses freed memory: stale numbers would show up
        out = layer(x)
        assert memory_order(out) == memory_order(x)
        grad = _nhwc(rng.standard_normal(out.shape))
        x_t = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
        assert_close(out, torch_layer(x_t), rtol=1e-12, atol=1e-12, what=f"average {kwargs}")
        torch_layer(x_t).backward(torch.from_numpy(np.ascontiguousarray(grad)))
        grad_x = layer.backward(grad)
        assert memory_order(grad_x) == memory_order(x)
        assert_close(grad_x, x_t.grad, rtol=1e-12, atol=1e-12, what=f"spread gradient {kwargs}")


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_channels_last_flows_through_every_image_layer_like_torch(train):
    """Conv → BatchNorm2d → ReLU → AvgPool → Dropout → Conv → MaxPool → Flatten → Linear on channels-last
    activations: output and every gradient are torch's (no layer may assume NCHW memory).  In train mode
    BatchNorm uses batch statistics and dropout has p = 0 (its random masks differ between libraries)."""
    from course_lib.scratch import AvgPool2d, BatchNorm2d, Dropout, Flatten, Linear, Sequential

    torch.manual_seed(7)
    torch_model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.BatchNorm2d(6), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
        torch.nn.Dropout(0.0 if train else 0.3), torch.nn.Conv2d(6, 4, 3, stride=2, padding=1), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(4 * 2 * 2, 5)).double()
    model = Sequential(
        Conv2d(3, 6, 3, padding=1, dtype=np.float64), BatchNorm2d(6, dtype=np.float64), ReLU(), AvgPool2d(2),
        Dropout(0.0 if train else 0.3), Conv2d(6, 4, 3, stride=2, padding=1, dtype=np.float64), MaxPool2d(2),
        Flatten(), Linear(4 * 2 * 2, 5, dtype=np.float64))
    copy_weights(torch_model, model)
    torch_model.train(train)
    model.train(train)
    x = _nhwc(np.random.default_rng(8).standard_normal((3, 3, 16, 16)))
    grad = np.random.default_rng(9).standard_normal((3, 5))
    x_t = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
    torch_model(x_t).backward(torch.from_numpy(grad))
    assert_close(model(x), torch_model(x_t), rtol=1e-10, atol=1e-12, what="output")
    assert_close(model.backward(grad), x_t.grad, rtol=1e-8, atol=1e-12, what="dL/dx")
    for name, parameter in torch_model.named_parameters():
        assert_close(dict(model.named_parameters())[name].grad, parameter.grad, rtol=1e-8, atol=1e-12, what=name)


def test_one_channel_images_give_the_same_numbers_whatever_stride_numpy_reports():
    """NumPy may report any stride for a length-1 axis (fancy indexing a dataset gave the
    channel stride 4 bytes, which looks channels last); the convolution must give the same
    numbers, and store its columns batch-innermost all the same."""
    images = np.random.default_rng(3).random((3, 1, 9, 9)).astype(np.float32)
    odd_stride = np.lib.stride_tricks.as_strided(images, strides=(324, 4, 36, 4))
    np.testing.assert_array_equal(odd_stride, images)
    conv = Conv2d(1, 4, 3)
    out = conv(odd_stride)
    assert conv._columns.strides[2] == images.itemsize  # each column row: (i, j, n) contiguous
    np.testing.assert_array_equal(out, conv(images))


@pytest.mark.parametrize("make_pair", [lambda: (Conv2d(3, 4, 3, padding=1), torch.nn.Conv2d(3, 4, 3, padding=1)),
                                       lambda: (MaxPool2d(2), torch.nn.MaxPool2d(2)), lambda: (ReLU(), torch.nn.ReLU())],
                         ids=["conv", "maxpool", "relu"])
def test_an_empty_batch_goes_through_like_torch(make_pair):
    """N = 0 (an empty last batch, an empty split): shapes as torch's, no error, zero gradients."""
    layer, torch_layer = make_pair()
    x = np.zeros((0, 3, 8, 8), np.float32)
    out = layer(x)
    assert out.shape == tuple(torch_layer(torch.zeros(0, 3, 8, 8)).shape)
    assert layer.backward(np.zeros(out.shape, np.float32)).shape == x.shape
    for parameter in layer.parameters():
        assert not parameter.grad.any()
