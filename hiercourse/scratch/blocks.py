"""Transformer encoder and decoder blocks assembled from the from-scratch parts. Taught in chapter 05.

Post-norm (the 2017 paper, ``norm_first=False``)::

    encoder:  x = LN1(x + SelfAttn(x));  x = LN2(x + FFN(x))
    decoder:  y = LN1(y + CausalSelfAttn(y));  y = LN2(y + CrossAttn(y, memory));  y = LN3(y + FFN(y))

Pre-norm (``norm_first=True``) normalises the sublayer's input instead:
``x = x + Sublayer(LN(x))``. ``FFN(x) = W2 act(W1 x + b1) + b2`` acts on each position.
Attribute names match ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer``
so their ``state_dict`` loads unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

from hiercourse.scratch.activations import activation, dropout
from hiercourse.scratch.attention import MultiHeadAttention
from hiercourse.scratch.dense import Dense, LayerNorm


class _Block(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward, dropout_p, activation_name, layer_norm_eps, norm_first,
                 n_norms):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout=dropout_p)
        self.linear1 = Dense(d_model, dim_feedforward)
        self.linear2 = Dense(dim_feedforward, d_model)
        for i in range(1, n_norms + 1):
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps))
        self.activation = activation(activation_name)
        self.dropout_p, self.norm_first = dropout_p, norm_first

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.dropout_p, self.training)

    def feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Position-wise FFN: ``W2 act(W1 x + b1) + b2``, the same weights at every position; (N, L, d) -> (N, L, d).

        Taught in chapter 05.
        """
        return self.linear2(self._drop(self.activation(self.linear1(x))))

    def _residual(self, x, norm, sublayer):
        """One sublayer with its residual connection, pre- or post-norm."""
        if self.norm_first:
            return x + self._drop(sublayer(norm(x)))
        return norm(x + self._drop(sublayer(x)))


class EncoderBlock(_Block):
    """Self-attention then feed-forward, each with residual + layer norm; (N, L, d_model) -> (N, L, d_model).

    Arguments and defaults as ``nn.TransformerEncoderLayer(batch_first=True)``. Taught in chapter 05.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str = "relu", layer_norm_eps: float = 1e-5, norm_first: bool = False):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, norm_first, n_norms=2)

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None,
                src_key_padding_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        """src (N, L, d) -> (N, L, d). Masks: True = blocked (see ``hiercourse.scratch.attention``).

        ``src_mask`` is (L, L), ``src_key_padding_mask`` (N, L). Taught in chapter 05.
        """
        def attend(x):
            return self.self_attn(x, x, x, key_padding_mask=src_key_padding_mask, attn_mask=src_mask,
                                  need_weights=False, is_causal=is_causal)[0]

        x = self._residual(src, self.norm1, attend)
        return self._residual(x, self.norm2, self.feed_forward)


class DecoderBlock(_Block):
    """Masked self-attention, cross-attention over the encoder's memory, then feed-forward.

    tgt (N, L, d_model) and memory (N, S, d_model) -> (N, L, d_model); arguments and
    defaults as ``nn.TransformerDecoderLayer(batch_first=True)``. Taught in chapter 05.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str = "relu", layer_norm_eps: float = 1e-5, norm_first: bool = False):
        super().__init__(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, norm_first, n_norms=3)
        self.multihead_attn = MultiHeadAttention(d_model, nhead, dropout=dropout)

    def forward(self, tgt: torch.Tensor, memory: torch.Tensor, tgt_mask: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None, tgt_key_padding_mask: torch.Tensor | None = None,
                memory_key_padding_mask: torch.Tensor | None = None, tgt_is_causal: bool = False) -> torch.Tensor:
        """tgt (N, L, d), memory (N, S, d) -> (N, L, d). Pass ``tgt_is_causal=True`` or a causal ``tgt_mask``.

        Masks: True = blocked; ``tgt_mask`` (L, L), ``memory_mask`` (L, S), key-padding
        masks (N, L) and (N, S). Taught in chapter 05.
        """
        def self_attend(y):
            return self.self_attn(y, y, y, key_padding_mask=tgt_key_padding_mask, attn_mask=tgt_mask,
                                  need_weights=False, is_causal=tgt_is_causal)[0]

        def cross_attend(y):
            return self.multihead_attn(y, memory, memory, key_padding_mask=memory_key_padding_mask,
                                       attn_mask=memory_mask, need_weights=False)[0]

        y = self._residual(tgt, self.norm1, self_attend)
        y = self._residual(y, self.norm2, cross_attend)
        return self._residual(y, self.norm3, self.feed_forward)
