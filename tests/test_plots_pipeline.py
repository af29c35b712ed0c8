"""Tests for hiercourse.plots.pipeline: the pipeline map and the interest-tree shares."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from pathlib import Path

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


def test_pipeline_order_and_mermaid_edges():
    assert [s.key for s in STAGES] == [
        "data", "preprocessing", "features", "interests", "training", "recommendations",
    ]
    source = pipeline_mermaid()
    assert source.splitlines()[0] == "flowchart LR"
    edges = [line.strip() for line in source.splitlines() if "-->" in line]
    assert edges == [f"{a.key} --> {b.key}" for a, b in zip(STAGES[:-1], STAGES[1:])]
    with pytest.raises(ValueError, match="direction"):
        pipeline_mermaid("sideways")


def test_pipeline_table_points_to_package_modules():
    import hiercourse

    table = pipeline_table()
    assert list(table["stage"]) == [s.title for s in STAGES]
    assert table.loc[table["stage"] == "Data", "package"].item() == "hiercourse.datasets"
    # the map must name modules that exist in the package (a file or a sub-package)
    root = Path(hiercourse.__file__).parent
    for stage in STAGES:
        for module in stage.modules:
            rel = Path(*module.split(".")[1:])
            assert (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file(), module


def test_tree_shares_counts_and_nesting():
    shares = tree_shares(PATHS)
    top = shares[shares["level"] == 0].set_index("label")["share"]
    assert top.to_dict() == {"A": 0.75, "B": 0.25}
    leaf = shares[shares["level"] == 1].set_index("node")["share"]
    assert leaf["A > a1"] == pytest.approx(0.5)
    assert set(shares.loc[shares["level"] == 1, "parent"]) == {"A", "B"}
    for level, group in shares.groupby("level"):
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
