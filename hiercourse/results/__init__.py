"""The benchmark's tables, shipped with the package: list them, load one, read how it was made.

Taught in chapter 09.

Each table is two files in this folder (``hiercourse/results/``): a CSV with one row per
model and seed, written by ``python -m hiercourse.bench``, and beside it a markdown file of
the same name, its provenance (the command that made it, the date, the machine and its
load, the data and the recipe, then the table of means ± std over seeds). They are package
data (pyproject.toml's ``[tool.setuptools.package-data]``), so chapter 09 reads them the same
way from a checkout, on Colab and after ``pip install``. The benchmark writes here by default
(``--out``), so a new run replaces the table it reproduces.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from hiercourse.errors import DataError
from hiercourse.evaluation import within_noise

__all__ = ["RESULTS_DIR", "compare_runs", "list_results", "load_results", "markdown_frame", "results_provenance",
           "scale_table", "slice_summary", "compare_slices"]

#: The folder holding the tables (inside the installed package).
RESULTS_DIR = Path(__file__).resolve().parent


def _csv_path(name: str | os.PathLike) -> Path:
    """The CSV of a table: a name in ``RESULTS_DIR`` (``"benchmark_shop"``, ``.csv`` optional) or a path."""
    path = Path(name)
    if path.suffix != ".csv":
        path = path.with_name(path.name + ".csv")
    if path.parent == Path("."):
        path = RESULTS_DIR / path.name
    if not path.is_file():
        raise DataError(
            f"no benchmark table {str(name)!r} (looked for {path}); the package ships "
            f"{', '.join(list_results()) or 'none'}; a table you made is read by its path "
            "(the CSV that `python -m hiercourse.bench --out` wrote)"
        )
    return path


def list_results() -> list[str]:
    """The names of the tables in the package (``["benchmark_ml-latest-small", ...]``), sorted.

    Each name is what :func:`load_results` and :func:`results_provenance` take. Taught in chapter 09.
    """
    return sorted(path.stem for path in RESULTS_DIR.glob("*.csv"))


def load_results(name: str | os.PathLike) -> pd.DataFrame:
    """The runs of one benchmark table: one row per model and seed (``hiercourse.bench.CSV_COLUMNS`` first).

    ``name`` is a table of the package (one of :func:`list_results`, e.g. ``"benchmark_shop"``;
    ``.csv`` may be added) or the path of a CSV the benchmark wrote elsewhere. Unknown names
    raise ``DataError`` listing the tables there are. ``hiercourse.bench.markdown_table(runs)``
    turns the frame into the mean ± std table. Taught in chapter 09.
    """
    return pd.read_csv(_csv_path(name))


def results_provenance(name: str | os.PathLike) -> str:
    """The markdown written beside a table (same name, ``.md``): command, date, machine, data, recipe, table.

    ``name`` as for :func:`load_results`. Taught in chapter 09.
    """
    markdown = _csv_path(name).with_suffix(".md")
    if not markdown.is_file():
        raise DataError(f"{markdown} is missing: the benchmark writes it beside the CSV; re-run the command "
                        "that made the table")
    return markdown.read_text(encoding="utf-8")


def compare_runs(runs: pd.DataFrame, a: str, b: str, metric: str = "ndcg@10") -> dict:
    """Model ``a`` minus model ``b`` on ``metric``, seed by seed, with its standard error.

    In: a table shaped like :func:`load_results`'s (columns ``model``, ``seed``, ``metric``),
    two model names it holds. The seeds both models ran are paired (same data and split,
    different initialisation). Out: ``{"a", "b", "metric", "seeds", "mean_a", "mean_b",
    "difference", "se", "noise"}``: the mean difference, its standard error (sample std of
    the per-seed differences / sqrt(seeds); 0 for deterministic models, NaN for one seed)
    and ``noise`` from ``hiercourse.evaluation.within_noise`` (``|difference| <= 2 se``: the
    course's reading). Unknown models or metrics raise ``DataError``. Taught in chapter 14.
    """
    if metric not in runs.columns:
        raise DataError(f"no column {metric!r}; the table has {', '.join(map(str, runs.columns))}")
    per_seed = runs.pivot_table(index="seed", columns="model", values=metric)
    missing = [m for m in (a, b) if m not in per_seed.columns]
    if missing:
        raise DataError(f"no runs of {', '.join(missing)}; the table has {', '.join(per_seed.columns)}")
    both = pd.concat([per_seed[a], per_seed[b]], axis=1, keys=["a", "b"]).dropna()
    if both.empty:
        raise DataError(f"{a} and {b} share no seed")
    diff = both["a"] - both["b"]
    n = len(diff)
    se = float(diff.std(ddof=1) / n ** 0.5) if n > 1 else float("nan")
    mean = float(diff.mean())
    return {"a": a, "b": b, "metric": metric, "seeds": n, "mean_a": float(both["a"].mean()),
            "mean_b": float(both["b"].mean()), "difference": mean, "se": se,
            "noise": within_noise(mean, se)}


def _slice_columns(runs: pd.DataFrame, metric: str) -> dict[str, str]:
    """``{slice: column}`` of the benchmark's slice columns (``<metric> [<slice>]``), then ``{"all": metric}``."""
    prefix = f"{metric} ["
    slices = {c[len(prefix):-1]: c for c in runs.columns if c.startswith(prefix)}
    if not slices:
        raise DataError(f"the table has no {prefix}...] columns: run the benchmark with --by count or --new-items")
    return slices | {"all": metric}


def compare_slices(runs: pd.DataFrame, a: str, b: str, metric: str = "ndcg@10") -> pd.DataFrame:
    """:func:`compare_runs` of ``a`` minus ``b`` on every slice column of the table and overall ("all"): one row
    per slice with ``users``, ``mean_a``, ``mean_b``, ``difference``, ``se``, ``noise``. Taught in chapter 08."""
    rows = {}
    for name, column in _slice_columns(runs, metric).items():
        c = compare_runs(runs, a, b, metric=column)
        users = runs[f"users [{name}]"].iloc[0] if name != "all" else runs["n_users"].iloc[0]
        rows[name] = {"users": int(users)} | {k: c[k] for k in ("mean_a", "mean_b", "difference", "se", "noise")}
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "slice"
    return frame


def slice_summary(runs: pd.DataFrame, models=None, metric: str = "ndcg@10") -> pd.DataFrame:
    """The benchmark's slice columns (``--by``, ``--new-items``) as one row per slice: ``n_users``, then
    ``<model>`` (mean over seeds) and ``<model> se`` (standard error over seeds: sample std / sqrt(seeds))
    per model, plus an "all" row (the overall metric). The shape ``plots.challenges.plot_slices`` draws.
    ``models``: which models, in that order (default: the table's). Taught in chapter 08.
    """
    slices = _slice_columns(runs, metric)
    models = list(pd.unique(runs["model"])) if models is None else list(models)
    missing = [m for m in models if m not in set(runs["model"])]
    if missing:
        raise DataError(f"no runs of {', '.join(missing)}; the table has {', '.join(pd.unique(runs['model']))}")
    rows = {}
    for name, column in slices.items():
        users = runs[f"users [{name}]"].iloc[0] if name != "all" else runs["n_users"].iloc[0]
        row = rows.setdefault(name, {"n_users": int(users)})
        for model in models:
            values = runs.loc[runs["model"] == model, column].dropna()
            row[model] = float(values.mean())
            row[f"{model} se"] = float(values.std(ddof=1) / len(values) ** 0.5) if len(values) > 1 else float("nan")
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "slice"
    return frame


def compare_variants(runs: pd.DataFrame, baseline: str = "sasrec", reference=None,
                     metric: str = "ndcg@10") -> pd.DataFrame:
    """A 3-seed table read model by model: one row per model (``baseline`` first, then the table's order) with
    ``mean`` and ``se`` of ``metric`` over its seeds, ``ratio`` (mean / the baseline's mean), the seed-paired
    difference (:func:`compare_runs`) against the baseline, ``minus baseline``, and against
    ``reference(model)``, ``minus reference`` (the plain model a variant changes; ``reference`` a function of the
    model's name, None: no second comparison), each as ``"+0.0123 ± 0.0045"`` with " (noise)" where it is within
    2 standard errors ("" for a model against itself), and ``epochs`` (mean) where the table records them.
    Taught in chapter 08."""
    if metric not in runs.columns:
        raise DataError(f"no column {metric!r}; the table has {', '.join(map(str, runs.columns))}")
    models = list(pd.unique(runs["model"]))
    if baseline not in models:
        raise DataError(f"no runs of {baseline}; the table has {', '.join(models)}")

    def versus(model: str, other: str | None) -> str:
        if other is None or other == model:
            return ""
        c = compare_runs(runs, model, other, metric)
        return f"{c['difference']:+.4f} ± {c['se']:.4f}" + (" (noise)" if c["noise"] else "")

    base = runs.loc[runs["model"] == baseline, metric].mean()
    rows = []
    for model in [baseline] + [m for m in models if m != baseline]:
        values = runs.loc[runs["model"] == model, metric]
        row = {"model": model, "mean": values.mean(), "se": values.sem(), "ratio": values.mean() / base,
               "minus baseline": versus(model, baseline),
               "minus reference": "" if reference is None or model == baseline else versus(model, reference(model))}
        if "epochs" in runs.columns:
            row["epochs"] = runs.loc[runs["model"] == model, "epochs"].mean()
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def learned_prior_weights(runs: pd.DataFrame, model: str) -> tuple[dict[str, float], int]:
    """The learned weight of each level's prior (``prior_weight/<level>`` columns, written by the benchmark for a
    model with ``learned_prior_weight``) averaged over the seeds of ``model`` (its rows, or those whose name starts
    with it, e.g. a renamed "... (learned tree)"): ``({level: mean}, seeds that recorded them)``.
    Taught in chapter 08."""
    part = runs.loc[runs["model"].str.startswith(model)]
    columns = [c for c in part.columns if c.startswith("prior_weight/") and part[c].notna().any()]
    if part.empty or not columns:
        raise DataError(f"no learned prior weights of {model} in the table (prior_weight/<level> columns): the "
                        "benchmark records them for a model with learned_prior_weight")
    return ({c.split("/", 1)[1]: float(part[c].mean()) for c in columns}, int(part[columns[0]].notna().sum()))


def _cell(text: str):
    """A markdown cell as a number where it is one ("1,234" -> 1234.0, "1.84x" -> 1.84, "12.5 %" -> 12.5), else
    the text; "–" or "" -> NaN."""
    text = text.strip()
    if text in ("", "–", "-"):
        return float("nan")
    try:
        return float(text.replace(",", "").removesuffix("x").removesuffix("%").strip())
    except ValueError:
        return text


def markdown_frame(text: str) -> pd.DataFrame:
    """The first markdown table (``| a | b |`` lines) of ``text`` as a frame, numbers parsed.

    Thousands separators, a trailing ``x`` (speed-ups) or ``%`` are dropped from numbers; ``–`` is
    NaN; other cells stay text. ``DataError`` when ``text`` holds no table. Taught in chapter 13.
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if start is None or start + 1 >= len(lines) or not set(lines[start + 1].replace("|", "").strip()) <= set("-: "):
        raise DataError("no markdown table (a header line, then a |---| line) in the text")
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return pd.DataFrame([[_cell(c) for c in row] for row in rows[2:]], columns=rows[0])


def scale_table(name: str) -> tuple[pd.DataFrame, str]:
    """``(table, provenance)`` of one of chapter 13's measurements in ``RESULTS_DIR / "scale"``
    (``"workers_speedup"``, ``"big_log"``): the markdown file's first table (:func:`markdown_frame`)
    and the whole file. Taught in chapter 13.
    """
    path = RESULTS_DIR / "scale" / f"{name}.md"
    if not path.is_file():
        known = sorted(p.stem for p in (RESULTS_DIR / "scale").glob("*.md"))
        raise DataError(f"no table {name!r} in {path.parent}; there are {', '.join(known) or 'none'}")
    text = path.read_text(encoding="utf-8")
    return markdown_frame(text), text
