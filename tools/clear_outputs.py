"""Strip outputs and execution counts from notebooks, in place, before they are committed.

    python -m tools.clear_outputs solutions/*/*.ipynb
"""

from __future__ import annotations

import sys

import nbformat


def clear(path: str) -> bool:
    """Clear one notebook's outputs; return True if the file changed."""
    notebook = nbformat.read(path, as_version=4)
    changed = False
    for cell in notebook.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            cell.outputs, cell.execution_count, changed = [], None, True
    if changed:
        nbformat.write(notebook, path)
    return changed


if __name__ == "__main__":
    for path in sys.argv[1:]:
        print(("cleared " if clear(path) else "clean   ") + path)
