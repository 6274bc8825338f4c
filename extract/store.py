"""The response store on disk: the cache, and the recordings that replay offline.

One JSON file per response under ``<root>/<key[:2]>/<key>.json``, written to a
temporary name and renamed, so concurrent writers and a kill mid-write never leave
a half-written entry. The key is :func:`extract.core.backend.cache_key`: model and
generation parameters, prompt, schema and document. ``manifest.json`` records the
backend identity the responses came from, so that a replay computes the same keys.

Nothing secret is stored: identities hold model names and generation parameters,
never API keys or endpoint URLs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from extract.core.backend import Backend, Completion, CompletionRequest, cache_key
from extract.core.errors import CacheWarning, ConfigError, ValidationFailed
from extract.core.records import Usage
from extract.core.secrets import backend_secrets


class ResponseStore:
    """A directory of recorded responses keyed by content hash."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._lock = threading.Lock()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry stored under ``key``; None when there is none or it is unusable (with a :class:`CacheWarning`)."""
        path = self.path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError):
            return None  # not cached (or the cache folder is not there: writing will say so)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            # A damaged entry is a miss; the next answer rewrites it.
            _warn(f"{path}: cannot be read ({type(exc).__name__}: {exc}); treated as a miss")
            return None
        if not isinstance(data, dict):
            _warn(f"{path}: holds {type(data).__name__}, not an entry; treated as a miss")
            return None
        return data

    def put(self, key: str, entry: dict[str, Any]) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(entry, fh, ensure_ascii=False, sort_keys=True)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # a full disk must not leave half-written temporary files behind
            raise

    def identity(self) -> dict[str, Any]:
        """The backend identity the recording was made with (a :class:`ConfigError` when it cannot be read)."""
        manifest = self.root / "manifest.json"
        if not manifest.is_file():
            raise ConfigError(
                f"{self.root}: no manifest.json, so this is not a recording",
                hint="record one with extract run --record DIR",
            )
        identity, problem = _read_manifest(manifest)
        if identity is None:
            raise ConfigError(
                f"{manifest}: {problem}, so the recorded responses cannot be found",
                hint="record again into this directory with extract run --record, or restore the file",
            )
        return identity

    def write_manifest(self, identity: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        manifest = self.root / "manifest.json"
        with self._lock:
            if manifest.is_file():
                existing, problem = _read_manifest(manifest)
                if existing is None:
                    # Nothing recorded under it can be found without it; start a new one.
                    _warn(f"{manifest}: {problem}; writing a new manifest for this recording")
                    existing = identity
                    _write_text(manifest, json.dumps({"identity": identity}, indent=2, sort_keys=True) + "\n")
                if existing != identity:
                    raise ConfigError(
                        f"{self.root} holds responses of another model or settings ({existing.get('model')})",
                        hint="record into a new directory",
                    )
                return
            _write_text(manifest, json.dumps({"identity": identity}, indent=2, sort_keys=True) + "\n")

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json"))


def _warn(message: str) -> None:
    warnings.warn(message, CacheWarning, stacklevel=3)


def _read_manifest(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The identity a manifest holds, or None and what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"cannot be read ({type(exc).__name__}: {exc})"
    identity = data.get("identity") if isinstance(data, dict) else None
    if not isinstance(identity, dict):
        return None, 'is not a manifest ({"identity": {...}})'
    return identity, ""


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def usable_entry(entry: dict[str, Any], request: CompletionRequest, where: str) -> bool:
    """Whether a stored entry can answer ``request``; a :class:`CacheWarning` when it cannot."""
    if entry.get("outcome") == "validation_failed":
        errors, message, raw = entry.get("errors", []), entry.get("message", ""), entry.get("raw")
        if (
            isinstance(errors, list)
            and all(isinstance(e, str) for e in errors)
            and isinstance(message, str)
            and isinstance(raw, str | None)
        ):
            return True
        _warn(f"{where}: the stored failure is not of the expected shape; treated as a miss")
        return False
    result = entry.get("result")
    if not isinstance(result, str):
        _warn(f"{where}: the entry has no result; treated as a miss")
        return False
    try:
        request.response_model.model_validate_json(result)
    except ValidationError as exc:
        _warn(f"{where}: the stored result does not fit the schema ({exc.error_count()} error(s)); treated as a miss")
        return False
    return True


def answer_from(
    entry: dict[str, Any], request: CompletionRequest, model: str, *, usage: Usage, attempts: int
) -> Completion:
    """The completion a stored entry holds, or the :class:`ValidationFailed` it recorded (raised).

    Shared by the cache and the replay of a recording: one reading of the store's entries.
    """
    if entry.get("outcome") == "validation_failed":
        raise ValidationFailed(
            entry.get("message", "the stored reply failed validation"),
            last_response=entry.get("raw"),
            errors=entry.get("errors", []),
            attempts=attempts,
            usage=usage,
            document_id=request.document_id or None,
        )
    parsed = request.response_model.model_validate_json(entry["result"])
    return Completion(
        parsed=parsed,
        raw=entry.get("raw", ""),
        usage=usage,
        attempts=attempts,
        model=model,
        errors=tuple(entry.get("errors", [])),
    )


class CachingBackend:
    """Wraps a backend: answers from the store when it can, stores what the backend answers.

    A cache hit costs no call and reports zero tokens (``usage.cached`` is true).
    Validation failures are stored too (a re-run makes zero calls); transport
    failures are not, so a re-run tries them again.
    """

    def __init__(
        self, inner: Backend, store: ResponseStore, *, read: bool = True, write: bool = True, recording: bool = False
    ):
        """``recording``: the store is a recording of this one backend, to be replayed; its manifest names
        the backend, and a recording of another backend or settings is refused. A cache holds the answers
        of any number of backends (their identities are in the keys) and has no manifest."""
        self.inner = inner
        self.store = store
        self.read = read
        self.write = write
        self.name = inner.name
        self.model = inner.model
        self.hits = 0
        self.recording = recording
        #: Whether a stored validation failure is a miss (see :meth:`without_cached_failures`).
        self.fresh_failures = False
        if write and recording:
            store.write_manifest(inner.identity())

    def without_cached_failures(self) -> CachingBackend:
        """The same cache, except that a stored validation failure is a miss: for documents tried again.

        The new answer replaces the stored failure. It shares the inner backend; close this one, not both.
        """
        twin = copy.copy(self)
        twin.fresh_failures = True
        return twin

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def secrets(self) -> tuple[str, ...]:
        """The wrapped backend's secrets, for redaction (see :func:`extract.core.secrets.backend_secrets`)."""
        return backend_secrets(self.inner)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def _lookup(self, request: CompletionRequest) -> tuple[str, Completion | None]:
        key = cache_key(self.inner.identity(), request)
        if not self.read:
            return key, None
        entry = self.store.get(key)
        if entry is None or not usable_entry(entry, request, str(self.store.path(key))):
            return key, None
        if self.fresh_failures and entry.get("outcome") == "validation_failed":
            return key, None  # a retry asks the model again
        self.hits += 1
        # A cache hit costs nothing: no request, no token.
        return key, answer_from(entry, request, self.model, usage=Usage(cached=True), attempts=0)

    def _save(self, key: str, request: CompletionRequest, outcome: Completion | ValidationFailed) -> None:
        if not self.write:
            return
        entry: dict[str, Any] = {
            "key": key,
            "document_id": request.document_id,
            "prompt_hash": request.prompt_hash,
            "schema_version": request.schema_version,
            "model": self.model,
        }
        if isinstance(outcome, Completion):
            entry |= {
                "outcome": "ok",
                "result": outcome.parsed.model_dump_json(),
                "raw": outcome.raw,
                "usage": outcome.usage.model_dump(),
                "attempts": outcome.attempts,
                "errors": list(outcome.errors),
            }
        else:
            usage = outcome.usage if isinstance(outcome.usage, Usage) else Usage()
            entry |= {
                "outcome": "validation_failed",
                "message": outcome.message,
                "raw": outcome.last_response,
                "usage": usage.model_dump(),
                "attempts": outcome.attempts,
                "errors": outcome.errors,
            }
        try:
            self.store.put(key, entry)
        except OSError as exc:
            if self.recording:  # a recording with holes would fail its replay later: stop now, with one line
                raise ConfigError(
                    f"{self.store.root}: cannot write the recording ({exc.strerror or exc})",
                    hint="free some space or record into another folder",
                ) from None
            # The answer was paid for: keep it for the record, and stop trying to cache (one warning, not one a call).
            self.write = False
            _warn(f"{self.store.root}: cannot write the cache ({exc.strerror or exc}); answers are not cached this run")

    async def complete(self, request: CompletionRequest) -> Completion:
        key, hit = self._lookup(request)
        if hit is not None:
            return hit
        try:
            completion = await self.inner.complete(request)
        except ValidationFailed as exc:
            self._save(key, request, exc)
            raise
        self._save(key, request, completion)
        return completion

    async def check(self) -> None:
        await self.inner.check()
