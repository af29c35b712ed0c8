"""Plots of chapter 12: metrics per slice with standard errors, and size against quality.

Every function takes plain frames (``evaluation.slice_table`` or a table the chapter
builds) and returns the matplotlib ``Figure``. Taught in chapter 12.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_slices", "plot_size_quality"]


def plot_slices(table: pd.DataFrame, models: Sequence[str], metric: str = "NDCG@10", ax=None,
                title: str | None = None, chance: float | None = None, error: str = "standard error over users",
                colors: dict | None = None):
    """Grouped bars: one group per slice (the rows of ``slice_table``), one bar per model, ± 1 SE.

    ``table`` has columns ``<model>`` and ``<model> se`` and ``n_users`` (shown under each
    slice); ``chance`` (optional) draws a dashed line; ``error`` names what ``se`` is (e.g.
    "standard error over 3 seeds" for ``results.slice_summary``); ``colors`` (optional, model -> colour) keeps a
    model's colour the same across panels that show different models. Taught in chapter 12.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 3.8))
    else:
        fig = ax.figure
    x = np.arange(len(table))
    width = 0.8 / max(len(models), 1)
    for i, model in enumerate(models):
        se = table[f"{model} se"].fillna(0.0).to_numpy()
        ax.bar(x + (i - (len(models) - 1) / 2) * width, table[model].to_numpy(), width, yerr=se, capsize=3,
               label=model, color=(colors or {}).get(model))
    ax.set_xticks(x, [f"{name}\n{n:,} users" for name, n in zip(table.index, table["n_users"])])
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance (random order)")
    names = {"count": "training count of the test item", "activity": "user history length (tertiles)"}
    ax.set(xlabel=names.get(table.index.name, table.index.name or "slice"),
           ylabel=f"{metric} (± 1 {error})", title=title or f"{metric} per slice")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_size_quality(frame: pd.DataFrame, size: str = "bytes", quality: str = "ndcg@10",
                      se: str = "ndcg@10 se", ax=None, title: str | None = None):
    """One point per model variant (the frame's index): size on a log axis, quality ± 1 SE.

    Taught in chapter 12.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    markers = "osD^vP*X"
    for i, (name, row) in enumerate(frame.iterrows()):  # one marker per variant, named in the legend
        ax.errorbar(row[size] / 1e6, row[quality], yerr=row[se], fmt=markers[i % len(markers)], capsize=3,
                    markersize=7, label=str(name))
    ax.legend(fontsize=8)
    ax.set_xscale("log")
    ax.set(xlabel="size of the saved state_dict (MB, log scale)", ylabel=f"test {quality.upper()} (± 1 SE)",
           title=title or "smaller models: size against quality")
    fig.tight_layout()
    return fig
