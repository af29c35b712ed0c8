"""Pick the fastest available torch device. Taught in chapter 06."""
from __future__ import annotations

import torch


def best_device(prefer: str | None = None) -> torch.device:
    """CUDA if present, else Apple MPS, else CPU, as a ``torch.device``; ``prefer`` (e.g. "cpu") overrides.

    Taught in chapter 06.
    """
    if prefer:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def machine_description() -> str:
    """One line naming the machine that runs the code, e.g. "x86_64, 2 CPU cores (AMD EPYC 7B13), no GPU;
    torch 2.13.0" or "... GPU NVIDIA H200; torch ...". Chapters print it beside their results and the
    benchmark writes it into its tables. Taught in chapter 00.
    """
    import os
    import platform

    cpu = ""
    try:  # Linux names the CPU model here; platform.processor() is often empty or just the architecture
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "")
    except OSError:
        cpu = platform.processor()
    gpu = f"GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores" + (f" ({cpu})" if cpu else "")
            + f", {gpu}; torch {torch.__version__}")


def software_stamp() -> str:
    """The date and the software of a measurement, e.g. "2026-12-01 05:09; hiercourse 0.1.0, torch 2.13.0,
    python 3.11.7": the ``- date (UTC):`` line of every provenance-stamped results table (benchmark,
    retrieval, big-log scripts), beside :func:`machine_description`. Taught in chapter 09.
    """
    import datetime
    import platform

    import hiercourse

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    return f"{now}; hiercourse {hiercourse.__version__}, torch {torch.__version__}, python {platform.python_version()}"
