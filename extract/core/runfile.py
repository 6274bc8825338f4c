"""Reading a run file: the one reader that ``extract run`` (resume) and ``extract eval`` (scoring) share.

A run file holds one JSON :class:`~extract.core.records.DocumentResult` per line,
appended. A run killed mid-write leaves at worst one unfinished last line: readers
skip it (the writer in :mod:`extract.io.output` cuts it off before appending). A bad
line anywhere else is real damage and raises :class:`~extract.core.errors.InputError`
naming ``file:line``. The same document may appear more than once (a failure retried
on resume); the later record wins, and :func:`read_results` says which ids repeat.

One rule decides what a record is, for every reader: a line that validates as a
:class:`~extract.core.records.DocumentResult` (:func:`parse_result`). Resuming trusts
no less than scoring does, so a stray ``{"id": ...}`` cannot make a run skip a document.

It lives in the core because both the runner (through :mod:`extract.io.output`) and the
scorer read run files, and the scorer may not import :mod:`extract.io`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from extract.core.errors import InputError
from extract.core.records import DocumentResult


class BadLine(ValueError):
    """A run-file line that is not a result record. ``cut_off``: it is not even JSON, as a line cut off by a kill."""

    def __init__(self, message: str, *, cut_off: bool):
        super().__init__(message)
        self.cut_off = cut_off


def parse_result(raw: bytes) -> DocumentResult:
    """The record on one run-file line; :class:`BadLine` saying why the line is not one."""
    try:
        return DocumentResult.model_validate_json(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "json_invalid":
            raise BadLine(
                "not a result record (only a cut-off last line is repaired); "
                "remove or fix that line, or start a new run file",
                cut_off=True,
            ) from None
        where = ".".join(str(part) for part in error["loc"]) or "record"
        raise BadLine(
            f"not a valid result record ({where}: {error['msg']}); was it written by another version of the tool?",
            cut_off=False,
        ) from None


def iter_results(path: str | os.PathLike[str]) -> Iterator[tuple[int, DocumentResult]]:
    """(line number, result) for every record of an existing run file, skipping a cut-off last line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such run file; check the path")
    try:
        fh = open(path, "rb")  # noqa: SIM115  (closed by the with below; only the open itself is guarded)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the run file ({exc.strerror or exc}); check the path") from None
    with fh:
        pending: tuple[int, bytes] | None = None
        for lineno, raw in enumerate(fh, 1):
            if pending is not None:
                yield pending[0], _require_result(path, *pending)
            pending = (lineno, raw) if raw.strip() else None
        if pending is None:
            return
        lineno, raw = pending
        try:
            last = parse_result(raw)
        except BadLine as bad:
            # Only an unterminated line that is not even JSON can be what a kill mid-write leaves.
            if raw.endswith(b"\n") or not bad.cut_off:
                raise InputError(f"{path}:{lineno}: {bad}") from None
            return
        yield lineno, last


def _require_result(path: Path, lineno: int, raw: bytes) -> DocumentResult:
    try:
        return parse_result(raw)
    except BadLine as bad:
        raise InputError(f"{path}:{lineno}: {bad}") from None


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
