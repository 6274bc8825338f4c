"""Reading a run file: the one reader that ``extract run`` (resume) and ``extract eval`` (scoring) share.

A run file holds one JSON :class:`~extract.core.records.DocumentResult` per line,
appended. A run killed mid-write leaves at worst one unfinished last line: readers
skip it (the writer in :mod:`extract.io.output` cuts it off before appending). A bad
line anywhere else is real damage and raises :class:`~extract.core.errors.InputError`
naming ``file:line``. The same document may appear more than once (a failure retried
on resume); the later record wins, and :func:`read_results` says which ids repeat.

It lives in the core because both the runner (through :mod:`extract.io.output`) and the
scorer read run files, and the scorer may not import :mod:`extract.io`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from extract.core.errors import InputError
from extract.core.records import DocumentResult


def parse_record(raw: bytes) -> dict[str, Any] | None:
    """The JSON object of one run-file line when it is one with a string id, else None."""
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(obj, dict) and isinstance(obj.get("id"), str):
        return obj
    return None


def iter_records(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) for every line, skipping a cut-off (unterminated) last line; nothing without a file."""
    path = Path(path)
    if not path.exists():
        return
    try:
        fh = open(path, "rb")  # noqa: SIM115  (closed by the with below; only the open itself is guarded)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the run file ({exc.strerror or exc}); check the path") from None
    with fh:
        pending: tuple[int, bytes] | None = None
        for lineno, raw in enumerate(fh, 1):
            if pending is not None:
                yield pending[0], _require_record(path, *pending)
            pending = (lineno, raw) if raw.strip() else None
        if pending is not None:
            if pending[1].endswith(b"\n"):  # complete, so not cut off by a kill: it must be a record
                yield pending[0], _require_record(path, *pending)
            else:
                record = parse_record(pending[1])
                if record is not None:
                    yield pending[0], record


def _require_record(path: Path, lineno: int, raw: bytes) -> dict[str, Any]:
    record = parse_record(raw)
    if record is None:
        raise InputError(
            f"{path}:{lineno}: not a result record (only a cut-off last line is repaired); "
            "remove or fix that line, or start a new run file"
        )
    return record


def iter_results(path: str | os.PathLike[str]) -> Iterator[tuple[int, DocumentResult]]:
    """(line number, result) for every record of an existing run file, validated."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such run file; check the path")
    for lineno, record in iter_records(path):
        try:
            yield lineno, DocumentResult.model_validate(record)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "record"
            raise InputError(
                f"{path}:{lineno}: not a valid result record ({where}: {error['msg']}); "
                "was it written by another version of the tool?"
            ) from None


@dataclass(frozen=True)
class RunContents:
    """The latest record of each document of a run file, and the ids written more than once."""

    results: dict[str, DocumentResult]
    duplicates: tuple[str, ...]


def read_results(path: str | os.PathLike[str]) -> RunContents:
    """The latest record for each document id (in order of first appearance) and the repeated ids."""
    latest: dict[str, DocumentResult] = {}
    repeated: dict[str, None] = {}
    for _, result in iter_results(path):
        if result.id in latest:
            repeated[result.id] = None
        latest[result.id] = result
    return RunContents(latest, tuple(repeated))
