"""The openai backend's two async transports against the fake server: the same bodies, the same errors.

``direct`` (the default) posts a prepared body over aiohttp; ``sdk`` goes through
``AsyncOpenAI``. Whatever the server does, a user must not be able to tell them apart
except by speed: these tests send the same requests both ways and compare.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import gzip
import time
import urllib.parse
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from instructor.v2.validation import async_field_validator
from pydantic import BaseModel

from extract.backends.openai_compat import OpenAIBackend
from extract.backends.openai_wire import PreparedBodies, error_for_status, read_body, retry_after
from extract.core.backend import Completion, CompletionRequest
from extract.core.errors import (
    AuthenticationFailed,
    ConfigError,
    ConnectionFailed,
    ExtractError,
    RateLimited,
    RequestTimeout,
    ResponseTooLarge,
    ServerError,
    TransportError,
)
from extract.testing import FakeOpenAIServer, Fault, always, doc_marker, first_attempts, on_documents
from extract.transport import RetryPolicy
from tests.conftest import completion_request

pytestmark = pytest.mark.server

ONCE = RetryPolicy(max_attempts=1)
TEXT = f"Shelling hit the outskirts of Hama on Monday, killing five civilians. {doc_marker('d1')}"
TRANSPORTS = [pytest.param("direct", id="direct"), pytest.param("sdk", id="sdk")]


def request(max_retries: int = 2) -> CompletionRequest:
    return completion_request(TEXT, "d1", max_retries)


def acomplete(backend: OpenAIBackend, req: CompletionRequest) -> Completion:
    async def go() -> Completion:
        try:
            return await backend.complete(req)
        finally:
            await backend.aclose()

    return asyncio.run(go())


def outcome(backend: OpenAIBackend) -> tuple[type[BaseException] | None, Any]:
    """(the error class raised or None, its retry_after or the completion's usage)."""
    try:
        done = acomplete(backend, request(max_retries=0))
    except ExtractError as exc:
        return type(exc), getattr(exc, "retry_after", None)
    return None, (done.usage.requests, done.usage.prompt_tokens, done.usage.completion_tokens)


@pytest.mark.parametrize("mode", [pytest.param(m, id=m) for m in ("tools", "json", "json_schema", "md_json")])
def test_both_transports_send_the_same_body(mode: str) -> None:
    """Including a re-ask after a reply that failed validation, whose messages carry the error."""
    bodies: dict[str, list[dict[str, Any]]] = {}
    for transport in ("direct", "sdk"):
        with FakeOpenAIServer(plan=first_attempts(1, Fault.schema_violation())) as server:
            backend = OpenAIBackend("fake", base_url=server.base_url, mode=mode, retry=ONCE, transport=transport)
            done = acomplete(backend, request())
            bodies[transport] = [r.body or {} for r in server.chat_requests()]
        assert done.attempts == 2 and len(done.parsed.incidents) == 1
    assert len(bodies["direct"]) == 2
    assert bodies["direct"] == bodies["sdk"]


def test_the_constant_part_is_serialised_once_per_schema() -> None:
    with FakeOpenAIServer() as server:
        backend = OpenAIBackend("fake", base_url=server.base_url, retry=ONCE)

        async def go() -> int:
            for _ in range(5):
                await backend.complete(request())
            direct = backend._direct
            assert direct is not None
            count = len(direct.bodies)
            await backend.aclose()
            return count

        assert asyncio.run(go()) == 1
        assert server.count() == 5


def test_prepared_body_splices_messages_before_the_constant_part() -> None:
    bodies = PreparedBodies()
    a = bodies.body({"messages": [{"role": "user", "content": 'é "x"'}], "model": "m", "tools": [{"a": 1}]}, "k")
    b = bodies.body({"messages": [], "model": "m", "tools": [{"a": 1}]}, "k")
    assert a == '{"messages":[{"role":"user","content":"é \\"x\\""}],"model":"m","tools":[{"a":1}]}'.encode()
    assert b == b'{"messages":[],"model":"m","tools":[{"a":1}]}'
    # A scalar parameter that changes gets its own entry, never the stale one.
    c = bodies.body({"messages": [], "model": "other", "tools": [{"a": 1}]}, "k")
    assert c == b'{"messages":[],"model":"other","tools":[{"a":1}]}' and len(bodies) == 2


FAULTS = [
    pytest.param(Fault.rate_limit(retry_after=7), (RateLimited, 7.0), id="429-retry-after"),
    pytest.param(Fault.rate_limit(retry_after=None), (RateLimited, None), id="429-bare"),
    pytest.param(Fault.server_error(503), (ServerError, None), id="503"),
    pytest.param(Fault.http_error(401), (AuthenticationFailed, None), id="401"),
    pytest.param(Fault.http_error(403), (AuthenticationFailed, None), id="403"),
    pytest.param(Fault.http_error(404), (ConfigError, None), id="404"),
    pytest.param(Fault.http_error(400, "bad request"), (TransportError, None), id="400"),
    pytest.param(Fault.truncated_body(), (ServerError, None), id="truncated-body"),
    pytest.param(Fault.not_json_body(), (ServerError, None), id="not-json-body"),
    pytest.param(Fault.drop(), (ConnectionFailed, None), id="dropped-connection"),
    pytest.param(Fault.slow(2.0), (RequestTimeout, None), id="slower-than-timeout"),
]


@pytest.mark.parametrize(("fault", "expected"), FAULTS)
def test_both_transports_raise_the_same_typed_error(fault: Fault, expected: tuple[type, Any]) -> None:
    seen = {}
    for transport in ("direct", "sdk"):
        with FakeOpenAIServer(plan=always(fault)) as server:
            backend = OpenAIBackend("fake", base_url=server.base_url, timeout=0.5, retry=ONCE, transport=transport)
            seen[transport] = outcome(backend)
    assert seen["direct"] == seen["sdk"] == expected


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_usage_is_what_the_server_reported(transport: str) -> None:
    with FakeOpenAIServer() as server:
        backend = OpenAIBackend("fake", base_url=server.base_url, retry=ONCE, transport=transport)
        done = acomplete(backend, request())
        assert (done.usage.prompt_tokens, done.usage.completion_tokens) == server.usage_sent("d1")
        assert done.usage.prompt_tokens > 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_the_key_is_sent(transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test")
    with FakeOpenAIServer(api_key="sk-test") as server:
        backend = OpenAIBackend(
            "fake", base_url=server.base_url, retry=ONCE, transport=transport, api_key_env="FAKE_KEY"
        )
        acomplete(backend, request())
        assert [r.authorized for r in server.chat_requests()] == [True]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_credentials_in_the_base_url_are_sent_as_basic_auth(transport: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``http://user:KEY@host/v1``: the SDK sends HTTP Basic auth; the direct transport used to fail every
    document with aiohttp's "Cannot combine AUTHORIZATION header with ... credentials encoded in URL"."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    password = "k3y/with@odd:chars"
    with FakeOpenAIServer(basic_auth=("bob", password)) as server:
        url = server.base_url.replace("http://", f"http://bob:{urllib.parse.quote(password, safe='')}@")
        backend = OpenAIBackend("fake", base_url=url, retry=ONCE, transport=transport)
        done = acomplete(backend, request())
        assert len(done.parsed.incidents) == 1
        assert [r.authorized for r in server.chat_requests()] == [True]


CAP = 64 * 1024


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    ("fault", "refused"),
    [
        pytest.param(Fault.large_body(4 * CAP), True, id="large-body"),
        pytest.param(Fault.gzip_body(16 * CAP), True, id="gzip-body-that-expands"),
        pytest.param(Fault.gzip_body(CAP // 2), False, id="gzip-body-under-the-cap"),
        pytest.param(Fault.large_body(CAP), False, id="body-at-the-cap"),
    ],
)
def test_the_decoded_reply_is_capped_on_both_transports(fault: Fault, refused: bool, transport: str) -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)
    with FakeOpenAIServer(plan=always(fault)) as server:
        backend = OpenAIBackend(
            "fake", base_url=server.base_url, retry=policy, transport=transport, max_response_bytes=CAP
        )
        if not refused:
            assert len(acomplete(backend, request()).parsed.incidents) == 1
            return
        with pytest.raises(ResponseTooLarge, match=f"larger than {CAP:,} bytes once decoded") as info:
            acomplete(backend, request())
        assert "--max-response-bytes" in info.value.one_line() and info.value.document_id == "d1"
        assert server.count() == 1  # not retried: the server would send it again


async def _chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    """``data`` as a response body arrives: in small pieces."""
    for k in range(0, len(data), size):
        yield data[k : k + size]


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        pytest.param(None, lambda b: b, id="identity"),
        pytest.param("gzip", gzip.compress, id="gzip"),
        pytest.param("deflate", zlib.compress, id="deflate-zlib"),
        pytest.param("deflate", lambda b: zlib.compress(b, wbits=-zlib.MAX_WBITS), id="deflate-raw"),
    ],
)
def test_read_body_decodes_in_pieces_and_stops_at_the_limit(encoding: str | None, encode: Any) -> None:
    body = b'{"x": "' + b"abc" * 5000 + b'"}'
    assert asyncio.run(read_body(_chunks(encode(body)), encoding, len(body), "here")) == body
    with pytest.raises(ResponseTooLarge, match="larger than 15,000 bytes"):
        asyncio.run(read_body(_chunks(encode(body)), encoding, 15_000, "here"))


def test_read_body_refuses_a_body_that_does_not_decode_or_an_encoding_not_asked_for() -> None:
    with pytest.raises(ServerError, match="cannot decode its gzip body"):
        asyncio.run(read_body(_chunks(b"not gzip at all"), "gzip", 1000, "here"))
    with pytest.raises(ServerError, match="Content-Encoding 'br' was not asked for"):
        asyncio.run(read_body(_chunks(b"\x0b\x02\x80"), "br", 1000, "here"))


def test_retry_after_reads_milliseconds_seconds_and_dates() -> None:
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"retry-after": "3"}) == 3.0
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (retry_after({"retry-after": later}) or 0) <= 30
    assert retry_after({"retry-after": "not a date"}) is None
    assert retry_after({}) is None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_retry_after_date_far_ahead_fails_the_document_at_once(transport: str) -> None:
    """An HTTP date an hour ahead: one request and a failure saying so, not six attempts held 120 s each."""
    later = email.utils.formatdate(time.time() + 3600, usegmt=True)
    with FakeOpenAIServer(plan=always(Fault.rate_limit_header(later))) as server:
        policy = RetryPolicy(max_attempts=6, base_delay=0.0, max_delay=0.0, max_retry_after=120.0)
        backend = OpenAIBackend("fake", base_url=server.base_url, retry=policy, transport=transport)
        started = time.monotonic()
        with pytest.raises(RateLimited, match=r"asked to wait 3[56]\d\d s, longer than the 120 s") as info:
            acomplete(backend, request())
        assert time.monotonic() - started < 60  # the old behaviour waited 120 s before the second attempt
        assert server.count() == 1 and info.value.attempts == 1 and info.value.document_id == "d1"


def test_error_for_status_keeps_retry_after_on_server_errors() -> None:
    error = error_for_status(503, "busy", {"retry-after": "2"}, "http://x/v1")
    assert isinstance(error, ServerError) and error.retry_after == 2.0 and error.retryable


def test_unknown_transport_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown transport"):
        OpenAIBackend("fake", base_url="http://127.0.0.1:1/v1", transport="pigeon")


def test_the_proxy_is_looked_up_once_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from extract.backends.openai_wire import proxy_for

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    assert proxy_for("https://api.example.com/v1/chat/completions") == "http://proxy.example:3128"
    assert proxy_for("http://127.0.0.1:8000/v1/chat/completions") is None
    monkeypatch.delenv("HTTPS_PROXY")
    assert proxy_for("https://api.example.com/v1/chat/completions") is None


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_requests_in_flight_on_one_backend_keep_their_own_attempts_and_usage(transport: str) -> None:
    """Each request's tally stays its own across its re-asks, which are sent after the other requests have
    started, with every request sharing the backend's one client."""
    ids = [f"c{k}" for k in range(6)]
    retried = ids[::2]  # a reply that fails validation on the first attempt of every other document
    texts = {d: f"Shelling hit the outskirts of Hama on Monday, killing five civilians. {doc_marker(d)}" for d in ids}
    policy = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)
    with FakeOpenAIServer(plan=on_documents(retried, Fault.schema_violation(), attempts=1), hold_until=6) as server:
        backend = OpenAIBackend("fake", base_url=server.base_url, retry=policy, transport=transport)

        async def go() -> list[Completion]:
            try:
                return list(await asyncio.gather(*(backend.complete(completion_request(texts[d], d)) for d in ids)))
            finally:
                await backend.aclose()

        done = asyncio.run(go())
        assert server.peak_in_flight == 6  # all six were in flight at once
    assert [(c.attempts, c.usage.requests) for c in done] == [(2, 2) if d in retried else (1, 1) for d in ids]
    assert all(len(c.parsed.incidents) == 1 for c in done)


def test_a_response_model_with_an_async_validator_is_a_config_error_before_any_request() -> None:
    """No request could run the validator: the run stops with one line instead of failing every document."""

    class Slow(BaseModel):
        x: int

        @async_field_validator("x")
        async def check(self, value: int) -> int:
            return value

    with FakeOpenAIServer() as server:
        backend = OpenAIBackend("fake", base_url=server.base_url)
        request = dataclasses.replace(completion_request("Shelling hit Hama."), response_model=Slow)
        with pytest.raises(ConfigError, match=r"Slow cannot be used: .*async validators"):
            asyncio.run(backend.complete(request))
        assert server.count() == 0
