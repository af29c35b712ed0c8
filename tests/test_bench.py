"""The benchmark command: --help, a tiny run writing the CSV and the markdown table."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from hiercourse.bench import (
    CSV_COLUMNS,
    MODEL_NAMES,
    REFERENCES,
    BenchConfig,
    load_split,
    main,
    markdown_table,
    parser,
    summarise_runs,
)
from hiercourse.errors import DataError
from hiercourse.models import build_model


def test_help_documents_every_option():
    completed = subprocess.run(
        [sys.executable, "-m", "hiercourse.bench", "--help"], capture_output=True, text=True, check=True
    )
    for option in ("--dataset", "--interactions", "--items", "--root", "--models", "--seeds", "--epochs",
                   "--dim", "--max-len", "--batch-size", "--time-budget", "--out", "--fast"):
        assert option in completed.stdout
    for action in parser()._actions:  # every option has a help text
        assert action.help, action.option_strings


def test_tiny_run_writes_csv_and_markdown(tmp_path, capsys):
    out = tmp_path / "bench.csv"
    code = main(["--dataset", "shop", "--fast", "--models", "pop,dnn", "--seeds", "0,1",
                 "--out", str(out), "--no-progress", "--threads", "1"])
    assert code == 0
    runs = pd.read_csv(out)
    assert list(runs.columns[: len(CSV_COLUMNS)]) == CSV_COLUMNS
    assert runs[["model", "seed"]].values.tolist() == [["pop", 0], ["pop", 1], ["dnn", 0], ["dnn", 1]]
    metrics = runs[["ndcg@10", "hr@10", "mrr", "sampled_ndcg@10", "sampled_hr@10", "sampled_mrr"]]
    assert ((metrics >= 0) & (metrics <= 1)).all().all()
    assert (runs["sampled_hr@10"] >= runs["hr@10"]).all()  # 100 negatives are easier than every item
    assert (runs.loc[runs["model"] == "dnn", "epochs"] >= 1).all()
    assert (runs.loc[runs["model"] == "dnn", "parameters"] > 0).all()
    table = out.with_suffix(".md").read_text()
    assert "| pop | 2 |" in table and "| dnn | 2 |" in table and "python -m hiercourse.bench" in table
    assert "| pop | 2 |" in capsys.readouterr().out


def test_own_log_without_items_gets_a_learned_hierarchy(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"sku{rng.integers(0, 40)}", t) for u in range(30) for t in range(12)]
    log = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["user_id", "product_id", "timestamp"]).to_csv(log, index=False)
    split = load_split(BenchConfig(dataset=None, interactions=str(log)))
    paths = np.asarray(split.item_paths)
    assert paths.shape == (split.n_items + 1, 2) and (paths[1:] > 0).all()
    assert split.taxonomy.source.startswith("learned")


def test_every_registered_model_trains_scores_and_never_recommends_padding():
    """Every name of the registry builds for a split, goes through the one trainer and scores every item."""
    from hiercourse.evaluation import rank_users
    from hiercourse.models import MODELS
    from hiercourse.training import fit

    split = load_split(BenchConfig(dataset="shop", fast=True))
    assert set(MODEL_NAMES + REFERENCES) <= set(MODELS)
    for name in MODELS:
        torch.manual_seed(0)
        model = build_model(name, split, dim=8, max_len=10)
        result = fit(model, split, **{"epochs": 1, "max_len": 10, "progress": False, "negatives": None,
                                      **getattr(model, "training_defaults", {})})
        assert result.epochs == (0 if result.stopped == "closed form" else 1), name
        ranked = rank_users(model, split, max_len=10, sampled_negatives=None)
        assert ranked.top_items.shape == (split.n_users, 10), name
        assert (ranked.top_items > 0).all(), f"{name} recommended the padding item"


def test_unknown_names_are_explained(tmp_path):
    split = load_split(BenchConfig(dataset="shop", fast=True))
    with pytest.raises(DataError, match="choose (one of|from)"):
        build_model("transformer-xl", split)
    assert main(["--dataset", "shop", "--fast", "--models", "nope", "--out", str(tmp_path / "x.csv")]) == 2


def test_summary_is_mean_and_std_over_seeds():
    runs = pd.DataFrame({"model": ["a", "a", "b"], "seed": [0, 1, 0], "ndcg@10": [0.1, 0.3, 0.2],
                         "hr@10": [0.2, 0.4, 0.3], "parameters": [5, 5, 7]})
    summary = summarise_runs(runs)
    assert summary.loc["a", "ndcg@10"] == pytest.approx(0.2)
    assert summary.loc["a", "ndcg@10_std"] == pytest.approx(0.1)
    assert summary.loc["a", "seeds"] == 2
    assert "0.2000 ± 0.1000" in markdown_table(runs)


def test_the_shop_oracle_is_a_ceiling_and_needs_a_truth(tmp_path):
    from hiercourse.evaluation import evaluate
    from hiercourse.models.baselines import MostPopular, ShopOracle

    split = load_split(BenchConfig(dataset="shop", shop_size="small"))
    oracle = build_model("oracle", split)
    assert isinstance(oracle, ShopOracle)
    oracle.fit(split)
    assert 0.5 < oracle.p_same < 0.95  # sessions of 1 + Poisson(3) items mostly go on
    ndcg = evaluate(oracle, split, sampled_negatives=None)["ndcg@10"]
    assert ndcg > 3 * evaluate(MostPopular().fit(split), split, sampled_negatives=None)["ndcg@10"]
    assert 0.6 < ndcg < 0.75  # hiercourse/results/benchmark_shop.md: oracle 0.6818 on this seed-0 shop
    log = tmp_path / "log.csv"
    pd.DataFrame({"user": [1] * 4 + [2] * 4, "item": [1, 2, 3, 4] * 2, "timestamp": list(range(8))}).to_csv(log, index=False)
    with pytest.raises(DataError, match="ground truth"):
        build_model("oracle", load_split(BenchConfig(dataset=None, interactions=str(log))))


def test_a_shop_run_can_read_models_against_the_oracle(tmp_path):
    config = BenchConfig(dataset="shop", fast=True, progress=False, out=str(tmp_path / "s.csv"),
                         models=MODEL_NAMES[:1] + ("oracle",))
    from hiercourse.bench import run

    runs = run(config)
    assert runs["model"].tolist() == ["pop", "oracle"]
    assert runs.set_index("model").loc["oracle", "ndcg@10"] > runs.set_index("model").loc["pop", "ndcg@10"]


def test_per_model_learning_rates_are_parsed_and_checked():
    from hiercourse.bench import config_from_args

    args = parser().parse_args(["--dataset", "shop", "--lr-for", "gru4rec=5e-3,caser=1e-3"])
    assert config_from_args(args).lr_for == {"gru4rec": 5e-3, "caser": 1e-3}
    assert config_from_args(parser().parse_args(["--lr-for", ""])).lr_for == {}
    assert config_from_args(parser().parse_args([])).lr_for == {}  # GRU4Rec's own lr is its training_defaults
    for bad in ("gru4rec", "gru4rec=fast", "lstm=1e-3"):
        with pytest.raises(DataError, match="--lr-for"):
            config_from_args(parser().parse_args(["--lr-for", bad]))
