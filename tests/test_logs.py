"""read_interactions: a learner's own logs, the column guessing, id mapping, time parsing and errors."""
from __future__ import annotations

import pandas as pd
import pytest

from hiercourse.datasets import DataError, read_interactions
from hiercourse.datasets.logs import normalise_path
from hiercourse.datasets.schema import INTERACTION_COLUMNS


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_string_ids_iso_times_events_and_items(tmp_path):
    log = write(tmp_path, "shop.csv", (
        "customer_id,product_id,event_type,datetime\n"
        "alice,P9,view,2024-05-01 10:00:00\n"
        "bob,P1,addtocart,2024-05-01T09:00:00Z\n"
        "alice,P1,Purchase,2024-05-01 09:30:00\n"
    ))
    items = write(tmp_path, "items.csv", (
        "item_id,name,category\n"
        "P1,Phone X,Electronics/Phones/Smart\n"
        "P9,Case,Electronics / Accessories\n"
        "P5,Never bought,Garden\n"
    ))
    data = read_interactions(log, items)
    inter = data.interactions
    assert list(inter.columns) == INTERACTION_COLUMNS
    users, item_ids = data.info["user_ids"], data.info["item_ids"]
    decoded = [(users[u], item_ids[i], e) for u, i, e in inter[["user", "item", "event"]].values]
    # alice's rows sorted by time: the purchase (09:30) comes before the view (10:00)
    assert decoded == [("alice", "P1", "purchase"), ("alice", "P9", "view"), ("bob", "P1", "cart")]
    assert inter["timestamp"].tolist()[:2] == [1714555800, 1714557600]  # seconds, UTC
    assert inter["rating"].isna().all()
    paths = {item_ids[i]: p for i, p in data.items[["item", "category_path"]].values}
    assert paths == {"P1": "Electronics > Phones > Smart", "P9": "Electronics > Accessories", "P5": "Garden"}
    assert data.items.set_index("item").loc[item_ids.get_loc("P1"), "categories"] == ("Electronics",)
    assert data.name == "shop"


def test_tsv_numeric_ids_ratings_and_millisecond_times(tmp_path):
    log = write(tmp_path, "ratings.tsv", (
        "userId\tmovieId\trating\tts\n7\t42\t4.5\t1700000001999\n7\t3\t2\t1700000000000\n7\t5\t1\t1700000001000\n"
    ))
    data = read_interactions(log)
    inter = data.interactions
    assert inter[["user", "item", "timestamp"]].values.tolist() == [
        [7, 3, 1700000000], [7, 42, 1700000001], [7, 5, 1700000001]  # ms floored; ties keep file order
    ]
    assert inter["rating"].tolist() == [2.0, 4.5, 1.0]
    assert (inter["event"] == "rating").all()
    assert data.info["user_ids"] is None and data.info["item_ids"] is None  # integer ids kept as they are
    assert sorted(data.items["item"]) == [3, 5, 42] and (data.items["category_path"] == "").all()


def test_no_timestamp_means_file_order_and_explicit_names(tmp_path):
    log = write(tmp_path, "clicks.txt", "who;what\n5;30\n5.0;10\n4;20\n5;20.0\n")
    data = read_interactions(log, user="who", item="what")
    inter = data.interactions
    assert inter[["user", "item", "timestamp"]].values.tolist() == [[4, 20, 2], [5, 30, 0], [5, 10, 1], [5, 20, 3]]
    assert (inter["event"] == "click").all()
    with pytest.raises(DataError, match=r"named column 'whom' as the user.*\['who', 'what'\]"):
        read_interactions(log, user="whom", item="what")


def test_items_with_pipe_paths_and_items_missing_from_the_file(tmp_path):
    log = write(tmp_path, "log.csv", "user,item\n1,10\n1,11\n")
    items = write(tmp_path, "items.csv", "item,title,category_path\n10,Ten,Books|Fiction\n")
    data = read_interactions(log, items).items.set_index("item")
    assert data.loc[10, "category_path"] == "Books > Fiction"
    assert data.loc[11, "category_path"] == "" and data.loc[11, "title"] == "11"
    assert normalise_path(pd.Series(["A > B", "C>D", None])).tolist() == ["A > B", "C > D", ""]


@pytest.mark.parametrize("text, message", [
    ("usr,thing\n1,2\n", r"no user column found. Found columns \['usr', 'thing'\]; expected one named like \['user'"),
    ("user,thing\n1,2\n", "no item column found"),
    ("user,item\n", "has a header"),
    ("user,item,time\n1,2,100\n,3,200\n", "1 row\\(s\\) have no user id"),
    ("user,item,time\n1,2,100\n1,3,\n", "have no timestamp"),
    ("user,item,time\n1,2,yesterday-ish\n1,3,2024-01-01\n", r"could not be read as dates.*yesterday-ish"),
    ("user,item,event\n1,2,view\n1,3,like\n", r"unknown event type\(s\) \['like'\]"),
    ("user,item,rating\n1,2,good\n", "are not numbers"),
])
def test_errors_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_interactions(write(tmp_path, "bad.csv", text))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_interactions(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is empty"):
        read_interactions(write(tmp_path, "empty.csv", ""))
    log = write(tmp_path, "log.csv", "user,item\n1,10\n")
    with pytest.raises(DataError, match="more than once"):
        read_interactions(log, write(tmp_path, "items.csv", "item,category\n10,A\n10,B\n"))
