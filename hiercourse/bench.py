"""``python -m hiercourse.bench``: every model of the course on one dataset, one protocol.

Taught in chapter 09.

Each (model, seed) run builds the model, trains it (the one trainer for neural
models, ``fit(split)`` for baselines), evaluates it on the test items with
``hiercourse.evaluation.evaluate`` (full ranking; sampled metrics beside them)
and appends one row to the CSV. At the end a markdown table (mean ± std over
seeds) is printed and written next to the CSV (same name, ``.md``).

Examples::

    python -m hiercourse.bench --dataset ml-latest-small --seeds 0,1,2 --out results/benchmark_ml-latest-small.csv
    python -m hiercourse.bench --interactions my_log.csv --items my_items.csv --models pop,sasrec,hier-sasrec
    python -m hiercourse.bench --dataset shop --fast --models pop,dnn --out /tmp/fast.csv
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import os
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import hiercourse
from hiercourse.datasets.schema import DataError, InteractionData

__all__ = [
    "MODEL_NAMES", "BASELINES", "CSV_COLUMNS", "BenchConfig", "load_split", "learned_taxonomy",
    "build_model", "train_model", "run_one", "run", "summarise_runs", "markdown_table", "main",
]

BASELINES = ("pop", "itemknn", "bpr")
SEQUENTIAL = ("dnn", "caser", "gru4rec", "sasrec")
HIERARCHICAL = ("hier-dnn", "hier-cnn", "hier-sasrec")
MODEL_NAMES = BASELINES + SEQUENTIAL + HIERARCHICAL
REFERENCES = ("oracle",)  # needs a ground truth (the synthetic shop): a ceiling, not a recommender
DATASETS = ("ml-latest-small", "ml-100k", "ml-1m", "shop")
CSV_COLUMNS = [
    "model", "seed", "ndcg@10", "hr@10", "mrr", "sampled_ndcg@10", "sampled_hr@10", "sampled_mrr",
    "seconds_per_epoch", "epochs", "parameters", "train_seconds",
]
# shown in the markdown table: (column, header, format)
TABLE_COLUMNS = [
    ("ndcg@10", "NDCG@10", "{:.4f}"), ("hr@10", "HR@10", "{:.4f}"), ("mrr", "MRR", "{:.4f}"),
    ("sampled_ndcg@10", "sampled NDCG@10", "{:.4f}"), ("sampled_hr@10", "sampled HR@10", "{:.4f}"),
    ("parameters", "parameters", "{:,.0f}"), ("seconds_per_epoch", "s/epoch", "{:.1f}"),
    ("epochs", "epochs", "{:.0f}"), ("train_seconds", "train s", "{:.1f}"),
]


@dataclass
class BenchConfig:
    """Everything a benchmark run depends on (the command-line options). Taught in chapter 09."""

    dataset: str | None = "ml-latest-small"
    interactions: str | None = None
    items: str | None = None
    root: str | None = None
    models: tuple[str, ...] = MODEL_NAMES
    seeds: tuple[int, ...] = (0,)
    epochs: int = 200
    patience: int = 10
    dim: int = 64
    max_len: int = 50
    batch_size: int = 32
    lr: float = 2e-3
    lr_for: dict = field(default_factory=lambda: {"gru4rec": 5e-3})  # per-model exceptions to ``lr``
    all_windows: bool = True
    negatives: int | None = 1024
    window_stride: int | None = 25
    lr_decay: bool = True
    time_budget: float | None = 90.0
    min_events: int = 3
    shop_size: str = "small"
    fast: bool = False
    fast_users: int = 200
    device: str | None = None
    progress: bool = True
    out: str | None = None

    def __post_init__(self) -> None:
        if self.fast:  # a check that the machinery works, not a measurement
            self.dim, self.epochs = min(self.dim, 16), min(self.epochs, 3)


# --------------------------------------------------------------------------- data
def _has_taxonomy(split) -> bool:
    paths = np.asarray(split.item_paths)
    return paths.ndim == 2 and paths.shape[1] > 0 and bool((paths[1:] > 0).any())


def learned_taxonomy(split, levels: tuple[int, int] = (8, 32), dim: int = 32, seed: int = 0):
    """A two-level hierarchy for a catalogue without one: k-means on co-occurrence (SVD) item vectors.

    The item vectors are the right singular vectors of the user x item training
    matrix (scaled by the singular values): items bought by the same people end
    up close. ``hiercourse.models.taxonomy.learn_hierarchy`` clusters them.
    Taught in chapter 09 (the clustering in chapter 08).
    """
    from scipy.sparse.linalg import svds

    from hiercourse.models.baselines import train_matrix
    from hiercourse.models.taxonomy import learn_hierarchy, with_taxonomy

    matrix = train_matrix(split).astype(np.float64)
    rank = max(1, min(dim, min(matrix.shape) - 1))
    _, values, vt = svds(matrix, k=rank, random_state=seed)
    vectors = (vt.T * np.sqrt(values)).astype(np.float32)  # [n_items + 1, rank], row 0 = padding
    n_items = split.n_items
    coarse = max(1, min(levels[0], n_items))
    fine = max(coarse, min(levels[1], n_items))
    return with_taxonomy(split, learn_hierarchy(vectors, levels=(coarse, fine), seed=seed))


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
    frame = k_core(frame, k=k)
    return InteractionData(data.name, frame, data.items, data.users, data.truth, dict(data.info))


def load_split(config: BenchConfig):
    """Load the dataset (registry name or a learner's log), clean it the course's way, split it.

    Behaviour logs (views, clicks...) have back-to-back repeats of one item merged
    (``collapse_repeats``); ratings are used as they are (every rating = an
    interaction). A catalogue without category paths gets a learned hierarchy.
    Taught in chapter 09.
    """
    from hiercourse.datasets import load, read_interactions
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
    events = set(data.interactions["event"].astype(str).unique())
    if events - {"rating"}:
        data = InteractionData(data.name, collapse_repeats(data.interactions), data.items, data.users,
                               data.truth, dict(data.info))
    split = leave_one_out(data, min_events=config.min_events)
    split.info["cleaning"] = ("back-to-back repeats of an item merged (collapse_repeats)" if events - {"rating"}
                              else "every rating is one interaction")
    if config.fast:
        split.info["cleaning"] += f"; fast mode: {config.fast_users} random users, then their 5-core"
    if data.truth:  # the synthetic shop: the oracle reference reads it
        split.info["truth"] = data.truth
    if not _has_taxonomy(split):
        split = learned_taxonomy(split)
        split.info["taxonomy"] = "learned (k-means on item co-occurrence vectors)"
    else:
        split.info["taxonomy"] = "given (" + " > ".join(split.level_names) + ")"
    return split


# --------------------------------------------------------------------------- models
def build_model(name: str, split, dim: int = 64, max_len: int = 50):
    """The model called ``name`` (see ``MODEL_NAMES``), sized for ``split``. Taught in chapter 09."""
    from hiercourse.models import baselines, encoders

    key = name.lower()
    if key == "pop":
        return baselines.MostPopular()
    if key == "itemknn":
        return baselines.ItemKNN()
    if key == "bpr":
        return baselines.BPRMF.for_split(split, dim=dim)
    if key == "oracle":
        if "truth" not in split.info:
            raise DataError("the oracle needs a dataset with a ground truth: --dataset shop")
        return baselines.ShopOracle(split.info["truth"])
    sequential = {
        "dnn": (encoders.DNNRecommender, {}),
        "caser": (encoders.CaserRecommender, {}),
        "gru4rec": (encoders.GRU4Rec, {}),
        "sasrec": (encoders.SASRec, {"max_len": max_len}),
    }
    if key in sequential:
        cls, extra = sequential[key]
        config = {"n_items": split.n_items, "dim": dim, **extra}
    elif key in HIERARCHICAL:
        from hiercourse.models.hierarchical import HierarchicalInterestModel as cls

        config = {
            "n_items": split.n_items,
            "item_paths": np.asarray(split.item_paths).tolist(),  # a list: saved configs hold plain data
            "encoder": key.split("-", 1)[1],
            "dim": dim,
            "max_len": max_len,
            "level_names": list(split.level_names),
            "node_names": [list(n) for n in split.node_names],
        }
    else:
        raise DataError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    model = cls(**config)
    if getattr(model, "config", None) is None:
        model.config = config  # what training.save needs to rebuild it
    return model


def train_model(model, split, config: BenchConfig, seed: int, lr: float | None = None) -> dict:
    """Train one model (with ``lr``, default ``config.lr``); returns epochs, seconds_per_epoch,
    train_seconds, best_epoch, stopped."""
    from hiercourse.models.baselines import BPRMF
    from hiercourse.training import count_parameters, fit

    tic = time.perf_counter()
    if isinstance(model, BPRMF):
        model.fit(split, epochs=config.epochs, seed=seed, patience=config.patience,
                  time_budget_s=config.time_budget, progress=config.progress)
        seconds = time.perf_counter() - tic
        epochs = len(model.history)
        per_epoch = float(np.mean([row["seconds"] for row in model.history]))
        best = int(np.argmax([row["valid_ndcg@10"] for row in model.history])) + 1
        stopped = "early stopping" if epochs < config.epochs else "epochs"
    elif hasattr(model, "loss"):
        result = fit(model, split, epochs=config.epochs, batch_size=config.batch_size, lr=lr or config.lr,
                     max_len=config.max_len, all_windows=config.all_windows, patience=config.patience, seed=seed,
                     device=config.device, progress=config.progress, time_budget_s=config.time_budget,
                     negatives=config.negatives, window_stride=config.window_stride, lr_decay=config.lr_decay)
        seconds, epochs, per_epoch = result.train_seconds, result.epochs, result.seconds_per_epoch
        best, stopped = result.best_epoch, result.stopped
    else:  # counting baselines: one pass, no epochs
        model.fit(split)
        seconds = time.perf_counter() - tic
        epochs, per_epoch, best, stopped = 0, float("nan"), 0, "closed form"
    return {"train_seconds": seconds, "epochs": epochs, "seconds_per_epoch": per_epoch,
            "best_epoch": best, "stopped": stopped, "parameters": count_parameters(model)}


def run_one(name: str, split, config: BenchConfig, seed: int) -> dict:
    """Build, train and evaluate one model with one seed: one CSV row. Taught in chapter 09."""
    from hiercourse.evaluation import evaluate

    hiercourse.seed_everything(seed)
    model = build_model(name, split, dim=config.dim, max_len=config.max_len)
    if isinstance(model, torch.nn.Module):
        from hiercourse.device import best_device

        model.to(best_device(config.device))
    training = train_model(model, split, config, seed, lr=config.lr_for.get(name, config.lr))
    tic = time.perf_counter()
    # seed=0 for the sampled negatives: every model and seed faces the same negatives
    metrics = evaluate(model, split, stage="test", k=10, max_len=config.max_len, seed=0)
    row = {"model": name, "seed": seed, **metrics, **training, "eval_seconds": time.perf_counter() - tic,
           "dataset": split.info.get("name", config.dataset)}
    return {key: row[key] for key in CSV_COLUMNS} | {k: v for k, v in row.items() if k not in CSV_COLUMNS}


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


def _header(config: BenchConfig, split, command: str) -> str:
    summary = split.summary()
    return "\n".join([
        f"# Benchmark: {summary['name'] or config.dataset}",
        "",
        f"- command: `{command}`",
        f"- date (UTC): {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M')}; "
        f"hiercourse {hiercourse.__version__}, torch {torch.__version__}, python {platform.python_version()}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}, "
        f"device {config.device or 'auto'}",
        f"- data: {summary['n_users']:,} users, {summary['n_items']:,} items, "
        f"{summary['n_interactions']:,} interactions ({split.info.get('cleaning', '')}); "
        f"hierarchy {split.info.get('taxonomy', '')}",
        f"- protocol: leave-one-out (last item test, second-to-last validation), full ranking over all "
        f"items minus the user's earlier ones, ties counted against the target; sampled_* = target vs "
        f"100 random unseen items (seed 0), shown only beside the full-ranking numbers",
        f"- training: dim {config.dim}, max_len {config.max_len}, batch {config.batch_size}, Adam lr {config.lr}"
        + "".join(f" ({name}: {value:g})" for name, value in config.lr_for.items() if name in config.models)
        + ", "
        f"{'all' if config.all_windows else 'most recent'} training windows"
        + (f" (a new one every {config.window_stride} steps)" if config.all_windows and config.window_stride else "")
        + ", "
        + ("learning rate decayed linearly to 5 %, " if config.lr_decay else "")
        + (f"sampled softmax over {config.negatives} popularity-drawn items (log q corrected), "
           if config.negatives else "full softmax over every item, ")
        + f"at most {config.epochs} epochs, early stopping on validation NDCG@10 (patience {config.patience}), "
        f"time budget {config.time_budget} s per model; best validation epoch restored",
    ]) + "\n"


# --------------------------------------------------------------------------- running
def run(config: BenchConfig, command: str = "") -> pd.DataFrame:
    """Run every (model, seed) of ``config``; write the CSV (row by row) and the markdown table.

    Taught in chapter 09.
    """
    unknown = [m for m in config.models if m not in MODEL_NAMES + REFERENCES]
    if unknown:
        raise DataError(f"unknown model(s) {unknown}; choose from {', '.join(MODEL_NAMES + REFERENCES)}")
    started = time.perf_counter()
    split = load_split(config)
    if tuple(config.models) == MODEL_NAMES and "truth" in split.info:
        # every model, and the ceiling they are read against (a copy: the caller's config is left alone)
        config = dataclasses.replace(config, models=MODEL_NAMES + REFERENCES)
    out = Path(config.out) if config.out else None
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
    jobs = [(name, seed) for name in config.models for seed in config.seeds]
    bar = jobs
    if config.progress:
        from tqdm.auto import tqdm

        bar = tqdm(jobs, desc="benchmark", unit="run")
    rows = []
    for name, seed in bar:
        if config.progress:
            bar.set_postfix(model=name, seed=seed)
        rows.append(run_one(name, split, config, seed))
        runs = pd.DataFrame(rows)
        if out is not None:
            runs.to_csv(out, index=False)  # after every run: a long benchmark keeps what it did
    runs = pd.DataFrame(rows)
    per_seed = (runs["train_seconds"] + runs["eval_seconds"]).groupby(runs["seed"]).sum() / 60
    timing = (f"- wall time: {(time.perf_counter() - started) / 60:.1f} min in all; training + evaluation per seed: "
              + ", ".join(f"seed {seed}: {minutes:.1f} min" for seed, minutes in per_seed.items())
              + (f"; load average at the end {os.getloadavg()[1]:.1f} (5 min)" if hasattr(os, "getloadavg") else "")
              + "\n\n")
    table = _header(config, split, command) + timing + markdown_table(runs) + "\n"
    if out is not None:
        out.with_suffix(".md").write_text(table)
    print(table)
    return runs


def _lr_overrides(text: str) -> dict:
    """Parse ``--lr-for``: ``gru4rec=5e-3,caser=1e-3`` -> ``{"gru4rec": 0.005, "caser": 0.001}``."""
    overrides = {}
    for part in _comma_list(text or ""):
        name, sep, value = part.partition("=")
        try:
            overrides[name.strip()] = float(value)
        except ValueError:
            raise DataError(f"--lr-for takes MODEL=LR pairs separated by commas, e.g. gru4rec=5e-3; got {part!r}") from None
        if not sep or name.strip() not in MODEL_NAMES:
            raise DataError(f"--lr-for: {part!r} does not name a model ({', '.join(MODEL_NAMES)})")
    return overrides


def _comma_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parser() -> argparse.ArgumentParser:
    """The command line of ``python -m hiercourse.bench`` (``hiercourse-bench``)."""
    p = argparse.ArgumentParser(
        prog="python -m hiercourse.bench",
        description=(
            "Benchmark the course's recommenders on one dataset with the course's protocol "
            "(leave-one-out, full ranking, HR@10 / NDCG@10 / MRR, sampled metrics beside them). "
            "Writes one CSV row per model and seed, and a markdown table (mean ± std over seeds)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = p.add_argument_group("data")
    source = data.add_mutually_exclusive_group()
    source.add_argument("--dataset", default="ml-latest-small", choices=DATASETS,
                        help="a registered dataset (found under --root, $HIERCOURSE_DATA, the cache, or downloaded); "
                             "'shop' is the synthetic shop")
    source.add_argument("--interactions", metavar="FILE",
                        help="your own behaviour log (CSV/TSV: user, item, timestamp[, event, rating]), read with "
                             "hiercourse.datasets.read_interactions")
    data.add_argument("--items", metavar="FILE",
                      help="item table for --interactions (item, title, category_path); without it the hierarchy "
                           "is learned by clustering item vectors")
    data.add_argument("--root", metavar="DIR", help="folder holding the dataset's folder (default: $HIERCOURSE_DATA)")
    data.add_argument("--shop-size", default="small", choices=("tiny", "small", "medium", "large"),
                      help="preset of the synthetic shop (--dataset shop)")
    data.add_argument("--min-events", type=int, default=3, help="drop users with fewer interactions")
    models = p.add_argument_group("models and training")
    models.add_argument("--models", default=",".join(MODEL_NAMES),
                        help="comma-separated model names: " + ", ".join(MODEL_NAMES) + "; 'oracle' (the synthetic "
                             "shop's generator as a ceiling) is added to the default list when the data has a "
                             "ground truth")
    models.add_argument("--seeds", default="0", help="comma-separated seeds, e.g. 0,1,2 (mean ± std over them)")
    models.add_argument("--epochs", type=int, default=200, help="maximum epochs of the neural models and BPR")
    models.add_argument("--patience", type=int, default=10,
                        help="stop after this many epochs without a better validation NDCG@10")
    models.add_argument("--dim", type=int, default=64, help="embedding size of every learned model")
    models.add_argument("--max-len", type=int, default=50, help="how many recent items the sequence models read")
    models.add_argument("--batch-size", type=int, default=32, help="training windows per batch")
    models.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate of the sequence models")
    models.add_argument("--lr-for", default="gru4rec=5e-3", metavar="MODEL=LR,...",
                        help="per-model exceptions to --lr ('' for none): the recurrent GRU4Rec needs larger steps "
                             "(measured on ml-latest-small, seed 0: test NDCG@10 0.029 with 2e-3, 0.045 with 5e-3)")
    models.add_argument("--windows", default="all", choices=("all", "last"),
                        help="training windows: 'last' = each user's most recent --max-len steps only; 'all' = the "
                             "older history too, cut into further windows (every training interaction is a target)")
    models.add_argument("--window-stride", type=int, default=25,
                        help="with --windows all: a new training window every this many steps (0 or --max-len: no "
                             "overlap; smaller: overlapping windows, every target also seen with a longer past)")
    models.add_argument("--lr-decay", action=argparse.BooleanOptionalAction, default=True,
                        help="let the learning rate fall linearly to 5 %% of --lr over the time budget (or the epochs)")
    models.add_argument("--negatives", type=int, default=1024,
                        help="sequence models: sampled softmax over this many items drawn by popularity (log q "
                             "corrected); 0 = full softmax over every item (exact, slower on large catalogues)")
    models.add_argument("--time-budget", type=float, default=90.0,
                        help="training seconds allowed per model and seed (0 = no limit); the same for every model")
    models.add_argument("--device", default=None, help="torch device (default: CUDA, then MPS, then CPU)")
    run_group = p.add_argument_group("run")
    run_group.add_argument("--out", metavar="CSV", default=None,
                           help="where to write the CSV (the markdown table goes next to it, .md); "
                                "default results/benchmark_<dataset>.csv")
    run_group.add_argument("--fast", action="store_true",
                           help="a quick check: at most 200 users and their 5-core (the tiny shop for 'shop'), dim 16, 3 epochs")
    run_group.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    run_group.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """Turn parsed options into a :class:`BenchConfig` (fast mode shrinks the sizes)."""
    name = Path(args.interactions).stem if args.interactions else args.dataset
    config = BenchConfig(
        dataset=None if args.interactions else args.dataset,
        interactions=args.interactions,
        items=args.items,
        root=args.root,
        models=_comma_list(args.models),
        seeds=tuple(int(s) for s in _comma_list(args.seeds)),
        epochs=args.epochs,
        patience=args.patience,
        dim=args.dim,
        max_len=args.max_len,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_for=_lr_overrides(args.lr_for),
        all_windows=args.windows == "all",
        negatives=args.negatives or None,
        window_stride=min(args.window_stride, args.max_len) if args.window_stride else None,
        lr_decay=args.lr_decay,
        time_budget=args.time_budget or None,
        min_events=args.min_events,
        shop_size=args.shop_size,
        fast=args.fast,
        device=args.device,
        progress=not args.no_progress,
        out=args.out or f"results/benchmark_{name}{'_fast' if args.fast else ''}.csv",
    )
    if args.items and not args.interactions:
        raise DataError("--items goes with --interactions (your own log); registered datasets bring their items")
    return config


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m hiercourse.bench`` and ``hiercourse-bench``."""
    args = parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    command = "python -m hiercourse.bench " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    try:
        run(config_from_args(args), command=command)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
