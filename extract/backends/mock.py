"""The deterministic, offline backend: scripted replies, replay, injected faults.

``MockBackend(script)`` answers each model call from ``script``: a list of
replies used in order (a queue), or a function of the call. A reply is

- a pydantic model or a dict: sent as the model's JSON answer;
- a string: sent as the raw answer (use it for invalid JSON);
- a :class:`~extract.core.errors.TransportError` (see :class:`Fault`): raised as
  the transport would raise it, so the retry policy handles it.

Replies go through instructor exactly as a real model's would, so validation
re-asks happen for real. Every call is recorded in :attr:`MockBackend.calls`.

``ReplayBackend(store)`` answers from responses recorded with ``extract run
--record``; a request that was never recorded fails with
:class:`~extract.core.errors.ReplayMiss`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from extract.backends.base import InstructorBackend, estimate_tokens
from extract.core.backend import Completion, CompletionRequest, cache_key
from extract.core.errors import (
    ConnectionFailed,
    RateLimited,
    ReplayMiss,
    RequestTimeout,
    ServerError,
    TransportError,
    ValidationFailed,
)
from extract.core.records import Usage
from extract.store import ResponseStore
from extract.transport import RetryPolicy

Reply = BaseModel | dict[str, Any] | str | TransportError


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


class Fault:
    """Ready-made faults for scripts."""

    @staticmethod
    def rate_limit(retry_after: float | None = 0.0) -> RateLimited:
        return RateLimited("HTTP 429 Too Many Requests", status=429, retry_after=retry_after)

    @staticmethod
    def server_error(status: int = 500) -> ServerError:
        return ServerError(f"HTTP {status} from the server", status=status)

    @staticmethod
    def timeout() -> RequestTimeout:
        return RequestTimeout("the request timed out")

    @staticmethod
    def dropped() -> ConnectionFailed:
        return ConnectionFailed("the connection was dropped")

    @staticmethod
    def invalid_json() -> str:
        return '{"incidents": [{"type": "air_strike", "quote": '

    @staticmethod
    def schema_violation() -> dict[str, Any]:
        return {"incidents": [{"type": "not_a_type", "quote": "", "summary": ""}]}


def empty_reply(call: MockCall) -> dict[str, Any]:
    """Always no incidents."""
    return {"incidents": []}


def echo_extraction(text: str, summary: str = "Placeholder incident from the echo test double.") -> dict[str, Any]:
    """One incident whose quote is the text's first sentence: grounded, but meaningless.

    For exercising the pipeline (validation, grounding, writing) without a model;
    its output says nothing about extraction quality.
    """
    text = text.strip()
    first = _FIRST_SENTENCE.split(text, maxsplit=1)[0].strip() if text else ""
    if not re.search(r"\w", first):
        return {"incidents": []}
    return {"incidents": [{"type": "other_attack", "quote": first[:300], "summary": summary, "primary": True}]}


_FIRST_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def echo_reply(call: MockCall) -> dict[str, Any]:
    """The echo test double as a mock script (see :func:`echo_extraction`)."""
    return echo_extraction(call.article)


SCRIPTS: dict[str, Callable[[MockCall], Reply]] = {"empty": empty_reply, "echo": echo_reply}


def _completion(content: str, mode: str, model: str, prompt_tokens: int, tools: Any) -> ChatCompletion:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    finish = "stop"
    if mode == "tools":
        name = tools[0]["function"]["name"] if tools else "Extraction"
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": name, "arguments": content}}],
        }
        finish = "tool_calls"
    return ChatCompletion.model_validate(
        {
            "id": "mock",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": max(1, len(content) // 4),
                "total_tokens": prompt_tokens + max(1, len(content) // 4),
            },
        }
    )


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
                from extract.core.errors import ConfigError

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

    def _send(self, kwargs: dict[str, Any]) -> ChatCompletion:
        _, reply = self._next(kwargs)
        if self.latency:
            time.sleep(self.latency)
        return self._respond(reply, kwargs)

    async def _asend(self, kwargs: dict[str, Any]) -> ChatCompletion:
        import asyncio

        _, reply = self._next(kwargs)
        if self.latency:
            await asyncio.sleep(self.latency)
        return self._respond(reply, kwargs)

    def _respond(self, reply: Reply, kwargs: dict[str, Any]) -> ChatCompletion:
        if isinstance(reply, TransportError):
            raise reply
        if isinstance(reply, BaseModel):
            content = reply.model_dump_json()
        elif isinstance(reply, dict):
            content = json.dumps(reply)
        else:
            content = str(reply)
        return _completion(content, self.mode, self.model, estimate_tokens(kwargs.get("messages")), kwargs.get("tools"))


class ReplayBackend:
    """Answers from a response store recorded earlier; never calls a model."""

    name = "mock"

    def __init__(self, store: ResponseStore):
        self.store = store
        self._identity = store.identity()
        self.model = f"replay:{self._identity.get('model', 'unknown')}"

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    def complete(self, request: CompletionRequest) -> Completion:
        key = cache_key(self._identity, request)
        entry = self.store.get(key)
        if entry is None:
            raise ReplayMiss(
                f"no recorded response for this document with prompt {request.prompt_hash} and schema "
                f"{request.schema_version} in {self.store.root}",
                hint="the prompt, schema or document changed since recording; record again with extract run --record",
                document_id=request.document_id or None,
            )
        usage = Usage.model_validate({**entry.get("usage", {}), "cached": True})
        if entry.get("outcome") == "validation_failed":
            raise ValidationFailed(
                entry.get("message", "recorded reply failed validation"),
                last_response=entry.get("raw"),
                errors=entry.get("errors", []),
                attempts=entry.get("attempts", 1),
                usage=usage,
                document_id=request.document_id or None,
            )
        parsed = request.response_model.model_validate_json(entry["result"])
        return Completion(
            parsed=parsed,
            raw=entry.get("raw", ""),
            usage=usage,
            attempts=entry.get("attempts", 1),
            model=self.model,
            errors=tuple(entry.get("errors", [])),
        )

    async def acomplete(self, request: CompletionRequest) -> Completion:
        return self.complete(request)
