"""Bring every chapter in line with the course conventions (nbdev-clean style).

Sets the "Open in Colab" badge and the Colab install cell for the course's address (pyproject.toml),
collapses every solution cell (in Jupyter and on the site: ``hiercourse.editions.mark_solutions``)
and drops volatile metadata.
Usage: python scripts/tidy_chapters.py [notebooks/NN_*.ipynb ...]   (default: all chapters)
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from hiercourse.editions import mark_solutions
from hiercourse.notebook import set_colab_cells
from hiercourse.run import chapters, tidy


def tidy_chapter(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    set_colab_cells(nb, path.name)
    mark_solutions(nb)
    tidy(nb)
    changed = nbformat.writes(nb) != before
    if changed:
        nbformat.write(nb, path)
    return changed


if __name__ == "__main__":
    paths = [Path(p) for p in sys.argv[1:]] or chapters()
    for path in paths:
        print(f"{path.name}: {'tidied' if tidy_chapter(path) else 'already tidy'}")
