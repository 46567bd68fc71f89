"""course_lib: the companion package of *Neural Networks — Principles and Practice in Python*."""
from .config import quick_mode, sized, seed_everything

__version__ = "0.1.0"
__all__ = ["quick_mode", "sized", "seed_everything", "__version__"]
