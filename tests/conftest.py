"""Test-wide settings: no network, a non-interactive plotting backend, quick mode by default,
and derandomised hypothesis (the same examples on every run, so CI is repeatable).

``HYPOTHESIS_PROFILE=explore`` draws new random examples on every run, 20× as many (see
``hypothesis_budget.py``): a search for the cases the fixed examples miss; a failure prints the
example and a ``@reproduce_failure`` blob to replay it."""
import importlib
import os
import pkgutil

import matplotlib
from hypothesis import settings

from .hypothesis_budget import EXPLORE_FACTOR

settings.register_profile("course", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, print_blob=True,
                          max_examples=EXPLORE_FACTOR * settings.default.max_examples)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "course"))


def _import_every_project_module() -> None:
    """Hypothesis mixes constants from the project's loaded modules into the examples it draws, even
    derandomised; a module a test imports late (``bench.reproduce``, the Gradescope packager) changed
    the examples of later tests, and which tests ran later differs between xdist workers and runs.
    With every module loaded before the first test, each run draws the same examples."""
    for package in ("course_lib", "bench"):
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, package + "."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)


_import_every_project_module()

matplotlib.use("Agg")

try:  # on a GPU, float32 products and convolutions would run in TF32 (10-bit mantissas) and miss
    import torch  # the parity tests' tolerances, which are set for float32; CPU runs are unaffected

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
except ImportError:
    pass
os.environ.setdefault("COURSE_LIB_OFFLINE", "1")
os.environ.setdefault("COURSE_LIB_QUICK", "1")
