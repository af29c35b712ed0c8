"""The course's main job: execute every chapter and print a table of run times.

``python -m hiercourse.run`` (or ``python3 course.py run``) executes each notebook
in ``notebooks/`` in a fresh kernel, in fast mode by default, into ``build/``,
and prints one row per chapter: run time and status. ``--full`` runs the
learner's full mode; ``--inplace`` writes the executed notebooks back into
``notebooks/`` (how the committed outputs are made). Taught in chapter 00.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

from hiercourse.notebook import PROGRESS_VAR

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
BUILD = REPO / "build"


@dataclass
class ChapterRun:
    """One executed chapter: its name (notebook stem), run ``seconds``, ``status``
    ("ok" or a one-line reason) and the ``output`` notebook's path. Taught in chapter 00."""

    chapter: str
    seconds: float
    status: str  # "ok" or a one-line reason
    output: Path


def chapters(selection: list[str] | None = None, folder: Path = NOTEBOOKS) -> list[Path]:
    """Chapter notebook paths in order; ``selection`` (e.g. ["02", "06"]) keeps those whose name starts
    with one of its items.

    Taught in chapter 00.
    """
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if selection:
        found = [p for p in found if any(p.name.startswith(s) for s in selection)]
    return found


def tidy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop volatile metadata (execution timings, widget state) so commits diff cleanly;
    returns ``nb``, changed in place.

    Taught in chapter 00.
    """
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    return nb


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    """The chapter's cell tagged ``parameters`` (its first output is the stamp), or None. Taught in chapter 00."""
    return next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)


def stamp_run_time(nb: nbformat.NotebookNode, seconds: float, command: str) -> None:
    """Append the chapter's total run time, the ``command`` that made it and the machine's load to the output of
    its ``parameters`` cell (which names the mode and the machine: ``hiercourse.notebook.start_chapter``), so a
    reader of the committed notebook sees what made it and how long it took. Changes ``nb`` in place.
    Taught in chapter 00.
    """
    params = parameters_cell(nb)
    if params is None:
        return
    load = f", load average {os.getloadavg()[2]:.1f} (15 min)" if hasattr(os, "getloadavg") else ""
    params.setdefault("outputs", []).append(nbformat.v4.new_output(
        "stream", name="stdout", text=f"this run: `{command}`, {seconds:.0f} s for the whole chapter{load}\n"))


def execute(path: Path, out: Path, *, fast: bool = True, timeout: int = 900) -> ChapterRun:
    """Execute one chapter in a fresh kernel (cwd = its folder) and write it to ``out``.

    ``fast`` sets ``$HIERCOURSE_FAST``; ``$HIERCOURSE_PROGRESS=static`` makes progress bars print their
    finished line instead of a widget (``hiercourse.notebook.progress_bar``); ``timeout`` is in seconds per
    cell. A failed chapter is never written over the committed notebook (it goes to ``build/``).
    Returns a :class:`ChapterRun`. Taught in chapter 00.
    """
    nb = nbformat.read(path, as_version=4)
    os.environ["HIERCOURSE_FAST"] = "1" if fast else "0"  # the parameters cell reads it
    # a saved widget shows only its first state ("0%") in static viewers: progress bars print their finished line
    os.environ[PROGRESS_VAR] = "static"
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    status = "ok"
    try:
        client.execute()
    except CellTimeoutError:
        status = f"timeout after {timeout} s"
    except CellExecutionError as err:
        last = [line for line in str(err).strip().splitlines() if line.strip()]
        status = "error: " + (last[-1][:120] if last else "cell failed")
    seconds = time.perf_counter() - start
    if status == "ok":
        inplace = " --inplace" if out.resolve() == path.resolve() else ""
        stamp_run_time(nb, seconds, f"python3 course.py run {path.name[:2]}{'' if fast else ' --full'}{inplace}")
    if status != "ok" and out.resolve() == path.resolve():
        out = BUILD / path.name  # never save a chapter with an error output over the committed one
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(tidy(nb), out)
    return ChapterRun(path.stem, seconds, status, out)


def table(runs: list[ChapterRun], fast: bool) -> str:
    """A Markdown table (str) of ``runs``: one row per chapter (mode, seconds, status) and a total row.

    Taught in chapter 00.
    """
    mode = "fast" if fast else "full"
    rows = ["| chapter | mode | seconds | status |", "|---|---|---:|---|"]
    rows += [f"| {r.chapter} | {mode} | {r.seconds:.1f} | {r.status} |" for r in runs]
    total = sum(r.seconds for r in runs)
    rows.append(f"| **total** | {mode} | {total:.1f} | {sum(r.status == 'ok' for r in runs)}/{len(runs)} ok |")
    return "\n".join(rows)


STAMP = re.compile(r"this run: `(?P<command>[^`]+)`, (?P<seconds>\d+) s for the whole chapter"
                   r"(?:, load average (?P<load>[\d.]+) \(15 min\))?")


def committed_run_times(folder: Path = NOTEBOOKS) -> pd.DataFrame:
    """What made each committed chapter, read from the stamp :func:`stamp_run_time` left in its first output:
    one row per chapter (``chapter``, ``mode``, ``seconds``, ``load``: the 15-minute load average when it
    finished, ``command``, ``machine``). A chapter without a stamp has NaN seconds. Taught in chapter 00.
    """
    rows = []
    for path in chapters(folder=folder):
        nb = nbformat.read(path, as_version=4)
        params = parameters_cell(nb)
        text = "".join(o.get("text", "") for o in (params.get("outputs", []) if params else []))
        stamp = STAMP.search(text)
        machine = re.search(r"^machine: (.*?); started", text, re.M)
        rows.append({"chapter": path.stem, "mode": text.split(" mode:", 1)[0].lower() if " mode:" in text else None,
                     "seconds": float(stamp["seconds"]) if stamp else float("nan"),
                     "load": float(stamp["load"]) if stamp and stamp["load"] else float("nan"),
                     "command": stamp["command"] if stamp else None,
                     "machine": machine.group(1) if machine else None})
    return pd.DataFrame(rows)


def committed_table(folder: Path = NOTEBOOKS) -> str:
    """The README's run-time table: :func:`committed_run_times` as Markdown, minutes beside seconds, and a total
    row. ``python -m hiercourse.run --committed`` prints it. Taught in chapter 00.
    """
    times = committed_run_times(folder)
    rows = ["| chapter | mode | seconds | minutes | load average (15 min) |", "|---|---|---:|---:|---:|"]
    rows += [f"| {r.chapter} | {r.mode} | {r.seconds:.0f} | {r.seconds / 60:.1f} | {r.load:.1f} |"
             for r in times.itertuples()]
    total = times["seconds"].sum()
    rows.append(f"| **total** | {'/'.join(sorted(set(times['mode'].dropna())))} | {total:.0f} | {total / 60:.1f} | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """``python -m hiercourse.run [chapters] [--full] [--inplace] [--out DIR] [--timeout S]``.

    ``argv`` defaults to the command line. Returns the exit status: 0 when every
    chapter ran. Taught in chapter 00.
    """
    parser = argparse.ArgumentParser(prog="python -m hiercourse.run", description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter prefixes to run, e.g. 02 06 (default: all)")
    parser.add_argument("--full", action="store_true", help="full mode (the learner's default) instead of fast mode")
    parser.add_argument("--inplace", action="store_true", help="write executed notebooks back into notebooks/")
    parser.add_argument("--out", type=Path, default=BUILD, help="folder for executed notebooks (default: build/)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell before giving up")
    parser.add_argument("--committed", action="store_true",
                        help="run nothing: print the run times stamped in the committed chapters (the README's table)")
    args = parser.parse_args(argv)
    if args.committed:
        print(committed_table())
        return 0

    paths = chapters(args.chapters)
    if not paths:
        parser.error(f"no chapter matches {args.chapters} in {NOTEBOOKS}")
    fast = not args.full
    runs = []
    for path in paths:
        out = path if args.inplace else args.out / path.name
        print(f"running {path.name} ({'fast' if fast else 'full'} mode) ...", flush=True)
        run = execute(path, out, fast=fast, timeout=args.timeout)
        print(f"  {run.status} in {run.seconds:.1f} s -> "
              f"{run.output.relative_to(REPO) if run.output.is_relative_to(REPO) else run.output}", flush=True)
        runs.append(run)
    print()
    print(table(runs, fast))
    return 0 if all(r.status == "ok" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
