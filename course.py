#!/usr/bin/env python3
"""One entry point for learners, instructors and CI.

    python3 course.py run [chapters...] [--full] [--inplace]   execute the chapters, print a table
    python3 course.py test [pytest args...]                     run the whole test suite
    python3 course.py editions [--check]                        write the student edition (student/) from notebooks/
    python3 course.py set-repo https://github.com/OWNER/REPO    the course's new address: pyproject, every chapter
    python3 course.py site [--if-stale]                         build the course website into build/site/

Each command creates (or reuses) the virtual environment ``.venv`` next to this
file, installs the pinned requirements (``requirements-lock.txt``) and the course
package into it when they changed, then runs inside it. Needs only Python 3.10+
and access to the package registry. ``test`` runs ``ruff check`` first and stops
when it finds a problem.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
LOCK = ROOT / "requirements-lock.txt"
STAMP = VENV / ".hiercourse-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
# The one home of the environment defaults (``default_env``): course.py passes them to what it runs,
# and the root conftest.py imports this file and sets them, so a bare ``pytest`` gets the same.
SHARED_DATA = ROOT.parent / "shared" / "datasets"  # the checkout sits next to ../shared (CI)
# Test runs only (``course.py test``, and any pytest run through conftest.py, before torch is imported):
TEST_ENV = {
    "HIERCOURSE_FAST": "1",  # chapters (nbval, papermill) and benchmarks in fast mode
    # progress bars print their finished line, as in the committed chapters (hiercourse.notebook.progress_bar)
    "HIERCOURSE_PROGRESS": "static",
    # two xdist workers on two cores: one thread each, or OpenMP oversubscription slows torch 10-100x
    "OMP_NUM_THREADS": "1",
}
# What ``course.py test`` lints (rules: [tool.ruff] in pyproject.toml); the notebooks have their own test.
LINT_PATHS = ["hiercourse", "tests", "scripts", "course.py", "conftest.py"]

# Notebook tests: nbval compares committed outputs, pytest-xdist runs two workers
# (each notebook stays on one worker: see conftest.py).
TEST_ARGS = [
    "tests", "notebooks", "--nbval", "--nbval-current-env",
    "--nbval-sanitize-with", "tests/nbval_sanitize.cfg",
    "-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider", "-q", "-rs",
]


def _fingerprint() -> str:
    digest = hashlib.sha256(LOCK.read_bytes())
    digest.update((ROOT / "pyproject.toml").read_bytes())
    # the version's one home (pyproject reads it from there): a new version reinstalls the package metadata
    init = (ROOT / "hiercourse" / "__init__.py").read_text()
    digest.update("".join(line for line in init.splitlines() if line.startswith("__version__")).encode())
    return digest.hexdigest()


def default_env(command: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: ``os.environ``) plus the course's defaults for ``command``; set values win.

    Every command finds the real datasets in ``../shared/datasets`` when that folder exists;
    ``test`` adds ``TEST_ENV``.
    """
    env = dict(os.environ if environ is None else environ)
    if SHARED_DATA.is_dir():
        env.setdefault("HIERCOURSE_DATA", str(SHARED_DATA))
    if command == "test":
        for name, value in TEST_ENV.items():
            env.setdefault(name, value)
    return env


def ensure_env() -> None:
    """Create .venv and install the pinned requirements unless already up to date."""
    if sys.version_info < (3, 10):  # noqa: UP036 -- course.py runs on the system's Python, maybe an old one
        sys.exit(f"Python 3.10 or newer is needed; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        print(f"creating virtual environment {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("installing the pinned requirements (first run: a few minutes) ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run(pip + ["-q", "-r", str(LOCK)], check=True)
    subprocess.run(pip + ["-q", "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(wanted)


def set_repo(url: str, root: Path = ROOT, python: Path = PYTHON) -> None:
    """Make ``url`` the course's public address: ``[project.urls]`` in pyproject.toml (its one home), then every
    chapter's "Open in Colab" badge and install cell (``hiercourse.notebook.set_repository_url``, run by ``python``).
    """
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        sys.exit(f"set-repo: Colab opens notebooks from GitHub; give https://github.com/OWNER/REPO, not {url!r}")
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    urls = re.search(r"^\[project\.urls\]$.*?(?=^\[|\Z)", text, re.M | re.S)
    old = re.search(r'^Repository\s*=\s*"([^"]+)"', urls.group(0), re.M).group(1)  # Homepage etc. may start with it
    table = re.sub(f'"{re.escape(old)}(?=["/])', f'"{url}', urls.group(0))
    pyproject.write_text(text[: urls.start()] + table + text[urls.end() :])
    code = ("import sys\nfrom hiercourse.notebook import set_repository_url\n"
            "for path in set_repository_url(sys.argv[1], sys.argv[2:]): print('rewrote', path)")
    chapters = sorted(str(p) for p in (root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    subprocess.run([str(python), "-c", code, url, *chapters], env=env, check=True)


def site_command(rest: list[str]) -> list[str]:
    """The website's build: Jupyter Book 1 on the committed chapters, offline (scripts/build_site.py says how)."""
    return [str(PYTHON), str(ROOT / "scripts" / "build_site.py"), *rest]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "setup", "editions", "set-repo", "site"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_env()
    env = default_env(command)
    if command == "setup":
        return 0
    if command == "set-repo":
        if len(rest) != 1:
            sys.exit("usage: python3 course.py set-repo https://github.com/OWNER/REPO")
        set_repo(rest[0])
        return 0
    if command == "run":
        cmd = [str(PYTHON), "-m", "hiercourse.run", *rest]
    elif command == "editions":  # solutions out, a pointer in (hiercourse/editions.py)
        cmd = [str(PYTHON), "-m", "hiercourse.editions", *rest]
    elif command == "site":
        cmd = site_command(rest)
    else:
        print(f"ruff check {' '.join(LINT_PATHS)} ...", flush=True)
        lint = subprocess.run([str(PYTHON), "-m", "ruff", "check", *LINT_PATHS], cwd=ROOT, env=env)
        if lint.returncode != 0:
            print("ruff check failed (above); the tests did not run. `.venv/bin/ruff check --fix` fixes many.",
                  file=sys.stderr)
            return lint.returncode
        cmd = [str(PYTHON), "-m", "pytest", *TEST_ARGS, *rest]
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
