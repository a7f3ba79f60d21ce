"""Submissions of notebook 01 written by students who attack the grading, one attack each.

Each builder returns a notebook (a dict) made from the released student version. Most keep
only the first two exercises (the setup cell, quadratic_energy and log_partition_exact, with
their answers), so that a hostile submission costs a few seconds of kernel time; the deleted
test cells score zero, which the expected scores below account for.
"""

from __future__ import annotations

import copy
import json
import uuid

from tests.conftest import nbgrader_meta

NAME = "01_energy_and_partition"
SHORT_TESTS = ("quadratic_energy_test", "log_partition_exact_test")  # the tests a short notebook keeps
MARKER = "4242"  # in the command line of every process a hostile submission leaves behind


def with_answers(student: dict, solution: dict) -> dict:
    """The student version with every answer cell filled in from the solution (a perfect student)."""
    answers = {nbgrader_meta(c)["grade_id"]: c["source"] for c in solution["cells"] if nbgrader_meta(c).get("solution")}
    filled = copy.deepcopy(student)
    for cell in filled["cells"]:
        if nbgrader_meta(cell).get("solution"):
            cell["source"] = answers[nbgrader_meta(cell)["grade_id"]]
    return filled


def short(perfect: dict) -> dict:
    """The perfect notebook cut after the log_partition_exact test: two exercises, 3 points."""
    cut = copy.deepcopy(perfect)
    end = next(i for i, c in enumerate(cut["cells"]) if nbgrader_meta(c).get("grade_id") == SHORT_TESTS[-1])
    cut["cells"] = cut["cells"][: end + 1]
    return cut


def code_cell(source: str) -> dict:
    return {"id": uuid.uuid4().hex[:8], "cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}


def _answer(notebook: dict, grade_id: str) -> dict:
    return next(c for c in notebook["cells"] if nbgrader_meta(c).get("grade_id") == grade_id)


def vandal(perfect: dict, paths: dict[str, str], port: int) -> dict:
    """Reads and writes what it should not, calls home, and leaves processes running.

    It prints one line ``VANDAL {json}`` of what it could see and do, for the test to read in its
    feedback; the test checks the host side itself (files, processes, the listening socket).
    """
    nb = short(perfect)
    nb["cells"].append(
        code_cell(
            f"""import json, os, socket, subprocess, sys
paths = {json.dumps(paths)}
seen = {{name: os.path.exists(path) for name, path in paths.items()}}
wrote = {{}}
for name in ("ebmlib_init", "honest_notebook", "grades", "gradebook", "repo_file", "host_tmp"):
    try:
        with open(paths[name], "a") as handle:
            handle.write("# vandalised\\n")
        wrote[name] = True
    except OSError:
        wrote[name] = False
import ebmlib
try:
    with open(ebmlib.__file__, "a") as handle:
        handle.write("# vandalised\\n")
    wrote["kernel_ebmlib"] = True
except OSError:
    wrote["kernel_ebmlib"] = False
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
    called_home = True
except OSError:
    called_home = False
subprocess.Popen(["sleep", "{MARKER}1"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sleep", ["sleep", "{MARKER}2"])
    os._exit(0)
print("VANDAL", json.dumps({{"seen": seen, "wrote": wrote, "called_home": called_home, "ebmlib": ebmlib.__file__}}))
"""
        )
    )
    return nb


def limits_tester(perfect: dict, memory_mb: int, processes: int, output_kb: int) -> dict:
    """Asks for more memory, threads and output than allowed; prints what happened before flooding."""
    nb = short(perfect)
    nb["cells"].append(
        code_cell(
            f"""import threading, time
try:
    hog = bytearray({memory_mb + 256} * 2**20)
    print("LIMITS memory allowed")
except MemoryError:
    print("LIMITS memory refused")
threads = []
try:
    for _ in range({processes + 20}):
        thread = threading.Thread(target=time.sleep, args=(20,), daemon=True)
        thread.start()
        threads.append(thread)
    print("LIMITS threads allowed")
except RuntimeError:
    print("LIMITS threads refused after", len(threads))
"""
        )
    )
    nb["cells"].append(code_cell(f"for _ in range({4 * output_kb}):\n    print('x' * 1023)\n"))
    return nb


def leaker(perfect: dict) -> dict:
    """Prints the hidden tests three ways (a frame, In, _ih) and patches torch.allclose."""
    nb = short(perfect)
    answer = _answer(nb, "log_partition_exact_answer")
    answer["source"] = "import inspect\n" + "".join(answer["source"]).replace(
        "    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n    print(inspect.getsource(inspect.currentframe().f_back))\n", 1
    )
    nb["cells"].append(code_cell("print('\\n'.join(In))\nprint(repr(_ih))\nimport torch\ntorch.allclose = lambda *args, **kwargs: True\n"))
    return nb


def forbid_rebinder(perfect: dict) -> dict:
    """Switches forbid off, then hands back ebmlib's own log_partition_exact."""
    nb = short(perfect)
    answer = _answer(nb, "log_partition_exact_answer")
    answer["source"] = (
        "import contextlib\nimport ebmlib.testing\nimport ebmlib.partition\n"
        "forbid = lambda *args, **kwargs: contextlib.nullcontext()\n"
        "try:\n    ebmlib.testing.forbid = forbid\nexcept AttributeError:\n    pass\n\n\n"
        "def log_partition_exact(energies, temperature=1.0):\n"
        "    return ebmlib.partition.log_partition_exact(energies, temperature)\n"
    )
    return nb


def default_capturer(perfect: dict) -> dict:
    """Captures ebmlib's answer in a default argument, adds a cell claiming 100 points, duplicates a test."""
    nb = short(perfect)
    answer = _answer(nb, "log_partition_exact_answer")
    answer["source"] = (
        "import ebmlib.partition\n\n\n"
        "def log_partition_exact(energies, temperature=1.0, _reference=ebmlib.partition.log_partition_exact):\n"
        "    return _reference(energies, temperature)\n"
    )
    bonus = code_cell("print('bonus')\n")
    bonus["metadata"] = {"nbgrader": {"grade": True, "solution": False, "locked": True, "points": 100, "grade_id": "bonus_points", "schema_version": 3}}
    duplicate = copy.deepcopy(_answer(nb, "quadratic_energy_test"))
    duplicate["source"] = "assert True\n"
    nb["cells"] += [bonus, duplicate]
    return nb


def null_cells(student: dict) -> str:
    """JSON that parses, but whose cells list holds a null: not a notebook by nbformat's schema."""
    broken = copy.deepcopy(student)
    broken["cells"].insert(2, None)
    return json.dumps(broken)


def sigint_ignorer(busy: bool) -> dict:
    """One cell that ignores the interrupt and never ends (spinning, or sleeping), after starting a process."""
    loop = "while True:\n    pass\n" if busy else "while True:\n    time.sleep(0.1)\n"
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            code_cell(
                f"import signal, subprocess, time\nsubprocess.Popen(['sleep', '{MARKER}3'])\n"
                f"signal.signal(signal.SIGINT, signal.SIG_IGN)\n{loop}"
            )
        ],
    }
