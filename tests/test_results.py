"""The benchmark's tables ship with the package (``hiercourse/results/``) and read through ``hiercourse.results``."""
from __future__ import annotations

import importlib.metadata as md
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hiercourse.bench import CSV_COLUMNS, config_from_args, parser
from hiercourse.errors import DataError
from hiercourse.results import RESULTS_DIR, list_results, load_results, results_provenance

REPO = Path(__file__).resolve().parents[1]
# the tables chapter 09 loads
CHAPTER_09_TABLES = {"benchmark_ml-latest-small", "benchmark_shop", "budget300_ml-latest-small"}
# tables written by other scripts, with their own columns: name -> the command that makes them
OTHER_TABLES = {"retrieval_shop": "python scripts/bench_retrieval.py",
                "retrieval_shop_deep": "python scripts/bench_retrieval.py"}


def test_every_table_has_its_provenance_and_reads():
    names = list_results()
    assert CHAPTER_09_TABLES <= set(names)
    assert {p.stem for p in RESULTS_DIR.glob("*.md")} == set(names), "every CSV has its .md and every .md its CSV"
    for name in names:
        runs = load_results(name)
        if name in OTHER_TABLES:
            provenance = results_provenance(name)
            assert len(runs) and f"- command: `{OTHER_TABLES[name]}" in provenance, name
            assert "- date (UTC): " in provenance and "- machine: " in provenance, name
            continue
        assert list(runs.columns[: len(CSV_COLUMNS)]) == CSV_COLUMNS, name
        assert len(runs) and runs["seed"].notna().all(), name
        provenance = results_provenance(name)
        assert provenance.startswith("# Benchmark") and "- command: `python -m hiercourse.bench" in provenance, name
        for model in runs["model"].unique():  # the .md's table describes this CSV's runs
            assert f"| {model} | {(runs['model'] == model).sum()} |" in provenance, (name, model)


def test_a_name_may_carry_csv_and_a_path_reads_a_table_made_elsewhere(tmp_path):
    name = sorted(CHAPTER_09_TABLES)[0]
    pd.testing.assert_frame_equal(load_results(name + ".csv"), load_results(name))
    own = tmp_path / "mine.csv"
    load_results(name).head(2).to_csv(own, index=False)
    (tmp_path / "mine.md").write_text("# Benchmark: mine\n")
    assert len(load_results(own)) == 2 and results_provenance(str(own)) == "# Benchmark: mine\n"


def test_an_unknown_table_is_a_data_error_that_lists_the_tables():
    with pytest.raises(DataError, match="benchmark_shop"):
        load_results("benchmark_nope")
    with pytest.raises(DataError, match="no benchmark table"):
        results_provenance("benchmark_nope")


def test_the_benchmark_never_writes_into_the_installed_package_by_default():
    """A run lands in ./results/ of the working folder; load_results reads it from there by path."""
    config = config_from_args(parser().parse_args(["--dataset", "shop"]))
    assert Path(config.out) == Path("results/benchmark_shop.csv")
    assert RESULTS_DIR not in Path(config.out).resolve().parents


def _setuptools_builds_here() -> bool:
    """pyproject.toml's licence expression needs setuptools >= 77 (then the build needs no download)."""
    try:
        return int(md.version("setuptools").split(".")[0]) >= 77
    except md.PackageNotFoundError:
        return False


def test_the_wheel_holds_every_table(tmp_path):
    """``pip wheel --no-deps`` of the package (copied out of the checkout, so no build folder lands there)."""
    source = tmp_path / "src"
    shutil.copytree(REPO / "hiercourse", source / "hiercourse", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, source / name)
    isolation = ["--no-build-isolation"] if _setuptools_builds_here() else []  # else pip fetches setuptools
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "--disable-pip-version-check", *isolation,
         "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("hiercourse-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    wanted = {f"hiercourse/results/{name}{suffix}" for name in list_results() for suffix in (".csv", ".md")}
    assert wanted - inside == set(), "tables missing from the wheel"
    assert "hiercourse/results/__init__.py" in inside


def test_scale_tables_read_as_frames():
    """Chapter 13 reads the committed scale measurements (markdown only) with markdown_frame."""
    from hiercourse.results import markdown_frame, scale_table

    speed, text = scale_table("workers_speedup")
    assert "torchrun" in text and list(speed.columns[:3]) == ["global batch", "workers", "s/epoch"]
    assert set(speed["workers"]) == {1.0, 2.0} and speed["speed-up"].iloc[0] == 1.0
    log, _ = scale_table("big_log")
    assert log.loc[log["step"] == "out_of_core", "log rows"].max() == 50_000_000
    frame = markdown_frame("intro\n\n| a | b |\n|---|---:|\n| x | 1,234 |\n| y | – |\n\nafter")
    assert frame["a"].tolist() == ["x", "y"] and frame["b"].iloc[0] == 1234 and pd.isna(frame["b"].iloc[1])
    with pytest.raises(DataError, match="no markdown table"):
        markdown_frame("no table here")
    with pytest.raises(DataError, match="there are"):
        scale_table("nothing")


def test_slice_summary_is_mean_and_standard_error_over_seeds_by_hand():
    from hiercourse.results import slice_summary

    runs = pd.DataFrame({"model": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1], "ndcg@10": [0.5, 0.7, 0.4, 0.4],
                         "n_users": 10, "ndcg@10 [0 (new)]": [0.0, 0.2, 0.1, 0.3], "users [0 (new)]": 4})
    table = slice_summary(runs, ["b", "a"])
    assert list(table.index) == ["0 (new)", "all"] and list(table["n_users"]) == [4, 10]
    assert table.loc["0 (new)", "a"] == pytest.approx(0.1) and table.loc["all", "b"] == pytest.approx(0.4)
    assert table.loc["0 (new)", "a se"] == pytest.approx(np.std([0.0, 0.2], ddof=1) / np.sqrt(2))
    assert table.loc["all", "b se"] == pytest.approx(0.0)
    with pytest.raises(DataError, match="no runs of c"):
        slice_summary(runs, ["c"])
    with pytest.raises(DataError, match="--by count"):
        slice_summary(runs.drop(columns=["ndcg@10 [0 (new)]"]))


def test_compare_variants_reads_a_table_model_by_model_by_hand():
    from hiercourse.results import compare_variants

    runs = pd.DataFrame({"model": ["h", "h", "sasrec", "sasrec", "h-v", "h-v"], "seed": [0, 1, 0, 1, 0, 1],
                         "ndcg@10": [0.50, 0.60, 0.40, 0.42, 0.53, 0.58], "epochs": [10, 12, 20, 30, 9, 9]})
    table = compare_variants(runs, reference=lambda model: "h")
    assert list(table.index) == ["sasrec", "h", "h-v"]  # the baseline first, then the table's order
    assert table.loc["h", "mean"] == pytest.approx(0.55) and table.loc["sasrec", "mean"] == pytest.approx(0.41)
    assert table.loc["h", "se"] == pytest.approx(np.std([0.5, 0.6], ddof=1) / np.sqrt(2))
    assert table.loc["h", "ratio"] == pytest.approx(0.55 / 0.41) and table.loc["sasrec", "ratio"] == 1.0
    # h - sasrec per seed: 0.10, 0.18 -> 0.14 ± 0.04 (outside 2 se); h-v - h: 0.03, -0.02 -> 0.005 ± 0.025 (noise)
    assert table.loc["h", "minus baseline"] == "+0.1400 ± 0.0400"
    assert table.loc["h-v", "minus reference"] == "+0.0050 ± 0.0250 (noise)"
    assert table.loc["h", "minus reference"] == "" and table.loc["sasrec", "minus baseline"] == ""
    assert table.loc["sasrec", "epochs"] == 25
    assert "minus reference" in compare_variants(runs).columns
    assert (compare_variants(runs)["minus reference"] == "").all()
    with pytest.raises(DataError, match="no runs of gru4rec"):
        compare_variants(runs, baseline="gru4rec")
    with pytest.raises(DataError, match="no column 'hr@10'"):
        compare_variants(runs, metric="hr@10")


def test_learned_prior_weights_average_the_seeds_that_recorded_them():
    from hiercourse.results import learned_prior_weights

    runs = pd.DataFrame({"model": ["sasrec", "w (learned tree)", "w (learned tree)", "w (learned tree)"],
                         "seed": [0, 0, 1, 2], "prior_weight/genre": [np.nan, np.nan, 0.2, 0.4],
                         "prior_weight/unused": np.nan})
    weights, seeds = learned_prior_weights(runs, "w")
    assert weights == {"genre": pytest.approx(0.3)} and seeds == 2
    with pytest.raises(DataError, match="no learned prior weights of sasrec"):
        learned_prior_weights(runs, "sasrec")


def test_compare_slices_is_compare_runs_on_every_slice_column():
    from hiercourse.results import compare_runs, compare_slices

    runs = pd.DataFrame({"model": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1], "ndcg@10": [0.5, 0.7, 0.4, 0.4],
                         "n_users": 10, "ndcg@10 [0 (new)]": [0.0, 0.2, 0.1, 0.3], "users [0 (new)]": 4})
    table = compare_slices(runs, "a", "b")
    assert list(table.index) == ["0 (new)", "all"] and list(table["users"]) == [4, 10]
    by_hand = compare_runs(runs, "a", "b", metric="ndcg@10 [0 (new)]")
    assert table.loc["0 (new)", "difference"] == pytest.approx(by_hand["difference"]) == pytest.approx(-0.1)
    assert table.loc["all", "se"] == pytest.approx(compare_runs(runs, "a", "b")["se"])
