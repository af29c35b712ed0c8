"""The synthetic shop: deterministic, the right sizes, a funnel, and data driven by its ground truth."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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


# The generator's stated process (make_shop's docstring), with its default funnel (0.35, 0.3, 0.5):
# an item slot runs 1 + 0.35 + 0.35*0.3 + 0.35*0.3*0.5 = 1.5075 rows deep on average, a session views
# 1 + Poisson(3) items (4 on average; the cap of 20 slots binds with probability < 1e-8), so a session
# holds 4 * 1.5075 = 6.03 rows on average, with variance 4 * Var(depth) + Var(slots) * E[depth]^2.
DEPTH_P = np.array([0.65, 0.35 * 0.7, 0.35 * 0.3 * 0.5, 0.35 * 0.3 * 0.5])  # P(depth = 1, 2, 3, 4)
DEPTH_MEAN = float(DEPTH_P @ np.arange(1, 5))
DEPTH_VAR = float(DEPTH_P @ np.arange(1, 5) ** 2) - DEPTH_MEAN**2
ROWS_PER_SESSION = 4 * DEPTH_MEAN
ROWS_PER_SESSION_VAR = 4 * DEPTH_VAR + 3 * DEPTH_MEAN**2


def sessions_of(data):
    """Session index of every row. Inside a session rows are at most 60 s apart; a session lasts at most
    20 slots x 60 s + 30 s and the next one starts >= 3,000 s (MAX_SLOTS x 60 + MIN_IDLE) after it began,
    so a gap over 1,000 s always starts a new session and never splits one."""
    inter = data.interactions
    user, t = inter["user"].to_numpy(), inter["timestamp"].to_numpy()
    new = np.r_[True, (user[1:] != user[:-1]) | (np.diff(t) > 1_000)]
    return np.cumsum(new) - 1, new


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_sizes_follow_the_generating_process(size):
    n_users, n_dept, per_dept, per_cat, per_user = PRESETS[size]
    data = make_shop(size)
    assert data.interactions["user"].nunique() == n_users
    assert len(data.items) == n_dept * per_dept * per_cat
    assert data.truth["category_weights"].shape == (n_users, n_dept * per_dept)
    assert data.truth["department_weights"].shape == (n_users, n_dept)
    _, starts = sessions_of(data)
    n_sessions = data.truth["n_sessions"]
    assert starts.sum() == n_sessions.sum()  # the recorded sessions are the ones in the log
    # sessions per user: 1 + Poisson(activity * (per_user / 6.03 - 1)), so given the activities the total
    # has mean sum(1 + lam) and variance sum(lam); 5 standard deviations either way
    lam = data.truth["activity"] * (per_user / ROWS_PER_SESSION - 1)
    assert abs(n_sessions.sum() - (1 + lam).sum()) < 5 * np.sqrt(lam.sum())
    # rows given the sessions: mean 6.03 per session; this puts the mean rows per user at per_user
    rows, sessions = len(data.interactions), n_sessions.sum()
    assert abs(rows - ROWS_PER_SESSION * sessions) < 5 * np.sqrt(ROWS_PER_SESSION_VAR * sessions)


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
    """A session's category is drawn from its user's true weights, or (noise 0.05) uniformly from all."""
    truth, noise = small.truth, small.truth["params"]["noise"]
    session, starts = sessions_of(small)
    item_row = np.searchsorted(truth["item_ids"], small.interactions["item"].to_numpy())
    category = truth["item_category"][item_row]
    assert (category == category[starts][session]).all()  # a session stays in one category
    first = category[starts]
    user_row = np.searchsorted(truth["user_ids"], small.interactions["user"].to_numpy()[starts])
    n_cat = truth["category_weights"].shape[1]
    # outside the user's interest tree only noise sessions land, each with P = 1 - |support| / n_cat:
    # a Poisson-binomial count, 5 standard deviations (its variance is at most its mean)
    support = truth["category_weights_start"] > 0
    off = ~support[user_row, first]
    p_off = noise * (1 - support.sum(1) / n_cat)[user_row]
    assert abs(off.sum() - p_off.sum()) < 5 * np.sqrt(p_off.sum())
    # the same check rejects the truth of the wrong user (each row shifted by one): it can fail
    other = np.roll(support, 1, axis=0)
    p_other = noise * (1 - other.sum(1) / n_cat)[user_row]
    assert abs((~other[user_row, first]).sum() - p_other.sum()) > 5 * np.sqrt(p_other.sum())
    # per category, the session count matches the time-averaged weights (the drift is linear in time,
    # sessions spread evenly over it) mixed with the noise: sum over sessions of P(category)
    expected = ((1 - noise) * truth["category_weights"][user_row] + noise / n_cat).sum(0)
    observed = np.bincount(first, minlength=n_cat)
    assert (np.abs(observed - expected) < 5 * np.sqrt(expected)).all()


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


def test_popularity_inside_a_category_follows_zipf(small):
    """Each viewed item is drawn by its popularity rank r with P(r) proportional to r^-1.1 (zipf_exponent)."""
    truth = small.truth
    per_cat = truth["params"]["items_per_category"]
    zipf = 1.0 / np.arange(1, per_cat + 1) ** truth["params"]["zipf_exponent"]
    zipf /= zipf.sum()
    np.testing.assert_allclose(np.sort(truth["item_popularity"].reshape(-1, per_cat), axis=1)[:, ::-1],
                               np.tile(zipf, (len(truth["category_department"]), 1)))
    # rank of every item inside its category (0 = the most popular), from the true popularity
    rank = per_cat - 1 - np.argsort(np.argsort(truth["item_popularity"].reshape(-1, per_cat), axis=1), axis=1).ravel()
    views = small.interactions[small.interactions["event"] == "view"]  # one view row per item slot
    drawn = rank[np.searchsorted(truth["item_ids"], views["item"].to_numpy())]
    n = len(drawn)
    counts = np.bincount(drawn, minlength=per_cat)
    # multinomial counts: 5 standard deviations per rank
    assert (np.abs(counts - n * zipf) < 5 * np.sqrt(n * zipf * (1 - zipf))).all()
    # the long tail this makes: the top 10 % of each category take the Zipf share of the top ranks
    # (0.54 for 40 items at exponent 1.1), far more than 10 % of the views
    top = per_cat // 10
    share = (drawn < top).mean()
    assert abs(share - zipf[:top].sum()) < 5 * np.sqrt(zipf[:top].sum() * (1 - zipf[:top].sum()) / n)
    assert zipf[:top].sum() > 0.5


def test_bench_script_reports_the_shop_it_timed(capsys):
    import re
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_shop.py"
    bench = runpy.run_path(str(script))
    bench["main"](["--size", "tiny", "--repeats", "1", "--seed", "2"])
    out = capsys.readouterr().out
    data = make_shop("tiny", seed=2)
    head = re.search(r"([\d,]+) events, ([\d,]+) users, ([\d,]+) items in [\d.]+ s -> ([\d,]+) events/s", out)
    assert head, out
    assert [int(g.replace(",", "")) for g in head.groups()[:3]] == [
        len(data.interactions), data.interactions["user"].nunique(), len(data.items)]
    assert int(head.group(4).replace(",", "")) > 0
    # one line per timed step, each with a number of milliseconds
    steps = dict(re.findall(r"^  (\S.*?)\s+([\d.]+) ms$", out, re.M))
    assert list(steps) == ["collapse_repeats", "leave_one_out", "history(test, 50)", "train_windows(50)",
                           "category_shares", "user_features"]
