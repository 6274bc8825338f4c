"""One bounded patch of an instructor internal, applied by the backend that needs it.

instructor 1.17 walks a response model (every field, every base class) two or three times
per request to refuse async validators. For this project's schema that was 45% of the
client's CPU time per document in a profile of 2,000 mock documents. The answer cannot
change for a given class, so a class that passed is remembered, weakly (a class that is
no longer used is not kept alive). A class that fails is still refused every time.

The patch is explicit (:func:`install`, called when an instructor backend is built; never
on import), applies only to the instructor versions it was written and tested against,
and does nothing if instructor's internals have moved. ``benchmarks/bench_instructor_patch.py``
measures what it saves; ``tests/test_instructor_patch.py`` checks that it is active.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

#: instructor versions the patch was written against and tested with: [low, high).
TESTED = ((1, 17), (2, 0))

_lock = threading.Lock()
_original: Any = None


def _version() -> tuple[int, int]:
    import instructor

    parts = str(getattr(instructor, "__version__", "0.0")).split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return 0, 0


def _modules() -> tuple[Any, Any] | None:
    try:
        from instructor.v2.core import patch as patch_module
        from instructor.v2.validation import async_validators
    except ImportError:
        return None
    if not callable(getattr(async_validators, "reject_async_validators", None)):
        return None
    return async_validators, patch_module


def supported() -> bool:
    """Whether the installed instructor is one the patch applies to."""
    low, high = TESTED
    return low <= _version() < high and _modules() is not None


def active() -> bool:
    """Whether the patch is in place now."""
    modules = _modules()
    return modules is not None and getattr(modules[0].reject_async_validators, "remembers_classes", False)


def install() -> bool:
    """Put the patch in place (once); return whether it is active."""
    global _original
    with _lock:
        if active():
            return True
        if not supported():
            return False
        modules = _modules()
        assert modules is not None
        async_validators, patch_module = modules
        original = async_validators.reject_async_validators
        passed: weakref.WeakSet[type] = weakref.WeakSet()

        def reject_async_validators(response_model: Any) -> None:
            if isinstance(response_model, type) and response_model in passed:
                return
            original(response_model)
            if isinstance(response_model, type):
                passed.add(response_model)

        reject_async_validators.remembers_classes = True  # type: ignore[attr-defined]
        reject_async_validators.passed = passed  # type: ignore[attr-defined]
        async_validators.reject_async_validators = reject_async_validators
        if getattr(patch_module, "reject_async_validators", None) is original:
            patch_module.reject_async_validators = reject_async_validators
        _original = original
        return True


def uninstall() -> None:
    """Take the patch out again (for benchmarks and tests)."""
    global _original
    with _lock:
        modules = _modules()
        if modules is None or _original is None:
            return
        async_validators, patch_module = modules
        if getattr(patch_module, "reject_async_validators", None) is async_validators.reject_async_validators:
            patch_module.reject_async_validators = _original
        async_validators.reject_async_validators = _original
        _original = None
