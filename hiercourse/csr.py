"""Ragged rows stored flat (CSR): one home for slicing many variable-length rows at once.

A user's sequence, a movie's genres or a session's events are rows of different
lengths. Stored flat, row ``r`` is ``values[starts[r] : starts[r] + lengths[r]]``.
Taking many such rows with a Python loop is slow; the functions here do it with
one ``np.repeat``. Taught in chapter 02.
"""
from __future__ import annotations

import numpy as np

__all__ = ["position_in_row", "row_positions", "gather_rows", "dense_mask"]


def position_in_row(lengths) -> np.ndarray:
    """``[0, 1, .., lengths[0] - 1, 0, 1, .., lengths[1] - 1, ...]``: each element's place in its row.

    ``position_in_row([2, 0, 3])`` is ``[0, 1, 0, 1, 2]``. Taught in chapter 02.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    return np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def row_positions(starts, lengths) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, positions)``: for every element of every row, the row number and its index in the flat array.

    Row ``r`` covers ``starts[r] .. starts[r] + lengths[r] - 1``. Taught in chapter 02.
    """
    starts, lengths = np.asarray(starts, dtype=np.int64), np.asarray(lengths, dtype=np.int64)
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    return rows, np.repeat(starts, lengths) + position_in_row(lengths)


def gather_rows(values: np.ndarray, starts, lengths) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, gathered)``: the elements of the given rows of ``values``, concatenated, with their row numbers.

    Taught in chapter 02.
    """
    rows, positions = row_positions(starts, lengths)
    return rows, np.asarray(values)[positions]


def dense_mask(indptr: np.ndarray, indices: np.ndarray, rows, n_columns: int):
    """Bool tensor ``[len(rows), n_columns]``: True at ``(i, indices[j])`` for each entry ``j`` of CSR row ``rows[i]``.

    E.g. the items each user has seen, from ``SequenceSplit.seen``. Taught in chapter 09.
    """
    import torch  # the data chapters run without torch

    rows = np.asarray(rows, dtype=np.int64)
    indptr = np.asarray(indptr)
    starts, ends = indptr[rows], indptr[rows + 1]
    out_rows, columns = gather_rows(indices, starts, ends - starts)
    mask = torch.zeros(len(rows), n_columns, dtype=torch.bool)
    mask[torch.as_tensor(out_rows), torch.as_tensor(np.asarray(columns), dtype=torch.long)] = True
    return mask
