"""Host allocator setting of the ``gpu-moa`` command: freed array memory is kept and reused.

With glibc's defaults, every array above a few tens of megabytes is a fresh ``mmap``, returned to
the system when freed, and each worker thread has its own heap, trimmed when it shrinks. The
next array of that size then pays one page fault per 4 KiB page while the kernel zeroes it: on
the 2-core CI machine (a virtual machine, where a fault costs 6-19 us) the main job took 426,000
faults and 8 s of system time. Served from one heap that is never trimmed, the same job takes
75,000 faults and 3 s (``gpu-moa run`` 49.9 -> 46.7 s, identical outputs): a freed matrix's pages
go to the next matrix as they are.

The price is that the process keeps its peak heap until it exits, which suits a command that
exits when its job is done; a notebook or a library caller keeps the system's defaults unless it
calls :func:`reuse_freed_memory` itself.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_M_ARENA_MAX = -8
#: the largest trim threshold ``mallopt`` takes (a C int): the heap is never trimmed in practice
_NEVER_TRIM = 2**31 - 1
#: set to "system" to keep the C library's defaults in the ``gpu-moa`` command
ENV_VAR = "GPU_MOA_ALLOCATOR"


def reuse_freed_memory() -> bool:
    """Keep freed host memory in the process for reuse (glibc on Linux; elsewhere nothing).

    One heap for all threads (``M_ARENA_MAX`` 1), no ``mmap`` per large block
    (``M_MMAP_MAX`` 0) and no trimming of the heap's free top (``M_TRIM_THRESHOLD`` 2 GiB), all
    through ``mallopt``. Process-wide and one-way; values computed do not change, only where their
    memory comes from. ``GPU_MOA_ALLOCATOR=system`` turns it off.

    Returns
    -------
    bool
        Whether the setting was applied (False off Linux, without glibc's ``mallopt``, or when
        turned off).
    """
    if not sys.platform.startswith("linux") or os.environ.get(ENV_VAR, "").lower() == "system":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    settings = ((_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _NEVER_TRIM))
    return all([mallopt(param, value) == 1 for param, value in settings])
