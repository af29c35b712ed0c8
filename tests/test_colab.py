"""The course as people open it: the Colab install cell, the badges, and the one public address.

- The install cell runs pip only on Colab and only while ``hiercourse`` does not import
  (``test_the_install_cell_*``, in this process, pip replaced by a recorder).
- ``test_a_chapter_opens_on_a_fake_colab`` runs the real path offline. A wheel is built from the
  checkout (``pip wheel --no-deps --no-build-isolation``: setuptools comes from the [test] extra, so
  nothing is downloaded). A fresh venv under tmp plays Colab: a stand-in ``google.colab`` package in
  its site-packages, and Colab's preinstalled stack (torch, numpy, pandas, IPython, ipykernel...)
  simulated by a ``.pth`` file that puts this environment's site-packages on its path, seen through
  a folder of symlinks that leaves ``hiercourse`` out (so pip must install it, and can never touch
  this environment's copy). ``$HIERCOURSE_INSTALL_SPEC`` points the install cell at the wheel and pip
  runs without an index or config file (``PIP_NO_INDEX``, ``PIP_CONFIG_FILE``): it can install the
  wheel and nothing else. A kernel of that venv (nbclient) runs chapter 00's install cell, its
  ``parameters`` cell and two light cells; the test then checks that hiercourse was installed from
  the wheel into the venv, reads the course's address from the wheel's metadata, and that pip put
  nothing else there (no torch download: Colab's own is kept).
- ``course.set_repo`` moves the address in pyproject.toml and in every chapter, and nothing else.
"""
from __future__ import annotations

import copy
import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import types
import venv
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook
from packaging.requirements import Requirement

import course
import hiercourse
from hiercourse.notebook import (
    INSTALL_SPEC_VAR,
    colab_badge,
    colab_install_cell,
    colab_url,
    read_records,
    repository_url,
)

REPO = Path(__file__).resolve().parents[1]
CHAPTER = REPO / "notebooks" / "00_start_here.ipynb"
FORK = "https://github.com/someone/hier-fork"

# Run in the fake Colab after the chapter's cells: where hiercourse came from, as JSON.
PROBE = """import importlib.metadata, json
import hiercourse
from hiercourse.notebook import in_colab, repository_url
dist = importlib.metadata.distribution("hiercourse")
print(json.dumps({"file": hiercourse.__file__, "installed_from": json.loads(dist.read_text("direct_url.json"))["url"],
                  "version": dist.version, "in_colab": in_colab(), "repository": repository_url()}))"""


def _module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    return module


def _run_install_cell(monkeypatch, *, colab: bool, package_there: bool) -> list[list[str]]:
    """Execute the install cell here with pip replaced by a recorder; returns the commands it ran."""
    if colab:
        monkeypatch.setitem(sys.modules, "google", _module("google"))
        monkeypatch.setitem(sys.modules, "google.colab", _module("google.colab"))
    else:
        monkeypatch.setitem(sys.modules, "google.colab", None)  # find_spec: not importable
    if not package_there:
        monkeypatch.setitem(sys.modules, "hiercourse", None)
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kwargs: calls.append(cmd))
    exec(colab_install_cell(FORK), {})
    return calls


def test_the_install_cell_does_nothing_off_colab(monkeypatch):
    assert _run_install_cell(monkeypatch, colab=False, package_there=False) == []


def test_the_install_cell_does_nothing_once_the_package_imports(monkeypatch):
    assert _run_install_cell(monkeypatch, colab=True, package_there=True) == []


def test_the_install_cell_installs_from_the_course_address_or_the_override(monkeypatch):
    monkeypatch.delenv(INSTALL_SPEC_VAR, raising=False)
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    assert _run_install_cell(monkeypatch, colab=True, package_there=False) == [pip + [f"hiercourse @ git+{FORK}"]]
    monkeypatch.setenv(INSTALL_SPEC_VAR, "/wheels/hiercourse-0.1.0-py3-none-any.whl")
    calls = _run_install_cell(monkeypatch, colab=True, package_there=False)
    assert calls == [pip + ["/wheels/hiercourse-0.1.0-py3-none-any.whl"]]


def test_the_badge_opens_the_student_edition_on_colab():
    assert colab_url("notebooks/03_features.ipynb", "https://github.com/an-owner/the.repo.git") == (
        "https://colab.research.google.com/github/an-owner/the.repo/blob/main/student/03_features.ipynb"
    )
    assert colab_badge("03_features.ipynb", FORK).startswith("[![Open In Colab](https://colab.research.google.com/")
    with pytest.raises(ValueError, match="GitHub"):
        colab_url("03_features.ipynb", "https://gitlab.com/someone/hier-fork")


def test_set_repo_moves_the_address_in_pyproject_and_every_chapter_and_nothing_else(tmp_path):
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+; the course's .venv has it")
    root = tmp_path / "checkout"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", root)
    names = ["00_start_here.ipynb", "09_training_evaluation_recommendation.ipynb"]
    for name in names:
        shutil.copy(REPO / "notebooks" / name, root / "notebooks")
    old_url = repository_url()

    course.set_repo(FORK, root=root, python=Path(sys.executable))

    text = (root / "pyproject.toml").read_text()
    assert tomllib.loads(text)["project"]["urls"] == {"Homepage": FORK, "Repository": FORK, "Issues": f"{FORK}/issues"}
    assert text.replace(FORK, "URL") == (REPO / "pyproject.toml").read_text().replace(old_url, "URL")
    for name in names:
        old = nbformat.read(REPO / "notebooks" / name, as_version=4)
        new = nbformat.read(root / "notebooks" / name, as_version=4)
        intro, install = new.cells[0], next(c for c in new.cells if c.cell_type == "code")
        assert intro.source.split("\n", 1) == [colab_badge(name, FORK), old.cells[0].source.split("\n", 1)[1]]
        assert install.source == colab_install_cell(FORK) and f"git+{FORK}\"" in install.source
        intro.source, install.source = old.cells[0].source, colab_install_cell(old_url)
        assert new == old, "set-repo changed more than the badge line and the install cell"

    written = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    course.set_repo(FORK, root=root, python=Path(sys.executable))  # again: nothing to do
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == written
    with pytest.raises(SystemExit, match="GitHub"):
        course.set_repo("https://gitlab.com/someone/hier-fork", root=root, python=Path(sys.executable))
    assert (root / "pyproject.toml").read_bytes() == written[root / "pyproject.toml"]


def _offline_pip_env() -> dict[str, str]:
    """os.environ without PYTHONPATH and pip settings, plus: no index, no config file, no user site."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "PYTHONPATH"}
    env.update(PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1")
    return env


def _build_wheel(tmp: Path) -> Path:
    """A wheel of the checkout, built offline with this environment's setuptools ([build-system])."""
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+; the course's .venv has it")
    from importlib.metadata import version

    for text in tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]:
        req = Requirement(text)
        assert req.specifier.contains(version(req.name)), (
            f"{req.name} {version(req.name)} here, the build needs {text}: the [test] extra pins it (course.py setup)"
        )
    src = tmp / "src"  # a copy: an in-tree build would leave build/ and *.egg-info in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src)
    shutil.copytree(REPO / "hiercourse", src / "hiercourse", ignore=shutil.ignore_patterns("__pycache__"))
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "-w", str(tmp / "dist"), str(src)], env=_offline_pip_env(), check=True)
    (wheel,) = (tmp / "dist").glob("hiercourse-*.whl")
    return wheel


def _fake_colab(root: Path) -> tuple[Path, Path]:
    """A fresh venv that looks like Colab to the install cell and to pip; returns (python, its site-packages)."""
    venv.EnvBuilder(with_pip=False).create(root)  # Colab's pip is among its preinstalled packages (below)
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    site = Path(site)
    colab = site / "google" / "colab"  # `google` stays a namespace package, as with Colab's google-* distributions
    colab.mkdir(parents=True)
    (colab / "__init__.py").write_text('"""Stand-in for Colab\'s google.colab (tests/test_colab.py)."""\n')
    stack = root / "colab-stack"  # Colab's preinstalled packages: this environment's, hiercourse left out
    stack.mkdir()
    here = {Path(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}
    for entry in sorted(p for folder in here for p in folder.iterdir()):
        skip = entry.name.lower().startswith(("hiercourse", "__editable__", "__pycache__")) or entry.suffix == ".pth"
        if not skip and not (stack / entry.name).exists():
            (stack / entry.name).symlink_to(entry)
    (site / "colab_stack.pth").write_text(f"{stack}\n")
    return python, site


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.notebook  # starts a kernel and runs chapter cells: the full tier, not `-m 'not notebook'`
def test_a_chapter_opens_on_a_fake_colab(tmp_path, monkeypatch):
    wheel = _build_wheel(tmp_path)
    python, site = _fake_colab(tmp_path / "colab")
    kernel = tmp_path / "jupyter" / "kernels" / "fake-colab"
    kernel.mkdir(parents=True)
    argv = [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (kernel / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "fake Colab", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    for name in os.environ.keys() - _offline_pip_env().keys():
        monkeypatch.delenv(name)  # the kernel inherits this environment: no PYTHONPATH, no pip index
    for name, value in _offline_pip_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(INSTALL_SPEC_VAR, str(wheel))

    chapter = nbformat.read(CHAPTER, as_version=4)
    code = [c for c in chapter.cells if c.cell_type == "code"]
    install = code[0]
    params = next(c for c in code if "parameters" in c.metadata.get("tags", []))
    versions = next(c for c in code if "in_colab()" in c.source)  # prints the versions and "on Colab"
    checks = next(c for c in code if 'record("python_ok"' in c.source)
    again = f'os.environ["{INSTALL_SPEC_VAR}"] = "/nonexistent/hiercourse.whl"  # pip would fail on it\n'
    cells = [copy.deepcopy(c) for c in (install, params, versions, checks)]
    cells += [new_code_cell(PROBE), new_code_cell(again + install.source)]
    nb = new_notebook(cells=cells, metadata=chapter.metadata)
    work = tmp_path / "content"  # Colab's working folder: no checkout, no hiercourse beside it
    work.mkdir()
    NotebookClient(nb, timeout=300, kernel_name="fake-colab", resources={"metadata": {"path": str(work)}}).execute()

    assert f"pip install {wheel} ..." in _text(nb.cells[0])
    assert "FAST mode" in _text(nb.cells[1])
    assert "on Colab    True" in _text(nb.cells[2])
    nbformat.write(nb, tmp_path / "ran.ipynb")
    assert read_records(tmp_path / "ran.ipynb")["python_ok"] is True
    probe = json.loads(_text(nb.cells[4]))
    assert Path(probe["file"]).parent == site / "hiercourse", "hiercourse imported from elsewhere than the install"
    assert probe["installed_from"] == wheel.as_uri() and probe["version"] == hiercourse.__version__
    assert probe["in_colab"] is True
    assert probe["repository"] == repository_url(), "the installed metadata carries [project.urls]"
    assert _text(nb.cells[5]) == "", "the install cell ran pip again although hiercourse imports"
    installed = {p.name for p in site.iterdir()} - {"__pycache__"}
    expected = {"google", "colab_stack.pth", "hiercourse", f"hiercourse-{hiercourse.__version__}.dist-info"}
    assert installed == expected, f"pip installed more than the wheel (Colab would download it): {installed - expected}"
