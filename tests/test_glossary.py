"""The glossary (`hiercourse/data/glossary.csv`, read by `hiercourse.glossary`): bilingual, true to the chapters.

Every term names a chapter that exists and whose text (markdown and code cells) mentions the
term or one of its listed aliases; the Markdown table for the website has one row per term;
the command line finds terms in either language.
"""
from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from hiercourse.glossary import COLUMNS, glossary_markdown, load_glossary, main, search

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = {p.name[:2]: p for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")}
CJK = re.compile(r"[\u4e00-\u9fff]")
TABLE = load_glossary()


@cache
def chapter_text(chapter: str) -> str:
    """The markdown and code cells of chapter ``chapter``, case-folded."""
    cells = json.loads(NOTEBOOKS[chapter].read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] in {"markdown", "code"}).casefold()


def names(row) -> list[str]:
    """The term and its aliases: the words a chapter may use for it."""
    return [row["term"], *(a.strip() for a in row["aliases"].split("|") if a.strip())]


def unmentioned(table: pd.DataFrame) -> list[str]:
    """Rows whose chapter mentions neither the term nor any alias."""
    return [f"{row['term']!r} (chapter {row['chapter']}, searched {names(row)})"
            for _, row in table.iterrows()
            if not any(name.casefold() in chapter_text(row["chapter"]) for name in names(row))]


def markdown_rows(markdown: str) -> list[list[str]]:
    """The body rows of a Markdown table (header and separator dropped), cells stripped."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert lines[1].replace("|", "").strip("-") == "", "the second line should be the separator"
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines[2:]]


def test_size_and_columns():
    assert len(TABLE) >= 70
    assert list(TABLE.columns[:4]) == list(COLUMNS) and set(TABLE.columns) <= {*COLUMNS, "aliases"}


def test_terms_are_unique():
    folded = TABLE["term"].str.strip().str.casefold()
    assert not folded.duplicated().any(), TABLE["term"][folded.duplicated(keep=False)].tolist()


def test_no_empty_cell_and_one_line_each():
    for column in COLUMNS:
        empty = TABLE["term"][TABLE[column].str.strip() == ""].tolist()
        assert not empty, f"empty {column}: {empty}"
    multiline = TABLE["term"][TABLE.apply(lambda r: any("\n" in str(v) for v in r), axis=1)].tolist()
    assert not multiline, f"cells with line breaks: {multiline}"
    assert not TABLE[list(COLUMNS)].apply(lambda c: c.str.contains("|", regex=False)).any().any(), "'|' in a cell"


def test_every_chinese_cell_has_cjk_characters():
    missing = TABLE["term"][~TABLE["chinese"].str.contains(CJK)].tolist()
    assert not missing, f"no Chinese characters: {missing}"


def test_every_chapter_exists():
    assert NOTEBOOKS, "no notebooks/NN_*.ipynb found"
    bad = TABLE[~TABLE["chapter"].str.fullmatch(r"\d\d") | ~TABLE["chapter"].isin(NOTEBOOKS)]
    assert bad.empty, f"chapters that are not notebooks/NN_*.ipynb: {bad[['term', 'chapter']].values.tolist()}"


def test_every_term_is_mentioned_in_its_chapter():
    problems = unmentioned(TABLE)
    assert not problems, "move the term to a chapter that mentions it, list an alias, or drop it:\n" + \
        "\n".join(problems)


def test_the_mention_check_catches_a_wrong_chapter():
    """The check can fail: a term moved to a chapter that never mentions it is reported."""
    row = TABLE[TABLE["term"] == "causal mask"].copy()
    assert len(row) == 1 and not unmentioned(row)
    row["chapter"] = "02"  # data preprocessing says nothing about attention masks
    assert unmentioned(row) == [f"'causal mask' (chapter 02, searched {names(row.iloc[0])})"]


def test_the_markdown_has_one_row_per_term_sorted_by_english_term():
    rows = markdown_rows(glossary_markdown())
    assert glossary_markdown().splitlines()[0] == "| English | 中文 | definition | chapter |"
    assert all(len(r) == 4 for r in rows)
    terms = [r[0] for r in rows]
    assert len(terms) == len(TABLE) and sorted(terms) == sorted(TABLE["term"])
    assert terms == sorted(terms, key=str.casefold)
    by_term = TABLE.set_index("term")
    for term, chinese, definition, chapter in rows:
        assert (chinese, definition, chapter) == tuple(by_term.loc[term, ["chinese", "definition", "chapter"]])


def test_search_is_case_insensitive_in_both_languages():
    english = search("ATTENTION")
    assert {"attention mechanism", "self-attention", "multi-head attention", "scaled dot-product attention",
            "cross-attention", "attention pooling"} <= set(english["term"])
    assert english["term"].equals(search("attention")["term"])
    pooling = set(search("池化")["term"])
    assert {"pooling", "max pooling", "average pooling", "attention pooling"} <= pooling
    assert "convolution" not in pooling
    assert search("no such term, surely").empty


def test_main_prints_the_matching_rows(capsys):
    assert main(["attention"]) == 0
    out = capsys.readouterr().out
    rows = markdown_rows(out)
    assert [r[0] for r in rows] == sorted(search("attention")["term"], key=str.casefold)
    assert "| multi-head attention | 多头注意力 |" in out and "| convolution |" not in out


def test_main_without_a_word_prints_the_whole_table_and_a_miss_says_so(capsys):
    assert main([]) == 0
    assert capsys.readouterr().out == glossary_markdown()
    assert main(["zzz-not-a-term"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "zzz-not-a-term" in captured.err


def test_the_csv_is_declared_package_data():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+; the course's .venv has it")
    package_data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    declared = [REPO / "hiercourse" / "data" / pattern for pattern in package_data["hiercourse.data"]]
    assert REPO / "hiercourse" / "data" / "glossary.csv" in [p for d in declared for p in d.parent.glob(d.name)]
