"""How many examples a property-based test draws.

Each test names its own count, run as is in the default profile (derandomised: the same
examples on every run, so CI is repeatable).  The ``explore`` profile (``HYPOTHESIS_PROFILE=explore``,
loaded by conftest.py before any test module is imported) draws 20× as many, new random ones on
every run: a search for the cases the fixed examples miss.
"""
from hypothesis import settings

EXPLORE_FACTOR = 20


def examples(count: int) -> int:
    """``count``, or ``EXPLORE_FACTOR``·``count`` under the explore profile."""
    return count * EXPLORE_FACTOR if settings.get_current_profile_name() == "explore" else count
