"""Measuring cost on the CPU: median wall time and peak memory of one call. Taught in chapter 05."""
from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def median_time(fn: Callable[[], object], repeats: int = 5, warmup: int = 1, clock: str = "wall") -> float:
    """Median seconds (a float) of ``fn()`` over ``repeats`` runs (after ``warmup`` unmeasured runs).

    ``clock="wall"`` reads wall-clock time (``time.perf_counter``); ``clock="cpu"`` the CPU time this
    process used (``time.process_time``, all its threads, system time included), which leaves out the time a
    call spends waiting for a core while other programs run: on a busy machine the wall-clock time of a long
    call grows with the load, its CPU time does not. Taught in chapter 05.
    """
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
    tick = time.process_time if clock == "cpu" else time.perf_counter
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = tick()
        fn()
        times.append(tick() - start)
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


def cpu_cache_bytes(root: str | os.PathLike = "/sys/devices/system/cpu/cpu0/cache") -> dict[str, int]:
    """Sizes of the first CPU core's caches, e.g. ``{"L1d": 49152, "L2": 1048576, "L3": 33554432}`` (bytes).

    Read from Linux's sysfs (``index*/level``, ``type``, ``size``; instruction caches are skipped); an empty
    dict where that is not available (macOS, Windows, some containers), so callers print what they know.
    Taught in chapter 05, where it explains why attention's time jumps once the score matrices outgrow them.
    """
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    sizes: dict[str, int] = {}
    folder = Path(root)
    if not folder.is_dir():
        return sizes
    for index in sorted(folder.glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        if kind == "Instruction" or not size:
            continue
        number, unit = (size[:-1], size[-1]) if size[-1] in units else (size, "")
        if not number.isdigit():
            continue
        sizes[f"L{level}" + ("d" if kind == "Data" else "")] = int(number) * units.get(unit, 1)
    return sizes
