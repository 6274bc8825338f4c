"""The one patch of an instructor internal: applied by the backend, bounded by version, active, and weak."""

from __future__ import annotations

import gc
import weakref

import instructor
import pytest
from instructor.v2.validation import async_field_validator, async_validators
from pydantic import BaseModel

from extract.backends import instructor_patch
from extract.backends.mock import MockBackend


def test_the_installed_instructor_is_one_the_patch_was_tested_with() -> None:
    # Upgrading instructor past the tested range fails here: re-test the patch, then widen TESTED.
    assert instructor_patch.supported(), f"instructor {instructor.__version__} is outside {instructor_patch.TESTED}"


def test_building_a_backend_puts_the_patch_in_place() -> None:
    instructor_patch.uninstall()
    assert not instructor_patch.active()
    MockBackend("echo")
    assert instructor_patch.active()
    from instructor.v2.core import patch as patch_module

    assert patch_module.reject_async_validators is async_validators.reject_async_validators


def test_a_model_with_an_async_validator_is_still_refused_every_time() -> None:
    instructor_patch.install()

    class Bad(BaseModel):
        x: int

        @async_field_validator("x")
        async def check(self, value: int) -> int:
            return value

    for _ in range(2):
        with pytest.raises(ValueError, match="async validators"):
            async_validators.reject_async_validators(Bad)


def test_remembered_classes_are_held_weakly() -> None:
    instructor_patch.install()
    passed = async_validators.reject_async_validators.passed  # type: ignore[attr-defined]

    def make() -> weakref.ref[type[BaseModel]]:
        class Passing(BaseModel):
            x: int

        async_validators.reject_async_validators(Passing)
        assert Passing in passed  # remembered
        return weakref.ref(Passing)

    remembered = make()
    gc.collect()
    assert remembered() is None  # remembering it did not keep it alive
