"""Small helpers every chapter uses: Colab detection and install, fast mode, recorded results.

Recorded results follow microsoft/recommenders' ``store_metadata``/``read_notebook``
idea: a chapter displays each key number under its own MIME type, so the executed
notebook carries it and tests can assert it without parsing text. Taught in chapter 00.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat

RECORD_MIME = "application/x.hiercourse+json"

#: ``[project.urls]`` label of the course's public address in pyproject.toml (its one home).
URL_LABEL = "Repository"
#: Environment variable that replaces what the Colab install cell installs (a wheel, a path, a branch):
#: tests/test_colab.py points it at a wheel built from the checkout.
INSTALL_SPEC_VAR = "HIERCOURSE_INSTALL_SPEC"
#: Folder of the student edition (chapters without solutions) at the repository root: the badges open it.
STUDENT_FOLDER = "student"
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
#: Environment variable that says how progress bars show (:func:`progress_bar`): ``"static"`` prints one line,
#: the finished bar, when a bar closes (what ``python -m hiercourse.run`` saves into the committed chapters, and
#: what the notebook tests compare); unset, a live bar (a widget in Jupyter, text in a terminal).
PROGRESS_VAR = "HIERCOURSE_PROGRESS"
_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"  # present in a checkout only


def _url_from_pyproject(text: str) -> str | None:
    """``Repository`` of ``[project.urls]`` in the text of a pyproject.toml (a regex: tomllib is 3.11+)."""
    section = re.search(r"^\[project\.urls\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    found = section and re.search(rf'^\s*{URL_LABEL}\s*=\s*"([^"]+)"', section.group(1), re.M)
    return found.group(1) if found else None


def repository_url() -> str:
    """The course's public address, e.g. ``"https://github.com/hiercourse/hiercourse"`` (a str).

    Its one home is ``Repository`` in pyproject.toml's ``[project.urls]``. In a checkout
    (pyproject.toml of ``hiercourse`` beside the package) that file is read, so an edit counts at
    once; an installed package (a wheel, Colab) reads the same field from its metadata
    (``importlib.metadata``: ``Project-URL: Repository, ...``). The Colab install cell and every
    chapter's "Open in Colab" badge are made from it; ``python3 course.py set-repo URL`` changes it
    everywhere. Raises LookupError when neither source has it. Taught in chapter 00.
    """
    if _PYPROJECT.is_file():
        text = _PYPROJECT.read_text(encoding="utf-8")
        if re.search(r'^name\s*=\s*"hiercourse"', text, re.M) and (url := _url_from_pyproject(text)):
            return url
    try:
        entries = importlib.metadata.metadata("hiercourse").get_all("Project-URL") or []
    except importlib.metadata.PackageNotFoundError:
        entries = []
    for entry in entries:
        label, _, url = entry.partition(",")
        if label.strip() == URL_LABEL:
            return url.strip()
    raise LookupError(f"no {URL_LABEL!r} in [project.urls]: neither {_PYPROJECT} nor installed hiercourse metadata")


def colab_install_cell(url: str | None = None) -> str:
    """Source of every chapter's first code cell, for the course at ``url`` (default :func:`repository_url`).

    On Colab (``google.colab`` importable) without ``hiercourse`` it runs
    ``pip install "hiercourse @ git+<url>"`` (or ``$HIERCOURSE_INSTALL_SPEC`` when set) and leaves
    Colab's torch, numpy and pandas as they are (the package's requirements are loose); anywhere
    else it does nothing. Taught in chapter 00.
    """
    url = url or repository_url()
    return f'''# On Colab, install the course package; elsewhere this cell does nothing.
import importlib, importlib.util, os, subprocess, sys
on_colab = importlib.util.find_spec("google") is not None and importlib.util.find_spec("google.colab") is not None
if on_colab and importlib.util.find_spec("hiercourse") is None:
    # ${INSTALL_SPEC_VAR}, when set, says what to install instead (a wheel, a fork, a branch)
    spec = os.environ.get("{INSTALL_SPEC_VAR}", "hiercourse @ git+{url}")
    print(f"pip install {{spec}} ...")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec], check=True)
    importlib.invalidate_caches()'''


def colab_url(notebook: str, url: str | None = None) -> str:
    """Colab's address for the student edition of chapter file ``notebook`` (e.g. "00_start_here.ipynb")
    of the GitHub repository at ``url`` (default :func:`repository_url`): ``.../blob/main/student/<notebook>``.

    Raises ValueError for an address Colab cannot open (not ``https://github.com/<owner>/<repo>``).
    Taught in chapter 00.
    """
    url = url or repository_url()
    found = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?", url)
    if not found:
        raise ValueError(f"Colab opens notebooks from GitHub: {url!r} is not https://github.com/<owner>/<repo>")
    owner, repo = found.groups()
    return f"https://colab.research.google.com/github/{owner}/{repo}/blob/main/{STUDENT_FOLDER}/{Path(notebook).name}"


def colab_badge(notebook: str, url: str | None = None) -> str:
    """The "Open in Colab" badge of chapter file ``notebook``: one markdown line, the top line of the
    chapter's first markdown cell, linking :func:`colab_url` for the course at ``url``. Taught in chapter 00.
    """
    return f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({colab_url(notebook, url)})"


def set_colab_cells(nb: nbformat.NotebookNode, notebook: str, url: str | None = None) -> bool:
    """Give chapter ``nb`` (file name ``notebook``) the badge and install cell for ``url``; True if it changed.

    Only two cells are touched: the badge becomes (or replaces) the top line of the first markdown
    cell, and the first code cell's source becomes :func:`colab_install_cell` (outputs, execution
    counts and metadata stay). ``course.py set-repo`` and ``scripts/new_chapter.py`` use it.
    Taught in chapter 00.
    """
    url = url or repository_url()
    changed = False
    intro = next(cell for cell in nb.cells if cell.cell_type == "markdown")
    lines = intro.source.split("\n")
    badge = colab_badge(notebook, url)
    if lines[0].startswith("[![Open In Colab]"):
        new_source = "\n".join([badge, *lines[1:]])
    else:
        new_source = f"{badge}\n\n{intro.source}"
    if new_source != intro.source:
        intro.source, changed = new_source, True
    install = next(cell for cell in nb.cells if cell.cell_type == "code")
    if install.source != (cell_source := colab_install_cell(url)):
        install.source, changed = cell_source, True
    return changed


def set_repository_url(url: str, notebooks: Iterable[str | os.PathLike]) -> list[Path]:
    """Rewrite each chapter file in ``notebooks`` for the course at ``url`` (:func:`set_colab_cells`, nbformat 4,
    so outputs and metadata are kept); returns the files that changed. Taught in chapter 00.
    """
    changed = []
    for path in map(Path, notebooks):
        nb = nbformat.read(path, as_version=4)
        if set_colab_cells(nb, path.name, url):
            nbformat.write(nb, path)
            changed.append(path)
    return changed


def in_colab() -> bool:
    """True when running inside Google Colab (``google.colab`` imports). Taught in chapter 00."""
    try:
        import google.colab  # noqa: F401
    except ImportError:
        return False
    return True


def fast_mode(default: bool = False) -> bool:
    """Fast mode from ``$HIERCOURSE_FAST`` ("1"/"true"), else ``default``.

    The ``parameters`` cell of each chapter calls this, so ``HIERCOURSE_FAST=1``
    (CI, nbval) and papermill's injected ``FAST = True`` both shrink the run.
    Returns a bool. Taught in chapter 00.
    """
    value = os.environ.get("HIERCOURSE_FAST")
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        return value.item()  # numpy / torch scalars
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def record(name: str, value: Any) -> None:
    """Record a key result of a chapter so tests can read it from the executed notebook.

    ``value`` must be JSON-serialisable once numpy/torch scalars and arrays are
    turned into Python numbers and lists. Returns None; outside a notebook (plain
    Python) this does nothing visible. Taught in chapter 00.
    """
    payload = {name: _jsonable(value)}
    json.dumps(payload)  # fail early on values JSON cannot hold
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is None:
        return
    display({RECORD_MIME: payload, "text/plain": ""}, raw=True)


def start_chapter(fast: bool, summary: str) -> None:
    """The first output of every chapter: its mode (``fast``) with a ``summary`` of what that mode runs, the
    machine (:func:`hiercourse.device.machine_description`) and the start time (UTC); records ``fast_mode``
    so tests can tell a committed full-mode notebook from a fast one. ``python -m hiercourse.run`` adds the
    chapter's total run time to this output when it finishes. Taught in chapter 00.
    """
    import datetime

    from hiercourse.device import machine_description

    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"{'FAST' if fast else 'FULL'} mode: {summary}")
    print(f"machine: {machine_description()}; started {started}")
    record("fast_mode", bool(fast))


def static_progress() -> bool:
    """True when ``$HIERCOURSE_PROGRESS`` is ``"static"``: progress bars print only their finished state.

    Taught in chapter 06.
    """
    return os.environ.get(PROGRESS_VAR, "").strip().lower() == "static"


class _Discard:
    """A file that forgets what is written to it: where a static bar sends its live updates."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def progress_bar(iterable: Iterable | None = None, **kwargs: Any):
    """A tqdm progress bar over ``iterable`` (or ``total=`` steps advanced with ``update``), shown the way the
    reader can see it.

    Interactively (``$HIERCOURSE_PROGRESS`` unset) it is ``tqdm.auto.tqdm``: a live widget in Jupyter or
    Colab, a live text bar in a terminal. When chapters are executed to be saved (``python -m hiercourse.run``
    sets ``$HIERCOURSE_PROGRESS=static``) a widget would be stored as its first state ("0% 0/63"), which is
    all a static viewer (GitHub, the course's website) can show of it. So a static bar draws nothing while it
    runs and, when it closes, prints one line to stdout: the finished bar, with its count, elapsed time, rate
    and last postfix (nothing when ``leave=False`` or ``disable=True``, as a closed live bar leaves nothing).
    ``kwargs`` are tqdm's (``total``, ``desc``, ``unit``, ``leave``, ``disable``...). Returns the bar.
    Taught in chapter 06.
    """
    if not static_progress():
        from tqdm.auto import tqdm

        return tqdm(iterable, **kwargs)
    return _static_bar_class()(iterable, **kwargs)


def _static_bar_class():
    """The static bar's class, built on first use so that importing this module does not import tqdm."""
    global _STATIC_BAR
    if _STATIC_BAR is None:
        import sys

        from tqdm.std import tqdm

        class StaticBar(tqdm):
            """tqdm drawing into nothing while it runs, printing its finished line to stdout on close."""

            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs["file"] = _Discard()
                kwargs.setdefault("mininterval", 1.0)
                kwargs.setdefault("ascii", False)  # the file has no encoding tqdm could read: say it takes unicode
                self._line_printed = False
                super().__init__(*args, **kwargs)

            def close(self) -> None:
                if not getattr(self, "disable", True) and not self._line_printed and self.leave is not False:
                    self._line_printed = True
                    self._ema_dt = lambda: None  # the rate over the whole run, as tqdm's own last line
                    print(str(self), file=sys.stdout, flush=True)
                super().close()

        _STATIC_BAR = StaticBar
    return _STATIC_BAR


_STATIC_BAR = None


def read_records(path: str | os.PathLike) -> dict[str, Any]:
    """Every value recorded with :func:`record` in the executed notebook at ``path``, as a dict by name.

    Taught in chapter 00.
    """
    nb = nbformat.read(Path(path), as_version=4)
    found: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if RECORD_MIME in data:
                payload = data[RECORD_MIME]
                if isinstance(payload, str):
                    payload = json.loads(payload)
                found.update(payload)
    return found
