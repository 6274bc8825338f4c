"""The deterministic, offline backend: scripted replies, replay, injected faults.

``MockBackend(script)`` answers each model call from ``script``: a list of
replies used in order (a queue), or a function of the call. A reply is

- a pydantic model or a dict: sent as the model's JSON answer;
- a string: sent as the raw answer (use it for invalid JSON);
- a :class:`~extract.testing.faults.Fault` (the fake server's vocabulary): acted out
  as the HTTP backend would see it (a 429 raises ``RateLimited`` with its
  ``Retry-After``, a schema violation is sent as the answer, ...), so the retry policy
  and instructor handle it as they would a real server's;
- a :class:`~extract.core.errors.TransportError` or :class:`~extract.core.errors.ConfigError`: raised as it is.

Replies go through instructor exactly as a real model's would, so validation
re-asks happen for real. Every call is recorded in :attr:`MockBackend.calls`.

``ReplayBackend(store)`` answers from responses recorded with ``extract run
--record``; a request that was never recorded fails with
:class:`~extract.core.errors.ReplayMiss`.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from extract.backends.base import InstructorBackend
from extract.backends.openai_wire import error_for_status, retry_after
from extract.core.backend import Completion, CompletionRequest, cache_key
from extract.core.errors import (
    ConfigError,
    ConnectionFailed,
    RateLimited,
    ReplayMiss,
    RequestTimeout,
    ServerError,
    TransportError,
)
from extract.core.records import Usage
from extract.store import ResponseStore, answer_from, usable_entry
from extract.testing.echo import asks_for_refs, echo_text
from extract.testing.faults import Fault
from extract.testing.wire import completion_body
from extract.transport import RetryPolicy

Reply = BaseModel | dict[str, Any] | str | Fault | TransportError | ConfigError


@dataclass(frozen=True)
class MockCall:
    """One call the mock received: the request kwargs as instructor built them."""

    index: int
    messages: list[dict[str, Any]]
    kwargs: dict[str, Any]

    @property
    def article(self) -> str:
        """The article text inside the <article> tags of the last user message with one."""
        for message in reversed(self.messages):
            match = _ARTICLE.search(str(message.get("content", "")))
            if match:
                return match.group(1)
        return ""


_ARTICLE = re.compile(r"<article[^>]*>\n?(.*?)\n?</article>", re.DOTALL)


def empty_reply(call: MockCall) -> dict[str, Any]:
    """Always no incidents."""
    return {"incidents": []}


def echo_reply(call: MockCall) -> dict[str, Any]:
    """The echo test double as a mock script (see :mod:`extract.testing.echo`)."""
    return echo_text(call.article, refs=asks_for_refs(call.kwargs))


SCRIPTS: dict[str, Callable[[MockCall], Reply]] = {"empty": empty_reply, "echo": echo_reply}


class MockBackend(InstructorBackend):
    """Scripted replies through the real instructor path; records every call."""

    name = "mock"

    def __init__(
        self,
        script: Sequence[Reply] | Callable[[MockCall], Reply] | str = "empty",
        *,
        model: str | None = None,
        mode: str = "tools",
        latency: float = 0.0,
        retry: RetryPolicy | None = None,
        keep_calls: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(mode=mode, retry=retry or RetryPolicy(base_delay=0.0, max_delay=0.0), **kwargs)
        if isinstance(script, str):
            if script not in SCRIPTS:
                raise ConfigError(f"unknown mock script {script!r}", hint=f"choose one of {', '.join(SCRIPTS)}")
            self.model = model or f"mock-{script}"
            script = SCRIPTS[script]
        else:
            self.model = model or "mock"
        self._queue = list(script) if not callable(script) else None
        self._fn = script if callable(script) else None
        self.latency = latency
        #: The calls received, oldest first (only the last ``keep_calls`` when that is set: a mock
        #: run over a large corpus would otherwise keep every prompt).
        self.calls: deque[MockCall] = deque(maxlen=keep_calls)
        self._count = 0
        self._lock = threading.Lock()

    def _next(self, kwargs: dict[str, Any]) -> tuple[MockCall, Reply]:
        with self._lock:
            call = MockCall(index=self._count, messages=list(kwargs.get("messages", [])), kwargs=dict(kwargs))
            self._count += 1
            self.calls.append(call)
            if self._queue is not None:
                if not self._queue:
                    raise AssertionError(f"mock script exhausted at call {call.index + 1}")
                return call, self._queue.pop(0)
        assert self._fn is not None
        return call, self._fn(call)

    async def _send(self, kwargs: dict[str, Any]) -> ChatCompletion:
        _, reply = self._next(kwargs)
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._respond(reply, kwargs)

    def _respond(self, reply: Reply, kwargs: dict[str, Any]) -> ChatCompletion:
        if isinstance(reply, Fault):
            reply = fault_reply(reply)
        if isinstance(reply, TransportError | ConfigError):
            raise reply
        if isinstance(reply, BaseModel):
            content = reply.model_dump_json()
        elif isinstance(reply, dict):
            content = json.dumps(reply)
        else:
            content = str(reply)
        return ChatCompletion.model_validate(completion_body(kwargs, content, self.model))


def fault_reply(fault: Fault) -> str | dict[str, Any] | TransportError | ConfigError:
    """What the HTTP backend would get from a server acting out ``fault``: an error to raise, or an answer."""
    kind = fault.kind
    if kind in ("schema", "invalid_json"):
        payload: str | dict[str, Any] = fault.payload
        return payload
    if kind == "rate_limit":
        header = fault.payload if isinstance(fault.payload, str) else None
        after = retry_after({"retry-after": header}) if header is not None else fault.retry_after
        return RateLimited("rate limited (HTTP 429)", status=429, retry_after=after)
    if kind == "server_error":
        return ServerError(f"server error (HTTP {fault.status})", status=fault.status)
    if kind in ("truncated_body", "not_json_body"):
        return ServerError("unusable response from the mock: the body is not a chat completion")
    if kind == "slow":
        return RequestTimeout("no answer from the mock within the timeout")
    if kind == "drop":
        return ConnectionFailed("the mock dropped the connection")
    if kind == "http_error":
        # The HTTP backend's own mapping, so the mock and a real server stop a run alike (a 404 is a wrong model).
        return error_for_status(fault.status, str(fault.payload), None, "the mock")
    raise ValueError(f"the mock backend cannot act out a {kind!r} fault (give MockBackend a latency instead)")


class ReplayBackend:
    """Answers from a response store recorded earlier; never calls a model."""

    name = "mock"

    def __init__(self, store: ResponseStore):
        self.store = store
        self._identity = store.identity()
        self.model = f"replay:{self._identity.get('model', 'unknown')}"

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    async def complete(self, request: CompletionRequest) -> Completion:
        key = cache_key(self._identity, request)
        entry = self.store.get(key)
        if entry is None or not usable_entry(entry, request, str(self.store.path(key))):
            raise ReplayMiss(
                f"no recorded response for this document with prompt {request.prompt_hash} and schema "
                f"{request.schema_version} in {self.store.root}",
                hint="the prompt, schema or document changed since recording; record again with extract run --record",
                document_id=request.document_id or None,
            )
        # A replay reports what the recorded calls cost, marked as not spent again.
        stored = entry.get("usage")
        try:
            usage = Usage.model_validate({**(stored if isinstance(stored, dict) else {}), "cached": True})
        except ValidationError:
            usage = Usage(cached=True)
        attempts = entry.get("attempts")
        return answer_from(
            entry, request, self.model, usage=usage, attempts=attempts if isinstance(attempts, int) else 1
        )

    async def check(self) -> None:
        """A recording needs no check: its manifest was read when it was opened."""

    async def aclose(self) -> None:
        """Nothing to release."""
