"""Packaging: `pip install .` alone gives everything the package and its chapters import.

Every ``import``/``from`` in ``hiercourse/**/*.py`` and in the chapters' code cells (top level
and inside functions) is parsed with :mod:`ast`; each third-party module must map to a core
dependency of pyproject.toml, and each core dependency must be used. The tests, scripts, the
version's single home, the licence and the lock file are checked the same way.
"""
from __future__ import annotations

import ast
import importlib.metadata as md
import json
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import hiercourse

tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+; the course's .venv has it")

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
LOCK = REPO / "requirements-lock.txt"

# Import name -> distribution name, where they differ.
DISTRIBUTION = {
    "sklearn": "scikit-learn",
    "IPython": "ipython",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "dateutil": "python-dateutil",
    "mpl_toolkits": "matplotlib",
}
# Modules that are no distribution to install: imported only inside ``try: ... except ImportError``.
OPTIONAL_MODULES = {
    "google": "google.colab exists only on Colab; notebook.in_colab() imports it to detect Colab",
    "faiss": "faiss-cpu, the [scale] extra: hiercourse.retrieval.load_faiss imports it for chapter 13's FAISS part",
}
# Core dependencies that nothing imports but that the package needs at run time.
RUNTIME_ONLY = {
    "ipykernel": "hiercourse-run (nbclient) executes the chapters in the 'python3' kernel it provides",
}
# the package, the root scripts, and test modules that import each other (tests/ is on sys.path under pytest)
LOCAL_MODULES = {"hiercourse", "conftest", "course"} | {p.stem for p in (REPO / "tests").glob("*.py")}


def _source_files(pattern: str) -> list[Path]:
    files = sorted(REPO.glob(pattern))
    assert files, f"no files match {pattern}"
    return files


def _notebook_source(path: Path) -> str:
    """The code cells of a notebook as one Python source (IPython magics and shell lines dropped)."""
    cells = json.loads(path.read_text())["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            lines += [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return "\n".join(lines)


def _guarded_by_import_error(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """True when ``node`` sits in the body of a ``try`` that catches ImportError/ModuleNotFoundError."""
    child, parent = node, parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.Try) and child in parent.body:
            for handler in parent.handlers:
                caught = handler.type
                names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
                if any(isinstance(n, ast.Name) and n.id in {"ImportError", "ModuleNotFoundError"} for n in names):
                    return True
        child, parent = parent, parents.get(parent)
    return False


def imports(source: str, where: str) -> dict[str, list[str]]:
    """Top-level module of every absolute import in ``source`` -> where each occurs ("file:line[ guarded]")."""
    tree = ast.parse(source, filename=where)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module != "__future__":
            modules = [node.module]
        else:
            continue  # relative imports stay inside the package
        guard = " guarded" if _guarded_by_import_error(node, parents) else ""
        for module in modules:
            found.setdefault(module.split(".")[0], []).append(f"{where}:{node.lineno}{guard}")
    return found


def third_party(found: dict[str, list[str]]) -> dict[str, list[str]]:
    """Drop the standard library and the repository's own modules."""
    return {m: w for m, w in found.items() if m not in sys.stdlib_module_names and m not in LOCAL_MODULES}


def scan(paths: list[Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in paths:
        source = _notebook_source(path) if path.suffix == ".ipynb" else path.read_text()
        label = str(path.relative_to(REPO)) + (" code cells" if path.suffix == ".ipynb" else "")
        for module, where in imports(source, label).items():
            found.setdefault(module, []).extend(where)
    return third_party(found)


def distribution(module: str) -> str:
    return canonicalize_name(DISTRIBUTION.get(module, module))


def requirement_names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(r).name) for r in requirements}


CORE = requirement_names(PROJECT["dependencies"])
EXTRAS = {name: requirement_names(reqs) for name, reqs in PROJECT.get("optional-dependencies", {}).items()}
# What `pip install .` must cover: the package, and the chapters that hiercourse-run executes
# and that Colab's install cell (no extras) prepares for.
RUNTIME_FILES = _source_files("hiercourse/**/*.py") + _source_files("notebooks/*.ipynb")


def test_the_scan_sees_lazy_guarded_and_aliased_imports():
    found = imports(
        "import os\nimport scipy.sparse as sp\n"
        "def f():\n    from sklearn.metrics import ndcg_score\n"
        "try:\n    import google.colab\nexcept ImportError:\n    pass\n"
        "from . import sibling\nfrom __future__ import annotations\n",
        "probe.py",
    )
    assert set(found) == {"os", "scipy", "sklearn", "google"}
    assert found["sklearn"] == ["probe.py:4"] and found["google"] == ["probe.py:6 guarded"]
    assert set(third_party(found)) == {"scipy", "sklearn", "google"}
    assert distribution("sklearn") == "scikit-learn" and distribution("IPython") == "ipython"


def test_every_runtime_import_is_a_core_dependency():
    used = scan(RUNTIME_FILES)
    assert {"torch", "scipy", "nbclient"} <= set(used), "the scan missed imports it should see"
    missing = {
        f"{module} (distribution {distribution(module)!r}), imported at {', '.join(where[:3])}"
        for module, where in used.items()
        if module not in OPTIONAL_MODULES and distribution(module) not in CORE
    }
    assert not missing, "add to [project].dependencies in pyproject.toml:\n" + "\n".join(sorted(missing))


def test_optional_modules_are_only_imported_behind_an_import_error_guard():
    used = scan(RUNTIME_FILES)
    unguarded = [w for module in OPTIONAL_MODULES for w in used.get(module, []) if not w.endswith("guarded")]
    assert not unguarded, f"optional modules imported without `except ImportError`: {unguarded}"


def test_every_core_dependency_is_used():
    used = {distribution(m) for m in scan(RUNTIME_FILES)}
    unused = CORE - used - set(RUNTIME_ONLY)
    assert not unused, f"core dependencies nothing imports (drop them, or say why in RUNTIME_ONLY): {sorted(unused)}"
    stale = set(RUNTIME_ONLY) - CORE
    assert not stale, f"RUNTIME_ONLY names no core dependency: {sorted(stale)}"


def test_the_import_to_distribution_map_matches_the_installed_distributions():
    """Guard the DISTRIBUTION map: where the test environment knows a module's distribution, agree with it."""
    known = md.packages_distributions()
    wrong = {}
    for module in scan(RUNTIME_FILES):
        if module in OPTIONAL_MODULES or module not in known:
            continue
        owners = {canonicalize_name(d) for d in known[module]}
        if distribution(module) not in owners:
            wrong[module] = sorted(owners)
    assert not wrong, f"DISTRIBUTION maps these modules to the wrong distribution: {wrong}"


def test_tests_and_scripts_need_nothing_beyond_their_extras():
    for files, allowed, what in [
        (_source_files("tests/*.py") + [REPO / "conftest.py"], CORE | EXTRAS["test"], "core + [test]"),
        (_source_files("scripts/*.py") + [REPO / "course.py"], CORE, "core"),
    ]:
        used = scan(files)
        missing = {f"{m} ({distribution(m)}) at {w[0]}" for m, w in used.items() if distribution(m) not in allowed}
        assert not missing, f"not in {what} of pyproject.toml: {sorted(missing)}"


def test_torch_is_not_pinned_so_colab_keeps_its_own():
    torch = next(Requirement(r) for r in PROJECT["dependencies"] if Requirement(r).name == "torch")
    assert not any(spec.operator in {"==", "===", "<", "<=", "~="} for spec in torch.specifier), torch


def test_the_version_has_one_home():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "hiercourse.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", hiercourse.__version__)
    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml")
    config = pyprojecttoml.read_configuration(REPO / "pyproject.toml", expand=True)
    assert config["project"]["version"] == hiercourse.__version__


def test_installed_metadata_agrees_with_the_version_when_installed_from_this_checkout():
    try:
        dist = md.distribution("hiercourse")
    except md.PackageNotFoundError:
        pytest.skip("hiercourse is not installed")
    url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    location = Path(str(dist.locate_file(""))).resolve()  # the checkout itself for its own *.egg-info
    if url.removeprefix("file://") != str(REPO) and location != REPO:
        pytest.skip(f"the installed hiercourse ({location}, url {url!r}) is not this checkout")
    assert dist.version == hiercourse.__version__, "installed metadata is stale: reinstall (course.py setup does)"


def test_the_licence_field_and_its_build_requirement():
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    assert "MIT License" in (REPO / "LICENSE").read_text()
    # A PEP 639 SPDX string in `license` (and `license-files`) needs setuptools >= 77 to build.
    setuptools = next(Requirement(r) for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools"))
    assert "76.9" not in setuptools.specifier and "77" in setuptools.specifier, setuptools


def test_the_lock_file_pins_every_dependency_within_its_range():
    lines = LOCK.read_text().splitlines()
    header = [line for line in lines if line.startswith("#")]
    assert any("Regenerate" in line for line in header), "requirements-lock.txt should say how it is regenerated"
    pins = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line!r}"
            pins[canonicalize_name(name)] = version
    wanted = PROJECT["dependencies"] + [r for reqs in PROJECT["optional-dependencies"].values() for r in reqs]
    problems = []
    for text in wanted:
        req = Requirement(text)
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name} is not in the lock file")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}=={version} is outside {text!r}")
    assert not problems, problems


def test_environment_yml_installs_the_lock_file():
    text = (REPO / "environment.yml").read_text()
    assert "- -r requirements-lock.txt" in text and "- -e ." in text
    assert "torchvision" not in text + LOCK.read_text()  # does not import beside the pinned torch
