"""A ``.json`` file: an array of records, or an object holding one, streamed record by record with ijson.

The file is either an array of records or an object with the array under one of
:data:`JSON_LIST_KEYS` (the first such key in the file that holds an array); an
object that has none of them but has the text field is read as a single record.
ijson's C parser reads the file a chunk at a time, so memory stays flat however
big the array is.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import ijson

from extract.core.errors import InputError
from extract.io.rows import (
    SCAN_RECORDS,
    BadDocument,
    Entry,
    Fields,
    Source,
    check_records_have_fields,
    row_item,
    type_name,
)

#: Keys under which a ``.json`` object may hold its list of records.
JSON_LIST_KEYS = ("data", "documents", "records", "articles", "items", "rows")

_CHUNK = 1 << 16
_NON_JSON_NUMBER = re.compile(r"lexical error.*\b(NaN|-?Infinity)\b")
# Where ijson finds the records: the items of the top-level array, or of an array
# under a top-level key; or, for an object that is itself one record, that record.
_Layout = str | dict[str, Any]


def open_json(path: Path, display: str, fields: Fields, split: str) -> Source:
    """A ``.json`` file, after one streaming pass that checks its syntax and counts its records."""
    # The pass at open time makes a truncated file fail before any model call; the
    # records themselves are dropped, only the first ones' keys are looked at.
    layout = _layout(path, display, fields.text)
    counted = 0
    first_records: list[Any] = []
    for record in _records(path, display, layout):
        counted += 1
        if len(first_records) < SCAN_RECORDS and isinstance(record, dict):
            first_records.append({key: None for key in record})  # only the keys are needed
    check_records_have_fields(display, first_records, fields)
    stem = path.stem

    def read() -> Iterator[Entry]:
        for n, record in enumerate(_records(path, display, layout), 1):
            origin, fallback = f"{display}:row {n}", f"{stem}:{n}"
            if isinstance(record, dict):
                yield row_item(record, fields, origin, fallback)
            else:
                yield Entry(BadDocument(fallback, origin, f"not a JSON object (got {type_name(record)})"), made_id=True)

    return Source("json", read, count=counted)


def _layout(path: Path, display: str, text_field: str) -> _Layout:
    """Where the records are: read up to the start of the list, or the whole file when it is one record."""
    with _Utf8Reader(path, display) as reader:
        events = ijson.parse(reader, buf_size=_CHUNK)
        try:
            _, event, _ = next(events)
            if event == "start_array":
                return "item"
            if event != "start_map":
                raise _syntax(display, "expected a JSON array of records or an object holding one", 0)
            keys: list[str] = []
            kept: dict[str, Any] = {}
            for _, event, key in events:
                if event == "end_map":
                    break
                keys.append(key)
                _, event, value = next(events)
                if key in JSON_LIST_KEYS and event == "start_array":
                    return f"{key}.item"
                kept[key] = _value(event, value, events)
            for _ in events:  # the rest of the file, which must be empty
                pass
        except ijson.JSONError as exc:
            if reader.blank:
                raise InputError(f"{display}: the file is empty; expected a JSON array of records") from None
            raise _syntax(display, _reason(exc), 0) from None
    if text_field in kept:
        return kept
    wanted = ", ".join(repr(k) for k in JSON_LIST_KEYS[:3])
    raise InputError(
        f"{display}: expected an array of records or an object with a list under {wanted} "
        f"(keys: {', '.join(keys) or 'none'}); convert it to JSON Lines or rename the key"
    )


def _value(event: str, value: Any, events: Iterator[tuple[str, str, Any]]) -> Any:
    """The whole value that starts with this event, built from the events that follow."""
    if event not in ("start_map", "start_array"):
        return _plain(value)
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for _, event, value in events:
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                break
    return builder.value


def _records(path: Path, display: str, layout: _Layout) -> Iterator[Any]:
    """The records, one at a time; a syntax error part-way raises InputError when reading gets there."""
    if isinstance(layout, dict):
        yield layout
        return
    n = 0
    with _Utf8Reader(path, display) as reader:
        try:
            for record in ijson.items(reader, layout, buf_size=_CHUNK):
                n += 1
                yield _plain(record)
        except ijson.JSONError as exc:
            raise _syntax(display, _reason(exc), n) from None


def _plain(value: Any) -> Any:
    # ijson gives non-integer numbers as Decimal (exact, and it keeps integers beyond
    # 64 bits); the rest of the reader, like the json module, works with floats.
    if type(value) is Decimal:
        return float(value)
    if type(value) is dict:
        for key, item in value.items():
            if type(item) is Decimal:
                value[key] = float(item)
    return value


def _reason(exc: ijson.JSONError) -> str:
    """ijson's message on one line: what went wrong and the text around it."""
    message = exc.args[0] if exc.args else ""
    if isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    lines = str(message).splitlines() or [type(exc).__name__]
    reason = lines[0].strip()
    near = " ".join(lines[1].split()) if len(lines) > 1 else ""
    return f"{reason} near {near[:80]!r}" if near else reason


def _syntax(display: str, reason: str, records: int) -> InputError:
    where = f" after record {records}" if records else ""
    # json.dump writes a float NaN as the bare word NaN, which is not JSON and which
    # ijson refuses; the JSON Lines reader (the json module) accepts it.
    hint = "write null instead of NaN/Infinity, or convert it to JSON Lines" if _NON_JSON_NUMBER.search(reason) else ""
    return InputError(f"{display}: invalid JSON{where} ({reason}); {hint or 'fix the file'}")


class _Utf8Reader:
    """The file's bytes for ijson, without a UTF-8 BOM, checked to be UTF-8 as they are read.

    ijson reads bytes; checking here means a file in another encoding gets the same
    one-line error as a CSV would, naming the byte, rather than a parser message.
    """

    def __init__(self, path: Path, display: str):
        self._fh = open(path, "rb")  # noqa: SIM115 (closed by __exit__)
        self._display = display
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._started = False
        self.blank = True  # nothing but whitespace read so far

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        if not self._started and size != 0:
            self._started = True
            if data.startswith(codecs.BOM_UTF8):
                data = data[len(codecs.BOM_UTF8) :]
        try:
            self._decoder.decode(data, final=not data and size != 0)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{self._display}: not UTF-8 text (invalid byte 0x{exc.object[exc.start]:02x}); re-save it as UTF-8"
            ) from None
        if self.blank and data.strip():
            self.blank = False
        return data

    def __enter__(self) -> _Utf8Reader:
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self._fh.close()
