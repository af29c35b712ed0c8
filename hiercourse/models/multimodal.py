"""Multi-modal item vectors: an item's id embedding fused with a vector of its title.

Taught in chapter 12.

An id embedding ``e_j`` is learned only from item ``j``'s own interactions: a new item
has none, so its ``e_j`` is noise. A content vector ``t_j`` (here: the title through
``features.title_vectors``) exists from the item's first day. ``TextSASRec`` reads and
scores items with ``v_j = e_j + W t_j`` (``W`` a learned ``[d, text_dim]`` map shared by
all items), so what the model learns about titles transfers to items it never saw.
``forget_new_item_ids`` sets the id part of never-trained items to zero before scoring:
the sampled softmax has only ever pushed those vectors *down* (they were negatives,
never targets), so they carry "never the answer" and nothing else.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import DataError
from .encoders import SASRec

__all__ = ["TextSASRec", "forget_new_item_ids"]


class TextSASRec(SASRec):
    """SASRec whose item vectors are ``e_j + W t_j``: id embedding plus projected title vector.

    ``item_text`` [n_items + 1, text_dim] (row 0 = padding, zero) is a fixed buffer; without
    it the buffer starts at zero (``training.load`` then fills it from the saved weights).
    Registered as "text-sasrec"; ``from_split`` computes the title vectors of
    ``split.items`` (``features.title_vectors``, ``text_dim`` dimensions). Taught in chapter 12.
    """

    def __init__(self, n_items: int, dim: int = 64, max_len: int = 50, dropout: float = 0.2,
                 item_text=None, text_dim: int = 32, **encoder_kwargs) -> None:
        super().__init__(n_items, dim=dim, max_len=max_len, dropout=dropout, **encoder_kwargs)
        if item_text is None:
            text = torch.zeros(n_items + 1, text_dim)
        else:
            text = torch.as_tensor(np.asarray(item_text), dtype=torch.float32)
            if text.dim() != 2 or text.shape[0] != n_items + 1:
                raise DataError(f"item_text must be [n_items + 1, text_dim] = [{n_items + 1}, k], "
                                f"got {tuple(text.shape)}")
            text = text.clone()
            text[0] = 0.0
        self.register_buffer("item_text", text)
        self.text_projection = nn.Linear(text.shape[1], dim, bias=False)
        self.config = {**self.config, "text_dim": int(text.shape[1])}

    @classmethod
    def from_split(cls, split, dim: int = 64, max_len: int = 50, text_dim: int = 32, seed: int = 0,
                   **kwargs) -> TextSASRec:
        """The model over ``split``'s items, with title vectors computed from ``split.items["title"]``."""
        from ..features import title_vectors

        titles = split.items.sort_values("idx")["title"].tolist()
        text = np.zeros((split.n_items + 1, text_dim), dtype=np.float32)
        vectors = title_vectors(titles, dim=text_dim, seed=seed)
        text[1:, : vectors.shape[1]] = vectors
        return cls(split.n_items, dim=dim, max_len=max_len, item_text=text, text_dim=text_dim, **kwargs)

    def item_vectors(self) -> torch.Tensor:
        """[n_items + 1, d]: ``e_j + W t_j`` (row 0 stays 0)."""
        return self.item_embedding.weight + self.text_projection(self.item_text)


def forget_new_item_ids(model: nn.Module, counts) -> int:
    """Zero the id embedding ``e_j`` of every item whose training count is 0 (in place).

    ``counts`` [n_items + 1]: ``split.item_counts()`` of the split the model was trained on.
    Works on any model with an ``item_embedding`` (SASRec, the hierarchical and the text
    models): what is left of a new item's vector is its category or title part.
    Returns the number of items zeroed. Taught in chapter 12.
    """
    counts = torch.as_tensor(np.asarray(counts))
    weight = model.item_embedding.weight
    if len(counts) != weight.shape[0]:
        raise DataError(f"counts has {len(counts)} entries; the model has {weight.shape[0]} item rows")
    new = counts == 0
    new[0] = False  # padding is zero already
    with torch.no_grad():
        weight[new.to(weight.device)] = 0.0
    return int(new.sum())
