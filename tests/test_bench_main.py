"""``python -m bench``: thread counts pinned on both sides, ``--only``, and the tables it prints.

``main`` runs with the benchmark modules replaced by stand-ins that return fixed rows, so these
tests measure nothing and take milliseconds.
"""
import types

import pytest
import torch

import bench.__main__ as bench_main
from bench.timing import Measurement, Row

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.fixture
def fake_benchmarks(monkeypatch):
    """Every benchmark module returns ``rows`` (set by the test); returns the imported names."""
    imported = []
    rows = []

    def import_module(name):
        imported.append(name)
        return types.SimpleNamespace(run=lambda quick: list(rows))

    monkeypatch.setattr(bench_main.importlib, "import_module", import_module)
    for var in THREAD_VARIABLES:  # main sets them; monkeypatch puts the test process's back
        monkeypatch.setenv(var, "1")
    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    return types.SimpleNamespace(imported=imported, rows=rows, threads=threads)


def test_main_pins_one_thread_count_for_every_blas_and_for_torch(fake_benchmarks):
    """Guards against a BLAS variable or torch's own count left unpinned: that side would run on
    another number of cores than the other and the ratio would compare unequal machines."""
    import os

    assert bench_main.main(["--quick", "--threads", "3", "--only", "linear"]) == 0
    assert {var: os.environ[var] for var in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES, "3")
    assert fake_benchmarks.threads == [3]


def test_only_runs_the_named_benchmarks_in_the_order_given(fake_benchmarks):
    """Guards against ``--only`` being ignored (a full run takes many minutes)."""
    bench_main.main(["--quick", "--only", "lstm", "--only", "conv"])
    assert fake_benchmarks.imported == ["bench.lstm", "bench.conv"]


def _tables(output: str):
    """The printed lines after the header line."""
    return output.splitlines()[1:]


def test_markdown_tables_have_one_separator_per_column_and_the_cells_under_their_headers(fake_benchmarks, capsys):
    """Guards against a malformed Markdown table (separator row with a column too few, cells
    under the wrong header) for both the ratio and the measurement tables, and against the
    measurement table ignoring ``--markdown``."""
    fake_benchmarks.rows[:] = [
        Row("fast", 0.002, 0.001, 2.0, note="n", round_ratios=(1.5, 2.5)),
        Row("free", 0.001, 0.001),
        Measurement("accuracy", 0.91, "%", target=0.9, higher_is_better=True, note="m"),
        Measurement("time", 3.0, "s", target=2.0),
    ]
    bench_main.main(["--quick", "--markdown", "--only", "linear"])
    lines = _tables(capsys.readouterr().out)
    assert lines[:4] == [
        "| benchmark | numpy | torch | numpy/torch | per round | target | ok | note |",
        "|---|---|---|---|---|---|---|---|",
        "| fast | 2.00 ms | 1.00 ms | 2.00 | 1.50–2.50 | ≤ 2 | yes | n |",
        "| free | 1.00 ms | 1.00 ms | 1.00 |  |  |  |  |",
    ]
    assert lines[4] == ""
    assert lines[5:9] == [
        "| measurement | value | target | ok | note |",
        "|---|---|---|---|---|",
        "| accuracy | 0.91 % | ≥ 0.9 % | yes | m |",
        "| time | 3 s | ≤ 2 s | NO |  |",
    ]


def test_only_rows_that_miss_their_target_are_reported_above_target(fake_benchmarks, capsys):
    """Guards against rows without a target (``ok`` is None) being counted as failures."""
    fake_benchmarks.rows[:] = [Row("slow", 3.0, 1.0, 2.0), Row("no target", 3.0, 1.0), Row("fine", 1.0, 1.0, 2.0),
                               Measurement("plain", 1.0, "s")]
    bench_main.main(["--quick", "--only", "linear"])
    assert _tables(capsys.readouterr().out)[-1] == "1 benchmark(s) above target: slow"
    fake_benchmarks.rows[:] = [Row("no target", 3.0, 1.0), Row("fine", 1.0, 1.0, 2.0)]
    bench_main.main(["--quick", "--only", "linear"])
    assert "above target" not in capsys.readouterr().out


def test_the_plain_table_starts_every_cell_of_a_column_at_the_same_place(capsys):
    """Guards against column widths taken from the headers alone: a long benchmark name would
    push the rest of its line out from under the headers."""
    bench_main._print_table([Row("a much longer benchmark name than the header", 0.002, 0.001, 2.0),
                             Row("short", 0.0125, 0.001)], markdown=False)
    header, *lines = capsys.readouterr().out.splitlines()
    start = header.index("numpy/torch")
    assert [line[start:start + 5] for line in lines] == ["2.00 ", "12.50"]
    assert header.index("numpy ") == lines[0].index("2.00 ms")
