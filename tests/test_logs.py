"""read_interactions: a learner's own logs, the column guessing, id mapping, time parsing and errors."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from hiercourse.datasets import DataError, DataWarning, read_interactions
from hiercourse.datasets.logs import normalise_path
from hiercourse.datasets.schema import INTERACTION_COLUMNS, tidy_interactions
from hiercourse.preprocessing import IdMap


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
    ("user,item,event\n1,2,view\n1,3,like\n", r"column 'event' has unknown event type\(s\) 'like' \(1 row\)"),
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



# The Taobao UserBehavior layout: user, item, category, behaviour, seconds. Item 2268318 is
# always in category 2520377; the events are pv/fav/cart/buy in any case.
TAOBAO_ROWS = (
    "1,2268318,2520377,pv,1511544070\n"
    "1,2333346,2520771,PV,1511561733\n"
    "1,2268318,2520377,fav,1511572885\n"
    "2,2333346,2520771,cart,1511600000\n"
    "2,2268318,2520377,buy,1511601000\n"
)


def read_quietly(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        return read_interactions(*args, **kwargs)


def test_taobao_layout_maps_events_and_categories(tmp_path):
    log = write(tmp_path, "UserBehavior.csv", "user_id,item_id,category_id,behavior_type,timestamp\n" + TAOBAO_ROWS)
    data = read_quietly(log)
    inter = data.interactions
    assert inter[["user", "item", "event"]].astype(str).values.tolist() == [
        ["1", "2268318", "view"], ["1", "2333346", "view"], ["1", "2268318", "cart"],  # fav counts as cart
        ["2", "2333346", "cart"], ["2", "2268318", "purchase"],
    ]
    paths = data.items.set_index("item")["category_path"].to_dict()
    assert paths == {2268318: "2520377", 2333346: "2520771"}
    assert data.info["level_names"] == ["category"] and data.info["categories_from"] == "log"
    assert data.info["columns"]["event"] == "behavior_type" and not data.info["headerless"]


def test_headerless_taobao_file_is_read_with_a_warning(tmp_path):
    with_header = read_quietly(write(tmp_path, "a.csv", "user_id,item_id,category_id,behavior_type,timestamp\n"
                                     + TAOBAO_ROWS))
    with pytest.warns(DataWarning, match="no header line.*user_id,item_id,category_id,behavior_type,timestamp"):
        data = read_interactions(write(tmp_path, "b.csv", TAOBAO_ROWS))
    assert data.info["headerless"]
    pd.testing.assert_frame_equal(data.interactions, with_header.interactions)
    pd.testing.assert_frame_equal(data.items, with_header.items)
    # a first line with repeated values (pandas would rename them "5.1", "5.2") is read as it is
    with pytest.warns(DataWarning, match="no header line"):
        data = read_interactions(write(tmp_path, "d.csv", "5,5,5,pv,1511544070\n5,6,5,buy,1511544080\n"))
    assert data.interactions[["user", "item"]].values.tolist() == [[5, 5], [5, 6]]
    assert data.items["category_path"].tolist() == ["5", "5"]
    # any other file without a header is refused, not guessed
    with pytest.raises(DataError, match=r"no header line: its first line \['1', '10', '1700000000'\].*Add a header"):
        read_interactions(write(tmp_path, "c.csv", "1,10,1700000000\n2,11,1700000001\n"))


def test_event_words_in_any_spelling(tmp_path):
    log = write(tmp_path, "log.csv", (
        "user,item,action\n1,1,Page View\n1,2,add_to_cart\n1,3,Add To Cart\n1,4,TRANSACTION\n1,5,Click\n"
        "1,6,purchase\n1,7,addtocart\n"
    ))
    events = read_quietly(log).interactions["event"].astype(str).tolist()
    assert events == ["view", "cart", "cart", "purchase", "click", "purchase", "cart"]


def test_unmapped_event_values_are_an_error_naming_column_values_and_fix(tmp_path):
    log = write(tmp_path, "log.csv", (
        "user_id,item_id,behavior_type\n1,2,pv\n1,3,like\n1,4,like\n1,5,share\n1,6,LIKE\n"
    ))
    with pytest.raises(DataError, match=(
        r"column 'behavior_type' has unknown event type\(s\) 'like' \(2 rows\), 'share' \(1 row\), "
        r"'LIKE' \(1 row\);.*events=\{'like': 'click'\}"
    )):
        read_interactions(log)
    data = read_quietly(log, events={"Like": "click", "share": None})  # keys match like the file's words
    assert data.interactions["event"].astype(str).tolist() == ["view", "click", "click", "click"]
    assert data.info["dropped_event_rows"] == 1
    with pytest.raises(DataError, match=r"events maps \{'like': 'favourite'\}"):
        read_interactions(log, events={"like": "favourite"})
    no_events = write(tmp_path, "plain.csv", "user,item\n1,2\n")
    with pytest.raises(DataError, match="no event column was found"):
        read_interactions(no_events, events={"like": "click"})


def test_an_unrecognised_column_of_event_words_is_reported(tmp_path):
    log = write(tmp_path, "log.csv", "user,item,status\n1,2,pv\n1,3,buy\n")
    expected = r"column 'status' holds event words.*every row counts as click.*event='status'"
    with pytest.warns(DataWarning, match=expected):
        data = read_interactions(log)
    assert (data.interactions["event"] == "click").all()
    read = read_quietly(log, event="status").interactions["event"].astype(str).tolist()
    assert read == ["view", "purchase"]
    read_quietly(log, event=False)  # the learner said: no event column


def test_items_with_several_categories_in_the_log_get_the_most_frequent_one(tmp_path):
    log = write(tmp_path, "log.csv", (
        "user_id,item_id,category_id,behavior_type,timestamp\n"
        "1,84475,7,pv,1\n1,84475,9,pv,2\n2,84475,7,buy,3\n"  # 84475: category 7 twice, 9 once
        "1,5,3,pv,4\n2,5,4,pv,5\n"                          # 5: a tie, the first seen wins
        "1,6,3,pv,6\n"
    ))
    with pytest.warns(DataWarning) as caught:
        data = read_interactions(log)
    message = str(caught[0].message)
    assert "2 item(s) appear with more than one category in column 'category_id'" in message
    assert "item 84475: '7' in 2 rows, '9' in 1 row" in message and "np." not in message
    assert "most frequent" in message
    assert data.items.set_index("item")["category_path"].to_dict() == {5: "3", 6: "3", 84475: "7"}


def test_an_item_file_wins_over_the_log_and_disagreements_are_reported(tmp_path):
    log = write(tmp_path, "log.csv", (
        "user,item,category,event\n"
        "u1,P1,Phones,view\n"        # a level of the file's path: agrees
        "u1,P2,Lamps,view\n"         # the file says Garden > Tools: disagrees
        "u2,P3,Toys,view\n"          # not in the file at all
    ))
    items = write(tmp_path, "items.csv", "item,category\nP1,Electronics/Phones\nP2,Garden/Tools\n")
    with pytest.warns(DataWarning) as caught:
        data = read_interactions(log, items)
    message = str(caught[0].message)
    assert "gives the category paths (it wins over the log's column 'category')" in message
    assert "for 1 item(s) the log's category is not part of the file's path, e.g. item 'P2': " \
           "file 'Garden > Tools', log 'Lamps' in 1 row" in message
    assert "1 item(s) have a category only in the log (e.g. items ['P3'])" in message
    ids = data.info["item_ids"]
    paths = {ids[i]: p for i, p in data.items[["item", "category_path"]].values}
    assert paths == {"P1": "Electronics > Phones", "P2": "Garden > Tools", "P3": ""}
    assert data.info["categories_from"] == "item file" and data.info["level_names"] == ["level 1", "level 2"]
    named = read_interactions(log, items, category=False, level_names=["department", "category"])
    assert named.info["level_names"] == ["department", "category"]
    with pytest.raises(DataError, match=r"level_names has 1 name\(s\) \['genre'\], but the category paths have 2"):
        read_interactions(log, items, category=False, level_names=["genre"])
    # an item file without categories leaves them to the log: one taxonomy, no mix
    titles = write(tmp_path, "titles.csv", "item,title\nP1,Phone X\n")
    data = read_quietly(log, titles)
    paths = {data.info["item_ids"][i]: p for i, p in data.items[["item", "category_path"]].values}
    assert paths == {"P1": "Phones", "P2": "Lamps", "P3": "Toys"}
    assert data.info["categories_from"] == "log" and data.info["level_names"] == ["category"]


def test_level_names_without_categories_and_from_an_id_column(tmp_path):
    assert read_quietly(write(tmp_path, "a.csv", "user,item\n1,2\n")).info["level_names"] == []
    items = write(tmp_path, "items.csv", "productId,title,categoryId\n2,Heat,17\n")
    data = read_quietly(write(tmp_path, "b.csv", "user,item\n1,2\n"), items)
    assert data.info["level_names"] == ["category"] and data.items["category_path"].tolist() == ["17"]


def test_error_messages_print_plain_values(tmp_path):
    log = write(tmp_path, "log.csv", "user,item\n1,84475\n")
    with pytest.raises(DataError, match=r"lists item\(s\) \[84475\] more than once") as err:
        read_interactions(log, write(tmp_path, "items.csv", "item,category\n84475,A\n84475,B\n"))
    assert "np." not in str(err.value)
    frame = pd.DataFrame({"user": [1, None, None], "item": [84475, 2, 3], "timestamp": [1, 2, 3]})
    with pytest.raises(DataError, match=r"first rows \[1, 2\]\)") as err:
        tidy_interactions(frame)
    assert "np." not in str(err.value)
    with pytest.raises(DataError, match=r"first data rows \[1\]") as err:
        read_interactions(write(tmp_path, "gap.csv", "user,item\n1,84475\n,84476\n"))
    assert "np." not in str(err.value)
    idmap = IdMap(np.array([1], dtype=np.int64), np.array([84475], dtype=np.int64))
    with pytest.raises(DataError, match=r"unknown item id\(s\) \[84476\]") as err:
        idmap.encode_items(np.array([84476]))
    assert "np." not in str(err.value)
    with pytest.raises(DataError, match=r"item code\(s\) \[5\] are out of range 1\.\.1") as err:
        idmap.decode_items([np.int64(5)])
    assert "np." not in str(err.value)
