"""Measuring cost on the CPU: median wall time and peak memory of one call. Taught in chapter 05."""
from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds (a float) of ``fn()`` over ``repeats`` runs (after ``warmup`` unmeasured runs).

    Taught in chapter 05.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for a moment: the profiler's C++ side logs
    start/stop lines there, which would otherwise clutter a notebook's output."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def peak_memory_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes held by tensors that ``fn()`` allocates, replayed from torch's profiler.

    The profiler logs every allocation (+) and free (-) in order; the running sum's
    maximum is the peak extra memory the call needed (its inputs excluded).
    ``fn`` takes no arguments; returns an int number of bytes. Taught in chapter 05.
    """
    from torch.profiler import ProfilerActivity, profile

    with _quiet_native_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = fn()
        del result
    changes = sorted(
        (e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage != 0
    )
    running = peak = 0
    for _, change in changes:
        running += change
        peak = max(peak, running)
    return int(peak)
