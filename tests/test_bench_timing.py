"""The in-process benchmark timer: alternating sides, each timed chunk after a pause and a warm-up call."""
from bench import timing
from bench.__main__ import _print_table, cpu_model


def test_every_timed_chunk_starts_after_a_pause_and_one_untimed_call(monkeypatch):
    events = []
    monkeypatch.setattr(timing.time, "sleep", lambda seconds: events.append(("sleep", seconds)))
    row = timing.compare("case", lambda: events.append("numpy"), lambda: events.append("torch"),
                         rounds=4, repeat=2, warmup=1, min_chunk_s=0)
    chunks = [events[index:index + 4] for index in range(2, len(events), 4)]  # after the warm-up pair
    assert events[:2] == ["numpy", "torch"]
    assert len(chunks) == 8  # 4 rounds × 2 sides
    for chunk in chunks:
        # the pause lets the other side's thread pool fall asleep; one call wakes this side's; then 2 timed
        assert chunk[0] == ("sleep", timing.SETTLE_S) and len(set(chunk[1:])) == 1
    # rounds alternate which side goes first
    assert [chunk[1] for chunk in chunks] == ["numpy", "torch", "torch", "numpy"] * 2
    assert timing.SETTLE_S > 0.1  # longer than OpenBLAS's spin (about 0.1 s)
    assert row.numpy_s > 0 and row.torch_s > 0 and row.ok is None


def test_each_round_gives_its_own_ratio_and_the_table_shows_their_range(monkeypatch, capsys):
    clock = iter(range(1000))
    monkeypatch.setattr(timing.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    # every chunk reads the clock twice; the side that runs first reads 1 unit, the second 1 unit too
    row = timing.compare("case", lambda: None, lambda: None, rounds=3, repeat=1, warmup=0, min_chunk_s=0)
    assert row.round_ratios == (1.0, 1.0, 1.0) and row.spread == "1.00–1.00"
    assert timing.paired_ratios([2.0, 3.0, 6.0], [1.0, 2.0, 4.0]) == (2.0, 1.5, 1.5)
    row = timing.Row("lstm", 3.0, 2.0, 1.5, round_ratios=(1.31, 1.58, 1.45))
    assert row.spread == "1.31–1.58" and timing.Row("no rounds", 1.0, 1.0).spread == ""
    _print_table([row], markdown=True)
    assert "| lstm | 3000.00 ms | 2000.00 ms | 1.50 | 1.31–1.58 | ≤ 1.5 | yes |  |" in capsys.readouterr().out


def test_fast_functions_make_more_calls_per_chunk_so_that_a_chunk_lasts_long_enough(monkeypatch):
    calls = {"numpy": 0, "torch": 0}
    clock = iter(i * 0.001 for i in range(100_000))  # every reading of the clock: 1 ms later
    monkeypatch.setattr(timing.time, "sleep", lambda seconds: None)
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))

    def counter(side):
        return lambda: calls.__setitem__(side, calls[side] + 1)

    timing.compare("case", counter("numpy"), counter("torch"), rounds=2, repeat=3, warmup=0, min_chunk_s=0.02)
    # one call measured at 1 ms: 20 calls per chunk, plus one wake-up call per chunk and the measured one
    assert calls == {"numpy": 1 + 2 * (1 + 20), "torch": 1 + 2 * (1 + 20)}
    calls.update(numpy=0, torch=0)
    timing.compare("case", counter("numpy"), counter("torch"), rounds=2, repeat=3, warmup=0, min_chunk_s=0.0001)
    assert calls["numpy"] == 1 + 2 * (1 + 3)  # long enough already: `repeat` calls


def test_the_header_names_the_processor():
    assert cpu_model() and cpu_model() != "unknown processor"
