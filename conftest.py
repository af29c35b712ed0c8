"""Root pytest hooks: notebook tests (nbval) and the unit tests share one run.

- each notebook's cells stay on one xdist worker (``--dist loadfile``), since nbval
  runs a notebook's cells in one kernel;
- notebooks run in fast mode and find the real data beside the checkout.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
os.environ.setdefault("HIERCOURSE_FAST", "1")
# set before torch is imported: with xdist workers on 2 cores, more threads oversubscribe the CPU
os.environ.setdefault("OMP_NUM_THREADS", "1")
_shared = ROOT.parent / "shared" / "datasets"
if _shared.is_dir():
    os.environ.setdefault("HIERCOURSE_DATA", str(_shared))


def pytest_collection_modifyitems(items):
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        # HTML tables repeat the text/plain output; widget views carry random ids
        collector.skip_compare += ("text/html", "application/vnd.jupyter.widget-view+json",
                                   "application/vnd.jupyter.widget-state+json")
