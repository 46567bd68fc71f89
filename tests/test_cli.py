"""The course-lib command line, run as students run it: in a fresh process."""
import subprocess
import sys

import pytest

from course_lib.data import store


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "course_lib.cli", *args], capture_output=True, text=True, env=env)


def test_help_lists_commands():
    """Each command's own row of the help (the description alone says "datasets", an audit found)."""
    result = run("--help")
    assert result.returncode == 0
    rows = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ") and line.split()}
    assert {"data", "predict", "assign", "grade", "grade-batch", "gradebook", "gradescope-package"} <= rows


@pytest.mark.skipif(store.find("fashion-mnist") is None, reason="Fashion-MNIST not installed")
def test_data_lists_fashion_mnist_found_and_verified():
    result = run("data")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("fashion-mnist"))
    assert "verified" in line and "NOT" not in line and "/" in line


def test_download_offline_fails_clearly(monkeypatch, tmp_path):
    import os

    env = dict(os.environ, COURSE_LIB_OFFLINE="1", HOME=str(tmp_path))
    result = run("data", "download", "mnist", env=env)
    assert result.returncode == 1
    assert "downloads are disabled" in result.stderr and "Traceback" not in result.stderr


def test_every_sub_command_is_registered_and_no_command_prints_the_help(capsys):
    """``course-lib predict`` is documented in the deployment chapter: each module in
    COMMAND_MODULES contributes its command; ``course-lib`` alone prints the help (status 0)."""
    import argparse

    from course_lib import cli

    parser = cli.build_parser()
    (commands,) = [action for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    assert {"data", "predict", "grade", "grade-batch", "gradebook"} <= set(commands.choices)
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: course-lib") and "predict" in out
