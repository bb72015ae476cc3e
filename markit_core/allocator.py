"""Keep freed memory for reuse in processes that work on arrays of 10^7 answers.

Review and reward runs at scale allocate and free hundreds of arrays of one to
a few hundred megabytes. With glibc's defaults most of them are mapped fresh
from the kernel and handed back when freed, so every run faults all of that
memory in again, 4 KB at a time; on the virtual machines labs run on a fault
costs tens of microseconds, and a reward run over 10^7 answers spent about a
third of its CPU time in them (``benchmarks/scale.py``, docs/deployment.md).
:func:`keep_freed_memory` asks glibc to serve blocks below 32 MB (its upper
limit for this setting) from its heap and to keep up to 256 MB freed there for
the next allocation. Larger arrays are still mapped and unmapped; numpy asks
for huge pages for those, which fault 2 MB at a time.

It changes no result, only where memory comes from. A process keeps at most
:data:`KEEP_FREED` more than it uses. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import sys
import threading

__all__ = ["KEEP_FREED", "SMALL_BLOCK", "keep_freed_memory"]

#: Blocks below this come from the heap (glibc's maximum for M_MMAP_THRESHOLD).
SMALL_BLOCK = 32 << 20
#: Freed heap memory kept for reuse before it is handed back to the kernel.
KEEP_FREED = 256 << 20
#: Extra heap requested each time it grows, so growth is not one page at a time.
TOP_PAD = 64 << 20

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3  # glibc's <malloc.h>
_lock = threading.Lock()
_done: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the settings above once per process; True where glibc took them."""
    global _done
    with _lock:
        if _done is None:
            _done = _apply()
        return _done


def _apply() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process already uses
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    settings = {_M_MMAP_THRESHOLD: SMALL_BLOCK, _M_TRIM_THRESHOLD: KEEP_FREED, _M_TOP_PAD: TOP_PAD}
    return all(mallopt(option, value) == 1 for option, value in settings.items())
