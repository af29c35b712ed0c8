"""Ragged rows stored flat (hiercourse.csr): known answers by hand, and a property against a Python loop."""
from __future__ import annotations

import numpy as np
import torch

from hiercourse.csr import dense_mask, gather_rows, position_in_row, row_positions


def test_known_answers():
    assert position_in_row([2, 0, 3]).tolist() == [0, 1, 0, 1, 2]
    rows, positions = row_positions([5, 9, 1], [2, 0, 3])
    assert rows.tolist() == [0, 0, 2, 2, 2] and positions.tolist() == [5, 6, 1, 2, 3]
    rows, values = gather_rows(np.array([10, 11, 12, 13, 14, 15, 16]), [5, 1], [2, 3])
    assert rows.tolist() == [0, 0, 1, 1, 1] and values.tolist() == [15, 16, 11, 12, 13]
    # CSR rows 0: {1, 3}, 1: {}, 2: {0}; asked for rows 2 and 0
    mask = dense_mask(np.array([0, 2, 2, 3]), np.array([1, 3, 0]), [2, 0], 4)
    assert mask.tolist() == [[True, False, False, False], [False, True, False, True]]


def test_gather_rows_equals_a_python_loop_on_random_rows():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 100, 200)
    lengths = rng.integers(0, 6, 40)
    starts = rng.integers(0, 200 - 6, 40)
    rows, gathered = gather_rows(values, starts, lengths)
    expected = [(r, values[s + i]) for r, (s, n) in enumerate(zip(starts, lengths)) for i in range(n)]
    assert list(zip(rows.tolist(), gathered.tolist())) == [(r, int(v)) for r, v in expected]
    assert dense_mask(np.array([0]), np.array([], dtype=np.int64), [], 3).shape == torch.Size([0, 3])
