"""From raw interactions to model-ready sequences: cleaning, id encoding, the split.

Cleaning (``deduplicate``, ``remove_outliers``, ``k_core``, ``to_implicit``,
``collapse_repeats``) works on tidy interaction frames (see
``hiercourse.datasets.schema``). ``IdMap`` gives contiguous ids, and
``leave_one_out`` builds the one evaluation split of the course as a
``SequenceSplit``. Everything is vectorised with numpy (argsort, bincount,
repeat): no Python loop runs once per user or per event.

Taught in chapter 02.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hiercourse.csr import dense_mask, gather_rows, row_positions
from hiercourse.datasets.schema import (
    EVENTS,
    PATH_SEP,
    InteractionData,
    require_columns,
    tidy_interactions,
    tidy_items,
)
from hiercourse.errors import DataError

if TYPE_CHECKING:  # torch is imported lazily: the cleaning steps run without it
    import torch

STAGES = ("valid", "test")  # the two held-out targets of leave-one-out: the one home of their names


def check_stage(stage: str, allowed: Sequence[str] = STAGES) -> str:
    """``stage`` when it is one of ``allowed`` (default: "valid", "test"); else a DataError. Taught in chapter 02."""
    if stage not in allowed:
        raise DataError(f"stage must be one of {list(allowed)}, got {stage!r}.")
    return stage
# How much each behaviour says about interest (chapter 02): a purchase says more than a view.
DEFAULT_EVENT_WEIGHTS = {"view": 1.0, "click": 2.0, "cart": 3.0, "purchase": 5.0, "rating": 1.0}


# --------------------------------------------------------------------------- cleaning


def _check_frame(frame: pd.DataFrame, what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"{what} must be a pandas DataFrame of interactions, got {type(frame).__name__}; "
            "pass data.interactions for an InteractionData."
        )
    require_columns(frame, ["user", "item", "timestamp"], what)
    if len(frame) == 0:
        raise DataError(f"{what} is empty: there is nothing to clean. Check the earlier filters.")


def in_user_time_order(users: np.ndarray, stamps: np.ndarray) -> bool:
    """True when rows are already sorted by (user, timestamp), as tidy frames are. Taught in chapter 02."""
    return bool(np.all((users[1:] > users[:-1]) | ((users[1:] == users[:-1]) & (stamps[1:] >= stamps[:-1]))))


def sort_by_user_time(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in the schema's order: by (user, timestamp), ties kept in their current order; a fresh 0..n-1 index.

    Skips the sort when the rows are already in order. Taught in chapter 02.
    """
    if in_user_time_order(frame["user"].to_numpy(), frame["timestamp"].to_numpy()):
        return frame.reset_index(drop=True)  # already in order: skip the sort
    return frame.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted: one sort and one comparison (much faster than hashing for int keys).

    Taught in chapter 02.
    """
    ordered = np.sort(np.asarray(values), kind="stable")
    keep = np.ones(len(ordered), dtype=bool)
    keep[1:] = ordered[1:] != ordered[:-1]
    return ordered[keep]


def event_codes(events: pd.Series) -> np.ndarray:
    """Position of each event in ``EVENTS`` (view 0 ... rating 4), without string work for tidy frames.

    Taught in chapter 02.
    """
    if isinstance(events.dtype, pd.CategoricalDtype) and list(events.cat.categories) == EVENTS:
        return events.cat.codes.to_numpy().astype(np.int64)
    codes = pd.Categorical(events.astype(str), categories=EVENTS).codes.astype(np.int64)
    if (codes < 0).any():
        unknown = sorted(set(events[codes < 0].astype(str)))
        raise DataError(f"unknown event type(s) {unknown}; allowed: {EVENTS}.")
    return codes


def deduplicate(frame: pd.DataFrame, window: float | None = None) -> pd.DataFrame:
    """Drop exact duplicate rows and, with ``window``, quick repeats of the same event.

    A row is a quick repeat when the same (user, item, event) happened at most
    ``window`` seconds before it (e.g. a double click, or a page reload logged twice).
    The gap is measured to the previous identical event, so a burst of repeats
    collapses to its first row. Returns a new frame in (user, timestamp) order.

    Taught in chapter 02.
    """
    _check_frame(frame, "deduplicate's frame")
    out = frame.drop_duplicates(keep="first")
    if window is not None:
        if window < 0:
            raise DataError(f"window must be >= 0 seconds, got {window}.")
        keys = ["user", "item"] + (["event"] if "event" in out else [])
        order = out.sort_values(keys + ["timestamp"], kind="stable")
        same_key = np.ones(len(order), dtype=bool)
        for col in keys:  # a handful of columns, not a loop over rows
            values = order[col].to_numpy()
            same_key[1:] &= values[1:] == values[:-1]
        same_key[0] = False
        gap = np.diff(order["timestamp"].to_numpy(), prepend=0)
        repeat = same_key & (gap <= window)
        out = order.loc[~repeat]
    return sort_by_user_time(out)


def remove_outliers(
    frame: pd.DataFrame,
    max_events_per_user: int | None = None,
    quantile: float | None = 0.999,
    max_events_per_minute: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Remove bot-like users: far too many events overall, or too many in one minute.

    The per-user cap is ``max_events_per_user`` when given, else the ``quantile``
    of events per user (``None`` for neither). ``max_events_per_minute`` caps the
    busiest minute of a user (humans rarely act more than a few times a minute).

    Returns ``(clean_frame, report)``: ``report`` has one row per removed user
    with its ``events``, ``peak_per_minute`` and the ``reason``; its ``attrs``
    hold the thresholds used and the number of rows removed.

    Taught in chapter 02.
    """
    _check_frame(frame, "remove_outliers's frame")
    users = frame["user"].to_numpy()
    codes, uniques = pd.factorize(users)
    events = np.bincount(codes, minlength=len(uniques))
    minute = frame["timestamp"].to_numpy() // 60
    per_minute = pd.Series(1, index=pd.MultiIndex.from_arrays([codes, minute])).groupby(level=[0, 1]).size()
    peak = per_minute.groupby(level=0).max().reindex(range(len(uniques)), fill_value=0).to_numpy()

    cap = max_events_per_user
    if cap is None and quantile is not None:
        if not 0 < quantile <= 1:
            raise DataError(f"quantile must lie in (0, 1], got {quantile}.")
        cap = float(np.quantile(events, quantile))
    too_many = events > cap if cap is not None else np.zeros(len(uniques), bool)
    too_fast = (
        peak > max_events_per_minute if max_events_per_minute is not None else np.zeros(len(uniques), bool)
    )
    reason = np.where(
        too_many & too_fast, "too many events; too fast", np.where(too_many, "too many events", "too fast")
    )
    bad = too_many | too_fast
    report = pd.DataFrame(
        {"user": uniques[bad], "events": events[bad], "peak_per_minute": peak[bad], "reason": reason[bad]}
    ).sort_values("events", ascending=False, kind="stable").reset_index(drop=True)
    keep = ~bad[codes]
    report.attrs.update(
        max_events_per_user=cap,
        max_events_per_minute=max_events_per_minute,
        rows_removed=int((~keep).sum()),
        users_removed=int(bad.sum()),
    )
    return sort_by_user_time(frame.loc[keep]), report


def k_core(frame: pd.DataFrame, k: int = 5, *, item_k: int | None = None) -> pd.DataFrame:
    """Keep the largest part where every user and every item has at least ``k`` rows.

    Dropping rare items can push a user below ``k`` and the other way round, so
    the filter repeats until nothing changes (each round is two bincounts).
    ``item_k`` sets a different threshold for items. Raises when nothing is left.

    Taught in chapter 02.
    """
    _check_frame(frame, "k_core's frame")
    user_k, item_k = int(k), int(k if item_k is None else item_k)
    if user_k < 1 or item_k < 1:
        raise DataError(f"k must be >= 1, got user k={user_k}, item k={item_k}.")
    users, _ = pd.factorize(frame["user"].to_numpy())
    items, _ = pd.factorize(frame["item"].to_numpy())
    keep = np.ones(len(frame), dtype=bool)
    while True:
        user_count = np.bincount(users[keep], minlength=users.max() + 1)
        item_count = np.bincount(items[keep], minlength=items.max() + 1)
        new_keep = keep & (user_count[users] >= user_k) & (item_count[items] >= item_k)
        if new_keep.sum() == keep.sum():
            break
        keep = new_keep
    if not keep.any():
        raise DataError(
            f"the {user_k}-core (items {item_k}) of {len(frame):,} rows is empty; lower k."
        )
    return sort_by_user_time(frame.loc[keep])


def to_implicit(
    frame: pd.DataFrame,
    min_rating: float | None = None,
    events: Iterable[str] | None = None,
    weights: dict[str, float] | None = None,
) -> pd.DataFrame:
    """Turn feedback into implicit positives with a ``weight`` column.

    ``min_rating`` drops rated rows below it (rows without a rating stay);
    ``events`` keeps only those event types. ``weight`` comes from ``weights``
    (default ``DEFAULT_EVENT_WEIGHTS``: purchase > cart > click > view).

    Taught in chapter 02.
    """
    _check_frame(frame, "to_implicit's frame")
    keep = np.ones(len(frame), dtype=bool)
    if min_rating is not None:
        require_columns(frame, ["rating"], "to_implicit's frame (min_rating given)")
        keep &= ~(frame["rating"].to_numpy(dtype=float) < min_rating)  # NaN rows are kept
    table = dict(DEFAULT_EVENT_WEIGHTS if weights is None else weights)
    if events is not None:
        wanted = {events} if isinstance(events, str) else set(events)
        unknown = wanted - set(EVENTS)
        if unknown:
            raise DataError(f"unknown event type(s) {sorted(unknown)}; allowed: {EVENTS}.")
        require_columns(frame, ["event"], "to_implicit's frame (events given)")
        keep &= frame["event"].astype(str).isin(wanted).to_numpy()
    out = frame.loc[keep].copy()
    if len(out) == 0:
        raise DataError(
            f"to_implicit kept no rows (min_rating={min_rating}, events={events}); loosen the filter."
        )
    if "event" in out:
        missing = set(pd.unique(out["event"].astype(str))) - set(table)
        if missing:
            raise DataError(f"weights lack event type(s) {sorted(missing)}; give a weight for each.")
        out["weight"] = out["event"].astype(str).map(table).astype("float64")
    else:
        out["weight"] = 1.0
    return sort_by_user_time(out)


def collapse_repeats(frame: pd.DataFrame) -> pd.DataFrame:
    """Merge back-to-back rows of the same (user, item) into one row.

    A shop session logs view -> click -> cart -> purchase of one item as four
    rows; as a sequence for next-item models that is one item. The merged row
    keeps the first timestamp and the strongest event of the run.

    Taught in chapter 02.
    """
    _check_frame(frame, "collapse_repeats's frame")
    frame = sort_by_user_time(frame)
    users = frame["user"].to_numpy()
    items = frame["item"].to_numpy()
    starts = np.ones(len(frame), dtype=bool)
    starts[1:] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    out = frame.loc[starts].reset_index(drop=True)
    if "event" in frame:  # runs are contiguous: one reduceat finds each run's strongest event
        strongest = np.maximum.reduceat(event_codes(frame["event"]), np.flatnonzero(starts))
        out["event"] = pd.Categorical.from_codes(strongest, categories=EVENTS)
    return out


# --------------------------------------------------------------------------- id encoding


def _as_int_array(values: Any, what: str) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            return arr.astype(np.int64)
        raise DataError(f"{what} must be integers, got dtype {arr.dtype}.")
    return arr.astype(np.int64, copy=False)


@dataclass(frozen=True)
class IdMap:
    """Reversible contiguous ids: users ``0..n_users-1``, items ``1..n_items`` (0 = padding).

    Codes follow the sorted original ids, so the same data always gives the same codes.

    Taught in chapter 02.
    """

    user_ids: np.ndarray  # sorted original user ids; code u is user_ids[u]
    item_ids: np.ndarray  # sorted original item ids; code i is item_ids[i - 1]

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> IdMap:
        """The map of every user and item in an interactions frame."""
        require_columns(frame, ["user", "item"], "IdMap.from_frame's frame")
        return cls(sorted_unique(frame["user"].to_numpy(np.int64)), sorted_unique(frame["item"].to_numpy(np.int64)))

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @staticmethod
    def _encode(known: np.ndarray, ids: Any, what: str) -> np.ndarray:
        arr = _as_int_array(ids, f"{what} ids")
        pos = np.searchsorted(known, arr)
        found = pos < len(known)
        found[found] = known[pos[found]] == arr[found]
        if not found.all():
            unknown = np.unique(arr[~found])
            raise DataError(
                f"unknown {what} id(s) {unknown[:10].tolist()}"
                + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
                + f": this IdMap knows {len(known):,} {what}s. Filter new {what}s out first "
                "(they were not in the data the map was built from)."
            )
        return pos

    @staticmethod
    def _decode(known: np.ndarray, codes: Any, low: int, what: str) -> np.ndarray:
        arr = _as_int_array(codes, f"{what} codes")
        bad = (arr < low) | (arr >= len(known) + low)
        if bad.any():
            raise DataError(
                f"{what} code(s) {np.unique(arr[bad])[:10].tolist()} are out of range "
                f"{low}..{len(known) + low - 1}" + (" (0 is the padding index)" if low == 1 else "") + "."
            )
        return known[arr - low]

    def encode_users(self, ids: Any) -> np.ndarray:
        """Original user ids -> codes 0..n_users-1."""
        return self._encode(self.user_ids, ids, "user")

    def decode_users(self, codes: Any) -> np.ndarray:
        """Codes 0..n_users-1 -> original user ids."""
        return self._decode(self.user_ids, codes, 0, "user")

    def encode_items(self, ids: Any) -> np.ndarray:
        """Original item ids -> codes 1..n_items."""
        return self._encode(self.item_ids, ids, "item") + 1

    def decode_items(self, codes: Any) -> np.ndarray:
        """Codes 1..n_items -> original item ids (0, the padding, is refused)."""
        return self._decode(self.item_ids, codes, 1, "item")


# --------------------------------------------------------------------------- padding


def _left_padded(seq: np.ndarray, starts: np.ndarray, ends: np.ndarray, max_len: int) -> np.ndarray:
    """Rows ``seq[max(start, end - max_len):end]`` left-padded with 0 to ``max_len``: [n, max_len]."""
    take = np.minimum(ends - starts, max_len)
    cols = np.arange(max_len)
    # Column j of a row holds seq[end - max_len + j] when that lies inside the row's span.
    pos = ends[:, None] - max_len + cols[None, :]
    inside = cols[None, :] >= (max_len - take)[:, None]
    out = np.zeros((len(starts), max_len), dtype=np.int64)
    out[inside] = seq[pos[inside]]
    return out


def _check_max_len(max_len: Any) -> int:
    if max_len is None or int(max_len) < 1:
        raise DataError(f"max_len must be a positive integer, got {max_len!r}.")
    return int(max_len)


def pad_sequences(sequences: Sequence[Sequence[int]], max_len: int | None = None) -> torch.Tensor:
    """Left-pad (0 = pad) integer sequences into a LongTensor [n, max_len], keeping the last items.

    ``max_len=None`` uses the longest sequence. Left padding keeps the most recent
    item in the last column, where causal sequence models read their output.

    Taught in chapter 02.
    """
    import torch

    arrays = [_as_int_array(s, "sequence") for s in sequences]
    if not arrays:
        raise DataError("pad_sequences got no sequences.")
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    if max_len is None:
        max_len = max(int(lengths.max()), 1)
    max_len = _check_max_len(max_len)
    flat = np.concatenate(arrays) if lengths.sum() else np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    return torch.from_numpy(_left_padded(flat, ends - lengths, ends, max_len))


# --------------------------------------------------------------------------- the split


@dataclass
class Taxonomy:
    """The hierarchy items sit in, coarse to fine, in the form models read. Taught in chapter 02 (used in 08).

    ``item_paths [n_items + 1, n_levels]``: node id of each encoded item at each level
    (row 0 = padding; node ids are per level, 1-based; 0 = no node). ``level_names``
    (e.g. ``["department", "category"]``), ``node_names[l][k]``: the name of node k of
    level l (index 0 = "<pad>"). ``source``: "given" (the catalogue's own) or how it
    was learned.
    """

    item_paths: np.ndarray
    level_names: list[str]
    node_names: list[list[str]]
    source: str = "given"
    item_labels: list[np.ndarray | None] | None = None

    def labels(self, level: int) -> np.ndarray:
        """``[n_items + 1, M]``: every node of ``level`` each item sits in (0-padded), its path's node
        first. A multi-label level (``item_labels[level]``, e.g. all of a movie's genres) has M > 1;
        otherwise this is the path's column, M = 1. Taught in chapter 08."""
        if self.item_labels is not None and self.item_labels[level] is not None:
            return np.asarray(self.item_labels[level])
        return np.asarray(self.item_paths)[:, level:level + 1]

    @property
    def multi_label(self) -> bool:
        """True when some level puts an item in several nodes (``item_labels``)."""
        return self.item_labels is not None and any(labels is not None for labels in self.item_labels)

    def is_empty(self) -> bool:
        """True when no item has a node at any level (a catalogue without categories)."""
        paths = np.asarray(self.item_paths)
        return paths.ndim != 2 or paths.shape[1] == 0 or not bool((paths[1:] > 0).any())

    def describe(self) -> str:
        """One line for reports, e.g. "given (department > category)"."""
        return f"{self.source} ({' > '.join(self.level_names)})" if self.level_names else self.source


@dataclass
class SequenceSplit:
    """The course's leave-one-out split, encoded for models (see docs/design.md).

    User ``u``'s sequence is ``seq[offsets[u]:offsets[u+1]]`` in time order: the
    last item is the test target, the one before it the validation target, the
    rest is the train part. ``times`` holds the timestamps aligned with ``seq``;
    ``taxonomy`` the items' hierarchy (``item_paths``, ``level_names`` and
    ``node_names`` read it); ``item_genres`` / ``genre_names`` are the multi-hot of
    the items' ``categories``; ``truth`` the generator's ground truth (synthetic
    data only, else None); ``info`` counts for reports (dropped users, ...).

    Taught in chapter 02.
    """

    n_users: int
    n_items: int
    idmap: IdMap
    items: pd.DataFrame
    seq: np.ndarray
    offsets: np.ndarray
    times: np.ndarray
    taxonomy: Taxonomy
    item_genres: torch.Tensor
    genre_names: list[str]
    max_len: int | None = None
    truth: Mapping[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def item_paths(self) -> np.ndarray:
        """``[n_items + 1, n_levels]`` node ids of every item (``taxonomy.item_paths``)."""
        return self.taxonomy.item_paths

    @property
    def level_names(self) -> list[str]:
        return self.taxonomy.level_names

    @property
    def node_names(self) -> list[list[str]]:
        return self.taxonomy.node_names

    def __repr__(self) -> str:  # the arrays are too long to print
        return (f"SequenceSplit({self.info.get('name', '')!r}: {self.n_users:,} users, {self.n_items:,} items, "
                f"{len(self.seq):,} interactions, levels {self.level_names})")

    # -- where each stage's target sits in ``seq``
    def _target_position(self, stage: str) -> np.ndarray:
        return self.offsets[1:] - (2 if check_stage(stage) == "valid" else 1)

    def _history_end(self, stage: str) -> np.ndarray:
        if stage == "all":  # everything, for recommending what comes after the data
            return self.offsets[1:].copy()
        return self._target_position(stage)

    def _max_len(self, max_len: int | None) -> int:
        if max_len is None:
            max_len = self.max_len if self.max_len is not None else int(np.diff(self.offsets).max())
        return _check_max_len(max_len)

    @property
    def lengths(self) -> np.ndarray:
        """Events per user (train part + 2)."""
        return np.diff(self.offsets)

    def history(self, stage: str, max_len: int | None = None) -> torch.Tensor:
        """LongTensor [n_users, max_len]: the last ``max_len`` items before the target, left-padded.

        ``stage`` is "valid" or "test" (the test history ends with the validation
        item), or "all" (the whole sequence, to recommend what comes next).
        """
        import torch

        ends = self._history_end(stage)
        return torch.from_numpy(_left_padded(self.seq, self.offsets[:-1], ends, self._max_len(max_len)))

    def targets(self, stage: str) -> torch.Tensor:
        """LongTensor [n_users]: each user's validation or test item."""
        import torch

        return torch.from_numpy(self.seq[self._target_position(stage)].copy())

    def seen(self, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        """CSR ``(indptr [n_users+1], indices)``: the distinct items each user had before the target.

        Row ``u`` is ``indices[indptr[u]:indptr[u+1]]`` (sorted). It is for masking
        items in full ranking; evaluation must never mask the target itself, which
        can be in this set when a user returns to an item.
        """
        import torch

        starts = self.offsets[:-1]
        rows, items = gather_rows(self.seq, starts, self._history_end(stage) - starts)
        keys = sorted_unique(rows * (self.n_items + 1) + items)  # by user, then item
        rows, items = np.divmod(keys, self.n_items + 1)
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.n_users), out=indptr[1:])
        return torch.from_numpy(indptr), torch.from_numpy(items)

    def seen_mask(self, stage: str, users: Any = None) -> torch.Tensor:
        """BoolTensor [len(users), n_items+1]: True where the user saw the item before the target.

        ``users=None`` means all users (mind the memory: n_users x (n_items+1) bytes).
        """
        indptr, indices = (t.numpy() for t in self.seen(stage))
        users = np.arange(self.n_users) if users is None else _as_int_array(users, "users")
        return dense_mask(indptr, indices, users, self.n_items + 1)

    def train_windows(self, max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-item training pairs from the train parts only (SASRec's shift).

        For a train part ``x`` of length n: inputs ``x[:-1]``, targets ``x[1:]``,
        the last ``max_len`` of each kept and left-padded with 0. Users whose
        train part has fewer than 2 items give no row. Returns LongTensors
        ``(inputs [N, max_len], targets [N, max_len])``.
        """
        import torch

        max_len = self._max_len(max_len)
        starts = self.offsets[:-1]
        train_end = self.offsets[1:] - 2
        users = np.flatnonzero(train_end - starts >= 2)
        starts, train_end = starts[users], train_end[users]
        inputs = _left_padded(self.seq, starts, train_end - 1, max_len)
        targets = _left_padded(self.seq, starts + 1, train_end, max_len)
        return torch.from_numpy(inputs), torch.from_numpy(targets)

    def train_window_users(self) -> np.ndarray:
        """User codes of the rows of ``train_windows`` (same order)."""
        return np.flatnonzero(self.offsets[1:] - 2 - self.offsets[:-1] >= 2)

    def train_interactions(self) -> tuple[np.ndarray, np.ndarray]:
        """``(users, items)`` of every train-part interaction (for BPR, popularity, features)."""
        return gather_rows(self.seq, self.offsets[:-1], np.maximum(self.lengths - 2, 0))

    def item_counts(self) -> np.ndarray:
        """Training interactions per encoded item ``[n_items + 1]`` (index 0 = padding, always 0).

        The one home of item popularity on a split (validation and test items are not
        counted: they must not leak into training). Taught in chapter 03.
        """
        _, items = self.train_interactions()
        return np.bincount(items, minlength=self.n_items + 1)

    def summary(self) -> dict[str, Any]:
        """Key numbers of the split, for notebooks and reports."""
        lengths = self.lengths
        same_user = np.ones(len(self.seq), dtype=bool)
        same_user[self.offsets[:-1]] = False
        repeats = same_user[1:] & (self.seq[1:] == self.seq[:-1])
        return {
            "name": self.info.get("name", ""),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "n_interactions": int(len(self.seq)),
            "train_interactions": int(np.maximum(lengths - 2, 0).sum()),
            "dropped_users": int(self.info.get("dropped_users", 0)),
            "dropped_interactions": int(self.info.get("dropped_interactions", 0)),
            "min_events": int(self.info.get("min_events", 0)),
            "sequence_length_min": int(lengths.min()),
            "sequence_length_median": float(np.median(lengths)),
            "sequence_length_mean": float(lengths.mean()),
            "sequence_length_max": int(lengths.max()),
            "density": float(len(self.seq) / (self.n_users * self.n_items)),
            # an item right after itself (a funnel logged as rows): collapse_repeats removes these
            "consecutive_repeat_share": float(repeats.sum() / max(len(self.seq) - self.n_users, 1)),
            "n_levels": len(self.level_names),
            "level_names": list(self.level_names),
            "nodes_per_level": [len(names) - 1 for names in self.node_names],
            "n_genres": len(self.genre_names),
            "train_window_users": int(len(self.train_window_users())),
        }


def describe_split(split: SequenceSplit, n_examples: int = 3) -> pd.DataFrame:
    """A readable table of a split: its summary, then a few users' train/valid/test items.

    Taught in chapter 02.
    """
    summary = split.summary()
    rows = [(key, value if not isinstance(value, list) else ", ".join(map(str, value)))
            for key, value in summary.items()]
    titles = split.items.set_index("idx")["title"]
    valid, test = split.targets("valid").numpy(), split.targets("test").numpy()
    for u in range(min(n_examples, split.n_users)):
        train = split.seq[split.offsets[u]:split.offsets[u + 1] - 2]
        user_id = int(split.idmap.decode_users([u])[0])
        tail = ", ".join(titles.loc[train[-3:]].tolist())
        rows.append((f"user {user_id}: train ({len(train)} items, last 3)", tail))
        rows.append((f"user {user_id}: valid / test", f"{titles[valid[u]]} / {titles[test[u]]}"))
    return pd.DataFrame(rows, columns=["quantity", "value"]).set_index("quantity")


def _level_names(data: InteractionData, n_levels: int) -> list[str]:
    """The reader's names of the levels (``data.info["level_names"]``), "level N" for any it did not name."""
    names = list(data.info.get("level_names", []) or [])
    if len(names) < n_levels:
        names = names + [f"level {l + 1}" for l in range(len(names), n_levels)]
    return names[:n_levels]


def item_taxonomy(items: pd.DataFrame) -> tuple[np.ndarray, list[list[str]]]:
    """Node ids per level from ``category_path`` (row 0 = padding) and each level's node names.

    A node is identified by its whole path prefix ("Home > Lamps" and "Office >
    Lamps" are different nodes); its name is its last label, or the prefix when
    the last label is shared by several nodes of the level. Items are the rows of
    ``items`` in order (row r of the table is row r + 1 of the result).

    Taught in chapter 02.
    """
    # string work on the distinct paths only (a few hundred), then spread to items by code
    path_codes, distinct = pd.factorize(items["category_path"].fillna("").astype(str))
    parts = [path.split(PATH_SEP) if path else [] for path in distinct]
    n_levels = max((len(p) for p in parts), default=0)
    paths = np.zeros((len(items) + 1, n_levels), dtype=np.int64)
    node_names: list[list[str]] = []
    for level in range(n_levels):  # a few levels
        prefix = pd.Series([PATH_SEP.join(p[: level + 1]) if len(p) > level else None for p in parts], dtype=object)
        node_codes, nodes = pd.factorize(prefix, sort=True)  # None -> -1
        paths[1:, level] = (node_codes + 1)[path_codes]
        last = pd.Series(nodes, dtype=object).str.split(PATH_SEP, regex=False).str[-1]
        shared = last.duplicated(keep=False).to_numpy()
        node_names.append(["<pad>"] + np.where(shared, np.asarray(nodes, dtype=object), last.to_numpy(object)).tolist())
    return paths, node_names


def item_labels(items: pd.DataFrame, item_paths: np.ndarray, node_names: list[list[str]]) -> list[np.ndarray | None]:
    """Per level, ``[n_items + 1, M]`` node ids of every node an item's ``categories`` name at that level
    (the path's node first, then the others in the item's order; 0-padded), or None where no item has a
    second label there. MovieLens: a movie's genres are all nodes of its one level ("genre"), so "Toy
    Story" sits in Adventure, Animation, Children, Comedy and Fantasy, its path keeping the first.
    Items are the rows of ``items`` in order, as in :func:`item_taxonomy`. Taught in chapter 08.
    """
    categories = items["categories"].tolist()
    if max(map(len, categories), default=0) <= 1:  # one label an item at most: the paths say it all
        return [None] * len(node_names)
    out: list[np.ndarray | None] = []
    for level, names in enumerate(node_names):
        code = {name: k for k, name in enumerate(names) if k}
        primary = np.asarray(item_paths)[1:, level]
        rows = [[int(p)] * int(p > 0) + [code[c] for c in dict.fromkeys(map(str, cats)) if c in code and code[c] != p]
                for p, cats in zip(primary, categories)]
        width = max((len(r) for r in rows), default=0)
        if width <= 1:
            out.append(None)
            continue
        labels = np.zeros((len(rows) + 1, width), dtype=np.int64)
        for i, r in enumerate(rows):  # once per split, over the catalogue's items
            labels[i + 1, :len(r)] = r
        out.append(labels)
    return out


def _genres(items: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Multi-hot [n_items + 1, n_genres] (float32) of the items' ``categories``; row 0 = padding."""
    exploded = items[["idx", "categories"]].explode("categories").dropna()
    codes, names = pd.factorize(exploded["categories"].astype(str), sort=True)
    hot = np.zeros((len(items) + 1, len(names)), dtype=np.float32)
    hot[exploded["idx"].to_numpy(np.int64), codes] = 1.0
    return hot, [str(n) for n in names]


def leave_one_out(
    data: InteractionData | pd.DataFrame, min_events: int = 3, max_len: int | None = None,
    all_items: bool = False,
) -> SequenceSplit:
    """The course's split: per user, in time order, last item = test, the one before = validation.

    Users with fewer than ``min_events`` interactions are dropped (counted in
    ``split.info["dropped_users"]``); a ``DataError`` is raised when none is left.
    ``max_len`` keeps only each user's most recent ``max_len`` interactions and
    becomes the default length of ``history`` and ``train_windows``.
    Ties in time keep their row order (the schema's stable sort). ``all_items=True`` keeps every
    item of ``data.items`` in the catalogue, those nobody interacted with too (retrieval over
    the whole catalogue, chapter 13); by default the catalogue is the items of the kept rows.

    Taught in chapter 02.
    """
    if isinstance(data, pd.DataFrame):
        frame = tidy_interactions(data)
        data = InteractionData("interactions", frame, tidy_items(pd.DataFrame({"item": frame["item"].unique()})))
    if not isinstance(data, InteractionData):
        raise DataError(f"leave_one_out needs an InteractionData or a DataFrame, got {type(data).__name__}.")
    frame = data.interactions
    require_columns(frame, ["user", "item", "timestamp"], f"{data.name} interactions")
    if len(frame) == 0:
        raise DataError(f"{data.name} has no interactions: nothing to split. Check the earlier filters.")
    if min_events < 3:
        raise DataError(
            f"min_events must be >= 3 (one train, one validation and one test item), got {min_events}."
        )
    if max_len is not None:
        max_len = _check_max_len(max_len)
        if max_len < min_events:
            raise DataError(f"max_len ({max_len}) must be >= min_events ({min_events}).")

    users = frame["user"].to_numpy(np.int64)
    item_ids = frame["item"].to_numpy(np.int64)
    stamps = frame["timestamp"].to_numpy(np.int64)
    if not in_user_time_order(users, stamps):  # tidy frames are sorted already
        order = np.lexsort((stamps, users))  # stable: ties keep row order
        users, item_ids, stamps = users[order], item_ids[order], stamps[order]
    return split_sorted(data, users, item_ids, stamps, min_events=min_events, max_len=max_len, all_items=all_items)


def split_sorted(data: InteractionData, users: np.ndarray, item_ids: np.ndarray, stamps: np.ndarray,
                 min_events: int = 3, max_len: int | None = None, all_items: bool = False) -> SequenceSplit:
    """``leave_one_out`` of rows given as arrays already in (user, time) order (any integer dtypes);
    ``all_items`` as in :func:`leave_one_out`.

    ``data`` brings the name, the item table, the level names and the truth; its
    interactions are not read. This is how a log too big for a DataFrame
    (``hiercourse.bigdata``) reaches the course's split. Taught in chapter 13.
    """
    # users are sorted: each user's rows form one run
    first = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    counts = np.diff(np.r_[first, len(users)])
    user_ids = users[first].astype(np.int64, copy=False)
    enough = counts >= min_events
    dropped_users = int((~enough).sum())
    if not enough.any():
        raise DataError(
            f"no user of {data.name} has >= {min_events} interactions ({len(user_ids):,} users, "
            f"at most {int(counts.max())} each); lower min_events or use more data."
        )
    keep_len = counts if max_len is None else np.minimum(counts, max_len)
    keep_len = np.where(enough, keep_len, 0)
    # each user's last keep_len rows: a CSR gather, no loop over users
    total = int(keep_len.sum())
    _, rows = row_positions(first + counts - keep_len, keep_len)
    user_ids, keep_len = user_ids[enough], keep_len[enough]
    item_ids, stamps = item_ids[rows].astype(np.int64, copy=False), stamps[rows].astype(np.int64, copy=False)

    catalogue = np.r_[item_ids, data.items["item"].to_numpy(np.int64)] if all_items and data.items is not None \
        else item_ids
    idmap = IdMap(user_ids, sorted_unique(catalogue))
    seq = idmap.encode_items(item_ids)
    offsets = np.zeros(len(user_ids) + 1, dtype=np.int64)
    np.cumsum(keep_len, out=offsets[1:])

    items = tidy_items(data.items) if data.items is not None else tidy_items(pd.DataFrame({"item": idmap.item_ids}))
    items = items.set_index("item").reindex(idmap.item_ids)
    missing = items["title"].isna()
    items["title"] = items["title"].where(~missing, pd.Series(idmap.item_ids, index=items.index).astype(str))
    items["category_path"] = items["category_path"].fillna("")
    items["categories"] = [c if isinstance(c, tuple) else () for c in items["categories"]]
    items = items.reset_index()
    items.insert(1, "idx", np.arange(1, idmap.n_items + 1, dtype=np.int64))

    item_paths, node_names = item_taxonomy(items)
    genres, genre_names = _genres(items)
    import torch

    return SequenceSplit(
        n_users=idmap.n_users,
        n_items=idmap.n_items,
        idmap=idmap,
        items=items,
        seq=seq,
        offsets=offsets,
        times=stamps,
        taxonomy=Taxonomy(item_paths, _level_names(data, item_paths.shape[1]), node_names,
                          item_labels=item_labels(items, item_paths, node_names)),
        item_genres=torch.from_numpy(genres),
        genre_names=genre_names,
        max_len=max_len,
        truth=data.truth,
        info={
            "name": data.name,
            "dropped_users": dropped_users,
            "dropped_interactions": int(counts[~enough].sum()),
            "truncated_interactions": int(counts[enough].sum() - total),
            "missing_item_rows": int(missing.sum()),
            "min_events": min_events,
        },
    )
