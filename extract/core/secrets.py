"""Secrets out of every message: one redaction function for errors, records, logs and the console.

The API key (the value of the variable named by ``--api-key-env``) and credentials in a URL
(``user:password@``, a ``key``/``token``-like query parameter) must never be written
anywhere: a server that echoes the key in an error body, a key pasted into ``--base-url``, an
error that quotes the URL. :func:`redact` takes the secrets a caller knows (the key) and also
removes URL credentials and bearer tokens it finds by their shape.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import parse_qsl, quote, unquote, urlsplit

REDACTED = "[redacted]"
#: Shorter strings are not replaced: they would blank out ordinary words.
MIN_SECRET = 6

_SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "signature", "sig", "auth")
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/\s@?#]+@", re.IGNORECASE)
_QUERY = re.compile(r"([?&][^=&\s#]*(?:" + "|".join(_SECRET_WORDS) + r")[^=&\s#]*=)[^&\s#\"']+", re.IGNORECASE)
_BEARER = re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every known secret, URL credential and bearer token replaced by ``[redacted]``."""
    for secret in sorted(_variants(secrets), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    text = _QUERY.sub(lambda m: m.group(1) + REDACTED, text)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


def _variants(secrets: Iterable[str]) -> set[str]:
    """Each secret as written, URL-encoded and URL-decoded (an error may quote either)."""
    out: set[str] = set()
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET:
            out |= {secret, quote(secret, safe=""), unquote(secret)}
    return {s for s in out if len(s) >= MIN_SECRET}


def url_secrets(url: str | None) -> list[str]:
    """The secret parts of a URL: the password (or a lone user name, which some services use as the
    key) and the values of key-like query parameters."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
        found = [parts.password] if parts.password else [parts.username] if parts.username else []
        query = parse_qsl(parts.query, keep_blank_values=False)
    except ValueError:  # a malformed URL: nothing can be parsed out, the shape rules still apply
        return []
    found += [value for name, value in query if any(word in name.lower() for word in _SECRET_WORDS)]
    return [s for s in found if s]


class RedactingFilter(logging.Filter):
    """A handler filter that rewrites each record's message (and traceback) through :func:`redact`."""

    def __init__(self, secrets: Iterable[str] = ()):
        super().__init__()
        self.secrets = tuple(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None
        if record.exc_text:
            message += "\n" + record.exc_text
        record.msg, record.args, record.exc_text = redact(message, self.secrets), None, None
        return True


@contextmanager
def redacting_logs(secrets: Iterable[str] = ()) -> Iterator[None]:
    """While the block runs, every log line that reaches a handler of the root logger (or Python's
    last-resort handler) is redacted. The handlers are left as they were afterwards."""
    log_filter = RedactingFilter(secrets)
    handlers = [*logging.getLogger().handlers, logging.lastResort]
    touched = [h for h in handlers if h is not None]
    for handler in touched:
        handler.addFilter(log_filter)
    try:
        yield
    finally:
        for handler in touched:
            handler.removeFilter(log_filter)


def backend_secrets(backend: object) -> tuple[str, ...]:
    """What a backend says must never be written (its ``secrets()``; none if it has no such method)."""
    method = getattr(backend, "secrets", None)
    return tuple(method()) if callable(method) else ()


def redact_error(error: BaseException, secrets: Iterable[str] = ()) -> BaseException:
    """``error`` with its message, hint and kept reply text redacted, in place; returns it."""
    secrets = tuple(secrets)
    for name in ("message", "hint", "last_response"):
        value = getattr(error, name, None)
        if isinstance(value, str):
            setattr(error, name, redact(value, secrets))
    errors = getattr(error, "errors", None)
    if isinstance(errors, list):
        error.errors = [redact(e, secrets) if isinstance(e, str) else e for e in errors]  # type: ignore[attr-defined]
    one_line = getattr(error, "one_line", None)
    error.args = (one_line(),) if callable(one_line) else tuple(redact(str(a), secrets) for a in error.args)
    return error
