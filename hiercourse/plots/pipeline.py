"""The course's pipeline diagram and a user's interest tree, drawn with matplotlib.

Taught in chapter 01 (and used as a map in chapter 00).

The pipeline is kept here as data (:data:`STAGES`), so that the Mermaid source a
chapter shows, the matplotlib drawing and the "where does it live" table all say
the same thing. Mermaid renders on GitHub and in JupyterLab 4.1+, but not in
every notebook front end (Colab shows the source), hence the matplotlib version.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hiercourse.datasets.schema import PATH_SEP
from hiercourse.errors import DataError


@dataclass(frozen=True)
class Stage:
    """One stage of the recommendation pipeline and where the course builds it.

    ``key`` (a Mermaid node id), ``title``, ``what`` happens there, the package
    ``modules`` and the ``chapters`` ("02", ...) that build it. Taught in chapter 01.
    """

    key: str
    title: str
    what: str
    modules: tuple[str, ...]
    chapters: tuple[str, ...]


STAGES: tuple[Stage, ...] = (
    Stage(
        "data",
        "Data",
        "behaviour logs (view, click, cart, purchase, rating) and the item catalogue",
        ("hiercourse.datasets",),
        ("02",),
    ),
    Stage(
        "preprocessing",
        "Preprocessing",
        "deduplicate, drop outliers, k-core, implicit feedback, id encoding, chronological split",
        ("hiercourse.preprocessing",),
        ("02",),
    ),
    Stage(
        "features",
        "Features",
        "activity, recency, popularity, per-level category shares; one-hot, multi-hot, embeddings",
        ("hiercourse.features",),
        ("03",),
    ),
    Stage(
        "interests",
        "Hierarchical interests",
        "encode the behaviour sequence (DNN, CNN, Transformer); interest vectors per level of the hierarchy",
        ("hiercourse.models",),
        ("07", "08"),
    ),
    Stage(
        "training",
        "Training",
        "next-item cross-entropy (plus a per-level term), Adam, early stopping on validation",
        ("hiercourse.training",),
        ("09",),
    ),
    Stage(
        "recommendations",
        "Recommendations",
        "full-ranking evaluation and top-K lists with titles, categories and explanations",
        ("hiercourse.evaluation", "hiercourse.recommend"),
        ("09",),
    ),
)


def pipeline_table() -> pd.DataFrame:
    """The pipeline as a table: stage, what happens there, package modules, chapters.

    Taught in chapter 01.
    """
    return pd.DataFrame(
        {
            "stage": [s.title for s in STAGES],
            "what happens": [s.what for s in STAGES],
            "package": [", ".join(s.modules) for s in STAGES],
            "chapters": [", ".join(s.chapters) for s in STAGES],
        }
    )


def pipeline_mermaid(direction: str = "LR") -> str:
    """Mermaid source of the pipeline (``direction`` "LR" or "TB"), modules on each node.

    Taught in chapter 01.
    """
    if direction not in {"LR", "TB", "TD", "RL", "BT"}:
        raise DataError(f"direction must be one of LR, TB, TD, RL, BT, not {direction!r}")
    lines = [f"flowchart {direction}"]
    for stage in STAGES:
        modules = "<br/>".join(stage.modules)
        lines.append(f'    {stage.key}["{stage.title}<br/><small>{modules}</small>"]')
    for left, right in zip(STAGES[:-1], STAGES[1:]):
        lines.append(f"    {left.key} --> {right.key}")
    return "\n".join(lines)


def plot_pipeline(ax=None, show_modules: bool = True,
                  title: str | None = "The course's pipeline (hc. = hiercourse.)"):
    """Draw the pipeline as boxes and arrows, left to right; returns the Axes.

    Module names are shortened to ``hc.`` to fit the boxes; the default title says so.
    Taught in chapter 01.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if ax is None:
        _, ax = plt.subplots(figsize=(13, 2.6))
    n = len(STAGES)
    width, gap, height = 1.35, 0.4, 0.8
    colours = plt.get_cmap("Blues")(np.linspace(0.25, 0.6, n))
    for k, (stage, colour) in enumerate(zip(STAGES, colours)):
        x = k * (width + gap)
        ax.add_patch(
            FancyBboxPatch(
                (x, 0), width, height, boxstyle="round,pad=0.03,rounding_size=0.08",
                facecolor=colour, edgecolor="#1f3b5c", linewidth=1.2,
            )
        )
        name = stage.title.replace(" ", "\n", 1) if len(stage.title) > 14 else stage.title
        size = 8 if max(len(part) for part in name.split("\n")) > 13 else 9.5
        ax.text(x + width / 2, height * 0.64, name, ha="center", va="center",
                fontsize=size, fontweight="bold")
        if show_modules:
            modules = "\n".join(m.replace("hiercourse.", "hc.") for m in stage.modules)
            ax.text(x + width / 2, height * 0.22, modules, ha="center", va="center",
                    fontsize=7.5, family="monospace")
            ax.text(x + width / 2, -0.12, "ch. " + ", ".join(stage.chapters), ha="center",
                    va="top", fontsize=8, color="#444444")
        if k < n - 1:
            ax.annotate("", xy=(x + width + gap - 0.04, height / 2), xytext=(x + width + 0.04, height / 2),
                        arrowprops=dict(arrowstyle="-|>", color="#1f3b5c", lw=1.4))
    ax.set_xlim(-0.1, n * (width + gap) - gap + 0.1)
    ax.set_ylim(-0.35, height + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def tree_shares(paths: Sequence[str], weights: Sequence[float] | None = None,
                sep: str = PATH_SEP) -> pd.DataFrame:
    """Share of the total weight held by every node of a hierarchy, level by level.

    ``paths`` holds one category path per behaviour (coarse to fine, levels joined
    by ``sep``, e.g. ``"Electronics > Phones"``); ``weights`` (default 1 each) lets a
    movie with three genres count 1/3 in each. Returns one row per node with
    columns ``level`` (0 = coarsest), ``node`` (the path up to that level),
    ``parent`` (the path one level up, "" at level 0), ``label`` (the node's own
    name) and ``share`` (shares sum to 1 at every level whose paths all reach it).
    Taught in chapter 01.
    """
    paths = pd.Series(list(paths), dtype="object")
    if len(paths) == 0:
        raise DataError("tree_shares needs at least one path; the history is empty.")
    w = pd.Series(np.ones(len(paths)) if weights is None else np.asarray(weights, dtype=float))
    if len(w) != len(paths):
        raise DataError(f"{len(paths)} paths but {len(w)} weights; give one weight per path.")
    if (w < 0).any() or w.sum() <= 0:
        raise DataError("weights must be non-negative and not all zero.")
    parts = paths.str.split(sep, regex=False)
    depth = int(parts.str.len().max())
    rows = []
    for level in range(depth):  # a handful of levels: a loop over levels, not over behaviours
        reached = parts.str.len() > level
        node = parts[reached].str[: level + 1].str.join(sep)
        grouped = w[reached].groupby(node.to_numpy(), sort=False).sum()
        frame = pd.DataFrame({"node": grouped.index, "share": grouped.to_numpy() / w.sum()})
        frame["level"] = level
        frame["label"] = frame["node"].str.split(sep, regex=False).str[-1]
        frame["parent"] = frame["node"].str.rsplit(sep, n=1).str[0] if level else ""
        rows.append(frame)
    out = pd.concat(rows, ignore_index=True)
    return out[["level", "node", "parent", "label", "share"]]


def plot_interest_tree(paths: Sequence[str], weights: Sequence[float] | None = None,
                       sep: str = PATH_SEP, level_names: Sequence[str] | None = None,
                       ax=None, title: str | None = None, min_label_share: float = 0.04,
                       colors: dict | None = None):
    """Draw a user's interest tree as an icicle chart: one row per level, width = share.

    Level 0 (e.g. departments or genres) is the top row; each node's children sit
    directly under it, so the picture reads coarse to fine. Nodes narrower than
    ``min_label_share`` are drawn but not labelled. ``colors`` maps top-level labels
    to matplotlib colours, so that two trees drawn side by side agree. Returns the Axes.
    Taught in chapter 01.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    shares = tree_shares(paths, weights, sep)
    depth = int(shares["level"].max()) + 1
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 1.1 + 0.9 * depth))
    palette = plt.get_cmap("tab20").colors[::2] + plt.get_cmap("tab20").colors[1::2]
    # Width of one character of the 8-point labels, as a fraction of the axis (shares run 0..1).
    axis_points = ax.get_position().width * ax.figure.get_figwidth() * 72
    char_width = 0.6 * 8 / axis_points
    # Lay out level by level: a node starts where its parent starts plus its earlier siblings.
    # One barh call per level (a long history has thousands of leaves).
    start: dict[str, float] = {}
    colour: dict[str, tuple] = {}
    for level in range(depth):
        here = shares[shares["level"] == level].copy()
        if level == 0:
            here = here.sort_values("share", ascending=False, kind="stable")
            here["x"] = here["share"].cumsum() - here["share"]
            bases = [(colors or {}).get(label, palette[k % len(palette)])
                     for k, label in enumerate(here["label"])]
        else:
            here = here.sort_values(["parent", "share"], ascending=[True, False], kind="stable")
            offset = here.groupby("parent", sort=False)["share"].cumsum() - here["share"]
            here["x"] = here["parent"].map(start) + offset
            bases = [colour[p] for p in here["parent"]]
        start.update(zip(here["node"], here["x"]))
        colour.update(zip(here["node"], bases))
        alpha = max(0.35, 1.0 - 0.25 * level)
        y = depth - 1 - level
        ax.barh(np.full(len(here), y), here["share"].to_numpy(), left=here["x"].to_numpy(), height=0.92,
                color=[to_rgba(b, alpha=alpha) for b in bases], edgecolor="white",
                linewidth=0.8 if len(here) < 200 else 0.2)
        for row in here[here["share"] >= min_label_share].itertuples(index=False):
            # Shorten a label to what its box can hold, so neighbouring labels never overlap.
            room = int(row.share / char_width) - 1
            text = row.label if len(row.label) <= room else row.label[: room - 1] + "."
            if room < 3:
                continue
            ax.text(row.x + row.share / 2, y, f"{text}\n{row.share:.0%}", ha="center",
                    va="center", fontsize=8)
    names = list(level_names) if level_names is not None else [f"level {k}" for k in range(depth)]
    if len(names) != depth:
        raise DataError(f"level_names has {len(names)} names but the paths have {depth} levels.")
    ax.set_yticks(range(depth))
    ax.set_yticklabels(names[::-1])
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.5, depth - 0.5)
    ax.set_xlabel("share of the user's behaviour")
    ax.spines[["top", "right"]].set_visible(False)
    if title:
        ax.set_title(title)
    return ax
