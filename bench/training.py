"""Whole training loops on Fashion-MNIST: an MLP epoch and 200 CNN mini-batches, NumPy vs PyTorch.

Each run happens in a fresh process (``bench/training_worker.py``) so its peak memory can
be measured the same way for both sides; rounds alternate which side goes first and we
report the median time of each.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys

from .timing import Row

ROUNDS = 3


def _run(task: str, side: str, quick: bool) -> dict:
    command = [sys.executable, "-m", "bench.training_worker", task, side] + (["--quick"] if quick else [])
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _task_rows(task: str, title: str, target: float, quick: bool):
    runs = {"numpy": [], "torch": []}
    for round_index in range(1 if quick else ROUNDS):
        for side in (("numpy", "torch") if round_index % 2 == 0 else ("torch", "numpy")):
            runs[side].append(_run(task, side, quick))
    numpy_s = statistics.median(run["seconds"] for run in runs["numpy"])
    torch_s = statistics.median(run["seconds"] for run in runs["torch"])
    numpy_mem = statistics.median(run["peak_growth_bytes"] for run in runs["numpy"])
    torch_mem = statistics.median(run["peak_growth_bytes"] for run in runs["torch"])
    batches = runs["numpy"][0]["batches"]
    time_row = Row(f"{title} ({batches} mini-batches of 64)", numpy_s, torch_s, target,
                   note="fresh process per run, median of rounds")
    memory_row = Row(f"{title}: peak memory growth (MB)", numpy_mem / 2**20, max(torch_mem, 1) / 2**20, 1.5,
                     note="ru_maxrss growth during the loop; columns are MB, not ms", extra={"unit": "MB"})
    return [time_row, memory_row]


def run(quick: bool):
    return (_task_rows("mlp", "MLP 784-128-10 one epoch, SGD momentum", 1.0, quick)
            + _task_rows("cnn", "CNN Conv32-Pool-Conv64-Pool-Conv64-Dense64-Dense10, RMSprop", 1.5, quick))
