"""Plots of chapter 11: score decompositions, attention maps, counterfactual checks.

Every function takes plain results (``explain_scores`` tables, attention weights,
``faithfulness`` frames) and returns the matplotlib ``Figure`` (or draws on ``ax``).
Taught in chapter 11.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hiercourse.explain import part_columns  # re-exported: the plots order the parts the same way

__all__ = ["part_columns", "plot_score_parts", "plot_attention_maps", "plot_attention_row", "plot_faithfulness"]

PART_COLOURS = {"state": "#4c72b0", "interest": "#55a868", "prior": "#c44e52"}


def _short(text: str, width: int = 24) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def plot_score_parts(table: pd.DataFrame, ax=None, title: str = ""):
    """Each listed item's score as a diverging stacked bar of its parts, the model's score as a dot.

    ``table``: ``explain_scores(...)`` (one row per item, ranked). Positive parts stack to the
    right of 0, negative ones (the log-prior) to the left; the levels of a part share its colour,
    finer levels lighter. Draws on ``ax`` (a new one by default) and returns it. Taught in chapter 11.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(9, 0.45 * len(table) + 1.5))
    labels = table["title"] if "title" in table else table["item"].astype(str)
    y = np.arange(len(table))[::-1]
    left_pos, left_neg = np.zeros(len(table)), np.zeros(len(table))
    seen_kinds: dict[str, int] = {}
    for column in part_columns(table):
        kind = column.split("/")[0]
        shade = seen_kinds.get(kind, 0)
        seen_kinds[kind] = shade + 1
        values = table[column].to_numpy(dtype=float)
        start = np.where(values >= 0, left_pos, left_neg)
        ax.barh(y, values, left=start, color=PART_COLOURS[kind], alpha=1.0 - 0.35 * shade, edgecolor="white",
                label=column)
        left_pos = left_pos + np.clip(values, 0, None)
        left_neg = left_neg + np.clip(values, None, 0)
    ax.scatter(table["score"], y, color="black", zorder=3, s=18, label="model score (sum)")
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(y, [_short(s) for s in labels])
    ax.set_xlabel("contribution to the score s(u, j)")
    ax.set_title(title or "why these items: the score split into the model's terms")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_attention_maps(weights, labels: Sequence[str], last: int = 12, title: str = ""):
    """Heatmaps of one user's self-attention, one panel per (layer, head), over the last ``last`` positions.

    ``weights``: ``[n_layers, n_heads, L, L]`` (one user of ``explain.attention_maps``), rows =
    query positions (the state being computed), columns = key positions (what it reads);
    ``labels``: the ``L`` history item names. The colour scale runs from 0 to the largest weight
    shown (a row also reads positions older than the window drawn, so it need not sum to 1 here).
    Returns the Figure. Taught in chapter 11.
    """
    weights = np.asarray(weights)
    n_layers, n_heads, length, _ = weights.shape
    start = max(0, length - last)
    labels = [_short(s, 16) for s in list(labels)[start:]]
    maps = weights[:, :, start:, start:]
    fig, axes = plt.subplots(n_layers, n_heads, figsize=(5.2 * n_heads + 1.5, 5.0 * n_layers), squeeze=False,
                             constrained_layout=True)
    vmax = float(maps.max()) or 1.0
    for layer in range(n_layers):
        for head in range(n_heads):
            ax = axes[layer, head]
            image = ax.imshow(maps[layer, head], cmap="magma", vmin=0, vmax=vmax)
            ax.set_title(f"block {layer + 1}, head {head + 1}", fontsize=10)
            ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=7)
            ax.set_yticks(range(len(labels)), labels if head == 0 else [], fontsize=7)
            if head == 0:
                ax.set_ylabel("query (state after this behaviour)")
            if layer == n_layers - 1:
                ax.set_xlabel("key (behaviour read)")
    fig.colorbar(image, ax=axes, shrink=0.6, label="attention weight")
    fig.suptitle(title or "self-attention of the SASRec encoder")
    return fig


def plot_attention_row(weights, highlight=None, ax=None, title: str = "", label: str = "highlighted"):
    """The last state's attention over every history position, one line per block (heads averaged).

    ``weights``: ``[n_layers, n_heads, L, L]`` (one user); ``highlight``: bool ``[L]`` positions to mark
    (e.g. behaviours of the recommended item's category), shaded behind the lines. Position 0 is the
    oldest slot, ``L - 1`` the latest behaviour. Returns ``ax``. Taught in chapter 11.
    """
    weights = np.asarray(weights)
    row = weights[:, :, -1, :].mean(1)  # [n_layers, L]
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 3.2))
    positions = np.arange(row.shape[1])
    if highlight is not None:
        marked = np.flatnonzero(np.asarray(highlight))
        ax.bar(marked, np.full(len(marked), row.max() * 1.05), width=1.0, color="#dddddd", label=label)
    for layer in range(row.shape[0]):
        ax.plot(positions, row[layer], marker="o", ms=3, label=f"block {layer + 1}")
    ax.axhline(1.0 / max(1, row.shape[1]), color="grey", ls=":", lw=1, label="uniform over the window")
    ax.set_xlabel("history position (0 = oldest slot, right = latest behaviour)")
    ax.set_ylabel("attention of the last state")
    ax.set_title(title or "what the final state reads (heads averaged)")
    ax.legend(fontsize=8, loc="upper left")
    return ax


def plot_faithfulness(frame: pd.DataFrame, ax=None, title: str = ""):
    """Score drop when the named history items are removed (y) against removing as many random ones (x).

    ``frame``: ``faithfulness(...)``; one dot per user, coloured by ``faithful``; symmetric-log
    axes (drops span orders of magnitude) and the diagonal (named = random). Returns ``ax``.
    Taught in chapter 11.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    for flag, colour, name in [(True, "#55a868", "faithful"), (False, "#c44e52", "not faithful")]:
        part = frame[frame["faithful"] == flag]
        ax.scatter(part["drop_random"], part["drop_named"], s=10, alpha=0.6, color=colour,
                   label=f"{name} ({len(part)})")
    low = float(min(frame["drop_random"].min(), frame["drop_named"].min()))
    high = float(max(frame["drop_random"].max(), frame["drop_named"].max()))
    ax.plot([low, high], [low, high], color="grey", lw=1, ls="--", label="named = random")
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_xlabel("score drop, random history items removed (mean of draws)")
    ax.set_ylabel("score drop, named history items removed")
    ax.set_title(title or "counterfactual check of the explanations")
    ax.legend(fontsize=8)
    return ax
