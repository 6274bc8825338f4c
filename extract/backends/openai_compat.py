"""Any OpenAI-compatible chat endpoint: OpenAI, vLLM, Ollama, llama.cpp server, ...

The openai client's own retries are off (``max_retries=0``): transport faults are
retried by :class:`~extract.transport.RetryPolicy`, where they are counted, and
never re-asked to the model.

Default instructor mode per endpoint: ``tools`` (OpenAI, vLLM and llama.cpp
server constrain tool arguments to the schema), ``json`` for Ollama (port 11434),
whose tool support depends on the model. ``--mode`` overrides it; note that
llama.cpp server rejects ``json_schema``.

Two transports, chosen with ``transport``:
``direct`` (default) sends each request as a prepared body over one aiohttp
connection pool (:mod:`extract.backends.openai_wire`); ``sdk`` goes through the
SDK's ``chat.completions.create``. Both raise the same typed errors. ``direct`` is
the default because the SDK's per-request CPU cost kept a batch at 60-70% of what
the server allows at 64 requests in flight; the figures are in
``benchmarks/bench_transport.py``. The endpoint check always uses the SDK.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import openai

from extract.backends import MAX_RESPONSE_BYTES
from extract.backends.base import InstructorBackend
from extract.backends.openai_wire import ACCEPT_ENCODING, DirectChat, capped_body, error_for_status
from extract.core.backend import CompletionRequest
from extract.core.errors import (
    AuthenticationFailed,
    ConfigError,
    ConnectionFailed,
    RequestTimeout,
    ServerError,
    TransportError,
)
from extract.core.secrets import redact_error, url_secrets
from extract.transport import RateLimiter, RetryPolicy

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _looks_like_key(name: str) -> bool:
    """A long run of mixed letters and digits with no word in it: a token, not a variable name."""
    return len(name) >= 24 and "_" not in name and any(c.isdigit() for c in name) and any(c.isalpha() for c in name)


#: Used when no key is set and the endpoint is on this machine (local servers ignore keys).
LOCAL_PLACEHOLDER_KEY = "no-key-needed"


def check_base_url(base_url: str | None) -> None:
    """A one-line :class:`ConfigError` for an endpoint URL that cannot be used (checked before anything parses it)."""
    if base_url is None:
        return
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018  (parsing the port is the check: out of range raises)
    except ValueError as exc:
        # The URL itself is not repeated: it may hold a key.
        raise ConfigError(f"--base-url is not a valid URL ({exc})", hint="e.g. http://127.0.0.1:8000/v1") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("--base-url is not an http(s) URL with a host", hint="e.g. http://127.0.0.1:8000/v1")
    if parts.query or parts.fragment:
        # The client appends /chat/completions to the URL as given, so a query string or fragment swallows
        # that path and the server answers a puzzling 404. It is often a key (?api_key=...): never repeated.
        raise ConfigError(
            "--base-url has a query string or fragment (after ? or #), which this tool cannot send (not shown: "
            "it may hold a key)",
            hint="end the URL at its path, e.g. https://host/v1; a key goes in OPENAI_API_KEY or the variable "
            "named by --api-key-env",
        )


def default_mode(base_url: str | None) -> str:
    if base_url and urlsplit(base_url).port == 11434:
        return "json"
    return "tools"


def _is_loopback(base_url: str | None) -> bool:
    if not base_url:
        return False
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _has_credentials(base_url: str | None) -> bool:
    """Whether the URL carries ``user:password@``."""
    parts = urlsplit(base_url or "")
    return parts.username is not None or parts.password is not None


_SECRET_PARAMS = ("key", "token", "secret", "password", "signature", "sig")


def public_endpoint(url: str) -> str:
    """The endpoint without what may be secret: no ``user:password@``, no key-like query parameter."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if ":" in netloc:  # an IPv6 address
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and not any(word in pair.split("=", 1)[0].lower() for word in _SECRET_PARAMS)
    )
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), query, ""))


#: How async requests leave the process (see the module docstring).
TRANSPORTS = ("direct", "sdk")
DEFAULT_TRANSPORT = "direct"

# The key under which _prepare passes the response model to _send, for the prepared body.
_SCHEMA_KEY = "__extract_response_model__"


def translate(exc: Exception, base_url: str | None) -> Exception:
    """The package's error for an openai client exception."""
    where = base_url or "the OpenAI API"
    if isinstance(exc, openai.APITimeoutError):
        return RequestTimeout(f"no answer from {where} within the timeout", hint="raise --timeout if the model is slow")
    if isinstance(exc, openai.APIConnectionError):
        if isinstance(exc.__cause__, TransportError):  # raised while reading the body (capped_body)
            return exc.__cause__
        return ConnectionFailed(
            f"cannot reach {where}: {exc.__cause__ or exc}", hint="is the server running? check --base-url"
        )
    if isinstance(exc, openai.APIStatusError):
        return error_for_status(exc.status_code, exc.message, exc.response.headers, where)
    if isinstance(exc, openai.APIError):
        # A 200 whose body is not a chat completion (cut off, not JSON): a transport fault.
        return ServerError(f"unusable response from {where}: {exc}")
    return exc


class OpenAIBackend(InstructorBackend):
    """Chat completions over HTTP with the official openai client."""

    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        mode: str | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        temperature: float = 0.0,
        max_tokens: int = 4096,
        seed: int | None = None,
        transport: str = DEFAULT_TRANSPORT,
        max_connections: int = 1024,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ):
        check_base_url(base_url)
        super().__init__(
            mode=mode or default_mode(base_url),
            retry=retry,
            limiter=limiter,
            temperature=temperature,
            max_tokens=max_tokens,
            seed=seed,
        )
        if not model:
            raise ConfigError(
                "the openai backend needs --model", hint="e.g. --model gpt-4o-mini, or the name your server serves"
            )
        if transport not in TRANSPORTS:
            raise ConfigError(f"unknown transport {transport!r}", hint=f"choose one of {', '.join(TRANSPORTS)}")
        self.model = model
        self.base_url = base_url
        self.transport = transport
        self.max_connections = max_connections
        self.max_response_bytes = max_response_bytes
        if not _ENV_NAME.fullmatch(api_key_env or "") or (
            _looks_like_key(api_key_env) and api_key_env not in os.environ
        ):
            # Never echoed: it is most likely the key itself.
            raise ConfigError(
                "--api-key-env takes the name of an environment variable, and what was given is not one "
                "(a key? it is not shown)",
                hint="export the key in a variable, e.g. export OPENAI_API_KEY=..., and pass that variable's name",
            )
        key = os.environ.get(api_key_env)
        if not key:
            # Credentials in the URL are what is sent (HTTP Basic auth, in place of the key): no key needed.
            if not _is_loopback(base_url) and not _has_credentials(base_url):
                raise ConfigError(
                    f"no API key: the variable {api_key_env} is not set",
                    hint=f"export {api_key_env}=..., or name another variable with --api-key-env",
                )
            key = LOCAL_PLACEHOLDER_KEY
        common: dict[str, Any] = {"api_key": key, "base_url": base_url, "timeout": timeout, "max_retries": 0}
        # The client as configured, never used to send: the endpoint as it resolves it (OPENAI_BASE_URL or
        # the default when none is given), and the headers the direct transport sends.
        self._template = openai.AsyncOpenAI(**common)
        self.endpoint = public_endpoint(str(self._template.base_url))
        self._aclient: openai.AsyncOpenAI | None = None
        self._aclient_loop: asyncio.AbstractEventLoop | None = None
        self._direct: DirectChat | None = None
        self._direct_loop: asyncio.AbstractEventLoop | None = None
        self._common = common
        self._secrets = tuple(s for s in (key if key != LOCAL_PLACEHOLDER_KEY else "", *url_secrets(base_url)) if s)

    def secrets(self) -> tuple[str, ...]:
        return self._secrets

    def identity(self) -> dict[str, Any]:
        # Two servers can serve a model under the same name (every llama.cpp server calls its
        # model "local" unless told otherwise): the endpoint tells their answers apart.
        return {**super().identity(), "endpoint": self.endpoint}

    def __repr__(self) -> str:  # never show the key, nor credentials in the URL
        return f"OpenAIBackend(model={self.model!r}, base_url={self.endpoint!r}, mode={self.mode!r})"

    def _prepare(self, kwargs: dict[str, Any], request: CompletionRequest) -> dict[str, Any]:
        # The direct transport serialises the constant part of the body once per response model.
        if self.transport == "direct":
            return {**kwargs, _SCHEMA_KEY: (request.response_model, self.mode)}
        return kwargs

    async def _send(self, kwargs: dict[str, Any]) -> Any:
        key = kwargs.pop(_SCHEMA_KEY, None)
        if self.transport == "direct":
            return await self._direct_client().create(kwargs, key)
        try:
            return await self._async_client().chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise translate(exc, self.base_url) from None
        except json.JSONDecodeError as exc:  # a 200 whose body is cut off or not JSON
            raise ServerError(f"unusable response from {self.base_url or 'the OpenAI API'}: {exc}") from None

    def _async_client(self) -> openai.AsyncOpenAI:
        # An async client's connections belong to the event loop that opened them; each batch
        # run has its own loop, so each loop gets its own client.
        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aclient_loop is not loop:
            # The SDK's own pool settings (1000 connections, 100 kept idle): keeping all of them
            # idle made no difference that bench_transport.py could see at 64 or 256 in flight.
            # Its bodies are read through read_body too, within max_response_bytes.
            http = openai.DefaultAsyncHttpx2Client(
                headers={"Accept-Encoding": ACCEPT_ENCODING},
                event_hooks={"response": [capped_body(self.max_response_bytes, self.endpoint)]},
            )
            self._aclient = openai.AsyncOpenAI(**self._common, http_client=http)
            self._aclient_loop = loop
        return self._aclient

    def _direct_client(self) -> DirectChat:
        loop = asyncio.get_running_loop()
        if self._direct is None or self._direct_loop is not loop:
            sdk = self._template
            # The SDK's own headers (User-Agent, organisation and project when set) and its auth.
            headers = {k: v for k, v in sdk.default_headers.items() if isinstance(v, str)}
            headers.pop("X-Stainless-Async", None)
            headers |= {k: v for k, v in sdk.auth_headers.items() if isinstance(v, str)}
            self._direct = DirectChat(
                str(sdk.base_url),
                headers,
                timeout=self._common["timeout"],
                max_connections=self.max_connections,
                max_response_bytes=self.max_response_bytes,
            )
            self._direct_loop = loop
        return self._direct

    async def aclose(self) -> None:
        """Close the async connections while their event loop still runs."""
        if self._aclient is not None:
            await self._aclient.close()
            self._aclient = self._aclient_loop = None
        if self._direct is not None:
            await self._direct.close()
            self._direct = self._direct_loop = None

    async def check(self) -> None:
        """Fail fast with one clear line if the endpoint cannot be reached or refuses the key."""
        try:
            await self._async_client().with_options(timeout=10).models.list()
        except openai.NotFoundError:
            return  # some servers have no /models; the first request will tell
        except openai.OpenAIError as exc:
            error = translate(exc, self.base_url)
            if isinstance(error, (ConnectionFailed, RequestTimeout, AuthenticationFailed)):
                raise redact_error(ConfigError(error.message, hint=error.hint), self._secrets) from None
        finally:
            await self.aclose()  # its connections belong to this loop; the run opens its own
