"""The digest of each released assignment, and the check that grading uses what was released.

(Interface; the body follows.)
"""

from __future__ import annotations


def check_release(assignment: str) -> str | None:
    """A warning when ``solutions/<assignment>``'s graded cells differ from the recorded release, else None."""
    raise NotImplementedError
