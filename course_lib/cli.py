"""``course-lib``: the command line of the course.

Sub-commands live next to the code they drive; each module contributes an
``add_parser(subparsers)`` that registers its command and handler.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from . import __version__

# Modules that contribute sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = ["course_lib.data.cli", "course_lib.predict", "course_lib.grading.cli"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="course-lib",
        description="Neural Networks — Principles and Practice in Python: datasets, grading and tools.",
    )
    parser.add_argument("--version", action="version", version=f"course-lib {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_parser(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
