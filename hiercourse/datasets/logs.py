"""Read a learner's own behaviour log (CSV/TSV) into the tidy schema.

Taught in chapter 02.

``read_interactions("my_log.csv", items="my_items.csv")`` finds the columns by
their usual names (or the names you pass), maps string ids to integers (the
mapping is kept in ``info["user_ids"]`` / ``info["item_ids"]``: integer id ``k``
stands for ``info["item_ids"][k]``), turns timestamps into seconds since the
epoch, and reads an optional item table with a category path such as
``Electronics/Phones`` or ``Electronics > Phones`` (normalised to ``" > "``).
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import EVENTS, PATH_SEP, DataError, InteractionData, tidy_interactions, tidy_items

# Accepted column names, compared after lower-casing and dropping "_", "-" and spaces.
USER_NAMES = ["user", "userid", "uid", "customerid", "visitorid", "sessionid"]
ITEM_NAMES = ["item", "itemid", "iid", "movieid", "productid", "product", "sku", "articleid"]
TIME_NAMES = ["timestamp", "time", "ts", "datetime", "date", "eventtime", "createdat"]
RATING_NAMES = ["rating", "score", "stars"]
EVENT_NAMES = ["event", "eventtype", "action", "behavior", "behaviour", "type"]
TITLE_NAMES = ["title", "name", "itemname", "productname"]
PATH_NAMES = ["categorypath", "category", "categories", "path", "categorytree", "taxonomy"]

# Common spellings of the schema's event types (e.g. Retailrocket writes
# "addtocart" and "transaction"). Anything else is an error, not a guess.
EVENT_SYNONYMS = {
    "pageview": "view", "impression": "view", "detail": "view",
    "addtocart": "cart", "add_to_cart": "cart", "add-to-cart": "cart", "basket": "cart",
    "buy": "purchase", "order": "purchase", "transaction": "purchase", "checkout": "purchase",
    "rate": "rating",
}

# Numeric timestamps above this are milliseconds (as seconds they would be after year 5000).
MILLISECONDS_ABOVE = 1e11

# Separators of a category path's levels, tried in this order; one per file.
PATH_SEPARATORS = [">", "|", "/"]


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", str(name).lower())


def _read_table(path: str | os.PathLike, sep: str | None, what: str) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} file {path} does not exist; check the path (cwd is {Path.cwd()}).")
    if path.stat().st_size == 0:
        raise DataError(f"{what} file {path} is empty; it needs a header line and one row per {what} record.")
    if sep is None:
        sep = _sniff_separator(path)
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=True, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{what} file {path} is empty; it needs a header line and rows.") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{what} file {path} could not be parsed with separator {sep!r}: {exc}. "
                        "Pass sep=... explicitly.") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise DataError(f"{what} file {path} has a header ({list(frame.columns)}) but no rows.")
    return frame


def _sniff_separator(path: Path) -> str:
    """The file's separator: tab, comma, semicolon or "|", from its first lines."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        sample = "".join(handle.readline() for _ in range(20))
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        counts = {s: header.count(s) for s in ",\t;|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ("\t" if path.suffix.lower() == ".tsv" else ",")


def _find_column(frame: pd.DataFrame, explicit: str | None, names: list[str], role: str,
                 what: str, required: bool) -> str | None:
    if explicit is not None:
        if explicit not in frame.columns:
            raise DataError(
                f"{what}: you named column {explicit!r} as the {role}, but the file's columns are "
                f"{list(frame.columns)}."
            )
        return explicit
    keyed = {_key(c): c for c in frame.columns}
    for name in names:
        if name in keyed:
            return keyed[name]
    if required:
        raise DataError(
            f"{what}: no {role} column found. Found columns {list(frame.columns)}; expected one named "
            f"like {names} (case, '_' and spaces ignored), or pass {role}='<column>'. "
            "If every column name looks like data, the file may lack a header line or use "
            "another separator (pass sep=...)."
        )
    return None


def _check_no_missing(values: pd.Series, role: str, what: str) -> None:
    bad = values.isna() | (values.astype(str).str.strip() == "")
    if bad.any():
        rows = list(np.flatnonzero(bad.to_numpy())[:5])
        raise DataError(
            f"{what}: {int(bad.sum())} row(s) have no {role} (first data rows {rows}, counting from 0); "
            "drop or fill them before loading."
        )


def _as_int_ids(values: pd.Series) -> tuple[np.ndarray, pd.Index | None]:
    """Integer ids as they are; anything else mapped to 0..n-1 in order of first appearance."""
    stripped = values.str.strip()
    # "12" and "12.0" (ids written by a spreadsheet or by pandas after a NaN) are integers
    integral = stripped.str.replace(r"\.0*$", "", regex=True)
    if integral.str.fullmatch(r"[+-]?\d{1,18}").all():
        return integral.astype("int64").to_numpy(), None
    codes, originals = pd.factorize(stripped)
    return codes.astype("int64"), pd.Index(originals, name="original_id")


def _timestamps(values: pd.Series, what: str) -> np.ndarray:
    """Seconds since the epoch from numbers (seconds, or milliseconds when huge) or date strings."""
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().all():
        seconds = numeric.to_numpy(dtype="float64")
        if np.nanmax(np.abs(seconds)) > MILLISECONDS_ABOVE:
            seconds = seconds / 1000.0
        return np.floor(seconds).astype("int64")
    parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    bad = parsed.isna()
    if bad.any():
        examples = values[bad].head(3).tolist()
        raise DataError(
            f"{what}: {int(bad.sum())} timestamp(s) could not be read as dates or numbers, "
            f"e.g. {examples}. Use seconds since 1970 or ISO dates like 2024-05-01 13:45:00."
        )
    return ((parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy(dtype="int64")


def _events(values: pd.Series, what: str) -> pd.Series:
    norm = values.str.strip().str.lower()
    norm = norm.map(lambda e: EVENT_SYNONYMS.get(e, e))
    unknown = sorted(set(norm.dropna()) - set(EVENTS))
    if unknown or norm.isna().any():
        raise DataError(
            f"{what}: unknown event type(s) {unknown or ['<empty>']}; allowed {EVENTS} "
            f"(also accepted: {sorted(EVENT_SYNONYMS)}). Rename them or drop those rows."
        )
    return norm


def normalise_path(paths: pd.Series) -> pd.Series:
    """Category paths with levels joined by " > ", whatever the file used (">", "|" or "/").

    One separator per file: the first of ">", "|", "/" found in any path.
    Taught in chapter 02.
    """
    text = paths.fillna("").astype(str).str.strip()
    sep = next((s for s in PATH_SEPARATORS if text.str.contains(s, regex=False).any()), None)
    if sep is None:
        return text
    return text.map(lambda p: PATH_SEP.join(level.strip() for level in p.split(sep) if level.strip()))


def _read_items(path, item_ids: pd.Index | None, sep: str | None) -> pd.DataFrame:
    what = f"item file {path}"
    raw = _read_table(path, sep, "item")
    item_col = _find_column(raw, None, ITEM_NAMES, "item", what, required=True)
    title_col = _find_column(raw, None, TITLE_NAMES, "title", what, required=False)
    path_col = _find_column(raw, None, PATH_NAMES, "category path", what, required=False)
    _check_no_missing(raw[item_col], "item id", what)
    ids = raw[item_col].str.strip()
    if item_ids is None:
        if not ids.str.fullmatch(r"[+-]?\d{1,18}").all():
            raise DataError(f"{what}: item ids must be integers, as in the interactions file.")
        codes = ids.astype("int64").to_numpy()
    else:
        codes = item_ids.get_indexer(ids)
    frame = pd.DataFrame({"item": codes, "original_id": ids})
    frame["title"] = raw[title_col].fillna("") if title_col else ids
    frame["category_path"] = normalise_path(raw[path_col]) if path_col else ""
    return frame


def read_interactions(
    path: str | os.PathLike,
    items: str | os.PathLike | None = None,
    *,
    user: str | None = None,
    item: str | None = None,
    timestamp: str | None = None,
    rating: str | None = None,
    event: str | None = None,
    sep: str | None = None,
) -> InteractionData:
    """Read a behaviour log (one row per user action) and optionally an item table.

    Columns are found by name (``user``/``user_id``/``userId``..., ``item``/``item_id``/
    ``movieId``/``product_id``..., ``timestamp``/``time``/``ts``/``datetime``..., optional
    ``rating`` and ``event``) unless given. Without a timestamp column the file order is
    the time order. Numeric timestamps are seconds since 1970 (milliseconds when above
    1e11); text timestamps are parsed as dates, in UTC unless they say otherwise. The
    interactions file's separator is detected unless ``sep`` is given (the item file's
    always is). Catalogue items nobody interacted with get ids after the others. Raises
    DataError with what is wrong and what to do. Taught in chapter 02.
    """
    what = f"interaction file {path}"
    raw = _read_table(path, sep, "interaction")
    cols = {
        "user": _find_column(raw, user, USER_NAMES, "user", what, required=True),
        "item": _find_column(raw, item, ITEM_NAMES, "item", what, required=True),
        "timestamp": _find_column(raw, timestamp, TIME_NAMES, "timestamp", what, required=False),
        "rating": _find_column(raw, rating, RATING_NAMES, "rating", what, required=False),
        "event": _find_column(raw, event, EVENT_NAMES, "event", what, required=False),
    }
    _check_no_missing(raw[cols["user"]], "user id", what)
    _check_no_missing(raw[cols["item"]], "item id", what)
    users, user_ids = _as_int_ids(raw[cols["user"]])
    item_codes, item_ids = _as_int_ids(raw[cols["item"]])
    frame = pd.DataFrame({"user": users, "item": item_codes})
    if cols["timestamp"] is not None:
        _check_no_missing(raw[cols["timestamp"]], "timestamp", what)
        frame["timestamp"] = _timestamps(raw[cols["timestamp"]], what)
    else:
        frame["timestamp"] = np.arange(len(raw), dtype="int64")  # file order is time order
    if cols["rating"] is not None:
        ratings = pd.to_numeric(raw[cols["rating"]], errors="coerce")
        bad = ratings.isna() & raw[cols["rating"]].notna()
        if bad.any():
            raise DataError(f"{what}: rating(s) {raw[cols['rating']][bad].head(3).tolist()} are not numbers.")
        frame["rating"] = ratings.astype("float64")
    if cols["event"] is not None:
        frame["event"] = _events(raw[cols["event"]], what).to_numpy()
    interactions = tidy_interactions(frame, what)

    if items is not None:
        table = _read_items(items, item_ids, sep=None)
        unmatched = (table["item"] < 0) if item_ids is not None else pd.Series(False, index=table.index)
        if unmatched.any():  # catalogue items nobody interacted with get new ids after the others
            extra = pd.Index(table.loc[unmatched, "original_id"].unique())
            item_ids = item_ids.append(extra)
            table.loc[unmatched, "item"] = item_ids.get_indexer(table.loc[unmatched, "original_id"])
        table = table.drop(columns="original_id")
    else:
        table = pd.DataFrame({"item": np.unique(item_codes)})
        table["title"] = (item_ids[table["item"]] if item_ids is not None else table["item"]).astype(str)
    # every interacted item gets a row, even when the item file forgets it
    missing = np.setdiff1d(np.unique(item_codes), table["item"].to_numpy())
    if len(missing):
        titles = item_ids[missing].astype(str) if item_ids is not None else missing.astype(str)
        table = pd.concat([table, pd.DataFrame({"item": missing, "title": titles})], ignore_index=True)
    item_table = tidy_items(table, f"item file {items}" if items is not None else "items")
    return InteractionData(
        name=Path(path).stem,
        interactions=interactions,
        items=item_table.sort_values("item", kind="stable").reset_index(drop=True),
        users=None,
        info={
            "source": str(path),
            "items_source": str(items) if items is not None else None,
            "columns": cols,
            "user_ids": user_ids,
            "item_ids": item_ids,
            "items_without_file_row": int(len(missing)),
        },
    )
