"""The notebook harness: record/read_records round trip, the course runner, fast-mode switch."""
from __future__ import annotations

import math

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


def test_the_first_output_names_mode_machine_and_run_time(tmp_path):
    """start_chapter prints the mode and the machine and records fast_mode; the runner appends the run time to
    the parameters cell's output (and only there)."""
    path = _notebook(tmp_path, ["from hiercourse.notebook import start_chapter\nFAST = False",
                                "start_chapter(FAST, 'every user')", "print('later')"])
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].metadata["tags"] = ["parameters"]
    nbformat.write(nb, path)
    result = run.execute(path, tmp_path / "out" / path.name, fast=False)
    assert result.status == "ok"
    executed = nbformat.read(result.output, as_version=4)
    text = "".join(o.get("text", "") for o in executed.cells[1].outputs)
    lines = text.splitlines()
    assert lines[0] == "FULL mode: every user"
    assert lines[1].startswith("machine: ") and "CPU cores" in lines[1] and "torch " in lines[1]
    assert lines[2].startswith(f"this run: `python3 course.py run 01 --full`, {result.seconds:.0f} s for the whole")
    assert "".join(o.get("text", "") for o in executed.cells[2].outputs) == "later\n"
    assert notebook.read_records(result.output) == {"fast_mode": False}


def test_mode_dependent_cells_are_found_the_way_nbval_compares(tmp_path, monkeypatch):
    """scripts/mark_mode_dependent.py tags exactly the code cells whose sanitised outputs differ between a fast
    run and the committed notebook (timings are sanitised, images are not compared)."""
    import importlib.util

    from nbformat.v4 import new_output

    from hiercourse.run import REPO

    spec = importlib.util.spec_from_file_location("mark", REPO / "scripts" / "mark_mode_dependent.py")
    mark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mark)

    def chapter(texts, png):
        cells = [new_code_cell(f"c{i}", outputs=[new_output("stream", name="stdout", text=t)])
                 for i, t in enumerate(texts)]
        cells.append(new_code_cell("plot", outputs=[new_output("display_data", data={"image/png": png,
                                                                                      "text/plain": "<Figure>"})]))
        return new_notebook(cells=cells)

    committed, fast = tmp_path / "notebooks", tmp_path / "fast"
    committed.mkdir(), fast.mkdir()
    nbformat.write(chapter(["same\n", "took 12.5 s\n", "NDCG 0.31\n"], "AAA"), committed / "01_x.ipynb")
    nbformat.write(chapter(["same\n", "took 0.4 s\n", "NDCG 0.12\n"], "BBB"), fast / "01_x.ipynb")
    monkeypatch.setattr(mark, "NOTEBOOKS", committed)
    assert mark.mark(fast / "01_x.ipynb") == [2]  # the metric differs; the timing and the picture do not count
    tags = [c.metadata.get("tags", []) for c in nbformat.read(committed / "01_x.ipynb", as_version=4).cells]
    assert tags == [[], [], [mark.TAG], []]


def test_static_progress_bar_prints_its_finished_line_once(monkeypatch, capsys):
    """$HIERCOURSE_PROGRESS=static: nothing while the bar runs, then one line with the final count and postfix;
    nothing for leave=False or disable=True (a closed live bar leaves nothing either)."""
    monkeypatch.setenv(notebook.PROGRESS_VAR, "static")
    bar = notebook.progress_bar(total=40, desc="epoch 2/2", unit="batch")
    for _ in range(40):
        bar.update(1)
    assert capsys.readouterr().out == ""  # no live updates reach the output
    bar.set_postfix(loss="0.123")
    bar.close()
    bar.close()  # a second close prints nothing more
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("epoch 2/2: 100%") and "40/40" in lines[0] and "loss=0.123" in lines[0]
    assert "batch/s" in lines[0]
    assert list(notebook.progress_bar(range(3), desc="loop")) == [0, 1, 2]  # an iterable closes itself
    assert "3/3" in capsys.readouterr().out
    for kwargs in ({"leave": False}, {"disable": True}):
        assert list(notebook.progress_bar(range(3), **kwargs)) == [0, 1, 2]
        assert capsys.readouterr().out == ""


def test_interactive_progress_bar_is_tqdm_auto(monkeypatch):
    from tqdm.auto import tqdm

    monkeypatch.delenv(notebook.PROGRESS_VAR, raising=False)
    bar = notebook.progress_bar(range(2), disable=True)
    assert type(bar) is tqdm
    assert not notebook.static_progress()


def test_executed_chapter_saves_a_finished_progress_line_not_a_widget(tmp_path):
    """What `python -m hiercourse.run` saves is readable without a widget front-end: '100% ... 5/5', not '0% 0/5'."""
    path = _notebook(tmp_path, [
        "from hiercourse.notebook import progress_bar\nfor _ in progress_bar(range(5), desc='demo', unit='step'):\n"
        "    pass",
    ])
    result = run.execute(path, tmp_path / "out" / path.name, fast=True)
    assert result.status == "ok"
    outputs = nbformat.read(result.output, as_version=4).cells[0].outputs
    assert all(o.output_type == "stream" for o in outputs), outputs
    text = "".join(o.text for o in outputs)
    assert "demo: 100%" in text and "5/5" in text and "0/5" not in text


def test_committed_run_times_read_the_stamp(tmp_path):
    """committed_run_times reads mode, seconds, load and command back from the parameters cell's stamp."""
    from nbformat.v4 import new_output

    cell = new_code_cell("start_chapter(FAST, 'x')", metadata={"tags": ["parameters"]}, outputs=[
        new_output("stream", name="stdout", text="FULL mode: every user\nmachine: x86_64, 2 CPU cores; started 2026\n"),
        new_output("stream", name="stdout", text="this run: `python3 course.py run 03 --full --inplace`, 125 s for the "
                                                 "whole chapter, load average 1.5 (15 min)\n")])
    nbformat.write(new_notebook(cells=[cell]), tmp_path / "03_demo.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), tmp_path / "04_unstamped.ipynb")
    times = run.committed_run_times(tmp_path)
    assert times.loc[0, ["chapter", "mode", "seconds", "load"]].tolist() == ["03_demo", "full", 125.0, 1.5]
    assert times.loc[0, "command"] == "python3 course.py run 03 --full --inplace"
    assert times.loc[0, "machine"] == "x86_64, 2 CPU cores"
    assert math.isnan(times.loc[1, "seconds"])
    table = run.committed_table(tmp_path)
    assert "| 03_demo | full | 125 | 2.1 | 1.5 |" in table and "| **total** | full | nan |" not in table


def test_software_stamp_names_date_and_versions():
    import re

    import torch

    import hiercourse
    from hiercourse.device import software_stamp

    stamp = software_stamp()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d; hiercourse \S+, torch \S+, python \d+\.\d+\.\d+", stamp), stamp
    assert f"hiercourse {hiercourse.__version__}," in stamp and f"torch {torch.__version__}," in stamp
