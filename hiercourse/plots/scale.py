"""Plots of chapter 13: what retrieval at scale buys, recall against cost.

Every function takes the table of ``scripts/bench_retrieval.py`` (``hiercourse.results.load_results("retrieval_shop")``)
or a frame with the same columns, and returns the matplotlib ``Figure``. Taught in chapter 13.
"""
from __future__ import annotations

import re

import matplotlib.pyplot as plt
import pandas as pd

__all__ = ["retrieval_curves", "plot_recall_cost"]

#: Line styles per method family (the beam's two node scores, FAISS's two indexes).
STYLES = {"beam (model)": dict(color="C0", marker="o"), "beam (prior)": dict(color="C1", marker="s"),
          "faiss ivf-flat": dict(color="C2", marker="^"), "faiss hnsw-flat": dict(color="C3", marker="v")}


def retrieval_curves(runs: pd.DataFrame) -> dict[tuple[int, str], pd.DataFrame]:
    """``{(n_items, curve name): rows sorted by items scored}``: one curve per catalogue and method, FAISS
    split by its number of rescored candidates (``"faiss ivf-flat, 100 cand."``); the exhaustive rows are
    left out (they are one point, the whole catalogue). Taught in chapter 13.
    """
    needed = {"n_items", "method", "setting", "recall", "items_scored"}
    missing = needed - set(runs.columns)
    if missing:
        raise ValueError(f"the runs need the columns {sorted(needed)} (bench_retrieval's table); "
                         f"missing {sorted(missing)}")
    curves: dict[tuple[int, str], pd.DataFrame] = {}
    for (n_items, method), rows in runs[~runs["method"].str.startswith("exhaustive")].groupby(
            ["n_items", "method"], sort=False):
        if method.startswith("faiss"):
            found = rows["setting"].str.extract(r"(\d+) cand\.", expand=False)
            for cand, part in rows.groupby(found.fillna(""), sort=False):
                name = f"{method}, {cand} cand." if cand else method
                curves[(int(n_items), name)] = part.sort_values("items_scored")
        else:
            curves[(int(n_items), method)] = rows.sort_values("items_scored")
    return curves


def plot_recall_cost(runs: pd.DataFrame, goal_share: float | None = 0.05, title: str | None = None):
    """Recall of the exhaustive top 10 against items scored per user (log axis), one panel per catalogue.

    One line per curve of :func:`retrieval_curves` (beam widths or FAISS settings along it; FAISS
    with 1,000 candidates dashed), a dotted line at ``goal_share`` of the catalogue and the
    exhaustive cost (every item) as a grey line. Taught in chapter 13.
    """
    curves = retrieval_curves(runs)
    sizes = sorted({n for n, _ in curves})
    fig, axes = plt.subplots(1, len(sizes), figsize=(4.4 * len(sizes) + 2.4, 3.9), sharey=True, squeeze=False)
    for ax, n_items in zip(axes[0], sizes):
        for (n, name), rows in curves.items():
            if n != n_items:
                continue
            family = re.sub(r", \d+ cand\.$", "", name)
            style = dict(STYLES.get(family, {}))
            if name.endswith("1000 cand."):
                style.update(linestyle="--", markerfacecolor="none")
            ax.plot(rows["items_scored"], rows["recall"], label=name, markersize=5, **style)
            if family == "beam (model)":
                for _, row in rows.iterrows():
                    ax.annotate(row["setting"], (row["items_scored"], row["recall"]), textcoords="offset points",
                                xytext=(4, -10), fontsize=7, color=style.get("color", "k"))
        ax.axvline(n_items, color="grey", linewidth=1)
        ax.text(n_items, 0.02, " every item", color="grey", fontsize=8, rotation=90, va="bottom", ha="right")
        if goal_share is not None:
            ax.axvline(goal_share * n_items, color="k", linestyle=":", linewidth=1)
            ax.text(goal_share * n_items, 0.02, f" {goal_share:.0%} of the items", fontsize=8, rotation=90,
                    va="bottom", ha="right")
        ax.set_xscale("log")
        ax.set_xlim(right=n_items * 2)
        ax.set_ylim(0, 1.05)
        ax.set(title=f"{n_items:,} items", xlabel="items scored per user (log scale)")
        ax.grid(alpha=0.3, which="major")
    axes[0][0].set_ylabel("recall of the exhaustive top 10")
    seen: dict = {}
    for ax in axes[0]:  # every curve once in the legend, from whichever panel drew it
        for handle, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, handle)
    axes[0][-1].legend(list(seen.values()), list(seen), fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

