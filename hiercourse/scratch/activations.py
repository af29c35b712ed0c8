"""Activations, numerically stable softmax / log-softmax and cross-entropy from logits. Taught in chapters 04 and 05.

Stability: ``softmax(z) = softmax(z - max z)`` for any shift, so subtracting the row
maximum keeps every ``exp`` at most 1 (no overflow) without changing the result.
Rows where every entry is ``-inf`` (fully masked attention rows) give all-zero
probabilities instead of NaN.
"""
from __future__ import annotations

import math

import torch

from hiercourse.errors import DataError


def relu(x: torch.Tensor) -> torch.Tensor:
    """``max(x, 0)`` elementwise; any shape in, the same shape out. Taught in chapter 04."""
    return torch.clamp_min(x, 0.0)


def gelu(x: torch.Tensor) -> torch.Tensor:
    """Exact GELU ``x * Phi(x)`` with Phi the standard normal CDF; elementwise, same shape out. Taught in chapter 05."""
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


ACTIVATIONS = {"relu": relu, "gelu": gelu}


def activation(name: str):
    """The activation function (tensor -> tensor of the same shape) called ``name``: "relu" or "gelu".

    The Transformer blocks pick their feed-forward activation with it. Taught in chapter 05.
    """
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise DataError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}") from None


def _safe_max(x: torch.Tensor, dim: int) -> torch.Tensor:
    # the shift does not change the result, so it needs no gradient; -inf rows shift by 0
    m = x.detach().amax(dim=dim, keepdim=True)
    return torch.where(torch.isfinite(m), m, torch.zeros_like(m))


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``exp(z_i - max z) / sum_j exp(z_j - max z)`` along ``dim``; all -inf rows give zeros.

    Same shape out as in; entries along ``dim`` sum to 1. Taught in chapter 04.
    """
    e = torch.exp(x - _safe_max(x, dim))
    total = e.sum(dim=dim, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``z_i - max z - log sum_j exp(z_j - max z)`` along ``dim``, same shape out:
    stable even when softmax underflows to 0.

    Taught in chapter 04.
    """
    shifted = x - _safe_max(x, dim)
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of integer class ``targets`` (N,) under ``logits`` (N, K): ``-log softmax(z)[t]``.

    Computed from logits with :func:`log_softmax`, never as ``log(softmax(z))``, which
    gives ``-inf`` once a probability underflows. Matches ``F.cross_entropy``.
    Returns a scalar (``reduction`` "mean" or "sum") or the per-row losses (N,) ("none").
    Taught in chapter 04.
    """
    if logits.dim() != 2 or targets.shape != logits.shape[:1]:
        raise DataError(
            f"expected logits (N, K) and targets (N,), got {tuple(logits.shape)} and {tuple(targets.shape)}"
        )
    picked = log_softmax(logits, dim=-1).gather(1, targets.long().view(-1, 1)).squeeze(1)
    if reduction == "none":
        return -picked
    if reduction == "sum":
        return -picked.sum()
    if reduction == "mean":
        return -picked.mean()
    raise DataError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Zero each entry with probability ``p`` and scale the rest by ``1/(1-p)`` (identity when not training).

    Any shape in, the same shape out; the attention and Transformer blocks use it.
    Taught in chapter 05.
    """
    if not training or p == 0.0:
        return x
    if not 0.0 <= p < 1.0:
        raise DataError(f"dropout probability must be in [0, 1), got {p}")
    keep = torch.rand_like(x) >= p
    return x * keep / (1.0 - p)
