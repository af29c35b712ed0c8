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
