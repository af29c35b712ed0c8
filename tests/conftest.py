"""Shared fixtures: where the real datasets are, and a failure (not a skip) in CI when they are missing."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest
import torch

from course import SHARED_DATA as DEFAULT_SHARED  # the environment defaults' one home (see ../conftest.py)

matplotlib.use("Agg")  # unit tests draw figures without a screen


def _data_root() -> Path | None:
    env = os.environ.get("HIERCOURSE_DATA")
    for candidate in (env, DEFAULT_SHARED):
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return None


def need_real_data(subfolder: str) -> Path:
    """The real-data folder ``subfolder`` (e.g. "ml-latest-small"); skip, or fail in CI, when absent."""
    root = _data_root()
    if root is not None and (root / subfolder).is_dir():
        return root
    reason = (
        f"real dataset {subfolder!r} not found under $HIERCOURSE_DATA or {DEFAULT_SHARED}; "
        "set HIERCOURSE_DATA to the folder holding it"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def real_data_root() -> Path:
    """Root holding ml-latest-small/ (and mnist/): skips locally, fails in CI when absent."""
    return need_real_data("ml-latest-small")


@pytest.fixture
def mnist_root() -> Path:
    return need_real_data("mnist")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Downloads and caches go to a temporary folder, never into the shared datasets.

    ($HIERCOURSE_DATA itself defaults to the shared datasets in ../conftest.py.)
    """
    cache = tmp_path_factory.getbasetemp() / "hiercourse-cache"
    monkeypatch.setenv("HIERCOURSE_CACHE", str(cache))


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread per test: tests use small tensors, and two xdist workers share two cores
    (more threads oversubscribe the CPU and run 10-100x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
