"""Parsers for the MovieLens releases used in the course, into the tidy schema.

Taught in chapter 02.

Every release becomes an ``InteractionData`` whose interactions are ratings
(``event == "rating"``) and whose items are movies. A movie's genres are its
``categories`` (all of them, in the order the source lists them) and its
``category_path`` is its first genre: a one-level taxonomy, genre -> movie,
with the movie as the leaf. A movie without genres has ``()`` and ``""``.

Use ``hiercourse.datasets.load(name)`` to find and parse a release in one step;
these functions take a folder that already holds the files.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .schema import DataError, InteractionData, tidy_interactions, tidy_items

#: The one level of a movie's ``category_path`` (goes to ``info["level_names"]``).
LEVEL_NAMES = ["genre"]

#: latest-small's label for a movie without genres.
NO_GENRES = "(no genres listed)"

#: The 19 genre flags of ml-100k's u.item, in the order of its u.genre file.
GENRES_100K = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]

#: ml-1m's occupation codes (from its README).
OCCUPATIONS_1M = [
    "other or not specified", "academic/educator", "artist", "clerical/admin",
    "college/grad student", "customer service", "doctor/health care",
    "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
    "programmer", "retired", "sales/marketing", "scientist", "self-employed",
    "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
]


def _require(folder: str | os.PathLike, names: list[str], release: str) -> Path:
    folder = Path(folder)
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(
            f"{folder} does not hold MovieLens {release}: missing {missing}. Unzip the "
            f"release's archive there, or call hiercourse.datasets.load({release!r}), which finds "
            "or downloads it."
        )
    return folder


def _split_genres(genres: pd.Series) -> list[tuple[str, ...]]:
    return [
        () if (not isinstance(g, str) or g in ("", NO_GENRES)) else tuple(g.split("|"))
        for g in genres
    ]


def _ratings(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    frame = frame.assign(rating=frame["rating"].astype("float64"), event="rating")
    return tidy_interactions(frame, f"{name} ratings")


def _movies(ids, titles, genre_lists, name: str, **extra) -> pd.DataFrame:
    # category_path: the first genre, a one-level taxonomy; categories: all the genres
    paths = [g[0] if g else "" for g in genre_lists]
    frame = pd.DataFrame(
        {"item": ids, "title": titles, "category_path": paths, "categories": genre_lists, **extra}
    )
    return tidy_items(frame, f"{name} movies")


def read_latest_small(folder: str | os.PathLike) -> InteractionData:
    """MovieLens latest-small from ``folder`` (ratings.csv, movies.csv; CRLF, quoted titles).

    Taught in chapter 02.
    """
    folder = _require(folder, ["ratings.csv", "movies.csv"], "ml-latest-small")
    ratings = pd.read_csv(
        folder / "ratings.csv",
        dtype={"userId": "int64", "movieId": "int64", "rating": "float64", "timestamp": "int64"},
    ).rename(columns={"userId": "user", "movieId": "item"})
    movies = pd.read_csv(folder / "movies.csv", dtype={"movieId": "int64", "title": str, "genres": str})
    items = _movies(movies["movieId"], movies["title"], _split_genres(movies["genres"]), "ml-latest-small")
    return InteractionData(
        name="ml-latest-small",
        interactions=_ratings(ratings, "ml-latest-small"),
        items=items,
        users=None,  # latest-small has no user attributes
        info={"folder": str(folder), "level_names": list(LEVEL_NAMES)},
    )


def read_100k(folder: str | os.PathLike) -> InteractionData:
    """MovieLens 100K from ``folder`` (u.data tab-separated; u.item and u.user latin-1, ``|``).

    Genres come from u.item's 19 flags; the "unknown" flag counts as no genre.
    Taught in chapter 02.
    """
    folder = _require(folder, ["u.data", "u.item", "u.user"], "ml-100k")
    ratings = pd.read_csv(
        folder / "u.data", sep="\t", header=None, names=["user", "item", "rating", "timestamp"],
        dtype="int64",
    )
    item_cols = ["item", "title", "release_date", "video_release_date", "imdb_url", *GENRES_100K]
    raw = pd.read_csv(
        folder / "u.item", sep="|", header=None, names=item_cols, encoding="latin-1",
        quoting=csv.QUOTE_NONE, dtype={"item": "int64", "title": str, "release_date": str, "imdb_url": str},
    )
    if raw[GENRES_100K].isna().any().any():
        raise DataError(f"{folder / 'u.item'}: some rows lack some of the 19 genre flags; the file is damaged.")
    flags = raw[GENRES_100K[1:]].to_numpy(dtype=bool)
    names = np.array(GENRES_100K[1:], dtype=object)
    genre_lists = [tuple(names[row]) for row in flags]
    items = _movies(
        raw["item"], raw["title"], genre_lists, "ml-100k",
        release_date=raw["release_date"].fillna(""), imdb_url=raw["imdb_url"].fillna(""),
    )
    users = pd.read_csv(
        folder / "u.user", sep="|", header=None, names=["user", "age", "gender", "occupation", "zip"],
        encoding="latin-1", dtype={"user": "int64", "age": "int64", "gender": str, "occupation": str, "zip": str},
    )
    return InteractionData(
        name="ml-100k",
        interactions=_ratings(ratings, "ml-100k"),
        items=items,
        users=users,
        info={"folder": str(folder), "level_names": list(LEVEL_NAMES)},
    )


def _read_double_colon(path: Path, n_fields: int) -> list[list[str]]:
    """Split a latin-1 ``::``-separated file (titles hold single colons, so no ":" shortcut)."""
    rows = [line.split("::") for line in path.read_text(encoding="latin-1").splitlines() if line]
    bad = [i for i, r in enumerate(rows) if len(r) != n_fields]
    if bad:
        raise DataError(
            f"{path}: line(s) {[i + 1 for i in bad[:5]]} do not have {n_fields} '::'-separated fields; "
            "the file is damaged or not from MovieLens 1M."
        )
    return rows


def read_1m(folder: str | os.PathLike) -> InteractionData:
    """MovieLens 1M from ``folder`` (ratings.dat, movies.dat, users.dat: ``::``, latin-1).

    Taught in chapter 02.
    """
    folder = _require(folder, ["ratings.dat", "movies.dat", "users.dat"], "ml-1m")
    # ratings.dat has only digits: split on ":" with the fast C parser and keep every
    # other field (the empty ones sit between the two colons of "::").
    ratings = pd.read_csv(
        folder / "ratings.dat", sep=":", header=None, usecols=[0, 2, 4, 6], dtype="int64",
        encoding="latin-1",
    )
    ratings.columns = ["user", "item", "rating", "timestamp"]
    movies = _read_double_colon(folder / "movies.dat", 3)
    items = _movies(
        [int(r[0]) for r in movies], [r[1] for r in movies],
        _split_genres(pd.Series([r[2] for r in movies], dtype=object)), "ml-1m",
    )
    users_raw = _read_double_colon(folder / "users.dat", 5)
    users = pd.DataFrame(users_raw, columns=["user", "gender", "age", "occupation", "zip"])
    users = users.astype({"user": "int64", "age": "int64", "occupation": "int64"})
    codes = users["occupation"].to_numpy()
    if ((codes < 0) | (codes >= len(OCCUPATIONS_1M))).any():
        raise DataError(f"{folder / 'users.dat'}: occupation codes outside 0-20; the file is damaged.")
    users["occupation_name"] = np.array(OCCUPATIONS_1M, dtype=object)[codes]
    return InteractionData(
        name="ml-1m",
        interactions=_ratings(ratings, "ml-1m"),
        items=items,
        users=users,
        info={"folder": str(folder), "level_names": list(LEVEL_NAMES)},
    )
