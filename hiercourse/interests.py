"""How well an interest tree recovers the truth: Spearman per user and next-node accuracy.

On the synthetic shop (``make_shop``) every user's true interest weights are
known (``truth["department_weights"]``, ``truth["category_weights"]``). A model's
``beta`` per level is compared with them, user by user, and so is the naive
estimate (the share of each node in the same history window the model reads).

Taught in chapter 08.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from .datasets.schema import PATH_SEP, DataError


def rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``a`` with the same row of ``b`` (ties get average ranks).

    ``a`` and ``b`` are [n_users, n_nodes]; returns [n_users]. Rows where either side
    is constant get NaN. Taught in chapter 08.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise DataError(f"need two [n_users, n_nodes] arrays of the same shape, got {a.shape} and {b.shape}.")
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    denom = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (ra * rb).sum(1) / np.where(denom > 0, denom, 1), np.nan)


def node_prefixes(split, level: int) -> list[str]:
    """The full path prefix (e.g. "Home > Lamps") of every node of ``level``; index 0 = "<pad>".

    ``split`` is a ``SequenceSplit``; returns a list of n_nodes + 1 names, indexed by node id.
    Taught in chapter 08.
    """
    paths = np.asarray(split.item_paths)[:, level]
    items = split.items.sort_values("idx")
    prefixes = items["category_path"].astype(str).str.split(PATH_SEP, regex=False).str[: level + 1].str.join(PATH_SEP)
    names = ["<pad>"] * (int(paths.max()) + 1)
    for node, prefix in zip(paths[items["idx"].to_numpy()], prefixes):  # one pass over the items
        names[node] = prefix if node else "<pad>"
    return names


def truth_weights(split, truth: dict, level: int) -> np.ndarray:
    """The true interest weights aligned to the split: ``[n_users, n_nodes]`` (row u = encoded user u,
    column k = node k + 1 of ``level``). Level 0 uses ``department_weights``, level 1
    ``category_weights``. Taught in chapter 08.
    """
    if truth is None:
        raise DataError("this dataset has no ground truth; interest recovery needs make_shop data (data.truth).")
    key, names_key = {0: ("department_weights", "department_names"), 1: ("category_weights", "category_names")}.get(
        level, (None, None))
    if key is None or key not in truth:
        raise DataError(f"the ground truth has no weights for level {level}; it knows departments (0) and categories (1).")
    column = {name: k for k, name in enumerate(truth[names_key])}
    prefixes = node_prefixes(split, level)[1:]
    missing = [p for p in prefixes if p not in column]
    if missing:
        raise DataError(f"nodes {missing[:3]} of the split are not in the truth's {names_key}; "
                        "was the split built from the same make_shop data?")
    row = {int(u): r for r, u in enumerate(truth["user_ids"])}
    users = split.idmap.decode_users(np.arange(split.n_users))
    weights = np.asarray(truth[key], dtype=float)
    return weights[np.array([row[int(u)] for u in users])][:, [column[p] for p in prefixes]]


def history_shares(history: torch.Tensor, item_paths, level: int) -> np.ndarray:
    """The naive estimate: each node's share of the (non-pad) items in ``history``.

    ``history`` is a LongTensor [n_users, L] (0 = pad), ``item_paths`` is
    [n_items + 1, n_levels]; returns float64 [n_users, n_nodes] (column k = node k + 1
    of ``level``; rows sum to 1, or 0 for an empty history). Taught in chapter 08.
    """
    paths = torch.as_tensor(np.asarray(item_paths), dtype=torch.long)[:, level]
    n_nodes = int(paths.max())
    nodes = paths[history]  # [n_users, L], 0 = padding or no node
    # one bincount over (user, node) pairs: no [n_users, L, n_nodes] one-hot
    flat = (torch.arange(len(nodes)).unsqueeze(1) * (n_nodes + 1) + nodes).reshape(-1)
    counts = torch.bincount(flat, minlength=len(nodes) * (n_nodes + 1)).view(len(nodes), n_nodes + 1)[:, 1:].double()
    return (counts / counts.sum(1, keepdim=True).clamp_min(1)).numpy()


def interest_recovery(model, split, truth: dict, stage: str = "test", max_len: int = 50,
                      batch_size: int = 256) -> pd.DataFrame:
    """Per level: mean Spearman(beta, truth) and Spearman(naive share, truth) over users, and the
    next-node accuracy (argmax beta vs argmax share == the ``stage`` target's node).

    ``model`` is a ``HierarchicalInterestModel``, ``truth`` the shop's ``data.truth``.
    Returns one row per level: ``level``, ``level_name``, ``n_nodes``,
    ``spearman_beta``, ``spearman_naive``, ``next_node_acc_beta``, ``next_node_acc_naive``.

    Taught in chapter 08.
    """
    history = split.history(stage, max_len)
    target_nodes = np.asarray(split.item_paths)[split.targets(stage).numpy()]
    rows = []
    betas = [[] for _ in range(model.n_levels)]
    for start in range(0, len(history), batch_size):
        for level, out in enumerate(model.interests(history[start:start + batch_size])):
            betas[level].append(out["beta"].cpu().numpy())
    for level in range(model.n_levels):
        beta = np.concatenate(betas[level])
        naive = history_shares(history, split.item_paths, level)
        truth_w = truth_weights(split, truth, level)
        nodes = target_nodes[:, level]
        rows.append({
            "level": level,
            "level_name": split.level_names[level],
            "n_nodes": beta.shape[1],
            "spearman_beta": float(np.nanmean(rowwise_spearman(beta, truth_w))),
            "spearman_naive": float(np.nanmean(rowwise_spearman(naive, truth_w))),
            "next_node_acc_beta": float(np.mean(beta.argmax(1) + 1 == nodes)),
            "next_node_acc_naive": float(np.mean(naive.argmax(1) + 1 == nodes)),
        })
    return pd.DataFrame(rows)
