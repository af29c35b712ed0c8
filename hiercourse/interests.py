"""How well an interest tree recovers the truth: Spearman per user and next-node accuracy.

On the synthetic shop (``make_shop``) every user's true interest weights are
known (``truth["department_weights"]``, ``truth["category_weights"]``). A model's
``beta`` per level is compared with them, user by user, and so is the naive
estimate (the share of each node in the same history window the model reads).

The truth gives most nodes weight 0 (a user likes a few categories), and the counts give 0 to every node the
window never visited: both tie the same nodes. A softmax never ties, and Spearman charges it for ordering nodes
the truth ties, however well it orders the rest: ``tiefree_ceiling`` is the most any estimate without ties can
reach, and beta is also read with its unvisited nodes tied, as the counts are (``spearman_beta_visited``).

Taught in chapter 08.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .errors import DataError
from .features import truth_weights
from .preprocessing import check_stage


def rowwise_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of ``a`` with the same row of ``b`` (ties get average ranks).

    ``a`` and ``b`` are [n_users, n_nodes]; returns [n_users]. Rows where either side
    is constant get NaN. Taught in chapter 08.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise DataError(f"need two [n_users, n_nodes] arrays of the same shape, got {a.shape} and {b.shape}.")
    from scipy.stats import rankdata

    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    denom = np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (ra * rb).sum(1) / np.where(denom > 0, denom, 1), np.nan)


def tiefree_ceiling(truth: np.ndarray) -> np.ndarray:
    """Per user, the highest Spearman correlation with ``truth`` an estimate that gives every node a different value
    can reach (a softmax's beta is such an estimate): that of the truth itself with its ties broken.

    ``truth`` is [n_users, n_nodes]; returns [n_users]. How the ties are broken does not matter: the truth's rank is
    the same across a tie, so only the sum of the estimate's ranks there counts, and that sum is fixed once the tie
    keeps its place in the order; keeping that order is the best (rearrangement inequality). Taught in chapter 08.
    """
    from scipy.stats import rankdata

    truth = np.asarray(truth, dtype=float)
    return rowwise_spearman(rankdata(truth, method="ordinal", axis=1), truth)


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


def interest_recovery(model, split, truth: dict | None = None, stage: str = "test", max_len: int = 50,
                      batch_size: int = 256) -> pd.DataFrame:
    """Per level: mean Spearman(beta, truth) and Spearman(naive share, truth) over users, and the
    next-node accuracy (argmax beta vs argmax share == the ``stage`` target's node).

    ``model`` is a ``HierarchicalInterestModel``, ``truth`` the shop's ground truth
    (default ``split.truth``). Returns one row per level: ``level``, ``level_name``,
    ``n_nodes``, ``spearman_beta``, ``spearman_beta_visited`` (beta with the nodes the window never visited
    tied at 0, as the counts tie them), ``spearman_naive``, ``spearman_tiefree_ceiling`` (``tiefree_ceiling``:
    what beta's own ``spearman_beta`` can reach at most), ``next_node_acc_beta``, ``next_node_acc_naive``.

    Taught in chapter 08.
    """
    check_stage(stage)
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
        truth_w = truth_weights(split, level, truth)
        nodes = target_nodes[:, level]
        rows.append({
            "level": level,
            "level_name": split.level_names[level],
            "n_nodes": beta.shape[1],
            "spearman_beta": float(np.nanmean(rowwise_spearman(beta, truth_w))),
            "spearman_beta_visited": float(np.nanmean(rowwise_spearman(np.where(naive > 0, beta, 0.0), truth_w))),
            "spearman_naive": float(np.nanmean(rowwise_spearman(naive, truth_w))),
            "spearman_tiefree_ceiling": float(np.nanmean(tiefree_ceiling(truth_w))),
            "next_node_acc_beta": float(np.mean(beta.argmax(1) + 1 == nodes)),
            "next_node_acc_naive": float(np.mean(naive.argmax(1) + 1 == nodes)),
        })
    return pd.DataFrame(rows)
