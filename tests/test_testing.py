"""forbid() blocks ebmlib's reference inside a hidden test, wherever it is bound, and restores it."""

from __future__ import annotations

import pytest
import torch

import ebmlib._validation as validation
from ebmlib._validation import check_positive
from ebmlib.testing import ReferenceCalled, forbid


def answer_that_delegates(value):
    return validation.check_positive(value, "value")


def test_forbidden_reference_raises_inside_the_block_and_works_after():
    with forbid(validation.check_positive):
        with pytest.raises(ReferenceCalled, match="check_positive"):
            answer_that_delegates(2.0)
    assert answer_that_delegates(2.0) == 2.0


def test_forbid_patches_names_bound_in_the_given_namespace():
    namespace = {"alias": check_positive, "other": len}
    with forbid(check_positive, namespace=namespace):
        with pytest.raises(ReferenceCalled):
            namespace["alias"](1.0, "x")
        assert namespace["other"] is len
    assert namespace["alias"] is check_positive


def test_forbid_restores_the_reference_when_the_block_raises():
    with pytest.raises(KeyError):
        with forbid(validation.check_positive):
            raise KeyError("student error")
    assert validation.check_positive is check_positive


def test_forbid_rejects_what_is_not_callable():
    with pytest.raises(TypeError, match="functions"):
        with forbid(3):
            pass


def test_forbid_reaches_re_exports_in_parent_packages():
    import ebmlib.partition as partition

    ebmlib_module = __import__("ebmlib")
    ebmlib_module.reexported = partition.log_partition_exact  # as a package __init__ re-exports
    try:
        with forbid(partition.log_partition_exact):
            with pytest.raises(ReferenceCalled):
                ebmlib_module.reexported(torch.tensor([0.0]))
        assert ebmlib_module.reexported is partition.log_partition_exact
    finally:
        del ebmlib_module.reexported


class _Model:
    def free_energy(self, v):
        return v


def test_forbid_blocks_a_method_on_its_class_given_the_class_attribute_or_a_bound_method():
    model = _Model()
    with forbid(_Model.free_energy):
        with pytest.raises(ReferenceCalled, match="_Model.free_energy"):
            model.free_energy(1)
    with forbid(model.free_energy):
        with pytest.raises(ReferenceCalled):
            _Model().free_energy(1)
    assert model.free_energy(2) == 2 and "free_energy" in _Model.__dict__
