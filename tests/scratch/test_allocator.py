"""Importing course_lib.scratch primes glibc's malloc, so attention steps stop page-faulting."""
import os
import platform
import subprocess
import sys

import pytest

STEP_FAULTS = """
import resource
import numpy as np
from course_lib.scratch import MultiheadAttention
x = np.random.default_rng(0).standard_normal((32, 64, 128)).astype(np.float32)
attention = MultiheadAttention(128, 4, batch_first=True)
def step():
    out, _ = attention(x, x, x, need_weights=False)
    attention.backward(out, None)
for _ in range(3):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    step()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def _faults_per_step(**env) -> float:
    result = subprocess.run([sys.executable, "-c", STEP_FAULTS], capture_output=True, text=True, check=True,
                            env={**os.environ, **env}, timeout=120)
    return float(result.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_attention_steps_reuse_freed_memory_instead_of_faulting_it_back():
    """About 1,500 minor page faults per MultiheadAttention step without the priming (each step's
    memory went back to the kernel and was faulted in again); with it, next to none."""
    primed = _faults_per_step()
    assert primed < 50, (f"{primed} page faults per step after importing course_lib.scratch; "
                         f"without priming: {_faults_per_step(COURSE_LIB_NO_MALLOC_PRIMING='1')}")


CAPPED = """
import resource
from course_lib.scratch import allocator
with open("/proc/self/statm") as statm:
    mapped = int(statm.read().split()[0]) * resource.getpagesize()
resource.setrlimit(resource.RLIMIT_AS, (mapped + 8 * 2**20, resource.RLIM_INFINITY))
print(allocator.prime())
"""


@pytest.mark.skipif(platform.system() != "Linux", reason="reads /proc")
def test_priming_gives_up_quietly_in_a_capped_address_space_and_can_be_switched_off():
    """A grading sandbox caps the address space: the import must not fail there."""
    capped = subprocess.run([sys.executable, "-c", CAPPED], capture_output=True, text=True, timeout=120)
    assert capped.returncode == 0 and capped.stdout.strip() == "False", capped.stderr
    switched_off = subprocess.run([sys.executable, "-c", "from course_lib.scratch import allocator; print(allocator.prime())"],
                                  capture_output=True, text=True, timeout=120,
                                  env={**os.environ, "COURSE_LIB_NO_MALLOC_PRIMING": "1"})
    assert switched_off.stdout.strip() == "False", switched_off.stderr
