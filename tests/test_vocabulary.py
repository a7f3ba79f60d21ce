"""Tests of the library's one vocabulary: every public parameter name is in the list of ebmlib's docstring.

The list (the "Vocabulary" section of ``ebmlib/__init__.py``) gives each name one meaning. This
walks every public function, class and method of every public module, and fails on a parameter
whose name is not in the list, on a name the list retires (``learning_rate``, ``noise_std``, ...),
and on the step-like names used without their symbol: a ``step_size`` must be the ε of a
discretised dynamics, a ``proposal_scale`` or ``noise_scale`` a σ, a ``drift`` an a.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import ebmlib

SKIP_MODULES = {"ebmlib.testing"}  # the graders' helpers, outside the library's vocabulary


def vocabulary() -> set[str]:
    """The names defined by the docstring's Vocabulary section: the ``name`` opening each entry."""
    doc = ebmlib.__doc__
    section = doc[doc.index("Vocabulary\n----------") :]
    section = section[: section.index("Never used")]
    return set(re.findall(r"^``(\w+)``", section, flags=re.MULTILINE))


def retired() -> set[str]:
    doc = ebmlib.__doc__
    return set(re.findall(r"``(\w+)``", doc[doc.index("Never used") :])[0::2])


def public_callables():
    """(qualified name, callable) of every public function, class constructor and method."""
    for info in pkgutil.walk_packages(ebmlib.__path__, "ebmlib."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]) or info.name in SKIP_MODULES:
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj
            elif inspect.isclass(obj):
                if "__init__" in vars(obj):
                    yield f"{module.__name__}.{name}", obj.__init__
                for attr, member in vars(obj).items():
                    function = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                    if not attr.startswith("_") and inspect.isfunction(function):
                        yield f"{module.__name__}.{name}.{attr}", function


CALLABLES = sorted(public_callables(), key=lambda item: item[0])


def parameters(function) -> list[str]:
    return [p for p in inspect.signature(function).parameters if p not in ("self", "cls")]


def test_the_walk_finds_the_library():
    names = {qualified for qualified, _ in CALLABLES}
    assert {"ebmlib.samplers.langevin_family.langevin", "ebmlib.training.loop.fit", "ebmlib.rbm.model.RBM.cd_update"} <= names
    assert len(CALLABLES) > 150
    assert {"step_size", "drift", "noise_scale", "proposal_scale", "lr", "temperature"} <= vocabulary()


def test_the_retired_names_are_not_in_the_vocabulary():
    assert retired() == {"learning_rate", "noise_std", "n_hidden_layers", "T", "epsilon", "num_steps"}
    assert not retired() & vocabulary()


@pytest.mark.parametrize("qualified, function", CALLABLES, ids=[q for q, _ in CALLABLES])
def test_every_parameter_name_is_in_the_vocabulary(qualified, function):
    unknown = [p for p in parameters(function) if p not in vocabulary()]
    assert not unknown, f"{qualified} has parameter(s) {unknown} outside the vocabulary of ebmlib/__init__.py"
    used = [p for p in parameters(function) if p in retired()]
    assert not used, f"{qualified} uses retired name(s) {used}"


# each step-like name with the symbol its docstring must use for it
SYMBOLS = {
    "step_size": ("ε", "varepsilon", "epsilon"),
    "proposal_scale": ("σ", "sigma"),
    "noise_scale": ("σ", "sigma"),
    "drift": ("a",),
}


def owner_doc(qualified: str, function) -> str:
    """The function's docstring, with its class's (constructors document their parameters there)."""
    doc = inspect.getdoc(function) or ""
    if qualified.count(".") >= 3:
        module = importlib.import_module(function.__module__)
        cls = getattr(module, function.__qualname__.split(".")[0], None)
        doc += "\n" + (inspect.getdoc(cls) or "")
    return doc


STEP_LIKE = [(q, f, p) for q, f in CALLABLES for p in parameters(f) if p in SYMBOLS]


@pytest.mark.parametrize("qualified, function, name", STEP_LIKE, ids=[f"{q}:{p}" for q, _, p in STEP_LIKE])
def test_step_like_names_keep_their_one_meaning(qualified, function, name):
    doc = owner_doc(qualified, function)
    if name == "drift":
        assert re.search(r"\ba\b", doc), f"{qualified}: drift must be the a of x' = x - a∇E + σz"
        return
    assert any(symbol in doc for symbol in SYMBOLS[name]), (
        f"{qualified}: its docstring must say that {name} is {SYMBOLS[name][0]}"
    )


def test_no_two_classes_share_a_method_name_with_another_meaning():
    # the clashes the redesign removed: one score signature for every energy; RBM's update is cd_update
    from ebmlib.energies import DoubleWell, Gaussian, GaussianMixture
    from ebmlib.losses import contrastive_divergence
    from ebmlib.rbm import RBM

    signatures = {cls.__name__: parameters(cls.score) for cls in (Gaussian, GaussianMixture, DoubleWell)}
    assert all(s == ["x", "sigma", "temperature"] for s in signatures.values()), signatures
    assert not hasattr(RBM, "contrastive_divergence") and callable(contrastive_divergence)
