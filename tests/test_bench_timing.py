"""The in-process benchmark timer: alternating sides, each timed chunk after a pause and a warm-up call."""
from bench import timing


def test_every_timed_chunk_starts_after_a_pause_and_one_untimed_call(monkeypatch):
    events = []
    monkeypatch.setattr(timing.time, "sleep", lambda seconds: events.append(("sleep", seconds)))
    row = timing.compare("case", lambda: events.append("numpy"), lambda: events.append("torch"),
                         rounds=4, repeat=2, warmup=1)
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
