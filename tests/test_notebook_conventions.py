"""Static checks of every committed chapter (nbdev-style tidiness), no kernel needed."""
from __future__ import annotations

import re

import nbformat
import pytest

from hiercourse.notebook import COLAB_INSTALL_CELL, read_records
from hiercourse.run import chapters

CHAPTERS = chapters()


def _load(path):
    return nbformat.read(path, as_version=4)


def _tags(cell):
    return set(cell.get("metadata", {}).get("tags", []))


def test_all_ten_chapters_exist():
    assert [p.name[:2] for p in CHAPTERS] == [f"{i:02d}" for i in range(10)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_follows_course_conventions(path):
    nb = _load(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.strip() == COLAB_INSTALL_CELL.strip(), "first code cell must be the Colab install cell"
    params = [c for c in code if "parameters" in _tags(c)]
    assert len(params) == 1 and "FAST" in params[0].source, "one `parameters` cell that sets FAST"
    intro = nb.cells[0].source.lower()
    assert nb.cells[0].cell_type == "markdown" and "objective" in intro and "run time" in intro
    exercises = [c for c in nb.cells if c.cell_type == "markdown" and re.search(r"^(#+\s*|\*\*)\s*(\S+\s+)?exercise", c.source, re.I | re.M)]
    solutions = [c for c in code if "solution" in _tags(c)]
    assert len(exercises) >= 3 and len(solutions) >= 3, f"{len(exercises)} exercises, {len(solutions)} solutions"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert "papermill" not in nb.metadata and "widgets" not in nb.metadata


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_committed_executed_without_errors(path):
    nb = _load(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "every code cell executed (run `course.py run --inplace`)"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, "committed with an error output"
    assert read_records(path), "no recorded results in the committed outputs"
    assert any(
        "image/png" in o.get("data", {}) for c in code for o in c.get("outputs", [])
    ), "a chapter shows at least one plot"
