"""A synthetic shop whose users have known, hierarchical interests.

Real logs never tell us what a user really wants; this generator does. Its
ground truth (``data.truth``) lets the course check that a model recovers the
interest tree it was built to find. Taught in chapter 02 (used again in chapters 01,
03, 07 and 08, and in chapter 09's benchmark).

How the data is made (all of it vectorised: arrays of users, sessions, item
slots and events, never a loop over them):

1. A taxonomy: departments -> categories -> items. Inside a category, item
   popularity follows a Zipf law (a few hits, a long tail).
2. Each user gets an interest tree: a few departments (popular ones more often),
   a few categories inside each, with Dirichlet weights. The weights drift: a
   user's weights move in a straight line from a start tree to an end tree over
   the data's time window.
3. Each user has sessions (a heavy-tailed number of them). A session stays in one
   category, drawn from the user's current weights (or, with a small ``noise``
   probability, any category), and views a few items drawn by popularity.
4. Each viewed item runs down the funnel view -> click -> cart -> purchase with
   fixed step probabilities; each step is its own row, so a purchase row always
   follows the cart, click and view rows of that item in the same session.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..csr import position_in_row
from .schema import EVENTS, INTERACTION_COLUMNS, PATH_SEP, DataError, InteractionData

# Department -> category names; larger shops than this get numbered names.
CATALOGUE: dict[str, list[str]] = {
    "Electronics": ["Phones", "Laptops", "Headphones", "Cameras", "Televisions", "Tablets", "Smartwatches", "Speakers"],
    "Home": ["Lamps", "Chairs", "Tables", "Bedding", "Rugs", "Storage", "Curtains", "Mirrors"],
    "Fashion": ["Shoes", "Jackets", "Dresses", "Jeans", "Bags", "Hats", "Watches", "Scarves"],
    "Sports": ["Running", "Cycling", "Yoga", "Football", "Tennis", "Swimming", "Climbing", "Fitness"],
    "Books": ["Fiction", "Science", "History", "Cooking", "Travel", "Comics", "Poetry", "Children's books"],
    "Beauty": ["Skincare", "Makeup", "Fragrance", "Haircare", "Nails", "Shaving", "Bath", "Suncare"],
    "Toys": ["Puzzles", "Board games", "Dolls", "Building sets", "Plush", "Outdoor toys", "Models", "Cards"],
    "Grocery": ["Coffee", "Tea", "Snacks", "Pasta", "Spices", "Cereal", "Chocolate", "Olive oil"],
    "Garden": ["Plants", "Seeds", "Tools", "Planters", "Hoses", "Lighting", "Furniture", "Compost"],
    "Music": ["Guitars", "Keyboards", "Drums", "Vinyl", "Microphones", "Amplifiers", "Ukuleles", "Sheet music"],
    "Pets": ["Dog food", "Cat food", "Leashes", "Aquariums", "Pet beds", "Litter", "Bird care", "Pet toys"],
    "Automotive": ["Tyres", "Car care", "Dashcams", "Seat covers", "Tools for cars", "Batteries", "Roof boxes",
                   "Wipers"],
}

# name: (n_users, n_departments, categories_per_department, items_per_category, events_per_user)
# events_per_user is a mean, so a preset makes about n_users * events_per_user events.
PRESETS: dict[str, tuple[int, int, int, int, int]] = {
    "tiny": (50, 4, 3, 10, 60),          # unit tests
    "small": (1_000, 6, 5, 40, 100),     # chapters in fast mode
    "medium": (5_000, 8, 6, 80, 100),    # chapters in full mode
    "large": (20_000, 10, 8, 150, 60),   # benchmarks
}

# Catalogues at scale (make_big_shop), a deeper tree: name: (n_users, fanout per level (top first), items per
# leaf, events_per_user); the catalogue holds prod(fanout) x items per leaf items (10k, 100k and 1M here).
BIG_PRESETS: dict[str, tuple[int, tuple[int, ...], int, int]] = {
    "10k": (4_000, (10, 10, 10), 10, 60),
    "100k": (8_000, (10, 10, 10), 100, 60),
    "1m": (16_000, (10, 10, 10), 1_000, 60),
}
BIG_LEVEL_NAMES = ["department", "category", "subcategory", "line", "variant"]

START = 1_704_067_200  # 2024-01-01 00:00 UTC
SLOT_SECONDS = 60      # time between two viewed items of a session
STEP_SECONDS = 10      # time between two funnel steps of one item
MIN_IDLE = 1_800       # sessions are at least 30 minutes apart (the usual sessionisation gap)
MAX_SLOTS = 20         # at most this many items viewed in one session


def _names(n_top: int, per_top: int, catalogue: dict[str, list[str]] = CATALOGUE,
           word: str = "Department") -> tuple[list[str], list[list[str]]]:
    """Names of ``n_top`` top-level nodes and ``per_top`` children each: ``catalogue``'s, then numbered ones.

    Shared by the synthetic shop and the synthetic school (``education.make_courses``).
    """
    tops = list(catalogue)[:n_top]
    tops += [f"{word} {d + 1}" for d in range(len(tops), n_top)]
    children = []
    for top in tops:
        known = catalogue.get(top, [])[:per_top]
        children.append(known + [f"{top} {c + 1}" for c in range(len(known), per_top)])
    return tops, children


def _top_k_mask(scores: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Per row (last axis), True for the ``k`` highest scores; ``k`` broadcasts over the leading axes."""
    rank = np.argsort(np.argsort(-scores, axis=-1), axis=-1)
    return rank < k[..., None]


def _interest_tree(
    rng: np.random.Generator, n_users: int, n_dept: int, per_dept: int, dept_popularity: np.ndarray,
    support: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Category weights [n_users, n_dept * per_dept] of a random interest tree per user.

    Picks 1-3 departments (popular ones more often; Gumbel top-k sampling) and
    1-3 categories in each, then Dirichlet(1) weights at both levels. With
    ``support`` given, the same departments and categories get fresh weights.
    """
    if support is None:
        n_pick = np.clip(1 + rng.poisson(0.8, n_users), 1, min(3, n_dept))
        gumbel = rng.gumbel(size=(n_users, n_dept))
        dept_on = _top_k_mask(np.log(dept_popularity)[None, :] + gumbel, n_pick)
        n_cat = np.clip(1 + rng.poisson(0.8, (n_users, n_dept)), 1, min(3, per_dept))
        cat_on = _top_k_mask(rng.random((n_users, n_dept, per_dept)), n_cat) & dept_on[:, :, None]
    else:
        dept_on, cat_on = support
    dept_w = rng.gamma(1.0, size=(n_users, n_dept)) * dept_on
    dept_w /= dept_w.sum(1, keepdims=True)
    cat_w = rng.gamma(1.0, size=(n_users, n_dept, per_dept)) * cat_on
    cat_w /= np.maximum(cat_w.sum(2, keepdims=True), 1e-300)
    return (dept_w[:, :, None] * cat_w).reshape(n_users, -1), (dept_on, cat_on)


def _sample_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One column index per entry of ``rows``, drawn from ``probs[row]`` (inverse CDF, no loop)."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    n_cols = probs.shape[1]
    # shift row r's CDF into (r, r + 1]: one sorted array serves every row
    flat = (cum + np.arange(len(probs))[:, None]).ravel()
    hits = np.searchsorted(flat, rows + rng.random(len(rows)), side="right")
    return np.minimum(hits - rows * n_cols, n_cols - 1)


def _simulate_log(
    rng: np.random.Generator, user_ids: np.ndarray, item_ids: np.ndarray, w_start: np.ndarray, w_end: np.ndarray,
    zipf: np.ndarray, item_by_rank: np.ndarray, events_per_user: float, days: int, noise: float,
    funnel: tuple[float, float, float],
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Steps 3 and 4 of the module docstring: sessions in leaf categories, item slots, the funnel.

    ``w_start``/``w_end`` [n_users, n_leaves] are the drift's end points, ``item_by_rank[k, r]`` the
    item (row of ``item_ids``) of popularity rank r in leaf k, ``zipf`` the popularity of each rank.
    Returns the interactions (in the schema's order), ``n_sessions`` and ``activity`` per user.
    Shared by ``make_shop`` and ``make_big_shop``.
    """
    n_users, n_cat = w_start.shape
    per_cat = len(zipf)
    # 3. sessions: how many, when, which category ------------------------------------
    activity = rng.lognormal(-0.5, 1.0, n_users)  # mean 1, heavy tail
    funnel_depth = np.array([1.0, funnel[0], funnel[0] * funnel[1], funnel[0] * funnel[1] * funnel[2]])
    events_per_session = 4.0 * funnel_depth.sum()  # 1 + Poisson(3) items viewed per session
    span = days * 86_400
    slot_budget = MAX_SLOTS * SLOT_SECONDS + MIN_IDLE  # room one session takes at most
    max_sessions = max(1, int(0.9 * span / slot_budget))
    n_sessions = np.minimum(
        1 + rng.poisson(activity * max(events_per_user / events_per_session - 1, 0.0)), max_sessions
    )
    session_user = np.repeat(np.arange(n_users), n_sessions)
    first_session = np.cumsum(n_sessions) - n_sessions
    rank = np.arange(len(session_user)) - first_session[session_user]
    # sorted uniform times per user, then pushed apart so sessions never overlap
    u = np.sort(session_user + rng.random(len(session_user))) - session_user
    free = span - n_sessions * slot_budget
    session_start = START + (u * free[session_user]).astype(np.int64) + rank * slot_budget
    progress = (session_start - START) / span  # how far the drift has gone
    from_end = rng.random(len(session_user)) < progress  # mixture == linear interpolation
    tree_row = session_user + n_users * from_end
    session_category = _sample_rows(rng, np.vstack([w_start, w_end]), tree_row)
    random_session = rng.random(len(session_user)) < noise
    session_category[random_session] = rng.integers(0, n_cat, int(random_session.sum()))

    # 4. item slots and the funnel ----------------------------------------------------
    n_slots = np.minimum(1 + rng.poisson(3.0, len(session_user)), MAX_SLOTS)
    slot_session = np.repeat(np.arange(len(session_user)), n_slots)
    slot_rank = position_in_row(n_slots)
    popularity_rank = np.minimum(np.searchsorted(np.cumsum(zipf), rng.random(len(slot_session))), per_cat - 1)
    slot_item = item_by_rank[session_category[slot_session], popularity_rank]
    steps = rng.random((len(slot_session), 3)) < np.asarray(funnel)[None, :]
    depth = 1 + np.cumprod(steps, axis=1).sum(1)  # 1 = view only ... 4 = purchased
    event_slot = np.repeat(np.arange(len(slot_session)), depth)
    step = position_in_row(depth)
    timestamp = (session_start[slot_session[event_slot]] + slot_rank[event_slot] * SLOT_SECONDS
                 + step * STEP_SECONDS)

    # Sessions are in (user, time) order and events in time order inside them,
    # so the rows already follow the schema's sort: no sort is needed.
    interactions = pd.DataFrame({
        "user": user_ids[session_user[slot_session[event_slot]]],
        "item": item_ids[slot_item[event_slot]],
        "timestamp": timestamp.astype(np.int64),
        "rating": np.full(len(event_slot), np.nan),
        "event": pd.Categorical.from_codes(step, categories=EVENTS),
    })[INTERACTION_COLUMNS]
    return interactions, n_sessions, activity


def make_shop(
    size: str = "small",
    *,
    n_users: int | None = None,
    n_departments: int | None = None,
    categories_per_department: int | None = None,
    items_per_category: int | None = None,
    events_per_user: float | None = None,
    days: int = 90,
    zipf_exponent: float = 1.1,
    drift: float = 0.5,
    noise: float = 0.05,
    funnel: tuple[float, float, float] = (0.35, 0.3, 0.5),
    seed: int = 0,
) -> InteractionData:
    """Generate the synthetic shop: interactions, items, users and the ground truth.

    ``size`` picks a preset (``"tiny"``, ``"small"``, ``"medium"``, ``"large"``;
    see ``PRESETS``); the keyword arguments override it. ``events_per_user`` is a
    mean (activity is heavy-tailed). ``drift`` in [0, 1] is how far interests move
    over the ``days`` of the log; ``noise`` is the share of sessions in a random
    category; ``funnel`` holds P(click | view), P(cart | click), P(purchase | cart).
    The same arguments and ``seed`` give the same data.

    ``truth`` holds (row u of a per-user array is user ``truth["user_ids"][u]``;
    category k is ``truth["category_names"][k]``):
    ``department_weights`` [n_users, n_departments] and ``category_weights``
    [n_users, n_categories] (true interest weights averaged over time; rows sum
    to 1), ``category_weights_start`` / ``_end`` (the drift's end points),
    ``item_ids``, ``item_category`` [n_items], ``item_popularity`` [n_items]
    (probability within its category), ``category_department`` [n_categories],
    ``department_names``, ``category_names`` (full paths), ``n_sessions``
    [n_users], ``activity`` [n_users] and ``params``.

    Returns an ``InteractionData`` named "shop" (interactions with view, click,
    cart and purchase events; items with two-level ``category_path``; users;
    ``truth``; ``info["level_names"] == ["department", "category"]``).

    Taught in chapter 02.
    """
    if size not in PRESETS:
        raise DataError(f"unknown shop size {size!r}; choose one of {list(PRESETS)} (and override sizes by keyword).")
    preset = PRESETS[size]
    n_users = int(preset[0] if n_users is None else n_users)
    n_dept = int(preset[1] if n_departments is None else n_departments)
    per_dept = int(preset[2] if categories_per_department is None else categories_per_department)
    per_cat = int(preset[3] if items_per_category is None else items_per_category)
    events_per_user = float(preset[4] if events_per_user is None else events_per_user)
    for name, value in [("n_users", n_users), ("n_departments", n_dept),
                        ("categories_per_department", per_dept), ("items_per_category", per_cat)]:
        if value < 1:
            raise DataError(f"{name} must be >= 1, got {value}.")
    if events_per_user <= 0 or days < 1:
        raise DataError(f"events_per_user and days must be positive, got {events_per_user} and {days}.")
    if not (0 <= drift <= 1 and 0 <= noise <= 1 and all(0 <= p <= 1 for p in funnel)):
        raise DataError("drift, noise and the funnel probabilities must lie in [0, 1].")

    rng = np.random.default_rng(seed)
    n_cat, n_items = n_dept * per_dept, n_dept * per_dept * per_cat

    # 1. taxonomy and item popularity ------------------------------------------------
    dept_names, cat_names = _names(n_dept, per_dept)
    category_department = np.repeat(np.arange(n_dept), per_dept)
    item_category = np.repeat(np.arange(n_cat), per_cat)
    zipf = 1.0 / np.arange(1, per_cat + 1) ** zipf_exponent
    zipf /= zipf.sum()
    # popularity rank of each item inside its category, shuffled so ids say nothing
    rank_of_item = rng.permuted(np.tile(np.arange(per_cat), (n_cat, 1)), axis=1)
    item_by_rank = np.argsort(rank_of_item, axis=1) + (np.arange(n_cat) * per_cat)[:, None]
    item_popularity = zipf[rank_of_item.ravel()]
    item_ids = np.sort(rng.choice(np.arange(1_000, 1_000 + 10 * n_items), n_items, replace=False))
    user_ids = np.sort(rng.choice(np.arange(1, 1 + 10 * n_users), n_users, replace=False))

    # 2. users' interest trees, start and end of the drift ------------------------------
    dept_popularity = rng.dirichlet(np.full(n_dept, 2.0))
    w_start, support = _interest_tree(rng, n_users, n_dept, per_dept, dept_popularity)
    w_fresh, _ = _interest_tree(rng, n_users, n_dept, per_dept, dept_popularity, support)
    w_end = (1 - drift) * w_start + drift * w_fresh

    # 3.-4. sessions, item slots and the funnel --------------------------------------
    interactions, n_sessions, activity = _simulate_log(
        rng, user_ids, item_ids, w_start, w_end, zipf, item_by_rank, events_per_user, days, noise, funnel)

    full_names = [f"{d}{PATH_SEP}{c}" for d, cats in zip(dept_names, cat_names) for c in cats]
    number_in_category = np.arange(n_items) % per_cat + 1
    flat_cat_names = np.array([c for cats in cat_names for c in cats], dtype=object)
    items = pd.DataFrame({
        "item": item_ids,
        "title": flat_cat_names[item_category] + " #" + number_in_category.astype(str),
        "category_path": np.array(full_names, dtype=object)[item_category],
        "categories": pd.Series([(d,) for d in dept_names], dtype=object).to_numpy()[
            category_department[item_category]],
    })
    users = pd.DataFrame({"user": user_ids})

    category_weights = (w_start + w_end) / 2
    department_weights = category_weights.reshape(n_users, n_dept, per_dept).sum(2)
    params: dict[str, Any] = dict(
        size=size, n_users=n_users, n_departments=n_dept, categories_per_department=per_dept,
        items_per_category=per_cat, events_per_user=events_per_user, days=days,
        zipf_exponent=zipf_exponent, drift=drift, noise=noise, funnel=tuple(funnel), seed=seed,
    )
    truth = {
        "user_ids": user_ids,
        "item_ids": item_ids,
        "department_weights": department_weights,
        "category_weights": category_weights,
        "category_weights_start": w_start,
        "category_weights_end": w_end,
        "item_category": item_category,
        "item_popularity": item_popularity,
        "category_department": category_department,
        "department_names": dept_names,
        "category_names": full_names,
        "n_sessions": n_sessions,
        "activity": activity,
        "params": params,
    }
    return InteractionData(
        "shop", interactions, items, users, truth,
        info={"level_names": ["department", "category"], "generator": "hiercourse.datasets.shop.make_shop"},
    )


def _deep_interest_tree(
    rng: np.random.Generator, n_users: int, fanout: tuple[int, ...], top_popularity: np.ndarray,
    support: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Leaf weights [n_users, prod(fanout)] of a random interest tree per user, at any depth.

    ``_interest_tree`` level after level: 1-3 top nodes (popular ones more often), then 1-3
    children inside every chosen node, and Dirichlet(1) weights among the chosen children of
    each node, multiplied down the tree. With ``support`` given, the same nodes get fresh weights.
    """
    if support is None:
        n_pick = np.clip(1 + rng.poisson(0.8, n_users), 1, min(3, fanout[0]))
        gumbel = rng.gumbel(size=(n_users, fanout[0]))
        support = [_top_k_mask(np.log(top_popularity)[None, :] + gumbel, n_pick)]
        for width in fanout[1:]:
            parent = support[-1]  # [n_users, nodes of the level above]
            n_child = np.clip(1 + rng.poisson(0.8, parent.shape), 1, min(3, width))
            child = _top_k_mask(rng.random(parent.shape + (width,)), n_child) & parent[:, :, None]
            support.append(child.reshape(n_users, -1))
    weights = np.ones((n_users, 1))
    for on, width in zip(support, fanout):
        w = (rng.gamma(1.0, size=on.shape) * on).reshape(n_users, -1, width)
        w /= np.maximum(w.sum(2, keepdims=True), 1e-300)
        weights = (weights[:, :, None] * w).reshape(n_users, -1)
    return weights, support


def make_big_shop(
    size: str = "10k",
    *,
    n_users: int | None = None,
    fanout: tuple[int, ...] | None = None,
    items_per_leaf: int | None = None,
    events_per_user: float | None = None,
    days: int = 90,
    zipf_exponent: float = 1.1,
    drift: float = 0.5,
    noise: float = 0.05,
    funnel: tuple[float, float, float] = (0.35, 0.3, 0.5),
    seed: int = 0,
) -> InteractionData:
    """The synthetic shop at scale: a catalogue of 10k to 1M items in a deeper tree.

    ``size`` picks a preset of ``BIG_PRESETS`` (``"10k"``, ``"100k"``, ``"1m"``); the keywords
    override it. ``fanout`` holds the number of children per node, top level first (the presets'
    ``(10, 10, 10)``: departments > categories > subcategories, 1,000 leaves), and each leaf holds
    ``items_per_leaf`` items with Zipf popularity. Users' interest trees reach down to the leaves
    (1-3 nodes chosen inside each chosen node, level after level); sessions, items and the funnel
    are made as in ``make_shop`` (the same code). Every step is vectorised: a million items take
    seconds. The other arguments are ``make_shop``'s.

    Returns an ``InteractionData`` named "shop" whose items carry a ``len(fanout)``-level
    ``category_path``; ``truth`` holds ``user_ids``, ``item_ids``, ``leaf_weights`` [n_users,
    n_leaves] (true weights averaged over the drift), ``item_leaf``, ``item_popularity``,
    ``leaf_names`` (full paths), ``n_sessions``, ``activity`` and ``params``.

    Taught in chapter 13.
    """
    if size not in BIG_PRESETS:
        raise DataError(f"unknown big shop size {size!r}; choose one of {list(BIG_PRESETS)} "
                        "(and override sizes by keyword).")
    preset = BIG_PRESETS[size]
    n_users = int(preset[0] if n_users is None else n_users)
    fanout = tuple(int(f) for f in (preset[1] if fanout is None else fanout))
    per_leaf = int(preset[2] if items_per_leaf is None else items_per_leaf)
    events_per_user = float(preset[3] if events_per_user is None else events_per_user)
    if n_users < 1 or per_leaf < 1 or not fanout or min(fanout) < 1:
        raise DataError(f"n_users, items_per_leaf and every fanout must be >= 1 (and fanout non-empty), got "
                        f"{n_users}, {per_leaf} and {fanout}.")
    if events_per_user <= 0 or days < 1:
        raise DataError(f"events_per_user and days must be positive, got {events_per_user} and {days}.")
    if not (0 <= drift <= 1 and 0 <= noise <= 1 and all(0 <= p <= 1 for p in funnel)):
        raise DataError("drift, noise and the funnel probabilities must lie in [0, 1].")

    rng = np.random.default_rng(seed)
    n_leaves = int(np.prod(fanout))
    n_items = n_leaves * per_leaf

    # 1. the tree's names (a loop over nodes, not items), items and their popularity -------
    tops, children = _names(fanout[0], fanout[1] if len(fanout) > 1 else 1)
    paths, last = list(tops), list(tops)
    for level, width in enumerate(fanout[1:], start=1):
        if level == 1:
            last = [child for kids in children for child in kids]
        else:
            last = [f"{name} {k + 1}" for name in last for k in range(width)]
        paths = [f"{parent}{PATH_SEP}{name}" for parent, name in zip(np.repeat(paths, width), last)]
    item_leaf = np.repeat(np.arange(n_leaves), per_leaf)
    zipf = 1.0 / np.arange(1, per_leaf + 1) ** zipf_exponent
    zipf /= zipf.sum()
    rank_of_item = rng.permuted(np.tile(np.arange(per_leaf), (n_leaves, 1)), axis=1)
    item_by_rank = np.argsort(rank_of_item, axis=1) + (np.arange(n_leaves) * per_leaf)[:, None]
    # sorted, distinct ids that say nothing: one random digit per slot of ten
    item_ids = 1_000 + 10 * np.arange(n_items) + rng.integers(0, 10, n_items)
    user_ids = 1 + 10 * np.arange(n_users) + rng.integers(0, 10, n_users)

    # 2. interest trees down to the leaves, start and end of the drift -----------------------
    top_popularity = rng.dirichlet(np.full(fanout[0], 2.0))
    w_start, support = _deep_interest_tree(rng, n_users, fanout, top_popularity)
    w_fresh, _ = _deep_interest_tree(rng, n_users, fanout, top_popularity, support)
    w_end = (1 - drift) * w_start + drift * w_fresh

    # 3.-4. sessions, item slots and the funnel: make_shop's code ------------------------------
    interactions, n_sessions, activity = _simulate_log(
        rng, user_ids, item_ids, w_start, w_end, zipf, item_by_rank, events_per_user, days, noise, funnel)

    leaf_paths = np.array(paths, dtype=object)
    top_of_leaf = np.repeat(np.arange(fanout[0]), n_leaves // fanout[0])
    number = (np.arange(n_items) % per_leaf + 1).astype(str).astype(object)
    items = pd.DataFrame({
        "item": item_ids,
        "title": np.array(last, dtype=object)[item_leaf] + " #" + number,
        "category_path": leaf_paths[item_leaf],
        "categories": pd.Series([(t,) for t in tops], dtype=object).to_numpy()[top_of_leaf[item_leaf]],
    })
    params: dict[str, Any] = dict(
        size=size, n_users=n_users, fanout=fanout, items_per_leaf=per_leaf, events_per_user=events_per_user,
        days=days, zipf_exponent=zipf_exponent, drift=drift, noise=noise, funnel=tuple(funnel), seed=seed,
    )
    truth = {
        "user_ids": user_ids,
        "item_ids": item_ids,
        "leaf_weights": (w_start + w_end) / 2,
        "item_leaf": item_leaf,
        "item_popularity": zipf[rank_of_item.ravel()],
        "leaf_names": paths,
        "n_sessions": n_sessions,
        "activity": activity,
        "params": params,
    }
    level_names = BIG_LEVEL_NAMES[: len(fanout)] + [f"level {l + 1}" for l in range(len(BIG_LEVEL_NAMES), len(fanout))]
    return InteractionData(
        "shop", interactions, items, pd.DataFrame({"user": user_ids}), truth,
        info={"level_names": level_names, "generator": "hiercourse.datasets.shop.make_big_shop"},
    )
