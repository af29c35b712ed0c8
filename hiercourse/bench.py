"""``python -m hiercourse.bench``: every model of the course on one dataset, one protocol.

Taught in chapter 09.

Each (model, seed) run builds the model, trains it (the one trainer for neural
models, ``fit(split)`` for baselines), evaluates it on the test items with
``hiercourse.evaluation.evaluate`` (full ranking; sampled metrics beside them)
and appends one row to the CSV. At the end a markdown table (mean ± std over
seeds) is printed and written next to the CSV (same name, ``.md``). By default both go
into the package's results folder (``hiercourse/results/``), where
``hiercourse.results.load_results`` reads them.

Examples::

    python -m hiercourse.bench --dataset ml-latest-small --seeds 0,1,2
    python -m hiercourse.bench --interactions my_log.csv --items my_items.csv --models pop,sasrec,hier-sasrec
    python -m hiercourse.bench --dataset shop --fast --models pop,dnn --out /tmp/fast.csv
    torchrun --nproc-per-node 2 -m hiercourse.bench --dataset shop --models sasrec   # two workers (chapter 13)

Launched by ``torchrun`` (its environment variables), every worker loads the data and trains
under DistributedDataParallel (``hiercourse.training.fit``); rank 0 alone evaluates the test
items, prints and writes the tables.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import hiercourse
from hiercourse.datasets.schema import InteractionData
from hiercourse.device import machine_description, software_stamp
from hiercourse.distributed import init_from_env, shutdown, workers
from hiercourse.errors import DataError
from hiercourse.models import MODELS, build_model

__all__ = [
    "MODEL_NAMES", "BASELINES", "CSV_COLUMNS", "BenchConfig", "load_split", "training_recipe", "run_one", "run",
    "summarise_runs", "markdown_table", "slice_markdown", "interest_markdown", "parser", "config_from_args", "main",
]

# the models of the course's benchmark table, by their registry names (hiercourse.models.MODELS
# holds more: any registered name is accepted by --models)
BASELINES = ("pop", "itemknn", "bpr")
SEQUENTIAL = ("dnn", "caser", "gru4rec", "sasrec")
HIERARCHICAL = ("hier-dnn", "hier-caser", "hier-sasrec")
MODEL_NAMES = BASELINES + SEQUENTIAL + HIERARCHICAL
REFERENCES = ("oracle",)  # needs a ground truth (the synthetic shop): a ceiling, not a recommender
DATASETS = ("ml-latest-small", "ml-100k", "ml-1m", "shop")
CSV_COLUMNS = [
    "model", "seed", "ndcg@10", "hr@10", "mrr", "sampled_ndcg@10", "sampled_hr@10", "sampled_mrr",
    "seconds_per_epoch", "epochs", "parameters", "train_seconds",
]
# the interest tree against the truth, per level, for a hierarchical model on the synthetic shop
INTEREST_MEASURES = ("spearman_beta", "spearman_beta_visited", "spearman_naive", "spearman_tiefree_ceiling",
                     "next_node_acc_beta", "next_node_acc_naive")
# shown in the markdown table: (column, header, format)
TABLE_COLUMNS = [
    ("ndcg@10", "NDCG@10", "{:.4f}"), ("hr@10", "HR@10", "{:.4f}"), ("mrr", "MRR", "{:.4f}"),
    ("sampled_ndcg@10", "sampled NDCG@10", "{:.4f}"), ("sampled_hr@10", "sampled HR@10", "{:.4f}"),
    ("parameters", "parameters", "{:,.0f}"), ("seconds_per_epoch", "s/epoch", "{:.1f}"),
    ("epochs", "epochs", "{:.0f}"), ("train_seconds", "train s", "{:.1f}"),
]


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in str(text).split(",") if part.strip())


def _lr_overrides(text: str) -> dict:
    """Parse ``--lr-for``: ``gru4rec=5e-3,caser=1e-3`` -> ``{"gru4rec": 0.005, "caser": 0.001}``."""
    overrides = {}
    for part in _comma_list(text or ""):
        name, sep, value = part.partition("=")
        try:
            overrides[name.strip()] = float(value)
        except ValueError:
            raise DataError(
                f"--lr-for takes MODEL=LR pairs separated by commas, e.g. gru4rec=5e-3; got {part!r}"
            ) from None
        if not sep or name.strip() not in MODELS:
            raise DataError(f"--lr-for: {part!r} does not name a model ({', '.join(MODELS)})")
    return overrides


def _option(help: str, group: str = "models and training", **cli) -> dict:
    """Field metadata that makes a ``BenchConfig`` field a command-line option (``parser`` reads it)."""
    return {"help": help, "group": group, **cli}


@dataclass
class BenchConfig:
    """Everything a benchmark run depends on; the command line is built from these fields. Taught in chapter 09.

    The defaults are the course's training recipe, the same for every sequence model;
    a model's ``training_defaults`` (``hiercourse.models``) change what it needs changed.
    """

    dataset: str | None = field(default="ml-latest-small", metadata=_option(
        "a registered dataset (found under --root, $HIERCOURSE_DATA, the cache, or downloaded); 'shop' is the "
        "synthetic shop", "data", choices=DATASETS))
    interactions: str | None = field(default=None, metadata=_option(
        "your own behaviour log (CSV/TSV: user, item, timestamp[, event, rating, category]), read with "
        "hiercourse.datasets.read_interactions", "data", metavar="FILE"))
    items: str | None = field(default=None, metadata=_option(
        "item table for --interactions (item, title, category_path); without it (and without a category column "
        "in the log) the hierarchy is learned by clustering item vectors", "data", metavar="FILE"))
    root: str | None = field(default=None, metadata=_option(
        "folder holding the dataset's folder (default: $HIERCOURSE_DATA)", "data", metavar="DIR"))
    shop_size: str = field(default="small", metadata=_option(
        "preset of the synthetic shop (--dataset shop)", "data", choices=("tiny", "small", "medium", "large")))
    min_events: int = field(default=3, metadata=_option("drop users with fewer interactions", "data"))
    models: tuple[str, ...] = field(default=MODEL_NAMES, metadata=_option(
        "comma-separated model names (any name of hiercourse.models.MODELS: " + ", ".join(MODEL_NAMES)
        + ", ...); 'oracle' (the synthetic shop's generator as a ceiling) is added to the default list when the "
        "data has a ground truth", parse=_comma_list, show=",".join))
    seeds: tuple[int, ...] = field(default=(0,), metadata=_option(
        "comma-separated seeds, e.g. 0,1,2 (mean ± std over them)",
        parse=lambda text: tuple(int(s) for s in _comma_list(text)), show=lambda seeds: ",".join(map(str, seeds))))
    epochs: int = field(default=200, metadata=_option("maximum epochs of every trained model"))
    patience: int = field(default=10, metadata=_option(
        "stop after this many epochs without a better validation NDCG@10"))
    dim: int = field(default=64, metadata=_option("embedding size of every learned model"))
    max_len: int = field(default=50, metadata=_option("how many recent items the sequence models read"))
    batch_size: int = field(default=32, metadata=_option("training windows per batch"))
    lr: float = field(default=2e-3, metadata=_option("Adam learning rate"))
    lr_for: dict = field(default_factory=dict, metadata=_option(
        "per-model exceptions to --lr and to a model's own training_defaults, e.g. gru4rec=5e-3,caser=1e-3",
        metavar="MODEL=LR,...", parse=_lr_overrides, show=lambda d: ",".join(f"{k}={v:g}" for k, v in d.items())))
    all_windows: bool = field(default=True, metadata=_option(
        "training windows: 'last' = each user's most recent --max-len steps only; 'all' = the older history too, "
        "cut into further windows (every training interaction is a target)",
        flag="--windows", choices=("all", "last"), parse=lambda text: text == "all",
        show=lambda value: "all" if value else "last"))
    window_stride: int | None = field(default=25, metadata=_option(
        "with --windows all: a new training window every this many steps (0 or --max-len: no overlap; smaller: "
        "overlapping windows, every target also seen with a longer past)", parse=lambda v: int(v) or None,
        show=lambda v: v or 0))
    lr_decay: bool = field(default=True, metadata=_option(
        "let the learning rate fall linearly to 5 %% of --lr over the time budget (or the epochs)", boolean=True))
    negatives: int | None = field(default=1024, metadata=_option(
        "sequence models: sampled softmax over this many items drawn by popularity (log q corrected); 0 = full "
        "softmax over every item (exact, slower on large catalogues)", parse=lambda v: int(v) or None,
        show=lambda v: v or 0))
    time_budget: float | None = field(default=90.0, metadata=_option(
        "training seconds allowed per model and seed (0 = no limit); the same for every model",
        parse=lambda v: float(v) or None, show=lambda v: v or 0))
    device: str | None = field(default=None, metadata=_option("torch device (default: CUDA, then MPS, then CPU)"))
    new_items: float = field(default=0.0, metadata=_option(
        "the new-item protocol: this share of the distinct test items (seeded) loses every training interaction "
        "before training (hiercourse.coldstart.hold_out_items); adds 'ndcg@10 [new items]' and 'users [new items]': "
        "the users whose test item is one of them; 0 = off", "run"))
    by: str | None = field(default=None, metadata=_option(
        "also report test NDCG@10 per slice of the users: 'count' (the test item's training count: 0 new, 1-5 "
        "rare, 6-50, >50), 'activity' (history-length tertiles) or 'popularity' (head/tail test items); columns "
        "'ndcg@10 [slice]' and 'users [slice]' in the CSV, a second table in the markdown", "run",
        choices=("count", "activity", "popularity")))
    fast: bool = field(default=False, metadata=_option(
        "a quick check: at most 200 users and their 5-core (the tiny shop for 'shop'), dim 16, 3 epochs", "run",
        action="store_true"))
    fast_users: int = 200
    progress: bool = field(default=True, metadata=_option("turn the progress bars off", "run", flag="--no-progress",
                                                          action="store_false"))
    out: str | None = field(default=None, metadata=_option(
        "where to write the CSV (the markdown table goes next to it, .md); default "
        "benchmark_<dataset>.csv in the package's results folder (hiercourse/results/, read by "
        "hiercourse.results.load_results)", "run", metavar="CSV"))

    def __post_init__(self) -> None:
        if self.fast:  # a check that the machinery works, not a measurement
            self.dim, self.epochs = min(self.dim, 16), min(self.epochs, 3)


# --------------------------------------------------------------------------- data
def _fast_subset(data: InteractionData, n_users: int, seed: int, k: int = 5) -> InteractionData:
    """Fast mode: a random subset of ``n_users`` users, then its ``k``-core (users and items with >= k rows).

    The k-core drops the many items seen once or twice in the subset: the
    catalogue shrinks several times, and so does the cost of scoring every item.
    """
    from hiercourse.preprocessing import k_core

    frame = data.interactions
    users = frame["user"].drop_duplicates().to_numpy()
    if len(users) > n_users:
        chosen = np.random.default_rng(seed).choice(np.sort(users), n_users, replace=False)
        frame = frame[frame["user"].isin(chosen)].reset_index(drop=True)
    return dataclasses.replace(data, interactions=k_core(frame, k=k), info=dict(data.info))


def load_split(config: BenchConfig):
    """Load the dataset (registry name or a learner's log), clean it the course's way, split it.

    Behaviour logs (views, clicks...) have back-to-back repeats of one item merged
    (``collapse_repeats``); ratings are used as they are (every rating = an
    interaction). A catalogue without categories gets a learned hierarchy
    (``models.taxonomy.learned_taxonomy``). Taught in chapter 09.
    """
    from hiercourse.datasets import load, read_interactions
    from hiercourse.models.taxonomy import learned_taxonomy
    from hiercourse.preprocessing import collapse_repeats, leave_one_out

    if config.interactions:
        data = read_interactions(config.interactions, items=config.items)
    elif config.dataset == "shop":
        data = load("shop", size="tiny" if config.fast else config.shop_size)
    elif config.dataset in DATASETS:
        data = load(config.dataset, root=config.root)
    else:
        raise DataError(
            f"unknown dataset {config.dataset!r}; choose one of {list(DATASETS)} or pass --interactions FILE"
        )
    if config.fast:
        data = _fast_subset(data, config.fast_users, seed=0)
    behaviours = bool(set(data.interactions["event"].astype(str).unique()) - {"rating"})
    if behaviours:
        data = dataclasses.replace(data, interactions=collapse_repeats(data.interactions), info=dict(data.info))
    split = leave_one_out(data, min_events=config.min_events)
    split.info["cleaning"] = ("back-to-back repeats of an item merged (collapse_repeats)" if behaviours
                              else "every rating is one interaction")
    if config.fast:
        split.info["cleaning"] += f"; fast mode: {config.fast_users} random users, then their 5-core"
    if split.taxonomy.is_empty():
        split = learned_taxonomy(split)
    return split


# --------------------------------------------------------------------------- models
def training_recipe(config: BenchConfig, model, name: str, seed: int) -> dict:
    """The keyword arguments of ``training.fit`` for one model: the shared recipe of ``config``, then the
    model's ``training_defaults``, then ``config.lr_for[name]``. Taught in chapter 09."""
    recipe = dict(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, max_len=config.max_len,
                  all_windows=config.all_windows, patience=config.patience, seed=seed, device=config.device,
                  progress=config.progress, time_budget_s=config.time_budget, negatives=config.negatives,
                  window_stride=config.window_stride, lr_decay=config.lr_decay)
    recipe.update(getattr(model, "training_defaults", {}))
    if name in config.lr_for:
        recipe["lr"] = config.lr_for[name]
    return recipe


def _recipe_changes(config: BenchConfig, model, name: str) -> str:
    """What a model trains with that differs from the shared recipe, e.g. "lr 0.005" (for the report)."""
    shared, own = training_recipe(config, None, "", 0), training_recipe(config, model, name, 0)
    return ", ".join(f"{key} {own[key]}" for key in own if key not in shared or own[key] != shared[key])


def run_one(name: str, split, config: BenchConfig, seed: int, new_items=None) -> dict:
    """Build, train and evaluate one model with one seed: one CSV row; ``new_items`` (item codes made new by
    ``--new-items``) adds the new-item protocol's columns. Taught in chapter 09."""
    from hiercourse.evaluation import evaluate
    from hiercourse.training import fit

    hiercourse.seed_everything(seed)
    model = build_model(name, split, dim=config.dim, max_len=config.max_len)
    result = fit(model, split, **training_recipe(config, model, name, seed))
    if not workers().main:  # under torchrun, rank 0 alone evaluates the test items and reports
        return {"model": name, "seed": seed}
    tic = time.perf_counter()
    # seed=0 for the sampled negatives: every model and seed faces the same negatives
    metrics = evaluate(model, split, stage="test", k=10, max_len=config.max_len, seed=0)
    if config.by:
        metrics |= _slice_columns(model, split, config)
    if new_items is not None:
        metrics |= _new_item_columns(model, split, config, new_items)
    row = {"model": name, "seed": seed, **metrics, "train_seconds": result.train_seconds, "epochs": result.epochs,
           "seconds_per_epoch": result.seconds_per_epoch, "best_epoch": result.best_epoch,
           "stopped": result.stopped, "parameters": result.parameters,
           "eval_seconds": time.perf_counter() - tic, "dataset": split.info.get("name", config.dataset),
           "recipe_changes": _recipe_changes(config, model, name)}
    if getattr(model, "learned_prior_weight", False):  # how far training came to trust each level's prior
        row |= {f"prior_weight/{level_name}": float(model.prior_weight(level).detach())
                for level, level_name in enumerate(model.level_names)}
    row |= _interest_columns(model, split, config)
    return {key: row[key] for key in CSV_COLUMNS} | {k: v for k, v in row.items() if k not in CSV_COLUMNS}


def _slice_columns(model, split, config: BenchConfig) -> dict:
    """``--by``: the test NDCG@10 and the number of users of each slice (the protocol of ``evaluate``)."""
    from hiercourse.evaluation import metrics_by_group, rank_users

    result = rank_users(model, split, stage="test", k=10, max_len=config.max_len, sampled_negatives=None)
    table = metrics_by_group(result, split, config.by)
    return {key: value for label, row in table.iterrows()
            for key, value in ((f"ndcg@10 [{label}]", row["ndcg@10"]), (f"users [{label}]", int(row["n_users"])))}


def _interest_columns(model, split, config: BenchConfig) -> dict:
    """A hierarchical model on data with a ground truth of every level (the synthetic shop): its interest tree
    against the truth (``interests.interest_recovery``), ``<measure>/<level name>`` columns; {} otherwise."""
    from hiercourse.interests import interest_recovery
    from hiercourse.models.hierarchical import HierarchicalInterestModel

    if not isinstance(model, HierarchicalInterestModel) or split.truth is None:
        return {}
    try:
        table = interest_recovery(model, split, stage="test", max_len=config.max_len)
    except DataError:  # a truth of some levels only (the big shop's leaves), or of another tree (a learned one)
        return {}
    return {f"{measure}/{row['level_name']}": float(row[measure]) for _, row in table.iterrows()
            for measure in INTEREST_MEASURES}


def interest_markdown(runs: pd.DataFrame) -> str:
    """The interest tree against the truth (``_interest_columns``): one line per model and level, each measure's
    mean ± std over seeds; "" when ``runs`` has none. Taught in chapter 08."""
    levels = list(dict.fromkeys(c.split("/", 1)[1] for c in runs.columns if c.startswith(INTEREST_MEASURES[0] + "/")))
    if not levels:
        return ""
    lines = ["| model | level | seeds | " + " | ".join(INTEREST_MEASURES) + " |",
             "|---|---|---:|" + "---:|" * len(INTEREST_MEASURES)]
    for model, group in runs.groupby("model", sort=False):
        for level in levels:
            values = [group[f"{measure}/{level}"] for measure in INTEREST_MEASURES]
            if values[0].isna().all():
                continue
            cells = [f"{v.mean():.4f}" + (f" ± {v.std(ddof=0):.4f}" if len(v) > 1 else "") for v in values]
            lines.append(f"| {model} | {level} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _new_item_columns(model, split, config: BenchConfig, new_items) -> dict:
    """``--new-items``: the test NDCG@10 of the users whose test item was made new, and how many they are."""
    from hiercourse.coldstart import new_item_users
    from hiercourse.evaluation import ndcg, rank_users

    users = new_item_users(split, new_items)
    result = rank_users(model, split, stage="test", k=10, max_len=config.max_len, sampled_negatives=None,
                        users=users)
    return {"ndcg@10 [new items]": ndcg(result.ranks, 10), "users [new items]": len(users)}


# --------------------------------------------------------------------------- tables
def summarise_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard deviation over seeds of every numeric column, per model (in run order).

    Taught in chapter 09.
    """
    numeric = [c for c in runs.columns if c not in ("model", "seed") and pd.api.types.is_numeric_dtype(runs[c])]
    grouped = runs.groupby("model", sort=False)[numeric]
    summary = pd.concat([grouped.mean(), grouped.std(ddof=0).add_suffix("_std")], axis=1)
    summary.insert(0, "seeds", runs.groupby("model", sort=False).size())
    return summary


def markdown_table(runs: pd.DataFrame) -> str:
    """A markdown table, one line per model: mean ± std over seeds. Taught in chapter 09."""
    summary = summarise_runs(runs)
    columns = [c for c in TABLE_COLUMNS if c[0] in summary.columns]
    lines = ["| model | seeds | " + " | ".join(h for _, h, _ in columns) + " |",
             "|---|---:|" + "---:|" * len(columns)]
    for model, row in summary.iterrows():
        cells = []
        for column, _, fmt in columns:
            mean, std = row[column], row.get(f"{column}_std", float("nan"))
            if pd.isna(mean):
                cells.append("–")
            elif row["seeds"] > 1 and pd.notna(std) and std > 0 and column not in ("parameters",):
                cells.append(f"{fmt.format(mean)} ± {fmt.format(std)}")
            else:
                cells.append(fmt.format(mean))
        lines.append(f"| {model} | {int(row['seeds'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def slice_markdown(runs: pd.DataFrame) -> str:
    """The ``--by`` table: one line per model, test NDCG@10 per slice (mean ± std over seeds), the slice's users
    in its header; "" when ``runs`` has no slice columns. Taught in chapter 09 (the slices in chapter 12).
    """
    slices = [c[len("ndcg@10 ["):-1] for c in runs.columns if c.startswith("ndcg@10 [")]
    if not slices:
        return ""
    users = {s: int(runs[f"users [{s}]"].iloc[0]) for s in slices}
    lines = ["| model | seeds | " + " | ".join(f"NDCG@10 [{s}] ({users[s]:,} users)" for s in slices) + " |",
             "|---|---:|" + "---:|" * len(slices)]
    for model, group in runs.groupby("model", sort=False):
        cells = []
        for s in slices:
            values = group[f"ndcg@10 [{s}]"]
            spread = f" ± {values.std(ddof=0):.4f}" if len(values) > 1 else ""
            cells.append(f"{values.mean():.4f}{spread}")
        lines.append(f"| {model} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _header(config: BenchConfig, split, command: str, runs: pd.DataFrame) -> str:
    summary = split.summary()
    changes = runs.drop_duplicates("model").set_index("model")["recipe_changes"]
    changes = "; ".join(f"{model}: {text}" for model, text in changes.items() if text)
    return "\n".join([
        f"# Benchmark: {summary['name'] or config.dataset}",
        "",
        f"- command: `{command}`",
        f"- date (UTC): {software_stamp()}",
        f"- machine: {machine_description()}, torch threads {torch.get_num_threads()}, "
        f"device {config.device or 'auto'}"
        + (f", {workers().world} workers (torchrun, DistributedDataParallel)" if workers().distributed else ""),
        f"- data: {summary['n_users']:,} users, {summary['n_items']:,} items, "
        f"{summary['n_interactions']:,} interactions ({split.info.get('cleaning', '')}); "
        f"hierarchy {split.taxonomy.describe()}",
        "- protocol: leave-one-out (last item test, second-to-last validation), full ranking over all "
        "items minus the user's earlier ones, ties counted against the target; sampled_* = target vs "
        "100 random unseen items (seed 0), shown only beside the full-ranking numbers"
        + (f"; new-item protocol: {split.info['new_items']:,} of the distinct test items (share {config.new_items:g}, "
           f"seed 0) lost their {split.info['removed_interactions']:,} training interactions before training, "
           "'new items' = the users whose test item is one of them" if config.new_items else "")
        + (f"; slices by {config.by} (hiercourse.evaluation.metrics_by_group)" if config.by else ""),
        f"- training: dim {config.dim}, max_len {config.max_len}, batch {config.batch_size}, Adam lr {config.lr}, "
        f"{'all' if config.all_windows else 'most recent'} training windows"
        + (f" (a new one every {config.window_stride} steps)" if config.all_windows and config.window_stride else "")
        + ", "
        + ("learning rate decayed linearly to 5 %, " if config.lr_decay else "")
        + (f"sampled softmax over {config.negatives} popularity-drawn items (log q corrected), "
           if config.negatives else "full softmax over every item, ")
        + f"at most {config.epochs} epochs, early stopping on validation NDCG@10 (patience {config.patience}), "
        f"time budget {config.time_budget} s per model; best validation epoch restored"
        + (f"; per-model changes (training_defaults, --lr-for): {changes}" if changes else ""),
    ]) + "\n"


# --------------------------------------------------------------------------- running
def run(config: BenchConfig, command: str = "") -> pd.DataFrame:
    """Run every (model, seed) of ``config``; write the CSV (row by row) and the markdown table.

    Taught in chapter 09.
    """
    unknown = [m for m in config.models if m not in MODELS]
    if unknown:
        raise DataError(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    started = time.perf_counter()
    split = load_split(config)
    new_items = None
    if config.new_items:
        from hiercourse.coldstart import hold_out_items

        split, new_items = hold_out_items(split, config.new_items, seed=0)
    if tuple(config.models) == MODEL_NAMES and split.truth is not None:
        # every model, and the ceiling they are read against (a copy: the caller's config is left alone)
        config = dataclasses.replace(config, models=MODEL_NAMES + REFERENCES)
    main = workers().main  # one process, or rank 0 of the workers torchrun started
    out = Path(config.out) if config.out and main else None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    jobs = [(name, seed) for name in config.models for seed in config.seeds]
    bar = jobs
    if config.progress and main:
        from hiercourse.notebook import progress_bar

        bar = progress_bar(jobs, desc="benchmark", unit="run")
    rows = []
    for name, seed in bar:
        if config.progress and main:
            bar.set_postfix(model=name, seed=seed)
        rows.append(run_one(name, split, config, seed, new_items))
        runs = pd.DataFrame(rows)
        if out is not None:
            runs.to_csv(out, index=False)  # after every run: a long benchmark keeps what it did
    runs = pd.DataFrame(rows)
    if not main:
        return runs
    per_seed = (runs["train_seconds"] + runs["eval_seconds"]).groupby(runs["seed"]).sum() / 60
    timing = (f"- wall time: {(time.perf_counter() - started) / 60:.1f} min in all; training + evaluation per seed: "
              + ", ".join(f"seed {seed}: {minutes:.1f} min" for seed, minutes in per_seed.items())
              + (f"; load average at the end {os.getloadavg()[1]:.1f} (5 min)" if hasattr(os, "getloadavg") else "")
              + "\n\n")
    table = _header(config, split, command, runs) + timing + markdown_table(runs) + "\n"
    if config.by or config.new_items:
        what = " and ".join(filter(None, [config.by, "the new-item protocol" if config.new_items else None]))
        table += f"\n## Test NDCG@10 by {what}\n\n" + slice_markdown(runs) + "\n"
    interest_table = interest_markdown(runs)
    if interest_table:
        table += ("\n## The interest tree against the truth (hiercourse.interests.interest_recovery, test "
                  "histories)\n\n" + interest_table + "\n")
    if out is not None:
        out.with_suffix(".md").write_text(table)
    print(table)
    return runs


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m hiercourse.bench`` (``hiercourse-bench``), built from ``BenchConfig``.

    Taught in chapter 09.
    """
    p = argparse.ArgumentParser(
        prog="python -m hiercourse.bench",
        description=(
            "Benchmark the course's recommenders on one dataset with the course's protocol "
            "(leave-one-out, full ranking, HR@10 / NDCG@10 / MRR, sampled metrics beside them). "
            "Writes one CSV row per model and seed, and a markdown table (mean ± std over seeds)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    groups: dict[str, argparse._ArgumentGroup] = {}
    sources = None
    defaults = BenchConfig()
    for f in dataclasses.fields(BenchConfig):
        meta = f.metadata
        if "help" not in meta:
            continue  # not a command-line option
        group = groups.get(meta["group"]) or groups.setdefault(meta["group"], p.add_argument_group(meta["group"]))
        if f.name in ("dataset", "interactions"):  # one source of data or the other
            sources = sources or group.add_mutually_exclusive_group()
            group = sources
        flag = meta.get("flag", "--" + f.name.replace("_", "-"))
        kwargs = {"help": meta["help"], "dest": f.name}
        if "action" in meta:
            kwargs["action"] = meta["action"]
        elif meta.get("boolean"):
            kwargs.update(action=argparse.BooleanOptionalAction, default=getattr(defaults, f.name))
        else:
            value = getattr(defaults, f.name)
            kwargs["default"] = meta["show"](value) if "show" in meta else value
            kwargs["type"] = str if "parse" in meta else (type(value) if isinstance(value, (int, float)) else str)
            for key in ("choices", "metavar"):
                if key in meta:
                    kwargs[key] = meta[key]
        group.add_argument(flag, **kwargs)
    groups["run"].add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    return p


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """Turn parsed options into a :class:`BenchConfig` (fast mode shrinks the sizes). Taught in chapter 09."""
    if args.items and not args.interactions:
        raise DataError("--items goes with --interactions (your own log); registered datasets bring their items")
    values = {}
    for f in dataclasses.fields(BenchConfig):
        if "help" in f.metadata:
            value = getattr(args, f.name)
            values[f.name] = f.metadata["parse"](value) if "parse" in f.metadata and value is not None else value
    if args.interactions:
        values["dataset"] = None
    if values["window_stride"]:
        values["window_stride"] = min(values["window_stride"], values["max_len"])
    name = Path(args.interactions).stem if args.interactions else args.dataset
    # the working folder, never the installed package: the shipped tables (hiercourse/results/) are
    # replaced on purpose only, with --out hiercourse/results/... in a checkout
    values["out"] = args.out or f"results/benchmark_{name}{'_fast' if args.fast else ''}.csv"
    return BenchConfig(**values)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m hiercourse.bench`` and ``hiercourse-bench``. Taught in chapter 09."""
    args = parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    here = init_from_env(args.device)  # launched by torchrun: join the other workers
    launcher = f"torchrun --nproc-per-node {here.world} -m hiercourse.bench " if here.distributed else \
        "python -m hiercourse.bench "
    command = launcher + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    try:
        run(config_from_args(args), command=command)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
