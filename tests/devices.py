"""Where the PyTorch tests run: always on the CPU, and also on CUDA when PyTorch sees a GPU.

Nothing may require a GPU, so the CUDA cases are skipped (and reported as such by ``-ra``)
on machines without one, CI's included.  ``make test-gpu`` sets COURSE_LIB_REQUIRE_CUDA=1:
then a missing GPU is an error at collection, so a GPU run cannot pass by skipping.
"""
import os

import pytest
import torch

if os.environ.get("COURSE_LIB_REQUIRE_CUDA") == "1" and not torch.cuda.is_available():
    raise RuntimeError(f"COURSE_LIB_REQUIRE_CUDA=1 but PyTorch {torch.__version__} sees no CUDA GPU "
                       f"(torch.version.cuda = {torch.version.cuda})")

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU visible to PyTorch on this machine")

# parametrize a test over these to run it on each device it can run on
DEVICES = ["cpu", pytest.param("cuda", marks=needs_cuda)]


def forward_devices(model) -> set:
    """The device types of the inputs ``model``'s forward receives from now on (filled by a hook).

    ``fit``/``evaluate``/``predict`` give the model back to its own device when they return, so
    where it ran is read from what its forward saw, not from where its parameters end up."""
    seen = set()
    model.register_forward_pre_hook(lambda module, args: seen.add(args[0].device.type))
    return seen
