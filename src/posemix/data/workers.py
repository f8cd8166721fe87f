"""Process settings for DataLoader workers that keep their memory flat.

glibc raises its mmap threshold to the largest buffer freed so far, so after the first
batch every batch-sized buffer lands on the heap and worker memory grows for hours.
Pinning the threshold returns those buffers to the system when freed
(benchmarks/bench_workers.py measures it).
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD = 4 << 20  # above one sample's buffers, below one batch's


def pin_mmap_threshold() -> bool:
    """Pin glibc's mmap threshold; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False
