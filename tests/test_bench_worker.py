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
