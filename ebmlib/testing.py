"""Helpers for the notebooks' graded test cells.

The hidden tests of an exercise must not be passable by handing back ebmlib's own
implementation of that exercise. :func:`forbid` makes such a call fail for the length of
a ``with`` block, however the answer reached the function.

Example, in a hidden test cell::

    from ebmlib.testing import forbid
    import ebmlib.partition
    with forbid(ebmlib.partition.log_partition_exact, namespace=globals()):
        got = log_partition_exact(torch.tensor([0.0, 1.0]))

How. A Python function is blocked in its object, not in a name: its ``__code__`` is swapped
for code that raises :class:`ReferenceCalled` (with the same free variables, so closures keep
their cells) and swapped back on exit. Every reference to that object therefore raises, however
it was captured: a default argument, a closure, a module attribute reached through an alias or
``__dict__``, a list, a dict, a ``functools.partial``, a bound method. Functions made from the
same code object with the same closure (``types.FunctionType(f.__code__, ...)``), the functions a
decorator wraps (``__wrapped__``) and, for a class, the methods its body defines are blocked
too. Callables without Python code (builtins) are replaced by name, as before, in the modules
of their package and in ``namespace``.

This module also resists being switched off by a submission: its names cannot be rebound
(``ebmlib.testing.forbid = ...`` raises ``AttributeError``; a write through ``__dict__`` is not
what ``from ebmlib.testing import forbid`` returns), and before every cell the notebook runs
(Python's ``exec`` audit event) it puts itself back in ``sys.modules`` and in its package if a
submission replaced it there; and if the code of an ebmlib module runs a second time (a
reload, or a private copy of the module made with ``importlib`` or ``runpy``, whose functions
no block reaches), every later ``forbid`` raises :class:`ReferenceCalled` saying so. What remains (rebinding ``forbid`` in the notebook's globals from
inside an answer, code surgery with ``__code__``, ``gc``) is flagged by the grader's integrity
scan (``tools/integrity.py``) for a person to review. The protection against ``sys.modules``
replacement starts when this module is first imported: the grader imports it before any
student code runs.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import os
import sys
import types
from collections.abc import Callable, Iterator, MutableMapping


class ReferenceCalled(AssertionError):
    """Raised when an exercise answer calls the ebmlib function it was asked to write."""


# Methods of a forbidden class left callable: the object protocol that printing, hashing,
# comparing, copying and attribute access need, which computes no exercise's answer.
_PROTOCOL = frozenset(
    "__repr__ __str__ __format__ __hash__ __eq__ __ne__ __getattr__ __getattribute__ __setattr__ "
    "__delattr__ __dir__ __sizeof__ __reduce__ __reduce_ex__ __getstate__ __setstate__ __copy__ "
    "__deepcopy__ __init_subclass__ __class_getitem__ __subclasshook__ __del__".split()
)
_HOOK = "__ebmlib_testing_forbid_hook__"
_ACTIVE: dict[types.FunctionType, types.CodeType] = {}  # function -> its real code, while blocked
_get_referrers = gc.get_referrers


def _reference_called(label: str) -> ReferenceCalled:
    return ReferenceCalled(
        f"This exercise asks you to write it yourself: your answer called {label}, "
        "ebmlib's reference implementation."
    )


@functools.lru_cache(maxsize=None)
def _template(freevars: tuple[str, ...]) -> types.CodeType:
    """Code ``(*args, **kwargs) -> raise hook()`` with the given free variables, never read."""
    lines = ["def _outer():"] + [f"    {name} = None" for name in freevars]
    lines += [
        "    def blocked(*args, **kwargs):",
        f"        if False: ({', '.join(freevars)},)" if freevars else "        pass",
        f"        hook = {_HOOK!r}",
        "        raise hook()",
        "    return blocked",
    ]
    namespace: dict = {}
    exec(compile("\n".join(lines), "<forbidden by ebmlib.testing>", "exec"), namespace)
    code = namespace["_outer"]().__code__
    assert code.co_freevars == freevars
    return code


def _blocking_code(function: types.FunctionType, label: str) -> types.CodeType:
    """A code object that raises :class:`ReferenceCalled` naming ``label``, fit for ``function``."""
    real = _ACTIVE.get(function, function.__code__)
    code = _template(real.co_freevars)
    hook = functools.partial(_reference_called, label)
    return code.replace(
        co_consts=tuple(hook if c == _HOOK else c for c in code.co_consts),
        co_name=real.co_name,
        co_qualname=getattr(real, "co_qualname", real.co_name),
    )


def _python_functions(obj) -> list[types.FunctionType]:
    """The Python functions to block for ``obj``: itself, what it wraps, a class's methods."""
    obj = getattr(obj, "__func__", obj)  # a bound method or classmethod: its function
    if isinstance(obj, functools.partial):
        return _python_functions(obj.func)
    if isinstance(obj, type):
        found = []
        for name, value in vars(obj).items():
            if name in _PROTOCOL:
                continue
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                found += [f for f in (value.fget, value.fset, value.fdel) if isinstance(f, types.FunctionType)]
            elif isinstance(value, types.FunctionType):
                found += _python_functions(value)
        return found
    found = []
    while isinstance(obj, types.FunctionType) and obj not in found:
        found.append(obj)
        obj = getattr(obj, "__wrapped__", None)
    return found


def _cells(function: types.FunctionType) -> tuple:
    """The contents of the function's closure, compared by identity (an empty cell as itself)."""
    out = []
    for cell in function.__closure__ or ():
        try:
            out.append(id(cell.cell_contents))
        except ValueError:
            out.append(("empty", id(cell)))
    return tuple(out)


def _copies(functions: list[types.FunctionType]) -> list[types.FunctionType]:
    """Other live function objects sharing the code object and the closure of one of ``functions``.

    Found with one pass of the garbage collector over the heap (``gc.get_referrers`` of the code
    objects), skipped for functions an enclosing ``forbid`` already blocks.
    """
    wanted: dict[int, set] = {}
    for function in functions:
        if function not in _ACTIVE:
            wanted.setdefault(id(function.__code__), set()).add(_cells(function))
    if not wanted:
        return []
    codes = [function.__code__ for function in functions if id(function.__code__) in wanted]
    own = set(map(id, functions))
    return [
        obj for obj in _get_referrers(*codes)
        if type(obj) is types.FunctionType and id(obj) not in own
        and id(obj.__code__) in wanted and _cells(obj) in wanted[id(obj.__code__)]
    ]


@contextlib.contextmanager
def forbid(*functions: Callable, namespace: MutableMapping | None = None) -> Iterator[None]:
    """Within the block, calling any of ``functions`` raises :class:`ReferenceCalled`.

    A Python function has its code swapped for blocking code, so every reference to it raises,
    however it was captured (default arguments, closures, aliases, containers, partials), and so
    do its copies (same code object and closure), what it wraps (``__wrapped__``) and, given a class, the
    methods its body defines (``__init__``, ``__call__``, methods, class and static methods,
    properties; not the object protocol such as ``__repr__`` or ``__hash__``). A bound method
    blocks its function, and so the method on its class. A callable without Python code is
    replaced by name in every loaded module of its package and in ``namespace`` (pass
    ``globals()`` from a notebook). Everything is restored on exit, whatever happens; if the
    blocking code was taken off a function inside the block, the exit raises
    :class:`ReferenceCalled` saying so.
    """
    _heal()
    if _RUN_AGAIN:
        raise ReferenceCalled(
            f"{', '.join(sorted(set(_RUN_AGAIN)))} ran a second time in this notebook (a reload, or a copy of the "
            "module): its functions are no longer the ones forbid can block. Restart the kernel and run the notebook "
            "without reloading ebmlib."
        )
    targets: dict[types.FunctionType, str] = {}  # function -> the name its error gives
    by_name: list[Callable] = []
    for function in functions:
        if not callable(function):
            raise TypeError(f"functions must be callable, got {type(function).__name__}")
        root = getattr(function, "__func__", function)
        label = f"{getattr(root, '__module__', '?')}.{getattr(root, '__qualname__', repr(root))}"
        found = _python_functions(function)
        if not found:
            by_name.append(function)
        for f in found:
            targets.setdefault(f, label)
    for copy in _copies(list(targets)):
        targets[copy] = next(label for f, label in targets.items() if f.__code__ is copy.__code__ and _cells(f) == _cells(copy))
    blocked: list[tuple[types.FunctionType, types.CodeType, types.CodeType]] = []  # function, blocking, real
    patches = _patch_names(by_name, namespace)
    raised = True
    try:
        for function, label in targets.items():
            if function in _ACTIVE:  # an enclosing forbid already blocks it
                continue
            code, real = _blocking_code(function, label), function.__code__
            _ACTIVE[function] = real
            function.__code__ = code
            blocked.append((function, code, real))
        yield
        raised = False
    finally:
        tampered = []
        for function, code, real in reversed(blocked):
            recorded = _ACTIVE.pop(function, None)
            if function.__code__ is not code or recorded is not real:
                tampered.append(f"{function.__module__}.{function.__qualname__}")
            function.__code__ = real
        for space, key, value in reversed(patches):
            space[key] = value
        if tampered and not raised:
            raise ReferenceCalled(f"the block on {', '.join(tampered)} was taken off inside the forbid block")


def _patch_names(callables: list[Callable], namespace: MutableMapping | None) -> list[tuple[MutableMapping, str, object]]:
    """Replace each callable by name in its package's loaded modules and ``namespace``."""
    patches = []
    for function in callables:
        label = f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"

        def blocked(*args, _label=label, **kwargs):
            raise _reference_called(_label)

        module = getattr(function, "__module__", None) or ""
        if module and module not in sys.modules:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)
        package = module.split(".")[0]
        spaces = [vars(m) for name, m in list(sys.modules.items())
                  if package and m is not None and (name == package or name.startswith(package + "."))]
        if namespace is not None:
            spaces.append(namespace)
        for space in spaces:
            for key, value in list(space.items()):
                if value is function:
                    patches.append((space, key, value))
                    space[key] = blocked
    return patches


# ---------------------------------------------------------------------------------------
# Resisting a submission that switches this module off.

_MODULE = sys.modules[__name__]


class _ProtectedModule(types.ModuleType):
    """This module's type: its names cannot be rebound or deleted, and always read as the genuine ones."""

    def __setattr__(self, name, value):
        if name == "__class__" or name in _GENUINE:
            raise AttributeError(f"ebmlib.testing.{name} cannot be rebound: the graded tests rely on it")
        super().__setattr__(name, value)

    def __delattr__(self, name):
        if name in _GENUINE:
            raise AttributeError(f"ebmlib.testing.{name} cannot be deleted: the graded tests rely on it")
        super().__delattr__(name)

    def __getattribute__(self, name):
        genuine = _GENUINE.get(name)
        return genuine if genuine is not None else super().__getattribute__(name)


def _heal() -> None:
    """Put this module back where a submission may have replaced it, and its names back in it."""
    if type(_MODULE) is not _ProtectedModule:
        types.ModuleType.__setattr__(_MODULE, "__class__", _ProtectedModule)
    space = types.ModuleType.__getattribute__(_MODULE, "__dict__")
    for name, value in _GENUINE.items():
        if space.get(name) is not value:
            space[name] = value
    if sys.modules.get(__name__) is not _MODULE:
        sys.modules[__name__] = _MODULE
    package = sys.modules.get(__name__.rpartition(".")[0])
    if package is not None and package.__dict__.get("testing") is not _MODULE:
        package.__dict__["testing"] = _MODULE


# The source files of ebmlib's modules whose code has run in this process, and those run twice:
# a reload, or a private copy of a module (importlib, runpy), makes function objects that no
# block reaches, so forbid refuses to vouch for a test after one.
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep  # .../ebmlib/
_EXECUTED = {os.path.abspath(m.__file__) for name, m in list(sys.modules.items())
             if (name == "ebmlib" or name.startswith("ebmlib.")) and getattr(m, "__file__", None)}
_RUN_AGAIN: list[str] = []


def _audit(event: str, args) -> None:
    if event != "exec":
        return
    filename = getattr(args[0], "co_filename", "") if args else ""
    if filename.startswith(_PACKAGE_DIR) and getattr(args[0], "co_name", "") == "<module>":
        if filename in _EXECUTED:
            _RUN_AGAIN.append(os.path.relpath(filename, os.path.dirname(_PACKAGE_DIR.rstrip(os.sep))))
        _EXECUTED.add(filename)
    _heal()


_GENUINE = types.MappingProxyType({name: value for name, value in globals().items() if not name.startswith("__")})
types.ModuleType.__setattr__(_MODULE, "__class__", _ProtectedModule)  # also when reloaded
sys.addaudithook(_audit)
