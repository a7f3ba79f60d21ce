"""tools.integrity flags tampering in a submission's cells, by reading them, and leaves honest code alone."""

from __future__ import annotations

import pytest

from tests.conftest import ASSIGNMENTS, nbgrader_meta, read_notebook, solution_path, student_path
from tools import integrity
from tools.integrity import scan_notebook

TEST_CELL = """\
from ebmlib.testing import forbid
import ebmlib.partition
assert torch.allclose(log_partition_exact(torch.zeros(2)), torch.tensor(math.log(2.0)))
### BEGIN HIDDEN TESTS
with forbid(ebmlib.partition.log_partition_exact, namespace=globals()):
    got = log_partition_exact(energies)
assert abs(float(got) - expected) < 1e-9
### END HIDDEN TESTS
"""
SETUP = "import math\nimport numpy as np\nimport torch\nimport ebmlib.partition\nenergies = torch.tensor([0.0, 1.0])\nexpected = 0.0\n"
ANSWER = "def log_partition_exact(energies, temperature=1.0):\n    return torch.logsumexp(-energies / temperature, 0)\n"


def code(source, **nbgrader):
    cell = {"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}
    if nbgrader:
        cell["metadata"]["nbgrader"] = nbgrader
    return cell


def notebook(*student_cells, answer=ANSWER):
    """Setup, an answer cell, the student's extra cells, then the graded test cell."""
    cells = [code(SETUP), code(answer, solution=True, grade=False, grade_id="answer")]
    cells += [code(s) for s in student_cells]
    cells.append(code(TEST_CELL, grade=True, solution=False, grade_id="test", points=2))
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


NAMES = integrity.test_names(notebook())


def flags_of(*student_cells, **kwargs):
    return scan_notebook(notebook(*student_cells, **kwargs), NAMES)


def test_test_names_are_what_the_test_cells_load_and_do_not_bind():
    assert {"log_partition_exact", "torch", "math", "abs", "float", "globals", "energies", "expected"} <= NAMES
    assert not {"got", "forbid", "ebmlib"} & NAMES  # bound by the test cell itself


def test_honest_submission_has_no_flags():
    assert flags_of("x = torch.linspace(-3, 3, 7)\nprint(log_partition_exact(x))", "%timeit log_partition_exact(x)") == []


CHEATS = [
    ("forbid = lambda *a, **k: __import__('contextlib').nullcontext()", "rebinds forbid"),
    ("import ebmlib.testing\nebmlib.testing.forbid = lambda *a, **k: None", "assigns to ebmlib.testing.forbid, an attribute of the imported ebmlib"),
    ("import ebmlib.testing as t\nt.__dict__['forbid'] = print", "reaches the __dict__ of the imported t"),
    ("setattr(torch, 'allclose', lambda *a, **k: True)", "calls setattr on torch, imported"),
    ("torch.allclose = lambda *a, **k: True", "assigns to torch.allclose, an attribute of the imported torch"),
    ("del torch.allclose", "deletes torch.allclose"),
    ("np = None", "rebinds np"),
    ("abs = lambda x: 0", "rebinds abs"),
    ("def abs(x):\n    return 0", "defines abs, shadowing"),
    ("energies = torch.zeros(3)", "rebinds energies"),
    ("log_partition_exact = ebmlib.partition.log_partition_exact", "rebinds log_partition_exact"),
    ("from ebmlib.partition import log_partition_exact as lpe\nfrom ebmlib.partition import free_energy as log_partition_exact", "rebinds log_partition_exact"),
    ("import numpy as torch", "rebinds torch"),
    ("def f():\n    global expected\n    expected = 1", "declares global expected"),
    ("globals()['forbid'] = print", "writes the namespace through globals()"),
    ("import sys\nsys.modules['ebmlib.testing'] = None", "touches sys.modules"),
    ("from sys import modules\nmodules.pop('ebmlib.testing')", "touches sys.modules"),
    ("import builtins\nbuiltins.abs = lambda x: 0", "touches builtins"),
    ("__builtins__.abs = lambda x: 0", "touches builtins"),
    ("print(open('/srv/course/gradebook.db', 'rb').read())", "reaches a file outside its folder (open)"),
    ("open('../bob/01.ipynb', 'w').write('x')", "reaches a file outside its folder (open)"),
    ("name = 'x'\nopen(name).read()", "reaches a file by a computed path (open)"),
    ("import pathlib\nprint(pathlib.Path('/etc/passwd').read_text())", "names a path outside its folder"),
    ("from pathlib import Path\np = Path.home()\np.read_text()", "reads or writes files through .read_text()"),
    ("import os\nos.remove('/tmp/x')", "reaches a file outside its folder (os.remove)"),
    ("import os\nprint(os.listdir('..'))", "reaches a file outside its folder (os.listdir)"),
    ("import shutil\nshutil.rmtree('ebmlib')", "copies or deletes files (shutil)"),
    ("import inspect\nframe = inspect.currentframe().f_back", "inspects live code or frames"),
    ("import sys\nframe = sys._getframe(1)", "sys._getframe"),
    ("print(In[-1])", "reads the notebook's history (In)"),
    ("print(_ih)", "reads the notebook's history (_ih)"),
    ("h = get_ipython().history_manager", "the notebook's history (history_manager)"),
    ("ebmlib.partition.log_partition_exact.__code__ = (lambda e: 0).__code__", "code surgery (__code__)"),
    ("import gc\nrefs = [o for o in gc.get_objects() if callable(o)]", "walks the heap (gc.get_objects)"),
    ("import subprocess\nsubprocess.run(['ls'])", "runs other programs (subprocess)"),
    ("import os\nos.system('ls')", "runs a shell command (os.system)"),
    ("import ctypes", "calls C directly (ctypes)"),
    ("!cat /srv/course/solutions/01/01.ipynb", "runs a shell command (!)"),
    ("%%bash\nls /", "runs the %%bash magic"),
    ("exec('forb' + 'id = print')", "runs code built at run time (exec)"),
    ("m = __import__('s' + 'ys')", "imports modules by computed name (__import__)"),
    ("import types\nf = types.FunctionType(log_partition_exact.__code__, {})", "builds functions from code objects"),
    ("import ebmlib.testing as t\nobject.__setattr__(t, '__class__', type(t))", "object.__setattr__"),
    ("def answer(e):\n    try:\n        return ebmlib.partition.log_partition_exact(e)\n    except ReferenceCalled:\n        return 0", "catches ReferenceCalled"),
    ("def log_partition_exact(e, t=1.0, _ref=ebmlib.partition.log_partition_exact):\n    return _ref(e, t)", "the answer log_partition_exact refers to the library's own ebmlib.partition.log_partition_exact"),
    ("import ebmlib.testing\nebmlib.testing._ACTIVE.clear()", "reaches forbid's internals"),
    ("import runpy\nfresh = runpy.run_path(ebmlib.partition.__file__)", "runs modules as scripts (runpy)"),
    ("src = open(ebmlib.partition.__file__).read()", "a module's source file (__file__)"),
    ("import importlib\nimportlib.reload(ebmlib.partition)", "imports modules by computed name (importlib)"),
    ("reference = ebmlib.partition.log_partition_exact.__wrapped__ if False else None\nf = log_partition_exact.__globals__", "a function's globals (__globals__)"),
]


@pytest.mark.parametrize("source, expected", CHEATS, ids=[c[1][:40] for c in CHEATS])
def test_each_tampering_is_flagged_naming_its_cell(source, expected):
    flags = flags_of(source)
    assert any(flag.startswith("cell 3: ") and expected in flag for flag in flags), flags


def test_a_cell_with_a_syntax_error_is_flagged_and_the_scan_goes_on():
    flags = flags_of("def broken(:\n    pass", "torch.allclose = None")
    assert flags[0].startswith("cell 3: does not parse (SyntaxError")
    assert any(f.startswith("cell 4: assigns to torch.allclose") for f in flags)


def test_test_cells_are_scanned_too_and_untouched_released_cells_are_skipped():
    nb = notebook()
    assert scan_notebook(nb, NAMES) == []  # forbid(..., namespace=globals()) is how tests are written
    nb["cells"][-1]["source"] += "\nimport sys; sys.modules.clear()"
    assert scan_notebook(nb, NAMES) == ["cell 3 [test]: touches sys.modules"]
    disguised = code("import sys\nsys.modules.clear()", grade=True, solution=False, grade_id="my_own_test", points=0)
    nb = notebook()
    nb["cells"].insert(2, disguised)
    assert scan_notebook(nb, NAMES) == ["cell 3 [my_own_test]: touches sys.modules"]
    demo = "import sys\nprint(sys.modules['torch'])"  # an instructor's cell, left as released
    solution = notebook(demo)
    assert scan_notebook(notebook(demo), NAMES, solution_notebook=solution) == []
    assert scan_notebook(notebook(demo), NAMES) != []


def test_a_notebook_whose_cells_are_broken_does_not_crash_the_scan():
    assert scan_notebook({"cells": None}, NAMES) == ["the notebook has no list of cells: not scanned"]
    assert scan_notebook({"cells": [None, 3, {"cell_type": "code"}]}, NAMES) == []


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_the_instructors_solutions_and_the_released_notebooks_raise_no_flag(name):
    solution = read_notebook(solution_path(name))
    names = integrity.test_names(solution)
    answers = {**solution, "cells": [c for c in solution["cells"] if nbgrader_meta(c).get("solution")]}
    assert answers["cells"], f"{name}: no solution cells"
    assert scan_notebook(answers, names) == []
    assert scan_notebook(solution, names) == []  # the demos too
    assert scan_notebook(read_notebook(student_path(name)), names) == []
    assert {"forbid", "ebmlib", "torch"} <= names  # the test cells were read
