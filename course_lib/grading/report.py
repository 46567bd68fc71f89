"""Reports of a :class:`GradeResult`: text for people, Gradescope's results.json for machines."""
from __future__ import annotations

import datetime
import re
from typing import Optional

from .runner import GradeResult
from .wire import clean_text


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _printable(text: str) -> str:
    """``text`` with control characters shown as escapes (``\\x1b``): a student's error message
    must not move the terminal's cursor and overwrite the report's real lines.  Lone surrogates,
    which cannot be printed at all, are replaced too (``clean_text``)."""
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", clean_text(text))


def _note(note: str, bullet: str) -> list:
    """A note as report lines: its continuation lines indented under the bullet, so text a student
    put in an error message (a fake "Assignment …: 10 / 10 points" line) never starts a line."""
    first, *rest = _printable(note).splitlines() or [""]
    return [bullet + first] + [" " * len(bullet) + line for line in rest[:11]]


def text_report(result: GradeResult, show_hidden: bool = False) -> str:
    """Per-question points, passed/failed checks and feedback."""
    lines = [f"Assignment {result.assignment}: {result.score:g} / {result.max_score:g} points"]
    if result.error:
        lines.append(f"  Could not grade this submission: {_printable(result.error)}")
        return "\n".join(lines)
    for question_id, summary in result.questions.items():
        lines.append(f"\n{question_id} — {summary['title']}: {summary['score']:.4g} / {summary['max_score']:g} ({summary['status']})")
        for check in (c for c in result.checks if c.question == question_id):
            mark = "✓" if check.passed else "✗"
            lines.append(f"  {mark} {check.name}")
            if not check.passed and (show_hidden or not check.hidden):
                lines.extend("      " + line for line in _printable(check.message).splitlines()[:12])
    if result.notes:
        lines.append("\nNotes:")
        lines.extend(line for note in result.notes[:20] for line in _note(note, "  - "))
    if not result.isolation.get("namespaces"):
        lines.append("\n(warning: the sandbox ran without namespaces on this machine; see the grading README)")
    elif result.isolation.get("errors"):
        problems = "; ".join(result.isolation["errors"][:3])
        lines.append(f"\n(warning: the sandbox was only partly set up on this machine: {problems}; see the grading README)")
    return "\n".join(lines)


def _due_passed(due: Optional[str]) -> bool:
    if not due:
        return False
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat() > due


def gradescope_results(result: GradeResult, due: Optional[str] = None) -> dict:
    """Gradescope autograder ``results.json``.

    Public checks are fully visible.  A hidden check appears as a visible pass/fail line
    with no details, plus a zero-point line carrying the feedback that Gradescope shows only
    after the due date (``visibility: after_due_date``).
    """
    tests = []
    for check in result.checks:
        status = "passed" if check.passed else "failed"
        entry = {
            "name": f"{check.question}: {check.name}",
            "score": round(check.score, 6),
            "max_score": round(check.max_score, 6),
            "status": status,
            "visibility": "visible",
            "output": check.message if not check.hidden else status,
        }
        tests.append(entry)
        if check.hidden and not check.passed:
            tests.append({
                "name": f"{check.question}: {check.name} (feedback)",
                "score": 0.0,
                "max_score": 0.0,
                "status": status,
                "visibility": "visible" if _due_passed(due) else "after_due_date",
                "output": check.message,
            })
    output = text_report(result).splitlines()[0]
    if result.notes:
        output += "\n" + "\n".join(line for note in result.notes[:20] for line in _note(note, "- "))
    return {
        "score": round(result.score, 6),
        "execution_time": round(result.timings.get("total_s", 0.0), 3),
        "output": output,
        "tests": tests,
    }
