"""Typed, immutable results that carry their provenance.

One :class:`DocumentResult` is written per document, as one JSON line. It holds
either the incidents (with an evidence span for every quoted value) or the reason
the document failed, plus usage and provenance.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from extract.core.schema import Incident


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Document(_Frozen):
    """One article: an id unique within its corpus, its text, and where it came from."""

    id: str
    text: str
    origin: str | None = Field(default=None, description="File (and line or row) the document was read from.")
    meta: dict[str, Any] = Field(default_factory=dict)


class Usage(_Frozen):
    """What a document cost: model calls and tokens, re-asks and failed attempts included."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @staticmethod
    def total(usages: list[Usage]) -> Usage:
        """The sum of several; cached only if every part was."""
        return Usage(
            requests=sum(u.requests for u in usages),
            prompt_tokens=sum(u.prompt_tokens for u in usages),
            completion_tokens=sum(u.completion_tokens for u in usages),
            cached=bool(usages) and all(u.cached for u in usages),
        )

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            requests=self.requests + other.requests,
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached=self.cached and other.cached,
        )


class Alignment(StrEnum):
    EXACT = "exact"
    FUZZY = "fuzzy"
    NOT_FOUND = "not_found"


class ValueCheck(_Frozen):
    """Whether one value (a name, a place, a number, a date) is stated in its evidence text."""

    field: str
    value: str
    supported: bool
    #: Where the value is stated: "quote", "article" (elsewhere in the article), or None.
    stated_in: str | None = None


class EvidenceSpan(_Frozen):
    """Where a value's quote was found in the document, and whether its values are stated there."""

    path: str = Field(description='The value the quote supports, e.g. "incidents[0].location".')
    quote: str
    alignment: Alignment
    start: int | None = None
    end: int | None = None
    score: float = Field(description="1.0 for exact, the fuzzy similarity (0-1) otherwise, 0 when not found.")
    #: The sentence numbers the model cited (evidence by reference); None when it quoted.
    refs: list[int] | None = None
    #: The checked values of the object (names, places, numbers, dates) and whether the quote states them.
    checks: list[ValueCheck] = Field(default_factory=list)

    @property
    def supported(self) -> bool:
        """Grounded, and every checked value stated in the quote."""
        return self.alignment is not Alignment.NOT_FOUND and all(c.supported for c in self.checks)


class RejectedItem(_Frozen):
    """An incident the model returned that failed validation, kept with its error."""

    index: int
    error: str
    data: Any = None


class Provenance(_Frozen):
    """Which prompt, schema, backend and model produced a record."""

    prompt: str
    prompt_hash: str
    schema_version: str
    backend: str
    model: str
    extractor_version: str
    #: How the model cited evidence (quotes or refs) and which schema rendering it was shown.
    evidence: str = "quotes"
    schema_style: str = "full"
    #: Whether the schema offered the document's own values as choices: True (each with a free-text
    #: twin) or "strict" (the article's values only).
    candidates: bool | str = False


class Failure(_Frozen):
    """Why a document produced no result."""

    reason: str
    message: str
    attempts: int = 0
    signal: str | None = Field(
        default=None, description="How the model process ended, for reason model_crashed (e.g. SIGSEGV)."
    )


class Status(StrEnum):
    OK = "ok"
    PARTIAL = "partial"
    FAILED = "failed"


class DocumentResult(_Frozen):
    """The output record for one document (one JSON line)."""

    id: str
    status: Status
    incidents: list[Incident] = Field(default_factory=list)
    evidence: list[EvidenceSpan] = Field(default_factory=list)
    rejected: list[RejectedItem] = Field(default_factory=list)
    failure: Failure | None = None
    usage: Usage = Field(default_factory=Usage)
    attempts: int = 0
    chunks: int = 1
    seconds: float = 0.0
    provenance: Provenance
    #: Warnings about the document itself, e.g. ``injection_suspected`` when it holds text addressed to
    #: the model (see :mod:`extract.core.injection`). Absent from run files written before it existed.
    flags: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status is not Status.FAILED

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=False)
