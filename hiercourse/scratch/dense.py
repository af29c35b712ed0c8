"""Dense (fully connected) layer and layer normalisation. Taught in chapters 04 and 05.

Parameter names (``weight``, ``bias``) match ``nn.Linear`` and ``nn.LayerNorm`` so a
torch model's ``state_dict`` loads into the from-scratch blocks unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

from hiercourse.errors import DataError


def dense(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``y = x W^T + b`` over the last axis: x (..., n_in), W (n_out, n_in), b (n_out,) -> y (..., n_out).

    Taught in chapter 04.
    """
    if x.shape[-1] != weight.shape[-1]:
        raise DataError(
            f"the input's last axis has {x.shape[-1]} features but the weight expects {weight.shape[-1]}; "
            "flatten feature maps with x.flatten(1) and check n_in"
        )
    y = x @ weight.transpose(-2, -1)
    return y if bias is None else y + bias


def layer_norm(
    x: torch.Tensor,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Normalise each position's feature vector to mean 0, variance 1 (biased), then scale and shift.

    ``(x - mean) / sqrt(var + eps) * gamma + beta`` over the last axis: x (..., d), gamma
    and beta (d,) or None -> (..., d). Taught in chapter 05.
    """
    mean = x.mean(dim=-1, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


class Dense(nn.Module):
    """A dense layer holding W (n_out, n_in) and b, initialised like ``nn.Linear``. Taught in chapter 04."""

    def __init__(self, n_in: int, n_out: int, bias: bool = True):
        super().__init__()
        bound = 1.0 / n_in**0.5
        self.weight = nn.Parameter(torch.empty(n_out, n_in).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_out).uniform_(-bound, bound)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., n_in) -> (..., n_out) with :func:`dense`. Taught in chapter 04."""
        return dense(x, self.weight, self.bias)


class LayerNorm(nn.Module):
    """Layer normalisation over the last axis with learned gain and shift (start at 1 and 0). Taught in chapter 05."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., d_model) -> (..., d_model) with :func:`layer_norm`. Taught in chapter 05."""
        return layer_norm(x, self.weight, self.bias, self.eps)
