"""Reports of a :class:`GradeResult`: text for people, Gradescope's results.json for machines."""
from __future__ import annotations

import math
import re

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
    warning = sandbox_warning(result)
    if warning:
        lines.append(f"\n({warning})")
    return "\n".join(lines)


def sandbox_warning(result: GradeResult) -> str:
    """What went wrong setting up the sandbox that ran this submission, or '' (nothing, or no kernel ran)."""
    if result.error:  # never reached a kernel
        return ""
    if not result.isolation.get("namespaces"):
        return "warning: the sandbox ran without namespaces on this machine; see the grading README"
    if result.isolation.get("errors"):
        problems = "; ".join(result.isolation["errors"][:3])
        return f"warning: the sandbox was only partly set up on this machine: {problems}; see the grading README"
    return ""


def _six_decimals(values: list, total: float) -> list:
    """``values`` rounded to 6 decimals so that they add up to ``total`` rounded the same way
    (largest remainders): three checks of 10/3 points each show 3.333334, 3.333333, 3.333333,
    which Gradescope's students add up to 10, not to 9.999999."""
    units = [value * 1e6 for value in values]
    floors = [math.floor(unit + 1e-6) for unit in units]
    missing = round(total * 1e6) - sum(floors)
    order = sorted(range(len(values)), key=lambda i: floors[i] - units[i])  # largest remainder first
    for i in order[:max(0, min(missing, len(values)))]:
        floors[i] += 1
    return [floor / 1e6 for floor in floors]


def gradescope_results(result: GradeResult) -> dict:
    """Gradescope autograder ``results.json``.

    Public checks are fully visible.  A hidden check appears as a visible pass/fail line
    with no details, plus, when it failed, a zero-point line carrying its feedback, which Gradescope shows
    only after the due date (``visibility: after_due_date``): Gradescope decides when that
    is, from the assignment's due date, late due date and each student's extension.  A sandbox
    that was degraded on the machine that graded (no namespaces, a limit not set) is named in
    ``extra_data`` (stored for the course staff; ``course-lib grade`` prints it too, into the
    stdout Gradescope shows instructors), not as a test: Gradescope hides a student's total
    while any of their tests is ``hidden``.
    """
    # each question's points rounded so that its checks add up to them; a check earns all its points
    # or none, so a passed check shows exactly its maximum (never 3.333334 of 3.333333)
    max_scores = [0.0] * len(result.checks)
    for question in dict.fromkeys(check.question for check in result.checks):
        where = [i for i, check in enumerate(result.checks) if check.question == question]
        rounded = _six_decimals([result.checks[i].max_score for i in where],
                                sum(result.checks[i].max_score for i in where))
        for i, value in zip(where, rounded):
            max_scores[i] = value
    scores = [max_score if check.passed else 0.0 for check, max_score in zip(result.checks, max_scores)]
    tests = []
    for check, score, max_score in zip(result.checks, scores, max_scores):
        status = "passed" if check.passed else "failed"
        entry = {
            "name": f"{check.question}: {check.name}",
            "score": score,
            "max_score": max_score,
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
                "visibility": "after_due_date",
                "output": check.message,
            })
    output = text_report(result).splitlines()[0]
    if result.notes:
        output += "\n" + "\n".join(line for note in result.notes[:20] for line in _note(note, "- "))
    results = {
        "score": round(result.score, 6),  # the grade; the tests add up to it within 1e-6 per question
        "execution_time": round(result.timings.get("total_s", 0.0), 3),
        "output": output,
        "tests": tests,
    }
    # for the course staff, where students never see it: the seed that reproduces this grade
    # (course-lib grade --seed), and a degraded sandbox — not as a test (a hidden test would hide the
    # student's total); course-lib grade prints the seed on stderr and the warning on stdout too
    results["extra_data"] = {"seed": result.seed}
    warning = sandbox_warning(result)
    if warning:
        results["extra_data"]["sandbox_warning"] = warning
    return results
