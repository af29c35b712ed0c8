"""Docs that are true: every public function and class names the chapter that teaches it,
and ``docs/design.md`` has a row for every module of the package.

- Every public function or class (name not starting with ``_``) *defined* in a module of
  ``hiercourse`` (``obj.__module__`` is that module) has a docstring with
  "Taught in chapter NN", NN a chapter that exists (``notebooks/NN_*.ipynb``).
- Any "chapter NN" a docstring mentions (module, function, class or method) exists.
- ``docs/design.md`` has a table row whose first cell names each module
  (``hiercourse/<path>.py``, or a package folder ``hiercourse/<package>/`` holding it),
  and every path a row names exists.

The tests are parametrised per module, so a failure names the module to fix.
``python tests/test_docstrings.py`` prints every violation as Markdown (how
DOC_VIOLATIONS.md is made).
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python tests/test_docstrings.py` from anywhere
    sys.path.insert(0, str(REPO))

import hiercourse  # noqa: E402

DESIGN = REPO / "docs" / "design.md"
#: Chapters that exist: "07" for notebooks/07_encoding_user_interests.ipynb.
CHAPTERS = frozenset(p.name[:2] for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TAUGHT = re.compile(r"Taught in chapter (\d\d)(?!\d)")
# "chapter 05", "chapters 04 and 05", "chapters 01, 03, 07 and 08", "chapters 06-09"
MENTION = re.compile(r"\b[Cc]hapters?\s+(\d\d(?:(?:\s*,\s*|\s*,?\s+and\s+|\s*-\s*|\s+to\s+|\s*/\s*)\d\d)*)(?!\d)")


def module_names() -> list[str]:
    """The package itself and every module below it."""
    found = [m.name for m in pkgutil.walk_packages(hiercourse.__path__, prefix=f"{hiercourse.__name__}.")]
    return sorted([hiercourse.__name__, *found])


MODULES = module_names()


def module_path(name: str) -> str:
    """``hiercourse.plots.data`` -> ``hiercourse/plots/data.py`` (a package: its ``__init__.py``)."""
    return Path(importlib.import_module(name).__file__).resolve().relative_to(REPO).as_posix()


def public_objects(module) -> list[tuple[str, object]]:
    """Public functions and classes defined in ``module`` (not imported into it)."""
    return [
        (name, obj)
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and getattr(obj, "__module__", None) == module.__name__
    ]


def own_doc(obj) -> str:
    """The object's own docstring: a class does not inherit its parent's here."""
    doc = obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
    return doc if isinstance(doc, str) else ""


def chapter_violations(name: str) -> list[str]:
    """Public functions/classes of module ``name`` without a valid "Taught in chapter NN"."""
    module = importlib.import_module(name)
    problems = []
    for obj_name, obj in public_objects(module):
        chapters = TAUGHT.findall(own_doc(obj))
        if not chapters:
            problems.append(f"`{obj_name}`: no \"Taught in chapter NN\" in its docstring")
        for chapter in chapters:
            if chapter not in CHAPTERS:
                problems.append(f"`{obj_name}`: \"Taught in chapter {chapter}\", but there is no chapter {chapter}")
    return problems


def _docstrings(module) -> list[tuple[str, str]]:
    """(label, docstring) of the module, its public functions and classes, and their public methods."""
    out = [("module docstring", module.__doc__ or "")]
    for obj_name, obj in public_objects(module):
        out.append((f"`{obj_name}`", own_doc(obj)))
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                func = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                doc = getattr(func, "__doc__", None) if callable(func) else None
                if isinstance(doc, str):
                    out.append((f"`{obj_name}.{attr}`", doc))
    return out


def mention_violations(name: str) -> list[str]:
    """Docstrings of module ``name`` that mention a chapter that does not exist."""
    module = importlib.import_module(name)
    problems = []
    for label, doc in _docstrings(module):
        for match in MENTION.finditer(doc):
            missing = sorted(set(re.findall(r"\d\d", match.group(1))) - CHAPTERS)
            if missing:
                problems.append(f"{label}: mentions \"{' '.join(match.group(0).split())}\"; "
                                f"no chapter {', '.join(missing)}")
    return problems


def design_rows() -> list[tuple[str, list[str]]]:
    """(row text, paths named in its first cell) of every table row of design.md naming a package path."""
    rows = []
    for line in DESIGN.read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("|"):
            continue
        cells = line.strip().strip("|").split("|")
        paths = re.findall(r"`(hiercourse/[\w./]*)`", cells[0])
        if paths:
            rows.append((line.strip(), paths))
    return rows


def design_covers(path: str, rows=None) -> bool:
    """True when a design.md row names ``path`` or a package folder holding it (not the root folder)."""
    named = [p for _, paths in (design_rows() if rows is None else rows) for p in paths]
    if path in named:
        return True
    return any(p.endswith("/") and p != "hiercourse/" and path.startswith(p) for p in named)


def design_stale_rows() -> list[str]:
    """Rows that name a path that does not exist, or a chapter that does not exist."""
    problems = []
    for line, paths in design_rows():
        for path in paths:
            target = REPO / path
            exists = target.is_dir() if path.endswith("/") else target.is_file()
            if not exists:
                problems.append(f"`{path}` does not exist (row: `{line}`)")
        cells = line.strip().strip("|").split("|")
        for cell in cells[2:]:  # the chapter column: "02", "04, 05", "06-09", "all"
            missing = sorted(set(re.findall(r"(?<!\d)\d\d(?!\d)", cell)) - CHAPTERS)
            if missing:
                problems.append(f"chapter(s) {', '.join(missing)} do not exist (row: `{line}`)")
    return problems


def test_chapters_found():
    assert CHAPTERS, "no notebooks/NN_*.ipynb found"
    assert len(MODULES) > 1 and "hiercourse.features" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_public_objects_name_their_chapter(name):
    problems = chapter_violations(name)
    assert not problems, f"{module_path(name)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("name", MODULES)
def test_chapters_mentioned_exist(name):
    problems = mention_violations(name)
    assert not problems, f"{module_path(name)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("name", MODULES)
def test_design_has_a_row_for_the_module(name):
    path = module_path(name)
    assert design_covers(path), f"docs/design.md has no row naming `{path}` (or a package folder holding it)"


def test_design_rows_are_not_stale():
    problems = design_stale_rows()
    assert not problems, "docs/design.md:\n  " + "\n  ".join(problems)


def report(skip: frozenset[str] = frozenset()) -> str:
    """Every violation as Markdown, one section per file; files in ``skip`` (repo paths) left out."""
    lines = ["# Documentation violations", "",
             "Made by `python tests/test_docstrings.py` (the checks of `tests/test_docstrings.py`).", ""]
    by_file = {}
    for name in MODULES:
        path = module_path(name)
        if path in skip:
            continue
        problems = chapter_violations(name) + mention_violations(name)
        if not design_covers(path):
            problems.append(f"docs/design.md has no row naming `{path}` (or a package folder holding it)")
        if problems:
            by_file[path] = problems
    for path, problems in by_file.items():
        lines += [f"## {path}", "", *(f"- {p}" for p in problems), ""]
    stale = design_stale_rows()
    if stale:
        lines += ["## docs/design.md (stale rows)", "", *(f"- {p}" for p in stale), ""]
    if not by_file and not stale:
        lines.append("No violations.")
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(report(frozenset(sys.argv[1:])), end="")
