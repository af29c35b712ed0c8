"""The course's two editions of every chapter: the instructor's (``notebooks/``) and the student's (``student/``).

Taught in chapter 00.

**Instructor edition**: the chapters themselves. Each exercise is followed by its worked
solution, a code cell tagged ``solution`` whose code is collapsed: in Jupyter by the cell
metadata ``jupyter.source_hidden``, on a Jupyter Book site by the tag ``hide-input``
(:func:`mark_solutions` sets both; the notebook conventions test checks them).

**Student edition**: ``python3 course.py editions`` (``python -m hiercourse.editions``)
writes a copy of every chapter into ``student/``, same file names, in which each solution
cell and its outputs are gone: an empty code cell for the learner's answer and a pointer to
the solution stand in its place. Every other cell keeps its outputs, so a learner sees the
chapter's results before running anything. Pure nbformat: no kernel runs, and the same
chapters always give the same bytes (``--check`` compares, ``tests/test_editions.py`` too).
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

from hiercourse.run import NOTEBOOKS, REPO, chapters, tidy

__all__ = [
    "SOLUTION_TAG", "SITE_HIDE_TAG", "STUDENT", "ANSWER_CELL", "EXERCISE", "is_solution", "mark_solutions",
    "instructor_problems",
    "solution_pointer", "student_notebook", "render", "write_student_edition", "check_student_edition", "main",
]

SOLUTION_TAG = "solution"
#: Jupyter Book's tag for "code collapsed behind a button, outputs shown": the site's twin of ``source_hidden``.
SITE_HIDE_TAG = "hide-input"
STUDENT = REPO / "student"
ANSWER_CELL = "# Your answer"
# an exercise's heading, as the chapters write it: "### Exercise 2", "**Exercise 1 (ties).**", "## 8. Exercises"
EXERCISE = re.compile(r"^(#+\s*|\*\*)\s*(\S+\s+)?exercise", re.I | re.M)


def is_solution(cell) -> bool:
    """True for a worked-solution cell (tagged ``solution``). Taught in chapter 00."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def mark_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Collapse every solution cell's code, in Jupyter (``jupyter.source_hidden``) and on the site
    (tag ``hide-input``); returns ``nb``, changed in place (nothing changes when already so).

    Taught in chapter 00.
    """
    for cell in nb.cells:
        if is_solution(cell):
            cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
            if SITE_HIDE_TAG not in cell.metadata["tags"]:
                cell.metadata["tags"].append(SITE_HIDE_TAG)
    return nb


def instructor_problems(nb: nbformat.NotebookNode) -> list[str]:
    """What keeps ``nb`` from being a proper instructor edition (empty list: nothing).

    Each exercise heading's next code cell must be a solution (an untagged solution would
    leak into the student edition), and every solution must be collapsed
    (:func:`mark_solutions`) and be code. Taught in chapter 00.
    """
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and EXERCISE.search(cell.source):
            following = next((c for c in nb.cells[i + 1:] if c.cell_type == "code"), None)
            if following is None or not is_solution(following):
                problems.append(f"cell {i} (an exercise): the next code cell is not tagged {SOLUTION_TAG!r}")
        if is_solution(cell):
            if cell.cell_type != "code":
                problems.append(f"cell {i}: a solution must be a code cell")
            if not cell.metadata.get("jupyter", {}).get("source_hidden"):
                problems.append(f"cell {i}: a solution without jupyter.source_hidden (mark_solutions)")
            if SITE_HIDE_TAG not in cell.metadata.get("tags", []):
                problems.append(f"cell {i}: a solution without the tag {SITE_HIDE_TAG!r} (mark_solutions)")
    return problems


def solution_pointer(name: str) -> str:
    """The markdown that stands where a solution was in the student edition of chapter file ``name``.

    Taught in chapter 00.
    """
    return (f"**Solution:** in the instructor edition, [`notebooks/{name}`](../notebooks/{name}), "
            "or on the course website.")


def student_notebook(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """The student edition of one chapter (``nb`` is left alone; ``name`` is its file name, for the pointer).

    Each solution cell becomes an empty code cell (``# Your answer``) and a markdown pointer
    (:func:`solution_pointer`); every other cell, its outputs and the notebook's metadata are
    kept as they are, less volatile metadata (``hiercourse.run.tidy``). Taught in chapter 00.
    """
    student = copy.deepcopy(nb)
    cells = []
    for i, cell in enumerate(nb.cells):
        if not is_solution(cell):
            cells.append(copy.deepcopy(cell))
            continue
        stem = cell.get("id") or f"solution-{i}"  # ids derived from the solution's: the same bytes every time
        answer = new_code_cell(ANSWER_CELL)
        answer.id = f"{stem}-answer"
        pointer = new_markdown_cell(solution_pointer(name))
        pointer.id = f"{stem}-pointer"
        cells += [answer, pointer]
    student.cells = cells
    return tidy(student)


def render(nb: nbformat.NotebookNode) -> str:
    """The text of a notebook file, as ``nbformat.write`` makes it. Taught in chapter 00."""
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"


def _editions(source: Path) -> dict[str, str]:
    """File name -> text of the student edition of every chapter in ``source``."""
    return {path.name: render(student_notebook(nbformat.read(path, as_version=4), path.name))
            for path in chapters(folder=source)}


def write_student_edition(out: Path = STUDENT, source: Path = NOTEBOOKS) -> list[Path]:
    """Write the student edition of every chapter of ``source`` into ``out`` and return the paths written.

    A chapter file in ``out`` whose chapter no longer exists is removed, so ``out`` mirrors
    ``source``. Taught in chapter 00.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    editions = _editions(Path(source))
    for stale in chapters(folder=out):
        if stale.name not in editions:
            stale.unlink()
    written = []
    for name, text in editions.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def check_student_edition(out: Path = STUDENT, source: Path = NOTEBOOKS) -> list[str]:
    """The chapter files of ``out`` that differ from a fresh student edition (missing, stale or extra).

    An empty list: ``out`` is up to date. Taught in chapter 00.
    """
    editions = _editions(Path(source))
    present = {path.name: path for path in chapters(folder=Path(out))}
    problems = [f"{name}: missing" for name in editions if name not in present]
    problems += [f"{name}: out of date" for name, text in editions.items()
                 if name in present and present[name].read_text(encoding="utf-8") != text]
    problems += [f"{name}: no such chapter" for name in present if name not in editions]
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m hiercourse.editions [--out DIR] [--check]``: write (or check) the student edition.

    Taught in chapter 00.
    """
    parser = argparse.ArgumentParser(prog="python -m hiercourse.editions", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STUDENT, help="folder of the student edition (default: student/)")
    parser.add_argument("--source", type=Path, default=NOTEBOOKS, help="the chapters (default: notebooks/)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the folder is out of date")
    args = parser.parse_args(argv)
    problems = [f"{args.source / path.name}: {problem}" for path in chapters(folder=args.source)
                for problem in instructor_problems(nbformat.read(path, as_version=4))]
    if problems:  # a solution that is not tagged would be handed to the students
        print("the instructor edition is not ready:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    if args.check:
        stale = check_student_edition(args.out, args.source)
        for line in stale:
            print(line)
        print("student edition out of date: run `python3 course.py editions`" if stale
              else f"{args.out}: up to date")
        return 1 if stale else 0
    for path in write_student_edition(args.out, args.source):
        print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
