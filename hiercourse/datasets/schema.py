"""The one tidy schema every dataset is parsed into. Taught in chapter 02."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError as DataError  # re-exported: the readers raise it
from ..errors import DataWarning as DataWarning  # ... and warn with it

EVENTS = ["view", "click", "cart", "purchase", "rating"]
INTERACTION_COLUMNS = ["user", "item", "timestamp", "rating", "event"]
ITEM_COLUMNS = ["item", "title", "category_path", "categories"]
PATH_SEP = " > "


@dataclass
class InteractionData:
    """Interactions, items and (where present) users of one dataset, in the tidy schema.

    ``info["level_names"]`` names the levels of the items' ``category_path``, top
    first (``["genre"]`` for MovieLens, ``["department", "category"]`` for the
    shop; ``[]`` without categories): every reader sets it.

    Taught in chapter 02.
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame | None = None
    truth: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # short, for notebooks
        inter = self.interactions
        return (
            f"InteractionData({self.name!r}: {len(inter):,} interactions, "
            f"{inter['user'].nunique():,} users, {inter['item'].nunique():,} items, "
            f"{len(self.items):,} item rows"
            + (f", {len(self.users):,} user rows" if self.users is not None else "")
            + ")"
        )


def require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    """Raise a DataError naming the missing columns and the ones that are there. Taught in chapter 02."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} is missing column(s) {missing}; it has {list(frame.columns)}. "
            f"Rename your columns to {columns} (or pass the column names explicitly)."
        )


def tidy_interactions(frame: pd.DataFrame, what: str = "interactions") -> pd.DataFrame:
    """Check and normalise an interactions frame to the schema (types, order, sorting).

    Missing ``rating``/``event`` columns are filled (NaN / "rating" when ratings
    exist, else "click"). Rows are stably sorted by (user, timestamp).

    Taught in chapter 02.
    """
    require_columns(frame, ["user", "item", "timestamp"], what)
    if len(frame) == 0:
        raise DataError(f"{what} is empty: there is nothing to learn from. Check the file or filter.")
    out = frame.copy()
    for col in ("user", "item", "timestamp"):
        bad = out[col].isna()
        if bad.any():
            rows = np.flatnonzero(bad.to_numpy())[:5].tolist()
            raise DataError(
                f"{what} has {int(bad.sum())} missing value(s) in column {col!r} "
                f"(first rows {rows}); drop or fill those rows before loading."
            )
    for col in ("user", "item", "timestamp"):
        try:
            out[col] = out[col].astype("int64")
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"{what} column {col!r} must hold integers ({exc}); "
                "encode string ids first, e.g. with read_interactions, which maps them."
            ) from exc
    if "rating" not in out:
        out["rating"] = np.nan
    out["rating"] = out["rating"].astype("float64")
    if "event" not in out:
        out["event"] = np.where(out["rating"].notna(), "rating", "click")
    unknown = set(pd.unique(out["event"].astype(str))) - set(EVENTS)
    if unknown:
        raise DataError(f"{what} has unknown event type(s) {sorted(unknown)}; allowed: {EVENTS}.")
    out["event"] = pd.Categorical(out["event"].astype(str), categories=EVENTS)
    out = out[INTERACTION_COLUMNS]
    out = out.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)
    return out


def tidy_items(frame: pd.DataFrame, what: str = "items") -> pd.DataFrame:
    """Check and normalise an item table to the schema. Taught in chapter 02."""
    require_columns(frame, ["item"], what)
    out = frame.copy()
    if out["item"].isna().any():
        raise DataError(f"{what} has missing item ids; drop those rows.")
    out["item"] = out["item"].astype("int64")
    if out["item"].duplicated().any():
        dups = out.loc[out["item"].duplicated(), "item"].head(5).tolist()
        raise DataError(f"{what} lists item(s) {dups} more than once; keep one row per item.")
    if "title" not in out:
        out["title"] = out["item"].astype(str)
    out["title"] = out["title"].fillna("").astype(str)
    if "category_path" not in out:
        out["category_path"] = ""
    out["category_path"] = out["category_path"].fillna("").astype(str)
    if "categories" not in out:
        out["categories"] = [
            (p.split(PATH_SEP)[0],) if p else () for p in out["category_path"]
        ]
    out["categories"] = [tuple(c) if not isinstance(c, str) else (c,) for c in out["categories"]]
    extra = [c for c in out.columns if c not in ITEM_COLUMNS]
    return out[ITEM_COLUMNS + extra].reset_index(drop=True)
