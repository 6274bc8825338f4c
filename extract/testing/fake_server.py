"""A fake OpenAI-compatible HTTP server on 127.0.0.1, with faults injected by plan.

It speaks just enough HTTP/1.1 (keep-alive, ``Content-Length`` bodies) for the
openai client: ``POST /v1/chat/completions`` and ``GET /v1/models``. Each chat
request is answered by a reply function of the request body (default:
:func:`echo_extraction`, one incident quoting the article's first sentence, so
grounding finds it), as a tool call when the request has ``tools`` and as message
content otherwise, with a ``usage`` block.

A fault plan decides, per request and deterministically, whether to misbehave:
latency, HTTP 429 with ``Retry-After``, HTTP 500, a truncated or non-JSON body,
valid JSON of the wrong shape, an answer slower than the client's timeout, or a
dropped connection. Every request is recorded (thread-safe), so tests can assert
how many calls a batch made, per document and per fault.

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
import contextlib
import json
import random
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from extract.backends.mock import echo_extraction as mock_echo

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
STATS_PATH = "/_fake/stats"

_ARTICLE = re.compile(r"<article([^>]*)>\n?(.*?)\n?</article>", re.DOTALL)
_ID_ATTR = re.compile(r'\bid="([^"]*)"')
_MARKER = re.compile(r"\[doc:([^\]\s]+)\]")


def doc_marker(document_id: str) -> str:
    """A tag to put in a test article so the server can tell which document a request is for."""
    return f"[doc:{document_id}]"


_PLACES = ("Idlib", "Aleppo", "Hama", "Homs", "Daraa", "Deir ez-Zor", "Raqqa", "Latakia", "Saraqeb", "Palmyra")


def sample_documents(n: int, prefix: str = "doc", *, sentences: int = 3) -> list[dict[str, str]]:
    """``n`` short test articles as ``{"id", "text"}`` records, each tagged with its :func:`doc_marker`.

    The first sentence differs per document, so the default reply's quote grounds
    exactly; ``sentences`` pads each article for size.
    """
    docs = []
    for k in range(n):
        doc_id = f"{prefix}-{k:05d}"
        place = _PLACES[k % len(_PLACES)]
        lines = [f"Shelling hit the outskirts of {place} on Monday, killing {k % 17 + 2} civilians in report {k}."]
        lines += [f"Local monitors described the attack in detail, paragraph {j}." for j in range(1, sentences)]
        docs.append({"id": doc_id, "text": " ".join(lines) + f" {doc_marker(doc_id)}"})
    return docs


def write_corpus(path: str | Path, n: int, prefix: str = "doc", *, sentences: int = 3) -> Path:
    """Write :func:`sample_documents` as a JSON Lines corpus and return its path."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as fh:
        for record in sample_documents(n, prefix, sentences=sentences):
            fh.write(json.dumps(record) + "\n")
    return path


# -- reading requests -----------------------------------------------------------------


def article_of(body: dict[str, Any]) -> tuple[str, str]:
    """The (attributes, text) of the ``<article>`` in the last user message that has one."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        match = _ARTICLE.search(_content_text(message.get("content")))
        if match:
            return match.group(1), match.group(2)
    return "", ""


def document_id_of(body: dict[str, Any]) -> str | None:
    """The document a request is about: ``<article id="...">`` if the prompt sets it, else a :func:`doc_marker`."""
    attrs, text = article_of(body)
    found = _ID_ATTR.search(attrs)
    if found and found.group(1):
        return found.group(1)
    marker = _MARKER.search(text)
    return marker.group(1) if marker else None


def _content_text(content: Any) -> str:
    if isinstance(content, list):  # content parts
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content or "")


def echo_extraction(body: dict[str, Any]) -> dict[str, Any]:
    """A valid extraction: one incident whose quote is the article's first sentence (no marker)."""
    _, text = article_of(body)
    return mock_echo(_MARKER.sub("", text), summary="Placeholder incident from the fake server.")


# -- faults and plans ---------------------------------------------------------------------


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
    def schema_violation(cls, payload: Any = None) -> Fault:
        """A well-formed completion whose content is valid JSON of the wrong shape (instructor re-asks)."""
        return cls("schema", payload=payload if payload is not None else {"items": [{"kind": "air strike"}]})

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
    ):
        """``hold_until``: answer no chat request until that many are in flight at once (or ``hold_timeout``
        seconds have passed), so that a test can see how many requests a client keeps in flight without
        depending on how fast the machine is."""
        self.reply = reply
        self.plan = plan
        self.latency = latency
        self.api_key = api_key
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
            return _json_response(200, {"object": "list", "data": [_model_entry(self.model)]})
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
            extra = {"Retry-After": _seconds(fault.retry_after)} if fault.retry_after is not None else {}
            return _error(429, "Rate limit reached for requests.", "rate_limit_exceeded", extra)
        if fault is not None and kind == "server_error":
            return _error(fault.status, "The server had an error while processing your request.", "server_error")
        if fault is not None and kind == "http_error":
            return _error(fault.status, str(fault.payload), f"http_{fault.status}")
        reply: Reply = fault.payload if fault is not None and kind == "schema" else self.reply(body)
        content = reply if isinstance(reply, str) else json.dumps(reply)
        completion = completion_body(body, content, self.model)
        if kind == "truncated_body":
            data = json.dumps(completion).encode()
            return _Response(200, data[: len(data) // 2], {"Content-Type": "application/json"})
        if kind == "not_json_body":
            return _Response(200, b"<html><body>502 Bad Gateway</body></html>", {"Content-Type": "application/json"})
        self._sent_usage(document, completion["usage"])
        return _json_response(200, completion)


# -- the OpenAI wire format -----------------------------------------------------------------


def completion_body(request: dict[str, Any], content: str, model: str) -> dict[str, Any]:
    """A chat.completion carrying ``content``: as a tool call if the request offered tools, else as text."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    finish = "stop"
    tools = request.get("tools") or []
    if tools:
        choice = request.get("tool_choice")
        name = (
            choice["function"]["name"]
            if isinstance(choice, dict) and "function" in choice
            else tools[0].get("function", {}).get("name", "Extraction")
        )
        call = {"id": "call_fake_0", "type": "function", "function": {"name": name, "arguments": content}}
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        finish = "tool_calls"
    prompt_chars = sum(len(_content_text(m.get("content"))) for m in request.get("messages") or [])
    prompt_tokens = prompt_chars // 4 + 1
    completion_tokens = len(content) // 4 + 1
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def _model_entry(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": "fake"}


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


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
