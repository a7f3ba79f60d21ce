"""Read a learning-management system's bulk download into one folder per student.

(Interface; the body follows.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LMS_NAMINGS: dict[str, str] = {}


@dataclass
class LmsUnpack:
    """What :func:`unpack_download` made of an archive.

    Attributes
    ----------
    students : dict[str, Path]
        Student id -> the folder holding ``<assignment>.ipynb`` and the student's other files.
    problems : list[str]
        Human-readable lines for the report: two entries mapping to one id, entries matching
        nothing, entries rejected and why.
    """

    students: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def check_student_id(s: str) -> str:
    """Return ``s`` if it is a safe student id, else raise ``ValueError`` naming what is wrong.

    Unsafe: empty, globs (``* ? [ ]``), a leading ``-`` or ``.``, ``..``, slashes or backslashes,
    whitespace or control characters.
    """
    raise NotImplementedError


def unpack_download(archive: Path, destination: Path, assignment: str, lms: str = "blackboard") -> LmsUnpack:
    """Unpack the zip ``archive`` of ``lms`` as ``destination/<student_id>/<assignment>/<files>``.

    Of several attempts of one student the latest (compared as times) wins; a notebook among
    its files is saved as ``<assignment>.ipynb``. Unsafe entries (zip-slip, absolute paths,
    symlinks, oversized) are rejected with a reason in ``problems``.
    """
    raise NotImplementedError
