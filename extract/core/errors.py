"""The package's exceptions.

Every error the tool raises on purpose is an :class:`ExtractError`. Subclasses
carry the context a user needs (document id, attempts, last response, tokens
spent) and their message ends with what to do next.
"""

from __future__ import annotations

from typing import Any


class ExtractError(Exception):
    """Base class for every error raised on purpose by this package."""

    #: Short machine-readable reason written into failure records.
    reason: str = "error"

    def __init__(self, message: str, *, hint: str | None = None, document_id: str | None = None):
        self.message = message
        self.hint = hint
        self.document_id = document_id
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """The error as one line: where, what, and what to do next."""
        where = f"{self.document_id}: " if self.document_id else ""
        tail = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{tail}"

    def with_document(self, document_id: str) -> ExtractError:
        self.document_id = document_id
        self.args = (self.one_line(),)
        return self


class ConfigError(ExtractError):
    """A setting is missing or wrong (unknown backend, missing API key, bad path)."""

    reason = "config"


class InputError(ExtractError):
    """A corpus, document or gold file cannot be read or is not usable."""

    reason = "input"


class OutputError(ExtractError):
    """The run's output cannot be written (a full disk, a file size limit, an I/O error): the run stops."""

    reason = "output"


class ExtractWarning(UserWarning):
    """Something the user should know that does not stop the work; the command line shows it as one line."""


class CacheWarning(ExtractWarning):
    """A cache or recording entry could not be used (damaged, or of another shape) and was treated as a miss."""


class ClusterWarning(ExtractWarning):
    """The clustering compared fewer pairs than its blocks hold (a declared limit was reached); it names the limit."""


class DocumentTooLong(InputError):
    reason = "too_long"


class EmptyDocument(InputError):
    reason = "empty"


class BackendError(ExtractError):
    """The model could not produce a usable answer for one request."""

    reason = "backend"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        document_id: str | None = None,
        attempts: int = 0,
        usage: Any = None,
    ):
        self.attempts = attempts
        self.usage = usage
        super().__init__(message, hint=hint, document_id=document_id)


class TransportError(BackendError):
    """A request did not get an answer: HTTP status, timeout, dropped connection.

    ``retryable`` says whether trying again later can help; ``retry_after`` is the
    server's ``Retry-After`` in seconds when it sent one.
    """

    reason = "transport"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = True,
        retry_after: float | None = None,
        **kwargs: Any,
    ):
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class RateLimited(TransportError):
    reason = "rate_limited"


class ServerError(TransportError):
    reason = "server_error"


class RequestTimeout(TransportError):
    reason = "timeout"


class ConnectionFailed(TransportError):
    reason = "connection"


class AuthenticationFailed(TransportError):
    reason = "auth"

    def __init__(self, message: str, **kwargs: Any):
        kwargs.setdefault("retryable", False)
        super().__init__(message, **kwargs)


class ResponseTooLarge(TransportError):
    """A reply larger, once decoded, than the client accepts: not retried, the server would send it again."""

    reason = "response_too_large"

    def __init__(self, message: str, **kwargs: Any):
        kwargs.setdefault("retryable", False)
        super().__init__(message, **kwargs)


class ValidationFailed(BackendError):
    """Every attempt returned output that failed schema validation.

    ``last_response`` is the raw text of the last reply, kept so that valid
    incidents can be salvaged from it; ``errors`` holds one message per attempt.
    """

    reason = "validation"

    def __init__(
        self,
        message: str,
        *,
        last_response: str | None = None,
        errors: list[str] | None = None,
        **kwargs: Any,
    ):
        self.last_response = last_response
        self.errors = list(errors or [])
        super().__init__(message, **kwargs)


class ReplayMiss(BackendError):
    """The replay store holds no recorded response for this request."""

    reason = "replay_miss"


class ModelCrashed(BackendError):
    """The process running a local model died while answering (a native crash, or out of memory).

    ``signal`` names how it ended (``SIGSEGV``, ``SIGILL``, ``SIGABRT``, ``SIGKILL``...).
    """

    reason = "model_crashed"

    def __init__(self, message: str, *, signal: str = "", **kwargs: Any):
        self.signal = signal
        kwargs.setdefault("hint", "the model process is restarted for the next document; 'extract doctor' checks it")
        super().__init__(message, **kwargs)


class ModelUnusable(ConfigError):
    """A local model cannot run on this machine: it does not load, or its process keeps crashing."""

    reason = "model_unusable"
