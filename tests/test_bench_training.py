"""bench/training.py: rounds of fresh worker processes turned into table rows.

The workers are replaced by stand-ins that return fixed times and memory, so the rows' arithmetic
(which side's runs make which column, which round pairs with which) is checked exactly and fast;
``test_bench_worker.py`` runs the real worker.
"""
import itertools
import os
import subprocess

from bench import training

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _fake_runs(monkeypatch):
    """Each (task, threads) gets per-side run numbers 0, 1, 2, …: NumPy's k-th run takes 10 + k²
    seconds and grows memory by (k + 1) MB; PyTorch's takes 1 + k seconds and 2 MB."""
    calls = []
    counters = {}

    def fake_run(task, side, quick, threads=None):
        calls.append((task, side, threads))
        k = next(counters.setdefault((task, side, threads), itertools.count()))
        if side == "numpy":
            return {"seconds": 10.0 + k * k, "peak_growth_bytes": (k + 1) * 2**20, "batches": 200}
        return {"seconds": 1.0 + k, "peak_growth_bytes": 2 * 2**20, "batches": 200}

    monkeypatch.setattr(training, "_run", fake_run)
    return calls


def test_rounds_alternate_sides_and_each_column_is_the_median_of_its_own_side(monkeypatch):
    """Guards against rounds that always start with the same side, a column computed from the
    other side's runs, swapped or non-median memory columns, and inverted per-round ratios."""
    calls = _fake_runs(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rounds = 7  # the medians below are those of k = 0…6, whatever the benchmark's own count becomes
    monkeypatch.setattr(training, "ROUNDS", rounds)
    mlp_time, mlp_memory, cnn_time, cnn_memory = training.run(quick=False)
    assert [side for task, side, _ in calls if task == "mlp"] == ["numpy", "torch", "torch", "numpy"] * (rounds // 2) + ["numpy", "torch"] * (rounds % 2)
    # NumPy: 10 + k² for k = 0…6, median 19; PyTorch: 1 + k, median 4
    assert (mlp_time.numpy_s, mlp_time.torch_s) == (19.0, 4.0)
    assert mlp_time.round_ratios == tuple((10.0 + k * k) / (1.0 + k) for k in range(rounds))
    assert mlp_time.target == 1.0 and cnn_time.target == 1.5
    # memory: NumPy (k + 1) MB, median 4; PyTorch 2 MB
    assert (mlp_memory.numpy_s, mlp_memory.torch_s) == (4.0, 2.0) and mlp_memory.extra == {"unit": "MB"}
    assert "(200 mini-batches of 64)" in cnn_time.name and "peak memory" in cnn_memory.name


def test_the_single_thread_row_pins_one_thread_and_appears_only_with_more_threads(monkeypatch):
    """Guards against the one-thread comparison running on all threads (threads not passed to the
    workers), repeating a memory row, or being added when everything already runs on one thread."""
    calls = _fake_runs(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert len(training.run(quick=True)) == 4
    assert {threads for _, _, threads in calls} == {None}
    calls.clear()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    rows = training.run(quick=True)
    assert len(rows) == 5 and "both sides on 1 thread)" in rows[-1].name
    assert [(task, threads) for task, _, threads in calls][-2:] == [("cnn", 1), ("cnn", 1)]


def test_a_worker_with_a_thread_count_gets_it_for_every_blas_and_reads_the_last_line(monkeypatch):
    """Guards against a pinned run leaving one BLAS (OpenBLAS for NumPy) on all cores."""
    seen = []

    def fake_subprocess_run(command, **kwargs):
        seen.append((command, kwargs["env"]))
        return subprocess.CompletedProcess(command, 0, stdout='a warning\n{"seconds": 1.5}\n', stderr="")

    monkeypatch.setattr(training.subprocess, "run", fake_subprocess_run)
    for var in THREAD_VARIABLES:
        monkeypatch.setenv(var, "4")
    assert training._run("cnn", "numpy", True, threads=1) == {"seconds": 1.5}
    assert training._run("cnn", "torch", False) == {"seconds": 1.5}
    (pinned_command, pinned), (command, unpinned) = seen
    assert pinned_command[-3:] == ["cnn", "numpy", "--quick"] and command[-2:] == ["cnn", "torch"]
    assert {var: pinned[var] for var in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES, "1")
    assert {var: unpinned[var] for var in THREAD_VARIABLES} == dict.fromkeys(THREAD_VARIABLES, "4")
    assert os.environ["OMP_NUM_THREADS"] == "4"  # the test process itself is untouched
