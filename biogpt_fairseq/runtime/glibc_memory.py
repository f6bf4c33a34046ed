"""Keeping freed memory in the process while a CPU training step runs.

glibc hands every freed block over 32 MB back to the kernel and maps fresh, zeroed pages
for the next one. A CPU training step of BioGPT allocates and frees such blocks by the
dozen (chunks of logits, the packed projection, the embedding's gradient, the optimizer's
temporaries): the tiny model's step spent about a quarter of its time in those page
faults (800 -> 600 ms, bench/RESULTS.md). Within `kept_freed_memory()` glibc serves large
blocks from its heap and keeps what is freed; on exit its defaults are back.
"""
import contextlib
import ctypes

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt's parameters, from glibc's malloc.h
# glibc's defaults (malloc/malloc.c: DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX)
_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}
_KEEP = {_M_TRIM_THRESHOLD: 2 ** 31 - 1, _M_MMAP_MAX: 0}


def _mallopt():
    return getattr(ctypes.CDLL(None), "mallopt", None)  # the C library the process runs on


def _set(values) -> bool:
    mallopt = _mallopt()
    return mallopt is not None and all(mallopt(parameter, value) == 1 for parameter, value in values.items())


_depth = 0  # nested uses: the outermost restores the defaults


@contextlib.contextmanager
def kept_freed_memory():
    """Within it, glibc keeps freed memory for reuse (where the process runs on glibc)."""
    global _depth
    kept = _set(_KEEP) if _depth == 0 else True
    _depth += 1
    try:
        yield kept
    finally:
        _depth -= 1
        if kept and _depth == 0:
            _set(_DEFAULTS)
