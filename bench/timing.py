"""Fair timing of two implementations in one process.

Both sides run with the same thread count (set before NumPy or torch is imported,
see ``bench/__main__.py``).  Rounds alternate NumPy and PyTorch so drifts in machine
load hit both alike; we report the median of each side and their ratio, and the lowest and
highest ratio of a single round, which shows how much the machine's noise moves it.

Each timed chunk starts with both thread pools asleep: NumPy's OpenBLAS keeps its worker
threads spinning for about 0.1 s after every matrix product, and PyTorch run inside that
window shares the cores with them — a convolution ran 3× slower so (measured 2026-12-04;
PyTorch's own idle threads cost NumPy about 4 %).  So every chunk waits ``SETTLE_S`` first,
then makes one untimed call that wakes its own pool, then runs the timed calls — as many as
last ``MIN_CHUNK_S`` (20 ms) on the slower side, at most ``MAX_REPEAT`` (100), and at least
``repeat``.
"""
from __future__ import annotations

import math
import statistics
import tracemalloc
from dataclasses import dataclass, field
from time import perf_counter, sleep  # names of this module: a test's fake clock replaces them here only
from typing import Callable, Optional


@dataclass
class Row:
    """One line of the benchmark table."""

    name: str
    numpy_s: float
    torch_s: float
    target: Optional[float] = None  # the ratio numpy/torch must not exceed
    note: str = ""
    extra: dict = field(default_factory=dict)
    # numpy/torch of each round on its own (the two sides timed back to back): how much the ratio
    # moves from round to round on this machine; empty where a row has no rounds
    round_ratios: tuple = ()

    @property
    def spread(self) -> str:
        """The lowest and highest per-round ratio, e.g. "1.31–1.58" ("" without rounds)."""
        if not self.round_ratios:
            return ""
        return f"{min(self.round_ratios):.2f}–{max(self.round_ratios):.2f}"

    @property
    def ratio(self) -> float:
        return self.numpy_s / self.torch_s if self.torch_s > 0 else float("inf")

    @property
    def ok(self) -> Optional[bool]:
        return None if self.target is None else self.ratio <= self.target


#: the variables that fix the thread count of NumPy's BLAS (OpenBLAS or MKL) and of torch's OpenMP pool;
#: each must be set before the library that reads it is imported
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

SETTLE_S = 0.25  # longer than OpenBLAS's spin (2^28 cycles, about 0.1 s) and libgomp's
# On a shared virtual machine a single round's ratio moves by up to 2× (the LSTM read 0.86–1.94
# within one run, 2026-12-05); the median of 15 rounds moves much less than that of 7.  The
# chunks are short (a 0.25 s pause and a few calls), so a row takes 5–10 s.
ROUNDS = 15
# A timed chunk of a fast row (a 1 ms convolution, 3 calls) is short enough for one hiccup of the
# machine to double it: one such row read 0.68–0.92 in three runs and 1.69 in a fourth
# (2026-12-05).  Each chunk therefore makes as many calls as last MIN_CHUNK_S on the slower side.
MIN_CHUNK_S = 0.02
MAX_REPEAT = 100


def best_time(fn: Callable[..., object], *args, repeat: int = 3) -> float:
    """Seconds of the fastest of ``repeat`` calls ``fn(*args)``: the book's quick single measurements
    (the slower calls are the machine's noise, not the code's cost).  Rows of the benchmark tables
    use ``compare``."""
    best = float("inf")
    for _ in range(repeat):
        start = perf_counter()
        fn(*args)
        best = min(best, perf_counter() - start)
    return best


def _time_once(fn: Callable[[], object], repeat: int) -> float:
    sleep(SETTLE_S)  # the other side's worker threads stop spinning
    fn()  # this side's wake up
    start = perf_counter()
    for _ in range(repeat):
        fn()
    return (perf_counter() - start) / repeat


def compare(
    name: str,
    numpy_fn: Callable[[], object],
    torch_fn: Callable[[], object],
    rounds: int = ROUNDS,
    repeat: int = 3,
    warmup: int = 2,
    target: Optional[float] = None,
    note: str = "",
    min_chunk_s: float = MIN_CHUNK_S,
) -> Row:
    """Median seconds per call of each function over alternating rounds; each timed chunk makes
    at least ``repeat`` calls, and more when that lasts less than ``min_chunk_s``."""
    for _ in range(warmup):
        numpy_fn()
        torch_fn()
    if min_chunk_s > 0:
        slowest = max(_one_call(numpy_fn), _one_call(torch_fn))
        repeat = max(repeat, min(MAX_REPEAT, math.ceil(min_chunk_s / max(slowest, 1e-9))))
    numpy_times, torch_times = [], []
    for round_index in range(rounds):
        # alternate which side goes first so neither always runs on a warmer cache
        order = (numpy_fn, torch_fn) if round_index % 2 == 0 else (torch_fn, numpy_fn)
        for fn in order:
            elapsed = _time_once(fn, repeat)
            (numpy_times if fn is numpy_fn else torch_times).append(elapsed)
    return Row(name, statistics.median(numpy_times), statistics.median(torch_times), target, note,
               round_ratios=paired_ratios(numpy_times, torch_times))


def _one_call(fn: Callable[[], object]) -> float:
    start = perf_counter()
    fn()
    return perf_counter() - start


def paired_ratios(numpy_times, torch_times) -> tuple:
    """numpy/torch for each round: the i-th time of one side against the i-th of the other."""
    return tuple(n / t for n, t in zip(numpy_times, torch_times) if t > 0)


def peak_python_memory(fn: Callable[[], object]) -> int:
    """Peak bytes allocated through Python's allocator (NumPy arrays included) while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@dataclass
class Measurement:
    """A benchmark result that is not a NumPy/PyTorch ratio (a time budget, a throughput, an accuracy)."""

    name: str
    value: float
    unit: str
    target: Optional[float] = None  # the value must not exceed this (or, with higher_is_better, fall below it)
    higher_is_better: bool = False
    note: str = ""

    @property
    def ok(self) -> Optional[bool]:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target
