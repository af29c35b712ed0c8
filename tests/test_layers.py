"""Data flows one way: no module of the package imports one of a later layer (docs/design.md, "Layers")."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "hiercourse"


def layers() -> dict[str, int]:
    """Path prefix (e.g. "hiercourse/models/") -> layer number, read from design.md's layer table."""
    text = (REPO / "docs" / "design.md").read_text()
    table = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    out = {}
    for number, cells in re.findall(r"^\| (\d+) [^|]*\| (.+) \|$", table, re.M):
        for path in re.findall(r"`([^`]+)`", cells):
            out[path] = int(number)
    return out


def layer_of(path: str, table: dict[str, int]) -> int:
    matches = [prefix for prefix in table if path == prefix or (prefix.endswith("/") and path.startswith(prefix))]
    if not matches:
        raise AssertionError(f"{path} has no layer in docs/design.md's layer table: add it")
    return table[max(matches, key=len)]


def module_path(name: str) -> str:
    """``hiercourse.models.base`` -> ``hiercourse/models/base.py`` (or the package's __init__.py)."""
    base = REPO / Path(*name.split("."))
    return (base / "__init__.py" if base.is_dir() else base.with_suffix(".py")).relative_to(REPO).as_posix()


def imports(path: Path, source: str | None = None) -> set[str]:
    """Every ``hiercourse`` module a file imports, at the top or inside functions, relative imports resolved."""
    package = path.relative_to(REPO).with_suffix("").parts
    package = package[:-1] if path.name != "__init__.py" else package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            name = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
            for alias in node.names:  # ``from . import x`` may name a module
                candidate = f"{name}.{alias.name}"
                if (REPO / Path(*candidate.split("."))).with_suffix(".py").exists():
                    found.add(candidate)
            found.add(name)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {n for n in found if n and n.split(".")[0] == "hiercourse"}


FILES = sorted(PACKAGE.rglob("*.py"))


def test_the_layer_table_is_read():
    table = layers()
    assert table["hiercourse/errors.py"] == 0 and table["hiercourse/models/"] > table["hiercourse/features.py"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_imports_run_down_the_layers(path):
    table = layers()
    here = path.relative_to(REPO).as_posix()
    own = layer_of(here, table)
    upward = []
    for name in imports(path):
        target = module_path(name)
        if name == "hiercourse":  # the package root: seed_everything and the version, layer 0
            continue
        if layer_of(target, table) > own:
            upward.append(f"{name} (layer {layer_of(target, table)})")
    assert not upward, f"{here} (layer {own}) imports from a later layer: {upward}"


def test_a_wrong_import_is_caught():
    """The check itself can fail: a function-level import of the trainer in features.py is found and is upward."""
    table = layers()
    source = "def f():\n    from .training import fit\n    return fit\n"
    found = imports(PACKAGE / "features.py", source)
    assert found == {"hiercourse.training"}
    assert layer_of(module_path("hiercourse.training"), table) > layer_of("hiercourse/features.py", table)
