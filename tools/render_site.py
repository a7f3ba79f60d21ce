"""Render the executed solution notebooks, with their figures, to a static HTML site.

    python -m tools.render_site site/                 # every notebook
    python -m tools.render_site site/ 03_mcmc         # some

Each solution notebook is run top to bottom in a fresh kernel and written as
``site/NN_name.html`` (figures embedded, so the folder can be copied anywhere or served as
it is); ``site/index.html`` lists them. Open ``site/index.html`` in a browser. Sliders
show their starting picture only: they need a live kernel.
"""

from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from tools.course import SOLUTIONS, assignments


def _title(notebook) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.splitlines()[0][2:].strip()
    return "untitled"


def render(names: list[str], site: Path) -> list[tuple[str, str]]:
    """Execute and render each assignment's solution into ``site``; return (file name, title) pairs."""
    site.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    pages = []
    for name in names:
        path = SOLUTIONS / name / f"{name}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        print(f"running {name} ...", flush=True)
        NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(path.parent)}}).execute()
        body, _ = exporter.from_notebook_node(notebook)
        (site / f"{name}.html").write_text(body, encoding="utf-8")
        pages.append((f"{name}.html", _title(notebook)))
    items = "\n".join(f'<li><a href="{file}">{html.escape(title)}</a></li>' for file, title in pages)
    (site / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>Energy-Based Models: worked solutions</title>"
        "<body style='font-family: sans-serif; max-width: 40em; margin: 3em auto'>"
        f"<h1>Energy-Based Models: worked solutions</h1><ol>{items}</ol></body>\n",
        encoding="utf-8",
    )
    return pages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("site", type=Path, help="output folder")
    parser.add_argument("assignments", nargs="*", help="notebook names (default: all)")
    args = parser.parse_args(argv)
    pages = render(args.assignments or assignments(), args.site)
    print(f"wrote {len(pages)} pages; open {args.site / 'index.html'}")


if __name__ == "__main__":
    main(sys.argv[1:])
