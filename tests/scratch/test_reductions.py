"""reductions.py: row and column sums as matrix products — the same sums as NumPy's, as accurate —
and row maxima of many short rows column by column — the same maxima as NumPy's."""
import numpy as np
import pytest
import torch

from course_lib.scratch import activations
from course_lib.scratch.activations import LogSoftmax, Softmax
from course_lib.scratch.layernorm import LayerNorm
from course_lib.scratch import reductions
from course_lib.scratch.losses import CrossEntropyLoss
from course_lib.scratch.reductions import column_sums, row_dot_means, row_dots, row_maxima, row_means, row_sums
from .parity import assert_close, assert_parity


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 5), (1, 1), (300, 2), (3, 1000), (0, 4)])
def test_sums_equal_numpy_and_keep_the_dtype(dtype, shape):
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(shape).astype(dtype) for _ in range(2))
    reference = {  # in float64, against which both are checked
        "row_means": a.astype(np.float64).mean(axis=1, keepdims=True),
        "row_sums": a.astype(np.float64).sum(axis=1, keepdims=True),
        "row_dots": np.sum(a.astype(np.float64) * b, axis=1, keepdims=True),
        "row_dot_means": np.mean(a.astype(np.float64) * b, axis=1, keepdims=True),
        "column_sums": a.astype(np.float64).sum(axis=0),
    }
    results = {"row_means": row_means(a), "row_sums": row_sums(a), "row_dots": row_dots(a, b),
               "row_dot_means": row_dot_means(a, b), "column_sums": column_sums(a)}
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for name, result in results.items():
        assert result.dtype == dtype and result.shape == reference[name].shape, name
        np.testing.assert_allclose(result, reference[name], rtol=tolerance, atol=tolerance * np.sqrt(max(shape)), err_msg=name)


def test_non_contiguous_matrices_give_the_same_sums():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((40, 30))
    view = a.T  # (30, 40), column-major in memory
    np.testing.assert_allclose(row_sums(view)[:, 0], a.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(column_sums(view), a.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(row_dots(view, view)[:, 0], (a * a).sum(axis=0), rtol=1e-12)


def test_long_float32_column_sums_are_at_least_as_accurate_as_numpy():
    """NumPy sums an outer axis one row after another; BLAS in short blocks."""
    rng = np.random.default_rng(2)
    a = (rng.random((200_000, 8)) + 0.5).astype(np.float32)
    exact = a.astype(np.float64).sum(axis=0)
    ours = np.abs(column_sums(a) - exact).max() / exact.max()
    numpy_error = np.abs(a.sum(axis=0) - exact).max() / exact.max()
    assert ours <= max(numpy_error, 1e-6)


@pytest.mark.parametrize("cls, torch_cls", [(Softmax, torch.nn.Softmax), (LogSoftmax, torch.nn.LogSoftmax)])
def test_softmax_over_the_last_axis_of_a_transposed_array_matches_torch(cls, torch_cls):
    rng = np.random.default_rng(3)
    # not C-contiguous, so the sums take NumPy's path instead of the matrix products
    x = rng.standard_normal((6, 5, 4)).transpose(2, 0, 1) * 4
    grad = rng.standard_normal((6, 5, 4)).transpose(2, 0, 1)
    assert_parity(torch_cls(dim=-1), cls(dim=-1), x, grad)
    assert_parity(torch_cls(dim=2), cls(dim=2), x, grad)


def _count_product_sums(patch) -> dict:
    """Replace activations' row_sums and row_dots by counting wrappers; returns the counts."""
    calls = {"row_sums": 0, "row_dots": 0}

    def counted(name, fn):
        def wrapper(*args):
            calls[name] += 1
            return fn(*args)
        return wrapper

    for name in calls:
        patch.setattr(activations, name, counted(name, getattr(activations, name)))
    return calls


@pytest.mark.parametrize("cls", [Softmax, LogSoftmax])
def test_softmax_sums_are_matrix_products_exactly_when_the_last_axis_is_contiguous(cls, monkeypatch):
    """The results tests above pass on either path; this one checks which path runs."""
    calls = _count_product_sums(monkeypatch)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((8, 5, 7)).astype(np.float32)
    layer = cls(dim=-1)
    layer(x)
    layer.backward(np.ones_like(x))
    expected = {"row_sums": 1, "row_dots": 1} if cls is Softmax else {"row_sums": 2, "row_dots": 0}
    assert calls == expected  # one sum forward, one backward
    for transposed, dim in [(x.transpose(2, 0, 1), -1), (x, 1)]:  # not contiguous rows, not the last axis
        layer = cls(dim=dim)
        layer(transposed)
        layer.backward(np.ones_like(transposed))
    assert calls == expected  # no more


# LogSoftmax's gradient g − e^{out}·Σg takes e^{out} from float32 log-probabilities down to about
# −30, each off by up to half an ulp of 30, times Σg ≈ ±30 here: PyTorch's own result is 2·10⁻⁵
# from the float64 one, and so is ours (as it was with NumPy's sums)
@pytest.mark.parametrize("cls, torch_cls, atol", [(Softmax, torch.nn.Softmax, 1e-6), (LogSoftmax, torch.nn.LogSoftmax, 1e-4)])
def test_large_float32_softmax_matches_torch(cls, torch_cls, atol):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((256, 1000)) * 5).astype(np.float32)
    grad = rng.standard_normal(x.shape).astype(np.float32)
    layer = cls(dim=-1)
    out = layer(x)
    grad_x = layer.backward(grad)
    x_t = torch.from_numpy(x).requires_grad_()
    out_t = torch_cls(dim=-1)(x_t)
    out_t.backward(torch.from_numpy(grad))
    assert out.dtype == grad_x.dtype == np.float32
    assert_close(out, out_t.detach(), rtol=1e-5, atol=1e-6, what="output")
    assert_close(grad_x, x_t.grad, rtol=1e-5, atol=atol, what="input gradient")


def test_float32_layer_norm_over_many_rows_stays_accurate():
    """Against a float64 LayerNorm on the same numbers: γ's and β's gradients sum 32,768 rows.

    With NumPy's sums (which add an outer axis one row after another) their largest errors were
    3.7·10⁻⁶ and 4.4·10⁻⁶ of the largest entry; BLAS's blocked sums give 2.3·10⁻⁶ and 1.2·10⁻⁶
    (up to 2.9·10⁻⁶ and 2.2·10⁻⁶ with OpenBLAS's oldest x86 kernel, ``OPENBLAS_CORETYPE=Prescott``).
    """
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((512, 64, 64)) * 3 + 5).astype(np.float32)
    grad = rng.standard_normal(x.shape).astype(np.float32)
    gamma, beta = rng.standard_normal(64), rng.standard_normal(64)
    results = {}
    for dtype in (np.float32, np.float64):
        layer = LayerNorm(64, dtype=dtype)
        layer.load_state_dict({"weight": gamma.astype(dtype), "bias": beta.astype(dtype)})
        out = layer(x.astype(dtype))
        results[dtype] = (out, layer.backward(grad.astype(dtype)), layer.weight.grad, layer.bias.grad)
    for name, single, double in zip(["output", "input gradient", "weight gradient", "bias gradient"],
                                    results[np.float32], results[np.float64]):
        assert single.dtype == np.float32
        assert np.abs(single - double).max() <= 3.5e-6 * np.abs(double).max(), name


def _same_numbers(actual, expected) -> bool:
    """Equal entry for entry, NaN where NaN (a NaN's sign aside), and zeros of the same sign."""
    return (actual.shape == expected.shape and actual.dtype == expected.dtype
            and np.array_equal(actual, expected, equal_nan=True)
            and np.array_equal(np.signbit(actual[actual == 0]), np.signbit(expected[expected == 0])))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [0, 3, 255, 256, 1000])
def test_row_maxima_are_numpys_on_either_side_of_the_thresholds(dtype, rows):
    """Widths around the column sweep's thresholds, NaN and ±inf in every column across the rows, and
    the non-contiguous views a caller may pass."""
    rng = np.random.default_rng(7)
    for width in [1, 2, 3, 15, 16, 17, 31, 33, 47, 63, 64, 65, 100]:
        x = rng.standard_normal((rows, width)).astype(dtype)
        special = rng.random(x.shape)
        x[special < 0.01] = np.nan
        x[(special >= 0.01) & (special < 0.02)] = np.inf
        x[(special >= 0.02) & (special < 0.03)] = -np.inf
        if rows:
            x[0] = -np.inf  # a row of −inf has maximum −inf
            x[-1, -1] = np.nan  # the last column alone holds the NaN
        for view in (x, x[:, ::-1], np.asfortranarray(x), np.repeat(x, 2, axis=1)[:, ::2]):
            assert _same_numbers(row_maxima(view), np.max(view, axis=1, keepdims=True)), (width, view.strides)


def test_zero_maxima_keep_numpys_sign_where_a_row_has_one_zero():
    x = np.full((300, 40), -1.0, dtype=np.float32)
    x[:150, 7] = -0.0
    x[150:, 39] = 0.0
    assert _same_numbers(row_maxima(x), np.max(x, axis=1, keepdims=True))


def test_many_short_rows_are_swept_column_by_column_and_other_shapes_left_to_numpy(monkeypatch):
    """Which path runs (the tests above pass on either)."""
    swept = []
    sweep = reductions._column_sweep_maxima
    monkeypatch.setattr(reductions, "_column_sweep_maxima", lambda rows: swept.append(rows.shape) or sweep(rows))
    x = np.random.default_rng(8).standard_normal((8192, 64)).astype(np.float32)
    row_maxima(x[:, :16])
    row_maxima(x[:, :10])
    row_maxima(x[:256, :1])
    with pytest.raises(ValueError, match="zero-size"):  # as np.max: no maximum of no numbers
        row_maxima(x[:, :0])
    row_maxima(x[:255, :10])
    row_maxima(x[:, :17])
    row_maxima(x)
    assert swept == [(8192, 16), (8192, 10), (256, 1)]


@pytest.mark.parametrize("axis", [5, -3, 1.0, True])
def test_softmax_functions_refuse_an_axis_numpy_refuses(axis):
    """The last-axis fast paths must not turn a wrong axis into the last one (an audit: axis=5 gave
    the softmax over the last axis of a 2-D array)."""
    x = np.array([[1.0, 2.0, 3.0]])
    for function in (activations.softmax, activations.log_softmax):
        with pytest.raises((np.exceptions.AxisError, TypeError)):
            function(x, axis=axis)
    with pytest.raises((np.exceptions.AxisError, TypeError)):
        activations.softmax_backward(x, activations.softmax(x), axis=axis)


# rows enough to be swept column by column (see row_maxima), with logits of ±1000, −inf and a row that is
# all −inf but one
@pytest.mark.parametrize("cls, torch_cls", [(Softmax, torch.nn.Softmax), (LogSoftmax, torch.nn.LogSoftmax)])
def test_softmax_of_many_short_rows_matches_torch(cls, torch_cls):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 128, 13)) * 4
    x[0, :, 5] = 1000
    x[1, :, 0] = -1000
    x[2, :, ::3] = -np.inf
    x[3, 7, 1:] = -np.inf
    grad = rng.standard_normal(x.shape)
    assert_parity(torch_cls(dim=-1), cls(dim=-1), x, grad)


@pytest.mark.parametrize("weight", [None, np.linspace(0.5, 2, 10)])  # the short path, and the general one
def test_cross_entropy_over_many_rows_matches_torch(weight):
    rng = np.random.default_rng(10)
    logits = rng.standard_normal((512, 10)) * 3
    logits[::7, 3] = 1000
    logits[::11, 4] = -1000
    labels = rng.integers(0, 10, 512)
    loss = CrossEntropyLoss(weight=weight)
    value = loss(logits, labels)
    grad = loss.backward()
    logits_t = torch.from_numpy(logits).requires_grad_()
    value_t = torch.nn.CrossEntropyLoss(weight=None if weight is None else torch.from_numpy(weight))(
        logits_t, torch.from_numpy(labels))
    value_t.backward()
    assert_close(value, value_t.detach(), rtol=1e-12, what="loss")
    assert_close(grad, logits_t.grad, rtol=1e-12, atol=1e-15, what="gradient")
