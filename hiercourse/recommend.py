"""Top-K recommendation lists a person can read: titles, category paths, scores.

Taught in chapter 09.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from hiercourse.errors import DataError
from hiercourse.evaluation import candidate_mask, model_device, scoring
from hiercourse.preprocessing import STAGES, check_stage

__all__ = ["recommend"]


def recommend(model, split, users, k: int = 10, stage: str = "test", max_len: int = 50) -> pd.DataFrame:
    """The top-``k`` unseen items for one user id or a list of them (original ids).

    ``model`` offers ``scores(history [B, L], users [B]) -> [B, n_items + 1]``;
    ``split`` is the ``SequenceSplit`` it was trained on; ``max_len`` is the L of the
    history it reads.

    ``stage`` says at which moment the list is made: ``"test"`` (before the
    user's last item, so the list can be checked against it: column ``hit``),
    ``"valid"``, or ``"all"`` (after everything in the data: what to show next).
    Items the user met before that moment are never recommended.

    Returns one row per (user, rank): ``user`` (original id), ``rank`` (1..k),
    ``item`` (original id), ``title``, ``category_path``, ``categories`` (every
    top-level label, e.g. all of a movie's genres), ``score`` and, for
    "valid"/"test", ``hit`` (the item is the one the user really chose next).
    Unknown user ids raise a ``DataError``. Taught in chapter 09.
    """
    check_stage(stage, STAGES + ("all",))
    if k < 1:
        raise DataError(f"k must be >= 1, got {k}")
    original = np.atleast_1d(np.asarray(users))
    if original.size == 0:
        raise DataError("no users given: pass one user id or a list of them")
    codes = torch.as_tensor(split.idmap.encode_users(original), dtype=torch.long)  # DataError if unknown

    history = split.history(stage, max_len)[codes]
    device = model_device(model)
    with scoring(model):
        scores = model.scores(history.to(device), codes.to(device)).float().cpu()
    indptr, indices = (np.asarray(part) for part in split.seen(stage))
    # no target exception here: a list for people never repeats what they have seen
    candidates = candidate_mask(indptr, indices, codes, split.n_items + 1)
    masked = scores.masked_fill(~candidates, -math.inf)
    top_scores, top_items = masked.topk(min(k, split.n_items), dim=1)

    keep = torch.isfinite(top_scores)  # a user who has seen nearly everything gets a shorter list
    rows = torch.arange(len(codes))[:, None].expand_as(top_items)[keep].numpy()
    ranks = (torch.arange(top_items.shape[1]) + 1)[None, :].expand_as(top_items)[keep].numpy()
    items = top_items[keep].numpy()
    table = split.items.set_index("idx")
    out = pd.DataFrame(
        {
            "user": original[rows],
            "rank": ranks,
            "item": split.idmap.decode_items(items),
            "title": table.loc[items, "title"].to_numpy(),
            "category_path": table.loc[items, "category_path"].to_numpy(),
            "categories": [", ".join(c) for c in table.loc[items, "categories"]],
            "score": top_scores[keep].numpy(),
        }
    )
    if stage != "all":
        out["hit"] = items == split.targets(stage)[codes].numpy()[rows]
    return out
