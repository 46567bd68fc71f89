"""``course-lib data``: list the datasets, where they were found and whether they verified."""
from __future__ import annotations

import sys

from .registry import DATASETS
from .store import DatasetError, download, status


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("data", help="list, verify and download the course's datasets")
    parser.set_defaults(handler=_list)
    parser.add_argument("--root", help="also search this folder first")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    fetch = actions.add_parser("download", help="download a dataset from its canonical mirrors (verified)")
    fetch.add_argument("name", choices=sorted(DATASETS))
    fetch.add_argument("--to", help="folder to download into (default: ~/.cache/course_lib/NAME)")
    fetch.set_defaults(handler=_download)


def _list(args) -> int:
    rows = [status(name, args.root) for name in DATASETS]
    width = max(len(row["name"]) for row in rows)
    for row in rows:
        verdict = "verified" if row["verified"] else ("NOT VERIFIED" if row["location"] else "missing")
        print(f"{row['name']:<{width}}  {verdict:<12}  {row['location'] or '-'}")
        print(f"{'':<{width}}  {row['detail']}")
    return 0 if all(row["verified"] or row["location"] is None for row in rows) else 1


def _download(args) -> int:
    try:
        target = download(args.name, args.to)
    except (DatasetError, OSError) as error:  # OSError: a folder that cannot be made or written
        print(error, file=sys.stderr)
        return 1
    print(f"{args.name}: downloaded and verified in {target}")
    return 0
