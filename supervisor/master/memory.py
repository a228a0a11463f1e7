"""The master's memory goes back to the system once a burst of large frames is handled."""

from __future__ import annotations

import contextlib
import ctypes

M_MMAP_THRESHOLD = -3
LARGE = 128 * 1024


def return_large_blocks() -> None:
    """Serve every allocation of LARGE bytes or more from a mapping of its own (glibc).

    glibc does that by default, but raises the bound each time such a block is freed;
    then big frames come from the heap, which fragments and keeps its peak size: one
    burst of large frames (a fuzzer, a flood) would leave the master's RSS high for
    good. A fixed bound hands each large block back as soon as it is freed.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: its own policy stays
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, LARGE)
