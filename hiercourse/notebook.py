"""Small helpers every chapter uses: Colab detection, fast mode, recorded results.

Recorded results follow microsoft/recommenders' ``store_metadata``/``read_notebook``
idea: a chapter displays each key number under its own MIME type, so the executed
notebook carries it and tests can assert it without parsing text. Taught in chapter 00.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat

RECORD_MIME = "application/x.hiercourse+json"

# The first code cell of every chapter: installs the package on Colab, does nothing elsewhere.
COLAB_INSTALL_CELL = '''# On Colab, install the course package; elsewhere this cell does nothing.
import importlib.util, subprocess, sys
in_colab = importlib.util.find_spec("google") is not None and importlib.util.find_spec("google.colab") is not None
if in_colab and importlib.util.find_spec("hiercourse") is None:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "hiercourse @ git+https://github.com/hiercourse/hiercourse"], check=True)'''


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
