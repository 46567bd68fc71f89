"""Losses: torch parity (all reductions, weights, ignore_index, label smoothing, class-probability
targets), gradcheck, stability, errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from course_lib.scratch import gradcheck
from course_lib.scratch.activations import sigmoid
from course_lib.scratch.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
)

from .parity import assert_close, assert_parity
from ..hypothesis_budget import examples

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


def _grad_output(rng, reduction, loss_shape):
    """None (scalar loss) for mean/sum, a random upstream gradient for 'none'."""
    return None if reduction != "none" else rng.standard_normal(loss_shape)


def _loss_gradcheck(loss_fn, prediction, target):
    """gradcheck of dL/dprediction with the target held fixed."""

    def forward(pred):
        return np.asarray(loss_fn(pred, target))

    def backward(grad):
        loss_fn(prediction, target)
        return loss_fn.backward(grad if loss_fn.reduction == "none" else grad.reshape(()))

    return gradcheck(forward, prediction, backward=backward)


# --- element-wise losses ---------------------------------------------------------
@settings(max_examples=examples(20), deadline=None)
@given(shape=array_shapes(min_dims=1, max_dims=3, max_side=5), reduction=REDUCTIONS, seed=st.integers(0, 2**16))
def test_mse_and_l1_parity(shape, reduction, seed):
    rng = np.random.default_rng(seed)
    prediction, target = rng.standard_normal(shape), rng.standard_normal(shape)
    target.reshape(-1)[0] = prediction.reshape(-1)[0]  # L1's kink: torch and we both use sign(0) = 0
    for scratch_cls, torch_cls in [(MSELoss, torch.nn.MSELoss), (L1Loss, torch.nn.L1Loss)]:
        grad = _grad_output(rng, reduction, shape)
        assert_parity(
            torch_cls(reduction=reduction), scratch_cls(reduction=reduction), (prediction, target), grad,
            check_input_grads=[0],
        )


@settings(max_examples=examples(20), deadline=None)
@given(
    shape=array_shapes(min_dims=1, max_dims=3, max_side=5),
    reduction=REDUCTIONS,
    use_weight=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_bce_parity(shape, reduction, use_weight, seed):
    rng = np.random.default_rng(seed)
    probability = sigmoid(rng.standard_normal(shape) * 3)
    target = rng.uniform(0, 1, shape)  # soft labels are allowed
    weight = rng.uniform(0.5, 2, shape[-1:]) if use_weight else None
    torch_weight = None if weight is None else torch.from_numpy(weight)
    assert_parity(
        torch.nn.BCELoss(weight=torch_weight, reduction=reduction),
        BCELoss(weight=weight, reduction=reduction),
        (probability, target),
        _grad_output(rng, reduction, shape),
        check_input_grads=[0],
    )


@settings(max_examples=examples(20), deadline=None)
@given(
    shape=array_shapes(min_dims=1, max_dims=3, max_side=5),
    reduction=REDUCTIONS,
    use_weight=st.booleans(),
    use_pos_weight=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_bce_with_logits_parity(shape, reduction, use_weight, use_pos_weight, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(shape) * 4
    target = (rng.uniform(0, 1, shape) > 0.5).astype(np.float64)
    weight = rng.uniform(0.5, 2, shape[-1:]) if use_weight else None
    pos_weight = rng.uniform(0.2, 4, shape[-1:]) if use_pos_weight else None
    as_tensor = lambda array: None if array is None else torch.from_numpy(array)  # noqa: E731
    assert_parity(
        torch.nn.BCEWithLogitsLoss(weight=as_tensor(weight), reduction=reduction, pos_weight=as_tensor(pos_weight)),
        BCEWithLogitsLoss(weight=weight, reduction=reduction, pos_weight=pos_weight),
        (logits, target),
        _grad_output(rng, reduction, shape),
        check_input_grads=[0],
    )


@pytest.mark.parametrize(
    "loss_fn",
    [
        MSELoss(),
        L1Loss(reduction="sum"),
        BCEWithLogitsLoss(pos_weight=np.array([2.0, 0.5, 1.0])),
        BCELoss(reduction="none"),
        # with a weight too (a coverage audit: no gradient check had one)
        BCELoss(weight=np.array([0.5, 2.0, 1.5])),
        BCEWithLogitsLoss(weight=np.array([0.5, 2.0, 1.5]), pos_weight=np.array([2.0, 0.5, 1.0]), reduction="sum"),
        BCEWithLogitsLoss(weight=np.array([0.5, 2.0, 1.5]), reduction="none"),
    ],
)
def test_elementwise_gradcheck(loss_fn):
    rng = np.random.default_rng(0)
    prediction = rng.uniform(0.1, 0.9, (4, 3)) if isinstance(loss_fn, BCELoss) else rng.standard_normal((4, 3))
    assert _loss_gradcheck(loss_fn, prediction, rng.uniform(0, 1, (4, 3)))


def test_bce_clamps_like_torch_at_exact_zero_and_one():
    prediction = np.array([0.0, 1.0, 0.0, 1.0, 1e-13, 1e-50, 0.5])  # 1e-13: ŷ(1 − ŷ) below the 1e-12 clamp
    target = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0])
    loss_fn = BCELoss(reduction="none")
    p_torch = torch.from_numpy(prediction.copy()).requires_grad_()
    expected = torch.nn.BCELoss(reduction="none")(p_torch, torch.from_numpy(target))
    expected.sum().backward()
    assert_close(loss_fn(prediction, target), expected)
    assert_close(loss_fn.backward(np.ones(7)), p_torch.grad)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_with_logits_stable_for_huge_logits(dtype):
    logits = np.array([1000.0, -1000.0, 1000.0, -1000.0, 0.0], dtype=dtype)
    target = np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype=dtype)
    loss_fn = BCEWithLogitsLoss(reduction="none", pos_weight=np.array([3.0]))
    with np.errstate(over="raise", invalid="raise"):
        losses = loss_fn(logits, target)
        grad = loss_fn.backward(np.ones(5, dtype))
    assert losses.dtype == dtype and grad.dtype == dtype
    assert_close(losses, [0.0, 0.0, 1000.0, 3000.0, 3 * np.log(2)], rtol=1e-6)
    assert_close(grad, [0.0, 0.0, 1.0, -3.0, -1.5], rtol=1e-6)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_bce_with_logits_keeps_the_digits_of_a_confident_right_answer(dtype, rtol):
    """softplus(−z) = log1p(e^{−|z|}) for a confident right answer, as torch computes it: log(1 + e)
    rounded 1 + e first and read 4.5418e-5 for a float32 logit of 10 (torch and the exact value:
    4.5399e-5), and 0 for 40 in float64 (4.2e-18)."""
    logits = np.array([5.0, 10.0, 16.0, 20.0, 40.0, -10.0, -20.0], dtype=dtype)
    target = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0], dtype=dtype)
    losses = BCEWithLogitsLoss(reduction="none")(logits, target)
    expected = torch.nn.BCEWithLogitsLoss(reduction="none")(torch.from_numpy(logits), torch.from_numpy(target))
    np.testing.assert_allclose(losses, expected.numpy(), rtol=rtol, atol=0)
    assert np.all(losses[:5] > 0)  # (for z < 0 and y = 0 both sides cancel z against −z: torch's formula)


# --- classification losses -------------------------------------------------------
def _classification_case(rng, data, ignore_index, with_ignored):
    batch = data.draw(st.integers(1, 5))
    classes = data.draw(st.integers(1, 5))
    extra = tuple(data.draw(st.lists(st.integers(1, 3), max_size=2)))
    logits = rng.standard_normal((batch, classes) + extra) * 3
    target = rng.integers(0, classes, size=(batch,) + extra)
    if with_ignored:
        target.reshape(-1)[rng.uniform(size=target.size) < 0.3] = ignore_index
    return logits, target


@settings(max_examples=examples(20), deadline=None)
@given(
    reduction=REDUCTIONS,
    use_weight=st.booleans(),
    with_ignored=st.booleans(),
    ignore_index=st.sampled_from([-100, 0, 2]),
    label_smoothing=st.sampled_from([0.0, 0.1, 0.7]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_cross_entropy_parity(reduction, use_weight, with_ignored, ignore_index, label_smoothing, seed, data):
    rng = np.random.default_rng(seed)
    logits, target = _classification_case(rng, data, ignore_index, with_ignored)
    weight = rng.uniform(0.5, 2, logits.shape[1]) if use_weight else None
    torch_loss = torch.nn.CrossEntropyLoss(
        weight=None if weight is None else torch.from_numpy(weight),
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
    loss_fn = CrossEntropyLoss(
        weight=weight, ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing
    )
    if reduction == "mean" and not np.any(target != ignore_index):
        target.reshape(-1)[0] = 0 if ignore_index != 0 else 1 % logits.shape[1]  # nan case is tested separately
    grad = _grad_output(rng, reduction, target.shape)
    _, grads_in, _ = assert_parity(torch_loss, loss_fn, (logits, target), grad, check_input_grads=[0])
    assert len(grads_in) == 1


@settings(max_examples=examples(20), deadline=None)
@given(
    reduction=REDUCTIONS,
    use_weight=st.booleans(),
    with_ignored=st.booleans(),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_nll_parity(reduction, use_weight, with_ignored, seed, data):
    rng = np.random.default_rng(seed)
    logits, target = _classification_case(rng, data, -100, with_ignored)
    if reduction == "mean" and not np.any(target != -100):
        target.reshape(-1)[0] = 0
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    weight = rng.uniform(0.5, 2, logits.shape[1]) if use_weight else None
    assert_parity(
        torch.nn.NLLLoss(weight=None if weight is None else torch.from_numpy(weight), reduction=reduction),
        NLLLoss(weight=weight, reduction=reduction),
        (log_probs, target),
        _grad_output(rng, reduction, target.shape),
        check_input_grads=[0],
    )


@settings(max_examples=examples(20), deadline=None)
@given(
    reduction=REDUCTIONS,
    use_weight=st.booleans(),
    label_smoothing=st.sampled_from([0.0, 0.1, 0.7]),
    unbatched=st.booleans(),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_cross_entropy_probability_targets_parity(reduction, use_weight, label_smoothing, unbatched, seed, data):
    """Soft targets: a float target shaped like the logits, each row a distribution over the classes."""
    rng = np.random.default_rng(seed)
    logits, _ = _classification_case(rng, data, -100, False)
    if unbatched:
        logits = logits.reshape(-1, logits.shape[1])[0]
    target = rng.dirichlet(np.ones(logits.shape[0 if unbatched else 1]), size=logits.size // logits.shape[0 if unbatched else 1])
    target = target.reshape(logits.shape) if unbatched else np.moveaxis(
        target.reshape((logits.shape[0],) + logits.shape[2:] + (logits.shape[1],)), -1, 1)
    weight = rng.uniform(0.5, 2, logits.shape[0 if unbatched else 1]) if use_weight else None
    torch_loss = torch.nn.CrossEntropyLoss(weight=None if weight is None else torch.from_numpy(weight),
                                           reduction=reduction, label_smoothing=label_smoothing)
    loss_fn = CrossEntropyLoss(weight=weight, reduction=reduction, label_smoothing=label_smoothing)
    loss_shape = () if unbatched else (logits.shape[0],) + logits.shape[2:]
    assert_parity(torch_loss, loss_fn, (logits, np.ascontiguousarray(target)),
                  _grad_output(rng, reduction, loss_shape), check_input_grads=[0])


def test_one_hot_probabilities_match_class_indices():
    """A one-hot float target is the same loss as its class indices — except that with class
    weights 'mean' divides by the number of samples, not by the weights' sum (as in torch)."""
    rng = np.random.default_rng(1)
    logits, labels = rng.standard_normal((6, 4)), np.array([0, 3, 1, 1, 2, 0])
    one_hot = np.eye(4)[labels]
    weight = np.array([1.0, 2.0, 0.5, 3.0])
    for kwargs in ({}, {"reduction": "sum", "weight": weight}, {"label_smoothing": 0.2}):
        soft, hard = CrossEntropyLoss(**kwargs), CrossEntropyLoss(**kwargs)
        assert_close(soft(logits, one_hot), hard(logits, labels), rtol=1e-12)
        assert_close(soft.backward(), hard.backward(), rtol=1e-12, atol=1e-15)
    soft, hard = CrossEntropyLoss(weight=weight), CrossEntropyLoss(weight=weight)
    assert_close(soft(logits, one_hot) * 6, hard(logits, labels) * weight[labels].sum(), rtol=1e-12)


def test_cross_entropy_probability_targets_gradcheck_and_edge_cases():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((3, 4, 2))
    target = rng.uniform(0, 1, (3, 4, 2))  # need not sum to 1, as in torch
    for reduction in ("mean", "sum", "none"):
        loss_fn = CrossEntropyLoss(weight=np.array([1.0, 2.0, 0.5, 1.5]), reduction=reduction, label_smoothing=0.1)
        assert _loss_gradcheck(loss_fn, logits, target)
    # huge logits stay finite; float32 stays float32; a float32 target with float64 logits is cast
    huge = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]], dtype=np.float32)
    soft = np.array([[0.2, 0.3, 0.5], [0.0, 0.5, 0.5]], dtype=np.float32)
    loss_fn = CrossEntropyLoss()
    with np.errstate(over="raise", invalid="raise"):
        loss, grad = loss_fn(huge, soft), loss_fn.backward()
    assert loss.dtype == np.float32 and grad.dtype == np.float32 and np.all(np.isfinite(grad))
    torch_logits = torch.from_numpy(huge.astype(np.float64)).requires_grad_()
    expected = torch.nn.CrossEntropyLoss()(torch_logits, torch.from_numpy(soft.astype(np.float64)))
    expected.backward()
    assert_close(loss, expected, rtol=1e-6)
    assert_close(grad, torch_logits.grad, rtol=1e-6, atol=1e-7)
    assert CrossEntropyLoss()(np.zeros((2, 3)), soft).dtype == np.float64
    # float32 logits with a float64 target: torch promotes the loss to float64, the gradient stays float32
    promoted = CrossEntropyLoss()
    assert promoted(huge, soft.astype(np.float64)).dtype == np.float64 and promoted.backward().dtype == np.float32
    with pytest.raises(ValueError, match=r"either integer class indices.*or class probabilities, a float array of "
                                         r"the logits' shape \(2, 3\); got a float64 array of shape \(2, 4\)"):
        CrossEntropyLoss()(huge, np.zeros((2, 4)))
    # a call that fails leaves nothing behind for backward to use
    with pytest.raises(ValueError):
        promoted(huge, np.zeros((2, 4)))
    with pytest.raises(RuntimeError, match="the last forward call failed"):
        promoted.backward()
    # an empty batch: nan for 'mean', like torch
    empty = CrossEntropyLoss()
    assert np.isnan(empty(np.zeros((0, 3)), np.zeros((0, 3))))
    assert empty.backward().shape == (0, 3)
    # an index call after a probability call uses the index path again
    loss_fn(huge.astype(np.float64), np.array([0, 1]))
    assert_close(loss_fn.backward(), torch.func.grad(lambda z: torch.nn.functional.cross_entropy(
        z, torch.tensor([0, 1])))(torch.from_numpy(huge.astype(np.float64))), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_gradcheck(reduction, label_smoothing):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 3, 2))
    target = np.array([[0, 2], [1, -100], [2, 2], [0, 1]])
    loss_fn = CrossEntropyLoss(weight=np.array([1.0, 2.0, 0.5]), reduction=reduction, label_smoothing=label_smoothing)
    assert _loss_gradcheck(loss_fn, logits, target)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_gradcheck(reduction):
    """A coverage audit: NLLLoss had no gradient check; here with a weight and an ignore_index of 2."""
    rng = np.random.default_rng(0)
    log_probs = rng.standard_normal((5, 3, 2))
    target = np.array([[0, 2], [1, 2], [2, 0], [0, 1], [1, 1]])
    assert _loss_gradcheck(NLLLoss(weight=np.array([1.0, 2.0, 0.5]), ignore_index=2, reduction=reduction),
                           log_probs, target)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("unbatched", [False, True])
def test_nll_parity_with_another_ignore_index_and_unbatched(reduction, unbatched):
    rng = np.random.default_rng(1)
    log_probs = rng.standard_normal((3,) if unbatched else (6, 3))
    target = np.array(1) if unbatched else np.array([0, 2, 1, 2, 2, 0])
    weight = rng.uniform(0.5, 2, 3)
    assert_parity(torch.nn.NLLLoss(weight=torch.from_numpy(weight), ignore_index=2, reduction=reduction),
                  NLLLoss(weight=weight, ignore_index=2, reduction=reduction), (log_probs, target),
                  _grad_output(rng, reduction, target.shape), check_input_grads=[0])


def test_unbatched_cross_entropy_like_torch():
    logits = np.array([0.5, -1.0, 2.0])
    target = np.array(2)
    assert_parity(torch.nn.CrossEntropyLoss(), CrossEntropyLoss(), (logits, target), check_input_grads=[0])
    assert CrossEntropyLoss(reduction="none")(logits, target).shape == ()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_stable_for_huge_logits(dtype):
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0], [-1000.0, -1000.0, -1000.0]], dtype=dtype)
    target = np.array([1, 0, 2])
    for loss_fn in (CrossEntropyLoss(), CrossEntropyLoss(label_smoothing=0.1, reduction="sum")):
        with np.errstate(over="raise", invalid="raise"):
            loss = loss_fn(logits, target)
            grad = loss_fn.backward()
        assert np.isfinite(loss) and np.all(np.isfinite(grad))
        assert loss.dtype == dtype and grad.dtype == dtype
        torch_logits = torch.from_numpy(logits.astype(np.float64)).requires_grad_()
        expected = torch.nn.CrossEntropyLoss(label_smoothing=loss_fn.label_smoothing, reduction=loss_fn.reduction)(
            torch_logits, torch.from_numpy(target)
        )
        expected.backward()
        assert_close(loss, expected, rtol=1e-6)
        assert_close(grad, torch_logits.grad, rtol=1e-6, atol=1e-7)


def test_all_targets_ignored_gives_nan_like_torch():
    logits = np.zeros((2, 3))
    target = np.array([-100, -100])
    expected = torch.nn.CrossEntropyLoss()(torch.from_numpy(logits), torch.from_numpy(target))
    assert torch.isnan(expected)
    loss_fn = CrossEntropyLoss(label_smoothing=0.1)
    assert np.isnan(loss_fn(logits, target))
    assert np.array_equal(loss_fn.backward(), np.zeros((2, 3)))  # torch's gradient is 0, not nan
    assert CrossEntropyLoss(reduction="sum")(logits, target) == 0


@pytest.mark.parametrize("kwargs", [{}, dict(reduction="none"), dict(reduction="sum"), dict(label_smoothing=0.1),
                                    dict(weight=np.array([1.0, 2.0, 3.0]))], ids=["mean", "none", "sum", "smoothing",
                                                                                "weight"])
def test_an_ignored_sample_with_a_minus_inf_logit_adds_nothing(kwargs):
    """Ignored samples were read at class 0 and multiplied by weight 0: 0 · (−inf) made the loss NaN
    where torch's is finite (an audit, 2026-12-06)."""
    logits = np.array([[-np.inf, 0.0, 1.0], [0.0, 1.0, 2.0]])
    target = np.array([-100, 1])
    torch_kwargs = {key: torch.from_numpy(value) if isinstance(value, np.ndarray) else value
                    for key, value in kwargs.items()}
    expected = torch.nn.CrossEntropyLoss(**torch_kwargs)(torch.from_numpy(logits), torch.from_numpy(target))
    assert np.isfinite(expected.numpy()).all()
    assert_close(CrossEntropyLoss(**kwargs)(logits, target), expected, rtol=1e-12)
    log_probs = np.array([[-np.inf, np.log(0.5), np.log(0.5)], np.log([0.2, 0.3, 0.5])])
    nll_kwargs = {key: value for key, value in kwargs.items() if key != "label_smoothing"}
    expected = torch.nn.NLLLoss(**{key: value for key, value in torch_kwargs.items() if key != "label_smoothing"})(
        torch.from_numpy(log_probs), torch.tensor([-100, 2]))
    assert_close(NLLLoss(**nll_kwargs)(log_probs, np.array([-100, 2])), expected, rtol=1e-12)


def test_float32_losses_stay_float32():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 3)).astype(np.float32)
    target = np.array([0, 1, 2, 1])
    for loss_fn, args in [
        (CrossEntropyLoss(weight=np.array([1.0, 2.0, 3.0])), (logits, target)),
        (NLLLoss(), (logits, target)),
        (MSELoss(), (logits, logits[::-1].copy())),
        (BCEWithLogitsLoss(pos_weight=np.ones(3)), (logits, np.ones_like(logits))),
    ]:
        assert loss_fn(*args).dtype == np.float32
        assert loss_fn.backward().dtype == np.float32


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("make, torch_make", [(MSELoss, torch.nn.MSELoss), (L1Loss, torch.nn.L1Loss),
                                              (BCEWithLogitsLoss, torch.nn.BCEWithLogitsLoss), (BCELoss, None)])
def test_a_float32_prediction_and_a_float64_target_give_torchs_float64_loss(make, torch_make, reduction):
    """torch promotes: the loss is float64, computed in float64, and the gradient float32 (the
    prediction's); the scratch losses cast the target down and returned a float32 loss (an audit,
    2026-12-07).  torch's BCELoss refuses the pair; the scratch one computes as the others do."""
    rng = np.random.default_rng(3)
    prediction = rng.uniform(0.05, 0.95, (6, 5)).astype(np.float32)
    target = rng.uniform(0, 1, (6, 5))
    reference = torch.nn.BCELoss if torch_make is None else torch_make
    wide = torch.from_numpy(prediction.astype(np.float64)).requires_grad_()
    expected = reference(reduction=reduction)(wide, torch.from_numpy(target))
    loss_fn = make(reduction=reduction)
    loss = loss_fn(prediction, target)
    assert loss.dtype == np.float64
    assert_close(loss, expected.detach(), rtol=1e-12, atol=0)
    upstream = rng.standard_normal(loss.shape)
    grad = loss_fn.backward(upstream)
    expected.backward(torch.from_numpy(np.asarray(upstream)))
    assert grad.dtype == np.float32
    assert_close(grad, wide.grad.float(), rtol=1e-6, atol=1e-7)
    if torch_make is not None:  # torch itself, on the float32 prediction
        narrow = torch.from_numpy(prediction).requires_grad_()
        got = torch_make(reduction=reduction)(narrow, torch.from_numpy(target))
        assert got.dtype == torch.float64
        got.backward(torch.from_numpy(np.asarray(upstream)))
        assert narrow.grad.dtype == torch.float32
        assert_close(grad, narrow.grad, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_the_usual_cross_entropy_call_gives_the_general_paths_numbers_bit_for_bit(dtype, reduction):
    """Logits (N, C) and class indices with no weight, smoothing or ignored target take a short
    path (``_usual_forward``); a weight of ones sends the same call down the general one."""
    def same_bits(a, b):  # −0.0 is not +0.0; a NaN's sign bit means nothing (torch's varies with the reduction)
        a, b = (np.asarray(value) for value in (a, b))
        a, b = (np.where(np.isnan(value), value.dtype.type(np.nan), value) for value in (a, b))
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()

    rng = np.random.default_rng(3)
    sure = np.array([[40.0, 0.0, -3.0], [2.0, 50.0, 1.0]])  # a loss of exactly −0.0 in both dtypes
    cases = [(rng.standard_normal((n, classes)) * scale, rng.integers(0, classes, n))
             for n, classes, scale in [(1, 1, 1.0), (1, 5, 1.0), (7, 3, 30.0), (64, 10, 1.0), (9, 4, 1000.0)]]
    cases += [(sure, np.array([0, 1])), (np.array([[np.inf, 0.0], [1.0, 2.0]]), np.array([1, 0]))]
    for logits, target in cases:
        logits, n, classes = logits.astype(dtype), *logits.shape
        usual, general = CrossEntropyLoss(reduction=reduction), CrossEntropyLoss(np.ones(classes), reduction=reduction)
        with np.errstate(invalid="ignore"):  # the +inf logit: inf − inf, on both paths
            loss, reference = usual(logits, target), general(logits, target)
        assert type(usual._cache).__name__ == "_UsualCall" and type(general._cache).__name__ != "_UsualCall"
        assert np.asarray(loss).dtype == dtype and same_bits(loss, reference)
        upstreams = ([None, 2.5, np.float32(0.5), np.array(-3.0)] if reduction != "none"
                     else [rng.standard_normal(n).astype(dtype)])
        for upstream in upstreams:
            with np.errstate(invalid="ignore"):  # each backward uses its forward call up
                usual(logits, target), general(logits, target)
            grad = usual.backward(upstream)
            assert grad.dtype == dtype and same_bits(grad, general.backward(upstream))
        if not np.isfinite(logits).all():
            continue
        torch_logits = torch.tensor(logits, requires_grad=True)
        torch_loss = torch.nn.functional.cross_entropy(torch_logits, torch.from_numpy(target), reduction=reduction)
        upstream = None if reduction != "none" else upstreams[-1]
        torch_loss.backward(None if upstream is None else torch.from_numpy(upstream))
        assert_close(loss, torch_loss.detach().numpy())
        usual(logits, target)
        assert_close(usual.backward(upstream), torch_logits.grad.numpy())


@pytest.mark.parametrize("loss_fn", [CrossEntropyLoss(), CrossEntropyLoss(np.ones(3))], ids=["usual", "general"])
def test_cross_entropy_backward_after_the_target_changed_and_with_a_list_upstream(loss_fn):
    """An audit of the short path: it kept the caller's label array (a training loop reusing its label
    buffer then got the new labels' gradient; torch raises there) and accepted a list as grad_output,
    where every other loss refuses one; both paths now keep their own labels and refuse the list."""
    logits, target = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], np.float32), np.array([0, 1])
    loss_fn(logits, target)
    expected = loss_fn.backward()
    loss_fn(logits, target)
    target[:] = [2, 2]
    np.testing.assert_array_equal(loss_fn.backward(), expected)
    loss_fn(logits, target)
    with pytest.raises(ValueError, match=r"expected grad_output as a NumPy array or a number \(or None\), got list"):
        loss_fn.backward([2.0])


def test_calls_off_the_usual_path_take_the_general_one_with_its_messages():
    """An ignore_index that names a class, a target out of range, integer logits, a one-hot or an empty
    target, (N, C, d) logits, probabilities: each as before the short path existed."""
    logits, target = np.random.default_rng(0).standard_normal((4, 3)), np.array([0, 2, 0, 1])
    loss_fn = CrossEntropyLoss(ignore_index=0)  # the samples of class 0 are ignored
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(target), ignore_index=0)
    assert_close(loss_fn(logits, target), expected.numpy())
    assert type(loss_fn._cache).__name__ != "_UsualCall"
    with pytest.raises(ValueError, match=r"target contains class index 3, but there are 3 classes"):
        CrossEntropyLoss()(logits, np.array([0, 3, 0, 1]))
    with pytest.raises(ValueError, match=r"expected logits as a float32 or float64 NumPy array of shape \(N, C\)"):
        CrossEntropyLoss()(logits.astype(np.int64), target)
    with pytest.raises(ValueError, match="one-hot"):
        CrossEntropyLoss()(logits, np.eye(3, dtype=np.int64)[target])
    with pytest.raises(ValueError, match=r"expected logits as a float32 or float64 NumPy array .* got dtype float64"):
        CrossEntropyLoss()(logits.astype(">f8"), target)  # big-endian, as torch.from_numpy refuses it
    assert np.isnan(CrossEntropyLoss()(logits[:0], target[:0]))  # torch: nan for an empty mean
    spatial = np.random.default_rng(1).standard_normal((2, 3, 5))
    spatial_target = np.random.default_rng(2).integers(0, 3, (2, 5))
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(spatial), torch.from_numpy(spatial_target))
    assert_close(CrossEntropyLoss()(spatial, spatial_target), expected.numpy())
    # a usual call, then one with probabilities, then the usual one again: each backward its own
    loss_fn = CrossEntropyLoss()
    loss_fn(logits, target)
    probabilities = np.full((4, 3), 1 / 3)
    loss_fn(logits, probabilities)
    np.testing.assert_allclose(loss_fn.backward(), (np.exp(logits) / np.exp(logits).sum(1, keepdims=True) - 1 / 3) / 4)
    loss_fn(logits, target)
    reference = CrossEntropyLoss(np.ones(3))
    reference(logits, target)
    np.testing.assert_array_equal(loss_fn.backward(), reference.backward())


def test_backward_scales_with_grad_output():
    rng = np.random.default_rng(0)
    logits, target = rng.standard_normal((3, 4)), np.array([0, 3, 1])
    loss_fn = CrossEntropyLoss()
    loss_fn(logits, target)
    scaled = loss_fn.backward(2.5)
    loss_fn(logits, target)
    assert_close(scaled, 2.5 * loss_fn.backward())


def test_classification_target_errors():
    logits = np.zeros((4, 3))
    one_hot = np.eye(3, dtype=np.int64)[[0, 1, 2, 1]]
    with pytest.raises(ValueError, match=r"expects integer class indices as target, of shape \(N,\) = \(4,\).*"
                                         r"argmax.*class probabilities"):
        CrossEntropyLoss()(logits, one_hot)
    with pytest.raises(ValueError, match="ignore_index=0 .*not supported with class-probability targets"):
        CrossEntropyLoss(ignore_index=0)(logits, one_hot.astype(np.float64))
    with pytest.raises(ValueError, match=r"weight of shape \(C,\) = \(3,\)"):
        CrossEntropyLoss(weight=np.ones(4))(logits, one_hot.astype(np.float64))
    with pytest.raises(ValueError, match="class indices.*float64 array of shape \\(4, 2\\)"):
        CrossEntropyLoss()(logits, np.zeros((4, 2)))  # a float target of another shape is neither kind
    with pytest.raises(ValueError, match=r"class indices.*int64 array of shape \(4, 1\)"):
        CrossEntropyLoss()(logits, np.zeros((4, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="class indices.*float64"):
        NLLLoss()(logits, np.zeros(4))
    with pytest.raises(ValueError, match="class index 3, but there are 3 classes"):
        CrossEntropyLoss()(logits, np.array([0, 1, 3, 0]))
    with pytest.raises(ValueError, match="class index -1"):
        CrossEntropyLoss()(logits, np.array([0, 1, -1, 0]))
    with pytest.raises(ValueError, match=r"weight of shape \(C,\) = \(3,\)"):
        CrossEntropyLoss(weight=np.ones(4))(logits, np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="float32 or float64"):
        CrossEntropyLoss()(np.zeros((4, 3), dtype=np.int64), np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing=1.5)


def test_elementwise_target_errors():
    prediction = np.zeros((4, 1))
    with pytest.raises(ValueError, match=r"same shape as the prediction \(4, 1\), got \(4,\)"):
        MSELoss()(prediction, np.zeros(4))
    with pytest.raises(ValueError, match="floating-point target, got dtype int64"):
        BCEWithLogitsLoss()(prediction, np.zeros((4, 1), dtype=np.int64))
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        BCELoss()(prediction + 2, np.zeros((4, 1)))
    with pytest.raises(ValueError, match="float32 or float64"):
        L1Loss()([1.0], np.zeros(1))
    with pytest.raises(ValueError, match="pos_weight of shape"):
        BCEWithLogitsLoss(pos_weight=np.ones(3))(prediction, np.zeros((4, 1)))


def test_reduction_and_call_order_errors():
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        MSELoss(reduction="average")
    with pytest.raises(RuntimeError, match="before forward"):
        CrossEntropyLoss().backward()
    with pytest.raises(RuntimeError, match="before forward"):
        BCELoss().backward()
    loss_fn = MSELoss(reduction="none")
    loss_fn(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match=r"grad_output of shape \(3,\)"):
        loss_fn.backward()
    loss_fn = MSELoss()
    loss_fn(np.zeros(3), np.ones(3))
    with pytest.raises(ValueError, match="scalar grad_output"):
        loss_fn.backward(np.ones(3))


@pytest.mark.parametrize("make", [lambda: MSELoss("sum"), lambda: L1Loss("sum"),
                                  lambda: BCELoss(None, "sum"), lambda: BCEWithLogitsLoss(None, "sum"),
                                  lambda: NLLLoss(None, 1), lambda: CrossEntropyLoss(None, 1)])
def test_positional_arguments_after_weight_are_refused(make):
    """torch keeps the deprecated size_average and reduce in those positional slots: MSELoss('sum')
    there is a mean (with a warning), so the same call would mean two things.  Keywords only."""
    with pytest.raises(TypeError):
        make()


def test_a_negative_ignore_index_passes_with_probability_targets_as_in_torch():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 4))
    target = np.exp(rng.standard_normal((3, 4)))
    target /= target.sum(axis=1, keepdims=True)
    got = CrossEntropyLoss(ignore_index=-1)(logits, target)
    expected = torch.nn.CrossEntropyLoss(ignore_index=-1)(torch.tensor(logits), torch.tensor(target)).item()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="ignore_index=0"):
        CrossEntropyLoss(ignore_index=0)(logits, target)


def test_label_smoothing_of_one_is_allowed_and_matches_torch():
    """ε = 1 (all mass spread evenly) is the end of torch's range [0, 1], not outside it."""
    logits, target = np.random.default_rng(0).standard_normal((4, 3)), np.array([0, 2, 1, 1])
    expected = torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(target), label_smoothing=1.0)
    assert_close(CrossEntropyLoss(label_smoothing=1.0)(logits, target), expected.numpy())
    with pytest.raises(ValueError):
        CrossEntropyLoss(label_smoothing=1.01)
