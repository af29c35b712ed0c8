"""The base every sequence recommender shares: item embeddings, tied scoring, next-item loss.

A sequence model reads a left-padded history ``[B, L]`` (0 = padding), turns it
into one hidden state per position with an *encoder* (chapter 07: mean + MLP,
Caser convolutions, causal self-attention, GRU), and scores every item by a dot
product with the same item embeddings it read the history with (tied input and
output embeddings): ``score(j) = h_T . e_j``.

Taught in chapter 07.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataError


def check_sequences(seq: torch.Tensor, n_items: int, what: str = "history") -> None:
    """Raise a DataError when ``seq`` is not a [B, L] tensor of item codes 0..n_items. Taught in chapter 07."""
    if seq.dim() != 2:
        raise DataError(f"{what} must be a [batch, length] LongTensor of item codes, got shape {tuple(seq.shape)}.")
    if seq.dtype not in (torch.int64, torch.int32):
        raise DataError(f"{what} must hold integer item codes (torch.long), got {seq.dtype}.")
    if seq.numel() and (int(seq.min()) < 0 or int(seq.max()) > n_items):
        raise DataError(
            f"{what} holds item codes outside 0..{n_items} (min {int(seq.min())}, max {int(seq.max())}); "
            "encode items with the split's IdMap (0 is padding) and build the model with that split's n_items."
        )


def next_item_loss(item_logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over all items; ``item_logits`` [N, n_items] has no padding column (item j is column j-1).

    Taught in chapter 07.
    """
    return F.cross_entropy(item_logits, targets - 1)


@dataclass
class Negatives:
    """Items drawn for a sampled softmax, shared by the whole batch, and the log-probability of drawing each item.

    ``items [N]`` (codes 1..n_items, drawn with replacement), ``log_q [n_items + 1]``.
    Made by ``hiercourse.training.NegativeSampler``. Taught in chapter 09.
    """

    items: torch.Tensor
    log_q: torch.Tensor


def sampled_softmax_loss(positive: torch.Tensor, negative: torch.Tensor, targets: torch.Tensor,
                         negatives: Negatives, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of the target against ``N`` sampled items instead of the whole catalogue.

    ``positive [M]`` is each row's target score, ``negative [M, N]`` its scores of the
    shared sampled items. Every score is corrected by ``- log q(item)`` (Bengio & Senecal
    2008; Yi et al. 2019): popular items are drawn often, and without the correction
    the model would learn to push them down too hard. A sampled item that is the row's
    own target is not a negative there (masked). With ``N`` in the thousands the
    gradient is close to the full softmax's at a fraction of its cost.
    Taught in chapter 09.
    """
    log_q = negatives.log_q
    pos = positive - log_q[targets]
    neg = negative - log_q[negatives.items]
    neg = neg.masked_fill(negatives.items.unsqueeze(0) == targets.unsqueeze(1), float("-inf"))
    logits = torch.cat([pos.unsqueeze(1), neg], 1)
    return F.cross_entropy(logits, logits.new_zeros(len(logits), dtype=torch.long), reduction=reduction)


class SequenceRecommender(nn.Module):
    """Item embeddings + an encoder + tied dot-product scoring (the chapter-07 family).

    A subclass names its encoder in ``make_encoder``: a module mapping
    ``(x [B, L, d], mask [B, L]) -> h [B, L, d]`` where ``h[:, t]`` may only depend on
    positions ``<= t`` (so one pass trains every prefix). ``encoder_kwargs`` go to
    ``make_encoder`` (e.g. Caser's ``window``); ``encoder=`` passes a ready module instead
    (the hierarchical model does). Follows the model interface (``hiercourse.models.base``).

    Taught in chapter 07.
    """

    trains_on: ClassVar[str] = "windows"  # batches of (inputs [B, L], targets [B, L])
    training_defaults: ClassVar[dict[str, Any]] = {}  # changes to the course's training recipe

    def __init__(self, n_items: int, dim: int = 64, max_len: int = 50, dropout: float = 0.2,
                 encoder: nn.Module | None = None, **encoder_kwargs) -> None:
        super().__init__()
        if n_items < 1:
            raise DataError(f"n_items must be >= 1, got {n_items}.")
        self.n_items = int(n_items)
        self.dim = int(dim)
        self.max_len = int(max_len)
        if encoder is None:  # built before the embeddings: a seed gives the same weights as it always did
            encoder = self.make_encoder(dim=dim, max_len=max_len, dropout=dropout, **encoder_kwargs)
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.item_embedding.weight, std=0.05)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()
        self.input_dropout = nn.Dropout(dropout)
        self.encoder = encoder
        self.config = dict(n_items=n_items, dim=dim, max_len=max_len, dropout=dropout, **encoder_kwargs)

    @classmethod
    def make_encoder(cls, dim: int, max_len: int, dropout: float, **kwargs) -> nn.Module:
        """The encoder of this family, ``[B, L, d] -> [B, L, d]`` (subclasses say which)."""
        raise NotImplementedError(f"{cls.__name__} must define make_encoder(dim, max_len, dropout, **kwargs)")

    @classmethod
    def from_split(cls, split, dim: int = 64, max_len: int = 50, **kwargs) -> SequenceRecommender:
        """The model sized for ``split``'s catalogue (the registry builds models this way)."""
        return cls(split.n_items, dim=dim, max_len=max_len, **kwargs)

    # -- the pieces, overridable by richer models (the hierarchical one adds path embeddings)
    def item_vectors(self) -> torch.Tensor:
        """[n_items + 1, d]: the vector of every item, used to read histories and to score."""
        return self.item_embedding.weight

    def hidden(self, seq: torch.Tensor, vectors: torch.Tensor | None = None) -> torch.Tensor:
        """[B, L, d]: the encoder's state after each position (padding positions are zeroed inputs)."""
        vectors = self.item_vectors() if vectors is None else vectors
        mask = seq > 0
        x = vectors[seq] * mask.unsqueeze(-1)
        return self.encoder(self.input_dropout(x), mask)

    def scores(self, history: torch.Tensor, users: torch.Tensor | None = None) -> torch.Tensor:
        """[B, n_items + 1]: a score for every item after the history (``users`` is ignored)."""
        check_sequences(history, self.n_items)
        vectors = self.item_vectors()
        return self.hidden(history, vectors)[:, -1] @ vectors.T

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor, negatives: Negatives | None = None) -> torch.Tensor:
        """Next-item cross-entropy at every non-pad target position: over all items, or, with
        ``negatives``, over the target and the sampled items (``sampled_softmax_loss``)."""
        check_sequences(inputs, self.n_items, "inputs")
        vectors = self.item_vectors()
        keep = targets > 0
        if not keep.any():
            raise DataError("the batch has no target (all targets are padding); check train_windows.")
        h = self.hidden(inputs, vectors)[keep]
        if negatives is None:
            return next_item_loss(h @ vectors[1:].T, targets[keep])
        target = targets[keep]
        positive = (h * vectors[target]).sum(-1)
        return sampled_softmax_loss(positive, h @ vectors[negatives.items].T, target, negatives)
