"""Keeping freed memory in the process, for CPU training.

glibc hands every freed block over 32 MB back to the kernel and maps fresh, zeroed pages
for the next one. A CPU training step of BioGPT allocates and frees such blocks by the
dozen (chunks of logits, the packed projection, the embedding's gradient, the optimizer's
temporaries): the tiny model's step spent about a quarter of its time in those page
faults (800 -> 600 ms, bench/RESULTS.md). `keep_freed_memory()` has glibc serve large
blocks from its heap and keep what is freed, so the process stays at its peak memory
instead of going down between steps.
"""
import ctypes

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt's parameters, from glibc's malloc.h


def keep_freed_memory() -> bool:
    """For the rest of the process; True where it took effect (Linux with glibc)."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # the C library the process runs on
    if mallopt is None:
        return False
    return mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2 ** 31 - 1) == 1
