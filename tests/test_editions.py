"""The student edition (``student/``): every solution gone, everything else kept, and committed up to date."""
from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from hiercourse.editions import (
    ANSWER_CELL,
    SITE_HIDE_TAG,
    STUDENT,
    check_student_edition,
    instructor_problems,
    is_solution,
    main,
    mark_solutions,
    solution_pointer,
    student_notebook,
    write_student_edition,
)
from hiercourse.run import NOTEBOOKS, chapters

CHAPTERS = chapters()


def _toy() -> nbformat.NotebookNode:
    """An exercise, its solution (with an output and collapsed), then a teaching cell with an output."""
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    solution = new_code_cell("answer = 6 * 7\nprint(answer)", execution_count=2,
                             outputs=[new_output("stream", name="stdout", text="42\n")],
                             metadata={"tags": ["solution"], "jupyter": {"source_hidden": True}})
    nb.cells = [
        new_markdown_cell("### Exercise 1\n\nWhat is six times seven?"),
        solution,
        new_code_cell("1 + 1", execution_count=3, outputs=[new_output("execute_result", data={"text/plain": "2"},
                                                                      execution_count=3)]),
    ]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell{i}"
    return nb


def test_a_solution_becomes_an_answer_cell_and_a_pointer():
    nb = _toy()
    before = nbformat.writes(nb)
    student = student_notebook(nb, "07_x.ipynb")
    assert nbformat.writes(nb) == before, "the instructor's notebook is left alone"
    assert [(c.cell_type, c.id) for c in student.cells] == [
        ("markdown", "cell0"), ("code", "cell1-answer"), ("markdown", "cell1-pointer"), ("code", "cell2")]
    answer, pointer = student.cells[1], student.cells[2]
    assert answer.source == ANSWER_CELL and answer.outputs == [] and answer.execution_count is None
    assert answer.metadata == {} and pointer.metadata == {}
    assert pointer.source == solution_pointer("07_x.ipynb")
    assert "notebooks/07_x.ipynb" in pointer.source and "instructor edition" in pointer.source
    assert student.cells[3] == nb.cells[2], "a teaching cell keeps its output"
    assert student.metadata == nb.metadata
    nbformat.validate(student)


def test_instructor_problems_find_an_untagged_or_uncollapsed_solution():
    nb = _toy()
    assert instructor_problems(nb) == [f"cell 1: a solution without the tag {SITE_HIDE_TAG!r} (mark_solutions)"]
    assert instructor_problems(mark_solutions(nb)) == []
    assert nb.cells[1].metadata.tags == ["solution", SITE_HIDE_TAG]
    nb.cells[1].metadata = {}  # an exercise whose worked solution is not tagged would reach the students
    assert instructor_problems(nb) == ["cell 0 (an exercise): the next code cell is not tagged 'solution'"]


def _lines(cells) -> set[str]:
    return {line.strip() for cell in cells for line in cell.source.splitlines()}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_solution_survives_in_the_student_edition(path):
    source = nbformat.read(path, as_version=4)
    student = nbformat.read(STUDENT / path.name, as_version=4)
    solutions = [c for c in source.cells if is_solution(c)]
    assert len(solutions) >= 3
    assert not [c for c in student.cells if is_solution(c) or c.metadata.get("jupyter", {}).get("source_hidden")]
    sources = "\n".join(c.source for c in student.cells)
    for solution in solutions:
        assert solution.source.strip() not in sources
    # no line of a solution either, unless a teaching cell of the chapter has that line too (`import torch`)
    leaked = _lines(solutions) & _lines(student.cells) - _lines(c for c in source.cells if not is_solution(c))
    assert not leaked - {""}, f"lines of a solution in the student edition: {sorted(leaked)}"
    kept = {json.dumps(o, sort_keys=True) for c in student.cells for o in c.get("outputs", [])}
    for solution in solutions:
        for output in solution.get("outputs", []):
            assert json.dumps(output, sort_keys=True) not in kept, "a solution's output is in the student edition"
    pointers = [c for c in student.cells if c.cell_type == "markdown" and c.source == solution_pointer(path.name)]
    assert len(pointers) == len(solutions)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_student_edition_keeps_every_other_cell_with_its_outputs(path):
    source = nbformat.read(path, as_version=4)
    student = nbformat.read(STUDENT / path.name, as_version=4)
    added = {c.id for c in student.cells if c.id.endswith(("-answer", "-pointer"))}
    assert [c for c in student.cells if c.id not in added] == [c for c in source.cells if not is_solution(c)]
    assert student.metadata == source.metadata and set(student.metadata) <= {"kernelspec", "language_info"}


def test_the_committed_student_edition_is_up_to_date(tmp_path):
    """Regenerated into tmp, byte for byte the committed ``student/`` (same files, no others)."""
    written = write_student_edition(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in CHAPTERS)
    committed = sorted(p.name for p in STUDENT.glob("*.ipynb"))
    assert committed == sorted(p.name for p in written), "student/ holds other files: run `python3 course.py editions`"
    stale = [p.name for p in written if p.read_bytes() != (STUDENT / p.name).read_bytes()]
    assert not stale, f"student/ is out of date for {stale}: run `python3 course.py editions`"


def test_the_command_writes_checks_and_removes_a_chapter_that_is_gone(tmp_path, capsys):
    out = tmp_path / "student"
    assert main(["--out", str(out)]) == 0
    assert main(["--out", str(out), "--check"]) == 0
    (out / CHAPTERS[0].name).write_text("{}")
    (out / "99_gone.ipynb").write_text("{}")
    assert main(["--out", str(out), "--check"]) == 1
    assert check_student_edition(out, NOTEBOOKS) == [f"{CHAPTERS[0].name}: out of date",
                                                     "99_gone.ipynb: no such chapter"]
    assert main(["--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in CHAPTERS)
    assert check_student_edition(out, NOTEBOOKS) == []
    assert "up to date" in capsys.readouterr().out
