"""hiercourse: hierarchical user-interest models for recommendation, the course's package.

Chapter 00 explains how the chapters (``notebooks/``) and this package fit together:
notebooks teach, the package does.
"""
from __future__ import annotations

import os
import random

__version__ = "0.1.0"


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch so that a chapter reruns to the same numbers.

    Taught in chapter 00.
    """
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch
    except ImportError:  # the data chapters run without torch
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
