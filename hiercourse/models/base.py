"""The one model interface every recommender of the course follows. Taught in chapter 09 (used from 07).

A recommender is anything with

- ``scores(history [B, L], users [B]) -> [B, n_items + 1]``: a score for every item
  after each user's left-padded history (column 0, the padding item, is ignored by
  evaluation). Sequence models read ``history``, BPR reads ``users``;
- ``config``: the keyword arguments it was built with (``training.save``/``load``
  rebuild it from them);
- a way to learn, one of two:
  ``loss(*batch, negatives=None) -> scalar`` (gradient training by
  ``hiercourse.training.fit``; ``trains_on`` says what a batch is: "windows" =
  ``(inputs [B, L], targets [B, L])`` next-item windows, "interactions" =
  ``(users [B], items [B])`` training pairs), or ``fit(split) -> self`` (counting
  baselines: one pass, no gradient);
- ``from_split(split, dim=64, max_len=50, **kwargs)``: a classmethod that sizes the
  model for a split (items, users, hierarchy); the registry builds models with it;
- optionally ``training_defaults``: the parts of the training recipe it needs
  changed (e.g. GRU4Rec's larger learning rate), which the benchmark applies.

``hiercourse.models`` maps every model name to its class (``MODELS``,
``get_model``, ``build_model``).
"""
from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import torch

__all__ = ["Recommender", "count_parameters"]


@runtime_checkable
class Recommender(Protocol):
    """What every model offers (module docstring). Taught in chapter 09."""

    config: dict[str, Any]
    training_defaults: ClassVar[dict[str, Any]]

    def scores(self, history: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """``[B, n_items + 1]`` scores for ``history [B, L]`` (left-padded item codes) and ``users [B]``."""
        ...


def count_parameters(model) -> int:
    """How many numbers a model learned: trainable tensor elements of a torch module, or what a
    counting baseline stores (its ``n_parameters()``). Taught in chapter 06 (used in 07-09)."""
    if isinstance(model, torch.nn.Module):
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    if hasattr(model, "n_parameters"):
        return int(model.n_parameters())
    return 0
