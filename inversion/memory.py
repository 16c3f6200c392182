"""Keep freed memory in the process, so that an inversion's per-step tensors are not
page-faulted in anew at every step.

Each step of the engine allocates Φ's feature maps, their gradients and the residual afresh
(13 MB per map at SqueezeNet conv1 for 4 × 227²). glibc's ``malloc`` serves blocks of that size
with ``mmap`` and returns them to the kernel when freed, so the next step touches fresh zeroed
pages: ≈ 4,000 minor page faults per step there, measured to cost as much as the image-space
work itself (``benchmarks/RESULTS.md``, issue 7). :func:`keep_freed_memory` fixes glibc's mmap
threshold at its maximum (32 MiB) and stops heap trimming, so freed blocks are reused; the
process then keeps its peak heap until it exits. It is a process-wide setting, so the library
does not apply it on import: the CLI and :func:`preimage.train.api.run_job` call it, and a
Python user may. ``PREIMAGE_KEEP_MEMORY=0`` turns it off; on other C libraries it does nothing.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit systems
_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the setting once per process (glibc only); True if it is in effect."""
    global _applied
    if _applied is None:
        _applied = False
        if sys.platform.startswith("linux") and os.environ.get("PREIMAGE_KEEP_MEMORY", "1") != "0":
            try:
                libc = ctypes.CDLL(None)
                libc.gnu_get_libc_version  # glibc, not musl
                _applied = bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and \
                    bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
            except (OSError, AttributeError):
                _applied = False
    return _applied
