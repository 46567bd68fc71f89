"""Whole training loops on Fashion-MNIST: an MLP epoch and 200 CNN mini-batches, NumPy vs PyTorch.

Each run happens in a fresh process (``bench/training_worker.py``) so its peak memory can
be measured the same way for both sides; rounds alternate which side goes first and we
report the median time of each.  With more than one thread the CNN is also timed with one
thread on each side, which separates PyTorch's intra-op parallelism from per-core speed.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Optional

from .timing import Row, paired_ratios

ROUNDS = 7  # fresh processes move by ±10 % on a 2-core machine (single rounds of the CNN by 1.08–1.67 on
# a shared virtual machine, 2026-12-05); the median of seven steadies the ratio


def _run(task: str, side: str, quick: bool, threads: Optional[int] = None) -> dict:
    command = [sys.executable, "-m", "bench.training_worker", task, side] + (["--quick"] if quick else [])
    env = dict(os.environ)
    if threads is not None:  # otherwise the count python -m bench pinned for everything
        env.update({name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _task_rows(task: str, title: str, target: float, quick: bool, threads: Optional[int] = None, memory: bool = True):
    runs = {"numpy": [], "torch": []}
    for round_index in range(1 if quick else ROUNDS):
        for side in (("numpy", "torch") if round_index % 2 == 0 else ("torch", "numpy")):
            runs[side].append(_run(task, side, quick, threads))
    numpy_s = statistics.median(run["seconds"] for run in runs["numpy"])
    torch_s = statistics.median(run["seconds"] for run in runs["torch"])
    numpy_mem = statistics.median(run["peak_growth_bytes"] for run in runs["numpy"])
    torch_mem = statistics.median(run["peak_growth_bytes"] for run in runs["torch"])
    batches = runs["numpy"][0]["batches"]
    pinned = f", both sides on {threads} thread{'s' if threads > 1 else ''}" if threads else ""
    time_row = Row(f"{title} ({batches} mini-batches of 64{pinned})", numpy_s, torch_s, target,
                   note="fresh process per run, median of rounds",
                   round_ratios=paired_ratios([run["seconds"] for run in runs["numpy"]],
                                              [run["seconds"] for run in runs["torch"]]))
    if not memory:
        return [time_row]
    memory_row = Row(f"{title}: peak memory growth (MB)", numpy_mem / 2**20, max(torch_mem, 1) / 2**20, 1.5,
                     note="resident-memory high-water mark (VmHWM) above the level after set-up and a 2-image step; columns are MB, not ms", extra={"unit": "MB"})
    return [time_row, memory_row]


def run(quick: bool):
    cnn = "CNN Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense10, RMSprop"
    rows = (_task_rows("mlp", "MLP 784-128-10 one epoch, SGD momentum", 1.0, quick)
            + _task_rows("cnn", cnn, 1.5, quick))
    if int(os.environ.get("OMP_NUM_THREADS", "1")) > 1:
        # the same comparison with one thread each: how much of the gap is intra-op parallelism
        rows += _task_rows("cnn", cnn, 1.5, quick, threads=1, memory=False)
    return rows
