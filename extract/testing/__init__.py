"""Test doubles that ship with the package, for the test suite, benchmarks and users' own tests.

:class:`FakeOpenAIServer` is a real OpenAI-compatible HTTP server on 127.0.0.1
whose answers and faults are scripted: :mod:`~extract.testing.faults` (one fault
vocabulary and the plans that inject faults), :mod:`~extract.testing.wire` (the
chat-completions format), :mod:`~extract.testing.corpus` (sample articles) and
:mod:`~extract.testing.fake_server` (the HTTP server). The scripted in-process backend,
:class:`extract.backends.mock.MockBackend`, speaks the same faults and format.

Names are imported on first use, so that ``python -m extract.testing.fake_server``
runs the module once, as the program, rather than after this package imported it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from extract.testing.corpus import doc_marker, sample_documents, write_corpus
    from extract.testing.fake_server import FakeOpenAIServer, RecordedRequest
    from extract.testing.faults import (
        Fault,
        Plan,
        RequestInfo,
        always,
        chain,
        every,
        first_attempts,
        no_faults,
        on_documents,
        randomly,
    )
    from extract.testing.wire import document_id_of, echo_extraction

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


_HOME = {
    **dict.fromkeys(("doc_marker", "sample_documents", "write_corpus"), "corpus"),
    **dict.fromkeys(("FakeOpenAIServer", "RecordedRequest"), "fake_server"),
    **dict.fromkeys(("document_id_of", "echo_extraction"), "wire"),
}


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(f"extract.testing.{_HOME.get(name, 'faults')}"), name)
    raise AttributeError(f"module 'extract.testing' has no attribute {name!r}")
