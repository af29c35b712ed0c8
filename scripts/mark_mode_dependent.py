"""Tag the cells of committed (full-mode) chapters whose outputs depend on the mode, so nbval skips them.

The committed chapters hold full-mode outputs; CI executes them in fast mode and nbval compares each
cell's output with the committed one. Only cells whose output is the same in both modes can be
compared; this script finds the others by comparing a fast-mode run with the committed notebook the
way nbval does (same sanitising rules, same skipped MIME types) and adds the ``nbval-ignore-output``
tag to each cell that differs. Tags it added earlier to cells that now agree stay (removing one is a
reviewer's call). The recorded results of fast mode are asserted separately (tests/test_notebooks.py).

Usage:
    python -m hiercourse.run 07 08 --out build/fast      # fast-mode copies (CI's mode)
    python scripts/mark_mode_dependent.py build/fast/07_*.ipynb build/fast/08_*.ipynb
Each argument is a fast-mode run of the chapter of the same file name in notebooks/.
"""
from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
TAG = "nbval-ignore-output"
BACKSPACE = re.compile("[^\n]\x08")  # nbval's two rules for terminal control characters in streams
CARRIAGE_RETURN = re.compile(r"^.*\r(?=[^\n])", re.M)
# nbval's own skips plus those of conftest.py (pytest_collectstart)
SKIPPED = {"metadata", "traceback", "text/latex", "prompt_number", "output_type", "name", "execution_count",
           "image/png", "image/jpeg", "text/html", "application/vnd.jupyter.widget-view+json",
           "application/vnd.jupyter.widget-state+json"}


def sanitizers(cfg: Path = REPO / "tests" / "nbval_sanitize.cfg") -> list[tuple[re.Pattern, str]]:
    parser = configparser.ConfigParser()
    parser.read(cfg)
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def merged_streams(outputs: list) -> list[dict]:
    """Every stream output of a cell merged into one per stream name, at the first one's place, with backspaces
    and bare carriage returns resolved: what nbval compares (its ``coalesce_streams``), since how a print is split
    into chunks depends on timing."""
    merged: list[dict] = []
    streams: dict[str, dict] = {}
    for output in outputs:
        output = dict(output)
        if output.get("output_type") == "stream":
            if output["name"] in streams:
                streams[output["name"]]["text"] += output["text"]
                continue
            streams[output["name"]] = output
        merged.append(output)
    for output in streams.values():
        text = output["text"]
        while (shorter := BACKSPACE.sub("", text)) != text:
            text = shorter
        output["text"] = CARRIAGE_RETURN.sub("", text)
    return merged


def comparable(outputs: list, rules: list[tuple[re.Pattern, str]]) -> dict[str, list]:
    """The outputs as nbval compares them: by key (MIME types flattened), sanitised."""
    def clean(value):
        if isinstance(value, str):
            for pattern, replace in rules:
                value = pattern.sub(replace, value)
        return value

    found: dict[str, list] = {}
    for output in merged_streams(outputs):
        if output.get("output_type") == "stream":  # nbval keys a stream by its name (stdout, stderr)
            found.setdefault(output["name"], []).append(clean(output["text"]))
            continue
        for key, value in output.items():
            if key in SKIPPED:
                continue
            if key == "data":
                for mime, data in value.items():
                    if mime not in SKIPPED:
                        found.setdefault(mime, []).append(clean(data))
            else:
                found.setdefault(key, []).append(clean(value))
    return found


def mark(fast_run: Path) -> list[int]:
    """Tag the cells of notebooks/<fast_run's name> whose outputs differ from ``fast_run``'s; returns their indices."""
    committed_path = NOTEBOOKS / fast_run.name
    committed, fast = nbformat.read(committed_path, as_version=4), nbformat.read(fast_run, as_version=4)
    if len(committed.cells) != len(fast.cells):
        sys.exit(f"{fast_run} has {len(fast.cells)} cells, {committed_path} {len(committed.cells)}: run it again")
    rules = sanitizers()
    tagged = []
    for index, (ours, theirs) in enumerate(zip(committed.cells, fast.cells)):
        if ours.cell_type != "code":
            continue
        tags = ours.metadata.setdefault("tags", [])
        if TAG in tags:
            continue
        if comparable(ours.outputs, rules) != comparable(theirs.outputs, rules):
            tags.append(TAG)
            tagged.append(index)
        if not tags:
            del ours.metadata["tags"]
    nbformat.write(committed, committed_path)
    return tagged


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for arg in sys.argv[1:]:
        cells = mark(Path(arg))
        print(f"{Path(arg).name}: tagged {len(cells)} cell(s) {cells} as {TAG}")
