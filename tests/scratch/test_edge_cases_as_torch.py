"""Edges where scratch once parted from torch (an audit of empty axes, NaN and ±∞, reused buffers):
each case against torch 2.13 on the same weights, or against torch's clear refusal."""
import numpy as np
import pytest
import torch

from course_lib import scratch as S
from course_lib.interop import state_dict_from_torch


def test_embedding_keeps_its_own_copy_of_the_indices():
    """A loader refilling one batch array between forward and backward must not move the gradient
    (torch refuses the in-place change; the rows of the forward call are the right ones)."""
    layer = S.Embedding(6, 3, dtype=np.float64)
    batch = np.array([0, 1, 2])
    out = layer(batch)
    batch[:] = [3, 4, 5]
    layer.backward(np.ones_like(out))
    assert np.flatnonzero(np.abs(layer.weight.grad).sum(axis=1)).tolist() == [0, 1, 2]


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_relu_rnn_passes_the_gradient_through_nan_as_torchs(bad):
    torch.manual_seed(0)
    reference = torch.nn.RNN(2, 2, nonlinearity="relu").double()
    scratch = S.RNN(2, 2, nonlinearity="relu", dtype=np.float64)
    scratch.load_state_dict(state_dict_from_torch(reference.state_dict()))
    x = np.array([[[0.5, 1.0]], [[bad, -0.3]]])
    x_torch = torch.tensor(x, requires_grad=True)
    out_torch, _ = reference(x_torch)
    out_torch.sum().backward()
    out, _ = scratch(x)
    grad, _ = scratch.backward(np.ones_like(out))
    np.testing.assert_allclose(grad, x_torch.grad.numpy(), rtol=1e-12, equal_nan=True)
    for name, param in scratch.named_parameters():
        np.testing.assert_allclose(param.grad, dict(reference.named_parameters())[name].grad.numpy(),
                                   rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1)])
def test_batchnorm_without_running_statistics_refuses_one_value_per_channel_in_eval_too(shape):
    x = np.arange(3, dtype=np.float32).reshape(shape)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        torch.nn.BatchNorm1d(3, track_running_stats=False).eval()(torch.from_numpy(x))
    layer = S.BatchNorm1d(3, track_running_stats=False).eval()
    with pytest.raises(ValueError, match=r"more than 1 value per channel .*eval mode without running statistics"):
        layer(x)  # was: the bias, for every input


@pytest.mark.filterwarnings("error::RuntimeWarning")  # quietly, as torch
@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_batchnorm_running_mean_keeps_an_infinite_batch_mean_as_torch(bad):
    x = np.array([[1.0, 2.0], [bad, 3.0], [0.5, 4.0]])
    reference = torch.nn.BatchNorm1d(2).double()
    reference(torch.from_numpy(x))
    layer = S.BatchNorm1d(2, dtype=np.float64)
    layer(x)
    np.testing.assert_allclose(layer.running_mean, reference.running_mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, reference.running_var.numpy(), rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape, dim", [((0, 5), 0), ((3, 0), -1), ((2, 0, 3), 1), ((0, 5), -1), ((2, 0, 3), -1)])
def test_softmax_over_an_empty_array_is_empty_as_torchs(name, shape, dim):
    assert getattr(torch.nn, name)(dim=dim)(torch.zeros(shape)).shape == shape
    layer = getattr(S, name)(dim=dim)
    out = layer(np.zeros(shape, np.float32))
    assert out.shape == shape and out.dtype == np.float32
    assert layer.backward(np.ones(shape, np.float32)).shape == shape


def test_functional_softmax_of_an_empty_array_still_checks_its_axis():
    with pytest.raises(np.exceptions.AxisError):
        S.activations.softmax(np.zeros((0, 3)), axis=2)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_l1_loss_gradient_is_zero_where_the_difference_is_nan_as_torchs(reduction):
    prediction = np.array([np.nan, 0.5, -2.0, 1.0, np.inf])
    target = np.array([1.0, 0.0, np.nan, 1.0, 0.0])
    reference = torch.tensor(prediction, requires_grad=True)
    loss = torch.nn.L1Loss(reduction=reduction)(reference, torch.from_numpy(target))
    loss.backward(torch.ones_like(loss))
    scratch = S.L1Loss(reduction=reduction)
    scratch(prediction, target)
    grad = scratch.backward(np.ones(5) if reduction == "none" else None)
    np.testing.assert_array_equal(grad, reference.grad.numpy())


def test_a_numpy_scalar_given_to_a_loss_is_named_a_scalar_not_a_dtype():
    with pytest.raises(ValueError, match=r"a NumPy scalar numpy\.float64, not an array \(np\.asarray"):
        S.MSELoss()(np.float64(0.3), np.array(1.0))
    with pytest.raises(ValueError, match=r"as target, got a NumPy scalar numpy\.float32"):
        S.MSELoss()(np.array(0.3), np.float32(1.0))


@pytest.mark.parametrize("make, target", [
    (lambda: S.CrossEntropyLoss(label_smoothing=0.1), np.zeros((2, 0))),
    (lambda: S.CrossEntropyLoss(), np.zeros(2, np.int64)),
    (lambda: S.CrossEntropyLoss(ignore_index=0), np.zeros(2, np.int64)),  # every target ignored: no range error
    (lambda: S.NLLLoss(), np.zeros(2, np.int64)),
])
def test_cross_entropy_and_nll_with_no_class_are_refused_by_name(make, target):
    loss = make()
    with pytest.raises(ValueError, match=rf"{type(loss).__name__} needs at least one class, got .* of shape \(2, 0\)"):
        loss(np.zeros((2, 0)), target)


def test_a_convolution_without_output_channels_says_so():
    with pytest.raises(RuntimeError):
        torch.nn.Conv2d(2, 0, 1)(torch.zeros(1, 2, 3, 3))
    with pytest.raises(ValueError, match="out_channels=0 has no filter"):
        S.Conv2d(2, 0, 1)(np.zeros((1, 2, 3, 3), np.float32))


@pytest.mark.parametrize("training", [False, True])
def test_batchnorm_with_its_running_statistics_set_to_none_uses_the_batchs_as_torch(training):
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    layer, reference = S.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    for module in (layer, reference):
        module.running_mean = module.running_var = None
        module.train(training)
    np.testing.assert_allclose(layer(x), reference(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert int(layer.num_batches_tracked) == int(reference.num_batches_tracked)
