"""tools.lms reads each LMS's download into one folder per student, and refuses what is unsafe."""

from __future__ import annotations

import stat
import struct
import zipfile

import pytest

from tools.lms import LMS_NAMINGS, check_student_id, unpack_download

A = "01_energy_and_partition"
NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def make_zip(path, entries):
    """A zip at ``path`` holding ``entries``: name -> bytes, or name -> (bytes, ZipInfo tweak)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            if callable(data):
                data(zf, name)
            else:
                zf.writestr(name, data)
    return path


def bb(user, stamp, file=f"{A}.ipynb", title="Notebook 01"):
    return f"{title}_{user}_attempt_{stamp}_{file}"


def test_blackboard_ids_with_underscores_are_two_students(tmp_path):
    archive = make_zip(tmp_path / "d.zip", {
        bb("anna_smith", "2026-03-01-10-00-00"): NB + b" ",
        bb("bob_smith", "2026-03-01-11-00-00"): NB,
    })
    got = unpack_download(archive, tmp_path / "out", A)
    assert sorted(got.students) == ["anna_smith", "bob_smith"]
    assert (got.students["anna_smith"] / f"{A}.ipynb").read_bytes() == NB + b" "
    assert got.students["bob_smith"] == tmp_path / "out" / "bob_smith" / A
    assert any("'Notebook 01'" in p for p in got.problems)  # the title it assumed, for the TA to check


def test_blackboard_title_with_underscores_read_as_the_assignment_name_even_for_one_student(tmp_path):
    archive = make_zip(tmp_path / "d.zip", {bb("anna_smith", "2026-03-01-10-00-00", title=A): NB})
    got = unpack_download(archive, tmp_path / "out", A)
    assert list(got.students) == ["anna_smith"] and got.problems == []


def test_blackboard_metadata_file_names_the_user_even_when_the_title_has_underscores(tmp_path):
    stamp = "2026-03-01-10-00-00"
    archive = make_zip(tmp_path / "d.zip", {
        f"hw_01_anna_smith_attempt_{stamp}.txt": b"Name: Anna Smith (anna_smith)\nAssignment: hw_01\n",
        f"hw_01_anna_smith_attempt_{stamp}_{A}.ipynb": NB,
    })
    got = unpack_download(archive, tmp_path / "out", A)
    assert list(got.students) == ["anna_smith"] and got.problems == []


def test_blackboard_latest_attempt_is_compared_as_a_time_not_a_string(tmp_path):
    # The later attempt is one second later and its file name sorts first: the time decides.
    archive = make_zip(tmp_path / "d.zip", {
        bb("anna", "2026-03-01-09-59-59", "z_old.ipynb"): b"old",
        bb("anna", "2026-03-01-10-00-00", "a_new.ipynb"): NB,
        bb("ben", "2026-03-01-10-00-00"): NB,
    })
    got = unpack_download(archive, tmp_path / "out", A)
    folder = got.students["anna"]
    assert (folder / f"{A}.ipynb").read_bytes() == NB
    assert sorted(p.name for p in folder.iterdir()) == [f"{A}.ipynb"]  # the older attempt is not copied


def test_blackboard_invalid_timestamp_is_rejected_with_its_reason(tmp_path):
    archive = make_zip(tmp_path / "d.zip", {bb("anna", "2026-13-01-10-00-00"): NB, bb("ben", "2026-03-01-10-00-00"): NB})
    got = unpack_download(archive, tmp_path / "out", A)
    assert list(got.students) == ["ben"]
    assert any("2026-13-01-10-00-00" in p and "not a date" in p for p in got.problems)


def test_entries_matching_nothing_and_two_notebooks_for_one_id_are_reported(tmp_path):
    stamp = "2026-03-01-10-00-00"
    archive = make_zip(tmp_path / "d.zip", {
        "readme.pdf": b"x",
        bb("anna", stamp): NB,
        bb("anna", stamp, "copy.ipynb"): b"{}",
        bb("ben", stamp): NB,
    })
    got = unpack_download(archive, tmp_path / "out", A)
    assert any("'readme.pdf' matches no Blackboard" in p for p in got.problems)
    assert any(p.startswith("anna: 2 notebooks map to this id") for p in got.problems)
    assert (got.students["anna"] / f"{A}.ipynb").read_bytes() == NB  # the one named after the assignment
    assert (got.students["anna"] / "copy.ipynb").read_bytes() == b"{}"


def test_canvas_numeric_ids_late_entries_and_reuploads(tmp_path):
    archive = make_zip(tmp_path / "d.zip", {
        f"smithanna_1201_900_{A}.ipynb": b"first",
        f"smithanna_1201_1000_{A}-1.ipynb": NB,  # re-uploaded later: larger attachment id
        f"smithbob_LATE_77_901_{A}.ipynb": NB,
        "smithbob_LATE_77_902_data.csv": b"1,2",
    })
    got = unpack_download(archive, tmp_path / "out", A, lms="canvas")
    assert sorted(got.students) == ["1201", "77"]
    assert (got.students["1201"] / f"{A}.ipynb").read_bytes() == NB
    assert (got.students["77"] / "data.csv").read_bytes() == b"1,2"
    assert any("1201: 2 notebooks" in p for p in got.problems)


def test_canvas_attachment_ids_compare_as_numbers(tmp_path):
    archive = make_zip(tmp_path / "d.zip", {f"x_5_99_{A}.ipynb": b"older", f"x_5_100_{A}-1.ipynb": NB})
    got = unpack_download(archive, tmp_path / "out", A, lms="canvas")
    assert (got.students["5"] / f"{A}.ipynb").read_bytes() == NB


def test_moodle_flat_and_folder_downloads(tmp_path):
    archive = make_zip(tmp_path / "d.zip", {
        f"Anna Smith_4101_assignsubmission_file_{A}.ipynb": NB,
        "Bob Smith_4102_assignsubmission_file_/sub/helper.py": b"x = 1",
        f"Bob Smith_4102_assignsubmission_file_/{A}.ipynb": NB,
    })
    got = unpack_download(archive, tmp_path / "out", A, lms="moodle")
    assert sorted(got.students) == ["4101", "4102"]
    assert (got.students["4102"] / "sub" / "helper.py").read_bytes() == b"x = 1"
    assert got.problems == []


def test_zip_slip_absolute_paths_and_backslashes_are_rejected(tmp_path):
    stamp = "2026-03-01-10-00-00"
    archive = make_zip(tmp_path / "d.zip", {
        f"../{bb('eve', stamp)}": NB,
        f"/tmp/{bb('eve', stamp)}": NB,
        f"..\\{bb('eve', stamp)}": NB,
        bb("ben", stamp): NB,
    })
    got = unpack_download(archive, tmp_path / "out", A)
    assert list(got.students) == ["ben"]
    reasons = sorted(p.rpartition(": ")[2] for p in got.problems if p.startswith("rejected"))
    assert reasons == ["an absolute path", "its name holds a backslash", "its path climbs out of the folder ('..')"]
    moodle = make_zip(tmp_path / "m.zip", {"Eve_4103_assignsubmission_file_/../../escaped.py": b"x"})
    got = unpack_download(moodle, tmp_path / "out2", A, lms="moodle")
    assert any("climbs out" in p for p in got.problems) and got.students == {}
    assert not (tmp_path / "escaped.py").exists() and not list(tmp_path.parent.glob("escaped.py"))


def test_symlink_entries_are_rejected(tmp_path):
    def symlink(zf, name):
        info = zipfile.ZipInfo(name)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")

    stamp = "2026-03-01-10-00-00"
    archive = make_zip(tmp_path / "d.zip", {bb("eve", stamp): symlink, bb("ben", stamp): NB})
    got = unpack_download(archive, tmp_path / "out", A)
    assert list(got.students) == ["ben"]
    assert any("symbolic link" in p for p in got.problems)


def test_unsafe_student_ids_are_rejected_never_passed_on(tmp_path):
    stamp = "2026-03-01-10-00-00"
    archive = make_zip(tmp_path / "d.zip", {
        bb("*", stamp): NB,
        bb("-rf", stamp): NB,
        bb("ben", stamp): NB,
    })
    got = unpack_download(archive, tmp_path / "out", A, title="Notebook 01")
    assert list(got.students) == ["ben"]
    assert sum(p.startswith("rejected") for p in got.problems) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ben"]


@pytest.mark.parametrize("bad", ["", "*", "a?b", "[ab]", "-rf", ".hidden", "a..b", "..", "a/b", "a\\b", "a b", "a\x00b", "a\nb", "x" * 129])
def test_check_student_id_refuses_unsafe_names(bad):
    with pytest.raises(ValueError, match="student id"):
        check_student_id(bad)


@pytest.mark.parametrize("good", ["anna_smith", "12345", "j.doe", "a-b", "_x", "anna+1@uni.edu", "müller"])
def test_check_student_id_keeps_safe_names(good):
    assert check_student_id(good) == good


def test_oversized_entry_is_rejected_by_its_size(tmp_path):
    stamp = "2026-03-01-10-00-00"
    archive = make_zip(tmp_path / "d.zip", {bb("eve", stamp): b"0" * 5000, bb("ben", stamp): NB})
    got = unpack_download(archive, tmp_path / "out", A, max_entry_bytes=1000)
    assert not (got.students.get("eve", tmp_path) / f"{A}.ipynb").exists()
    assert any("5000 bytes declared" in p for p in got.problems)
    assert (got.students["ben"] / f"{A}.ipynb").read_bytes() == NB


def test_total_cap_stops_a_bomb_of_many_small_entries(tmp_path):
    stamp = "2026-03-01-10-00-00"
    archive = make_zip(tmp_path / "d.zip", {bb(f"s{i}", stamp): b"0" * 400 for i in range(10)})
    got = unpack_download(archive, tmp_path / "out", A, max_total_bytes=1000)
    written = sum(p.stat().st_size for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == 800  # two whole entries; the third would pass the cap
    assert sum("total cap" in p or "cap left" in p for p in got.problems) == 8


def _lie_about_size(path, claimed):
    """Rewrite the uncompressed size of the archive's only entry, in both headers, to ``claimed``."""
    data = bytearray(path.read_bytes())
    local = data.find(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, claimed)
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, claimed)
    path.write_bytes(bytes(data))


def test_an_entry_whose_header_understates_its_size_is_rejected_not_unpacked(tmp_path):
    # zipfile stops at the declared size, so the data read is cut short and fails its CRC: the
    # entry is refused as unreadable instead of being written with the header's small size.
    archive = make_zip(tmp_path / "d.zip", {bb("eve", "2026-03-01-10-00-00"): b"0" * 200_000})
    _lie_about_size(archive, 100)
    with zipfile.ZipFile(archive) as zf:
        assert zf.infolist()[0].file_size == 100  # the header now claims a small entry
    got = unpack_download(archive, tmp_path / "out", A, max_entry_bytes=1000)
    assert not (tmp_path / "out" / "eve" / A / f"{A}.ipynb").exists()
    assert any("rejected" in p and "eve" in p and "unreadable (Bad CRC-32" in p for p in got.problems)


def test_bad_arguments_name_themselves(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="archive"):
        unpack_download(tmp_path / "x.zip", tmp_path / "out", A)
    with pytest.raises(ValueError, match="lms must be one of"):
        unpack_download(tmp_path / "x.zip", tmp_path / "out", A, lms="sakai")
    with pytest.raises(ValueError, match="max_entry_bytes"):
        unpack_download(tmp_path / "x.zip", tmp_path / "out", A, max_entry_bytes=0)


def test_every_naming_is_documented_in_the_module_docstring():
    import tools.lms

    assert set(LMS_NAMINGS) == {"blackboard", "canvas", "moodle"}
    for name in LMS_NAMINGS:
        assert f"``{name}``" in tools.lms.__doc__


def test_the_grade_command_passes_title_to_a_blackboard_download_without_metadata(tmp_path):
    """With one student and no metadata file the title can only be guessed; --title says it."""
    import csv

    from tools.grade import main

    archive = make_zip(tmp_path / "d.zip", {bb("anna_smith", "2026-03-01-10-00-00"): b"not json"})
    out = tmp_path / "out"
    code = main([str(archive), str(out), "--assignment", A, "--title", "Notebook 01", "--no-sandbox"])
    with (out / "grades.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert code == 0 and [(r["student_id"], r["status"]) for r in rows] == [("anna_smith", "not a notebook")]
    assert "took" not in (out / "report.txt").read_text()  # nothing guessed
