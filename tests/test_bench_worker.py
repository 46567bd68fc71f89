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
    monkeypatch.setattr(worker, "perf_counter", lambda: events.append("clock") or float(len(events)))
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


@pytest.mark.skipif(store.find("fashion-mnist") is None, reason="Fashion-MNIST not installed")
@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_the_real_worker_serves_chunks_to_the_benchmark(side, monkeypatch):
    """The parent (``bench/training.py``) and the worker speak over pipes: an answer left in the
    worker's buffer would block the benchmark, so a watchdog kills a worker that stops answering."""
    import threading

    from bench import training

    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # a pipe is block-buffered unless the worker flushes
    started = []
    popen = subprocess.Popen
    monkeypatch.setattr(training, "Popen", lambda *args, **kwargs: started.append(popen(*args, **kwargs)) or started[-1])
    watchdog = threading.Timer(60, lambda: [process.kill() for process in started])
    watchdog.start()
    worker = None
    try:
        worker = training._Worker("mlp", side, quick=True, threads=1)
        assert started == [worker.process]  # the watchdog can reach the worker
        assert worker.batches == 32  # --quick: 2048 images
        chunks = [worker.ask("run 0 10")["seconds"], worker.ask("run 10 32")["seconds"]]
        record = worker.ask("end")
    finally:
        watchdog.cancel()
        if worker is not None:
            worker.close()
    assert all(seconds > 0 for seconds in chunks) and record["seconds"] == sum(chunks)
    assert record["batches"] == 32 and record["last_loss"] < record["first_loss"]


def _run_serving(monkeypatch, lines):
    """Runs the worker's --serve mode on stand-in data and steps with ``lines`` as its stdin;
    returns the event log (steps, clock reads)."""
    import io

    import numpy as np

    from bench import training_worker as worker

    events = []
    monkeypatch.setattr(worker, "_data", lambda task, quick: (np.zeros((4 * worker.BATCH + 10, 784), np.float32),
                                                              np.zeros(4 * worker.BATCH + 10, np.int64)))
    monkeypatch.setattr(worker, "_numpy_step_fn", lambda task: lambda x, y: events.append(("step", len(x))) or 2.0)
    monkeypatch.setattr(worker, "_reset_peak_rss", lambda: 300 * 2**20)
    monkeypatch.setattr(worker, "_status_bytes", lambda field: {"VmHWM": 340 * 2**20}[field])
    clock = iter([10.0, 10.5, 20.0, 21.25, 30.0, 30.125])
    monkeypatch.setattr(worker, "perf_counter", lambda: events.append("clock") or next(clock))
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(line + "\n" for line in lines)))
    monkeypatch.setattr(sys, "argv", ["training_worker", "mlp", "numpy", "--serve"])
    worker.main()
    return events


def test_serving_times_each_chunk_asked_for_and_reports_their_sum(monkeypatch, capsys):
    """Guards against chunks timed together with the pause between them (the clock must stop at
    each chunk's end), chunks that re-run or skip mini-batches, a total that is not the chunks'
    sum, and answers left in a buffer (the parent would wait for ever)."""
    events = _run_serving(monkeypatch, ["run 0 1", "run 1 3", "run 3 4", "end"])
    step64 = ("step", 64)
    assert events == [("step", 2), step64] + ["clock", step64, "clock"] + ["clock", step64, step64, "clock"] + ["clock", step64, "clock"]
    records = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert records[0] == {"ready": True, "batches": 4}
    assert [record["seconds"] for record in records[1:4]] == [0.5, 1.25, 0.125]
    assert records[4]["seconds"] == 1.875 and records[4]["batches"] == 4 and records[4]["peak_growth_bytes"] == 40 * 2**20


@pytest.mark.parametrize("lines, message", [
    (["run 0 2", "run 1 4", "end"], "starting at mini-batch 2"),
    (["run 0 5"], "ending by 4"),
    (["run 0 0"], "got 0..0"),
    (["go 0 4"], "expected 'run START STOP' or 'end'"),
    (["run 0 2", "end"], "ended after 2 of 4"),
    (["run 0 2"], "ended after 2 of 4"),  # stdin closed early: the parent died
])
def test_serving_refuses_chunks_out_of_order_and_an_early_end(monkeypatch, lines, message):
    """Guards against an epoch timed with mini-batches missing, repeated or out of range."""
    with pytest.raises(SystemExit, match=message):
        _run_serving(monkeypatch, lines)


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
