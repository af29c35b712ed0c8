"""MovieLens parsers: the real latest-small, and 100K / 1M on small files written in their real formats."""
from __future__ import annotations

import numpy as np
import pytest

from hiercourse.datasets import DataError, InteractionData, load
from hiercourse.datasets.movielens import read_1m, read_100k, read_latest_small
from hiercourse.datasets.schema import EVENTS, INTERACTION_COLUMNS, ITEM_COLUMNS


def check_schema(data: InteractionData) -> None:
    inter = data.interactions
    assert list(inter.columns) == INTERACTION_COLUMNS
    assert [str(t) for t in inter.dtypes[:4]] == ["int64", "int64", "int64", "float64"]
    assert list(inter["event"].cat.categories) == EVENTS
    assert (inter["event"] == "rating").all()
    keys = inter[["user", "timestamp"]].to_numpy()
    assert (np.diff(keys[:, 0]) >= 0).all()
    same_user = np.diff(keys[:, 0]) == 0
    assert (np.diff(keys[:, 1])[same_user] >= 0).all()
    assert list(data.items.columns[:4]) == ITEM_COLUMNS
    assert all(isinstance(c, tuple) for c in data.items["categories"])


def test_latest_small_real(real_data_root):
    data = load("ml-latest-small", real_data_root, download=False)
    check_schema(data)
    inter, items = data.interactions, data.items
    assert len(inter) == 100_836
    assert inter["user"].nunique() == 610
    assert inter["item"].nunique() == 9_724
    assert len(items) == 9_742
    assert data.users is None
    assert data.info["level_names"] == ["genre"]  # category_path is the first genre
    assert set(inter["rating"].unique()) <= set(np.arange(0.5, 5.01, 0.5))
    by_id = items.set_index("item")
    # quoted titles with commas, and CRLF line ends not leaking into the last column
    assert by_id.loc[11, "title"] == "American President, The (1995)"
    assert by_id.loc[1, "categories"] == ("Adventure", "Animation", "Children", "Comedy", "Fantasy")
    assert by_id.loc[1, "category_path"] == "Adventure"
    assert not items["title"].str.contains("\r").any()
    assert not any(c.endswith("\r") for cats in items["categories"] for c in cats)
    no_genre = items[items["categories"].map(len) == 0]
    assert len(no_genre) == 34 and (no_genre["category_path"] == "").all()
    assert "(no genres listed)" not in set(items["category_path"])
    # file order kept for equal (user, timestamp): stable sort
    first = inter[inter["user"] == 1].head(2)
    assert list(first["item"]) == [804, 1210]


ITEM_100K = [
    # id | title | release | video release | url | 19 flags (unknown first)
    (1, "Toy Story (1995)", "01-Jan-1995", [3, 4, 5]),
    (2, "Misérables, Les (1995)", "01-Jan-1995", [8, 17]),  # latin-1 é, comma in title
    (3, "unknown", "", [0]),  # only the "unknown" flag: no genre
    (4, "Every genre (2000)", "01-Jan-2000", list(range(1, 19))),  # every flag but "unknown"
]
# ml-100k's u.genre as published: line k is "name|k", the genre of flag column k
U_GENRE = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
           "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")


def write_100k(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_bytes(
        b"2\t1\t4\t881250950\n1\t2\t3\t881250949\n1\t1\t5\t874965758\n2\t3\t1\t881250950\n"
    )
    lines = []
    for item, title, date, on in ITEM_100K:
        flags = ["1" if k in on else "0" for k in range(19)]
        lines.append("|".join([str(item), title, date, "", f"http://us.imdb.com/M/{item}", *flags]))
    (folder / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    (folder / "u.user").write_bytes(b"1|24|M|technician|85711\n2|53|F|other|94043\n")
    return folder


def test_100k_fixture(tmp_path):
    data = read_100k(write_100k(tmp_path / "ml-100k"))
    check_schema(data)
    inter = data.interactions
    assert inter[["user", "item", "timestamp"]].values.tolist() == [
        [1, 1, 874965758], [1, 2, 881250949], [2, 1, 881250950], [2, 3, 881250950]
    ]
    assert inter["rating"].tolist() == [5.0, 3.0, 4.0, 1.0]
    items = data.items.set_index("item")
    assert items.loc[1, "categories"] == ("Animation", "Children's", "Comedy")
    assert items.loc[1, "category_path"] == "Animation"
    assert items.loc[2, "title"] == "Misérables, Les (1995)"
    assert items.loc[2, "categories"] == ("Drama", "War")
    assert items.loc[3, "categories"] == () and items.loc[3, "category_path"] == ""
    # flag k means genre k of u.genre, in that order
    assert items.loc[4, "categories"] == U_GENRE[1:]
    assert items.loc[4, "category_path"] == "Action"
    assert data.info["level_names"] == ["genre"]  # the reader names the level
    assert data.users.to_dict("list") == {
        "user": [1, 2], "age": [24, 53], "gender": ["M", "F"], "occupation": ["technician", "other"],
        "zip": ["85711", "94043"],
    }


def test_100k_fixture_fails_the_structure_check_when_loaded_by_name(tmp_path):
    write_100k(tmp_path / "ml-100k")
    with pytest.raises(DataError, match="lines"):
        load("ml-100k", tmp_path, download=False)


def write_1m(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.dat").write_bytes(
        b"1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n1::914::3::978300760\n"
    )
    movies = (
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "914::My Fair Lady (1964)::Musical|Romance\n"
        "3::Star Wars: Episode IV - A New Hope (1977)::Action|Sci-Fi\n"
        "4::Baule les Mômes (1995)::Comedy\n"
    )
    (folder / "movies.dat").write_bytes(movies.encode("latin-1"))
    (folder / "users.dat").write_bytes(b"1::F::1::10::48067\n2::M::56::16::70072\n")
    return folder


def test_1m_fixture(tmp_path):
    data = read_1m(write_1m(tmp_path / "ml-1m"))
    check_schema(data)
    inter = data.interactions
    # ties in (user, timestamp) keep file order: 1193 before 914
    assert inter[["user", "item"]].values.tolist() == [[1, 1193], [1, 914], [1, 661], [2, 1193]]
    assert inter["rating"].tolist() == [5.0, 3.0, 3.0, 4.0]
    items = data.items.set_index("item")
    assert items.loc[661, "categories"] == ("Animation", "Children's", "Musical")
    assert items.loc[661, "category_path"] == "Animation"
    assert items.loc[3, "title"] == "Star Wars: Episode IV - A New Hope (1977)"  # single colons kept
    assert items.loc[4, "title"] == "Baule les Mômes (1995)"
    assert data.info["level_names"] == ["genre"]
    users = data.users.set_index("user")
    assert users.loc[1, "gender"] == "F" and users.loc[2, "age"] == 56
    assert users.loc[1, "occupation_name"] == "K-12 student"
    assert users.loc[2, "occupation_name"] == "self-employed"


def test_damaged_1m_and_missing_files(tmp_path):
    folder = write_1m(tmp_path / "ml-1m")
    (folder / "movies.dat").write_bytes(b"1::Title only\n")
    with pytest.raises(DataError, match="3 '::'-separated fields"):
        read_1m(folder)
    with pytest.raises(DataError, match=r"missing \['u.data', 'u.item', 'u.user'\]"):
        read_100k(tmp_path / "nothing")
    with pytest.raises(DataError, match="ratings.csv"):
        read_latest_small(tmp_path)


def test_load_unknown_names():
    with pytest.raises(DataError, match="load_mnist"):
        load("mnist")
    with pytest.raises(DataError, match="Loadable datasets"):
        load("ml-20m")
