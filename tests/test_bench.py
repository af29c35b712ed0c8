"""The benchmark command: its options, a tiny run writing the CSV and the markdown table, the oracle."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

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
    run_one,
    summarise_runs,
)
from hiercourse.errors import DataError
from hiercourse.models import build_model, model_kwargs


def test_help_runs_as_a_command():
    completed = subprocess.run(
        [sys.executable, "-m", "hiercourse.bench", "--help"], capture_output=True, text=True, check=True
    )
    assert completed.returncode == 0 and completed.stdout.startswith("usage: python -m hiercourse.bench")


def test_options_parse_into_the_config_they_name():
    from hiercourse.bench import config_from_args

    def config(*argv):
        return config_from_args(parser().parse_args(list(argv)))

    got = config("--dataset", "shop", "--shop-size", "tiny", "--min-events", "4", "--models", "pop, dnn",
                 "--seeds", "0,1", "--epochs", "5", "--patience", "2", "--dim", "8", "--max-len", "20",
                 "--batch-size", "64", "--lr", "0.01", "--windows", "last", "--window-stride", "0",
                 "--no-lr-decay", "--negatives", "0", "--time-budget", "0", "--device", "cpu", "--no-progress",
                 "--out", "x.csv")
    assert got == BenchConfig(dataset="shop", shop_size="tiny", min_events=4, models=("pop", "dnn"), seeds=(0, 1),
                              epochs=5, patience=2, dim=8, max_len=20, batch_size=64, lr=0.01, all_windows=False,
                              window_stride=None, lr_decay=False, negatives=None, time_budget=None, device="cpu",
                              progress=False, out="x.csv")
    # no options: the recipe's defaults survive the trip through the command line (each field's text form
    # parses back to its value); only the output path is derived from the dataset's name
    default = config()
    assert default == dataclasses.replace(BenchConfig(), out="results/benchmark_ml-latest-small.csv")
    # a window stride longer than the windows is clipped to them; --fast caps dim at 16 and epochs at 3
    assert config("--max-len", "20", "--window-stride", "30").window_stride == 20
    fast = config("--dataset", "shop", "--fast", "--dim", "64", "--epochs", "200")
    assert (fast.fast, fast.dim, fast.epochs, fast.out) == (True, 16, 3, "results/benchmark_shop_fast.csv")
    own = config("--interactions", "logs/my_log.csv")
    assert own.dataset is None and own.out == "results/benchmark_my_log.csv"
    with pytest.raises(DataError, match="--items goes with --interactions"):
        config("--items", "items.csv")


def test_tiny_run_writes_csv_and_markdown(tmp_path, capsys):
    out = tmp_path / "bench.csv"
    code = main(["--dataset", "shop", "--fast", "--models", "pop,dnn", "--seeds", "0,1",
                 "--out", str(out), "--no-progress", "--threads", "1"])
    assert code == 0
    runs = pd.read_csv(out)
    assert list(runs.columns[: len(CSV_COLUMNS)]) == CSV_COLUMNS
    assert runs[["model", "seed"]].values.tolist() == [["pop", 0], ["pop", 1], ["dnn", 0], ["dnn", 1]]
    metric_names = ["ndcg@10", "hr@10", "mrr", "sampled_ndcg@10", "sampled_hr@10", "sampled_mrr"]
    metrics = runs[metric_names]
    assert ((metrics >= 0) & (metrics <= 1)).all().all()
    assert (runs["sampled_hr@10"] >= runs["hr@10"]).all()  # 100 negatives are easier than every item
    # most popular has no seed and the sampled negatives are drawn with seed 0: both pop rows are identical
    pop = runs[runs["model"] == "pop"]
    assert pop[metric_names + ["parameters", "epochs"]].nunique().eq(1).all()
    # the reported sizes are the models' own: one count per item for pop, every weight of the fast DNN
    config = BenchConfig(dataset="shop", fast=True)
    split = load_split(config)
    dnn_weights = sum(p.numel() for p in build_model("dnn", split, dim=config.dim, max_len=config.max_len).parameters())
    assert pop["parameters"].tolist() == [split.n_items] * 2
    dnn = runs[runs["model"] == "dnn"]
    assert dnn["parameters"].tolist() == [dnn_weights] * 2
    # patience 10 > 3 epochs: a DNN run ends after the fast recipe's epochs unless the time budget ran out first
    assert all(epochs == config.epochs or stopped == "time budget"
               for epochs, stopped in zip(dnn["epochs"], dnn["stopped"]))
    assert (pop["epochs"] == 0).all() and (pop["stopped"] == "closed form").all()
    table = out.with_suffix(".md").read_text()
    assert "python -m hiercourse.bench" in table
    assert table.strip() in capsys.readouterr().out
    # each model's row holds the mean ± std over the two seeds
    summary = summarise_runs(runs)

    def cells(line):
        return [cell.strip() for cell in line.strip().strip("|").split("|")]

    header = next(cells(line) for line in table.splitlines() if line.startswith("| model |"))
    rows = {cells(line)[0]: cells(line) for line in table.splitlines() if line.startswith(("| pop |", "| dnn |"))}
    assert set(rows) == {"pop", "dnn"}
    for model, row in rows.items():
        assert row[1] == "2"  # seeds
        for column, name in (("ndcg@10", "NDCG@10"), ("hr@10", "HR@10")):
            mean, _, std = row[header.index(name)].partition(" ± ")  # a std of 0 is not printed
            assert float(mean) == pytest.approx(summary.loc[model, column], abs=5e-5)
            assert float(std or 0) == pytest.approx(summary.loc[model, f"{column}_std"], abs=5e-5)


def test_own_log_without_items_gets_a_learned_hierarchy(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"sku{rng.integers(0, 40)}", t) for u in range(30) for t in range(12)]
    log = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["user_id", "product_id", "timestamp"]).to_csv(log, index=False)
    split = load_split(BenchConfig(dataset=None, interactions=str(log)))
    paths = np.asarray(split.item_paths)
    assert paths.shape == (split.n_items + 1, 2) and (paths[1:] > 0).all()
    assert split.taxonomy.source.startswith("learned")
    assert paths[0].tolist() == [0, 0]  # the padding item sits in no node
    for level in range(2):  # node ids are 1..n at each level, none skipped
        assert set(np.unique(paths[1:, level])) == set(range(1, paths[:, level].max() + 1))
        assert len(split.node_names[level]) == paths[:, level].max() + 1
    # a tree: every fine node lies in exactly one coarse node
    assert (pd.DataFrame(paths[1:], columns=["coarse", "fine"]).groupby("fine")["coarse"].nunique() == 1).all()
    # a model that learns how far to trust the tree reports its weights, one column per level
    config = BenchConfig(dataset=None, interactions=str(log), epochs=1, time_budget=None, progress=False)
    row = run_one("hier-sasrec-learnedpriorweight", split, config, seed=0)
    weights = [row[f"prior_weight/{name}"] for name in split.level_names]
    assert len(weights) == 2 and all(np.isfinite(weights)) and weights != [1.0, 1.0]


def test_every_registered_model_trains_scores_and_never_recommends_padding(real_data_root):
    """Every name of the registry builds for a split, goes through the one trainer and scores every item (a model
    of a multi-label level on MovieLens, whose genres are one; the others on the shop)."""
    from hiercourse.evaluation import rank_users
    from hiercourse.models import MODELS
    from hiercourse.training import fit

    shop = load_split(BenchConfig(dataset="shop", fast=True))
    movies = load_split(BenchConfig(dataset="ml-latest-small", fast=True, root=str(real_data_root)))
    assert set(MODEL_NAMES + REFERENCES) <= set(MODELS)
    for name in MODELS:
        torch.manual_seed(0)
        split = movies if model_kwargs(name).get("multi_label") else shop
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
    # a session stays in one category, so every consecutive training pair is in one category except, at
    # most, the n_sessions - 1 pairs per user that cross from one session to the next: a lower bound
    users, _ = split.train_interactions()
    pairs = int((users[1:] == users[:-1]).sum())
    sessions = pd.Series(split.truth["n_sessions"], index=np.asarray(split.truth["user_ids"]).astype(np.int64))
    crossings = int((sessions.loc[split.idmap.decode_users(np.arange(split.n_users))] - 1).sum())
    assert 1 - crossings / pairs <= oracle.p_same < 1
    metrics = evaluate(oracle, split, sampled_negatives=None)
    assert metrics["ndcg@10"] > 3 * evaluate(MostPopular().fit(split), split, sampled_negatives=None)["ndcg@10"]
    # the oracle learns nothing random: hiercourse/results/benchmark_shop.md (oracle row, the seed-0 small shop) gives
    # NDCG@10 0.6818, HR@10 0.8354, MRR 0.6433
    assert (round(metrics["ndcg@10"], 4), round(metrics["hr@10"], 4), round(metrics["mrr"], 4)) == \
        (0.6818, 0.8354, 0.6433)
    log = tmp_path / "log.csv"
    pd.DataFrame({"user": [1] * 4 + [2] * 4, "item": [1, 2, 3, 4] * 2,
                  "timestamp": list(range(8))}).to_csv(log, index=False)
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


def test_by_count_reports_each_slice_and_the_slices_add_up(tmp_path):
    """--by count: per-slice NDCG@10 and users in the CSV; the users of the slices are every test user, and the
    user-weighted mean of the slices is the overall NDCG@10; most popular never hits a test item it has not seen
    (slice "0 (new)": NDCG 0); the markdown carries the slice table."""
    out = tmp_path / "bench.csv"
    assert main(["--dataset", "shop", "--fast", "--models", "pop,dnn", "--by", "count", "--out", str(out),
                 "--no-progress", "--threads", "1"]) == 0
    runs = pd.read_csv(out)
    slices = [c[len("ndcg@10 ["):-1] for c in runs.columns if c.startswith("ndcg@10 [")]
    assert slices and set(slices) <= {"0 (new)", "1-5 (rare)", "6-50", ">50"}
    split = load_split(BenchConfig(dataset="shop", fast=True))
    for _, row in runs.iterrows():
        users = np.array([row[f"users [{s}]"] for s in slices])
        assert users.sum() == split.n_users
        weighted = sum(row[f"ndcg@10 [{s}]"] * n for s, n in zip(slices, users)) / users.sum()
        assert weighted == pytest.approx(row["ndcg@10"], abs=1e-6)
    if "0 (new)" in slices:
        assert runs.loc[runs["model"] == "pop", "ndcg@10 [0 (new)]"].eq(0).all()
    table = out.with_suffix(".md").read_text()
    assert "## Test NDCG@10 by count" in table and "| pop | 1 |" in table.split("## Test NDCG@10 by count")[1]


def test_the_new_item_protocol_scores_the_users_of_the_items_made_new(tmp_path):
    """--new-items: a seeded share of the test items loses its training interactions; the 'new items' columns
    hold the users whose test item is one of them; most popular never ranks a zero-count item in its top 10."""
    from hiercourse.coldstart import hold_out_items, new_item_users

    out = tmp_path / "bench.csv"
    assert main(["--dataset", "shop", "--fast", "--models", "pop,dnn", "--new-items", "0.3", "--out", str(out),
                 "--no-progress", "--threads", "1"]) == 0
    runs = pd.read_csv(out)
    split, items = hold_out_items(load_split(BenchConfig(dataset="shop", fast=True)), 0.3, seed=0)
    assert (split.item_counts()[items] == 0).all()
    assert runs["users [new items]"].eq(len(new_item_users(split, items))).all() and len(items) > 0
    assert runs.loc[runs["model"] == "pop", "ndcg@10 [new items]"].eq(0).all()
    table = out.with_suffix(".md").read_text()
    assert "new-item protocol" in table and "NDCG@10 [new items] (" in table


def test_a_hierarchical_model_on_the_shop_reports_its_interest_tree_against_the_truth(tmp_path):
    """On data with a ground truth of every level, each hierarchical run carries interest_recovery's measures per
    level (the same numbers as calling it), the markdown a table of them; other models and learned trees none."""
    from hiercourse.bench import INTEREST_MEASURES, interest_markdown
    from hiercourse.interests import interest_recovery
    from hiercourse.models.taxonomy import learned_taxonomy

    split = load_split(BenchConfig(dataset="shop", fast=True))
    config = BenchConfig(dataset="shop", fast=True, epochs=1, time_budget=None, progress=False)
    row = run_one("hier-sasrec", split, config, seed=0)
    torch.manual_seed(0)
    expected = interest_recovery(build_model("hier-sasrec", split, dim=config.dim, max_len=config.max_len), split,
                                 max_len=config.max_len)
    assert {f"{m}/{name}" for m in INTEREST_MEASURES for name in split.level_names} <= set(row)
    # the truth's side does not depend on the model: the counts and the ceiling are the table's
    for _, level in expected.iterrows():
        for measure in ("spearman_naive", "spearman_tiefree_ceiling", "next_node_acc_naive"):
            assert row[f"{measure}/{level['level_name']}"] == pytest.approx(level[measure])
    assert not any("/" in key and key.split("/")[0] in INTEREST_MEASURES
                   for key in run_one("sasrec", split, config, seed=0))
    learned = run_one("hier-sasrec", learned_taxonomy(split, levels=(2, 4)), config, seed=0)  # nodes the truth lacks
    assert not any(key.startswith("spearman_beta/") for key in learned)
    table = interest_markdown(pd.DataFrame([row, {**row, "seed": 1}]))
    assert table.count("| hier-sasrec | department | 2 |") == 1 and "spearman_beta_visited" in table
    assert interest_markdown(pd.DataFrame([{"model": "sasrec", "seed": 0, "ndcg@10": 0.1}])) == ""


def test_the_step_cost_script_times_each_model_and_writes_its_table(tmp_path):
    """scripts/bench_step_cost.py: every model trains the same batches in turns; the table gives each one's CPU ms
    per step and its multiple of the first model's."""
    import re
    import runpy
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_step_cost.py"
    out = tmp_path / "cost.md"
    runpy.run_path(str(script))["main"](["--dataset", "shop", "--shop-size", "tiny", "--models", "sasrec,hier-sasrec",
                                         "--rounds", "1", "--steps", "2", "--out", str(out)])
    rows = re.findall(r"^\| (\S+) \| ([\d.]+) \| ([\d.]+) \|$", out.read_text(), re.M)
    assert [r[0] for r in rows] == ["sasrec", "hier-sasrec"] and rows[0][2] == "1.00"
    assert all(float(ms) > 0 for _, ms, _ in rows) and "- command:" in out.read_text()


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="--memory reads /proc (Linux)")
def test_the_step_cost_script_measures_each_models_memory_in_a_fresh_process(tmp_path):
    """--memory: a column of MiB that each model's training steps add to a fresh process, and its multiple."""
    import re
    import runpy

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_step_cost.py"
    out = tmp_path / "cost.md"
    runpy.run_path(str(script))["main"](["--dataset", "shop", "--shop-size", "tiny", "--models", "sasrec,hier-sasrec",
                                         "--rounds", "1", "--steps", "2", "--memory", "--out", str(out)])
    text = out.read_text()
    assert "| model | CPU ms per step | x sasrec | training memory (MiB) | memory x sasrec |" in text
    rows = re.findall(r"^\| (\S+) \| [\d.]+ \| [\d.]+ \| (\d+) \| ([\d.]+) \|$", text, re.M)
    assert [r[0] for r in rows] == ["sasrec", "hier-sasrec"] and rows[0][2] == "1.00"
    assert all(int(mib) > 0 for _, mib, _ in rows)  # optimiser state and activations of 2 steps, over the data


def test_the_big_shop_export_reads_back_as_an_own_log(tmp_path):
    """scripts/export_big_shop.py writes what --interactions/--items read: the same log, with or without its tree."""
    import runpy
    from pathlib import Path

    from hiercourse.datasets import read_interactions

    script = Path(__file__).resolve().parents[1] / "scripts" / "export_big_shop.py"
    runpy.run_path(str(script))["main"](["--size", "10k", "--out-dir", str(tmp_path)])
    with_tree = read_interactions(tmp_path / "interactions.csv", items=tmp_path / "items.csv")
    without = read_interactions(tmp_path / "interactions.csv")
    assert len(with_tree.interactions) == len(without.interactions) > 100_000
    assert with_tree.info["level_names"] and with_tree.items["category_path"].str.count(" > ").eq(2).all()
    assert not without.info["level_names"]


def test_the_big_shop_oracle_reads_its_leaf_weights_and_reproduces_the_committed_ceiling(tmp_path):
    """The big shop's truth weighs its leaves (the finest level); the ceiling script reproduces its committed table."""
    import runpy

    from hiercourse.datasets.shop import make_big_shop
    from hiercourse.features import truth_weights
    from hiercourse.models.taxonomy import learned_taxonomy
    from hiercourse.preprocessing import collapse_repeats, leave_one_out
    from hiercourse.results import scale_table

    data = make_big_shop("10k", n_users=150, seed=0)
    split = leave_one_out(dataclasses.replace(data, interactions=collapse_repeats(data.interactions)))
    weights = truth_weights(split, 2)
    # by hand: user u's weight on node c is the truth's weight of u on the leaf of any item of c
    truth = split.truth
    for user in (0, 3, 50):
        for item in split.seq[split.offsets[user]:split.offsets[user + 1]]:
            t_user = list(truth["user_ids"]).index(int(split.idmap.decode_users([user])[0]))
            t_item = list(truth["item_ids"]).index(int(split.idmap.item_ids[item - 1]))
            node = int(split.item_paths[item, 2])
            assert weights[user, node - 1] == truth["leaf_weights"][t_user, truth["item_leaf"][t_item]]
    with pytest.raises(DataError, match="leaves only"):
        truth_weights(split, 1)
    with pytest.raises(DataError, match="not the big shop's leaves"):
        truth_weights(learned_taxonomy(split, levels=(4, 40)), 1)
    scripts = Path(__file__).resolve().parents[1] / "scripts"
    runpy.run_path(str(scripts / "export_big_shop.py"))["main"](["--size", "10k", "--out-dir", str(tmp_path)])
    ceiling = runpy.run_path(str(scripts / "shop_ceiling.py"))["ceiling"]
    metrics, _, oracle = ceiling(str(tmp_path / "interactions.csv"), str(tmp_path / "items.csv"))
    committed, text = scale_table("ceiling_bigshop10k")
    assert round(metrics["ndcg@10"], 4) == committed.loc[0, "NDCG@10"] and f"{oracle.p_same:.3f}" in text
    assert round(metrics["mrr"], 4) == committed.loc[0, "MRR"]
