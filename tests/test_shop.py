"""The synthetic shop: deterministic, the right sizes, a funnel, and data driven by its ground truth."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from hiercourse.datasets.schema import EVENTS, PATH_SEP, DataError, tidy_interactions, tidy_items
from hiercourse.datasets.shop import PRESETS, make_shop


@pytest.fixture(scope="module")
def small():
    return make_shop("small", seed=3)


def empirical_category_share(data, users_rows=None):
    """[n_users, n_categories] share of each user's events per true category."""
    truth = data.truth
    inter = data.interactions if users_rows is None else data.interactions.loc[users_rows]
    user = np.searchsorted(truth["user_ids"], inter["user"].to_numpy())
    item = np.searchsorted(truth["item_ids"], inter["item"].to_numpy())
    n_cat = truth["category_weights"].shape[1]
    counts = np.zeros((len(truth["user_ids"]), n_cat))
    np.add.at(counts, (user, truth["item_category"][item]), 1)
    return counts / np.maximum(counts.sum(1, keepdims=True), 1)


def rowwise_spearman(a, b):
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    return (ra * rb).sum(1) / np.sqrt((ra**2).sum(1) * (rb**2).sum(1))


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = make_shop("tiny", seed=5), make_shop("tiny", seed=5), make_shop("tiny", seed=6)
    pd.testing.assert_frame_equal(a.interactions, b.interactions)
    pd.testing.assert_frame_equal(a.items, b.items)
    np.testing.assert_array_equal(a.truth["category_weights"], b.truth["category_weights"])
    assert not a.interactions[["user", "item"]].equals(c.interactions[["user", "item"]])


def test_follows_the_schema():
    data = make_shop("tiny")
    assert data.name == "shop"
    pd.testing.assert_frame_equal(tidy_interactions(data.interactions), data.interactions)
    pd.testing.assert_frame_equal(tidy_items(data.items), data.items)
    assert data.interactions["rating"].isna().all()
    assert set(data.interactions["event"].astype(str)) <= set(EVENTS[:4])
    assert set(data.interactions["item"]) <= set(data.items["item"])
    title, path, cats = data.items.iloc[0][["title", "category_path", "categories"]]
    assert title.startswith(path.split(PATH_SEP)[1] + " #") and cats == (path.split(PATH_SEP)[0],)
    assert data.info["level_names"] == ["department", "category"]


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_sizes(size):
    n_users, n_dept, per_dept, per_cat, per_user = PRESETS[size]
    data = make_shop(size)
    assert data.interactions["user"].nunique() == n_users
    assert len(data.items) == n_dept * per_dept * per_cat
    assert 0.7 * n_users * per_user < len(data.interactions) < 1.3 * n_users * per_user
    assert data.truth["category_weights"].shape == (n_users, n_dept * per_dept)
    assert data.truth["department_weights"].shape == (n_users, n_dept)


def test_overrides_and_errors():
    data = make_shop("tiny", n_users=7, n_departments=2, categories_per_department=2, items_per_category=3,
                     events_per_user=30)
    assert data.interactions["user"].nunique() == 7 and len(data.items) == 12
    assert data.truth["params"]["n_users"] == 7
    many = make_shop("tiny", n_departments=14, categories_per_department=9, n_users=5)
    assert many.truth["department_names"][-1] == "Department 14"
    with pytest.raises(DataError, match="unknown shop size"):
        make_shop("huge")
    with pytest.raises(DataError, match="n_users"):
        make_shop("tiny", n_users=0)


def test_funnel_is_monotonic(small):
    inter = small.interactions
    counts = inter["event"].value_counts()
    assert counts["view"] >= counts["click"] >= counts["cart"] >= counts["purchase"] > 0
    # every purchase follows the cart, click and view of that item just before it
    purchase = np.flatnonzero(inter["event"].to_numpy() == "purchase")
    for back, event in [(1, "cart"), (2, "click"), (3, "view")]:
        before = inter.iloc[purchase - back]
        assert (before["event"] == event).all()
        assert (before["item"].to_numpy() == inter["item"].to_numpy()[purchase]).all()
        assert (before["user"].to_numpy() == inter["user"].to_numpy()[purchase]).all()


def test_weights_are_distributions(small):
    truth = small.truth
    for key in ("category_weights", "department_weights", "category_weights_start", "category_weights_end"):
        np.testing.assert_allclose(truth[key].sum(1), 1.0)
        assert (truth[key] >= 0).all()
    dept_from_cats = np.zeros_like(truth["department_weights"])
    np.add.at(dept_from_cats.T, truth["category_department"], truth["category_weights"].T)
    np.testing.assert_allclose(dept_from_cats, truth["department_weights"])
    assert (truth["category_weights"] > 0).sum(1).max() <= 9  # at most 3 departments x 3 categories


def test_true_weights_drive_the_data(small):
    share = empirical_category_share(small)
    rho = rowwise_spearman(share, small.truth["category_weights"])
    assert np.nanmean(rho) > 0.5
    # and a user's share matches their own truth better than someone else's
    other = np.roll(small.truth["category_weights"], 1, axis=0)
    assert np.nanmean(rowwise_spearman(share, other)) < np.nanmean(rho) - 0.3


def test_interests_drift():
    data = make_shop("small", drift=1.0, seed=1)
    t = data.interactions["timestamp"]
    early = empirical_category_share(data, t < t.quantile(0.25))
    late = empirical_category_share(data, t > t.quantile(0.75))
    start, end = data.truth["category_weights_start"], data.truth["category_weights_end"]
    def dist(a, b):
        return np.abs(a - b).sum(1).mean()
    assert dist(early, start) < dist(early, end)
    assert dist(late, end) < dist(late, start)


def test_popularity_is_long_tailed(small):
    counts = small.interactions["item"].value_counts().to_numpy()
    top = counts[: len(counts) // 10].sum() / counts.sum()
    assert top > 0.3  # the top 10 % of items take far more than 10 % of the events


def test_bench_script_reports_events_per_second(capsys):
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_shop.py"
    bench = runpy.run_path(str(script))
    bench["main"](["--size", "tiny", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "events/s" in out and "leave_one_out" in out
