"""What every backend shares: instructor for structured output and validation re-asks.

A backend only says how to send one chat-completion request (the async :meth:`_send`)
and returns an OpenAI-shaped ``ChatCompletion``. This class wraps
that in the transport retry policy, hands it to instructor (which validates the
reply against the response model and re-asks on validation errors only), and
counts every request and token, failed attempts included.
"""

from __future__ import annotations

import logging
import threading
import weakref
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import instructor
from instructor.core.hooks import Hooks
from pydantic import BaseModel

from extract.backends import instructor_patch
from extract.core.backend import IDENTITY_VERSION, Completion, CompletionRequest
from extract.core.errors import BackendError, ConfigError, ExtractError, TransportError, ValidationFailed
from extract.core.records import Usage
from extract.core.secrets import redact_error
from extract.transport import RateLimiter, RetryPolicy

# instructor wraps the response model in a new class on every request unless it is
# already wrapped; wrapping once per model saves most of the client's CPU per document.
# Held weakly: a response model nobody uses any more is not kept alive here.
_WRAPPED: weakref.WeakKeyDictionary[type[BaseModel], type[BaseModel]] = weakref.WeakKeyDictionary()
_WRAP_LOCK = threading.Lock()


def _wrapped(model: type[BaseModel]) -> type[BaseModel]:
    with _WRAP_LOCK:
        wrapped = _WRAPPED.get(model)
        if wrapped is None:
            wrapped = _WRAPPED[model] = instructor.response_schema(model)
        return wrapped


# instructor logs every failed attempt at ERROR; this package reports them itself
# (failure records, the run summary), so they stay out of the user's terminal.
logging.getLogger("instructor").addHandler(logging.NullHandler())

MODES = {
    "tools": instructor.Mode.TOOLS,
    "json": instructor.Mode.JSON,
    "json_schema": instructor.Mode.JSON_SCHEMA,
    "md_json": instructor.Mode.MD_JSON,
}


@dataclass
class _Tally:
    """Counts for one request, across re-asks and transport retries."""

    requests: int = 0
    responses: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    last_raw: str = ""
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sent(self) -> None:
        with self.lock:
            self.requests += 1

    def received(self, response: Any) -> None:
        usage = getattr(response, "usage", None)
        with self.lock:
            self.responses += 1
            if usage is not None:
                self.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
                self.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
            self.last_raw = raw_text(response)

    def usage(self) -> Usage:
        return Usage(requests=self.requests, prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens)


def raw_text(response: Any) -> str:
    """The reply's payload: tool-call arguments if any, else the message content."""
    try:
        message = response.choices[0].message
    except (AttributeError, IndexError):
        return ""
    calls = getattr(message, "tool_calls", None) or []
    if calls:
        return str(calls[0].function.arguments or "")
    return str(getattr(message, "content", "") or "")


def estimate_tokens(messages: Any) -> int:
    """A rough prompt size (4 characters a token) for pacing before the server answers."""
    return sum(len(str(m.get("content", ""))) for m in messages or []) // 4


#: The request in progress and its tally, for :meth:`InstructorBackend._create` (one per task).
_CALL: ContextVar[tuple[CompletionRequest, _Tally]] = ContextVar("incident_extract_call")


class InstructorBackend:
    """Base class: subclasses implement the async :meth:`_send`."""

    name = "base"
    model = ""

    def __init__(
        self,
        *,
        mode: str = "json",
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        temperature: float = 0.0,
        max_tokens: int = 4096,
        seed: int | None = None,
    ):
        if mode not in MODES:
            raise ConfigError(f"unknown instructor mode {mode!r}", hint=f"choose one of {', '.join(MODES)}")
        self.mode = mode
        instructor_patch.install()  # explicit, bounded by version: see extract/backends/instructor_patch.py
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed

    # -- what subclasses provide -------------------------------------------------
    async def _send(self, kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _prepare(self, kwargs: dict[str, Any], request: CompletionRequest) -> dict[str, Any]:
        """Adjust the request instructor built before it is sent (default: unchanged)."""
        return kwargs

    def generation_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens}
        if self.seed is not None:
            params["seed"] = self.seed
        return params

    def identity(self) -> dict[str, Any]:
        """Everything about this backend that changes its answers: the cache key is built from it."""
        params = self.generation_params()
        return {"identity_version": IDENTITY_VERSION, "backend": self.name, "mode": self.mode, **params}

    # -- the contract ---------------------------------------------------------------
    async def complete(self, request: CompletionRequest) -> Completion:
        tally = _Tally()
        token = _CALL.set((request, tally))
        try:
            parsed = await self._instructor_create()(**self._call_arguments(request, tally))
        except Exception as exc:
            raise redact_error(self._failure(exc, tally, request), self.secrets()) from None
        finally:
            _CALL.reset(token)
        return self._completion(parsed, tally)

    def _instructor_create(self) -> Any:
        """instructor's wrapper around :meth:`_create`, built once per backend and mode, not per request.

        What differs per request (the request, its tally) reaches :meth:`_create` through a
        context variable, which every task (every document in flight) holds on its own.
        """
        built: dict[str, Any] = self.__dict__.setdefault("_instructor_creates", {})
        if self.mode not in built:
            built[self.mode] = instructor.patch(create=self._create, mode=MODES[self.mode])
        return built[self.mode]

    async def _create(self, **kwargs: Any) -> Any:
        request, tally = _CALL.get()

        async def once() -> Any:
            if self.limiter:
                await self.limiter.acquire(estimate_tokens(kwargs.get("messages")) + self.max_tokens)
            return await self._send(self._prepare(kwargs, request))

        response = await self.retry.call(once, on_attempt=tally.sent)
        tally.received(response)
        return response

    def secrets(self) -> tuple[str, ...]:
        """What must never be written anywhere (an API key, URL credentials): redacted from every error."""
        return ()

    async def check(self) -> None:
        """Nothing to check by default; HTTP backends see whether the endpoint answers."""

    async def aclose(self) -> None:
        """Nothing to release by default."""

    # -- helpers ----------------------------------------------------------------------
    def _call_arguments(self, request: CompletionRequest, tally: _Tally) -> dict[str, Any]:
        """What instructor's patched create is called with."""
        return {
            "messages": [dict(m) for m in request.messages],
            "response_model": _wrapped(request.response_model),
            "max_retries": max(0, request.max_retries),
            "hooks": self._hooks(tally),
            **self.generation_params(),
        }

    @staticmethod
    def _hooks(tally: _Tally) -> Hooks:
        hooks = Hooks()
        hooks.on("parse:error", lambda error, **_: tally.errors.append(_brief(error)))
        return hooks

    def _completion(self, parsed: BaseModel, tally: _Tally) -> Completion:
        return Completion(
            parsed=parsed,
            raw=tally.last_raw,
            usage=tally.usage(),
            attempts=tally.responses,
            model=self.model,
            errors=tuple(tally.errors),
        )

    def _failure(self, exc: BaseException, tally: _Tally, request: CompletionRequest) -> ExtractError:
        """Turn whatever instructor raised into the package's own error.

        A :class:`ConfigError` (a model that cannot run at all) passes through as it is: it
        stops the run instead of failing one document.
        """
        cause: BaseException | None = exc
        while cause is not None:
            if isinstance(cause, ConfigError):
                return cause
            if isinstance(cause, BackendError):
                cause.attempts = tally.requests
                cause.usage = tally.usage()
                if request.document_id:
                    cause.with_document(request.document_id)
                return cause
            cause = cause.__cause__ or cause.__context__
        if type(exc).__name__ == "IncompleteOutputException":
            message = f"the reply was cut off at max_tokens={self.max_tokens}"
            hint = "raise --max-tokens"
        else:
            last = tally.errors[-1] if tally.errors else _brief(exc)
            message = f"no valid reply after {tally.responses} attempt(s); last error: {last}"
            hint = "see 'rejected' for what was kept; try a stronger model or more --max-retries"
        if not tally.responses:
            return TransportError(
                f"request failed: {type(exc).__name__}: {exc}",
                retryable=False,
                attempts=tally.requests,
                usage=tally.usage(),
                document_id=request.document_id or None,
            )
        return ValidationFailed(
            message,
            hint=hint,
            last_response=tally.last_raw,
            errors=tally.errors or [_brief(exc)],
            attempts=tally.responses,
            usage=tally.usage(),
            document_id=request.document_id or None,
        )


def _brief(error: BaseException, limit: int = 600) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
