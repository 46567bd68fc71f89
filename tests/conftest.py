"""Test-wide settings: no network, a non-interactive plotting backend, quick mode by default."""
import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("COURSE_LIB_OFFLINE", "1")
os.environ.setdefault("COURSE_LIB_QUICK", "1")
