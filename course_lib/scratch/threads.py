"""Memory-bound array work on several cores: split the batch, one slice per thread.

A matrix product already runs on every core (NumPy's BLAS is multi-threaded), but an
element-wise step such as ReLU, a pooling window or an im2col copy runs on one core.
NumPy releases the GIL inside such loops, so Python threads that each take a slice of
the batch really do run at the same time, which is what PyTorch does in C++ for the
same steps.  Every sample is computed by exactly the same operations whichever thread
takes it, so the numbers do not depend on the thread count.

The count follows ``COURSE_LIB_NUM_THREADS``, else ``OMP_NUM_THREADS``, else the cores
this process may use; ``set_num_threads`` changes it (like ``torch.set_num_threads``).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Optional

# below this many numbers a step takes microseconds and handing it to a thread costs more
MIN_PARALLEL_SIZE = 1 << 16

_num_threads: Optional[int] = None
_executor: Optional[ThreadPoolExecutor] = None


def _forget_executor_after_fork() -> None:
    global _executor
    _executor = None  # a forked child has none of its parent's threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_executor_after_fork)


def _default_num_threads() -> int:
    for variable in ("COURSE_LIB_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """How many threads ``over_batch`` uses."""
    global _num_threads
    if _num_threads is None:
        _num_threads = _default_num_threads()
    return _num_threads


def set_num_threads(count: int) -> None:
    """Use ``count`` threads from now on (1 = everything on the calling thread)."""
    global _num_threads, _executor
    if int(count) < 1:
        raise ValueError(f"set_num_threads expects a positive number of threads, got {count!r}")
    _num_threads = int(count)
    if _executor is not None:
        _executor.shutdown(wait=True)
        _executor = None


def over_batch(work: Callable[[object], None], batch_size: int, size: int) -> None:
    """Call ``work(batch)`` with slices of range(batch_size) that together cover the batch.

    One call with ``slice(None)`` when the job is small or one thread is configured,
    otherwise one contiguous slice per thread; ``size`` is the number of array elements
    the job touches (it decides whether threads pay off).  ``work`` writes its results
    into preallocated arrays, slice by slice.
    """
    global _executor
    threads = min(get_num_threads(), batch_size)
    if threads < 2 or size < MIN_PARALLEL_SIZE:
        work(slice(None))
        return
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=get_num_threads() - 1, thread_name_prefix="course_lib")
    bounds = [batch_size * part // threads for part in range(threads + 1)]
    slices = [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:])]
    futures = [_executor.submit(work, index) for index in slices[1:]]
    work(slices[0])  # the calling thread takes a share too
    for future in futures:
        future.result()  # re-raises an exception from a worker
