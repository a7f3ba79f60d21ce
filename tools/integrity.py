"""An integrity scan of a submission: code that could tamper with the grading, flagged for a person.

    from tools.integrity import scan_notebook, test_names
    names = test_names(solution)                 # what the instructor's test cells rely on
    flags = scan_notebook(submission, names, solution_notebook=solution)
    # ["cell 7 [log_z_answer]: assigns to torch.allclose, an attribute of the imported torch", ...]

The student's code cells are parsed with :mod:`ast` (after IPython's own rewriting of ``%magic``
and ``!shell`` lines), never executed. A flag is a reason for a person to read the cell, not a
verdict: the scan never changes a grade. It flags code that

- rebinds a name the tests use (a function the tests call, ``forbid``, ``torch``, ``np``, a
  builtin such as ``abs``) by assignment, ``del``, ``global``, an import under another name, or
  writes to ``globals()``; a top-level ``def`` or ``class`` of an exercise's name is the answer
  itself and is not flagged, but one shadowing ``forbid``, a module or a builtin is;
- defines an answer that refers to the library's function of the same name
  (``def log_partition_exact(e, _ref=ebmlib.partition.log_partition_exact)``: ``forbid`` makes
  that call fail, the flag says why);
- assigns to (or deletes) an attribute of anything imported (``torch.allclose = ...``,
  ``ebmlib.testing.forbid = ...``, ``setattr(torch, ...)``, ``object.__setattr__``), or catches
  ``ReferenceCalled``;
- touches ``sys.modules``, ``builtins``, or code and frame internals (``__code__``,
  ``__globals__``, ``__closure__``, ``f_back``, ``gc.get_objects``, ``inspect``,
  ``sys._getframe``), or the notebook's history (``In``, ``Out``, ``_ih``, ``get_ipython()``);
- reads or writes files by a path that is computed, absolute or climbs out (``..``), through
  ``open``, ``pathlib``, ``os``, ``shutil``, ``glob``, ``numpy``/``torch`` load and save;
- runs other programs or code built at run time (``subprocess``, ``os.system``, ``ctypes``,
  ``socket``, ``exec``, ``eval``, ``__import__``, ``importlib``, ``!shell`` and ``%%bash`` cells).

Every code cell is scanned, the test cells too (the grader puts the instructor's version back,
but a cell the student marked as a test is no hiding place); ``namespace=globals()`` in a call of
``forbid``, as the instructor's tests write it, is not flagged. With ``solution_notebook``, cells
left exactly as released are skipped. A cell that does not parse is flagged as such, and the scan
goes on with the next.
"""

from __future__ import annotations

import ast
import builtins
import functools
import re

ALWAYS_PROTECTED = frozenset({"forbid", "ReferenceCalled", "ebmlib", "torch", "np", "numpy", "math", "F", "pytest"})
BUILTINS = frozenset(dir(builtins))
CONVENTIONAL_ALIASES = {
    "np": "numpy", "plt": "matplotlib.pyplot", "F": "torch.nn.functional", "nn": "torch.nn", "pd": "pandas",
    "widgets": "ipywidgets", "sns": "seaborn", "mpl": "matplotlib",
}
HISTORY = re.compile(r"^(In|Out|_ih|_oh|_dh|_i|_ii|_iii|_i\d+|_\d+|__|___)$")
INTERNALS = {
    "__code__": "code surgery (__code__)", "__globals__": "a function's globals (__globals__)",
    "__closure__": "a closure's cells (__closure__)", "cell_contents": "a closure's cells (cell_contents)",
    "__defaults__": "a function's defaults (__defaults__)", "__kwdefaults__": "a function's defaults (__kwdefaults__)",
    "__builtins__": "builtins (__builtins__)", "__subclasses__": "the class tree (__subclasses__)",
    "f_back": "stack frames (f_back)", "f_globals": "stack frames (f_globals)", "f_locals": "stack frames (f_locals)",
    "f_code": "stack frames (f_code)", "tb_frame": "stack frames (tb_frame)", "gi_frame": "stack frames (gi_frame)",
    "cr_frame": "stack frames (cr_frame)", "history_manager": "the notebook's history (history_manager)",
    "__file__": "a module's source file (__file__)", "__loader__": "a module's loader (__loader__)",
    "__spec__": "a module's import spec (__spec__)",
}
# Canonical dotted names (after resolving import aliases) and what using them means.
DANGEROUS = {
    "sys.modules": "touches sys.modules", "builtins": "touches builtins", "__builtins__": "touches builtins",
    "sys._getframe": "inspects stack frames (sys._getframe)", "sys.settrace": "traces execution (sys.settrace)",
    "sys.setprofile": "traces execution (sys.setprofile)", "sys.addaudithook": "hooks the interpreter (sys.addaudithook)",
    "threading.settrace": "traces execution (threading.settrace)", "inspect": "inspects live code or frames (inspect)",
    "gc.get_objects": "walks the heap (gc.get_objects)", "gc.get_referrers": "walks the heap (gc.get_referrers)",
    "gc.get_referents": "walks the heap (gc.get_referents)", "subprocess": "runs other programs (subprocess)",
    "os.system": "runs a shell command (os.system)", "os.popen": "runs a shell command (os.popen)",
    "os.fork": "forks a process (os.fork)", "os.kill": "signals processes (os.kill)", "pty": "runs other programs (pty)",
    "ctypes": "calls C directly (ctypes)", "socket": "opens network sockets (socket)",
    "multiprocessing": "starts processes (multiprocessing)", "signal": "handles signals (signal)",
    "importlib": "imports modules by computed name (importlib)", "runpy": "runs modules as scripts (runpy)",
    "imp": "imports modules by hand (imp)", "pkgutil": "loads package data and modules (pkgutil)",
    "linecache": "reads source files (linecache)", "__import__": "imports modules by computed name (__import__)",
    "exec": "runs code built at run time (exec)", "eval": "runs code built at run time (eval)",
    "compile": "compiles code at run time (compile)", "types.FunctionType": "builds functions from code objects",
    "types.CodeType": "builds code objects", "types.ModuleType": "builds module objects",
    "get_ipython": "reaches the IPython shell (get_ipython)", "marshal": "loads raw code (marshal)",
    "shutil": "copies or deletes files (shutil)", "object.__setattr__": "sets attributes past their guards (object.__setattr__)",
    "type.__setattr__": "sets attributes past their guards (type.__setattr__)",
    "object.__delattr__": "deletes attributes past their guards (object.__delattr__)",
}
DANGEROUS_PREFIXES = {"os.exec": "replaces the process (os.exec*)", "os.spawn": "starts processes (os.spawn*)",
                      "os.posix_spawn": "starts processes (os.posix_spawn)",
                      "ebmlib.testing._": "reaches forbid's internals (ebmlib.testing._...)"}
FILE_CALLS = {
    "open", "io.open", "os.open", "os.remove", "os.unlink", "os.rename", "os.replace", "os.rmdir", "os.removedirs",
    "os.mkdir", "os.makedirs", "os.listdir", "os.scandir", "os.walk", "os.chdir", "os.chmod", "os.chown",
    "os.symlink", "os.link", "os.truncate", "os.utime", "os.stat", "os.lstat", "os.access", "glob.glob", "glob.iglob",
    "numpy.load", "numpy.save", "numpy.savez", "numpy.loadtxt", "numpy.savetxt", "numpy.fromfile", "numpy.genfromtxt",
    "torch.load", "torch.save", "pickle.load", "pickle.dump", "json.load", "json.dump", "pathlib.Path", "Path",
}
PATH_METHODS = {"read_text", "read_bytes", "write_text", "write_bytes", "iterdir", "rglob", "unlink", "rmdir",
                "touch", "symlink_to", "hardlink_to", "rename", "chmod", "expanduser", "open"}
SAFE_MAGICS = {"time", "timeit", "matplotlib", "precision", "pprint", "capture", "prun", "config_inline"}


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _meta(cell: dict) -> dict:
    return (cell.get("metadata") or {}).get("nbgrader") or {}


def _is_instructor_cell(cell: dict) -> bool:
    """A graded test cell or a locked cell: the grader puts the instructor's version back."""
    meta = _meta(cell)
    return bool(meta.get("locked") or (meta.get("grade") and not meta.get("solution")))


@functools.lru_cache(maxsize=4096)
def _parse(source: str) -> ast.Module:
    """The cell as Python, after IPython's rewriting of magics and shell escapes when it is installed.

    Cached by source (the trees are only read): a scan parses each cell twice, and a class's
    untouched cells are the same text.
    """
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return ast.parse(source)
    return ast.parse(TransformerManager().transform_cell(source))


def test_names(solution_notebook: dict) -> set[str]:
    """The names the instructor's graded test cells use and do not bind themselves.

    These are what a test relies on from the rest of the notebook: the functions it calls,
    the modules (``torch``, ``np``), ``forbid``, the builtins it calls (``abs``, ``float``).
    A test cell that does not parse contributes nothing.
    """
    names: set[str] = set()
    for cell in solution_notebook.get("cells") or []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or not _is_instructor_cell(cell):
            continue
        try:
            tree = _parse(_source(cell))
        except SyntaxError:
            continue
        loaded, bound = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                bound.add(node.name)
            elif isinstance(node, ast.alias):
                bound.add((node.asname or node.name).split(".")[0])
        names |= loaded - bound
    return names


def scan_notebook(notebook: dict, test_names: set[str], *, solution_notebook: dict | None = None) -> list[str]:
    """Flags for the student's code cells, each a short line naming the cell and what it does.

    Parameters
    ----------
    notebook : dict
        The submission, as JSON.
    test_names : set of str
        The names the test cells use (see :func:`test_names`); rebinding one of them is flagged.
    solution_notebook : dict, optional
        The instructor's version: its cells' sources, left untouched in the submission, are
        not scanned.

    Returns
    -------
    list of str
        One line per finding, ``"cell N [grade_id]: what it does"``; empty for honest code.
    """
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        return ["the notebook has no list of cells: not scanned"]
    released = set()
    if solution_notebook is not None:
        released = {_source(c) for c in solution_notebook.get("cells") or [] if isinstance(c, dict)}
    protected = set(test_names) | ALWAYS_PROTECTED
    trees = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _source(cell)
        label = f"cell {number}" + (f" [{_meta(cell)['grade_id']}]" if _meta(cell).get("grade_id") else "")
        if source in released:
            continue
        try:
            trees.append((label, number, _parse(source)))
        except (SyntaxError, ValueError) as error:
            trees.append((label, number, f"does not parse ({type(error).__name__}: {error}): not scanned"))
    first_bound: dict[str, int] = {}  # name -> the first cell binding it at top level, in notebook order
    for number, cell in enumerate(cells, start=1):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            try:
                tree = _parse(_source(cell))
            except (SyntaxError, ValueError):
                continue
            for name in _top_level_bindings(tree):
                first_bound.setdefault(name, number)
    imported: dict[str, str] = {}  # local name -> the dotted name it was imported as
    for _, _, tree in trees:
        if isinstance(tree, ast.Module):
            imported.update(_imports(tree))
    flags = []
    for label, number, tree in trees:
        if isinstance(tree, str):
            flags.append(f"{label}: {tree}")
            continue
        earlier = {name for name, first in first_bound.items() if first < number}
        scanner = _Scanner(imported, (protected & (earlier | BUILTINS)) | ALWAYS_PROTECTED)
        scanner.visit(tree)
        flags += [f"{label}: {finding}" for finding in dict.fromkeys(scanner.findings)]
    return flags


def _top_level_bindings(tree: ast.Module) -> set[str]:
    """Names a cell binds in the notebook's namespace: outside any def, lambda or class body."""
    bound, stack = set(), list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            continue
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        stack.extend(ast.iter_child_nodes(node))
    return bound


def _imports(tree: ast.Module) -> dict[str, str]:
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module or ''}.{alias.name}".lstrip(".")
    return names


def _constant_path_is_inside(node: ast.AST) -> bool | None:
    """True for a literal relative path that stays in the folder, False for one that leaves, None if computed."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        path = node.value.decode(errors="replace") if isinstance(node.value, bytes) else node.value
        parts = re.split(r"[\\/]+", path)
        return not (path.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", path) or ".." in parts)
    return None


class _Scanner(ast.NodeVisitor):
    """Walks one cell's tree, noting what it does in ``findings``."""

    def __init__(self, imported: dict[str, str], protected: set[str]):
        self.imported, self.protected = imported, protected
        self.depth = 0  # 0 at a cell's top level; inside a def, lambda or class body above 0
        self.findings: list[str] = []
        self.exempt: set[int] = set()  # ids of calls not flagged: forbid's namespace argument

    # -- names ------------------------------------------------------------------------------

    def dotted(self, node: ast.AST) -> str | None:
        """``torch.nn.functional`` for the expression, resolving import aliases; None if not a name chain."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        parts.append(self.imported.get(node.id, node.id))
        return ".".join(reversed(parts))

    def root_is_imported(self, node: ast.AST) -> str | None:
        while isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        return node.id if isinstance(node, ast.Name) and node.id in self.imported else None

    def note_dangerous(self, name: str | None) -> None:
        if not name:
            return
        for key, reason in DANGEROUS.items():
            if name == key or name.startswith(key + "."):
                self.findings.append(reason)
        for prefix, reason in DANGEROUS_PREFIXES.items():
            if name.startswith(prefix):
                self.findings.append(reason)

    def bind(self, name: str, how: str) -> None:
        if self.depth == 0 and name in self.protected:
            self.findings.append(f"rebinds {name}, a name the tests use ({how})")

    # -- statements -------------------------------------------------------------------------

    def visit_FunctionDef(self, node):
        if self.depth == 0 and node.name in (ALWAYS_PROTECTED | (self.protected & BUILTINS)):
            self.findings.append(f"defines {node.name}, shadowing a name the tests use")
        if self.depth == 0:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Attribute) and inner.attr == node.name and self.root_is_imported(inner.value):
                    self.findings.append(f"the answer {node.name} refers to the library's own {self.dotted(inner) or node.name}")
        for decorator in node.decorator_list:
            self.visit(decorator)
        self.visit(node.args)
        self.depth += 1
        for statement in node.body:
            self.visit(statement)
        self.depth -= 1

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        if self.depth == 0 and node.name in (ALWAYS_PROTECTED | (self.protected & BUILTINS)):
            self.findings.append(f"defines class {node.name}, shadowing a name the tests use")
        for child in node.bases + node.keywords + node.decorator_list:
            self.visit(child)
        self.depth += 1
        for statement in node.body:
            self.visit(statement)
        self.depth -= 1

    def visit_Lambda(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_Global(self, node):
        for name in node.names:
            if name in self.protected:
                self.findings.append(f"declares global {name}, a name the tests use, to rebind it")

    visit_Nonlocal = visit_Global

    def visit_Import(self, node):
        for alias in node.names:
            self.note_dangerous(alias.name)
            if alias.asname and CONVENTIONAL_ALIASES.get(alias.asname) != alias.name and alias.asname != alias.name.split(".")[-1]:
                self.bind(alias.asname, f"import {alias.name} as {alias.asname}")

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self.note_dangerous(module)
        for alias in node.names:
            self.note_dangerous(f"{module}.{alias.name}")
            bound = alias.asname or alias.name
            if bound == "forbid" and module != "ebmlib.testing":
                self.bind(bound, f"from {module} import {alias.name}")
            elif alias.asname and alias.asname != alias.name:
                self.bind(alias.asname, f"from {module} import {alias.name} as {alias.asname}")
            elif alias.name == "*":
                self.findings.append(f"imports * from {module}, which may rebind names the tests use")

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load):
            if HISTORY.match(node.id):
                self.findings.append(f"reads the notebook's history ({node.id})")
            if node.id in self.imported:
                self.note_dangerous(self.imported[node.id])
            elif node.id in DANGEROUS:
                self.note_dangerous(node.id)
        else:
            self.bind(node.id, "assignment" if isinstance(node.ctx, ast.Store) else "del")

    def visit_Attribute(self, node):
        if node.attr in INTERNALS:
            self.findings.append(f"reaches {INTERNALS[node.attr]}")
        if node.attr == "__dict__" and self.root_is_imported(node.value):
            self.findings.append(f"reaches the __dict__ of the imported {self.root_is_imported(node.value)}")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            root = self.root_is_imported(node.value)
            what = self.dotted(node) or node.attr
            if root:
                self.findings.append(f"{'assigns to' if isinstance(node.ctx, ast.Store) else 'deletes'} {what}, an attribute of the imported {root}")
            if node.attr == "__class__":
                self.findings.append(f"assigns to {what}, changing an object's class")
        self.note_dangerous(self.dotted(node))
        self.generic_visit(node)

    def visit_Subscript(self, node):
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            target = node.value
            if isinstance(target, ast.Call) and isinstance(target.func, ast.Name) and target.func.id in {"globals", "vars", "locals"}:
                self.findings.append(f"writes the namespace through {target.func.id}()")
            elif self.root_is_imported(target):
                self.findings.append(f"writes into {self.dotted(target) or 'an item'} of the imported {self.root_is_imported(target)}")
        self.generic_visit(node)

    def visit_ExceptHandler(self, node):
        caught = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type] if node.type else []
        for exc in caught:
            name = self.dotted(exc) or ""
            if name.split(".")[-1] == "ReferenceCalled":
                self.findings.append("catches ReferenceCalled, the error forbid raises")
        if node.name:
            self.bind(node.name, "except ... as")
        self.generic_visit(node)

    def visit_Call(self, node):
        func = self.dotted(node.func)
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in {"setattr", "delattr"} and node.args and self.root_is_imported(node.args[0]):
            self.findings.append(f"calls {name} on {self.dotted(node.args[0]) or 'an object'}, imported")
        if (func or "").split(".")[-1] == "forbid":  # namespace=globals(), as the instructor's tests pass it
            self.exempt |= {id(k.value) for k in node.keywords if k.arg == "namespace"}
        if id(node) in self.exempt:
            pass
        elif (name in {"globals", "vars", "locals"} and not node.args) or (name == "vars" and node.args and self.root_is_imported(node.args[0])):
            self.findings.append(f"reaches the namespace through {name}()")
        if isinstance(node.func, ast.Attribute) and node.func.attr == "__setattr__":
            self.findings.append(f"calls {self.dotted(node.func) or '__setattr__'} directly")
        if func and func.endswith(("get_ipython.run_line_magic", "get_ipython.run_cell_magic")) or (
            isinstance(node.func, ast.Attribute) and node.func.attr in {"run_line_magic", "run_cell_magic", "system", "getoutput"}
            and isinstance(node.func.value, ast.Call) and self.dotted(node.func.value.func) == "get_ipython"
        ):
            self.magic(node)
            for arg in node.args[1:] + [k.value for k in node.keywords]:
                self.visit(arg)
            return
        if func in FILE_CALLS or (func and any(func.startswith(p) for p in ("shutil.", "glob."))):
            self.file_call(func, node)
        elif isinstance(node.func, ast.Attribute) and node.func.attr in PATH_METHODS:
            receiver = node.func.value
            inside = None
            if isinstance(receiver, ast.Call) and self.dotted(receiver.func) in {"pathlib.Path", "Path"} and receiver.args:
                inside = _constant_path_is_inside(receiver.args[0])
            if inside is not True:
                self.findings.append(f"reads or writes files through .{node.func.attr}() on a path it computes")
        self.generic_visit(node)

    def magic(self, node: ast.Call) -> None:
        kind = node.func.attr if isinstance(node.func, ast.Attribute) else "magic"
        if kind in {"system", "getoutput"}:
            self.findings.append("runs a shell command (!)")
            return
        magic = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else "?"
        if magic not in SAFE_MAGICS:
            self.findings.append(f"runs the %{'%' if kind == 'run_cell_magic' else ''}{magic} magic")

    def file_call(self, func: str, node: ast.Call) -> None:
        paths = [a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, (str, bytes))]
        if not node.args and func in {"pathlib.Path", "Path"}:
            return
        verdicts = [_constant_path_is_inside(a) for a in paths] or [None]
        if func in {"pathlib.Path", "Path"}:
            if False in verdicts:
                self.findings.append(f"names a path outside its folder ({func})")
            return
        if False in verdicts:
            self.findings.append(f"reaches a file outside its folder ({func})")
        elif not paths:
            self.findings.append(f"reaches a file by a computed path ({func})")
