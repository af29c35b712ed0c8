"""Logs too big for pandas: a Parquet shop log read out of core into the course's ``SequenceSplit``.

Taught in chapter 13.

A shop log of fifty million rows is several gigabytes as a DataFrame (strings, objects,
copies at every step). The columnar engine Apache Arrow (``pyarrow``) reads only the
columns it needs, filters the events while it scans (``pyarrow.dataset``), and hands over
batches of a million rows. ``read_log_split`` never holds the log: it

1. scans the user column once for its range, then streams the rows, filtered, into
   ``buckets`` spill files on disk, each a range of users (Arrow IPC files), noting the
   items' categories on the way;
2. reads one bucket at a time, drops exact duplicate rows and sorts its users' rows by
   time (in file order for ties), keeping only compact arrays: user (int32 when it fits),
   item code (int32) and timestamp;
3. runs the k-core on those arrays (two ``bincount`` per round) and hands them, already
   in (user, time) order, to ``preprocessing.split_sorted``, the second half of
   ``leave_one_out``.

The result is the split that the in-memory path (``log_split_in_memory``: pandas,
``deduplicate``, ``to_implicit``, ``k_core``, ``leave_one_out``) makes of the same file;
peak memory is about the final arrays, not the log. ``write_shop_log`` writes a synthetic
log of any size in chunks, so the pipeline can be tried at fifty million rows.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hiercourse.datasets.schema import EVENTS, PATH_SEP, InteractionData, tidy_items
from hiercourse.errors import DataError
from hiercourse.preprocessing import deduplicate, k_core, leave_one_out, split_sorted, to_implicit

__all__ = ["LOG_COLUMNS", "write_shop_log", "read_log_split", "log_split_in_memory"]

#: The columns of a shop log file: who, what, its category path, which behaviour, when (seconds).
LOG_COLUMNS = ("user_id", "item_id", "category", "event", "timestamp")
LEVEL_NAMES = ["department", "category"]
START = 1_704_067_200  # 2024-01-01 00:00 UTC


# --------------------------------------------------------------------------- a big synthetic log
def write_shop_log(path: str | Path, n_rows: int, *, events_per_user: float = 50.0, n_departments: int = 10,
                   categories_per_department: int = 10, items_per_category: int = 200, days: int = 90,
                   duplicate_share: float = 0.01, chunk_rows: int = 2_000_000, seed: int = 0) -> Path:
    """Write a synthetic shop log of ``n_rows`` rows to one Parquet file, ``chunk_rows`` at a time.

    Users (``n_rows / events_per_user`` of them, activity log-normal) each favour two
    categories (80 % of their rows); items inside a category follow a Zipf law; events are
    view / click / cart / purchase (70 / 20 / 7 / 3 %) at uniform times over ``days``.
    A chunk holds its own users, its rows in time order (a log, not a table sorted by
    user); ``duplicate_share`` of the rows are logged twice (exact duplicates, as double
    clicks and retries are). Memory stays at one chunk. Taught in chapter 13.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if n_rows < 1 or chunk_rows < 1:
        raise DataError(f"n_rows and chunk_rows must be >= 1, got {n_rows} and {chunk_rows}.")
    n_cat = n_departments * categories_per_department
    zipf = np.cumsum(1.0 / np.arange(1, items_per_category + 1) ** 1.1)
    zipf /= zipf[-1]
    paths = pa.array([f"Department {d + 1}{PATH_SEP}Category {d + 1}.{c + 1}"
                      for d in range(n_departments) for c in range(categories_per_department)])
    event_names = pa.array(EVENTS[:4])
    schema = pa.schema([("user_id", pa.int64()), ("item_id", pa.int64()),
                        ("category", pa.dictionary(pa.int32(), pa.string())),
                        ("event", pa.dictionary(pa.int8(), pa.string())), ("timestamp", pa.int64())])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    users_per_chunk = max(1, round(chunk_rows / events_per_user))
    written, chunk = 0, 0
    with pq.ParquetWriter(path, schema) as writer:
        while written < n_rows:
            rows = min(chunk_rows, n_rows - written)
            rng = np.random.default_rng([seed, chunk])
            n_users = max(1, round(rows / events_per_user))
            activity = rng.lognormal(0.0, 1.0, n_users)
            user = np.sort(rng.choice(n_users, rows, p=activity / activity.sum()))  # rows per user
            favourite = rng.integers(0, n_cat, (n_users, 2))
            category = np.where(rng.random(rows) < 0.8, favourite[user, rng.integers(0, 2, rows)],
                                rng.integers(0, n_cat, rows))
            item = category * items_per_category + np.searchsorted(zipf, rng.random(rows))
            event = np.searchsorted([0.7, 0.9, 0.97], rng.random(rows), side="right").astype(np.int8)
            stamp = START + rng.integers(0, days * 86_400, rows)
            twice = rng.random(rows) < duplicate_share  # logged twice: the copy comes right after
            order = np.argsort(stamp, kind="stable")
            order = np.repeat(order, 1 + twice[order])[: rows]
            user_id = 1 + chunk * users_per_chunk + user[order]
            table = pa.table({
                "user_id": user_id, "item_id": 1_000 + item[order],
                "category": pa.DictionaryArray.from_arrays(pa.array(category[order], pa.int32()), paths),
                "event": pa.DictionaryArray.from_arrays(pa.array(event[order], pa.int8()), event_names),
                "timestamp": stamp[order],
            }, schema=schema)
            writer.write_table(table, row_group_size=1 << 20)
            written += rows
            chunk += 1
    return path


# --------------------------------------------------------------------------- reading it out of core
def _items_table(item_ids: np.ndarray, categories: np.ndarray) -> pd.DataFrame:
    """The tidy item table of (item, category path) pairs (one row per item, its first path)."""
    frame = pd.DataFrame({"item": item_ids, "category_path": categories}).drop_duplicates("item")
    return tidy_items(frame.sort_values("item").reset_index(drop=True))


def _event_codes(column) -> np.ndarray:
    """Positions in ``EVENTS`` of an Arrow event column (dictionary-encoded or plain strings)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        names = column.dictionary.to_pylist()
        unknown = sorted(set(names) - set(EVENTS))
        lookup = np.array([EVENTS.index(n) if n in EVENTS else -1 for n in names], dtype=np.int8)
        codes = lookup[column.indices.to_numpy(zero_copy_only=False)]
    else:
        codes = pc.index_in(column, value_set=pa.array(EVENTS)).to_numpy(zero_copy_only=False)
        unknown = sorted(set(pc.unique(column.filter(pc.is_null(pc.index_in(column, value_set=pa.array(EVENTS)))))
                             .to_pylist()))
        codes = np.nan_to_num(codes, nan=-1).astype(np.int8)
    if unknown and (codes < 0).any():
        raise DataError(f"unknown event type(s) {unknown} in the log; allowed: {EVENTS}.")
    return codes.astype(np.int8, copy=False)


def _dataset(path: str | Path):
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(path), format="parquet")
    missing = [c for c in LOG_COLUMNS if c not in dataset.schema.names]
    if missing:
        raise DataError(f"{path} lacks column(s) {missing}; a shop log has {list(LOG_COLUMNS)}.")
    return dataset


def _dedup_and_sort(user: np.ndarray, item: np.ndarray, stamp: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Row order of one bucket: exact duplicates dropped (the first kept), then by (user, time), ties in file order."""
    by_key = np.lexsort((event, item, stamp, user))  # stable: a duplicate group keeps file order
    same = np.zeros(len(user), dtype=bool)
    ku, ki, kt, ke = user[by_key], item[by_key], stamp[by_key], event[by_key]
    same[1:] = (ku[1:] == ku[:-1]) & (ki[1:] == ki[:-1]) & (kt[1:] == kt[:-1]) & (ke[1:] == ke[:-1])
    keep = np.ones(len(user), dtype=bool)
    keep[by_key[same]] = False
    rows = np.flatnonzero(keep)
    return rows[np.lexsort((stamp[rows], user[rows]))]


def read_log_split(path: str | Path, *, events: list[str] | None = None, k: int = 5, min_events: int = 3,
                   max_len: int | None = None, buckets: int = 16, batch_rows: int = 1 << 20,
                   spill_dir: str | Path | None = None, name: str = "shop log") -> tuple:
    """The course's ``SequenceSplit`` of a Parquet shop log (``LOG_COLUMNS``), read out of core.

    The same split as ``log_split_in_memory(path, ...)``: exact duplicate rows dropped,
    only ``events`` kept (None: all), the ``k``-core, then ``leave_one_out(min_events,
    max_len)``; the log never sits in memory (module docstring). ``path`` is a Parquet
    file or a folder of them; ``buckets`` spill files go to ``spill_dir`` (a temporary
    folder by default, removed at the end). Returns ``(split, report)``: ``report`` holds
    the rows read, kept after each step, and the seconds of each pass.
    Taught in chapter 13.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    dataset = _dataset(path)
    report: dict = {"buckets": buckets}
    tic = time.perf_counter()
    # pass 0: the users' range (one column) -> which bucket a user's rows go to
    low, high = None, None
    for batch in dataset.to_batches(columns=["user_id"], batch_size=batch_rows):
        bounds = pc.min_max(batch.column(0)).as_py()
        if bounds["min"] is not None:
            low = bounds["min"] if low is None else min(low, bounds["min"])
            high = bounds["max"] if high is None else max(high, bounds["max"])
    if low is None:
        raise DataError(f"{path} has no rows.")
    span = high - low + 1
    report["seconds_range"] = time.perf_counter() - tic

    # pass 1: stream the filtered rows into bucket files; note each item's category
    tic = time.perf_counter()
    wanted = None if events is None else pc.field("event").isin(list(events))
    if events is not None and set(events) - set(EVENTS):
        raise DataError(f"unknown event type(s) {sorted(set(events) - set(EVENTS))}; allowed: {EVENTS}.")
    spill_root = tempfile.TemporaryDirectory(dir=spill_dir)
    schema = pa.schema([("user", pa.int64()), ("item", pa.int64()), ("timestamp", pa.int64()),
                        ("event", pa.int8())])
    writers = [pa.ipc.new_file(str(Path(spill_root.name) / f"bucket{b}.arrow"), schema) for b in range(buckets)]
    item_paths: dict[int, str] = {}
    n_read = 0
    try:
        for batch in dataset.to_batches(columns=list(LOG_COLUMNS), filter=wanted, batch_size=batch_rows):
            if batch.num_rows == 0:
                continue
            n_read += batch.num_rows
            user = batch.column("user_id").to_numpy()
            item = batch.column("item_id").to_numpy()
            cat = batch.column("category")
            if not pa.types.is_dictionary(cat.type):
                cat = pc.dictionary_encode(cat)
            firsts = np.unique(item, return_index=True)[1]  # each item's first row in this batch
            firsts = firsts[~np.isin(item[firsts], np.fromiter(item_paths, np.int64, len(item_paths)))]
            if len(firsts):  # items not seen before: their category (strings for these rows only)
                names = cat.dictionary.to_pylist()
                codes = cat.indices.to_numpy(zero_copy_only=False)
                for position in firsts:
                    item_paths[int(item[position])] = names[codes[position]] or ""
            bucket = ((user - low) * buckets // span).astype(np.int64)
            event = _event_codes(batch.column("event"))
            stamp = batch.column("timestamp").to_numpy()
            order = np.argsort(bucket, kind="stable")  # a bucket's rows keep their file order
            cuts = np.searchsorted(bucket[order], np.arange(buckets + 1))
            for b in range(buckets):
                part = order[cuts[b]:cuts[b + 1]]
                if len(part):
                    writers[b].write_batch(pa.record_batch(
                        [pa.array(user[part]), pa.array(item[part]), pa.array(stamp[part]), pa.array(event[part])],
                        schema=schema))
    finally:
        for writer in writers:
            writer.close()
    report["rows_read"] = n_read
    report["seconds_stream"] = time.perf_counter() - tic
    if n_read == 0:
        spill_root.cleanup()
        raise DataError(f"no row of {path} has an event in {events}.")

    # pass 2: one bucket at a time: drop duplicates, sort by (user, time), keep compact arrays
    tic = time.perf_counter()
    known_items = np.fromiter(item_paths, np.int64, len(item_paths))
    known_items.sort()
    users_, items_, stamps_ = [], [], []
    user_type = np.int32 if high < 2**31 else np.int64
    try:
        for b in range(buckets):
            with pa.memory_map(str(Path(spill_root.name) / f"bucket{b}.arrow")) as source:
                table = pa.ipc.open_file(source).read_all()
            if table.num_rows == 0:
                continue
            user, item, stamp, event = (table.column(c).to_numpy() for c in ("user", "item", "timestamp", "event"))
            del table
            order = _dedup_and_sort(user, item, stamp, event)
            users_.append(user[order].astype(user_type))
            items_.append(np.searchsorted(known_items, item[order]).astype(np.int32))
            stamps_.append(stamp[order])
    finally:
        spill_root.cleanup()
    user, item, stamp = (np.concatenate(parts) for parts in (users_, items_, stamps_))
    del users_, items_, stamps_
    report["rows_deduplicated"] = len(user)
    report["seconds_sort"] = time.perf_counter() - tic

    # the k-core on the compact arrays (rows are sorted by user: codes from the runs)
    tic = time.perf_counter()
    user_code = np.zeros(len(user), dtype=np.int32)
    np.cumsum(user[1:] != user[:-1], out=user_code[1:])
    keep = np.ones(len(user), dtype=bool)
    while True:
        user_count = np.bincount(user_code[keep], minlength=int(user_code[-1]) + 1)
        item_count = np.bincount(item[keep], minlength=len(known_items))
        new_keep = keep & (user_count[user_code] >= k) & (item_count[item] >= k)
        if new_keep.sum() == keep.sum():
            break
        keep = new_keep
    del user_code
    if not keep.any():
        raise DataError(f"the {k}-core of {len(user):,} rows is empty; lower k.")
    if not keep.all():
        user, item, stamp = user[keep], item[keep], stamp[keep]
    del keep
    report["rows_k_core"] = len(user)
    report["seconds_k_core"] = time.perf_counter() - tic

    tic = time.perf_counter()
    paths = np.array([item_paths[int(i)] for i in known_items], dtype=object)
    data = InteractionData(name, pd.DataFrame(), _items_table(known_items, paths),
                           info={"level_names": list(LEVEL_NAMES)})
    split = split_sorted(data, user, known_items[item], stamp, min_events=min_events, max_len=max_len)
    report["seconds_split"] = time.perf_counter() - tic
    return split, report


def log_split_in_memory(path: str | Path, *, events: list[str] | None = None, k: int = 5, min_events: int = 3,
                        max_len: int | None = None, name: str = "shop log"):
    """The same split made the chapter 02 way: the whole log in pandas, ``deduplicate``, ``to_implicit``,
    ``k_core``, ``leave_one_out``. The reference ``read_log_split`` must agree with (small logs only).
    Taught in chapter 13."""
    frame = pd.read_parquet(path, columns=list(LOG_COLUMNS))
    items = _items_table(frame["item_id"].to_numpy(np.int64), frame["category"].astype(str).to_numpy(object))
    frame = pd.DataFrame({"user": frame["user_id"], "item": frame["item_id"], "timestamp": frame["timestamp"],
                          "rating": np.nan, "event": pd.Categorical(frame["event"].astype(str), categories=EVENTS)})
    frame = to_implicit(deduplicate(frame), events=events)
    frame = k_core(frame, k=k)
    return leave_one_out(InteractionData(name, frame, items, info={"level_names": list(LEVEL_NAMES)}),
                         min_events=min_events, max_len=max_len)
