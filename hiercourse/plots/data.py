"""Plots for the data chapters: long tails, the event funnel, sequence lengths, interest shares.

Taught in chapters 02 and 03. Each function draws into a new figure and returns
it, so a notebook shows it and a script can ``fig.savefig(...)`` it.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hiercourse.datasets.schema import EVENTS, PATH_SEP

FUNNEL = EVENTS[:4]  # view -> click -> cart -> purchase


def _rank_frequency(ax, counts: np.ndarray, label: str, what: str) -> None:
    counts = np.sort(np.asarray(counts))[::-1]
    ranks = np.arange(1, len(counts) + 1)
    ax.loglog(ranks, counts, marker=".", ls="none", ms=3, label=label)
    ax.set(xlabel=f"{what} rank (1 = most active)" if what == "user" else f"{what} rank (1 = most popular)",
           ylabel="interactions")


def plot_long_tail(frames: pd.DataFrame | dict[str, pd.DataFrame], head_fraction: float = 0.2):
    """Log-log rank-frequency plots of item popularity and user activity.

    ``frames`` is one interactions frame or a dict ``{label: frame}`` to compare
    datasets. A steep fall on log-log axes means a long tail: a few items (users)
    take most interactions (only a straight line would be a power law). The item
    panel shades the top ``head_fraction`` of the first frame's items and says whose.
    Returns the Figure. Taught in chapter 02 (chapter 03 measures the same
    concentration with ``features.long_tail_summary``).
    """
    frames = {"data": frames} if isinstance(frames, pd.DataFrame) else dict(frames)
    fig, (ax_items, ax_users) = plt.subplots(1, 2, figsize=(11, 4))
    for label, frame in frames.items():
        _rank_frequency(ax_items, frame["item"].value_counts().to_numpy(), label, "item")
        _rank_frequency(ax_users, frame["user"].value_counts().to_numpy(), label, "user")
    first_label, first_frame = next(iter(frames.items()))
    first = first_frame["item"].value_counts().to_numpy()
    n_head = max(1, int(np.ceil(head_fraction * len(first))))
    share = first[:n_head].sum() / first.sum()
    whose = f"{first_label}: " if len(frames) > 1 else ""
    # grey, not a series colour: the band belongs to the first dataset, not to the second series
    ax_items.axvspan(1, n_head, color="0.5", alpha=0.12)
    ax_items.text(1.1, first.min() if len(first) else 1,
                  f"{whose}top {head_fraction:.0%} of items\n(shaded) take {share:.0%} of interactions",
                  fontsize=8, va="bottom")
    ax_items.set_title("Item popularity (long tail)")
    ax_users.set_title("User activity")
    if len(frames) > 1:
        ax_items.legend()
        ax_users.legend()
    fig.tight_layout()
    return fig


def plot_event_funnel(frame: pd.DataFrame, title: str = "Event funnel"):
    """Bars of view, click, cart and purchase counts, each labelled with its rate from the step before.

    ``frame`` is a tidy interactions frame (column ``event``). Returns the Figure.
    Taught in chapter 02.
    """
    counts = frame["event"].astype(str).value_counts().reindex(FUNNEL, fill_value=0)
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    bars = ax.bar(FUNNEL, counts.to_numpy(), color=["C0", "C1", "C2", "C3"])
    for k, (bar, value) in enumerate(zip(bars, counts.to_numpy())):
        rate = "" if k == 0 or counts.iloc[k - 1] == 0 else f"\n{value / counts.iloc[k - 1]:.0%} of {FUNNEL[k - 1]}s"
        ax.annotate(f"{value:,}{rate}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom",
                    fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set(ylabel="events", title=title)
    ax.margins(y=0.25)
    fig.tight_layout()
    return fig


def plot_sequence_lengths(lengths: np.ndarray | pd.Series | dict, bins: int = 40, min_events: int | None = None):
    """Histogram (log-spaced bins, log x axis) of events per user.

    ``lengths`` is an array, or a dict ``{label: array}`` (e.g. ``split.lengths``
    of several datasets). ``min_events`` draws the leave-one-out cut-off.
    Returns the Figure. Taught in chapter 02.
    """
    series = {"users": lengths} if not isinstance(lengths, dict) else lengths
    arrays = {k: np.asarray(v) for k, v in series.items()}
    high = max(int(a.max()) for a in arrays.values())
    edges = np.unique(np.geomspace(1, max(high, 2) + 1, bins).round())
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for label, a in arrays.items():
        ax.hist(a, bins=edges, alpha=0.6, label=f"{label} (median {np.median(a):.0f})")
    if min_events is not None:
        ax.axvline(min_events, color="k", ls="--", lw=1)
        ax.text(min_events, ax.get_ylim()[1] * 0.95, f" min_events = {min_events}", fontsize=8, va="top")
    ax.set(xscale="log", xlabel="events per user", ylabel="users", title="Sequence lengths")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_share_heatmap(shares: pd.DataFrame | dict[str, pd.DataFrame], n_users: int = 30, seed: int = 0,
                       title: str = "Each user's share per category"):
    """Heatmap of users (rows) x nodes (columns) shares; a dict draws panels side by side
    (e.g. ``{"truth": ..., "observed": ...}``) on the same sampled users. ``title`` heads
    the figure; each panel is titled by its key. ``shares`` is one level of
    ``features.category_shares`` (users x nodes) or a dict of them; returns the Figure.

    Taught in chapter 03.
    """
    tables = {"": shares} if isinstance(shares, pd.DataFrame) else dict(shares)
    first = next(iter(tables.values()))
    # same users and same column order in every panel, so panels compare cell by cell
    tables = {k: t.reindex(columns=first.columns, fill_value=0.0) for k, t in tables.items()}
    rng = np.random.default_rng(seed)
    users = np.sort(rng.choice(first.index.to_numpy(), min(n_users, len(first)), replace=False))
    width = min(3 + 0.3 * first.shape[1], 9)
    fig, axes = plt.subplots(1, len(tables), figsize=(width * len(tables), 0.18 * len(users) + 3.5),
                             squeeze=False, layout="constrained")
    for ax, (label, table) in zip(axes[0], tables.items()):
        values = table.loc[users].to_numpy()
        image = ax.imshow(values, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns], rotation=90, fontsize=7)
        ax.set_yticks(range(len(users)), [str(u) for u in users], fontsize=6)
        ax.set(xlabel="category", ylabel="user", title=label or title)
    if any(tables):
        fig.suptitle(f"{title} ({len(users)} random users)")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="share")
    return fig


def plot_interest_sunburst(weights: pd.Series, title: str = "Interest tree", min_share: float = 0.02):
    """A two-ring sunburst of one user's interests: departments inside, categories outside.

    ``weights`` is indexed by full category paths ("Electronics > Phones") and
    sums to 1 (e.g. a row of ``category_shares(..., full_names=True)``'s
    category level, or of the shop's ``truth["category_weights"]``). Labels
    below ``min_share`` are left out to keep the picture readable. Returns the Figure.
    Taught in chapter 03, whose topic (per-level interest shares) it serves; no
    chapter draws it yet.
    """
    weights = weights[weights > 0].sort_index()
    departments = weights.index.str.split(PATH_SEP, regex=False).str[0]
    dept = weights.groupby(departments, sort=True).sum()
    colours = plt.get_cmap("tab10")(np.arange(len(dept)) % 10)
    colour_of = dict(zip(dept.index, colours))
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    inner_labels = [d if w >= min_share else "" for d, w in dept.items()]
    ax.pie(dept.to_numpy(), radius=0.65, labels=inner_labels, labeldistance=0.72, colors=colours,
           wedgeprops=dict(width=0.35, edgecolor="white"), textprops=dict(fontsize=8, ha="center"))
    outer_colours = [(*colour_of[d][:3], 0.55) for d in departments]
    outer_labels = [p.split(PATH_SEP)[-1] if w >= min_share else "" for p, w in weights.items()]
    ax.pie(weights.to_numpy(), radius=1.0, labels=outer_labels, labeldistance=1.05, colors=outer_colours,
           wedgeprops=dict(width=0.35, edgecolor="white"), textprops=dict(fontsize=8))
    ax.set(aspect="equal", title=title)
    fig.tight_layout()
    return fig


def plot_encoding_cost(cost: pd.DataFrame, column: str = "total_bytes"):
    """Bars (log scale) of one-hot vs embedding bytes per vocabulary size, from ``features.encoding_cost``.

    ``cost`` is ``encoding_cost``'s frame; ``column`` picks the bytes shown. Returns the Figure.
    Taught in chapter 03.
    """
    table = cost[column].unstack("encoding")
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    x = np.arange(len(table))
    width = 0.8 / table.shape[1]
    for k, encoding in enumerate(table.columns):
        ax.bar(x + k * width - 0.4 + width / 2, table[encoding].to_numpy(), width, label=encoding)
    ax.set_xticks(x, [f"{n:,}" for n in table.index])
    ax.set(yscale="log", xlabel="number of distinct values", ylabel=column.replace("_", " "),
           title="One-hot vs embedding: memory")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_category_popularity(shares: pd.DataFrame, top: int | None = None,
                             title: str = "How much of a user's attention each category gets"):
    """Horizontal bars of each node's mean share over users (every user counts once, however active).

    ``shares`` is one level of ``features.category_shares``; ``top`` keeps the largest nodes.
    Returns the Figure.

    Taught in chapter 03.
    """
    mean = shares.mean(axis=0).sort_values()
    if top is not None:
        mean = mean.iloc[-top:]
    fig, ax = plt.subplots(figsize=(6, 0.25 * len(mean) + 1.5))
    ax.barh([str(i) for i in mean.index], mean.to_numpy(), color="C0")
    ax.set(xlabel="mean share per user", title=title)
    fig.tight_layout()
    return fig


__all__: Sequence[str] = [
    "plot_long_tail", "plot_event_funnel", "plot_sequence_lengths", "plot_share_heatmap",
    "plot_interest_sunburst", "plot_encoding_cost", "plot_category_popularity",
]
