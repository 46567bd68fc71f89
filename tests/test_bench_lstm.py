"""bench/lstm.py: the "matrix products alone" are exactly the products the scratch LSTM computes."""
import collections

import numpy as np

from bench import lstm as lstm_bench
from bench import timing
from course_lib.scratch.recurrent import LSTM


def _layout(array) -> str:
    return "C" if array.flags.c_contiguous else "F" if array.flags.f_contiguous else "strided"


def _products(run, monkeypatch) -> collections.Counter:
    """Every np.matmul that ``run`` makes, counted by operand shapes, dtypes and memory layouts."""
    calls = collections.Counter()
    matmul = np.matmul

    def recording(a, b, *args, **kwargs):
        calls[(a.shape, a.dtype.str, _layout(a)), (b.shape, b.dtype.str, _layout(b))] += 1
        return matmul(a, b, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(np, "matmul", recording)
        run()
    return calls


def test_products_alone_are_the_scratch_lstm_products(monkeypatch):
    batch, steps, features_in, hidden = 3, 4, 5, 6
    rng = np.random.default_rng(0)
    lstm = LSTM(features_in, hidden)
    x = rng.standard_normal((steps, batch, features_in)).astype(np.float32)
    grad = rng.standard_normal((steps, batch, hidden)).astype(np.float32)

    def scratch_step():
        lstm(x)
        lstm.backward(grad)

    scratch = _products(scratch_step, monkeypatch)
    alone = _products(lstm_bench.products_alone(batch, steps, features_in, hidden), monkeypatch)
    assert sum(scratch.values()) == 2 * steps + 2
    assert alone == scratch


def test_lstm_row_reports_the_products_time(monkeypatch):
    monkeypatch.setattr(timing, "SETTLE_S", 0.0)
    (row,) = lstm_bench.run(quick=True, rounds=1)
    assert 0 < row.extra["products_s"] and row.target == 1.5
    assert "matrix products alone" in row.note


def test_lstm_note_compares_the_products_time_with_the_same_pytorch_step(monkeypatch):
    """Guards against the note's numbers coming from the wrong side or the wrong row: the
    products' own (NumPy-side) time, against the PyTorch step of the row, over the row's rounds,
    in milliseconds, with the right count of products and the factor products / PyTorch."""
    calls = []

    def fake_compare(name, numpy_fn, torch_fn, rounds=timing.ROUNDS, target=None, **kwargs):
        calls.append((name, numpy_fn, torch_fn, rounds, target))
        if name == "products":
            return timing.Row(name, 0.002, 0.008)  # its own PyTorch median differs from the row's: the note uses the row's
        return timing.Row(name, 0.006, 0.004, target)

    monkeypatch.setattr(lstm_bench, "compare", fake_compare)
    (row,) = lstm_bench.run(quick=True, rounds=3)
    (_, numpy_step, torch_step, row_rounds, target), (name, products_fn, products_torch, rounds, _) = calls
    assert name == "products" and products_fn is not numpy_step and products_torch is torch_step
    assert row_rounds == rounds == 3 and target == 1.5
    assert row.extra["products_s"] == 0.002
    # quick: 10 steps, so 2 · 10 + 2 products
    assert row.note == "the scratch LSTM's 22 matrix products alone: 2.00 ms (0.50× PyTorch's whole fused step)"
