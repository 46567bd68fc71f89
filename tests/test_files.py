"""course_lib.files.write_atomically: a failed write leaves the earlier file and no temporary file."""
import os
from pathlib import Path

import pytest

from course_lib.files import write_atomically


def test_a_failed_write_leaves_the_earlier_file(tmp_path):
    path = tmp_path / "deep" / "best.pt"
    write_atomically(path, lambda temporary: Path(temporary).write_text("good"))
    assert path.read_text() == "good"

    def fail(temporary):
        Path(temporary).write_text("cut sh")  # part of a file, then the write fails
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, fail)
    assert path.read_text() == "good" and [p.name for p in path.parent.iterdir()] == ["best.pt"]


def test_the_temporary_file_lies_next_to_the_target(tmp_path):
    """The temporary file is written in the target's own folder: os.replace cannot move a file
    across file systems, so one in the system's temporary folder failed for a checkpoint on
    another disk."""
    seen = []

    def write(temporary):
        seen.append(temporary)
        Path(temporary).write_text("data")

    path = write_atomically(tmp_path / "models" / "best.pt", write)
    (temporary,) = seen
    assert os.path.dirname(temporary) == str(path.parent) and os.path.basename(temporary) != "best.pt"
    assert path.read_text() == "data"
