"""Tests for hiercourse.plots.pipeline: the pipeline map and the interest-tree shares."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from hiercourse.plots.pipeline import (
    STAGES,
    pipeline_mermaid,
    pipeline_table,
    plot_interest_tree,
    plot_pipeline,
    tree_shares,
)

PATHS = ["A > a1", "A > a1", "A > a2", "B > b1"]


def test_mermaid_table_and_drawing_tell_the_same_pipeline():
    """The module keeps the pipeline as data so that its three views agree: check they do, stage by stage."""
    import re

    source = pipeline_mermaid("TB")
    assert source.splitlines()[0] == "flowchart TB"
    nodes = re.findall(r'^\s+(\w+)\["(.+?)<br/><small>(.+?)</small>"\]$', source, re.M)
    edges = re.findall(r"^\s+(\w+) --> (\w+)$", source, re.M)
    titles = [title for _, title, _ in nodes]
    assert len(nodes) == len(STAGES) >= 2 and len(set(titles)) == len(titles)
    # a chain: every node but the first has one incoming edge, from the node before it
    keys = [key for key, _, _ in nodes]
    assert edges == list(zip(keys[:-1], keys[1:]))
    table = pipeline_table()
    assert table["stage"].tolist() == titles
    assert table["package"].tolist() == [modules.replace("<br/>", ", ") for _, _, modules in nodes]
    ax = plot_pipeline()
    assert len(ax.patches) == len(STAGES)
    bold = [t.get_text().replace("\n", " ") for t in ax.texts if t.get_fontweight() == "bold"]
    assert bold == titles  # left to right, in the same order
    # boxes left to right
    assert [p.get_x() for p in ax.patches] == sorted(p.get_x() for p in ax.patches)
    with pytest.raises(ValueError, match="direction"):
        pipeline_mermaid("sideways")
    plt.close("all")


def test_pipeline_table_points_to_modules_and_chapters_that_exist():
    import importlib

    from hiercourse.run import chapters

    table = pipeline_table()
    numbers = {p.name[:2] for p in chapters()}
    for stage, row in zip(STAGES, table.itertuples()):
        for module in stage.modules:
            importlib.import_module(module)  # the map names modules one can import
        assert set(stage.chapters) <= numbers, stage.chapters
        assert row.chapters == ", ".join(stage.chapters)
    # the stages come in the order the chapters teach them
    first_chapter = [min(stage.chapters) for stage in STAGES]
    assert first_chapter == sorted(first_chapter)


def test_tree_shares_counts_and_nesting():
    shares = tree_shares(PATHS)
    top = shares[shares["level"] == 0].set_index("label")["share"]
    assert top.to_dict() == {"A": 0.75, "B": 0.25}
    leaf = shares[shares["level"] == 1].set_index("node")["share"]
    assert leaf["A > a1"] == pytest.approx(0.5)
    assert set(shares.loc[shares["level"] == 1, "parent"]) == {"A", "B"}
    for _level, group in shares.groupby("level"):
        assert group["share"].sum() == pytest.approx(1.0)


def test_tree_shares_weights_and_uneven_depth():
    # a movie with two genres counts half in each
    shares = tree_shares(["Drama", "Comedy", "Drama > x"], weights=[0.5, 0.5, 1.0])
    top = shares[shares["level"] == 0].set_index("label")["share"]
    assert top["Drama"] == pytest.approx(0.75)
    assert top["Comedy"] == pytest.approx(0.25)
    deep = shares[shares["level"] == 1]
    assert list(deep["node"]) == ["Drama > x"]
    assert deep["share"].item() == pytest.approx(0.5)


@pytest.mark.parametrize(
    "paths, weights, message",
    [([], None, "empty"), (["a"], [1, 2], "weights"), (["a", "b"], [0, 0], "non-negative")],
)
def test_tree_shares_rejects_bad_input(paths, weights, message):
    with pytest.raises(ValueError, match=message):
        tree_shares(paths, weights)


def test_plots_draw_one_bar_per_node():
    ax = plot_interest_tree(PATHS, level_names=["dept", "category"], title="t")
    assert len(ax.patches) == len(tree_shares(PATHS))  # 2 departments + 3 categories
    widths = sorted(round(p.get_width(), 6) for p in ax.patches)
    assert widths == sorted(np.round(tree_shares(PATHS)["share"], 6))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["category", "dept"]
    with pytest.raises(ValueError, match="level_names"):
        plot_interest_tree(PATHS, level_names=["only one"])
    ax2 = plot_pipeline()
    assert len(ax2.patches) == len(STAGES)
    assert "hiercourse" in ax2.get_title()  # the title explains the "hc." shorthand, not a stage name
    plt.close("all")


def test_interest_tree_colours_follow_the_given_map():
    from matplotlib.colors import to_rgba

    ax = plot_interest_tree(PATHS, colors={"B": "red"})
    top_b = [p for p in ax.patches if round(p.get_width(), 6) == 0.25 and p.get_y() > 0.5]
    assert top_b and to_rgba(top_b[0].get_facecolor())[:3] == to_rgba("red")[:3]
    plt.close("all")


def test_bad_input_raises_the_course_error_type():
    from hiercourse.datasets.schema import DataError
    from hiercourse.plots.pipeline import tree_shares

    with pytest.raises(DataError, match="one weight per path"):
        tree_shares(["A > B", "A"], weights=[1.0])
