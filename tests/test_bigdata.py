"""A log read out of core (``hiercourse.bigdata``) gives the split the in-memory path gives (chapter 13)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hiercourse.bigdata import LOG_COLUMNS, log_split_in_memory, read_log_split, write_shop_log
from hiercourse.errors import DataError

pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("log") / "shop.parquet"
    # several chunks (their users interleave in time inside each), 2 % duplicate rows
    return write_shop_log(path, 60_000, events_per_user=15, items_per_category=15, chunk_rows=25_000,
                          duplicate_share=0.02, seed=4)


def test_the_log_is_a_log(log):
    frame = pd.read_parquet(log)
    assert list(frame.columns) == list(LOG_COLUMNS) and len(frame) == 60_000
    assert frame.duplicated().sum() > 500, "the log should hold exact duplicates for the reader to drop"
    assert not frame["user_id"].is_monotonic_increasing, "rows in time order, users interleaved"
    assert set(frame["event"].astype(str)) == {"view", "click", "cart", "purchase"}
    assert frame.groupby("item_id")["category"].nunique().max() == 1


@pytest.mark.parametrize("events, k, max_len", [(None, 5, None), (["view", "click"], 3, 12)])
def test_out_of_core_gives_the_same_split(log, events, k, max_len):
    out, report = read_log_split(log, events=events, k=k, max_len=max_len, buckets=5, batch_rows=7_000)
    ref = log_split_in_memory(log, events=events, k=k, max_len=max_len)
    assert report["rows_read"] >= report["rows_deduplicated"] > report["rows_k_core"] > 0
    assert (out.n_users, out.n_items) == (ref.n_users, ref.n_items)
    for name in ("seq", "offsets", "times"):
        np.testing.assert_array_equal(getattr(out, name), getattr(ref, name), err_msg=name)
    np.testing.assert_array_equal(out.idmap.user_ids, ref.idmap.user_ids)
    np.testing.assert_array_equal(out.idmap.item_ids, ref.idmap.item_ids)
    np.testing.assert_array_equal(out.item_paths, ref.item_paths)
    pd.testing.assert_frame_equal(out.items, ref.items)
    assert out.level_names == ref.level_names == ["department", "category"]
    assert out.info == ref.info


def test_bad_logs_are_named(log, tmp_path):
    with pytest.raises(DataError, match="unknown event"):
        read_log_split(log, events=["like"])
    pd.DataFrame({"user_id": [1], "item_id": [2]}).to_parquet(tmp_path / "short.parquet")
    with pytest.raises(DataError, match="lacks column"):
        read_log_split(tmp_path / "short.parquet")
