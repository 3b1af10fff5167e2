"""Keep the memory a CPU training step frees for the next step, instead of handing it back to the kernel.

A training step allocates and frees the same large activations and gradients every time. glibc's
malloc serves a block above its mmap threshold (which it never raises past 32 MiB) with fresh pages
from mmap and unmaps them again at free, so every step pays the kernel to fault in and zero those
pages anew (the (8, 21, 256, 256) fp32 logits of bench/models.py are 44 MiB). Keeping them, a whole
U-Net step took 15% less time, a CamVid epoch 17% less (docs/benchmarks.md, "Models" run 5, and
"CamVid: choices on the held-out sequence"). PyTorch's CPU tuning advice is the same cure by another route (jemalloc or tcmalloc
through LD_PRELOAD); `keep_freed_memory` needs no preload.

The price: the process keeps its peak memory between steps instead of shrinking, and the heap
fragments a little (the CamVid run's peak resident memory: 2048 MiB against 1942). Set
PIXELSEG_KEEP_FREED_MEMORY=0 to leave malloc as it was (any value but 0 or 1 is refused).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

from pixelseg.errors import UsageError

# mallopt's parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
SWITCH = "PIXELSEG_KEEP_FREED_MEMORY"

_kept = False


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse: no mmap for large blocks, no trimming of the heap.

    Process-wide and idempotent. Returns True when the setting is in force, False where it cannot be
    made (not Linux, a C library other than glibc) or PIXELSEG_KEEP_FREED_MEMORY=0 turns it off.
    A value other than 0 or 1 is a UsageError naming the variable.
    """
    global _kept
    switch = os.environ.get(SWITCH, "1")
    if switch not in ("0", "1"):
        raise UsageError(f"{SWITCH}={switch!r}: set it to 1 (keep freed memory, the default) or 0 (leave malloc as it is)")
    if _kept:
        return True
    if switch == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success. The trim threshold is an int: 1 GiB of free heap top is kept at most.
    _kept = bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 1 << 30))
    return _kept
