"""Position information for attention, which by itself ignores order. Taught in chapter 05."""
from __future__ import annotations

import torch
from torch import nn

from hiercourse.errors import DataError


def sinusoidal_positions(length: int, d_model: int, base: float = 10000.0, dtype=torch.float32) -> torch.Tensor:
    """(L, d) table ``PE[t, 2i] = sin(t / base^(2i/d))``, ``PE[t, 2i+1] = cos(t / base^(2i/d))``.

    Each pair of columns is a rotation at its own frequency, so ``PE[t + k]`` is a fixed
    linear map (a rotation) of ``PE[t]``: relative offsets are easy to read. Taught in chapter 05.
    """
    if length < 1 or d_model < 1:
        raise DataError(f"length and d_model must be positive, got {length} and {d_model}")
    t = torch.arange(length, dtype=torch.float64)[:, None]
    freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    table = torch.zeros(length, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(t * freq)
    table[:, 1::2] = torch.cos(t * freq[: d_model // 2])
    return table.to(dtype)


class SinusoidalPositions(nn.Module):
    """Adds the fixed sinusoidal table to (N, L, d) inputs; nothing to learn, any length up to ``max_len``.

    Taught in chapter 05.
    """

    def __init__(self, d_model: int, max_len: int = 4096, base: float = 10000.0):
        super().__init__()
        self.register_buffer("table", sinusoidal_positions(max_len, d_model, base), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, L, d_model) -> x + PE[:L], same shape; L at most ``max_len``. Taught in chapter 05."""
        if x.shape[1] > self.table.shape[0]:
            raise DataError(
                f"sequence length {x.shape[1]} exceeds max_len={self.table.shape[0]}; build with a larger max_len"
            )
        return x + self.table[: x.shape[1]].to(x.dtype)


class LearnedPositions(nn.Module):
    """Adds a learned vector per position (as in BERT/SASRec); cannot go beyond ``max_len``. Taught in chapter 05."""

    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(max_len, d_model) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, L, d_model) -> x + weight[:L], same shape; L at most ``max_len``. Taught in chapter 05."""
        if x.shape[1] > self.weight.shape[0]:
            raise DataError(
                f"sequence length {x.shape[1]} exceeds the {self.weight.shape[0]} learned positions; "
                "truncate the sequence or build with a larger max_len"
            )
        return x + self.weight[: x.shape[1]]
