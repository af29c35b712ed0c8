"""Features of users and items, per-level category shares, and how to encode ids.

Everything works on tidy interaction frames (``hiercourse.datasets.schema``),
grouped with pandas/numpy in a few vectorised passes, or on a ``SequenceSplit``
for the encoded ids the models use. Taught in chapter 03.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hiercourse.csr import gather_rows
from hiercourse.datasets.schema import EVENTS, PATH_SEP, require_columns
from hiercourse.errors import DataError
from hiercourse.preprocessing import event_codes, item_taxonomy, sort_by_user_time, sorted_unique

if TYPE_CHECKING:
    import torch

    from hiercourse.preprocessing import SequenceSplit

DAY = 86_400
SESSION_GAP = 1_800  # 30 minutes of silence end a session, the usual web-analytics rule
HEAD_FRACTION = 0.2  # "the 20 % most popular items": the head of the long tail (chapter 03)


def _check(frame: pd.DataFrame, what: str, columns: Sequence[str] = ("user", "item", "timestamp")) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{what} needs a DataFrame of interactions, got {type(frame).__name__}; "
                        "pass data.interactions.")
    require_columns(frame, list(columns), what)
    if len(frame) == 0:
        raise DataError(f"{what} got an empty frame: there is nothing to describe.")


# --------------------------------------------------------------------------- users


def sessionize(frame: pd.DataFrame, gap: int = SESSION_GAP) -> np.ndarray:
    """Session number of every row: a new session starts with a new user or after ``gap`` silent seconds.

    ``frame`` must be in (user, timestamp) order, as tidy frames are. Returns an
    int array [len(frame)] whose numbers run 0, 1, 2, ... over the whole frame.
    Taught in chapter 02 (chapter 03's ``user_features`` counts sessions with it).
    """
    _check(frame, "sessionize")
    users, stamps = frame["user"].to_numpy(), frame["timestamp"].to_numpy()
    new = np.ones(len(frame), dtype=bool)
    new[1:] = (users[1:] != users[:-1]) | (stamps[1:] - stamps[:-1] > gap)
    if np.any((users[1:] == users[:-1]) & (stamps[1:] < stamps[:-1])):
        raise DataError("sessionize needs rows in (user, timestamp) order; sort them first "
                        "(tidy_interactions does).")
    return np.cumsum(new) - 1


def event_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Users x event types: how many views, clicks, carts, purchases, ratings each user has.

    Returns a DataFrame indexed by ``user`` with columns ``n_view`` .. ``n_rating``.
    Taught in chapter 03.
    """
    _check(frame, "event_counts", ("user", "event"))
    user_codes, users = pd.factorize(frame["user"].to_numpy(), sort=True)
    counts = np.bincount(user_codes * len(EVENTS) + event_codes(frame["event"]),
                         minlength=len(users) * len(EVENTS)).reshape(len(users), len(EVENTS))
    return pd.DataFrame(counts, index=pd.Index(users, name="user"), columns=[f"n_{e}" for e in EVENTS])


def recency(frame: pd.DataFrame, end: int | None = None) -> pd.Series:
    """Seconds from each user's last event to ``end`` (default: the last timestamp in the data).

    Returns a Series ``recency_s`` indexed by user. Taught in chapter 03.
    """
    _check(frame, "recency")
    end = int(frame["timestamp"].max()) if end is None else int(end)
    last = frame.groupby("user", sort=True)["timestamp"].max()
    return (end - last).rename("recency_s")


def _distinct_per_user(user_codes: np.ndarray, values: np.ndarray, n_users: int) -> np.ndarray:
    """How many distinct non-negative ints in ``values`` each user has: unique over one combined
    (user, value) key, then a bincount per user."""
    width = int(values.max()) + 1
    return np.bincount(sorted_unique(user_codes * width + values) // width, minlength=n_users)


def user_features(frame: pd.DataFrame, gap: int = SESSION_GAP, end: int | None = None) -> pd.DataFrame:
    """One row per user: activity, sessions, event counts, purchase frequency and recency.

    Columns: ``events``, ``distinct_items``, ``active_days`` (calendar days with
    an event), ``events_per_active_day``, ``sessions`` (``gap`` seconds of
    silence split them), ``events_per_session``, ``tenure_days`` (first to last
    event), ``n_view`` .. ``n_rating``, ``purchases_per_session``,
    ``conversion`` (purchases / views; NaN without views), ``recency_s`` and
    ``recency_days`` (to ``end``, default the data's last timestamp). The
    ``n_*``, ``purchases_per_session`` and ``conversion`` columns need an ``event``
    column. Returns a DataFrame indexed by ``user``.

    Taught in chapter 03.
    """
    _check(frame, "user_features")
    frame = sort_by_user_time(frame)
    users = frame["user"].to_numpy()
    codes, index = pd.factorize(users, sort=True)
    n = len(index)
    stamps = frame["timestamp"].to_numpy()
    events = np.bincount(codes, minlength=n)
    distinct_items = _distinct_per_user(codes, pd.factorize(frame["item"].to_numpy())[0], n)
    day = stamps // DAY
    active_days = _distinct_per_user(codes, day - day.min(), n)
    session = sessionize(frame, gap)
    sessions = np.bincount(codes[np.r_[True, session[1:] != session[:-1]]], minlength=n)
    # rows are in (user, time) order: a user's first and last rows hold their first and last times
    group_end = np.cumsum(events)
    first, last = stamps[group_end - events], stamps[group_end - 1]
    out = pd.DataFrame({
        "events": events,
        "distinct_items": distinct_items,
        "active_days": active_days,
        "events_per_active_day": events / active_days,
        "sessions": sessions,
        "events_per_session": events / sessions,
        "tenure_days": (last - first) / DAY,
    }, index=pd.Index(index, name="user"))
    if "event" in frame:
        counts = event_counts(frame)
        out = out.join(counts)
        out["purchases_per_session"] = out["n_purchase"] / out["sessions"]
        out["conversion"] = out["n_purchase"] / out["n_view"].where(out["n_view"] > 0)
    end = int(stamps.max()) if end is None else int(end)
    out["recency_s"] = end - last
    out["recency_days"] = out["recency_s"] / DAY
    return out


# --------------------------------------------------------------------------- items


def head_items(counts, head_fraction: float = HEAD_FRACTION) -> np.ndarray:
    """Bool per item: True for the head, the ``head_fraction`` most popular items; the rest is the tail.

    ``counts``: interactions per item. The head holds the ``ceil(head_fraction * n)`` most
    counted items and every item tied with the last of them (so the rule does not depend on
    how ties happen to be ordered). The one home of the head/tail rule (features, the
    evaluation's popularity slices). Taught in chapter 03.
    """
    counts = np.asarray(counts)
    if not 0 < head_fraction < 1:
        raise DataError(f"head_fraction must lie in (0, 1), got {head_fraction}.")
    if counts.size == 0:
        return np.zeros(0, dtype=bool)
    n_head = max(1, int(np.ceil(head_fraction * counts.size)))
    threshold = np.sort(counts)[::-1][n_head - 1]
    return counts >= threshold


def item_popularity(frame: pd.DataFrame, head_fraction: float = HEAD_FRACTION) -> pd.DataFrame:
    """One row per item, most popular first: ``count``, ``users``, ``rank`` (1 = top), ``share``,
    ``cumulative_share`` and ``head`` (True for the top ``head_fraction`` of items).

    Taught in chapter 03.
    """
    _check(frame, "item_popularity")
    counts = frame["item"].value_counts(sort=False)
    users = frame.drop_duplicates(["user", "item"])["item"].value_counts(sort=False)
    out = pd.DataFrame({"count": counts, "users": users.reindex(counts.index)})
    out = out.sort_values(["count", "users"], ascending=False, kind="stable")
    out.index.name = "item"
    out["rank"] = np.arange(1, len(out) + 1)
    out["share"] = out["count"] / out["count"].sum()
    out["cumulative_share"] = out["share"].cumsum()
    out["head"] = head_items(out["count"].to_numpy(), head_fraction)
    return out


def long_tail_summary(frame: pd.DataFrame, head_fraction: float = HEAD_FRACTION) -> dict[str, float]:
    """How concentrated interactions are on few items (and events on few users).

    ``head_share``: share of interactions on the top ``head_fraction`` of items;
    ``items_for_80pct``: the fraction of items that take 80 % of interactions;
    ``tail_items``: the fraction of items with one or two interactions;
    ``item_gini`` and ``user_gini``: Gini coefficients of the counts (0 = even).
    Returns these (and ``head_fraction``) as a dict of floats.

    Taught in chapter 03.
    """
    pop = item_popularity(frame, head_fraction)
    counts = pop["count"].to_numpy()
    user_counts = frame["user"].value_counts().to_numpy()
    return {
        "head_fraction": head_fraction,
        "head_share": float(pop.loc[pop["head"], "share"].sum()),
        "items_for_80pct": float((np.searchsorted(pop["cumulative_share"].to_numpy(), 0.8) + 1) / len(pop)),
        "tail_items": float(np.mean(counts <= 2)),
        "item_gini": gini(counts),
        "user_gini": gini(user_counts),
    }


def gini(counts: Iterable[float]) -> float:
    """Gini coefficient (a float) of non-negative counts: 0 when all are equal, near 1 when one takes all.

    Taught in chapter 03.
    """
    x = np.sort(np.asarray(counts if hasattr(counts, "__len__") else list(counts), dtype=float))
    if len(x) == 0 or x.sum() == 0:
        return 0.0
    ranks = np.arange(1, len(x) + 1)
    return float((2 * ranks - len(x) - 1) @ x / (len(x) * x.sum()))


# --------------------------------------------------------------------------- category shares


def category_shares(
    frame: pd.DataFrame,
    items: pd.DataFrame,
    weight: str | None = None,
    level_names: Sequence[str] | None = None,
    full_names: bool = False,
) -> dict[str, pd.DataFrame]:
    """Per level of the taxonomy, users x nodes: the share of each user's events in each node.

    Levels come from the items' ``category_path`` (``"Electronics > Phones"``:
    level 0 = department, level 1 = category; nodes are named as in
    ``SequenceSplit.node_names``). Each returned frame has one row per user (rows
    sum to 1; a user with no categorised event gets a row of zeros) and one
    column per node. ``weight`` names a column of
    per-event weights (e.g. ``to_implicit``'s ``weight``); default 1 per event.
    Keys are ``level_names`` (e.g. ``data.info["level_names"]``), else "level 0", "level 1", ...
    ``full_names=True`` names columns by their whole path ("Home > Lamps").

    Taught in chapter 03 (chapters 01 and 02 already call it).
    """
    _check(frame, "category_shares")
    require_columns(items, ["item", "category_path"], "category_shares's items")
    items = items.drop_duplicates("item").reset_index(drop=True)
    paths, node_names = item_taxonomy(items)  # row r + 1 = items row r; node 0 = none
    row = pd.Series(np.arange(1, len(items) + 1), index=items["item"].to_numpy())
    rows = row.reindex(frame["item"].to_numpy()).fillna(0).to_numpy(np.int64)  # unknown items: no node
    w = np.ones(len(frame)) if weight is None else frame[weight].to_numpy(dtype=float)
    user_codes, users = pd.factorize(frame["user"].to_numpy(), sort=True)
    out: dict[str, pd.DataFrame] = {}
    for level in range(paths.shape[1]):  # a few levels, vectorised inside
        nodes = paths[rows, level]
        key = level_names[level] if level_names is not None and level < len(level_names) else f"level {level}"
        names = node_names[level][1:]
        if full_names:  # the path prefix of any item in the node names it
            node_of_item = paths[1:, level]
            order = np.argsort(node_of_item, kind="stable")
            ordered = node_of_item[order]
            first_item = order[np.r_[True, ordered[1:] != ordered[:-1]] & (ordered > 0)]
            names = (items["category_path"].iloc[first_item].str.split(PATH_SEP, regex=False)
                     .str[: level + 1].str.join(PATH_SEP).tolist())
        out[key] = pd.DataFrame(
            _shares(user_codes, nodes, len(users), len(node_names[level]), w)[:, 1:],
            index=pd.Index(users, name="user"), columns=names,
        )
    if not out:
        raise DataError("no item has a category_path: category shares need a taxonomy.")
    return out


def _shares(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int, weights: np.ndarray | None = None,
            ignore_col0: bool = True) -> np.ndarray:
    """[n_rows, n_cols] weighted counts of (row, col) pairs, normalised per row (column 0 left out when asked)."""
    table = np.bincount(rows * n_cols + cols, weights=weights, minlength=n_rows * n_cols).reshape(n_rows, n_cols)
    table = table.astype(float)
    if ignore_col0:
        table[:, 0] = 0.0
    totals = table.sum(1, keepdims=True)
    return np.divide(table, totals, out=np.zeros_like(table), where=totals > 0)


def genre_shares(frame: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    """Users x labels from the items' ``categories`` (e.g. all genres of a movie).

    An item with several labels splits its event evenly among them, so rows sum
    to 1 (zeros for users whose items have no label). Returns a users x labels
    DataFrame (labels sorted). Taught in chapter 03.
    """
    _check(frame, "genre_shares")
    require_columns(items, ["item", "categories"], "genre_shares's items")
    hot, labels = multi_hot(items["categories"])
    item_row, label = np.nonzero(hot)  # (item row, label) pairs, grouped by item row
    n_labels = np.bincount(item_row, minlength=len(items))
    first = np.cumsum(n_labels) - n_labels
    row_of_item = pd.Series(np.arange(len(items)), index=items["item"].to_numpy())
    rows = row_of_item.reindex(frame["item"].to_numpy()).to_numpy()
    user_codes, users = pd.factorize(frame["user"].to_numpy(), sort=True)
    known = ~np.isnan(rows)
    rows, user_codes_known = rows[known].astype(np.int64), user_codes[known]
    # one pair per (event, label of its item); an item's labels share its event evenly
    repeat = n_labels[rows]
    _, pair_label = gather_rows(label, first[rows], repeat)
    pair_user = np.repeat(user_codes_known, repeat)
    table = _shares(pair_user, pair_label, len(users), len(labels), 1.0 / np.repeat(repeat, repeat),
                    ignore_col0=False)
    return pd.DataFrame(table, index=pd.Index(users, name="user"), columns=labels)


def split_level_shares(split: SequenceSplit, stage: str = "train") -> list[np.ndarray]:
    """Per level, [n_users, n_nodes + 1] shares of each user's encoded events (column = node id).

    Column 0 (the padding node) is always 0; the other columns of a row sum to 1
    (or are all 0 when the user has no categorised event). ``stage``: "train"
    (train parts only: safe to compare with what a model learned), "valid" or
    "test" (everything before that target). Taught in chapter 03 (chapter 08 compares
    the same kind of shares, from ``interests.history_shares``, with the model's interests).
    """
    starts = split.offsets[:-1]
    ends = {"train": split.offsets[1:] - 2, "valid": split.offsets[1:] - 2, "test": split.offsets[1:] - 1}
    if stage not in ends:
        raise DataError(f"stage must be 'train', 'valid' or 'test', got {stage!r}.")
    users, items = gather_rows(split.seq, starts, ends[stage] - starts)
    out = []
    for level in range(split.item_paths.shape[1]):
        nodes = split.item_paths[items, level]
        out.append(_shares(users, nodes, split.n_users, len(split.node_names[level])))
    return out


def share_distance(a: pd.DataFrame | np.ndarray, b: pd.DataFrame | np.ndarray) -> pd.Series | np.ndarray:
    """Total variation distance per row between two share tables: half the summed absolute difference.

    0 when a user's two rows are the same, 1 when they share no node; it is the
    largest share any set of nodes can gain or lose. Two DataFrames (e.g. levels
    of ``category_shares``) are compared on the users both hold, over all nodes
    either holds (a missing node has share 0); the result is a Series indexed by
    user. Two arrays must have the same shape; rows lie on the last axis.
    Taught in chapter 01 (used in chapters 02 and 03).
    """
    if isinstance(a, pd.DataFrame) and isinstance(b, pd.DataFrame):
        a, b = a.align(b, join="inner", axis=0)
        a, b = a.align(b, join="outer", axis=1, fill_value=0.0)
        return (0.5 * (a - b).abs().sum(axis=1)).rename("share_distance")
    if isinstance(a, pd.DataFrame) or isinstance(b, pd.DataFrame):
        raise DataError("share_distance needs two DataFrames or two arrays, not one of each; "
                        "use .to_numpy() on the DataFrame after aligning its columns.")
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise DataError(f"share_distance needs share tables of the same shape, got {a.shape} and {b.shape}.")
    return 0.5 * np.abs(a - b).sum(axis=-1)


# --------------------------------------------------------------------------- encodings


def one_hot(codes: Iterable[int], n_values: int) -> np.ndarray:
    """float32 [n, n_values]: row r has a single 1 at column ``codes[r]``. Taught in chapter 03."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >= n_values):
        raise DataError(f"codes must lie in 0..{n_values - 1}; got {codes.min()}..{codes.max()}. "
                        "Encode ids with IdMap first.")
    out = np.zeros((len(codes), n_values), dtype=np.float32)
    out[np.arange(len(codes)), codes] = 1.0
    return out


def multi_hot(labels: Iterable[Iterable[str]], vocabulary: Sequence[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """float32 [n, n_labels] with a 1 for every label of a row (e.g. a movie's genres), and the vocabulary.

    ``vocabulary=None`` uses the sorted labels present; labels outside a given
    vocabulary raise a DataError. Taught in chapter 03.
    """
    series = pd.Series(list(labels), dtype=object)
    series = series.map(lambda v: (v,) if isinstance(v, str) else tuple(v) if v is not None else ())
    exploded = series.explode().dropna()
    if vocabulary is None:
        vocabulary = sorted(set(exploded.astype(str)))
    vocabulary = list(vocabulary)
    position = pd.Series(np.arange(len(vocabulary)), index=vocabulary)
    cols = position.reindex(exploded.astype(str).to_numpy())
    if cols.isna().any():
        unknown = sorted(set(exploded[cols.isna().to_numpy()].astype(str)))
        raise DataError(f"label(s) {unknown[:10]} are not in the vocabulary {vocabulary[:10]}...; "
                        "add them or drop them first.")
    out = np.zeros((len(series), len(vocabulary)), dtype=np.float32)
    out[exploded.index.to_numpy(), cols.to_numpy(dtype=np.int64)] = 1.0
    return out, vocabulary


def embedding(n_values: int, dim: int, padding_idx: int | None = 0, seed: int = 0) -> torch.nn.Embedding:
    """A learnable lookup table [n_values, dim]: the same as one-hot times a weight matrix, without the zeros.

    Returns a ``torch.nn.Embedding`` initialised from ``seed`` (the caller's random
    stream is left alone): LongTensor ids [...] -> vectors [..., dim]; row
    ``padding_idx`` stays zero. Taught in chapter 03.
    """
    import torch

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    table = torch.nn.Embedding(n_values, dim, padding_idx=padding_idx)
    torch.random.set_rng_state(generator_state)  # leave the caller's random stream alone
    return table


def memory_bytes(value: Any) -> int:
    """Bytes held (an int) by an array, tensor, module (its parameters), DataFrame or scipy/torch sparse matrix.

    Taught in chapter 03.
    """
    if hasattr(value, "parameters") and callable(value.parameters):  # torch module
        return int(sum(p.numel() * p.element_size() for p in value.parameters()))
    if hasattr(value, "is_sparse") and getattr(value, "is_sparse", False):  # torch COO
        value = value.coalesce()
        return memory_bytes(value.indices()) + memory_bytes(value.values())
    if hasattr(value, "element_size") and hasattr(value, "numel"):  # torch dense
        return int(value.numel() * value.element_size())
    if isinstance(value, pd.DataFrame):
        return int(value.memory_usage(deep=True).sum())
    if hasattr(value, "indptr") and hasattr(value, "indices") and hasattr(value, "data"):  # scipy CSR/CSC
        return int(value.data.nbytes + value.indices.nbytes + value.indptr.nbytes)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    raise DataError(f"memory_bytes does not know how to size a {type(value).__name__}.")


def encoding_cost(n_values: int | Sequence[int], dim: int, n_rows: int = 1, bytes_per_value: int = 4) -> pd.DataFrame:
    """Bytes of encoding ``n_rows`` ids out of ``n_values`` as one-hot vs an embedding of size ``dim``.

    Per encoding: ``input_bytes`` (what one batch of ``n_rows`` ids takes as the
    model's input), ``parameter_bytes`` (the weights that map it to ``dim``
    numbers: a one-hot vector times an [n_values, dim] matrix needs exactly the
    embedding's table) and ``output_bytes``. The one-hot input grows with
    ``n_values``; the embedding's input is one int64 index per row. Returns a
    DataFrame indexed by (``n_values``, ``encoding``) with those columns and
    ``total_bytes``.

    Taught in chapter 03.
    """
    if dim < 1 or n_rows < 1:
        raise DataError(f"dim and n_rows must be >= 1, got {dim} and {n_rows}.")
    rows = []
    for n in np.atleast_1d(np.asarray(n_values, dtype=np.int64)):
        table = int(n) * dim * bytes_per_value
        output = n_rows * dim * bytes_per_value
        rows.append({"n_values": int(n), "encoding": "one-hot (dense)",
                     "input_bytes": n_rows * int(n) * bytes_per_value, "parameter_bytes": table,
                     "output_bytes": output})
        rows.append({"n_values": int(n), "encoding": "embedding",
                     "input_bytes": n_rows * 8, "parameter_bytes": table, "output_bytes": output})
    out = pd.DataFrame(rows)
    out["total_bytes"] = out[["input_bytes", "parameter_bytes", "output_bytes"]].sum(axis=1)
    return out.set_index(["n_values", "encoding"])


# --------------------------------------------------------------------------- the split's matrices and truth


def train_matrix(split: SequenceSplit):
    """Binary user x item matrix ``[n_users, n_items + 1]`` (scipy CSR) of the training interactions.

    Column 0 is padding (empty); an item met twice by a user counts once. The input of
    item-KNN and of co-occurrence item vectors. Taught in chapter 01 (used in 08 and 09).
    """
    import scipy.sparse as sp

    users, items = split.train_interactions()
    matrix = sp.csr_matrix(
        (np.ones(len(users), dtype=np.float32), (users, items)), shape=(split.n_users, split.n_items + 1)
    )
    matrix.data[:] = 1.0  # repeated interactions count once
    return matrix


def node_prefixes(split: SequenceSplit, level: int) -> list[str]:
    """The full path prefix (e.g. "Home > Lamps") of every node of ``level``; index 0 = "<pad>".

    Taught in chapter 08.
    """
    return _node_names(split, level, *_item_prefixes(split, level))


def _item_prefixes(split: SequenceSplit, level: int) -> tuple[np.ndarray, pd.Series]:
    """Every item's node of ``level`` and its category path cut to ``level + 1`` parts, in item-code order."""
    items = split.items.sort_values("idx")
    prefixes = items["category_path"].astype(str).str.split(PATH_SEP, regex=False).str[: level + 1].str.join(PATH_SEP)
    return np.asarray(split.item_paths)[items["idx"].to_numpy(), level], prefixes


def _node_names(split: SequenceSplit, level: int, nodes: np.ndarray, prefixes: pd.Series) -> list[str]:
    """``node_prefixes`` from ``_item_prefixes``' output: each node named by (the last of) its items' prefixes."""
    names = ["<pad>"] * (int(np.asarray(split.item_paths)[:, level].max()) + 1)
    for node, prefix in zip(nodes, prefixes):  # one pass over the items
        names[node] = prefix if node else "<pad>"
    return names


def truth_weights(split: SequenceSplit, level: int, truth: dict | None = None) -> np.ndarray:
    """The true interest weights aligned to the split: ``[n_users, n_nodes]`` (row u = encoded user u,
    column k = node k + 1 of ``level``).

    ``truth`` defaults to ``split.truth`` (the synthetic shop's generator). Level 0 uses
    ``department_weights``, level 1 ``category_weights``; the big shop (``make_big_shop``) knows its leaves'
    weights only (the finest level). Taught in chapter 08.
    """
    truth = split.truth if truth is None else truth
    if truth is None:
        raise DataError("this dataset has no ground truth; interest recovery needs make_shop data (data.truth).")
    if "leaf_weights" in truth:  # make_big_shop: true weights over the tree's leaves, the finest level
        return _leaf_truth_weights(split, level, truth)
    key, names_key = {0: ("department_weights", "department_names"), 1: ("category_weights", "category_names")}.get(
        level, (None, None))
    if key is None or key not in truth:
        raise DataError(
            f"the ground truth has no weights for level {level}; it knows departments (0) and categories (1)."
        )
    column = {name: k for k, name in enumerate(truth[names_key])}
    nodes, item_prefix = _item_prefixes(split, level)  # once: the check and the names read the same prefixes
    in_node = nodes > 0  # items without a node of this level are no node's
    if pd.Series(item_prefix.to_numpy()[in_node]).groupby(nodes[in_node]).nunique().max() > 1:
        raise DataError(f"the nodes of level {level} mix the truth's nodes (a learned tree?): the truth weighs the "
                        "catalogue's own tree; compare a model of that tree (the split's given taxonomy).")
    prefixes = _node_names(split, level, nodes, item_prefix)[1:]
    missing = [p for p in prefixes if p not in column]
    if missing:
        raise DataError(f"nodes {missing[:3]} of the split are not in the truth's {names_key}; "
                        "was the split built from the same make_shop data?")
    weights = np.asarray(truth[key], dtype=float)
    return weights[_truth_user_rows(split, truth)][:, [column[p] for p in prefixes]]


def _truth_user_rows(split: SequenceSplit, truth: dict) -> np.ndarray:
    """The truth's row of every encoded user of ``split``."""
    row = pd.Series(np.arange(len(truth["user_ids"])), index=np.asarray(truth["user_ids"]).astype(np.int64))
    return row.loc[split.idmap.decode_users(np.arange(split.n_users))].to_numpy()


def truth_item_rows(split: SequenceSplit, truth: dict) -> np.ndarray:
    """The truth's row (in ``item_ids``) of every item of ``split``, in the split's code order (code j at j - 1).
    Taught in chapter 09 (the shop's oracle)."""
    known = np.asarray(truth["item_ids"]).astype(np.int64)
    ids = np.asarray(split.idmap.item_ids).astype(np.int64)
    order = np.argsort(known, kind="stable")
    pos = order[np.searchsorted(known, ids, sorter=order).clip(max=len(known) - 1)]
    if not np.array_equal(known[pos], ids):
        raise DataError("the split's items are not the ground truth's items: build both from the same make_shop "
                        "(or make_big_shop) data")
    return pos


def _leaf_truth_weights(split: SequenceSplit, level: int, truth: dict) -> np.ndarray:
    """``truth_weights`` of ``make_big_shop`` data: its ``leaf_weights`` (users x leaves), the finest level only,
    each of the split's nodes matched to the leaf its items share in the truth (``item_leaf``)."""
    paths = np.asarray(split.item_paths)
    finest = paths.shape[1] - 1
    if level != finest:
        raise DataError(f"the big shop's ground truth weighs the tree's leaves only: level {finest}, not {level}.")
    leaf, nodes = np.asarray(truth["item_leaf"])[truth_item_rows(split, truth)], paths[1:, level]
    node_leaf = np.full(int(paths[:, level].max()), -1)
    node_leaf[nodes - 1] = leaf
    if (nodes < 1).any() or (node_leaf < 0).any() or not np.array_equal(node_leaf[nodes - 1], leaf):
        raise DataError("the split's finest level is not the big shop's leaves (its items' categories differ from "
                        "the truth's tree): use the catalogue's own tree (the items file), not a learned one.")
    return np.asarray(truth["leaf_weights"], dtype=float)[_truth_user_rows(split, truth)][:, node_leaf]



def title_vectors(titles: Iterable[str], dim: int = 32, ngrams: tuple[int, int] = (2, 4),
                  seed: int = 0) -> np.ndarray:
    """A tiny text model trained on the titles themselves: character n-gram TF-IDF, then truncated SVD.

    ``titles`` [n] strings -> float32 array [n, dim], each row of unit length (an empty
    title gives a zero row). Character n-grams inside word boundaries (``ngrams``, e.g.
    2 to 4 letters) make "Toy Story 2" close to "Toy Story" and "(1995)" close to
    "(1996)"; the SVD keeps the ``dim`` directions that explain most of the TF-IDF
    matrix (latent semantic analysis, Deerwester et al. 1990), seeded by ``seed``.
    ``dim`` is capped below the number of distinct n-grams. Taught in chapter 12.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["" if t is None else str(t) for t in titles]
    if not texts:
        raise DataError("no titles to vectorise")
    tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=ngrams, lowercase=True, sublinear_tf=True)
    matrix = tfidf.fit_transform(texts)
    dim = int(min(dim, matrix.shape[1] - 1, len(texts) - 1))
    if dim < 1:
        raise DataError("the titles hold too few distinct character n-grams for an SVD")
    vectors = TruncatedSVD(dim, random_state=seed).fit_transform(matrix)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)
