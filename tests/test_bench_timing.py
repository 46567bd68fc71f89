"""The in-process benchmark timer: alternating sides, each timed chunk after a pause and a warm-up call."""
from bench import timing
from bench.__main__ import _print_table, cpu_model


class FakeClock:
    """``bench.timing``'s clock and pause, replaced for one test (names of that module: nothing else
    sees the fake).  The k-th reading of the clock is k·``tick`` plus what calls ``advance``d it;
    pauses are recorded, not slept."""

    def __init__(self, monkeypatch, tick: float = 0.0):
        self.tick, self.readings, self.advanced, self.pauses = tick, 0, 0.0, []
        monkeypatch.setattr(timing, "perf_counter", self.read)
        monkeypatch.setattr(timing, "sleep", self.pauses.append)

    def read(self) -> float:
        value = self.readings * self.tick + self.advanced  # products, not running sums: exact steps
        self.readings += 1
        return value

    def advance(self, seconds: float) -> None:
        self.advanced += seconds


def test_every_timed_chunk_starts_after_a_pause_and_one_untimed_call(monkeypatch):
    events = []
    monkeypatch.setattr(timing, "sleep", lambda seconds: events.append(("sleep", seconds)))
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
    FakeClock(monkeypatch, tick=1)
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
    FakeClock(monkeypatch, tick=0.001)  # every reading of the clock: 1 ms later

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


def _fake_clock_sides(monkeypatch, numpy_per_call, torch_per_call, repeat):
    """Two functions that advance a fake clock: in its k-th chunk (a wake-up call and ``repeat``
    timed calls) a side's calls take ``per_call[k]`` units each."""
    clock = FakeClock(monkeypatch)

    def side(per_call):
        durations = iter([d for d in per_call for _ in range(1 + repeat)])
        return lambda: clock.advance(next(durations))

    return side(numpy_per_call), side(torch_per_call)


def test_each_side_is_the_median_of_its_own_per_call_times_and_rounds_pair_them_in_order(monkeypatch):
    """Guards against times filed by which side ran first (rounds alternate), swapped or mean (not
    median) columns, inverted per-round ratios, and chunk times not divided by their calls."""
    numpy_fn, torch_fn = _fake_clock_sides(monkeypatch, [2.0, 4.0, 100.0], [1.0, 2.0, 1.0], repeat=2)
    row = timing.compare("case", numpy_fn, torch_fn, rounds=3, repeat=2, warmup=0, min_chunk_s=0)
    # per call: NumPy 2, 4, 100 (one outlier round), PyTorch 1, 2, 1
    assert (row.numpy_s, row.torch_s) == (4.0, 1.0)
    assert row.ratio == 4.0
    assert row.round_ratios == (2.0, 2.0, 100.0)
    assert row.spread == "2.00–100.00"


def test_calls_per_chunk_are_sized_on_the_slower_side_and_capped(monkeypatch):
    """Guards against sizing the chunks on the faster side (the slow side's chunks then run for
    many times ``min_chunk_s``) and against dropping the MAX_REPEAT cap for near-instant calls."""
    calls = {"numpy": 0, "torch": 0}
    clock = FakeClock(monkeypatch)

    def side(name, seconds):
        def call():
            calls[name] += 1
            clock.advance(seconds)
        return call

    timing.compare("case", side("numpy", 0.001), side("torch", 0.005), rounds=1, repeat=1, warmup=0,
                   min_chunk_s=0.02)
    # PyTorch, the slower side, needs 4 calls of 5 ms for 20 ms: one measuring call, a wake-up, 4 timed
    assert calls == {"numpy": 1 + 1 + 4, "torch": 1 + 1 + 4}
    calls.update(numpy=0, torch=0)
    timing.compare("case", side("numpy", 1e-7), side("torch", 1e-7), rounds=1, repeat=1, warmup=0,
                   min_chunk_s=0.02)
    assert calls == {"numpy": 2 + timing.MAX_REPEAT, "torch": 2 + timing.MAX_REPEAT}


def test_a_measurement_meets_its_target_at_the_bound_in_the_direction_it_states():
    """Guards against ``Measurement.ok`` reading the bound the wrong way round or excluding it."""
    assert timing.Measurement("accuracy", 0.9, "", target=0.9, higher_is_better=True).ok is True
    assert timing.Measurement("accuracy", 0.95, "", target=0.9, higher_is_better=True).ok is True
    assert timing.Measurement("accuracy", 0.85, "", target=0.9, higher_is_better=True).ok is False
    assert timing.Measurement("seconds", 2.0, "s", target=2.0).ok is True
    assert timing.Measurement("seconds", 1.0, "s", target=2.0).ok is True
    assert timing.Measurement("seconds", 2.5, "s", target=2.0).ok is False
    assert timing.Measurement("seconds", 2.5, "s").ok is None
