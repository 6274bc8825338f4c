"""Test doubles that ship with the package, for the test suite, benchmarks and users' own tests.

:class:`FakeOpenAIServer` is a real OpenAI-compatible HTTP server on 127.0.0.1
whose answers and faults are scripted (see :mod:`extract.testing.fake_server`);
the scripted in-process backend is :class:`extract.backends.mock.MockBackend`.

Names are imported on first use, so that ``python -m extract.testing.fake_server``
runs the module once, as the program, rather than after this package imported it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extract.testing.fake_server import (
        FakeOpenAIServer,
        Fault,
        Plan,
        RecordedRequest,
        RequestInfo,
        always,
        chain,
        doc_marker,
        document_id_of,
        echo_extraction,
        every,
        first_attempts,
        no_faults,
        on_documents,
        randomly,
        sample_documents,
        write_corpus,
    )

__all__ = [
    "FakeOpenAIServer",
    "Fault",
    "Plan",
    "RecordedRequest",
    "RequestInfo",
    "always",
    "chain",
    "doc_marker",
    "document_id_of",
    "echo_extraction",
    "every",
    "first_attempts",
    "no_faults",
    "on_documents",
    "randomly",
    "sample_documents",
    "write_corpus",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("extract.testing.fake_server"), name)
    raise AttributeError(f"module 'extract.testing' has no attribute {name!r}")
