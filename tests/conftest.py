"""Test-wide settings: no network, a non-interactive plotting backend, quick mode by default,
and derandomised hypothesis (the same examples on every run, so CI is repeatable)."""
import os

import matplotlib
from hypothesis import settings

settings.register_profile("course", derandomize=True, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "course"))

matplotlib.use("Agg")
os.environ.setdefault("COURSE_LIB_OFFLINE", "1")
os.environ.setdefault("COURSE_LIB_QUICK", "1")
