"""Read a learning-management system's bulk download into one folder per student.

    from tools.lms import unpack_download
    unpacked = unpack_download(Path("download.zip"), Path("submitted"), "01_energy_and_partition", lms="canvas")
    unpacked.students   # {"12345": Path("submitted/12345/01_energy_and_partition"), ...}
    unpacked.problems   # lines for the TA's report

Each supported LMS names the entries of its download its own way (``LMS_NAMINGS``):

``blackboard``
    ``<title>_<student_id>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>``, with one metadata file
    ``<title>_<student_id>_attempt_<YYYY-MM-DD-HH-MM-SS>.txt`` per attempt whose first line is
    ``Name: <full name> (<student_id>)``. Both the title and the id may hold underscores: the id
    is read from the metadata file when there is one; otherwise the title is ``title=`` when
    given, else the assignment's name when every entry starts with it, else the longest
    ``_``-bounded prefix shared by every entry, and the report says which title was assumed. Of several attempts of one student, the latest timestamp wins,
    compared as a date and time.
``canvas``
    ``<sortablename>_<student_id>_<attachment_id>_<file>``, or ``<sortablename>_LATE_...`` for a
    late submission; ids are Canvas's numeric user ids, and a re-uploaded file carries a ``-N``
    suffix (``01_energy_and_partition-1.ipynb``). The download holds only the current
    submission; of two notebooks the one with the larger attachment id (compared as numbers) is
    the later upload.
``moodle``
    ``<Full Name>_<student_id>_assignsubmission_<plugin>_<file>``, or
    ``<Full Name>_<student_id>_assignsubmission_<plugin>_/<path>`` when the download was made
    "in folders"; the id is Moodle's participant id, and only the current submission is in it.

Each student's files go to ``destination/<student_id>/<assignment>/``; the notebook is saved
as ``<assignment>.ipynb`` whatever the student called it (the one named after the assignment
if there are several, and the report names the others). Refused, each with its reason in
``problems`` and nothing written for it: entries whose path is absolute, climbs out (``..``) or
holds odd characters, symlinks (the symlink bit of the entry's Unix mode), entries larger than
``max_entry_bytes`` and, once ``max_total_bytes`` have been written, everything after, both
counted on the bytes actually decompressed, not the sizes the archive declares; and student ids
that :func:`check_student_id` refuses (globs, a leading ``-``, ``..``, slashes, spaces, control
characters), so that no id reaches nbgrader as a pattern or a path.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

MAX_ENTRY_BYTES = 64 * 2**20
MAX_TOTAL_BYTES = 2 * 2**30

LMS_NAMINGS: dict[str, str] = {
    "blackboard": "<title>_<student_id>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>  (and <title>_<student_id>_attempt_<timestamp>.txt)",
    "canvas": "<sortablename>[_LATE]_<student_id>_<attachment_id>_<file>",
    "moodle": "<Full Name>_<student_id>_assignsubmission_<plugin>_[/]<file>",
}

_BLACKBOARD = re.compile(r"^(?P<head>.+?)_attempt_(?P<stamp>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})(?:_(?P<file>.+)|(?P<meta>\.txt))$")
_BLACKBOARD_NAME = re.compile(r"^Name:.*\((?P<student_id>[^()]+)\)\s*$", re.M)
_CANVAS = re.compile(r"^(?P<name>[^_/]+)(?:_LATE)?_(?P<student_id>\d+)_(?P<order>\d+)_(?P<file>.+)$")
_MOODLE = re.compile(r"^(?P<name>[^/]+?)_(?P<student_id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_/?(?P<file>.+)$")
_CANVAS_REUPLOAD = re.compile(r"-\d+(?=\.ipynb$)")
_SAFE_CHARACTERS = set("_.@+-")
_CHUNK = 2**20


@dataclass
class LmsUnpack:
    """What :func:`unpack_download` made of an archive.

    Attributes
    ----------
    students : dict[str, Path]
        Student id -> the folder holding ``<assignment>.ipynb`` (absent when the student's
        entries held no notebook, which ``problems`` then says) and the student's other files.
    problems : list[str]
        Human-readable lines for the report: two entries mapping to one id, entries matching
        nothing, entries rejected and why.
    """

    students: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class _Entry:
    """One zip entry read as a student's file: whose, which attempt, and its path in their folder."""

    info: zipfile.ZipInfo
    student_id: str
    order: tuple  # attempts compare by this: (datetime,) for Blackboard, (attachment id,) for Canvas
    file: str  # relative path inside the student's folder


def check_student_id(s: str) -> str:
    """Return ``s`` if it is a safe student id, else raise ``ValueError`` naming what is wrong.

    Safe: 1 to 128 characters, each a letter, a digit or one of ``_ . @ + -``, the first a letter,
    a digit or ``_``, and no ``..``. So globs (``* ? [ ]``), a leading ``-`` (an option to
    nbgrader) or ``.``, slashes, backslashes, whitespace and control characters are refused.
    """
    if not isinstance(s, str):
        raise ValueError(f"student id must be a string, got {type(s).__name__}")
    if not 1 <= len(s) <= 128:
        raise ValueError(f"student id {s!r} must have 1 to 128 characters, has {len(s)}")
    bad = sorted({c for c in s if not (c.isalnum() or c in _SAFE_CHARACTERS)})
    if bad:
        raise ValueError(f"student id {s!r} holds characters that are not safe in a name: {''.join(bad)!r}")
    if not (s[0].isalnum() or s[0] == "_"):
        raise ValueError(f"student id {s!r} must start with a letter, a digit or '_', not {s[0]!r}")
    if ".." in s:
        raise ValueError(f"student id {s!r} must not contain '..'")
    return s


def unpack_download(
    archive: Path,
    destination: Path,
    assignment: str,
    lms: str = "blackboard",
    *,
    title: str | None = None,
    max_entry_bytes: int = MAX_ENTRY_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> LmsUnpack:
    """Unpack the zip ``archive`` of ``lms`` as ``destination/<student_id>/<assignment>/<files>``.

    Parameters
    ----------
    archive : Path
        The zip file as downloaded from the LMS.
    destination : Path
        Where the students' folders go (created if needed); nothing is written outside it.
    assignment : str
        The assignment's name: the notebook is saved as ``<assignment>.ipynb``.
    lms : str
        One of ``LMS_NAMINGS``: how the entries are named (see the module's docstring).
    title : str, optional
        Blackboard only: the assignment's title as it opens each entry's name, for a download
        without metadata files (default: ``assignment`` if every entry starts with it, else the
        longest ``_``-bounded prefix all entries share).
    max_entry_bytes, max_total_bytes : int
        Caps on one entry and on all of them, counted on the decompressed bytes.

    Returns
    -------
    LmsUnpack
        The students' folders and the problems met, one line each.

    Raises
    ------
    ValueError
        If ``lms`` is not supported, ``archive`` is not a zip file, or a cap is not positive.
    """
    if lms not in LMS_NAMINGS:
        raise ValueError(f"lms must be one of {sorted(LMS_NAMINGS)}, got {lms!r}")
    for name, cap in (("max_entry_bytes", max_entry_bytes), ("max_total_bytes", max_total_bytes)):
        if not isinstance(cap, int) or cap <= 0:
            raise ValueError(f"{name} must be a positive integer, got {cap!r}")
    archive, destination = Path(archive), Path(destination)
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"archive {archive} is not a zip file")
    result = LmsUnpack()
    with zipfile.ZipFile(archive) as zf:
        infos = [info for info in zf.infolist() if not info.is_dir()]
        safe = []
        for info in infos:
            reason = _unsafe_entry(info, max_entry_bytes)
            if reason:
                result.problems.append(f"rejected {info.filename!r}: {reason}")
            else:
                safe.append(info)
        counts: dict[str, int] = {}
        for info in safe:
            counts[info.filename] = counts.get(info.filename, 0) + 1
        for name, count in counts.items():
            if count > 1:
                result.problems.append(f"{name!r} appears {count} times in the archive: only its last copy is read")
        safe = list({info.filename: info for info in safe}.values())
        entries = {"blackboard": _blackboard_entries, "canvas": _canvas_entries, "moodle": _moodle_entries}[lms](
            zf, safe, result.problems, title, assignment
        )
        _write(zf, _latest(entries, result.problems), destination, assignment, result, max_entry_bytes, max_total_bytes)
    return result


def _unsafe_entry(info: zipfile.ZipInfo, max_entry_bytes: int) -> str | None:
    """Why the entry must not be unpacked (its path, its type, its declared size), or None."""
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "its name holds control characters"
    if "\\" in name:
        return "its name holds a backslash"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "its path climbs out of the folder ('..')"
    if info.file_size > max_entry_bytes:
        return f"{info.file_size} bytes declared, more than the {max_entry_bytes}-byte cap"
    return None


def _blackboard_entries(zf, infos, problems, title, assignment) -> list[_Entry]:
    matched = []
    for info in infos:
        match = _BLACKBOARD.match(PurePosixPath(info.filename).name)
        if not match:
            problems.append(f"{info.filename!r} matches no Blackboard entry name ({LMS_NAMINGS['blackboard']})")
            continue
        try:
            stamp = datetime.strptime(match["stamp"], "%Y-%m-%d-%H-%M-%S")
        except ValueError:
            problems.append(f"rejected {info.filename!r}: {match['stamp']!r} is not a date and time")
            continue
        matched.append((info, match, stamp))
    # The id of each attempt: from its metadata file, else after the assignment's title.
    named = {}
    for info, match, stamp in matched:
        if match["meta"]:
            found = _BLACKBOARD_NAME.search(zf.read(info)[:4096].decode("utf-8", "replace"))
            if found:
                named[(match["head"], match["stamp"])] = found["student_id"].strip()
    heads = sorted({match["head"] for _, match, _ in matched if (match["head"], match["stamp"]) not in named})
    if heads and title is None:
        if all(head.startswith(f"{assignment}_") for head in heads):
            title = assignment
        else:
            title = _common_title(heads)
            problems.append(f"blackboard: no metadata file for {len(heads)} attempt(s); took {title!r} as the assignment's title")
    entries = []
    for info, match, stamp in matched:
        if match["meta"]:
            continue
        student_id = named.get((match["head"], match["stamp"]))
        if student_id is None:
            if not match["head"].startswith(title + "_"):
                problems.append(f"{info.filename!r} does not start with the title {title!r}")
                continue
            student_id = match["head"][len(title) + 1 :]
        entries.append(_Entry(info, student_id, (stamp,), match["file"]))
    return entries


def _common_title(heads: list[str]) -> str:
    """The longest ``_``-bounded prefix of every head leaving a non-empty id (one head: its first part)."""
    parts = [head.split("_") for head in heads]
    if len(parts) == 1:
        return parts[0][0]
    common = []
    for column in zip(*(p[:-1] for p in parts)):
        if len(set(column)) > 1:
            break
        common.append(column[0])
    return "_".join(common) if common else parts[0][0]


def _canvas_entries(zf, infos, problems, title, assignment) -> list[_Entry]:
    entries, names = [], {}
    for info in infos:
        match = _CANVAS.match(PurePosixPath(info.filename).name)
        if not match:
            problems.append(f"{info.filename!r} matches no Canvas entry name ({LMS_NAMINGS['canvas']})")
            continue
        if names.setdefault(match["student_id"], match["name"]) != match["name"]:
            problems.append(
                f"Canvas id {match['student_id']} appears under two names, {names[match['student_id']]!r} and {match['name']!r}"
            )
        entries.append(_Entry(info, match["student_id"], (int(match["order"]),), match["file"]))
    return entries


def _moodle_entries(zf, infos, problems, title, assignment) -> list[_Entry]:
    entries = []
    for info in infos:
        match = _MOODLE.match(info.filename)
        if not match:
            problems.append(f"{info.filename!r} matches no Moodle entry name ({LMS_NAMINGS['moodle']})")
            continue
        entries.append(_Entry(info, match["student_id"], (0,), match["file"]))
    return entries


def _latest(entries: list[_Entry], problems: list[str]) -> dict[str, list[_Entry]]:
    """Each safe student id's entries of its latest attempt; unsafe ids reported and dropped."""
    by_student: dict[str, list[_Entry]] = {}
    for entry in entries:
        try:
            check_student_id(entry.student_id)
        except ValueError as error:
            problems.append(f"rejected {entry.info.filename!r}: {error}")
            continue
        by_student.setdefault(entry.student_id, []).append(entry)
    folded: dict[str, str] = {}
    for student_id in sorted(by_student):
        other = folded.setdefault(student_id.casefold(), student_id)
        if other != student_id:
            problems.append(f"ids {other!r} and {student_id!r} differ only in case: two students, or one twice?")
    chosen = {}
    for student_id, own in by_student.items():
        if own[0].order and isinstance(own[0].order[0], datetime):  # attempts: keep the latest
            latest = max(e.order for e in own)
            own = [e for e in own if e.order == latest]
        chosen[student_id] = own
    return chosen


def _write(zf, chosen, destination, assignment, result, max_entry_bytes, max_total_bytes) -> None:
    """Write each student's chosen entries, counting decompressed bytes against the caps."""
    total = 0
    root = destination.resolve()
    for student_id in sorted(chosen):
        own = sorted(chosen[student_id], key=lambda e: e.order, reverse=True)
        notebooks = [e for e in own if e.file.endswith(".ipynb")]
        named = [e for e in notebooks if _CANVAS_REUPLOAD.sub("", PurePosixPath(e.file).name) == f"{assignment}.ipynb"]
        submission = (named or notebooks or [None])[0]
        if len(notebooks) > 1:
            others = ", ".join(repr(e.info.filename) for e in notebooks if e is not submission)
            result.problems.append(
                f"{student_id}: {len(notebooks)} notebooks map to this id; graded {submission.info.filename!r}, kept {others} as other files"
            )
        folder = destination / student_id / assignment
        folder.mkdir(parents=True, exist_ok=True)
        result.students[student_id] = folder
        if submission is None:
            result.problems.append(f"{student_id}: no notebook among the entries ({', '.join(repr(e.info.filename) for e in own)})")
        written: set[str] = set()
        for entry in ([submission] if submission else []) + [e for e in own if e is not submission]:
            relative = f"{assignment}.ipynb" if entry is submission else entry.file
            reason = _unsafe_file(relative)
            target = folder / relative
            if reason is None and not target.resolve().is_relative_to(root):
                reason = "its path leaves the destination"
            if reason is None and relative in written:
                reason = f"{student_id} already has a file {relative!r}"
            if reason is None and total >= max_total_bytes:
                reason = f"the {max_total_bytes}-byte total cap is reached"
            if reason is None:
                data, reason = _read_capped(zf, entry.info, min(max_entry_bytes, max_total_bytes - total))
            if reason:
                result.problems.append(f"rejected {entry.info.filename!r}: {reason}")
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.add(relative)
            total += len(data)


def _unsafe_file(relative: str) -> str | None:
    """Why a student's file name must not be written in their folder, or None."""
    for part in PurePosixPath(relative).parts:
        if part in ("", ".", "..") or part.startswith("-"):
            return f"its file name part {part!r} is not safe"
    return None


def _read_capped(zf: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> tuple[bytes, str | None]:
    """The entry's bytes, decompressed chunk by chunk, or a reason once more than ``cap`` came out."""
    chunks, size = [], 0
    try:
        with zf.open(info) as stream:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > cap:
                    return b"", f"decompresses to more than {cap} bytes (the cap left)"
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as error:
        return b"", f"unreadable ({error})"
    return b"".join(chunks), None
