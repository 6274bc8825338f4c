"""Backends, chosen by name: ``local`` (embedded default), ``openai`` (any compatible endpoint), ``mock``.

Each backend module is imported only when chosen, so that a missing optional
dependency (llama-cpp-python) only matters to those who use it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from extract.core.backend import Backend
from extract.core.errors import ConfigError
from extract.transport import RateLimiter, RetryPolicy

DEFAULT_BACKEND = "local"


def _local(model: str | None, **o: Any) -> Backend:
    from extract.backends.local import LocalBackend

    kwargs = {k: o[k] for k in ("mode", "temperature", "seed", "n_ctx", "n_threads") if o.get(k) is not None}
    if o.get("max_tokens"):
        kwargs["max_tokens"] = o["max_tokens"]
    return LocalBackend(model, **kwargs)


def _openai(model: str | None, **o: Any) -> Backend:
    from extract.backends.openai_compat import OpenAIBackend

    kwargs = {
        k: o[k]
        for k in (
            "base_url",
            "mode",
            "timeout",
            "temperature",
            "seed",
            "retry",
            "limiter",
            "transport",
            "max_connections",
        )
        if o.get(k) is not None
    }
    if o.get("api_key_env"):
        kwargs["api_key_env"] = o["api_key_env"]
    if o.get("max_tokens"):
        kwargs["max_tokens"] = o["max_tokens"]
    return OpenAIBackend(model or "", **kwargs)


def _mock(model: str | None, **o: Any) -> Backend:
    from extract.backends.mock import MockBackend, ReplayBackend
    from extract.store import ResponseStore

    if o.get("replay"):
        root = Path(o["replay"])
        if not root.is_dir():
            raise ConfigError(f"replay directory not found: {root}", hint="record one with extract run --record DIR")
        return ReplayBackend(ResponseStore(root))
    kwargs = {k: o[k] for k in ("mode", "latency") if o.get(k) is not None}
    return MockBackend(model or "empty", keep_calls=100, **kwargs)


REGISTRY: dict[str, Callable[..., Backend]] = {"local": _local, "openai": _openai, "mock": _mock}


def create_backend(name: str, model: str | None = None, **options: Any) -> Backend:
    """Build a backend by registry name; options a backend does not use are ignored."""
    factory = REGISTRY.get(name)
    if factory is None:
        raise ConfigError(f"unknown backend {name!r}", hint=f"choose one of {', '.join(sorted(REGISTRY))}")
    return factory(model, **options)


__all__ = ["DEFAULT_BACKEND", "REGISTRY", "RateLimiter", "RetryPolicy", "create_backend"]
