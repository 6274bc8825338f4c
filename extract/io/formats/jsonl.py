"""JSON Lines: one JSON object per line; a line that is not one becomes a bad document, the rest go on."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from extract.io.rows import BadDocument, Entry, Fields, Source, check_records_have_fields, row_item, type_name


def open_jsonl(path: Path, display: str, fields: Fields, split: str) -> Source:
    """A ``.jsonl`` file, after checking that the first records have the fields they must have."""
    check_records_have_fields(display, (obj for _, obj in _jsonl_objects(path)), fields)
    stem = path.stem

    def read() -> Iterator[Entry]:
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                if raw.strip():
                    yield _jsonl_item(raw, fields, f"{display}:{lineno}", f"{stem}:{lineno}")

    def count() -> int:
        with open(path, "rb") as fh:
            return sum(1 for raw in fh if raw.strip())

    return Source("jsonl", read, count=count)


def _jsonl_item(raw: bytes, fields: Fields, origin: str, fallback_id: str) -> Entry:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        return Entry(BadDocument(fallback_id, origin, reason), made_id=True)
    try:
        obj = json.loads(line.rstrip("\r\n"))  # so that a column in the message points into this line
    except json.JSONDecodeError as exc:
        return Entry(BadDocument(fallback_id, origin, f"not JSON ({exc.msg} at column {exc.colno})"), made_id=True)
    if not isinstance(obj, dict):
        return Entry(BadDocument(fallback_id, origin, f"not a JSON object (got {type_name(obj)})"), made_id=True)
    return row_item(obj, fields, origin, fallback_id)


def _jsonl_objects(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of the lines that parse, for checks at open time."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                yield lineno, json.loads(raw.decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
