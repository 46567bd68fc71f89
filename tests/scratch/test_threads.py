"""Threads and memory layout change speed, never numbers.

The CNN's memory-bound steps (im2col copies, col2im adds, ReLU, 2×2 max pooling) split
the batch over threads, and a convolution returns its output channels last.  These tests
run batches large enough to take the threaded path and check that the results are
bit-for-bit those of one thread, for NCHW and NHWC inputs alike, and equal to torch's.
"""
import itertools

import numpy as np
import pytest
import torch

from course_lib.pytorch.models import CNN as TorchCNN
from course_lib.scratch import Conv2d, MaxPool2d, ReLU, threads
from course_lib.scratch.layout import channels_last
from course_lib.scratch.models import CNN
from .parity import assert_close, copy_weights


@pytest.fixture
def thread_count():
    """Set the thread count for one test and restore it afterwards."""
    before = threads.get_num_threads()
    yield threads.set_num_threads
    threads.set_num_threads(before)


def _nhwc(x: np.ndarray) -> np.ndarray:
    """The same (N, C, H, W) values stored channels last."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@pytest.mark.parametrize("make_layer", [lambda: ReLU(), lambda: MaxPool2d(2), lambda: Conv2d(8, 16, 3, padding=1),
                                        lambda: Conv2d(8, 16, 3, stride=2, groups=2)],
                         ids=["relu", "maxpool", "conv", "conv-strided-groups"])
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_threads_give_identical_numbers(make_layer, layout, thread_count):
    rng = np.random.default_rng(0)
    x = np.round(rng.standard_normal((37, 8, 24, 24)), 1).astype(np.float32)  # rounding: ties in the pools
    x = _nhwc(x) if layout == "nhwc" else x
    assert x.size >= threads.MIN_PARALLEL_SIZE  # the threaded path runs
    results = {}
    for count in (1, 2, 3):
        thread_count(count)
        layer = make_layer()
        if count > 1:
            layer.load_state_dict(reference.state_dict())
        else:
            reference = layer
        out = layer(x)
        grad = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
        results[count] = (out, layer.backward(grad), [p.grad.copy() for p in layer.parameters()])
    for count in (2, 3):
        for expected, actual in zip(results[1][:2], results[count][:2]):
            np.testing.assert_array_equal(actual, expected)
        for expected, actual in zip(results[1][2], results[count][2]):
            np.testing.assert_array_equal(actual, expected)


def test_convolution_output_is_channels_last_and_downstream_layers_keep_it():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 10, 10)).astype(np.float32)
    conv, relu, pool = Conv2d(3, 5, 3), ReLU(), MaxPool2d(2)
    out = pool(relu(conv(x)))
    assert out.shape == (4, 5, 4, 4) and channels_last(out)
    grad = pool.backward(rng.standard_normal(out.shape).astype(np.float32))
    assert channels_last(grad) and channels_last(relu.backward(grad))


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_every_tie_pattern_of_a_2x2_window_matches_torch(layout, thread_count):
    """All 3⁴ windows with entries in {0, 1, 2}: the first maximum in row-major order wins."""
    thread_count(2)
    patterns = np.array(list(itertools.product([0.0, 1.0, 2.0], repeat=4)))  # (81, 4)
    x = np.zeros((81, 32, 2, 2))  # 32 channels: a batch large enough for the threaded path
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


def test_cnn_step_matches_torch_with_threads(thread_count):
    """A whole CNN forward/backward on a batch of 64 with threads on: torch's numbers."""
    thread_count(2)
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


def test_set_num_threads_rejects_nonsense():
    with pytest.raises(ValueError, match="positive number of threads"):
        threads.set_num_threads(0)


def test_an_exception_in_a_worker_reaches_the_caller(thread_count):
    thread_count(2)

    def work(batch):
        if batch.start:  # only the second slice, which runs on a worker thread
            raise RuntimeError("boom in a worker")

    with pytest.raises(RuntimeError, match="boom in a worker"):
        threads.over_batch(work, 10, threads.MIN_PARALLEL_SIZE)
