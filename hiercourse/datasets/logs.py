"""Read a learner's own behaviour log (CSV/TSV) into the tidy schema.

Taught in chapter 02.

``read_interactions("my_log.csv", items="my_items.csv")`` finds the columns by
their usual names (or the names you pass), maps string ids to integers (the
mapping is kept in ``info["user_ids"]`` / ``info["item_ids"]``: integer id ``k``
stands for ``info["item_ids"][k]``), turns timestamps into seconds since the
epoch, maps event words to the schema's events, and reads the items' categories
from an optional item table (a path such as ``Electronics/Phones`` or
``Electronics > Phones``, normalised to ``" > "``) or, without one, from the
log's own category column. It never guesses silently: what it cannot read is a
``DataError``, and every choice made for you is a ``DataWarning``.
"""
from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import EVENTS, PATH_SEP, DataError, DataWarning, InteractionData, tidy_interactions, tidy_items

# Accepted column names, compared after lower-casing and dropping "_", "-" and spaces.
USER_NAMES = ["user", "userid", "uid", "customerid", "visitorid", "sessionid"]
ITEM_NAMES = ["item", "itemid", "iid", "movieid", "productid", "product", "sku", "articleid"]
TIME_NAMES = ["timestamp", "time", "ts", "datetime", "date", "eventtime", "createdat"]
RATING_NAMES = ["rating", "score", "stars"]
EVENT_NAMES = [
    "event", "eventtype", "eventname", "action", "actiontype", "behavior", "behaviour",
    "behaviortype", "behaviourtype", "interactiontype", "type",
]
TITLE_NAMES = ["title", "name", "itemname", "productname"]
# an item file's category path; a log's category column (one category per row)
PATH_NAMES = ["categorypath", "category", "categories", "path", "categorytree", "taxonomy",
              "categoryid", "categoryname", "catid", "cateid"]
CATEGORY_NAMES = ["categorypath", "category", "categoryid", "categoryname", "catid", "cateid", "cat"]

# The Taobao UserBehavior layout, which public shop logs often share, usually without a header line.
TAOBAO_COLUMNS = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]

# Event words of common logs -> the schema's events, compared like column names
# (lower case; "_", "-" and spaces dropped: "Add to cart" == "add_to_cart" == "addtocart").
# Anything else is an error, not a guess; ``read_interactions(events=...)`` adds or overrides.
EVENT_SYNONYMS = {
    **{event: event for event in EVENTS},
    # Taobao's "pv" is a visit of the item's page, like Retailrocket's "view"
    "pv": "view", "pageview": "view", "detail": "view", "detailview": "view", "productview": "view",
    "itemview": "view", "viewitem": "view", "impression": "view",
    "clk": "click",
    "addtocart": "cart", "addtobasket": "cart", "basket": "cart",
    # Taobao's "fav" (a favourite) and wish lists: the schema has no such event. Like a cart
    # they keep an item for later, a stronger sign of interest than a click and weaker than
    # a purchase, so they count as "cart" (pass events={"fav": "click"} to count them lower).
    "fav": "cart", "favorite": "cart", "favourite": "cart", "wishlist": "cart", "addtowishlist": "cart",
    "buy": "purchase", "order": "purchase", "transaction": "purchase", "checkout": "purchase",
    "purchased": "purchase",
    "rate": "rating",
}

# Numeric timestamps above this are milliseconds (as seconds they would be after year 5000).
MILLISECONDS_ABOVE = 1e11

# Separators of a category path's levels, tried in this order; one per file.
PATH_SEPARATORS = [">", "|", "/"]


# How many examples an error or warning lists.
SHOW = 5

# A header field that is data, not a name: headers do not start with a digit.
DATA_FIELD = r"[+-]?\d.*"


def _key(name: object) -> str:
    return re.sub(r"[\s_\-]", "", str(name).lower())


def _rows(n: int) -> str:
    return f"{int(n):,} row" + ("" if n == 1 else "s")


def _warn(message: str) -> None:
    warnings.warn(message, DataWarning, stacklevel=4)  # the caller of read_interactions


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


def _header_is_data(fields: list[str], vocabulary: Mapping[str, str | None]) -> bool:
    """True when the header line holds values (numbers, dates, event words), not column names."""
    numbers = [bool(re.fullmatch(DATA_FIELD, f)) for f in fields]
    return any(numbers) and all(n or _key(f) in vocabulary for n, f in zip(numbers, fields))


def _headerless(raw: pd.DataFrame, vocabulary: Mapping[str, str | None], what: str) -> pd.DataFrame:
    """A log read with its first row taken for a header, in the Taobao layout (ids, ids, ids, event
    words, numbers) with that row put back; any other layout is a DataError."""
    first_line = list(raw.columns)
    whole = r"[+-]?\d+(\.\d+)?"  # pandas renames a repeated header field "7" to "7.1"
    taobao = (len(first_line) == 5 and all(re.fullmatch(whole, first_line[i]) for i in (0, 1, 2, 4))
              and _key(first_line[3]) in vocabulary)
    if not taobao:
        raise DataError(
            f"{what} seems to have no header line: its first line {first_line} holds values, not column "
            "names. Add a header line naming the columns (e.g. user_id,item_id,timestamp). Without one, "
            f"only the 5-column Taobao UserBehavior layout {','.join(TAOBAO_COLUMNS)} is read."
        )
    first_row = [re.sub(r"\.\d+$", "", f) if i != 3 else f for i, f in enumerate(first_line)]  # undo "7.1"
    raw = raw.set_axis(TAOBAO_COLUMNS, axis=1)
    raw = pd.concat([pd.DataFrame([first_row], columns=TAOBAO_COLUMNS, dtype=raw.dtypes.iloc[0]), raw],
                    ignore_index=True)
    # user and item ids look alike: the order is an assumption, so say it
    _warn(
        f"{what} has no header line; its 5 columns are read in the Taobao UserBehavior order "
        f"{','.join(TAOBAO_COLUMNS)}. If your columns are in another order, add a header line."
    )
    return raw


def _find_column(frame: pd.DataFrame, explicit: str | bool | None, names: list[str], role: str,
                 what: str, required: bool) -> str | None:
    if explicit is False and not required:
        return None  # the caller said: no such column
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
        rows = np.flatnonzero(bad.to_numpy())[:SHOW].tolist()
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


def _original_ids(item_ids: pd.Index | None, codes: np.ndarray) -> list:
    """Items as the file wrote them, as plain Python values (messages print 84475, not np.int64(84475))."""
    return (item_ids[codes] if item_ids is not None else np.asarray(codes)).tolist()


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


def _event_vocabulary(events: Mapping[str, str | None] | None) -> dict[str, str | None]:
    """EVENT_SYNONYMS with the caller's ``events`` on top, keyed like column names."""
    vocabulary: dict[str, str | None] = dict(EVENT_SYNONYMS)
    if events is None:
        return vocabulary
    if not isinstance(events, Mapping):
        raise DataError(
            f"events must be a dict from your file's event values to the schema's events {EVENTS} "
            f"(or to None, which drops those rows), got {type(events).__name__}."
        )
    bad = {str(k): v for k, v in events.items() if v is not None and v not in EVENTS}
    if bad:
        raise DataError(
            f"events maps {bad} to something the schema does not know; map each value to one of "
            f"{EVENTS}, or to None to drop its rows."
        )
    vocabulary.update({_key(k): v for k, v in events.items()})
    return vocabulary


def _events(values: pd.Series, column: str, vocabulary: Mapping[str, str | None], what: str) -> np.ndarray:
    """Each row's schema event (None where the caller's mapping drops it); an unknown word is a DataError."""
    codes, distinct = pd.factorize(values.fillna(""))  # word work on the few distinct values only
    keys = [_key(v) for v in distinct]
    unknown = [j for j, k in enumerate(keys) if k not in vocabulary]
    if unknown:
        counts = np.bincount(codes, minlength=len(distinct))
        unknown.sort(key=lambda j: -counts[j])  # most rows first; ties in file order
        shown = ", ".join(
            f"{str(distinct[j])!r} ({_rows(counts[j])})" if distinct[j] else f"<empty> ({_rows(counts[j])})"
            for j in unknown[:SHOW]
        )
        more = f" and {len(unknown) - SHOW} more" if len(unknown) > SHOW else ""
        example = str(distinct[unknown[0]])
        raise DataError(
            f"{what}: column {column!r} has unknown event type(s) {shown}{more}; the schema's events are "
            f"{EVENTS} (common words such as pv, fav, addtocart, buy and transaction are understood). "
            f"Say what they mean with read_interactions(..., events={{{example!r}: 'click'}}) (one of the "
            f"schema's events, or None to drop those rows), or pass event=False if {column!r} holds no events."
        )
    return np.array([vocabulary[k] for k in keys], dtype=object)[codes]


def _warn_unread_events(raw: pd.DataFrame, used: set, vocabulary: Mapping[str, str | None], what: str,
                        rated: bool) -> None:
    """Warn about a column of event words whose name was not recognised: its events would be lost."""
    for column in raw.columns:
        if column in used:
            continue
        distinct = pd.unique(raw[column].dropna().head(10_000))
        keys = [_key(v) for v in distinct]
        if 0 < len(keys) <= 20 and all(k in vocabulary for k in keys) and any(k.isalpha() for k in keys):
            _warn(
                f"{what}: column {column!r} holds event words ({[str(v) for v in distinct[:SHOW]]}) but is "
                f"not read as the event column (its name is not one of {EVENT_NAMES}), so every row counts "
                f"as {'rating' if rated else 'click'}. Pass event={column!r} to read it, or event=False to "
                "silence this."
            )


def _category_counts(values: pd.Series, item_codes: np.ndarray) -> pd.DataFrame:
    """Rows per (item, category) of a log's category column; pairs in order of first appearance."""
    text = values.str.strip()
    has = (text.notna() & (text != "")).to_numpy(dtype=bool)
    raw_codes, raw_names = pd.factorize(text[has])
    paths = normalise_path(pd.Series(np.asarray(raw_names, dtype=object)))  # "A/B" and "A > B" are one
    path_codes, distinct = pd.factorize(paths)
    pairs = pd.DataFrame({"item": item_codes[has], "category": path_codes[raw_codes]})
    counts = pairs.groupby(["item", "category"], sort=False).size().reset_index(name="rows")
    counts["category"] = np.asarray(distinct, dtype=object)[counts["category"].to_numpy()]
    return counts


def _majority_category(counts: pd.DataFrame, item_ids: pd.Index | None, column: str, what: str) -> pd.Series:
    """Each item's most frequent category in the log (ties: the first seen); several is a DataWarning."""
    ranked = counts.sort_values("rows", ascending=False, kind="stable")
    n_categories = counts.groupby("item", sort=False).size()
    several = n_categories.index[n_categories > 1].to_numpy()
    if len(several):
        examples = []
        for code, label in zip(several[:3], _original_ids(item_ids, several[:3])):
            mine = ranked[ranked["item"] == code].head(3)
            cats = ", ".join(f"{c!r} in {_rows(n)}" for c, n in zip(mine["category"], mine["rows"]))
            examples.append(f"item {label!r}: {cats}")
        _warn(
            f"{what}: {len(several):,} item(s) appear with more than one category in column {column!r}, "
            f"e.g. {'; '.join(examples)}. Each item gets its most frequent category (ties: the one seen "
            "first). To choose yourself, give an item file with one category path per item "
            "(read_interactions(log, items=...)), or pass category=False to ignore the column."
        )
    best = ranked.drop_duplicates("item")
    return pd.Series(best["category"].to_numpy(), index=best["item"].to_numpy())


def _check_log_against_file(counts: pd.DataFrame, file_paths: pd.Series, item_ids: pd.Index | None,
                            column: str, items: str | os.PathLike, what: str) -> None:
    """Warn where the log's category is not part of the item file's path (the file wins) or the file has none."""
    paths = file_paths.reindex(counts["item"].to_numpy()).fillna("").to_numpy(dtype=object)
    cats = counts["category"].to_numpy(dtype=object)
    # the log may name the whole path, one of its levels or a run of them
    agree = np.array([f"{PATH_SEP}{c}{PATH_SEP}" in f"{PATH_SEP}{p}{PATH_SEP}" for c, p in zip(cats, paths)],
                     dtype=bool)
    in_file = paths != ""
    notes = []
    differ = np.flatnonzero(in_file & ~agree)
    if len(differ):
        codes = counts["item"].to_numpy()[differ[:SHOW]]
        examples = "; ".join(
            f"item {label!r}: file {paths[j]!r}, log {cats[j]!r} in {_rows(counts['rows'].iat[j])}"
            for j, label in zip(differ[:SHOW], _original_ids(item_ids, codes))
        )
        n_items = len(np.unique(counts["item"].to_numpy()[differ]))
        notes.append(f"for {n_items:,} item(s) the log's category is not part of the file's path, e.g. {examples}")
    only_log = pd.unique(counts["item"].to_numpy()[~in_file])
    if len(only_log):
        notes.append(
            f"{len(only_log):,} item(s) have a category only in the log (e.g. items "
            f"{_original_ids(item_ids, only_log[:SHOW])}) and keep an empty path"
        )
    if notes:
        _warn(
            f"{what}: the item file {items} gives the category paths (it wins over the log's column "
            f"{column!r}), but " + "; ".join(notes) + ". Fix whichever is wrong, or pass category=False "
            "to ignore the log's column."
        )


def _level_name(column: str) -> str:
    """A level's name from its column: "category_id" -> "category", "genre" -> "genre"."""
    name = re.sub(r"[\s_\-]*(id|path|name|code)$", "", column.strip(), flags=re.IGNORECASE).lower()
    return name or "category"


def _level_names(given: list[str] | None, column: str | None, paths: pd.Series, what: str) -> list[str]:
    """Names of the category paths' levels, top first: ``given``, else the column's for one level."""
    depth = max((p.count(PATH_SEP) + 1 for p in pd.unique(paths) if p), default=0)
    if given is not None:
        names = [str(n) for n in given]
        if len(names) != depth:
            raise DataError(
                f"{what}: level_names has {len(names)} name(s) {names}, but the category paths have "
                f"{depth} level(s)" + (" (no item has a category)" if depth == 0 else "")
                + "; give one name per level, top first."
            )
        return names
    if depth == 1 and column is not None:
        return [_level_name(column)]
    return [f"level {k + 1}" for k in range(depth)]


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


def _read_items(path, item_ids: pd.Index | None, sep: str | None) -> tuple[pd.DataFrame, str | None]:
    """The item file's rows (``item`` code, ``original_id``, ``title``, ``category_path``) and its path column."""
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
    repeated = ids.duplicated().to_numpy()
    if repeated.any():  # named as the file writes them (the codes mean nothing to the reader)
        shown = pd.unique(codes[repeated] if item_ids is None else ids[repeated].to_numpy())[:SHOW].tolist()
        raise DataError(f"{what} lists item(s) {shown} more than once; keep one row per item.")
    frame = pd.DataFrame({"item": codes, "original_id": ids})
    frame["title"] = raw[title_col].fillna("") if title_col else ids
    frame["category_path"] = normalise_path(raw[path_col]) if path_col else ""
    return frame, path_col


def read_interactions(
    path: str | os.PathLike,
    items: str | os.PathLike | None = None,
    *,
    user: str | None = None,
    item: str | None = None,
    timestamp: str | bool | None = None,
    rating: str | bool | None = None,
    event: str | bool | None = None,
    category: str | bool | None = None,
    events: Mapping[str, str | None] | None = None,
    level_names: list[str] | None = None,
    sep: str | None = None,
) -> InteractionData:
    """Read a behaviour log (one row per user action) and optionally an item table.

    Columns are found by name (``user``/``user_id``/``userId``..., ``item``/``item_id``/
    ``movieId``/``product_id``..., ``timestamp``/``time``/``ts``/``datetime``..., optional
    ``rating``, ``event``/``behavior_type``/``action``... and ``category``/``category_id``...)
    unless given; ``False`` ignores an optional column. Without a timestamp column the file
    order is the time order. Numeric timestamps are seconds since 1970 (milliseconds when
    above 1e11); text timestamps are parsed as dates, in UTC unless they say otherwise. The
    interactions file's separator is detected unless ``sep`` is given (the item file's
    always is). A file without a header line is read only in the Taobao UserBehavior layout
    ``user_id,item_id,category_id,behavior_type,timestamp`` (with a DataWarning).

    Events: words are matched against the schema's events and common spellings
    (``EVENT_SYNONYMS``: pv -> view, fav -> cart, add_to_cart -> cart, buy and transaction ->
    purchase...), ignoring case, spaces, "_" and "-". ``events={"like": "click",
    "remove_from_cart": None}`` adds or overrides words (None drops those rows). An unknown
    word is a DataError. Without an event column every row is "click" ("rating" when it has
    a rating).

    Categories: an item file's category path wins; the log's category column is then only
    checked against it (disagreements are a DataWarning). Without an item file, or one with
    no category column, an item's path is its category in the log: one level, named after
    the column ("category_id" -> "category"); an item logged under several categories gets
    its most frequent one (a DataWarning lists them). ``level_names`` names the path's
    levels, top first; they are kept in ``info["level_names"]``. Catalogue items nobody
    interacted with get ids after the others. Raises
    DataError with what is wrong and what to do. Taught in chapter 02.
    """
    what = f"interaction file {path}"
    vocabulary = _event_vocabulary(events)
    raw = _read_table(path, sep, "interaction")
    headerless = (
        user is None and item is None
        and _find_column(raw, None, USER_NAMES, "user", what, required=False) is None
        and _header_is_data(list(raw.columns), vocabulary)
    )
    if headerless:
        raw = _headerless(raw, vocabulary, what)
    cols = {
        "user": _find_column(raw, user, USER_NAMES, "user", what, required=True),
        "item": _find_column(raw, item, ITEM_NAMES, "item", what, required=True),
        "timestamp": _find_column(raw, timestamp, TIME_NAMES, "timestamp", what, required=False),
        "rating": _find_column(raw, rating, RATING_NAMES, "rating", what, required=False),
        "event": _find_column(raw, event, EVENT_NAMES, "event", what, required=False),
        "category": _find_column(raw, category, CATEGORY_NAMES, "category", what, required=False),
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
    dropped = 0
    if cols["event"] is not None:
        frame["event"] = _events(raw[cols["event"]], cols["event"], vocabulary, what)
        keep = frame["event"].notna().to_numpy()
        dropped = int((~keep).sum())
        frame = frame[keep]
    elif events is not None:
        raise DataError(
            f"{what}: you passed events=... but no event column was found among {list(raw.columns)}; "
            "name it with event='<column>'."
        )
    elif event is not False:
        _warn_unread_events(raw, set(cols.values()), vocabulary, what, rated=cols["rating"] is not None)
    interactions = tidy_interactions(frame, what)
    # rows per (item, category) in the log, read before any row is dropped
    counts = _category_counts(raw[cols["category"]], item_codes) if cols["category"] is not None else None

    taxonomy, categories_from = None, None  # the column the category paths come from, and its file
    if items is not None:
        table, path_col = _read_items(items, item_ids, sep=None)
        unmatched = (table["item"] < 0) if item_ids is not None else pd.Series(False, index=table.index)
        if unmatched.any():  # catalogue items nobody interacted with get new ids after the others
            extra = pd.Index(table.loc[unmatched, "original_id"].unique())
            item_ids = item_ids.append(extra)
            table.loc[unmatched, "item"] = item_ids.get_indexer(table.loc[unmatched, "original_id"])
        table = table.drop(columns="original_id")
        if path_col is not None:
            taxonomy, categories_from = path_col, "item file"
            if counts is not None:
                _check_log_against_file(counts, table.set_index("item")["category_path"], item_ids,
                                        cols["category"], items, what)
    else:
        table = pd.DataFrame({"item": np.unique(item_codes)})
        table["title"] = (item_ids[table["item"]] if item_ids is not None else table["item"]).astype(str)
    # every interacted item gets a row, even when the item file forgets it
    missing = np.setdiff1d(np.unique(item_codes), table["item"].to_numpy())
    if len(missing):
        titles = item_ids[missing].astype(str) if item_ids is not None else missing.astype(str)
        table = pd.concat([table, pd.DataFrame({"item": missing, "title": titles})], ignore_index=True)
    if taxonomy is None and counts is not None:  # one taxonomy: the log's column, not a mix of both
        taxonomy, categories_from = cols["category"], "log"
        chosen = _majority_category(counts, item_ids, taxonomy, what)
        table["category_path"] = table["item"].map(chosen).fillna("")
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
            "headerless": headerless,
            "user_ids": user_ids,
            "item_ids": item_ids,
            "items_without_file_row": int(len(missing)),
            "dropped_event_rows": dropped,
            "categories_from": categories_from,
            "level_names": _level_names(level_names, taxonomy, item_table["category_path"], what),
        },
    )
