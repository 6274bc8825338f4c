"""What every backend shares: instructor for structured output and validation re-asks.

A backend only says how to send one chat-completion request (the async :meth:`_send`)
and returns an OpenAI-shaped ``ChatCompletion``. This class wraps that in the transport
retry policy and counts every request and token, failed attempts included. instructor
does what it is for, through its mode handlers: it builds the request for the response
model (tool, JSON schema or JSON instructions), parses and validates the reply, and
writes the re-ask message after a validation error.

The loop of attempts is this class's own (:meth:`InstructorBackend._attempts`), not
instructor's patched ``create``: that one, per request, builds a tenacity retrier, copies
the token usage it accumulates and runs hooks, a fifth of the client's CPU time per
request at 64 in flight, for what this class already counts itself.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import instructor
from instructor.v2.core.errors import AsyncValidationError, ResponseParsingError
from instructor.v2.core.providers import Provider
from instructor.v2.core.registry import ModeHandlers, mode_registry
from instructor.v2.core.response_model import prepare_response_model
from pydantic import BaseModel, ValidationError

from extract.backends import instructor_patch
from extract.core.backend import IDENTITY_VERSION, Completion, CompletionRequest
from extract.core.errors import BackendError, ConfigError, ExtractError, TransportError, ValidationFailed
from extract.core.records import Usage
from extract.core.secrets import redact_error
from extract.transport import RateLimiter, RetryPolicy

# instructor wraps the response model in a class of its own and checks it (no async
# validators, which a request cannot run) before it can build a request for it; both
# are done once per model, not per request. Held weakly: a response model nobody uses
# any more is not kept alive here.
_WRAPPED: weakref.WeakKeyDictionary[type[BaseModel], type[BaseModel]] = weakref.WeakKeyDictionary()
_WRAP_LOCK = threading.Lock()


def _wrapped(model: type[BaseModel]) -> type[BaseModel]:
    with _WRAP_LOCK:
        wrapped = _WRAPPED.get(model)
        if wrapped is None:
            try:
                prepared = prepare_response_model(instructor.response_schema(model))
            except ValueError as exc:  # an async validator, which no request can run
                raise ConfigError(f"the response model {model.__name__} cannot be used: {exc}") from None
            if prepared is None:  # pragma: no cover - only for a model of None
                raise ConfigError(f"instructor cannot build a request for {model!r}")
            wrapped = _WRAPPED[model] = prepared
        return wrapped


#: What instructor raises for a reply that is not a valid instance of the response model: worth a re-ask.
_PARSE_ERRORS = (ValidationError, json.JSONDecodeError, ResponseParsingError, AsyncValidationError)


# instructor logs every failed attempt at ERROR; this package reports them itself
# (failure records, the run summary), so they stay out of the user's terminal.
logging.getLogger("instructor").addHandler(logging.NullHandler())
_log = logging.getLogger(__name__)

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
        self._handlers: ModeHandlers = mode_registry.get_handlers(Provider.OPENAI, MODES[mode])
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
        try:
            parsed = await self._attempts(request, tally)
        except Exception as exc:
            # For whoever turns debug logging on; a run's own log handlers redact secrets from it.
            _log.debug("document %s: no result after %d request(s): %r", request.document_id, tally.requests, exc)
            raise redact_error(self._failure(exc, tally, request), self.secrets()) from None
        return self._completion(parsed, tally)

    async def _attempts(self, request: CompletionRequest, tally: _Tally) -> BaseModel:
        """Ask, validate, and re-ask after an invalid reply, up to ``request.max_retries`` times.

        The last attempt's parse error is raised as it is; :meth:`_failure` names it.
        """
        handlers = self._handlers
        wrapped = _wrapped(request.response_model)
        prepared, kwargs = handlers.request_handler(
            response_model=wrapped, kwargs={"messages": [dict(m) for m in request.messages], **self.generation_params()}
        )
        model = prepared or wrapped
        if handlers.message_converter is not None:
            kwargs["messages"] = handlers.message_converter(kwargs["messages"], autodetect_images=False)
        attempts = max(0, request.max_retries) + 1
        for attempt in range(1, attempts + 1):
            response = await self._create(kwargs, request, tally)
            try:
                parsed = handlers.response_parser(
                    response=response, response_model=model, validation_context=None, strict=True, stream=False
                )
            except _PARSE_ERRORS as exc:
                _log.debug(
                    "document %s: attempt %d of %d did not validate: %s", request.document_id, attempt, attempts, exc
                )
                tally.errors.append(_brief(exc))
                if attempt == attempts:
                    raise
                kwargs = handlers.reask_handler(kwargs=dict(kwargs), response=response, exception=exc)
                continue
            if not isinstance(parsed, BaseModel):  # pragma: no cover - a mode this class does not offer
                raise TypeError(f"instructor returned {type(parsed).__name__}, not the response model")
            return parsed
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def _create(self, kwargs: dict[str, Any], request: CompletionRequest, tally: _Tally) -> Any:
        """One attempt: the request instructor built, sent under the transport retry policy."""

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
