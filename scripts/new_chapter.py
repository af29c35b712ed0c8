"""Create a chapter notebook skeleton from the course conventions (docs/design.md).

Usage: python scripts/new_chapter.py notebooks/NN_name.ipynb "Title"
"""
from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from hiercourse.notebook import set_colab_cells

PARAMETERS_CELL = '''from hiercourse.notebook import fast_mode, record, start_chapter
import hiercourse

FAST = fast_mode(False)  # full mode is the default; CI and `course.py run` use fast mode
SEED = 0
hiercourse.seed_everything(SEED)
start_chapter(FAST, "smaller data and fewer epochs" if FAST else "the learner's default")  # mode, machine, fast_mode'''


def skeleton(title: str, name: str, url: str | None = None) -> nbformat.NotebookNode:
    """A new chapter titled ``title`` for file ``name``; its badge and install cell point at ``url``
    (default: the course's address, pyproject.toml's ``[project.urls]``)."""
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell(f"# {title}\n\n**Learning objectives**\n\n- ...\n\n**Run time**: ..."),
        new_code_cell(""),  # the Colab install cell, filled in below
        new_code_cell(PARAMETERS_CELL, metadata={"tags": ["parameters"]}),
    ]
    set_colab_cells(nb, name, url)  # the same badge line and install cell as every chapter (course.py set-repo)
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    return nb


if __name__ == "__main__":
    path, title = sys.argv[1], sys.argv[2]
    nbformat.write(skeleton(title, Path(path).name), path)
