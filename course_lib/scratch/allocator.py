"""Keep freed array memory in the process between training steps (glibc's malloc; a no-op elsewhere).

glibc's ``malloc`` serves a request above its *mmap threshold* — 128 KiB when a process
starts — with fresh pages from the kernel and returns them when the block is freed.  It
adapts: freeing such a block raises the threshold to that block's size (up to 32 MiB), and
the heap is trimmed back to the system only when more than twice the threshold lies free
at its top.  A training step of the scratch layers allocates and frees many arrays of 1–3
MB (attention scores, projections and their gradients).  Until something larger has been
freed, the memory of every step goes back to the kernel at its end and is faulted in again,
page by page, by the next one: about 1,500 minor page faults per MultiheadAttention forward
+ backward at the size of ``bench/attention.py`` (9.9 ms per step with them, 7.9 without;
an encoder layer 31.0 and 26.4 ms), while a convolution, whose 9 MB im2col matrix raises the
threshold on its first step, pays none.

``prime()`` allocates and frees one 30 MiB block (never touched, so it costs no page and
no time) when ``course_lib.scratch`` is imported: glibc then keeps up to 60 MiB of freed
memory for reuse, as it would after the first large temporary anyway.  The price is that
the process may hold that much freed memory instead of returning it at once.  Set the
environment variable ``COURSE_LIB_NO_MALLOC_PRIMING=1`` before the import to skip it.
"""
from __future__ import annotations

import os

import numpy as np

PRIMING_BYTES = 30 * 2**20  # below glibc's cap of 32 MiB for the adaptive threshold


def prime() -> bool:
    """Free one untouched 30 MiB block, raising glibc's thresholds; False when switched off
    or when the address space is capped below it (a grading sandbox): then nothing changes."""
    if os.environ.get("COURSE_LIB_NO_MALLOC_PRIMING"):
        return False
    try:
        block = np.empty(PRIMING_BYTES, dtype=np.uint8)
    except MemoryError:
        return False
    del block
    return True
