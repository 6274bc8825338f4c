"""Faults, and plans that decide per request whether to inject one.

One vocabulary for every test double: the fake server acts a fault out over HTTP (a 429 with
``Retry-After``, a dropped connection, a body cut off), and the mock backend raises what the
HTTP backend would raise for it. A plan is a function of the request (order of arrival,
document id, attempt number), so which request fails is decided, not timed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Fault:
    """One way to misbehave. Build them with the class methods."""

    kind: str
    seconds: float = 0.0
    retry_after: float | None = None
    status: int = 500
    payload: Any = None

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Answer correctly, ``seconds`` late."""
        return cls("latency", seconds=seconds)

    @classmethod
    def rate_limit(cls, retry_after: float | None = 0.05) -> Fault:
        """HTTP 429, with a ``Retry-After`` header in seconds unless ``retry_after`` is None."""
        return cls("rate_limit", retry_after=retry_after, status=429)

    @classmethod
    def rate_limit_header(cls, value: str) -> Fault:
        """HTTP 429 with ``Retry-After: value`` sent as it is (``"soon"``, a date, ``"-1"``...)."""
        return cls("rate_limit", status=429, payload=value)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls("server_error", status=status)

    @classmethod
    def http_error(cls, status: int, message: str = "request refused") -> Fault:
        """Any other HTTP error status (401, 404, 400...) with an OpenAI-style error body."""
        return cls("http_error", status=status, payload=message)

    @classmethod
    def truncated_body(cls) -> Fault:
        """HTTP 200 whose JSON body is cut off half-way (Content-Length matches what is sent)."""
        return cls("truncated_body")

    @classmethod
    def not_json_body(cls) -> Fault:
        """HTTP 200, ``Content-Type: application/json``, but the body is an HTML error page."""
        return cls("not_json_body")

    @classmethod
    def large_body(cls, size: int) -> Fault:
        """HTTP 200 with a valid completion padded with spaces to ``size`` bytes."""
        return cls("large_body", payload=size)

    @classmethod
    def gzip_body(cls, size: int) -> Fault:
        """HTTP 200 with a valid completion padded to ``size`` bytes and sent gzip-compressed (``Content-Encoding:
        gzip``, whatever the client asked for): a small body that expands on the client."""
        return cls("gzip_body", payload=size)

    @classmethod
    def schema_violation(cls, payload: Any = None) -> Fault:
        """A well-formed completion whose content is valid JSON of the wrong shape (instructor re-asks)."""
        return cls("schema", payload=payload if payload is not None else {"items": [{"kind": "air strike"}]})

    @classmethod
    def invalid_json(cls) -> Fault:
        """A well-formed completion whose content is JSON cut off half-way (instructor re-asks)."""
        return cls("invalid_json", payload='{"incidents": [{"type": "air_strike", "quote": ')

    @classmethod
    def slow(cls, seconds: float = 5.0) -> Fault:
        """Answer after ``seconds``: longer than the client's timeout, so the client gives up first."""
        return cls("slow", seconds=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection after reading the request, without any response."""
        return cls("drop")


@dataclass(frozen=True)
class RequestInfo:
    """What a plan sees of a chat request."""

    #: 0-based order of arrival among chat requests.
    index: int
    #: The document id found in the request, or None.
    document: str | None
    #: 1-based: this is the n-th chat request for this document (for the whole server when no id is found).
    attempt: int
    body: dict[str, Any]


Plan = Callable[[RequestInfo], Fault | None]


def no_faults(info: RequestInfo) -> Fault | None:
    return None


def always(fault: Fault) -> Plan:
    """Every request."""
    return lambda info: fault


def first_attempts(n: int, fault: Fault) -> Plan:
    """The first ``n`` requests of every document (a transient fault)."""
    return lambda info: fault if info.attempt <= n else None


def on_documents(ids: Iterable[str], fault: Fault, *, attempts: int | None = None) -> Plan:
    """Requests for the given documents: all of them, or only the first ``attempts``."""
    chosen = frozenset(ids)

    def plan(info: RequestInfo) -> Fault | None:
        if info.document in chosen and (attempts is None or info.attempt <= attempts):
            return fault
        return None

    return plan


def every(k: int, fault: Fault, *, start: int = 0) -> Plan:
    """Requests number ``start``, ``start + k``, ``start + 2k``... in order of arrival."""
    return lambda info: fault if info.index >= start and (info.index - start) % k == 0 else None


def randomly(probability: float, fault: Fault, *, seed: int = 0) -> Plan:
    """Each request with the given probability, decided by (seed, document, attempt) so that
    the choice does not depend on the order in which concurrent requests arrive."""

    def plan(info: RequestInfo) -> Fault | None:
        key = f"{seed}:{info.document}:{info.attempt}" if info.document is not None else f"{seed}:#{info.index}"
        return fault if random.Random(key).random() < probability else None

    return plan


def chain(*plans: Plan) -> Plan:
    """The first fault any of the plans chooses."""

    def plan(info: RequestInfo) -> Fault | None:
        for each in plans:
            fault = each(info)
            if fault is not None:
                return fault
        return None

    return plan


# -- what was received -----------------------------------------------------------------------
