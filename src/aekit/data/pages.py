"""Giving back the pages of a memory-mapped file once a block of it has been read.

Pages of a file mapped with ``np.load(..., mmap_mode="r")`` count toward the process's
resident memory once touched, and stay mapped until the kernel needs them: reading a 10 GB
file through a memory map would show 10 GB resident. After a block is copied out,
:func:`release` tells the kernel the process no longer needs those pages
(``madvise(MADV_DONTNEED)``); they stay in the page cache, so a second read is still cheap.
A no-op for ordinary arrays and where ``madvise`` is unavailable.
"""

from __future__ import annotations

import mmap

import numpy as np

_PAGE = mmap.PAGESIZE
_MARGIN = 1 << 20


def release(view: np.ndarray) -> None:
    """Drop the resident pages behind ``view`` (a slice of a read-only ``np.memmap``)."""
    mm = getattr(view, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED") or view.nbytes == 0:
        return
    try:
        base = np.frombuffer(mm, dtype=np.uint8).ctypes.data
        start = view.ctypes.data - base
        # widen by a margin: reading one block also maps its neighbours' first pages ("fault-around",
        # 64 KiB by default), which would otherwise stay mapped after those blocks were released
        aligned = max(0, (start - _MARGIN) // _PAGE * _PAGE)
        length = min(start + view.nbytes + _MARGIN, len(mm)) - aligned
        if view.flags.c_contiguous and 0 <= aligned and length > 0:
            mm.madvise(mmap.MADV_DONTNEED, aligned, length)
    except (ValueError, OSError, TypeError):  # closed map, odd view: keep the pages, lose nothing
        pass
