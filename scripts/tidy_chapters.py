"""Bring every chapter in line with the course conventions (nbdev-clean style).

Sets the first code cell to the one Colab install cell, collapses every solution cell (in Jupyter and
on the site: ``hiercourse.editions.mark_solutions``) and drops volatile metadata.
Usage: python scripts/tidy_chapters.py [notebooks/NN_*.ipynb ...]   (default: all chapters)
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from hiercourse.editions import mark_solutions
from hiercourse.notebook import COLAB_INSTALL_CELL
from hiercourse.run import chapters, tidy


def tidy_chapter(path: Path) -> bool:
    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    first_code.source = COLAB_INSTALL_CELL
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
