"""Dropout1d, Dropout2d, Dropout3d: whole channels kept (scaled by 1/(1 − p)) or zeroed, as in torch."""
import numpy as np
import pytest
import torch

from course_lib.scratch import Dropout1d, Dropout2d, Dropout3d, init
from course_lib.scratch.layout import batch_innermost, memory_order

from .parity import assert_parity

# (class, torch class, batched shape, unbatched shape)
CASES = [(Dropout1d, torch.nn.Dropout1d, (40, 30, 7), (30, 7)),
         (Dropout2d, torch.nn.Dropout2d, (40, 30, 3, 4), None),
         (Dropout3d, torch.nn.Dropout3d, (40, 30, 2, 3, 2), (30, 2, 3, 2))]


def _maps(out, spatial):
    """One row per (sample, channel) map: its numbers flattened."""
    return out.reshape(-1, int(np.prod(out.shape[out.ndim - spatial:])))


@pytest.mark.parametrize("make, torch_make, batched, unbatched", CASES)
@pytest.mark.parametrize("p", [0.2, 0.6])
def test_each_map_is_kept_whole_or_zeroed_at_torchs_rate(make, torch_make, batched, unbatched, p):
    init.manual_seed(1)
    spatial = len(batched) - 2
    for shape in filter(None, (batched, unbatched)):
        x = np.full(shape, 2.0, dtype=np.float32)
        out = make(p)(x)
        assert out.dtype == np.float32 and out.shape == shape
        maps = _maps(out, spatial)
        assert np.all(maps == maps[:, :1])  # a whole map shares one mask number
        assert set(np.unique(maps[:, 0])) <= {0.0, np.float32(2.0) / np.float32(1 - p)}
        torch.manual_seed(1)
        reference = _maps(torch_make(p)(torch.from_numpy(x)).numpy(), spatial)
        kept, torch_kept = np.mean(maps[:, 0] != 0), np.mean(reference[:, 0] != 0)
        # 1,200 (or 30) Bernoulli draws each: within 5 standard errors of 1 − p and of each other
        error = 5 * np.sqrt(p * (1 - p) / len(maps))
        assert abs(kept - (1 - p)) < error and abs(kept - torch_kept) < 2 * error


@pytest.mark.parametrize("make, torch_make, batched, unbatched", CASES)
def test_backward_applies_the_forward_mask_and_eval_is_torchs_identity(make, torch_make, batched, unbatched):
    init.manual_seed(2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(batched) + 10.0  # never 0: out == 0 marks a dropped map
    layer = make(0.5)
    out = layer(x)
    grad = rng.standard_normal(batched)
    np.testing.assert_array_equal(layer.backward(grad), grad * (out / x))
    assert_parity(torch_make(0.5).eval(), make(0.5).eval(), x, grad)


def test_p_zero_and_one_inplace_seed_and_layout():
    x = np.random.default_rng(3).standard_normal((4, 6, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(Dropout2d(0.0)(x), x)
    np.testing.assert_array_equal(Dropout2d(1.0)(x), np.zeros_like(x))
    init.manual_seed(7)
    first = Dropout2d(0.5)(x)
    init.manual_seed(7)
    copy = x.copy()
    assert Dropout2d(0.5, inplace=True)(copy) is copy
    np.testing.assert_array_equal(copy, first)
    stored = batch_innermost(x)  # a convolution's output layout: kept, as by Dropout
    assert memory_order(Dropout2d(0.5)(stored)) == memory_order(stored)
    assert repr(Dropout2d(0.3, inplace=True)) == repr(torch.nn.Dropout2d(0.3, inplace=True))


def test_inputs_of_the_wrong_rank_are_refused_with_the_shapes_expected():
    with pytest.raises(ValueError, match=r"Dropout2d expected input of shape \(N, C, H, W\), got \(4, 5, 6\).*1d"):
        Dropout2d()(np.ones((4, 5, 6)))
    with pytest.raises(ValueError, match=r"Dropout1d expected input of shape \(N, C, L\) or, for one sample, "
                                         r"\(C, L\), got \(2, 3, 4, 5\)"):
        Dropout1d()(np.ones((2, 3, 4, 5)))
    with pytest.raises(ValueError, match=r"Dropout3d expected .*got \(5,\); Dropout drops single numbers"):
        Dropout3d()(np.ones(5))
    with pytest.raises(ValueError, match="Dropout2d expected a float32 or float64 NumPy array, got dtype int64"):
        Dropout2d()(np.ones((1, 2, 3, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="Dropout2d probability has to be between 0 and 1|probability"):
        Dropout2d(1.5)
