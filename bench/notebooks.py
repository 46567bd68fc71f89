"""Execution time of every book notebook: quick mode (as the test suite runs them) and full size.

Quick mode is measured now, one fresh kernel per notebook, with ``COURSE_LIB_QUICK=1``.
Full-size times are read from the jupyter-cache of the last ``make book`` (``_build/.jupyter_cache``),
which records how long each chapter took to execute; run ``make book`` first for them.
Budgets (issue "The book"): ≤ 60 s per notebook and ≤ 10 min in all in quick mode; the full
book within 20 min cold.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from .timing import Measurement

ROOT = Path(__file__).resolve().parents[1]
QUICK_BUDGET_S, QUICK_TOTAL_S, FULL_TOTAL_S = 60.0, 600.0, 1200.0


def book_notebooks():
    return sorted((ROOT / "book").rglob("*.ipynb"))


def _quick_seconds(path: Path) -> float:
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # log_level: each kernel would print ipykernel 7's warning about TCP transport into the table
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def _full_seconds() -> dict:
    cache_path = ROOT / "_build" / ".jupyter_cache"
    if not cache_path.exists():
        return {}
    from jupyter_cache import get_cache

    seconds = {}
    for record in get_cache(str(cache_path)).list_cache_records():
        value = (record.data or {}).get("execution_seconds")
        if value is not None:
            seconds[Path(record.uri).resolve()] = float(value)
    return seconds


def run(quick: bool):
    os.environ["COURSE_LIB_QUICK"] = "1"  # inherited by each kernel; sizes only, never code paths
    rows, total = [], 0.0
    full = _full_seconds()
    for path in book_notebooks():
        name = str(path.relative_to(ROOT))
        note = f"full size {full[path.resolve()]:.0f} s (last make book)" if path.resolve() in full else ""
        try:
            seconds = _quick_seconds(path)
        except Exception as error:  # a failing chapter is a result to report, not a reason to stop
            seconds = float("inf")
            note = f"FAILED: {type(error).__name__}: {str(error).strip().splitlines()[-1][:120]}"
        total += seconds
        rows.append(Measurement(f"quick mode: {name}", seconds, "s", QUICK_BUDGET_S, note=note))
    rows.append(Measurement("quick mode: all notebooks", total, "s", QUICK_TOTAL_S))
    if full:
        rows.append(Measurement("full size: all cached chapters (last make book)", sum(full.values()), "s",
                                FULL_TOTAL_S, note="execution only; Sphinx adds about a minute"))
    return rows
