"""Root pytest hooks: notebook tests (nbval) and the unit tests share one run.

- each notebook's cells stay on one xdist worker (``--dist loadfile``), since nbval
  runs a notebook's cells in one kernel;
- notebooks run in fast mode and find the real data beside the checkout: the
  environment defaults come from their one home, ``course.py`` (``default_env``),
  and are set here, before any test imports torch (``OMP_NUM_THREADS``); xdist
  workers and notebook kernels inherit them.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import course  # the repository root is on sys.path ([tool.pytest.ini_options] pythonpath)

for _name, _value in course.default_env("test").items():
    os.environ.setdefault(_name, _value)


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
