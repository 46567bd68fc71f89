"""Whole training loops on Fashion-MNIST: an MLP epoch and 200 CNN mini-batches, NumPy vs PyTorch.

Each round starts one fresh process per side (``bench/training_worker.py --serve``), so both
sides' peak memory is measured the same way, and then times the run in alternating chunks:
a tenth of the mini-batches on one side, the same tenth on the other, and so on, each chunk after
a pause that lets the other process's thread pool fall asleep (``timing.SETTLE_S``).  A side's
time for the round is the sum of its chunks.  On a shared virtual machine the speed changes in
stretches of seconds that slow both sides alike (the MLP epoch by about 1.7×, 2026-12-06); a run
timed in one piece, one side after the other, could fall into such a stretch on one side only,
and the ratio then measured the machine, not the code.  Rounds alternate which side goes first,
and within a round the chunks alternate too; we report the median of each side over the rounds.
With more than one thread the CNN is also timed with one thread on each side, which separates
PyTorch's intra-op parallelism from per-core speed.
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
from subprocess import PIPE, Popen  # names of this module: a test can watch the workers it starts
from time import sleep
from typing import Optional

from .timing import SETTLE_S, THREAD_VARIABLES, Row, paired_ratios

ROUNDS = 7  # rounds move by ±10 % on a 2-core machine (single rounds of the CNN by 1.08–1.67 on
# a shared virtual machine, 2026-12-05); the median of seven steadies the ratio
CHUNKS = 10  # chunks per side and round: each about 40–70 ms of the MLP epoch, 0.25–0.35 s of the CNN


class _Worker:
    """One side's worker process, answering ``run START STOP`` with the chunk's seconds."""

    def __init__(self, task: str, side: str, quick: bool, threads: Optional[int] = None):
        self.command = [sys.executable, "-m", "bench.training_worker", task, side, "--serve"] + (["--quick"] if quick else [])
        env = dict(os.environ)
        if threads is not None:  # otherwise the count python -m bench pinned for everything
            env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
        self.stderr = tempfile.TemporaryFile(mode="w+")  # a pipe left unread could fill and block the worker
        self.process = Popen(self.command, stdin=PIPE, stdout=PIPE, stderr=self.stderr, text=True, env=env)
        try:
            self.batches = self._read()["batches"]
        except BaseException:
            self.close()
            raise

    def _read(self) -> dict:
        for line in self.process.stdout:
            line = line.strip()
            if line.startswith("{"):
                return json.loads(line)
        self.process.wait()
        self.stderr.seek(0)
        raise RuntimeError(f"{' '.join(self.command)} failed (exit {self.process.returncode}):\n{self.stderr.read()[-2000:]}")

    def ask(self, line: str) -> dict:
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            pass  # the worker has died: _read reports its error
        return self._read()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(BrokenPipeError):  # a line the dead worker never read
            self.process.stdin.close()
        self.process.stdout.close()
        self.stderr.close()


def _round(task: str, quick: bool, threads: Optional[int], numpy_first: bool) -> dict:
    """One round: both sides' runs in alternating chunks; returns each side's final record."""
    workers = {}
    try:
        for side in ("numpy", "torch"):
            workers[side] = _Worker(task, side, quick, threads)
        batches = workers["numpy"].batches
        if workers["torch"].batches != batches:
            raise RuntimeError(f"the two sides' workers disagree on the run: NumPy {batches} mini-batches, "
                               f"PyTorch {workers['torch'].batches}")
        bounds = [batches * index // CHUNKS for index in range(CHUNKS + 1)]
        chunks = [(start, stop) for start, stop in zip(bounds, bounds[1:]) if stop > start]
        for index, (start, stop) in enumerate(chunks):
            first = "numpy" if numpy_first == (index % 2 == 0) else "torch"
            for side in (first, "torch" if first == "numpy" else "numpy"):
                sleep(SETTLE_S)  # the other process's worker threads stop spinning
                workers[side].ask(f"run {start} {stop}")
        return {side: worker.ask("end") for side, worker in workers.items()}
    finally:
        for worker in workers.values():
            worker.close()


def _task_rows(task: str, title: str, target: float, quick: bool, threads: Optional[int] = None, memory: bool = True):
    runs = {"numpy": [], "torch": []}
    for round_index in range(1 if quick else ROUNDS):
        records = _round(task, quick, threads, numpy_first=round_index % 2 == 0)
        for side in runs:
            runs[side].append(records[side])
    numpy_s = statistics.median(run["seconds"] for run in runs["numpy"])
    torch_s = statistics.median(run["seconds"] for run in runs["torch"])
    numpy_mem = statistics.median(run["peak_growth_bytes"] for run in runs["numpy"])
    torch_mem = statistics.median(run["peak_growth_bytes"] for run in runs["torch"])
    batches = runs["numpy"][0]["batches"]
    pinned = f", both sides on {threads} thread{'s' if threads > 1 else ''}" if threads else ""
    time_row = Row(f"{title} ({batches} mini-batches of 64{pinned})", numpy_s, torch_s, target,
                   note=f"two fresh processes per round, timed in {CHUNKS} alternating chunks each; median of rounds",
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
