"""Create a chapter notebook skeleton from the course conventions (docs/design.md).

Usage: python scripts/new_chapter.py notebooks/NN_name.ipynb "Title"
"""
from __future__ import annotations

import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from hiercourse.notebook import COLAB_INSTALL_CELL as COLAB_CELL

PARAMETERS_CELL = '''from hiercourse.notebook import fast_mode, record
import hiercourse

FAST = fast_mode(False)  # full mode is the default; CI and `course.py run` use fast mode
SEED = 0
hiercourse.seed_everything(SEED)
print("FAST mode: smaller data and fewer epochs" if FAST else "FULL mode")'''


def skeleton(title: str) -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell(f"# {title}\n\n**Learning objectives**\n\n- ...\n\n**Run time**: ..."),
        new_code_cell(COLAB_CELL),
        new_code_cell(PARAMETERS_CELL, metadata={"tags": ["parameters"]}),
    ]
    nb.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }
    return nb


if __name__ == "__main__":
    path, title = sys.argv[1], sys.argv[2]
    nbformat.write(skeleton(title), path)
