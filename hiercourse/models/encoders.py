"""Behaviour-sequence encoders: DNN (mean + MLP), CNN (Caser), Transformer (SASRec), GRU4Rec.

Each encoder maps embedded behaviours ``x [B, L, d]`` and their mask ``[B, L]``
(True = a real item, False = left padding) to one state per position ``[B, L, d]``,
where the state at ``t`` sees only positions ``<= t``. What each one *sees* differs:

- DNN (YouTube-DNN, Covington et al. 2016): the mean of everything so far, order lost.
- CNN (Caser, Tang & Wang 2018): the last ``window`` items only, as a ``window x d``
  image read by horizontal filters (several heights: union-level patterns) and a
  vertical filter (a learned weighted sum of the rows).
- Transformer (SASRec, Kang & McAuley 2018): causal self-attention over every
  earlier position, with learned position embeddings.
- GRU4Rec (Hidasi et al. 2016): a recurrent state, the reference from before attention.

The recommenders ``DNN``, ``Caser``, ``SASRec`` and ``GRU4Rec`` wrap each encoder in
the shared base (tied item embeddings, next-item loss); ``hiercourse.models`` registers
them under the names "dnn", "caser", "sasrec" and "gru4rec". Taught in chapter 07.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import DataError
from .sequence import SequenceRecommender


class MeanEncoder(nn.Module):
    """YouTube-DNN: the mean of the history so far (causal prefix means), then an MLP.

    Taught in chapter 07.
    """

    def __init__(self, dim: int = 64, dropout: float = 0.2, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or 2 * dim
        self.mlp = nn.Sequential(
            nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        counts = mask.cumsum(1).clamp(min=1).unsqueeze(-1).to(x.dtype)
        prefix_mean = x.cumsum(1) / counts  # padding rows of x are zero
        return self.norm(prefix_mean + self.mlp(prefix_mean))


class CaserEncoder(nn.Module):
    """Caser: horizontal convolutions (heights 1..window) + a vertical one over the last ``window`` items.

    Every position gets its own window (the ``window`` items ending there, zero
    padded on the left), so one pass trains on all windows of a sequence.
    Taught in chapter 07.
    """

    def __init__(self, dim: int = 64, window: int = 5, n_horizontal: int = 16, n_vertical: int = 4,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if window < 1:
            raise DataError(f"window must be >= 1, got {window}.")
        self.window = int(window)
        # a horizontal filter of height h spans h consecutive items and the whole embedding
        self.horizontal = nn.ModuleList(
            nn.Conv1d(dim, n_horizontal, kernel_size=h) for h in range(1, window + 1)
        )
        # the vertical filter: a learned weighted sum of the window's rows, per filter
        self.vertical = nn.Parameter(torch.randn(n_vertical, window) / math.sqrt(window))
        features = n_horizontal * window + n_vertical * dim
        self.project = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, dim), nn.ReLU())
        self.norm = nn.LayerNorm(dim)

    def windows(self, x: torch.Tensor) -> torch.Tensor:
        """[B, L, window, d]: for each position, the ``window`` items ending there (oldest first)."""
        padded = nn.functional.pad(x, (0, 0, self.window - 1, 0))
        return padded.unfold(1, self.window, 1).transpose(2, 3)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        win = self.windows(x).reshape(batch * length, self.window, dim)
        channels = win.transpose(1, 2)  # [N, d, window]: Conv1d slides along the window
        horizontal = [conv(channels).relu().amax(dim=2) for conv in self.horizontal]  # max over time
        vertical = torch.einsum("nwd,vw->nvd", win, self.vertical).flatten(1)
        out = self.project(torch.cat(horizontal + [vertical], dim=1))
        return self.norm(out).reshape(batch, length, dim)


def attention_mask(mask: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Bool [B * n_heads, L, L], True = may NOT attend: future positions and padding keys.

    Every position may attend to itself, so a padding query never has an empty row
    (an all-masked row would give NaN); padding outputs are ignored downstream.

    Taught in chapter 07.
    """
    length = mask.shape[1]
    future = torch.ones(length, length, dtype=torch.bool, device=mask.device).triu(1)
    blocked = future.unsqueeze(0) | ~mask.unsqueeze(1)  # [B, L(query), L(key)]
    blocked = blocked & ~torch.eye(length, dtype=torch.bool, device=mask.device)
    return blocked.repeat_interleave(n_heads, dim=0)


class SASRecEncoder(nn.Module):
    """SASRec: learned positions + causal multi-head self-attention (pre-norm blocks).

    Positions are counted so that the most recent slot is always ``max_len - 1``
    (histories are left-padded to the same length in training and scoring).
    Taught in chapter 07.
    """

    def __init__(self, dim: int = 64, max_len: int = 50, n_layers: int = 2, n_heads: int = 2,
                 dropout: float = 0.2, feedforward: int | None = None) -> None:
        super().__init__()
        self.max_len = int(max_len)
        self.n_heads = int(n_heads)
        self.position = nn.Embedding(max_len, dim)
        nn.init.normal_(self.position.weight, std=0.05)
        self.input_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            dim, n_heads, dim_feedforward=feedforward or 2 * dim, dropout=dropout,
            activation="gelu", batch_first=True, norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.output_norm = nn.LayerNorm(dim)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Add the positions (the most recent slot is ``max_len - 1``), normalise, drop out: the blocks' input."""
        length = x.shape[1]
        if length > self.max_len:
            raise DataError(
                f"history length {length} exceeds the model's max_len {self.max_len}; "
                f"pass max_len={length} when building the model or shorten the history."
            )
        positions = torch.arange(self.max_len - length, self.max_len, device=x.device)
        return self.dropout(self.input_norm(x + self.position(positions)))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self._embed(x), mask=attention_mask(mask, self.n_heads))
        return self.output_norm(h)

    def attention_maps(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The same forward pass, block by block, also returning every head's attention weights.

        ``x [B, L, d]`` and ``mask [B, L]`` as in ``forward``. Returns ``(h [B, L, d], weights
        [n_layers, B, n_heads, L, L])``; ``weights[l, b, k, t, s]`` is how much query position t
        reads key position s in head k of block l (rows sum to 1, zero on the future and on padding
        keys). ``nn.TransformerEncoderLayer`` asks its attention for no weights (and in eval mode
        may skip the module for a fused kernel), so a forward hook would see none: this re-runs each
        pre-norm block's sublayers with ``need_weights=True``; ``h`` equals ``forward``'s output
        (chapter 11 checks it). Taught in chapter 11.
        """
        x = self._embed(x)
        blocked = attention_mask(mask, self.n_heads)
        weights = []
        for layer in self.blocks.layers:  # norm_first: x + SA(norm1(x)), then x + FF(norm2(x))
            y = layer.norm1(x)
            out, w = layer.self_attn(y, y, y, attn_mask=blocked, need_weights=True, average_attn_weights=False)
            x = x + layer.dropout1(out)
            y = layer.norm2(x)
            x = x + layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(y)))))
            weights.append(w)
        if self.blocks.norm is not None:
            x = self.blocks.norm(x)
        return self.output_norm(x), torch.stack(weights)


class GRUEncoder(nn.Module):
    """GRU4Rec: a gated recurrent state read after each item, then a linear layer.

    The GRU's state is a tanh output, every coordinate inside (-1, 1), so on its own it
    can only make sharp scores if the item embeddings grow large; the linear layer after
    it (as in RecBole's GRU4Rec) lets the output take any scale (chapter 07 measures the
    difference). Taught in chapter 07.
    """

    def __init__(self, dim: int = 64, dropout: float = 0.2, n_layers: int = 1) -> None:
        super().__init__()
        self.gru = nn.GRU(dim, dim, num_layers=n_layers, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.project = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(x)
        return self.project(self.dropout(h))


class DNN(SequenceRecommender):
    """YouTube-DNN-style recommender (mean of the history + MLP). Taught in chapter 07."""

    @classmethod
    def make_encoder(cls, dim: int, max_len: int, dropout: float, **kwargs) -> nn.Module:
        return MeanEncoder(dim, dropout, **kwargs)


class Caser(SequenceRecommender):
    """Caser-style CNN recommender over the last ``window`` items (``window=5`` by default). Taught in chapter 07."""

    @classmethod
    def make_encoder(cls, dim: int, max_len: int, dropout: float, **kwargs) -> nn.Module:
        return CaserEncoder(dim, dropout=dropout, **kwargs)


class SASRec(SequenceRecommender):
    """SASRec: the Transformer recommender (causal self-attention; ``n_layers=2``, ``n_heads=2``).

    Taught in chapter 07.
    """

    @classmethod
    def make_encoder(cls, dim: int, max_len: int, dropout: float, **kwargs) -> nn.Module:
        return SASRecEncoder(dim, max_len, dropout=dropout, **kwargs)


class GRU4Rec(SequenceRecommender):
    """GRU4Rec: the recurrent reference. Taught in chapter 07.

    Its recurrent state moves slowly with small steps: the course's recipe gives it a
    larger learning rate (chapter 09's benchmark, ``hiercourse/results/``).
    """

    training_defaults = {"lr": 5e-3}

    @classmethod
    def make_encoder(cls, dim: int, max_len: int, dropout: float, **kwargs) -> nn.Module:
        return GRUEncoder(dim, dropout, **kwargs)
