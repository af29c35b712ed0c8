"""Static checks of every committed chapter (nbdev-style tidiness), no kernel needed."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from hiercourse.editions import EXERCISE, instructor_problems
from hiercourse.notebook import colab_badge, colab_install_cell, read_records, repository_url
from hiercourse.run import chapters

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = chapters()


def _pyproject_url() -> str:
    """The course's public address from pyproject.toml itself (its one home), not through the package."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+; the course's .venv has it")
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def _load(path):
    return nbformat.read(path, as_version=4)


#: The appendix's number, fixed whichever chapters precede it (ask before renumbering).
APPENDIX = "14"


def _tags(cell):
    return set(cell.get("metadata", {}).get("tags", []))


def test_the_readme_lists_every_chapter_in_order():
    """The README's chapter table links exactly the chapter notebooks there are, numbered 00, 01, ... without gaps."""
    readme = (REPO / "README.md").read_text()
    linked = re.findall(r"\]\((notebooks/\d\d_[^)]+\.ipynb)\)", readme)
    assert linked == [p.relative_to(REPO).as_posix() for p in CHAPTERS]
    # the appendix is numbered 14 whatever comes before it; the others count up from 00 without gaps
    numbers = [int(p.name[:2]) for p in CHAPTERS if p.name[:2] != APPENDIX]
    assert numbers == list(range(len(numbers)))
    assert len(CHAPTERS) >= 10  # the course's ten chapters (00-09)


def test_the_package_reads_the_course_address_from_pyproject():
    assert repository_url() == _pyproject_url()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_opens_with_the_colab_badge_and_install_cell_of_the_course_address(path):
    """Badge and install cell agree with pyproject.toml; `python3 course.py set-repo URL` rewrites both."""
    nb = _load(path)
    url = _pyproject_url()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert nb.cells[0].source.split("\n")[0] == colab_badge(path.name, url), (
        f"the first line of the first cell must be the Open in Colab badge for {url} (course.py set-repo {url})"
    )
    assert code[0].source == colab_install_cell(url), f"first code cell must be the Colab install cell for {url}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_committed_records_meet_the_notebook_tests(path):
    """The ranges and orderings tests/test_notebooks.py asserts on a fresh run hold the committed run's
    records, their source (no kernel needed: the quick tier catches a stale range)."""
    from test_notebooks import check_records

    records = read_records(path)
    check_records(path.stem, records)
    # committed outputs are the learner's default, full mode, made by `python3 course.py run --full --inplace`
    mode = records.get("fast_mode")
    assert mode is False, f"{path.name} is not committed in full mode (fast_mode={mode!r})"
    params = next(c for c in _load(path).cells if "parameters" in _tags(c))
    text = "".join(o.get("text", "") for o in params.get("outputs", []))
    assert "machine:" in text and "for the whole chapter" in text, (
        f"{path.name}: the first output names mode, machine and run time (hiercourse.run stamps it)")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_follows_course_conventions(path):
    nb = _load(path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    params = [c for c in code if "parameters" in _tags(c)]
    assert len(params) == 1 and "FAST" in params[0].source, "one `parameters` cell that sets FAST"
    intro = nb.cells[0].source.lower()
    assert nb.cells[0].cell_type == "markdown" and "objective" in intro and "run time" in intro
    exercises = [c for c in nb.cells if c.cell_type == "markdown" and EXERCISE.search(c.source)]
    solutions = [c for c in code if "solution" in _tags(c)]
    assert len(exercises) >= 3 and len(solutions) >= 3, f"{len(exercises)} exercises, {len(solutions)} solutions"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    assert "papermill" not in nb.metadata and "widgets" not in nb.metadata


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_is_followed_by_its_tagged_collapsed_solution(path):
    """The instructor edition: each exercise's next code cell is its worked solution, tagged `solution` (what the
    student edition drops) and collapsed in Jupyter (`source_hidden`) and on the site (tag `hide-input`)."""
    assert instructor_problems(_load(path)) == []


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


def test_the_readme_run_time_table_is_the_committed_chapters_stamps():
    """The README's run-time table is what `python3 course.py run --committed` reads from the committed chapters'
    first outputs (hiercourse.run stamps them), so it cannot drift from the notebooks; every chapter is full mode
    and within the 10-minute limit of a chapter."""
    from hiercourse.run import committed_run_times, committed_table

    times = committed_run_times()
    assert (times["mode"] == "full").all(), times[times["mode"] != "full"]
    assert times["seconds"].notna().all() and (times["seconds"] <= 600).all(), times
    assert committed_table() in (REPO / "README.md").read_text(), (
        "README's run-time table is stale: paste `python3 course.py run --committed` into it")
