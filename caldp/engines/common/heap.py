"""Hand freed heap memory back to the system between the stages of an engine run.

glibc's malloc raises its mmap threshold to the size of the largest block freed so far (up to
32 MB), so after the first chip-sized array is freed, the next DQ images, row buffers and rejection
work arrays come from the heap, and their pages stay in the process when freed. ``malloc_trim(0)``
returns the free pages of every arena (a few ms); elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import threading

_LIBC = None
_LOCK = threading.Lock()


def trim_heap() -> None:
    """``malloc_trim(0)`` where glibc has it; a no-op otherwise."""
    global _LIBC
    with _LOCK:
        if _LIBC is None:
            try:
                _LIBC = ctypes.CDLL("libc.so.6")
                _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
                _LIBC.malloc_trim.restype = ctypes.c_int
            except (OSError, AttributeError):
                _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)
