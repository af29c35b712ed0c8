"""The notebook harness: record/read_records round trip, the course runner, fast-mode switch."""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from hiercourse import notebook, run


def _notebook(tmp_path, source):
    nb = new_notebook(cells=[new_code_cell(s) for s in source])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "01_demo.ipynb"
    nbformat.write(nb, path)
    return path


def test_records_survive_execution_and_fast_mode_reaches_kernel(tmp_path):
    path = _notebook(tmp_path, [
        "from hiercourse.notebook import record, fast_mode",
        "record('answer', 42)\nrecord('fast', fast_mode(False))\nrecord('scores', {'ndcg': 0.5})",
    ])
    result = run.execute(path, tmp_path / "out" / path.name, fast=True)
    assert result.status == "ok"
    records = notebook.read_records(result.output)
    assert records == {"answer": 42, "fast": True, "scores": {"ndcg": 0.5}}


def test_failing_chapter_reports_error_and_never_overwrites_source(tmp_path, monkeypatch):
    monkeypatch.setattr(run, "BUILD", tmp_path / "build")
    path = _notebook(tmp_path, ["1 / 0"])
    before = path.read_text()
    result = run.execute(path, path, fast=True)
    assert result.status.startswith("error") and "ZeroDivisionError" in result.status
    assert path.read_text() == before
    assert result.output == tmp_path / "build" / path.name
    table = run.table([result], fast=True)
    assert "01_demo" in table and "0/1 ok" in table


def test_fast_mode_reads_environment(monkeypatch):
    monkeypatch.delenv("HIERCOURSE_FAST", raising=False)
    assert notebook.fast_mode(False) is False
    monkeypatch.setenv("HIERCOURSE_FAST", "1")
    assert notebook.fast_mode(False) is True
    monkeypatch.setenv("HIERCOURSE_FAST", "0")
    assert notebook.fast_mode(True) is False


def test_record_rejects_values_json_cannot_hold():
    with pytest.raises(TypeError):
        notebook.record("bad", object())


def test_chapters_are_numbered_notebooks_in_numeric_order(tmp_path):
    """chapters() on a folder holding chapters, look-alikes and checkpoints: only NN_*.ipynb, by number."""
    for name in ("10_last.ipynb", "02_b.ipynb", "01_a.ipynb", "00_start.ipynb", "README.ipynb", "3_short.ipynb",
                 "02_notes.md", "scratch.ipynb"):
        (tmp_path / name).write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "01_a-checkpoint.ipynb").write_text("{}")
    found = [p.name for p in run.chapters(folder=tmp_path)]
    assert found == ["00_start.ipynb", "01_a.ipynb", "02_b.ipynb", "10_last.ipynb"]
    assert [p.name for p in run.chapters(["01", "10"], folder=tmp_path)] == ["01_a.ipynb", "10_last.ipynb"]
    assert run.chapters(["99"], folder=tmp_path) == []
