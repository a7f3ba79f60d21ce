"""forbid() blocks ebmlib's reference inside a hidden test, however the answer reached it, and restores it.

Each bypass a submission could try gets a test: the answer, written as a student would, must
raise ReferenceCalled inside the block and work again after it.
"""

from __future__ import annotations

import contextlib
import functools
import math
import operator
import sys
import types

import pytest
import torch

import ebmlib.partition
import ebmlib.testing
import ebmlib._validation as validation
from ebmlib._validation import check_positive
from ebmlib.testing import ReferenceCalled, forbid

ENERGIES = torch.tensor([0.0, 1.0, 2.5])
EXACT = math.log(1 + math.exp(-1.0) + math.exp(-2.5))  # log Z of ENERGIES at T = 1, by hand
REFERENCE = ebmlib.partition.log_partition_exact


@pytest.fixture(autouse=True)
def nothing_left_blocked():
    """After every test, no function is still recorded as blocked (a leak would skip later blocks)."""
    yield
    assert not ebmlib.testing._ACTIVE, f"left blocked: {list(ebmlib.testing._ACTIVE)}"


def assert_blocked_then_restored(answer, *forbidden):
    """``answer()`` raises ReferenceCalled inside ``forbid(*forbidden)`` and gives log Z after it."""
    with forbid(*(forbidden or (REFERENCE,))):
        with pytest.raises(ReferenceCalled, match="log_partition_exact"):
            answer()
    assert float(answer()) == pytest.approx(EXACT, abs=1e-12)


# --- what worked before: names in the defining module and in the notebook ----------------------

def answer_that_delegates(value):
    return validation.check_positive(value, "value")


def test_forbidden_reference_raises_inside_the_block_and_works_after():
    with forbid(validation.check_positive):
        with pytest.raises(ReferenceCalled, match="check_positive"):
            answer_that_delegates(2.0)
    assert answer_that_delegates(2.0) == 2.0


def test_forbid_blocks_names_bound_in_the_given_namespace():
    namespace = {"alias": check_positive, "other": len}
    with forbid(check_positive, namespace=namespace):
        with pytest.raises(ReferenceCalled):
            namespace["alias"](1.0, "x")
        assert namespace["other"] is len
    assert namespace["alias"] is check_positive


def test_forbid_restores_the_reference_when_the_block_raises():
    code = check_positive.__code__
    with pytest.raises(KeyError):
        with forbid(validation.check_positive):
            raise KeyError("student error")
    assert validation.check_positive is check_positive and check_positive.__code__ is code


def test_forbid_rejects_what_is_not_callable():
    with pytest.raises(TypeError, match="functions"):
        with forbid(3):
            pass


def test_forbid_reaches_re_exports_in_parent_packages():
    ebmlib_module = sys.modules["ebmlib"]
    ebmlib_module.reexported = REFERENCE  # as a package __init__ re-exports
    try:
        assert_blocked_then_restored(lambda: ebmlib_module.reexported(ENERGIES))
    finally:
        del ebmlib_module.reexported


# --- captured references: every one is the same function object, blocked in its code -----------

def test_a_default_argument_capturing_the_reference_is_blocked():
    def answer(energies, _reference=ebmlib.partition.log_partition_exact):
        return _reference(energies)

    assert_blocked_then_restored(lambda: answer(ENERGIES))


def test_a_closure_capturing_the_reference_is_blocked():
    def make_answer():
        reference = ebmlib.partition.log_partition_exact

        def answer(energies):
            return reference(energies)

        return answer

    answer = make_answer()
    assert_blocked_then_restored(lambda: answer(ENERGIES))


def test_a_module_alias_and_its_dict_are_blocked():
    import ebmlib.partition as P

    through_dict = P.__dict__["log_partition_exact"]
    assert_blocked_then_restored(lambda: P.log_partition_exact(ENERGIES))
    assert_blocked_then_restored(lambda: through_dict(ENERGIES))
    assert_blocked_then_restored(lambda: vars(P)["log_partition_exact"](ENERGIES))


def test_a_list_a_dict_and_a_partial_holding_the_reference_are_blocked():
    in_list, in_dict = [REFERENCE], {"z": REFERENCE}
    partial = functools.partial(REFERENCE, temperature=1.0)
    assert_blocked_then_restored(lambda: in_list[0](ENERGIES))
    assert_blocked_then_restored(lambda: in_dict["z"](ENERGIES))
    assert_blocked_then_restored(lambda: partial(ENERGIES))


def test_a_copy_of_the_function_object_is_blocked():
    f = REFERENCE
    copy = types.FunctionType(f.__code__, f.__globals__, "mine", f.__defaults__, f.__closure__)
    copy.__kwdefaults__ = f.__kwdefaults__
    assert copy is not f
    assert_blocked_then_restored(lambda: copy(ENERGIES))
    assert copy.__code__ is f.__code__


def test_copies_are_matched_by_code_and_closure_so_siblings_of_a_decorator_stay_free():
    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args):
            return function(*args)
        return wrapper

    forbidden, sibling = decorate(REFERENCE), decorate(operator.neg)
    assert forbidden.__code__ is sibling.__code__  # one code object, two closures
    with forbid(forbidden):
        with pytest.raises(ReferenceCalled):
            forbidden(ENERGIES)
        with pytest.raises(ReferenceCalled):
            forbidden.__wrapped__(ENERGIES)  # what the decorator wraps is blocked too
        assert sibling(3) == -3
    assert float(forbidden(ENERGIES)) == pytest.approx(EXACT)


def test_a_function_with_free_variables_is_blocked_and_its_closure_kept():
    def make(offset):
        def reference(energies):
            return REFERENCE(energies) + offset
        return reference

    reference = make(1.0)
    cells = reference.__closure__
    with forbid(reference):
        with pytest.raises(ReferenceCalled, match="reference"):
            reference(ENERGIES)
    assert reference.__closure__ is cells and float(reference(ENERGIES)) == pytest.approx(EXACT + 1.0)


# --- methods and classes ------------------------------------------------------------------------

class _Model:
    scale = 2.0

    def __init__(self, offset=0.0):
        self.offset = offset

    def free_energy(self, v):
        return self.scale * v + self.offset

    def uses_super(self):
        return super().__repr__()

    @classmethod
    def make(cls):
        return cls()

    @staticmethod
    def helper(v):
        return -v

    @property
    def doubled(self):
        return 2 * self.offset

    def __repr__(self):
        return "_Model()"


def test_forbid_blocks_a_method_given_the_class_attribute_or_a_bound_method():
    model = _Model()
    captured = model.free_energy  # a bound method captured before the block
    with forbid(_Model.free_energy):
        with pytest.raises(ReferenceCalled, match="_Model.free_energy"):
            captured(1)
    with forbid(model.free_energy):
        with pytest.raises(ReferenceCalled):
            _Model().free_energy(1)
    assert captured(2) == 4.0 and "free_energy" in _Model.__dict__


def test_a_method_using_super_has_a_class_cell_and_is_blocked_too():
    assert _Model.uses_super.__code__.co_freevars == ("__class__",)
    with forbid(_Model.uses_super):
        with pytest.raises(ReferenceCalled):
            _Model().uses_super()
    assert _Model().uses_super().startswith("<")


def test_a_forbidden_class_blocks_its_methods_in_subclasses_and_old_instances_but_not_repr():
    before = _Model(1.0)

    class StudentModel(_Model):  # inherits the reference's methods
        pass

    with forbid(_Model):
        for call in (lambda: StudentModel(), lambda: before.free_energy(1.0), lambda: _Model.make(),
                     lambda: before.helper(1.0), lambda: before.doubled):
            with pytest.raises(ReferenceCalled, match="_Model"):
                call()
        assert repr(before) == "_Model()" and hash(before) == hash(before)
    assert StudentModel(1.0).free_energy(1.0) == 3.0 and before.doubled == 2.0 and _Model.helper(1) == -1


def test_a_forbidden_ebmlib_class_is_blocked_in_an_instance_made_before():
    from ebmlib.energies import Gaussian

    reference = Gaussian(torch.zeros(2), torch.eye(2))
    x = torch.zeros(1, 2)
    with forbid(Gaussian):
        with pytest.raises(ReferenceCalled, match="Gaussian"):
            reference(x)
        with pytest.raises(ReferenceCalled, match="Gaussian"):
            Gaussian(torch.zeros(2), torch.eye(2))
    assert float(reference(x)) == 0.0


def test_a_builtin_without_python_code_is_replaced_by_name():
    namespace = {"neg": operator.neg}
    with forbid(operator.neg, namespace=namespace):
        with pytest.raises(ReferenceCalled, match="neg"):
            namespace["neg"](1)
    assert namespace["neg"] is operator.neg


# --- switching forbid off ----------------------------------------------------------------------

HIDDEN_CELL = """
from ebmlib.testing import forbid
import ebmlib.partition
with forbid(ebmlib.partition.log_partition_exact, namespace=globals()):
    got = answer(ENERGIES)
"""


def run_hidden_cell(namespace):
    """Run the hidden test cell's text as the notebook's kernel does (an ``exec`` of its code)."""
    exec(compile(HIDDEN_CELL, "<hidden test cell>", "exec"), namespace)


def student_namespace():
    def answer(energies):
        return ebmlib.partition.log_partition_exact(energies)

    return {"answer": answer, "ENERGIES": ENERGIES, "ebmlib": ebmlib}


def noop(*args, **kwargs):
    return contextlib.nullcontext()


def test_rebinding_forbid_on_the_module_is_refused():
    with pytest.raises(AttributeError, match="cannot be rebound"):
        ebmlib.testing.forbid = noop
    with pytest.raises(AttributeError, match="cannot be rebound"):
        setattr(ebmlib.testing, "forbid", noop)
    with pytest.raises(AttributeError, match="cannot be deleted"):
        del ebmlib.testing.forbid
    with pytest.raises(ReferenceCalled):
        run_hidden_cell(student_namespace())


def test_rebinding_forbid_through_the_module_dict_does_not_reach_the_hidden_test():
    vars(ebmlib.testing)["forbid"] = noop
    with pytest.raises(ReferenceCalled):
        run_hidden_cell(student_namespace())
    assert vars(ebmlib.testing)["forbid"] is forbid  # and the cell put it back


def test_a_global_forbid_in_the_notebook_is_replaced_by_the_hidden_cells_import():
    namespace = student_namespace()
    exec("forbid = lambda *a, **k: __import__('contextlib').nullcontext()", namespace)
    with pytest.raises(ReferenceCalled):
        run_hidden_cell(namespace)


def test_replacing_the_module_in_sys_modules_is_undone_before_the_next_cell():
    fake = types.ModuleType("ebmlib.testing")
    fake.forbid, fake.ReferenceCalled = noop, ReferenceCalled
    sys.modules["ebmlib.testing"] = fake
    sys.modules["ebmlib"].testing = fake
    with pytest.raises(ReferenceCalled):
        run_hidden_cell(student_namespace())
    assert sys.modules["ebmlib.testing"] is ebmlib.testing and sys.modules["ebmlib"].testing is ebmlib.testing


def test_resetting_the_module_class_then_writing_its_dict_is_undone_before_the_next_cell():
    object.__setattr__(ebmlib.testing, "__class__", types.ModuleType)
    ebmlib.testing.forbid = noop  # no longer refused by a plain module
    with pytest.raises(ReferenceCalled):
        run_hidden_cell(student_namespace())
    with pytest.raises(AttributeError):
        ebmlib.testing.forbid = noop


def test_taking_the_block_off_inside_the_block_is_reported_on_exit():
    real = REFERENCE.__code__

    def answer(energies):
        REFERENCE.__code__ = real  # code surgery: put the reference's code back
        return REFERENCE(energies)

    with pytest.raises(ReferenceCalled, match="taken off"):
        with forbid(REFERENCE):
            answer(ENERGIES)
    assert REFERENCE.__code__ is real


def test_clearing_forbids_own_record_inside_the_block_is_reported_and_the_reference_restored():
    real = REFERENCE.__code__

    def answer(energies):
        ebmlib.testing._ACTIVE.clear()
        return REFERENCE(energies)

    with pytest.raises(ReferenceCalled):
        with forbid(REFERENCE):
            answer(ENERGIES)
    assert REFERENCE.__code__ is real and float(REFERENCE(ENERGIES)) == pytest.approx(EXACT)
    with pytest.raises(ReferenceCalled, match="taken off"):
        with forbid(REFERENCE):
            ebmlib.testing._ACTIVE.pop(REFERENCE)
            with pytest.raises(ReferenceCalled, match="your answer called"):
                REFERENCE(ENERGIES)  # still blocked: the code is what was swapped in
    assert REFERENCE.__code__ is real


def test_nested_forbid_of_the_same_function_restores_only_at_the_outer_exit():
    real = REFERENCE.__code__
    with forbid(REFERENCE):
        with forbid(REFERENCE, namespace=vars(ebmlib.partition)):
            pass
        with pytest.raises(ReferenceCalled):
            REFERENCE(ENERGIES)
    assert REFERENCE.__code__ is real


def test_a_reloaded_or_copied_ebmlib_module_makes_every_later_forbid_refuse():
    import importlib.util

    before = REFERENCE
    spec = importlib.util.spec_from_file_location("private_partition", ebmlib.partition.__file__)
    private = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(private)  # a copy of the module: new function objects
    try:
        with pytest.raises(ReferenceCalled, match="^ebmlib/partition.py ran a second time"):
            with forbid(before):
                private.log_partition_exact(ENERGIES)
    finally:
        ebmlib.testing._RUN_AGAIN.clear()  # this test's own process goes on
    assert float(private.log_partition_exact(ENERGIES)) == pytest.approx(EXACT)


def test_a_module_outside_ebmlib_run_twice_leaves_forbid_working():
    import runpy

    import tools.course  # beside ebmlib in the repository, as torch's modules are beside it in site-packages

    runpy.run_path(tools.course.__file__)
    runpy.run_path(tools.course.__file__)
    assert_blocked_then_restored(lambda: REFERENCE(ENERGIES))
