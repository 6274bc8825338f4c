"""The one recipe for a backend, shared by every engine.

A backend is built by name from its typed options, checked against its endpoint, and
wrapped in the response cache (or a recording) where that applies. The default engine
builds it once; the Ray engine ships the recipe to each actor and builds it there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from extract.backends import DEFAULT_BACKEND, create_backend
from extract.core.aio import run_sync
from extract.core.backend import Backend
from extract.store import CachingBackend, ResponseStore
from extract.transport import RateLimiter, RetryPolicy


def default_cache_dir() -> Path:
    env = os.environ.get("EXTRACT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "incident-extract" / "responses"


def make_backend(
    backend: str | None = None,
    model: str | None = None,
    *,
    options: dict[str, Any] | None = None,
    rpm: float | None = None,
    tpm: float | None = None,
    limiter: RateLimiter | None = None,
    retry: RetryPolicy | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    record: str | Path | None = None,
    check: bool = True,
) -> Backend:
    """Build a backend by name from its typed options (see :mod:`extract.backends`), wrapped in the
    response cache (or a recording) where that applies. An option the backend does not take is a
    :class:`~extract.core.errors.ConfigError` naming the backends that do."""
    name = backend or DEFAULT_BACKEND
    given = {**(options or {}), "model": model if model is not None else (options or {}).get("model")}
    if limiter is None and (rpm or tpm):
        limiter = RateLimiter(rpm, tpm)
    built = create_backend(name, given, retry=retry, limiter=limiter)
    if check:
        run_sync(built.check())
    if record:
        return CachingBackend(built, ResponseStore(record), recording=True)
    if cache and name != "mock":
        return CachingBackend(built, ResponseStore(cache_dir or default_cache_dir()))
    return built
