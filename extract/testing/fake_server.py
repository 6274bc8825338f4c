"""A fake OpenAI-compatible HTTP server on 127.0.0.1, with faults injected by plan.

It speaks just enough HTTP/1.1 (keep-alive, ``Content-Length`` bodies) for the
openai client: ``POST /v1/chat/completions`` and ``GET /v1/models``. Each chat
request is answered by a reply function of the request body (default:
:func:`echo_extraction`, one incident quoting the article's first sentence, so
grounding finds it), as a tool call when the request has ``tools`` and as message
content otherwise, with a ``usage`` block.

A fault plan decides, per request and deterministically, whether to misbehave:
latency, HTTP 429 with ``Retry-After``, HTTP 500, a truncated or non-JSON body, a
large body (as it is, or gzip-compressed), valid JSON of the wrong shape, an
answer slower than the client's timeout, or a dropped connection. Every request
is recorded (thread-safe), so tests can assert how many calls a batch made, per
document and per fault.

The server runs its own event loop in a background thread::

    with FakeOpenAIServer(latency=0.1, plan=first_attempts(1, Fault.server_error())) as server:
        backend = OpenAIBackend("fake", base_url=server.base_url)
        ...
        assert server.count() <= bound

``python -m extract.testing.fake_server --latency 0.2`` runs it in its own
process (for benchmarks, so that the server does not share the client's GIL); it
prints its base URL on the first line and serves counts at ``GET /_fake/stats``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import gzip
import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from extract.testing.faults import Fault, Plan, RequestInfo, no_faults
from extract.testing.wire import (
    CHAT_PATH,
    MODELS_PATH,
    STATS_PATH,
    completion_body,
    document_id_of,
    echo_extraction,
    model_entry,
    seconds_header,
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    index: int
    method: str
    path: str
    document: str | None
    attempt: int
    #: The parsed JSON body (None for GET, or when ``keep_bodies`` is off).
    body: dict[str, Any] | None
    #: The fault injected, or None for a normal answer.
    fault: str | None
    #: Whether the request carried the expected key (always True when the server expects none).
    authorized: bool
    received: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list((self.body or {}).get("messages") or [])


Reply = dict[str, Any] | str
ReplyFn = Callable[[dict[str, Any]], Reply]


class FakeOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 in a background thread. Use it as a context manager."""

    def __init__(
        self,
        reply: ReplyFn = echo_extraction,
        *,
        plan: Plan = no_faults,
        latency: float = 0.0,
        api_key: str | None = None,
        model: str = "fake",
        port: int = 0,
        keep_bodies: bool = True,
        hold_until: int = 0,
        hold_timeout: float = 30.0,
        basic_auth: tuple[str, str] | None = None,
    ):
        """``hold_until``: answer no chat request until that many are in flight at once (or ``hold_timeout``
        seconds have passed), so that a test can see how many requests a client keeps in flight without
        depending on how fast the machine is. ``basic_auth``: (user, password) expected as HTTP Basic auth
        instead of the key, as a client sends credentials given in the URL (``http://user:key@host/v1``)."""
        self.reply = reply
        self.plan = plan
        self.latency = latency
        self.api_key = api_key
        self.basic_auth = basic_auth
        self.model = model
        self.keep_bodies = keep_bodies
        self.port = port
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._chat_count = 0
        self._per_document: Counter[str | None] = Counter()
        self._usage: dict[str | None, tuple[int, int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self.hold_until = hold_until
        self.hold_timeout = hold_timeout
        self._in_flight = 0
        #: The most chat requests that were being answered at the same time.
        self.peak_in_flight = 0
        self._released: asyncio.Event | None = None

    # -- lifecycle ----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._thread_main, name="fake-openai-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._startup_error is not None:
            raise self._startup_error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(serve(self, self.port))
        except BaseException as exc:  # report it to start(), which is waiting
            self._startup_error = exc
            self._ready.set()
            loop.close()
            return
        self._loop = loop
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            for task in list(self._connections):
                task.cancel()
            loop.run_until_complete(asyncio.gather(*self._connections, return_exceptions=True))
            loop.run_until_complete(server.wait_closed())
            loop.close()

    # -- what tests read ------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order of arrival."""
        with self._lock:
            return list(self._requests)

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == CHAT_PATH]

    def count(self, document: str | None = None) -> int:
        """Chat requests received (refused ones included), for one document or in all."""
        with self._lock:
            if document is None:
                return self._chat_count
            return self._per_document[document]

    def counts_by_document(self) -> Counter[str | None]:
        with self._lock:
            return Counter(self._per_document)

    def usage_sent(self, document: str | None) -> tuple[int, int]:
        """(prompt_tokens, completion_tokens) the server reported in complete answers for a document."""
        with self._lock:
            return self._usage.get(document, (0, 0))

    def fault_counts(self) -> Counter[str]:
        """How many times each fault was injected."""
        return Counter(r.fault for r in self.requests if r.fault is not None)

    def stats(self) -> dict[str, Any]:
        """Counts as plain JSON (also served at ``GET /_fake/stats``)."""
        return {
            "requests": self.count(),
            "by_document": {str(k): v for k, v in self.counts_by_document().items()},
            "faults": dict(self.fault_counts()),
        }

    def reset(self) -> None:
        """Forget what was received (attempt numbers start again at 1)."""
        with self._lock:
            self._requests.clear()
            self._chat_count = 0
            self._per_document.clear()
            self._usage.clear()

    # -- answering -------------------------------------------------------------------------
    def _record(
        self, method: str, path: str, body: dict[str, Any] | None, authorized: bool
    ) -> tuple[str | None, Fault | None]:
        """Record a request; for an authorized chat request also choose its fault.

        Both happen under one lock, so attempt numbers are exact however many
        requests arrive at once.
        """
        with self._lock:
            document = document_id_of(body) if body is not None else None
            fault: Fault | None = None
            attempt = 0
            if body is not None:
                self._per_document[document] += 1
                attempt = self._per_document[document] if document is not None else self._chat_count + 1
                if authorized:
                    fault = self.plan(
                        RequestInfo(index=self._chat_count, document=document, attempt=attempt, body=body)
                    )
                self._chat_count += 1
            self._requests.append(
                RecordedRequest(
                    index=len(self._requests),
                    method=method,
                    path=path,
                    document=document,
                    attempt=attempt,
                    body=body if self.keep_bodies else None,
                    fault=fault.kind if fault else None,
                    authorized=authorized,
                    received=time.monotonic(),
                )
            )
        return document, fault

    def _sent_usage(self, document: str | None, usage: dict[str, int]) -> None:
        with self._lock:
            prompt, completion = self._usage.get(document, (0, 0))
            self._usage[document] = (prompt + usage["prompt_tokens"], completion + usage["completion_tokens"])

    def _authorized(self, headers: dict[str, str]) -> bool:
        if self.basic_auth is not None:
            token = base64.b64encode(":".join(self.basic_auth).encode()).decode("ascii")
            return headers.get("authorization") == f"Basic {token}"
        return self.api_key is None or headers.get("authorization") == f"Bearer {self.api_key}"

    async def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Response | None:
        """The response to one HTTP request, or None to drop the connection without one."""
        path = target.split("?", 1)[0]
        authorized = self._authorized(headers)
        if path == STATS_PATH and method == "GET":
            return _json_response(200, self.stats())
        if path == MODELS_PATH and method == "GET":
            self._record(method, path, None, authorized)
            if not authorized:
                return _error(401, "Incorrect API key provided.", "invalid_api_key")
            return _json_response(200, {"object": "list", "data": [model_entry(self.model)]})
        if path != CHAT_PATH or method != "POST":
            return _error(404, f"no route {method} {path}", "not_found")
        try:
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            return _error(400, f"request body is not JSON: {exc}", "invalid_request_error")
        document, fault = self._record(method, path, body, authorized)
        if not authorized:
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        self._in_flight += 1  # only the server's own event loop touches these counters
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
        try:
            await self._hold()
            delay = self.latency + (fault.seconds if fault is not None and fault.kind in ("latency", "slow") else 0.0)
            if delay:
                await asyncio.sleep(delay)
            return self._answer(body, document, fault)
        finally:
            self._in_flight -= 1

    async def _hold(self) -> None:
        if not self.hold_until:
            return
        if self._released is None:
            self._released = asyncio.Event()
        if self._in_flight >= self.hold_until:
            self._released.set()
        try:
            await asyncio.wait_for(self._released.wait(), self.hold_timeout)
        except TimeoutError:
            self._released.set()  # give up holding, for every request: the test will see the low peak

    def _answer(self, body: dict[str, Any], document: str | None, fault: Fault | None) -> _Response | None:
        kind = fault.kind if fault else None
        if fault is not None and kind == "drop":
            return None
        if fault is not None and kind == "rate_limit":
            extra = {"Retry-After": seconds_header(fault.retry_after)} if fault.retry_after is not None else {}
            if isinstance(fault.payload, str):
                extra = {"Retry-After": fault.payload}  # sent as it is, however malformed
            return _error(429, "Rate limit reached for requests.", "rate_limit_exceeded", extra)
        if fault is not None and kind == "server_error":
            return _error(fault.status, "The server had an error while processing your request.", "server_error")
        if fault is not None and kind == "http_error":
            return _error(fault.status, str(fault.payload), f"http_{fault.status}")
        reply: Reply = fault.payload if fault is not None and kind in ("schema", "invalid_json") else self.reply(body)
        content = reply if isinstance(reply, str) else json.dumps(reply)
        completion = completion_body(body, content, self.model)
        if kind == "truncated_body":
            data = json.dumps(completion).encode()
            return _Response(200, data[: len(data) // 2], {"Content-Type": "application/json"})
        if kind == "not_json_body":
            return _Response(200, b"<html><body>502 Bad Gateway</body></html>", {"Content-Type": "application/json"})
        self._sent_usage(document, completion["usage"])
        if fault is not None and kind in ("large_body", "gzip_body"):
            data = json.dumps(completion).encode()
            data += b" " * (int(fault.payload) - len(data))
            if kind == "large_body":
                return _Response(200, data, {"Content-Type": "application/json"})
            return _Response(200, gzip.compress(data), {"Content-Type": "application/json", "Content-Encoding": "gzip"})
        return _json_response(200, completion)


# -- a minimal HTTP/1.1 server ---------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    status: int
    body: bytes
    headers: dict[str, str]

    def encode(self, keep_alive: bool) -> bytes:
        reason = HTTPStatus(self.status).phrase if self.status in HTTPStatus._value2member_map_ else "Unknown"
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        headers = {**self.headers, "Content-Length": str(len(self.body))}
        headers["Connection"] = "keep-alive" if keep_alive else "close"
        lines += [f"{k}: {v}" for k, v in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


def _json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> _Response:
    return _Response(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


def _error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> _Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return _json_response(status, {"error": {"message": message, "type": kind, "param": None, "code": code}}, headers)


async def serve(app: FakeOpenAIServer, port: int = 0) -> asyncio.Server:
    """Listen on 127.0.0.1 (only) and answer with ``app``; sets ``app.port`` to the port chosen."""

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        app._connections.add(task)
        try:
            await _serve_connection(app, reader, writer)
        except asyncio.CancelledError:
            # Shutting down: end quietly (asyncio's stream callback logs a cancelled task as an error).
            writer.transport.abort()
        finally:
            app._connections.discard(task)

    server = await asyncio.start_server(connection, "127.0.0.1", port, backlog=1024, limit=1 << 20)
    app.port = server.sockets[0].getsockname()[1]
    return server


async def _serve_connection(app: FakeOpenAIServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return  # the client closed the connection between requests
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, target, version = request_line.split(" ", 2)
            headers: dict[str, str] = {}
            for line in header_lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                writer.write(_error(411, "send a Content-Length", "length_required").encode(False))
                await writer.drain()
                return
            length = int(headers.get("content-length") or 0)
            raw = await reader.readexactly(length) if length else b""
            keep_alive = version.strip() == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            response = await app.handle(method, target, headers, raw)
            if response is None:
                writer.transport.abort()  # a dropped connection: no status line, nothing
                return
            if writer.is_closing() or reader.at_eof():
                return  # the client gave up waiting (its timeout); nobody to answer
            writer.write(response.encode(keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
        return
    finally:
        writer.close()


# -- its own process, for benchmarks ------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; print the base URL first."""
    parser = argparse.ArgumentParser(prog="python -m extract.testing.fake_server", description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--model", default="fake")
    args = parser.parse_args(argv)
    app = FakeOpenAIServer(latency=args.latency, model=args.model, port=args.port, keep_bodies=False)

    async def run() -> None:
        server = await serve(app, args.port)
        # This process only serves: what is alive now lives until it exits, so the collector's
        # passes need not traverse it (they would delay answers, and so every client's figures).
        gc.freeze()
        print(app.base_url, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.close()
        for task in list(app._connections):
            task.cancel()
        await asyncio.gather(*app._connections, return_exceptions=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
