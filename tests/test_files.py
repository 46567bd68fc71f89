"""course_lib.files.write_atomically: a failed write leaves the earlier file and no temporary file."""
import pytest

from course_lib.files import write_atomically


def test_a_failed_write_leaves_the_earlier_file(tmp_path):
    path = tmp_path / "deep" / "best.pt"
    write_atomically(path, lambda temporary: open(temporary, "w").write("good"))
    assert path.read_text() == "good"

    def fail(temporary):
        open(temporary, "w").write("cut sh")  # part of a file, then the write fails
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, fail)
    assert path.read_text() == "good" and [p.name for p in path.parent.iterdir()] == ["best.pt"]
