"""bench/training.py: rounds of two fresh worker processes, timed in alternating chunks, turned into table rows.

The workers are replaced by stand-ins that return fixed times and memory, so the schedule (which
side runs which chunk when, after which pause) and the rows' arithmetic (which side's runs make
which column, which round pairs with which) are checked exactly and fast; a stub worker module
checks the pipes and the environment the real processes get; ``test_bench_worker.py`` runs the
real worker.
"""
import itertools
import os

import pytest

from bench import training

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _fake_workers(monkeypatch, batches=200):
    """Stand-in workers that log every start, pause and chunk.  Each (task, side, threads) counts its
    rounds k = 0, 1, 2, …: NumPy's k-th run takes 10 + k² seconds and grows memory by (k + 1) MB;
    PyTorch's takes 1 + k seconds and 2 MB; a chunk reports its share of the round's time."""
    log = []
    counters = {}

    class FakeWorker:
        def __init__(self, task, side, quick, threads=None):
            self.task, self.side, self.threads, self.batches = task, side, threads, batches
            self.k = next(counters.setdefault((task, side, threads), itertools.count()))
            self.done = 0
            log.append(("start", task, side, threads))

        def ask(self, line):
            total = 10.0 + self.k ** 2 if self.side == "numpy" else 1.0 + self.k
            if line == "end":
                assert self.done == self.batches, "a side ended before its last chunk"
                memory = (self.k + 1) * 2**20 if self.side == "numpy" else 2 * 2**20
                return {"seconds": total, "peak_growth_bytes": memory, "batches": self.batches}
            _, start, stop = line.split()
            log.append((self.side, int(start), int(stop)))
            self.done = int(stop)
            return {"seconds": total * (int(stop) - int(start)) / self.batches}

        def close(self):
            log.append(("close", self.side))

    monkeypatch.setattr(training, "_Worker", FakeWorker)
    monkeypatch.setattr(training, "sleep", lambda seconds: log.append(("sleep", seconds)))
    return log


def test_chunks_alternate_between_the_sides_after_a_pause_and_each_column_is_the_median_of_its_side(monkeypatch):
    """Guards against a side timed in one piece (no chunks), chunks that skip or repeat mini-batches,
    a chunk without the pause that lets the other side's threads fall asleep, rounds or chunks that
    always start with the same side, a column computed from the other side's runs, swapped or
    non-median memory columns, inverted per-round ratios, and workers left running."""
    log = _fake_workers(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    rounds = 7  # the medians below are those of k = 0…6, whatever the benchmark's own count becomes
    monkeypatch.setattr(training, "ROUNDS", rounds)
    monkeypatch.setattr(training, "CHUNKS", 4)
    mlp_time, mlp_memory, cnn_time, cnn_memory = training.run(quick=False)
    mlp_log = log[:len(log) // 2]
    assert [entry for entry in mlp_log if entry[0] == "start"] == [("start", "mlp", side, None) for side in ("numpy", "torch")] * rounds
    assert mlp_log.count(("close", "numpy")) == mlp_log.count(("close", "torch")) == rounds
    chunks = [entry for entry in mlp_log if entry[0] in ("numpy", "torch")]
    bounds = [(0, 50), (50, 100), (100, 150), (150, 200)]
    for round_index in range(rounds):
        sides = ("numpy", "torch") if round_index % 2 == 0 else ("torch", "numpy")
        expected = []
        for index, (start, stop) in enumerate(bounds):
            first, second = sides if index % 2 == 0 else sides[::-1]
            expected += [(first, start, stop), (second, start, stop)]
        assert chunks[8 * round_index:8 * round_index + 8] == expected
    # every chunk comes right after a pause of the settling time
    for position, entry in enumerate(mlp_log):
        if entry[0] in ("numpy", "torch"):
            assert mlp_log[position - 1] == ("sleep", training.SETTLE_S)
    # NumPy: 10 + k² for k = 0…6, median 19; PyTorch: 1 + k, median 4
    assert (mlp_time.numpy_s, mlp_time.torch_s) == (19.0, 4.0)
    assert mlp_time.round_ratios == tuple((10.0 + k * k) / (1.0 + k) for k in range(rounds))
    assert mlp_time.target == 1.0 and cnn_time.target == 1.5
    # memory: NumPy (k + 1) MB, median 4; PyTorch 2 MB
    assert (mlp_memory.numpy_s, mlp_memory.torch_s) == (4.0, 2.0) and mlp_memory.extra == {"unit": "MB"}
    assert "(200 mini-batches of 64)" in cnn_time.name and "peak memory" in cnn_memory.name
    assert "4 alternating chunks" in mlp_time.note


def test_sides_that_disagree_on_the_number_of_mini_batches_are_refused(monkeypatch):
    """Guards against a ratio of two different amounts of training (the chunks follow NumPy's count)."""
    log = _fake_workers(monkeypatch)
    fake = training._Worker

    class Disagreeing(fake):
        def __init__(self, task, side, quick, threads=None):
            super().__init__(task, side, quick, threads)
            if side == "torch":
                self.batches = 100

    monkeypatch.setattr(training, "_Worker", Disagreeing)
    with pytest.raises(RuntimeError, match="NumPy 200 mini-batches, PyTorch 100"):
        training._round("cnn", False, None, numpy_first=True)
    assert log.count(("close", "numpy")) == log.count(("close", "torch")) == 1


def test_fewer_mini_batches_than_chunks_make_no_empty_chunks(monkeypatch):
    log = _fake_workers(monkeypatch, batches=3)
    monkeypatch.setattr(training, "CHUNKS", 10)
    training._round("mlp", True, None, numpy_first=True)
    assert [entry for entry in log if entry[0] == "numpy"] == [("numpy", 0, 1), ("numpy", 1, 2), ("numpy", 2, 3)]


def test_the_single_thread_row_pins_one_thread_and_appears_only_with_more_threads(monkeypatch):
    """Guards against the one-thread comparison running on all threads (threads not passed to the
    workers), repeating a memory row, or being added when everything already runs on one thread."""
    log = _fake_workers(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert len(training.run(quick=True)) == 4
    assert {entry[3] for entry in log if entry[0] == "start"} == {None}
    log.clear()
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    rows = training.run(quick=True)
    assert len(rows) == 5 and "both sides on 1 thread)" in rows[-1].name
    starts = [entry for entry in log if entry[0] == "start"]
    assert [(task, threads) for _, task, _, threads in starts][-2:] == [("cnn", 1), ("cnn", 1)]


def _stub_worker(tmp_path, body):
    """A stand-in for ``bench.training_worker``: a module run with ``python -m`` from tmp_path."""
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "__init__.py").write_text("")
    (tmp_path / "bench" / "training_worker.py").write_text(body)


def test_a_worker_with_a_thread_count_gets_it_for_every_blas_and_skips_lines_that_are_not_records(monkeypatch, tmp_path):
    """Guards against a pinned run leaving one BLAS (OpenBLAS for NumPy) on all cores, a warning
    printed by a library read as the answer, and the test process's own variables changed."""
    _stub_worker(tmp_path, """import json, os, sys
print("a warning", flush=True)
print(json.dumps({"ready": True, "batches": 7, "argv": sys.argv[1:]}), flush=True)
for line in sys.stdin:
    print("another warning", flush=True)
    print(json.dumps({"line": line.strip(), "env": {k: os.environ[k] for k in %r}}), flush=True)
""" % (THREAD_VARIABLES,))
    monkeypatch.chdir(tmp_path)  # python -m finds the stub before the real bench package
    for var in THREAD_VARIABLES:
        monkeypatch.setenv(var, "4")
    pinned, unpinned = training._Worker("cnn", "numpy", True, threads=1), training._Worker("mlp", "torch", False)
    try:
        assert pinned.batches == 7
        assert pinned.command[-4:] == ["cnn", "numpy", "--serve", "--quick"] and unpinned.command[-3:] == ["mlp", "torch", "--serve"]
        answer = pinned.ask("run 0 3")
        assert answer["line"] == "run 0 3" and answer["env"] == dict.fromkeys(THREAD_VARIABLES, "1")
        assert unpinned.ask("end")["env"] == dict.fromkeys(THREAD_VARIABLES, "4")
    finally:
        pinned.close()
        unpinned.close()
    assert pinned.process.returncode is not None and unpinned.process.returncode is not None
    assert os.environ["OMP_NUM_THREADS"] == "4"  # the test process itself is untouched


def test_a_worker_that_dies_is_reported_with_its_error_output(monkeypatch, tmp_path):
    """Guards against a dead worker hanging the benchmark or failing without saying why."""
    _stub_worker(tmp_path, """import json, sys
print(json.dumps({"ready": True, "batches": 5}), flush=True)
sys.stdin.readline()
sys.exit("out of memory in the worker")
""")
    monkeypatch.chdir(tmp_path)
    worker = training._Worker("mlp", "numpy", True)
    try:
        with pytest.raises(RuntimeError, match="(?s)exit 1.*out of memory in the worker"):
            worker.ask("run 0 5")
        with pytest.raises(RuntimeError, match="out of memory"):  # asking a dead worker again
            worker.ask("run 0 5")
    finally:
        worker.close()
