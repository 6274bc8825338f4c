"""Backends, chosen by name: ``local`` (embedded default), ``openai`` (any compatible endpoint), ``mock``.

Each backend declares its options as a typed model (:class:`BackendSpec`); an option a
backend does not take is an error that names the backends taking it, never dropped in
silence. Each backend module is imported only when chosen, so that a missing optional
dependency (llama-cpp-python) only matters to those who use it.

A third party adds a backend without editing this package, with an entry point in the
group ``incident_extract.backends`` that names a :class:`BackendSpec`::

    [project.entry-points."incident_extract.backends"]
    mybackend = "my_package.backend:SPEC"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from extract.core.backend import Backend
from extract.core.errors import ConfigError
from extract.transport import RateLimiter, RetryPolicy

DEFAULT_BACKEND = "local"
ENTRY_POINT_GROUP = "incident_extract.backends"
#: The largest reply body (once decoded) an HTTP backend reads. A chat completion is some kilobytes; a server
#: that sends hundreds of megabytes, or a small gzip body that expands to a gigabyte, fails that request.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class BackendOptions(BaseModel):
    """Options every backend takes. Field names are the command-line flags (``max_tokens`` is ``--max-tokens``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(default=None, description="Which model: a name, or a path for file-based backends.")
    mode: str | None = Field(default=None, description="instructor mode: tools, json, json_schema or md_json.")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_tokens: int | None = Field(default=None, ge=1, description="Completion budget per request.")
    seed: int | None = None


class LocalOptions(BackendOptions):
    threads: int | None = Field(default=None, ge=1, description="CPU threads (default: half the cores).")
    n_ctx: int = Field(default=8192, ge=256, description="Context window in tokens.")
    chat_format: str | None = Field(
        default=None, description="Turn format: auto (the GGUF's template, else by architecture), gguf, gemma, ..."
    )
    adapter: str | None = Field(
        default=None,
        description="A LoRA adapter (.gguf), 'none', or 'default': the shipped adapter on the bundled model.",
    )


class OpenAIOptions(BackendOptions):
    base_url: str | None = Field(default=None, description="The endpoint, e.g. http://127.0.0.1:8000/v1.")
    api_key_env: str = Field(default="OPENAI_API_KEY", description="The variable holding the API key.")
    timeout: float = Field(default=120.0, gt=0, description="Seconds per request.")
    transport: Literal["direct", "sdk"] = Field(
        default="direct",
        description="How batch requests leave the process: a prepared body over one aiohttp pool, or the SDK.",
    )
    max_connections: int = Field(default=1024, ge=1, description="Connections the direct transport keeps open.")
    max_response_bytes: int = Field(
        default=MAX_RESPONSE_BYTES, ge=1, description="The largest reply body, once decoded, that is read."
    )


class MockOptions(BackendOptions):
    replay: str | None = Field(default=None, description="Answer from a directory recorded with --record.")
    latency: float = Field(default=0.0, ge=0, description="Seconds before each scripted answer.")


Builder = Callable[[Any, RetryPolicy, "RateLimiter | None"], Backend]


@dataclass(frozen=True)
class BackendSpec:
    """A backend as the registry knows it: its name, its typed options, and how to build it."""

    name: str
    options: type[BackendOptions]
    build: Builder
    description: str = ""


def _build_local(o: LocalOptions, retry: RetryPolicy, limiter: RateLimiter | None) -> Backend:
    from extract.backends.local import LocalBackend

    extra: dict[str, Any] = {"max_tokens": o.max_tokens} if o.max_tokens else {}
    if o.seed is not None:
        extra["seed"] = o.seed
    if o.chat_format:
        extra["chat_format"] = o.chat_format
    if o.adapter:
        extra["adapter"] = o.adapter
    return LocalBackend(
        o.model, n_ctx=o.n_ctx, n_threads=o.threads, mode=o.mode or "json_schema", temperature=o.temperature, **extra
    )


def _build_openai(o: OpenAIOptions, retry: RetryPolicy, limiter: RateLimiter | None) -> Backend:
    from extract.backends.openai_compat import OpenAIBackend

    extra: dict[str, Any] = {"max_tokens": o.max_tokens} if o.max_tokens else {}
    return OpenAIBackend(
        o.model or "",
        base_url=o.base_url,
        api_key_env=o.api_key_env,
        mode=o.mode,
        timeout=o.timeout,
        retry=retry,
        limiter=limiter,
        temperature=o.temperature,
        seed=o.seed,
        transport=o.transport,
        max_connections=o.max_connections,
        max_response_bytes=o.max_response_bytes,
        **extra,
    )


def _build_mock(o: MockOptions, retry: RetryPolicy, limiter: RateLimiter | None) -> Backend:
    from extract.backends.mock import MockBackend, ReplayBackend
    from extract.store import ResponseStore

    if o.replay:
        root = Path(o.replay)
        if not root.is_dir():
            raise ConfigError(f"replay directory not found: {root}", hint="record one with extract run --record DIR")
        return ReplayBackend(ResponseStore(root))
    return MockBackend(o.model or "empty", keep_calls=100, mode=o.mode or "tools", latency=o.latency)


BUILTIN: dict[str, BackendSpec] = {
    "local": BackendSpec("local", LocalOptions, _build_local, "llama.cpp in a child process (bundled model)"),
    "openai": BackendSpec("openai", OpenAIOptions, _build_openai, "any OpenAI-compatible endpoint"),
    "mock": BackendSpec("mock", MockOptions, _build_mock, "test double: scripted replies or a recording"),
}


def registry() -> dict[str, BackendSpec]:
    """The built-in backends and those installed packages declare through entry points."""
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue  # a plugin never replaces a built-in backend
        try:
            spec = ep.load()
        except Exception as exc:  # a broken plugin must not break the tool: say which one
            raise ConfigError(
                f"the backend plugin {ep.name!r} ({ep.value}) cannot be loaded: {type(exc).__name__}: {exc}",
                hint="fix or uninstall the package that declares it",
            ) from None
        if not isinstance(spec, BackendSpec):
            raise ConfigError(f"the backend plugin {ep.name!r} ({ep.value}) is not a BackendSpec")
        found[ep.name] = spec
    return found


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _refuse_unknown(spec: BackendSpec, given: Mapping[str, Any], specs: Mapping[str, BackendSpec]) -> None:
    for name in given:
        if name in spec.options.model_fields:
            continue
        takers = sorted(n for n, s in specs.items() if name in s.options.model_fields)
        where = f"the {' and '.join(takers)} backend{'s' if len(takers) > 1 else ''} only" if takers else "no backend"
        raise ConfigError(f"{_flag(name)} applies to {where}, not to {spec.name}")


def parse_options(name: str, given: Mapping[str, Any]) -> BackendOptions:
    """Validate options for the backend ``name``; ``None`` values count as not given."""
    specs = registry()
    spec = specs.get(name)
    if spec is None:
        raise ConfigError(f"unknown backend {name!r}", hint=f"choose one of {', '.join(sorted(specs))}")
    given = {k: v for k, v in given.items() if v is not None}
    _refuse_unknown(spec, given, specs)
    try:
        return spec.options(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        raise ConfigError(f"{_flag(field)}: {first['msg']} (got {first.get('input')!r})") from None


def create_backend(
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    retry: RetryPolicy | None = None,
    limiter: RateLimiter | None = None,
) -> Backend:
    """Build the backend ``name`` from its options (see :func:`parse_options`)."""
    parsed = parse_options(name, options or {})
    return registry()[name].build(parsed, retry or RetryPolicy(), limiter)


__all__ = [
    "BUILTIN",
    "DEFAULT_BACKEND",
    "ENTRY_POINT_GROUP",
    "MAX_RESPONSE_BYTES",
    "BackendOptions",
    "BackendSpec",
    "LocalOptions",
    "MockOptions",
    "OpenAIOptions",
    "RateLimiter",
    "RetryPolicy",
    "create_backend",
    "parse_options",
    "registry",
]
