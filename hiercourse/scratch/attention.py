"""Scaled dot-product attention and multi-head attention from scratch. Taught in chapter 05.

Mask convention, the same as ``nn.MultiheadAttention`` / ``nn.Transformer``: a boolean
mask is ``True`` where attention is **blocked** (a future position, a padding key);
a float mask is *added* to the scores (``-inf`` blocks). Beware:
``F.scaled_dot_product_attention`` uses the opposite boolean convention (True = allowed).

A query whose keys are all blocked gets all-zero weights and a zero output, not NaN.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from hiercourse.errors import DataError
from hiercourse.scratch.activations import dropout, softmax
from hiercourse.scratch.dense import Dense, dense


def causal_mask(length: int, memory_length: int | None = None, device=None) -> torch.Tensor:
    """(L, S) boolean mask, True above the diagonal: query t may only look at keys 0..t. Taught in chapter 05."""
    s = length if memory_length is None else memory_length
    return torch.ones(length, s, dtype=torch.bool, device=device).triu(1)


def padding_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """(N, S) boolean key-padding mask from true sequence lengths: True at the padded tail. Taught in chapter 05."""
    return torch.arange(max_length, device=lengths.device)[None, :] >= lengths[:, None]


def _key_padding_to_scores(mask: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    # (N, S) -> (N, 1, ..., 1, S) so it broadcasts over heads and queries
    if mask.dim() != 2 or mask.shape[0] != scores.shape[0] or mask.shape[1] != scores.shape[-1]:
        raise DataError(
            f"key_padding_mask must have shape (N, S) = ({scores.shape[0]}, {scores.shape[-1]}), "
            f"got {tuple(mask.shape)}"
        )
    return mask.view(mask.shape[0], *([1] * (scores.dim() - 2)), mask.shape[1])


def attention_scores(
    q: torch.Tensor,
    k: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    key_padding_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """Masked, scaled scores ``q k^T / sqrt(d_k)`` of shape (..., L, S); blocked entries are -inf.

    Taught in chapter 05.
    """
    if q.shape[-1] != k.shape[-1]:
        raise DataError(f"queries and keys need the same feature size d_k, got {q.shape[-1]} and {k.shape[-1]}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * scale
    blocked = None
    masks = [attn_mask]
    if key_padding_mask is not None:
        masks.append(_key_padding_to_scores(key_padding_mask, scores))
    for mask in masks:
        if mask is None:
            continue
        if mask.dtype == torch.bool:
            blocked = mask if blocked is None else blocked | mask
        else:
            scores = scores + mask.to(scores.dtype)
    if is_causal:
        causal = causal_mask(q.shape[-2], k.shape[-2], device=q.device)
        blocked = causal if blocked is None else blocked | causal
    if blocked is not None:
        scores = scores.masked_fill(blocked, float("-inf"))
    return scores


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    key_padding_mask: torch.Tensor | None = None,
    is_causal: bool = False,
    dropout_p: float = 0.0,
    training: bool = False,
    scale: float | None = None,
    return_weights: bool = False,
):
    """``softmax(q k^T / sqrt(d_k) + mask) v`` for q (..., L, d_k), k (..., S, d_k), v (..., S, d_v).

    Returns the output (..., L, d_v), and the weights (..., L, S) when ``return_weights``.
    Masks: see the module docstring (True = blocked). Taught in chapter 05.
    """
    weights = softmax(attention_scores(q, k, attn_mask, key_padding_mask, is_causal, scale), dim=-1)
    out = dropout(weights, dropout_p, training) @ v
    return (out, weights) if return_weights else out


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(N, L, E) -> (N, H, L, E/H): each head gets its own slice of the features. Taught in chapter 05."""
    n, length, e = x.shape
    return x.view(n, length, num_heads, e // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(N, H, L, E/H) -> (N, L, E): concatenate the heads' outputs. Taught in chapter 05."""
    n, h, length, d = x.shape
    return x.transpose(1, 2).reshape(n, length, h * d)


class MultiHeadAttention(nn.Module):
    """Multi-head attention on batch-first tensors (N, L, E), parameters laid out like ``nn.MultiheadAttention``.

    ``in_proj_weight`` (3E, E) stacks W_q, W_k, W_v; ``out_proj`` maps the concatenated
    heads back to E. So ``mine.load_state_dict(torch_mha.state_dict())`` copies weights
    (query, key and value must share the size E). Taught in chapter 05.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if embed_dim % num_heads:
            raise DataError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        nn.init.xavier_uniform_(self.in_proj_weight)
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim)) if bias else None
        self.out_proj = Dense(embed_dim, embed_dim, bias=bias)
        if bias:
            nn.init.zeros_(self.out_proj.bias)

    def project(self, query, key, value):
        """Q, K, V = x W^T + b with the three slices of the packed projection: each (N, L or S, E) -> same shape.

        Taught in chapter 05.
        """
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None,) * 3
        return dense(query, w_q, b_q), dense(key, w_k, b_k), dense(value, w_v, b_v)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = True,
        attn_mask: torch.Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        """Returns ``(output (N, L, E), weights)``; weights are (N, L, S) averaged over heads,
        (N, H, L, S) with ``average_attn_weights=False``, or None without ``need_weights``.

        ``query`` is (N, L, E), ``key`` and ``value`` (N, S, E); ``key_padding_mask``
        is (N, S) and ``attn_mask`` is (L, S) or (N*H, L, S) as in torch (True = blocked).
        Taught in chapter 05.
        """
        n, length, _ = query.shape
        q, k, v = (split_heads(t, self.num_heads) for t in self.project(query, key, value))
        if attn_mask is not None and attn_mask.dim() == 3:
            attn_mask = attn_mask.view(n, self.num_heads, *attn_mask.shape[-2:])
        out, weights = scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, key_padding_mask=key_padding_mask, is_causal=is_causal,
            dropout_p=self.dropout, training=self.training, return_weights=True,
        )
        out = self.out_proj(merge_heads(out))
        if not need_weights:
            return out, None
        return out, weights.mean(dim=1) if average_attn_weights else weights
