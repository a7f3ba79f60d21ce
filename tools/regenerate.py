"""Regenerate every student notebook in ``notebooks/`` from ``solutions/`` with nbgrader.

    python -m tools.regenerate                 # all assignments
    python -m tools.regenerate 01_energy_and_partition

nbgrader's ``generate_assignment`` strips the solutions (between ``### BEGIN SOLUTION`` and
``### END SOLUTION``) and the hidden tests, locks the read-only cells and records checksums.
It runs in a scratch course directory, so no gradebook is left in the repository.

Then it records the release digest of each assignment it regenerated in
``solutions/RELEASES.json`` (see ``tools/release.py``), which grading checks ``solutions/``
against.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from tools import release
from tools.course import NOTEBOOKS, assignments, make_course_directory, nbgrader


def generate(names: list[str], destination: Path) -> list[Path]:
    """Write the student version of each assignment to ``destination/<name>/`` and return the files."""
    destination = Path(destination)
    written = []
    with tempfile.TemporaryDirectory(prefix="ebm-regenerate-") as tmp:
        course = make_course_directory(Path(tmp), names)
        for name in names:
            nbgrader(course, "generate_assignment", name, "--force")
            target = destination / name
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(course / "notebooks" / name, target)
            written.extend(sorted(target.rglob("*.ipynb")))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*", help="assignment names (default: all in solutions/)")
    args = parser.parse_args(argv)
    names = args.assignments or assignments()
    for path in generate(names, NOTEBOOKS):
        print(f"wrote {path.relative_to(NOTEBOOKS.parent)}")
    recorded = release.record(names)
    print(f"recorded the release digests of {', '.join(names)} in {recorded.relative_to(NOTEBOOKS.parent)}")


if __name__ == "__main__":
    main()
