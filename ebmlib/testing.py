"""Helpers for the notebooks' graded test cells.

The hidden tests of an exercise must not be passable by handing back ebmlib's own
implementation of that exercise. :func:`forbid` makes such a call fail for the length of
a ``with`` block: the reference function is swapped, in its module and in the notebook's
namespace, for one that raises.

Example, in a hidden test cell::

    from ebmlib.testing import forbid
    import ebmlib.partition
    with forbid(ebmlib.partition.log_partition_exact, namespace=globals()):
        got = log_partition_exact(torch.tensor([0.0, 1.0]))
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable, Iterator, MutableMapping


class ReferenceCalled(AssertionError):
    """Raised when an exercise answer calls the ebmlib function it was asked to write."""


@contextlib.contextmanager
def forbid(*functions: Callable, namespace: MutableMapping | None = None) -> Iterator[None]:
    """Within the block, calling any of ``functions`` raises :class:`ReferenceCalled`.

    Each function is replaced in the module that defines it, in every loaded module of its
    package that re-exports it, and in ``namespace`` (pass ``globals()`` from a notebook) wherever
    a name there is bound to it. A method (``ebmlib.rbm.RBM.free_energy``, or the bound
    ``model.free_energy``) is replaced on its class. Everything is restored on exit, whatever
    happens.
    """
    patches: list[tuple[MutableMapping, str, object]] = []
    class_patches: list[tuple[type, str, object]] = []
    for function in functions:
        if not callable(function):
            raise TypeError(f"functions must be callable, got {type(function).__name__}")
        function = getattr(function, "__func__", function)  # a bound method: its function
        label = f"{function.__module__}.{function.__qualname__}"

        def blocked(*args, _label=label, **kwargs):
            raise ReferenceCalled(
                f"This exercise asks you to write it yourself: your answer called {_label}, "
                "ebmlib's reference implementation."
            )

        # The defining module, every loaded module of the same package that re-exports the
        # function (ebmlib.samplers re-exports ebmlib.samplers.langevin_family.langevin),
        # and the notebook's namespace.
        importlib.import_module(function.__module__)
        package = function.__module__.split(".")[0]
        spaces = [
            vars(module)
            for name, module in list(sys.modules.items())
            if module is not None and (name == package or name.startswith(package + "."))
        ]
        if namespace is not None:
            spaces.append(namespace)
        for space in spaces:
            for key, value in list(space.items()):
                if value is function:
                    patches.append((space, key, value))
                    space[key] = blocked
        owner = _owning_class(function)
        if owner is not None:
            class_patches.append((owner, function.__name__, function))
            setattr(owner, function.__name__, blocked)
    try:
        yield
    finally:
        for space, key, value in reversed(patches):
            space[key] = value
        for owner, name, value in reversed(class_patches):
            setattr(owner, name, value)


def _owning_class(function) -> type | None:
    """The class whose body defines ``function`` (from its qualified name), or None for a plain function."""
    path = getattr(function, "__qualname__", "").split(".")[:-1]
    if not path or "<locals>" in path:
        return None
    owner = sys.modules.get(function.__module__)
    for part in path:
        owner = getattr(owner, part, None)
    if isinstance(owner, type) and owner.__dict__.get(function.__name__) is function:
        return owner
    return None
