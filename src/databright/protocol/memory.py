"""Keep freed message buffers in the process instead of handing them back to the kernel.

Every protocol message of a few MiB (a state, a gradient, a batch of activations) is copied a few
times on its way (numpy -> bytes -> protobuf -> gRPC, and back). glibc's defaults return each freed
buffer of this size to the kernel (large blocks are mmap'ed, the heap's top is trimmed past 128 KiB),
so every copy lands in fresh pages and pays a page fault per 4 KiB. Measured here
(bench/compute.py's 4 MiB ping, side by side in one run): building a 4 MiB Ping took 4.3 ms with the
defaults and 1.6 ms with large blocks kept on the heap. `keep_freed_memory` raises both thresholds
once per process (the coordinator's gateway and every worker process call it); memory a process
used at its peak then stays mapped to it (bounded by TRIM_THRESHOLD) — the price of the speed.
Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("databright.protocol")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3      # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 32 << 20                         # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 256 << 20                        # free memory at the heap's top kept for reuse
_done = False


def keep_freed_memory() -> bool:
    """Raises glibc's mmap and trim thresholds for this process; True if it did (once is enough)."""
    global _done
    if _done:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.info("no glibc mallopt here: message buffers use the allocator's defaults")
        return False
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
