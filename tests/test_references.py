"""The reading list (hiercourse.references) and the seed-paired comparison of two benchmark models
(hiercourse.results.compare_runs) that the appendix's FAQ rests on."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from hiercourse.errors import DataError
from hiercourse.models import MODELS
from hiercourse.references import REFERENCES, cite, load_references, references_markdown
from hiercourse.results import compare_runs, load_results

#: The chapters that exist: a reference may only point to one of them.
CHAPTERS = {p.name[:2] for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb")}


def test_every_reference_is_complete_and_unique():
    keys = [ref.key for ref in REFERENCES]
    assert len(keys) == len(set(keys))
    for ref in REFERENCES:
        assert ref.authors and ref.title and ref.venue and ref.contributes, ref.key
        assert 1950 <= ref.year <= 2026, ref.key
        assert str(ref.year) in ref.key  # keys read author + year + word, e.g. kang2018sasrec
        assert set(ref.chapters) <= CHAPTERS, ref.key


def test_each_learned_model_of_the_registry_names_its_paper():
    """Every flat model the benchmark trains is credited (the hierarchical ones are the course's own)."""
    credited = " ".join(ref.contributes for ref in REFERENCES)
    for name in ("itemknn", "bpr", "dnn", "caser", "gru4rec", "sasrec"):
        assert name in MODELS and f"`{name}`" in credited, name


def test_cite_and_the_markdown_table():
    assert cite("kang2018sasrec") == ("Kang, W.-C. and McAuley, J. (2018). Self-attentive sequential "
                                      "recommendation. ICDM 2018.")
    with pytest.raises(KeyError, match="known: .*kang2018sasrec"):
        cite("nobody2099")
    table = load_references()
    assert list(table.columns) == ["key", "authors", "year", "title", "venue", "contributes", "chapters"]
    lines = references_markdown().splitlines()
    assert len(lines) == 2 + len(table)
    assert all(line.count(" | ") == 2 for line in lines[2:])  # three cells, no stray pipes
    unused = table[table["chapters"] == ""]
    assert references_markdown(unused).splitlines()[2].endswith("| – |")


def _runs(rows):
    return pd.DataFrame(rows, columns=["model", "seed", "ndcg@10"])


def test_compare_runs_pairs_seeds_by_hand():
    runs = _runs([("a", 0, 0.30), ("a", 1, 0.32), ("a", 2, 0.34), ("b", 0, 0.20), ("b", 1, 0.26), ("b", 2, 0.26),
                  ("c", 0, 0.10), ("c", 1, 0.10), ("c", 2, 0.10)])
    out = compare_runs(runs, "a", "b")
    diffs = [0.10, 0.06, 0.08]  # seed by seed
    mean = sum(diffs) / 3
    se = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 2) / math.sqrt(3)
    assert out["seeds"] == 3 and out["difference"] == pytest.approx(mean) and out["se"] == pytest.approx(se)
    assert out["mean_a"] == pytest.approx(0.32) and out["mean_b"] == pytest.approx(0.24)
    assert not out["noise"]  # 0.08 is far beyond 2 x 0.0115
    noisy = _runs([("a", 0, 0.30), ("a", 1, 0.20), ("b", 0, 0.20), ("b", 1, 0.30)])
    assert compare_runs(noisy, "a", "b")["noise"]  # mean 0, SE 0.1
    same = compare_runs(runs, "c", "c")
    assert same["difference"] == 0 and same["noise"]
    with pytest.raises(DataError, match="no runs of z"):
        compare_runs(runs, "a", "z")
    with pytest.raises(DataError, match="no column"):
        compare_runs(runs, "a", "b", metric="hr@5")


def test_compare_runs_reads_the_shipped_benchmark():
    runs = load_results("benchmark_shop")
    out = compare_runs(runs, "oracle", "pop")
    summary = runs.groupby("model")["ndcg@10"].mean()
    assert out["difference"] == pytest.approx(summary["oracle"] - summary["pop"])
    assert re.fullmatch(r"\d+", str(out["seeds"]))
