"""The contract between the pipeline and any model: one request in, one completion out.

A backend turns chat messages plus a response model into a validated object. It
re-asks the model on validation errors (through instructor) and retries transport
faults itself, so the pipeline never sees either; it raises
:class:`~extract.core.errors.ValidationFailed` or
:class:`~extract.core.errors.TransportError` when it gives up.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from extract.core.records import Usage
from extract.core.schema import schema_hash


@dataclass(frozen=True)
class CompletionRequest:
    """What the pipeline asks of a backend for one document (or one chunk of it)."""

    messages: tuple[dict[str, str], ...]
    response_model: type[BaseModel]
    document_id: str = ""
    prompt_hash: str = ""
    schema_version: str = ""
    max_retries: int = 2
    #: How the model cites evidence: "quotes" or "refs" (numbered sentences).
    evidence: str = "quotes"

    def fingerprint(self) -> dict[str, Any]:
        """The parts of the request that decide the answer (no ids, no secrets)."""
        out = {
            "messages": list(self.messages),
            "prompt_hash": self.prompt_hash,
            "schema_version": self.schema_version,
            "schema_hash": schema_hash(self.response_model),
            "max_retries": self.max_retries,
        }
        if self.evidence != "quotes":  # keys of quote-mode requests stay what they were
            out["evidence"] = self.evidence
        return out


@dataclass(frozen=True)
class Completion:
    """A backend's answer: the validated object, the raw reply, and what it cost."""

    parsed: BaseModel
    raw: str
    usage: Usage = field(default_factory=Usage)
    attempts: int = 1
    model: str = ""
    errors: tuple[str, ...] = ()


@runtime_checkable
class Backend(Protocol):
    """Anything that can answer a :class:`CompletionRequest`: one async method, and what wraps it needs."""

    #: Registry name, e.g. "openai", "local", "mock".
    name: str
    #: Model id as the provider names it.
    model: str

    async def complete(self, request: CompletionRequest) -> Completion:
        """Answer one request: the validated object, or :class:`~extract.core.errors.BackendError`."""
        ...

    def identity(self) -> dict[str, Any]:
        """Everything that changes answers (endpoint, model, parameters); never a key or credential."""
        ...

    async def check(self) -> None:
        """Fail fast with a :class:`~extract.core.errors.ConfigError` if no request can succeed."""
        ...

    async def aclose(self) -> None:
        """Release connections and processes."""
        ...


#: Goes into every backend identity. Version 2 added the endpoint (for HTTP backends) and the
#: model file's SHA-256 (for GGUFs), so that entries keyed without them are never served again.
IDENTITY_VERSION = 2


def cache_key(identity: dict[str, Any], request: CompletionRequest) -> str:
    """Content key for a response: backend identity (endpoint, model, parameters), prompt, schema and document."""
    payload = {"identity": identity, "request": request.fingerprint()}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
