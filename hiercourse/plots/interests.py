"""Drawing a user's interest tree, and comparing it with the truth. Taught in chapter 08."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def node_parents(item_paths, level: int) -> np.ndarray:
    """``parents[c]``: the level-``level`` node holding node c of level ``level + 1`` (0 = none).

    ``item_paths`` is ``[n_items + 1, n_levels]`` (``SequenceSplit.item_paths``); returns
    an int array ``[n_nodes(level + 1) + 1]``. In a nested tree every fine node has one
    parent; otherwise the most common one is taken. Taught in chapter 08.
    """
    paths = np.asarray(item_paths)
    coarse, fine = paths[1:, level], paths[1:, level + 1]
    n_coarse, n_fine = int(paths[:, level].max()) + 1, int(paths[:, level + 1].max()) + 1
    pairs = np.bincount(fine * n_coarse + coarse, minlength=n_fine * n_coarse).reshape(n_fine, n_coarse)
    pairs[:, 0] = 0
    parents = pairs.argmax(1)
    parents[pairs.max(1) == 0] = 0
    return parents


def plot_interest_tree(model, history: torch.Tensor, title: str = "", top: Sequence[int] = (4, 3),
                       item_names: Sequence[str] | None = None, items_per_leaf: int = 2, ax=None):
    """Draw one user's interest tree: user -> top coarse nodes -> their top fine nodes (-> items).

    Edge width and node colour follow ``beta``; each node shows its name and beta,
    each leaf the history items behind it (most attended first). ``history`` is one
    user's left-padded history ``[L]`` or ``[1, L]``; ``model`` is a
    ``HierarchicalInterestModel``. Draws on ``ax`` (a new one by default) and returns
    it. Taught in chapter 08.
    """
    if history.dim() == 1:
        history = history.unsqueeze(0)
    levels = model.interests(history[:1])
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 5.5))
    cmap = plt.get_cmap("viridis")
    seq = history[0].cpu().numpy()
    names = model.node_names

    def leaf_items(level: int, node: int) -> str:
        nodes = levels[level]["nodes"][0].cpu().numpy()
        alpha = levels[level]["alpha"][0].cpu().numpy()
        picks = [seq[t] for t in np.argsort(-alpha) if nodes[t] == node]
        picks = list(dict.fromkeys(picks))[:items_per_leaf]
        label = [str(item_names[j]) if item_names is not None else f"item {j}" for j in picks]
        return "\n".join(s if len(s) <= 28 else s[:27] + "..." for s in label)

    beta0 = levels[0]["beta"][0].cpu().numpy()
    coarse = np.argsort(-beta0)[: top[0]] + 1
    rows = []  # (level, node, beta, parent_row)
    for c in coarse:
        rows.append((0, int(c), float(beta0[c - 1]), None))
    if model.n_levels > 1:
        parents = node_parents(model.item_paths.cpu().numpy(), 0)
        beta1 = levels[1]["beta"][0].cpu().numpy()
        for parent_row, c in enumerate(coarse):
            children = np.flatnonzero(parents == c)
            children = children[np.argsort(-beta1[children - 1])][: top[1]]
            rows.extend((1, int(f), float(beta1[f - 1]), parent_row) for f in children)
    y_of = {}
    # leaves spread evenly; a coarse node sits at the mean height of its children
    leaf_level = 1 if model.n_levels > 1 else 0
    leaves = [i for i, r in enumerate(rows) if r[0] == leaf_level]
    for rank, i in enumerate(leaves):
        y_of[i] = 1 - rank / max(1, len(leaves) - 1) if len(leaves) > 1 else 0.5
    for i, r in enumerate(rows):
        if r[0] == 0 and i not in y_of:
            kids = [y_of[j] for j, s in enumerate(rows) if s[3] == i and j in y_of]
            y_of[i] = float(np.mean(kids)) if kids else 0.5
    x_of = {0: 0.35, 1: 0.7}
    root = (0.0, 0.5)
    ax.scatter(*root, s=600, color="black", zorder=3)
    ax.text(root[0], root[1] - 0.07, title or "user", ha="center", va="top", fontsize=10, weight="bold")
    for i, (level, node, beta, parent_row) in enumerate(rows):
        x, y = x_of[level], y_of[i]
        px, py = root if parent_row is None else (x_of[0], y_of[parent_row])
        ax.plot([px, x], [py, y], color=cmap(beta), lw=1 + 12 * beta, alpha=0.7, zorder=1)
        ax.scatter(x, y, s=300 + 1500 * beta, color=cmap(beta), zorder=2, edgecolor="black")
        ax.text(x + 0.025, y, f"{names[level][node]}\nbeta={beta:.2f}", va="center", fontsize=8)
        if level == leaf_level:
            ax.text(x + 0.16, y, leaf_items(level, node), va="center", fontsize=7, color="dimgray")
    ax.set_xlim(-0.08, 1.1)
    ax.set_ylim(-0.12, 1.12)
    ax.axis("off")
    ax.set_title(f"Interest tree ({' -> '.join(model.level_names)}): edge width = beta", fontsize=10)
    return ax


def plot_interest_comparison(beta: np.ndarray, naive: np.ndarray, truth: np.ndarray,
                             node_names: Sequence[str], title: str = "", top: int = 12, ax=None):
    """Bars of one user's beta, naive history share and true weight per node (top nodes by truth).

    ``beta``, ``naive`` and ``truth`` are ``[n_nodes]`` arrays aligned with
    ``node_names``. Returns the Axes. Taught in chapter 08.
    """
    order = np.argsort(-np.asarray(truth))[:top]
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.5))
    x = np.arange(len(order))
    for shift, values, label in [(-0.27, truth, "truth"), (0, beta, "beta (model)"), (0.27, naive, "history share")]:
        ax.bar(x + shift, np.asarray(values)[order], width=0.27, label=label)
    ax.set_xticks(x, [node_names[i] for i in order], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("weight")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_spearman(rho_model: np.ndarray, rho_naive: np.ndarray, level_name: str = "", ax=None):
    """Per-user Spearman correlation with the truth: model (beta) against the naive share.

    ``rho_model`` and ``rho_naive`` are ``[n_users]`` (from ``interests.rowwise_spearman``;
    NaN rows are left out). Points above the diagonal are users whose tree the model
    reads better than counting does. Returns the Axes. Taught in chapter 08.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4.5))
    ok = ~(np.isnan(rho_model) | np.isnan(rho_naive))
    ax.scatter(rho_naive[ok], rho_model[ok], s=8, alpha=0.5)
    ax.plot([-1, 1], [-1, 1], color="gray", lw=1)
    ax.set_xlabel("Spearman(history share, truth)")
    ax.set_ylabel("Spearman(beta, truth)")
    ax.set_title(f"{level_name}: model {np.nanmean(rho_model):.2f} vs naive {np.nanmean(rho_naive):.2f}")
    return ax
