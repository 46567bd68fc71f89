"""``python -m bench``: run every benchmark; print a table of NumPy/PyTorch ratios and one of measurements.

Options: ``--quick`` (small sizes, a smoke run), ``--only NAME`` (a benchmark module),
``--threads N`` (default: all cores; NumPy's BLAS and torch get the same count),
``--markdown`` (print the tables as Markdown for bench/README.md).
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import os
import platform
import sys

# The modules under bench/ that provide run(quick) -> list[Row], in table order.
BENCHMARKS = ["linear", "conv", "pooling", "lstm", "attention", "elementwise", "training", "reproduce", "grading", "notebooks"]


def _parse(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not a measurement")
    parser.add_argument("--only", action="append", choices=BENCHMARKS, help="run only this benchmark (repeatable)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = _parse(argv)
    # Thread counts must be fixed before NumPy's BLAS or torch start their pools.
    from bench.timing import THREAD_VARIABLES  # imports neither NumPy nor torch

    for var in THREAD_VARIABLES:
        os.environ[var] = str(args.threads)
    import numpy  # noqa: F401  (initialise BLAS with the thread count above)
    import torch

    from bench.timing import Measurement, Row

    torch.set_num_threads(args.threads)
    rows = []
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        rows.extend(module.run(args.quick))

    header = (
        f"{datetime.date.today()} · {cpu_model()} ({platform.machine()}) · {os.cpu_count()} cores · {args.threads} threads · "
        f"numpy {numpy.__version__} · torch {torch.__version__}" + (" · QUICK (smoke run)" if args.quick else "")
    )
    print(header)
    ratios = [row for row in rows if isinstance(row, Row)]
    measurements = [row for row in rows if isinstance(row, Measurement)]
    if ratios:
        _print_table(ratios, args.markdown)
    if measurements:
        print()
        _print_measurements(measurements, args.markdown)
    failed = [row for row in rows if row.ok is False]
    if failed:
        print(f"{len(failed)} benchmark(s) above target: " + ", ".join(row.name for row in failed))
    return 0


def cpu_model() -> str:
    """The processor's name as the kernel reports it ("Intel(R) Xeon(R) …", "AMD EPYC …"): ratios
    differ between processors, so every table says which one measured it."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or "unknown processor"


def _print_table(rows, markdown: bool) -> None:
    columns = ["benchmark", "numpy", "torch", "numpy/torch", "per round", "target", "ok", "note"]
    table = []
    for row in rows:
        unit = row.extra.get("unit")
        show = (lambda value: f"{value:.1f} {unit}") if unit else (lambda value: f"{value * 1e3:.2f} ms")
        table.append([
            row.name,
            show(row.numpy_s),
            show(row.torch_s),
            f"{row.ratio:.2f}",
            row.spread,
            "" if row.target is None else f"≤ {row.target:g}",
            {None: "", True: "yes", False: "NO"}[row.ok],
            row.note,
        ])
    _emit(columns, table, markdown)


def _print_measurements(rows, markdown: bool) -> None:
    columns = ["measurement", "value", "target", "ok", "note"]
    table = []
    for row in rows:
        bound = "≥" if row.higher_is_better else "≤"
        table.append([row.name, f"{row.value:.4g} {row.unit}",
                      "" if row.target is None else f"{bound} {row.target:g} {row.unit}",
                      {None: "", True: "yes", False: "NO"}[row.ok], row.note])
    _emit(columns, table, markdown)


def _emit(columns, table, markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(columns) + " |")
        print("|" + "---|" * len(columns))
        for line in table:
            print("| " + " | ".join(line) + " |")
        return
    widths = [max(len(str(c)) for c in col) for col in zip(columns, *table)]
    for line in [columns] + table:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip())


if __name__ == "__main__":
    sys.exit(main())
