"""The engine's memory: keep freed memory in the process, so that an inversion's per-step
tensors are not page-faulted in anew at every step; and a lower bound on what a batch needs
(:func:`batch_bytes`) against what the machine has (:func:`memory_limit`), so that a job that
cannot fit is refused before it starts.

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
from pathlib import Path
from typing import Sequence

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


_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def memory_limit() -> int | None:
    """Bytes of memory this process can have: the machine's physical memory, or the control
    group's limit where that is lower; None where neither can be read."""
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    for name in _CGROUP_LIMITS:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            limits.append(int(text))
    return min(limits) if limits else None


def batch_bytes(batch: int, image_numel: int, feature_numels: Sequence[int] = (), itemsize: int = 4) -> int:
    """A lower bound on the memory an inversion of ``batch`` items needs: per item the image and
    its gradient, and each tapped feature map (``feature_numels``: elements per item) and its
    gradient. Intermediate activations, targets and optimiser state come on top, so a batch
    over :func:`memory_limit` by this count cannot run."""
    return 2 * batch * itemsize * (image_numel + sum(feature_numels))


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units (``23 GiB``, ``1.5 TiB``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} PiB"  # pragma: no cover
