"""Chat-completion requests sent as prepared bytes over one aiohttp session.

Why this exists: with the openai SDK (3.x), each request costs the client about
2-9 ms of CPU (depending on the SDK version and the machine) before a byte is
sent: the SDK walks the request parameters recursively (most of it over the 10 KB
tool schema, which never changes) and httpcore's connection pool scans every
connection for every request. At 64 requests in flight against a server answering
in 200 ms, one event loop has 3.1 ms per request in all, so the SDK alone capped a
batch at 30-70% of what the server allows (``benchmarks/bench_transport.py``).

Here the part of the body that is the same for every request of a schema (model,
generation parameters, ``tools``/``tool_choice``/``response_format``) is
serialised once and spliced after the messages, and the request goes straight to
an aiohttp connection pool. What users rely on from the SDK is kept: errors are
the package's typed exceptions chosen from the status code exactly as for the SDK
path (:func:`error_for_status`, shared with it), ``Retry-After`` and
``retry-after-ms`` are honoured, and the reply is parsed into the SDK's own
``ChatCompletion`` type, usage included. Both transports read every body through
:func:`read_body`, which decodes it itself and stops at ``max_response_bytes``.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import math
import time
import zlib
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ValidationError

from extract.core.errors import (
    AuthenticationFailed,
    ConfigError,
    ConnectionFailed,
    RateLimited,
    RequestTimeout,
    ResponseTooLarge,
    ServerError,
    TransportError,
)

#: Parameters of a request that are not messages but vary per request; never cached.
_DYNAMIC = frozenset({"messages"})


def _delay(text: str, scale: float = 1.0) -> float | None:
    """A header's number of seconds, or None when it is not a usable delay (a word, NaN, negative, infinite)."""
    try:
        seconds = float(text) * scale
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    None when neither holds a usable delay, so that the retry policy backs off on its own:
    a NaN or negative value would otherwise mean retrying at once.
    """
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms and (seconds := _delay(ms, 1 / 1000)) is not None:
        return seconds
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        float(value)
    except ValueError:  # not a number: an HTTP date, or a word ("soon") that says nothing
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time())
    return _delay(value)


def error_for_status(
    status: int, message: str, headers: Mapping[str, str] | None, where: str
) -> TransportError | ConfigError:
    """The package's error for an HTTP error status, the same for the SDK and the direct path."""
    if status == 429:
        return RateLimited("rate limited (HTTP 429)", status=429, retry_after=retry_after(headers))
    if status in (401, 403):
        return AuthenticationFailed(
            f"{where} refused the API key (HTTP {status})", status=status, hint="check the key's variable"
        )
    if status == 404:
        return ConfigError(
            f"{where} answered 404: {message}", hint="check --model and --base-url (it usually ends in /v1)"
        )
    if status >= 500:
        return ServerError(f"server error (HTTP {status})", status=status, retry_after=retry_after(headers))
    return TransportError(f"HTTP {status}: {message}", status=status, retryable=status in (408, 409, 425))


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (``HTTPS_PROXY``/``HTTP_PROXY`` unless ``NO_PROXY`` matches)."""
    import urllib.request

    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme) or None


def url_credentials(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without ``user:password@``, and the ``Authorization`` header those credentials make.

    What the SDK's HTTP client (httpx) does with credentials in the URL: HTTP Basic auth in place of the
    key's ``Bearer`` header. aiohttp refuses a URL with credentials next to an ``Authorization`` header, so
    the direct transport takes them out first and sends the same header.
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, {}
    user_pass = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    netloc = parts.netloc.rpartition("@")[2]
    header = "Basic " + base64.b64encode(user_pass.encode()).decode("ascii")
    return urlunsplit(parts._replace(netloc=netloc)), {"Authorization": header}


#: The content codings both transports ask for; :func:`read_body` decodes them itself.
ACCEPT_ENCODING = "gzip, deflate"


def _inflater(encoding: str, first: bytes, where: str) -> Any:
    """A zlib decompressor for the body's ``Content-Encoding``, or None for an unencoded body."""
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        # Some servers send raw deflate without the zlib header (whose low nibble names the method, 8).
        return zlib.decompressobj() if first[0] & 0x0F == 8 else zlib.decompressobj(-zlib.MAX_WBITS)
    raise ServerError(f"unusable response from {where}: Content-Encoding {encoding!r} was not asked for")


async def read_body(raw: AsyncIterable[bytes], encoding: str | None, limit: int, where: str) -> bytes:
    """A response body, decoded, refused once it passes ``limit`` bytes (:class:`ResponseTooLarge`).

    Both transports read every body through this: neither aiohttp nor httpx bounds what it reads, and a
    small gzip body can expand to gigabytes. Decoding here, never more than what is left under the limit at a
    time, stops such a body at the limit.
    """
    coding = (encoding or "").strip().lower()
    inflater: Any = None
    parts: list[bytes] = []
    size = 0

    def take(piece: bytes) -> None:
        nonlocal size
        size += len(piece)
        if size > limit:
            raise ResponseTooLarge(
                f"the reply from {where} is larger than {limit:,} bytes once decoded",
                hint="raise --max-response-bytes if the server's replies are that large",
            )
        parts.append(piece)

    try:
        async for chunk in raw:
            if not chunk:
                continue
            if coding and inflater is None:
                inflater = _inflater(coding, chunk, where)
                coding = "" if inflater is None else coding
            if inflater is None:
                take(chunk)
                continue
            pending = chunk
            while pending:
                take(inflater.decompress(pending, limit - size + 1))
                pending = inflater.unconsumed_tail
        if inflater is not None:
            take(inflater.flush())
    except zlib.error as exc:
        raise ServerError(f"unusable response from {where}: cannot decode its {coding} body: {exc}") from None
    return b"".join(parts)


def capped_body(limit: int, where: str) -> Callable[[Any], Awaitable[None]]:
    """An httpx response hook that reads the body through :func:`read_body` before the SDK reads it.

    The hook runs before the client reads the body. It reads and decodes the body itself, then hands the
    client the decoded bytes with the ``Content-Encoding`` header gone, so that nothing is decoded twice.
    """
    import httpx2

    async def hook(response: Any) -> None:
        stream = response.stream
        try:
            body = await read_body(stream, response.headers.get("content-encoding"), limit, where)
        finally:
            await stream.aclose()
        response.headers.pop("content-encoding", None)
        response.stream = httpx2.ByteStream(body)

    return hook


def _jsonable(value: Any) -> Any:
    """What ``json.dumps`` cannot write itself: pydantic objects in re-ask messages."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    raise TypeError(f"cannot send a {type(value).__name__} in a chat request")


class PreparedBodies:
    """The constant part of a request body, serialised once per (schema, parameters).

    ``key`` names what decides the constant part (the response model and the
    instructor mode); the names and scalar values of the other parameters are added
    to it, so a parameter that instructor adds or changes gets a new entry rather
    than a stale one.
    """

    def __init__(self) -> None:
        self._fragments: dict[tuple[Any, ...], bytes] = {}

    def body(self, kwargs: Mapping[str, Any], key: Any) -> bytes:
        static = tuple(
            sorted(
                (k, v if isinstance(v, str | int | float | bool | None) else type(v).__name__)
                for k, v in kwargs.items()
                if k not in _DYNAMIC
            )
        )
        cache_key = (key, static)
        fragment = self._fragments.get(cache_key)
        if fragment is None:
            rest = {k: v for k, v in kwargs.items() if k not in _DYNAMIC}
            fragment = json.dumps(rest, ensure_ascii=False, separators=(",", ":"), default=_jsonable).encode()
            self._fragments[cache_key] = fragment
        messages = json.dumps(
            kwargs.get("messages") or [], ensure_ascii=False, separators=(",", ":"), default=_jsonable
        ).encode()
        if fragment == b"{}":
            return b'{"messages":' + messages + b"}"
        return b'{"messages":' + messages + b"," + fragment[1:]

    def __len__(self) -> int:
        return len(self._fragments)


def parse_completion(data: bytes, where: str) -> ChatCompletion:
    """The SDK's ``ChatCompletion`` from a 200 body: strict first, then as leniently as the SDK itself."""
    try:
        return ChatCompletion.model_validate_json(data)
    except ValidationError:
        pass
    try:
        obj = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ServerError(f"unusable response from {where}: {exc}") from None
    if not isinstance(obj, dict):
        raise ServerError(f"unusable response from {where}: not a JSON object")
    # Servers that leave out fields OpenAI always sends (created, object...) still work with
    # the SDK, which builds the object without validation; so do we.
    return ChatCompletion.construct(**obj)


def _error_message(data: bytes) -> str:
    try:
        obj = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return data[:200].decode("utf-8", "replace").strip() or "no message"
    error = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    if isinstance(error, str):
        return error
    return json.dumps(obj)[:200]


class DirectChat:
    """``POST {base_url}/chat/completions`` with prepared bytes over an aiohttp connection pool.

    One instance belongs to one event loop (aiohttp's rule); the backend makes one per loop.
    ``max_connections`` caps open connections (the batch's concurrency bounds requests in
    flight anyway); idle connections are kept for reuse however many there are, unlike the
    SDK's default pool, which keeps 100 and reopens the rest at every wave past 100.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        timeout: float,
        max_response_bytes: int,
        max_connections: int = 1024,
    ):
        import aiohttp
        import yarl

        base_url, auth = url_credentials(base_url)
        # Parsed once: aiohttp would parse a string URL again for every request.
        self.url = yarl.URL(base_url.rstrip("/") + "/chat/completions")
        self.where = base_url
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,
            **headers,
            **auth,
        }
        self._timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._aiohttp = aiohttp
        connector = aiohttp.TCPConnector(limit=max_connections, limit_per_host=0, keepalive_timeout=30)
        # The proxy (HTTP(S)_PROXY, NO_PROXY, as the SDK honours them) is looked up once for the
        # one endpoint: aiohttp's trust_env would look it up, and ~/.netrc, in a worker thread on
        # every request, a thread hop that cost more than the request itself at 64 in flight.
        self._proxy = proxy_for(str(self.url))
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeout),
            headers=self._headers,
            auto_decompress=False,  # read_body decodes, within the size limit
        )
        self.bodies = PreparedBodies()

    async def create(self, kwargs: Mapping[str, Any], key: Any) -> ChatCompletion:
        """Send one chat request; the package's error when it fails."""
        aiohttp = self._aiohttp
        body = self.bodies.body(kwargs, key)
        try:
            async with self._session.post(self.url, data=body, proxy=self._proxy) as response:
                status, headers = response.status, response.headers
                encoding = headers.get("Content-Encoding")
                data = await read_body(response.content.iter_any(), encoding, self.max_response_bytes, self.where)
        except TimeoutError:
            raise RequestTimeout(
                f"no answer from {self.where} within {self._timeout:g} s", hint="raise --timeout if the model is slow"
            ) from None
        except aiohttp.ClientPayloadError as exc:  # a body cut off mid-way: the server's fault
            raise ServerError(f"unusable response from {self.where}: {exc}") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientOSError, OSError) as exc:
            raise ConnectionFailed(
                f"cannot reach {self.where}: {exc}", hint="is the server running? check --base-url"
            ) from None
        except aiohttp.ClientResponseError as exc:  # a malformed status line or headers
            raise ServerError(f"unusable response from {self.where}: {exc}") from None
        if status >= 400:
            raise error_for_status(status, _error_message(data), headers, self.where)
        return parse_completion(data, self.where)

    async def close(self) -> None:
        await self._session.close()
        # aiohttp closes TLS transports a moment after close() returns; let them go
        # before the event loop ends, or it warns about unclosed transports.
        await asyncio.sleep(0)
