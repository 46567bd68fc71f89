"""From-scratch NumPy implementations of every algorithm in the course.

Mirrors ``torch.nn``: same class names, constructor arguments, parameter names
and shapes.  Never imports torch.
"""
from .module import Module, Parameter, Sequential
from .linear import Linear
from .gradcheck import gradcheck, numerical_gradient, GradcheckError
from . import init

__all__ = ["Module", "Parameter", "Sequential", "Linear", "gradcheck", "numerical_gradient", "GradcheckError", "init"]
