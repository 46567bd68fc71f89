"""The course's autograder: exercises generated from solutions, and grading that cannot be fooled.

Trusted side (this package) and untrusted side (the student's kernel) meet only in
``wire.py``: inputs go out, return values come back as plain data, and every
judgement is made here.  See README.md in this folder (for instructors; students: the repository's README).
"""
from .version import GRADER_VERSION


def checker(assignment_id: str):
    """``check = checker("a01")`` in a notebook; then ``check("q1")`` runs q1's public tests."""
    from .student import Checker

    return Checker(assignment_id)


__all__ = ["GRADER_VERSION", "checker"]
