"""The training benchmark's worker: one timed run per process, memory measured the same way for both sides.

A smoke run (``--quick``: 20 CNN mini-batches) on each side checks what ``python -m bench``
reads: the timing, and a peak-memory growth that counts a batch-64 step's working set (tens of
MB for this CNN on both sides), not the few MB an allocator happens to keep or return.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_lib.data import store

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(store.find("fashion-mnist") is None, reason="Fashion-MNIST not installed")
@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_cnn_worker_reports_time_and_the_memory_a_step_needs(side):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "bench.training_worker", "cnn", side, "--quick"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=True)
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["batches"] == 20 and record["seconds"] > 0
    # conv1's output alone is 64·32·26·26 floats = 5.5 MB; the whole step needs several times that
    assert 10 * 2**20 < record["peak_growth_bytes"] < 200 * 2**20
    assert record["last_loss"] < record["first_loss"]


def test_worker_times_only_the_loop_after_a_full_size_warm_up_and_pins_torch_threads(monkeypatch, capsys):
    """Guards against the batch-64 warm-up step being dropped or timed (the first full step's
    lazy set-up would count as training time), the peak not measured from the post-set-up
    baseline, and the PyTorch worker not taking its thread count from OMP_NUM_THREADS."""
    import numpy as np
    import torch

    from bench import training_worker as worker

    events = []
    monkeypatch.setattr(worker, "_data", lambda task, quick: (np.zeros((4 * worker.BATCH + 10, 784), np.float32),
                                                              np.zeros(4 * worker.BATCH + 10, np.int64)))
    monkeypatch.setattr(worker, "_torch_step_fn", lambda task: lambda x, y: events.append(("step", len(x))) or 1.0)
    monkeypatch.setattr(worker, "_reset_peak_rss", lambda: events.append("reset") or 300 * 2**20)
    monkeypatch.setattr(worker, "_status_bytes", lambda field: {"VmHWM": 340 * 2**20}[field])
    monkeypatch.setattr(worker.time, "perf_counter", lambda: events.append("clock") or float(len(events)))
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    monkeypatch.setattr(sys, "argv", ["training_worker", "mlp", "torch"])
    worker.main()
    step64 = ("step", worker.BATCH)
    assert events == [("step", 2), "reset", step64, "clock"] + [step64] * 4 + ["clock"]
    assert threads == [3]
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["batches"] == 4 and record["seconds"] == 5.0  # 4 timed steps between the clock reads
    assert record["peak_growth_bytes"] == 40 * 2**20


def test_resetting_the_peak_forgets_memory_freed_before_it(monkeypatch):
    """Guards against a reset that leaves the set-up's high-water mark in place (VmHWM would then
    count set-up, not the training step) and against kB read as bytes."""
    from bench import training_worker as worker

    block = bytearray(200 * 2**20)  # touched: 200 MB resident, then returned to the system
    block[::4096] = b"\1" * len(block[::4096])
    del block
    baseline = worker._reset_peak_rss()
    assert baseline > 10 * 2**20  # a Python process with NumPy and torch loaded: tens of MB, in bytes
    assert worker._status_bytes("VmHWM") - baseline < 100 * 2**20
