"""Cold-start protocols: new items and new users, built as modified leave-one-out splits.

Taught in chapter 12.

Two questions the plain protocol cannot answer, because almost every test item has
been seen in training and almost every user has a long history:

- *New items* (``hold_out_items``): a seeded share of items loses every training
  interaction, as if it had just entered the catalogue. Their validation and test
  occurrences stay, so the users whose test item is one of them (``new_item_users``)
  measure how well a model ranks an item it has never been trained on.
- *New users* (``truncate_histories``): each user keeps only the last ``n`` behaviours
  before the test item, as if they had just arrived; the model stays the one trained
  on the full split.

Both return a new ``SequenceSplit`` with the same users, items and id map (so models
built on the original split score it unchanged); nothing is copied per user in Python.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from hiercourse.errors import DataError
from hiercourse.preprocessing import SequenceSplit

__all__ = ["hold_out_items", "new_item_users", "truncate_histories"]


def _positions(split: SequenceSplit) -> tuple[np.ndarray, np.ndarray]:
    """For every position of ``split.seq``: its user, and how many events the user has after it."""
    lengths = split.lengths
    users = np.repeat(np.arange(split.n_users), lengths)
    after = np.repeat(split.offsets[1:], lengths) - 1 - np.arange(len(split.seq))
    return users, after


def _keep(split: SequenceSplit, keep: np.ndarray, **info) -> SequenceSplit:
    """``split`` with only the positions where ``keep`` is True (the users' time order is unchanged)."""
    users, _ = _positions(split)
    offsets = np.zeros(split.n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users[keep], minlength=split.n_users), out=offsets[1:])
    return dataclasses.replace(split, seq=split.seq[keep], offsets=offsets, times=split.times[keep],
                               info={**split.info, **info})


def hold_out_items(split: SequenceSplit, share: float = 0.3, seed: int = 0,
                   pool: str = "test") -> tuple[SequenceSplit, np.ndarray]:
    """Make a seeded share of items *new*: remove every training interaction they have.

    ``pool="test"`` draws the share among the distinct test items (every drawn item is
    then some user's test target, so the protocol has many cases); ``pool="all"`` among
    the whole catalogue. The validation and test positions are never removed (they are
    not training data). Returns ``(new_split, items)``: the modified split (same users,
    items and ids; ``item_counts()[items]`` is 0) and the sorted item codes made new.
    Users left with an empty train part keep their validation and test items.
    Taught in chapter 12.
    """
    if not 0 < share <= 1:
        raise DataError(f"share must lie in (0, 1], got {share}")
    if pool == "test":
        candidates = np.unique(split.targets("test").numpy())
    elif pool == "all":
        candidates = np.arange(1, split.n_items + 1)
    else:
        raise DataError(f"pool must be 'test' or 'all', not {pool!r}")
    n = max(1, int(round(share * len(candidates))))
    items = np.sort(np.random.default_rng(seed).choice(candidates, n, replace=False))
    _, after = _positions(split)
    removed = (after >= 2) & np.isin(split.seq, items)  # train positions: 2+ events after them
    new = _keep(split, ~removed, new_items=int(n), new_item_pool=pool, new_item_seed=seed,
                removed_interactions=int(removed.sum()))
    return new, items


def new_item_users(split: SequenceSplit, items, stage: str = "test") -> np.ndarray:
    """Encoded users whose ``stage`` target is one of ``items`` (the cases of the new-item protocol).

    Returns a sorted int array. Taught in chapter 12.
    """
    return np.flatnonzero(np.isin(split.targets(stage).numpy(), np.asarray(items)))


def truncate_histories(split: SequenceSplit, n: int) -> SequenceSplit:
    """Every user as a newcomer: only the last ``n`` behaviours before the test item are kept.

    The validation item is the most recent of them, so ``split.history("test")`` holds
    ``n`` items (fewer for users who had fewer) and ``seen("test")`` only those. Use it
    to *evaluate* a model trained on the full split; the truncated split has no
    training windows for ``n <= 2``. Taught in chapter 12.
    """
    if int(n) < 1:
        raise DataError(f"n must be >= 1 (the validation item is the last behaviour), got {n}")
    _, after = _positions(split)
    return _keep(split, after <= int(n), truncated_to=int(n))
