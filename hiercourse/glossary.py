"""The course's glossary: every key term in English and Chinese (简体), with a one-line definition.

The table is package data, ``hiercourse/data/glossary.csv`` (UTF-8), one row per term:

- ``term``: the English term, as the chapters write it;
- ``chinese``: the standard Chinese technical term (the source article's word where it has one);
- ``definition``: one line, in English;
- ``chapter``: the two-digit chapter that teaches it (``"04"``);
- ``aliases``: optional, ``|``-separated other spellings the chapter may use (``"k-core"``);
  ``tests/test_glossary.py`` checks that the chapter's text mentions the term or an alias.

``python -m hiercourse.glossary`` prints the whole table as Markdown (the course website's
glossary page); ``python -m hiercourse.glossary attention`` (or ``注意力``) prints the rows whose
English term, Chinese term or aliases contain the word, case-insensitively. Taught in chapter 00.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import resources

import pandas as pd

#: The columns every row fills; ``aliases`` may be empty.
COLUMNS = ("term", "chinese", "definition", "chapter")


def load_glossary() -> pd.DataFrame:
    """The glossary as a DataFrame, read from the package data ``hiercourse/data/glossary.csv``.

    Out: one row per term, columns ``term``, ``chinese``, ``definition``, ``chapter`` (a
    two-digit string such as ``"04"``) and ``aliases`` (``|``-separated, ``""`` when none);
    every cell is a string, in file order. Taught in chapter 00.
    """
    source = resources.files("hiercourse").joinpath("data", "glossary.csv")
    with source.open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, dtype=str, keep_default_na=False)
    if "aliases" not in table.columns:
        table["aliases"] = ""
    return table


def search(word: str, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rows whose English term, Chinese term or aliases contain ``word`` (case-insensitive).

    In: ``word`` (English or Chinese, e.g. ``"attention"`` or ``"注意力"``), and optionally a
    table shaped like ``load_glossary()``'s (default: the glossary). Out: the matching rows,
    possibly none. Taught in chapter 00.
    """
    table = load_glossary() if table is None else table
    needle = word.casefold()
    text = table["term"] + "\n" + table["chinese"] + "\n" + table["aliases"]
    return table[text.str.casefold().str.contains(needle, regex=False)]


def _cell(text: str) -> str:
    """A table cell: pipes escaped, line breaks folded to spaces."""
    return " ".join(str(text).split()).replace("|", "\\|")


def glossary_markdown(table: pd.DataFrame | None = None) -> str:
    """A Markdown table of the glossary, one row per term, sorted by English term (case-insensitive).

    In: optionally a table shaped like ``load_glossary()``'s (default: the whole glossary).
    Out: the header ``| English | 中文 | definition | chapter |``, its separator and one line
    per row, ending in a newline: the course website's glossary page. Taught in chapter 00.
    """
    table = load_glossary() if table is None else table
    rows = table.sort_values("term", key=lambda terms: terms.str.casefold(), kind="stable")
    lines = ["| English | 中文 | definition | chapter |", "|---|---|---|---|"]
    lines += [f"| {_cell(r.term)} | {_cell(r.chinese)} | {_cell(r.definition)} | {_cell(r.chapter)} |"
              for r in rows.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hiercourse.glossary [WORD]``: print the glossary, or the rows matching ``WORD``.

    In: the command-line arguments (default ``sys.argv[1:]``): nothing, or one word (English
    or Chinese; several words are searched as one phrase). Out: prints a Markdown table to
    stdout and returns 0; returns 1, with a note on stderr, when no term matches.
    Taught in chapter 00.
    """
    parser = argparse.ArgumentParser(prog="python -m hiercourse.glossary",
                                     description="The course glossary, English and Chinese, as a Markdown table.")
    parser.add_argument("word", nargs="*", help="print only the terms containing this (English or Chinese)")
    args = parser.parse_args(argv)
    table = load_glossary()
    if args.word:
        word = " ".join(args.word)
        table = search(word, table)
        if table.empty:
            print(f"no glossary term contains {word!r}; run without a word for the whole glossary",
                  file=sys.stderr)
            return 1
    print(glossary_markdown(table), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
