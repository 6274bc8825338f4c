"""Read a corpus as a lazy stream of documents.

:func:`open_corpus` accepts a folder of ``.txt``/``.md`` files, one such file,
``.jsonl``, ``.json``, ``.csv``, ``.parquet``, a Hugging Face dataset saved with
``save_to_disk``, and in Python also an in-memory ``datasets`` dataset or any
iterable of dicts or :class:`~extract.core.records.Document`.

Two kinds of problem are kept apart:

* a problem with the whole source (missing file, unknown format, no text column)
  raises :class:`~extract.core.errors.InputError` before anything runs;
* a problem with one document (binary file, a line that is not JSON, null text,
  a duplicate id) becomes a :class:`BadDocument` in the stream, so that the batch
  writes a failure record for it and goes on.

Nothing reads the whole corpus into memory: text and CSV files are read line by
line, JSON arrays element by element, Parquet and saved datasets a batch of rows
at a time. Only the ids seen so far are kept, to catch duplicates. A file found
corrupt part-way (a CSV whose quoting breaks, an invalid byte in a CSV) raises
:class:`~extract.core.errors.InputError` when reading gets there.

``datasets`` is imported only for saved and in-memory datasets. Loading a saved
dataset never touches the network, so nothing is set in the environment; its
progress bars and logging are silenced during the load only (they would break the
command line's own progress display) and restored after, as the caller had them.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import functools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from extract.core.errors import ConfigError, InputError
from extract.core.records import Document

#: Suffixes read as one document per file, in a folder or on their own.
TEXT_SUFFIXES = (".txt", ".md")
#: Keys under which a ``.json`` object may hold its list of records, tried in this order.
JSON_LIST_KEYS = ("data", "documents", "records", "articles", "items", "rows")

# How many records are looked at when a source is opened, to tell a wrong
# --text-field (every record lacks it) from a few bad records.
_SCAN_RECORDS = 1000
# Rows converted to Python at a time from Parquet and Arrow batches: small enough
# that memory does not depend on how the file was written.
_STREAM_BATCH_ROWS = 256
_META_MAX_KEYS = 20
_CSV_FIELD_LIMIT = 2**31 - 1
_META_MAX_CHARS = 200


@dataclass(frozen=True)
class BadDocument:
    """A record that could not become a :class:`Document`; the batch writes it as a failure and goes on."""

    id: str
    origin: str
    reason: str


CorpusItem = Document | BadDocument


class Corpus:
    """A lazily read corpus: iterate it for :class:`Document` and :class:`BadDocument` items.

    ``name`` is the path as given (or ``<dataset>``, ``<items>``) and ``kind`` the
    format. ``length`` is the number of items iteration yields when that is cheap
    to know (computed on first access, at most one fast pass over the file), else
    ``None``. Iterating again reads the source again, which works for files and
    datasets but not for a one-shot generator. Duplicate ids become
    :class:`BadDocument` items here, for every source; to do so each id is kept
    with where it was first seen, which is the only memory that grows with the corpus.
    """

    def __init__(
        self,
        name: str,
        kind: str,
        read: Callable[[], Iterator[CorpusItem]],
        *,
        count: Callable[[], int | None] | int | None = None,
        limit: int | None = None,
    ):
        self.name = name
        self.kind = kind
        self.limit = limit
        self._read = read
        self._count = count

    @functools.cached_property
    def length(self) -> int | None:
        """Number of items iteration yields (limit applied), or ``None`` when unknown."""
        total = self._count() if callable(self._count) else self._count
        if total is None:
            return None
        return total if self.limit is None else min(total, self.limit)

    def __iter__(self) -> Iterator[CorpusItem]:
        if self.limit == 0:
            return
        first_seen: dict[str, str] = {}
        items = self._read()
        try:
            for n, item in enumerate(items, 1):
                origin = item.origin or self.name
                earlier = first_seen.get(item.id)
                if earlier is not None:
                    yield BadDocument(item.id, origin, f"duplicate id {item.id!r} (first seen at {earlier})")
                else:
                    first_seen[item.id] = origin
                    yield item
                if self.limit is not None and n >= self.limit:
                    break
        finally:
            # Close files now when the caller stops early, not at garbage collection.
            close = getattr(items, "close", None)
            if close is not None:
                close()

    def documents(self) -> Iterator[Document]:
        """Only the good documents (for callers that record bad ones some other way)."""
        return (item for item in self if isinstance(item, Document))

    def __repr__(self) -> str:
        return f"Corpus({self.name!r}, kind={self.kind!r})"  # no length: it may cost a pass over the file


def open_corpus(
    source: Any,
    *,
    id_field: str = "id",
    text_field: str = "text",
    limit: int | None = None,
    split: str = "train",
) -> Corpus:
    """Open ``source`` as a :class:`Corpus` after checking what concerns the whole source.

    ``source`` is a path (folder, ``.txt``, ``.md``, ``.jsonl``, ``.json``, ``.csv``,
    ``.parquet`` or a ``save_to_disk`` folder), a ``datasets`` dataset or dataset
    dict, or an iterable of dicts or documents. ``split`` picks the split of a
    dataset dict; ``limit`` stops after that many items. Raises :class:`InputError`
    when the source cannot be used at all.
    """
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be 0 or more, got {limit}; pass a count of documents to read")
    fields = _Fields(id_field, text_field)
    if isinstance(source, (str, os.PathLike)):
        return _open_path(Path(source), str(source), fields, limit, split)
    if _is_datasets_object(source):
        return _open_dataset(source, "<dataset>", fields, limit, split)
    if isinstance(source, (Document, Mapping, bytes)):
        raise InputError(
            f"cannot read a corpus from a single {type(source).__name__}; pass a path, a dataset or a list of documents"
        )
    if isinstance(source, Iterable):
        count = len(source) if isinstance(source, Sized) else None
        return Corpus("<items>", "items", lambda: _iter_items(source, fields), count=count, limit=limit)
    raise InputError(
        f"cannot read a corpus from {type(source).__name__}; "
        "pass a path, a dataset or an iterable of dicts or documents"
    )


# --- fields and rows -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fields:
    id: str
    text: str


def _row_item(row: Mapping[str, Any], fields: _Fields, origin: str, fallback_id: str) -> CorpusItem:
    """Turn one record into a Document, or a BadDocument saying what is wrong with it."""
    doc_id, id_problem = _make_id(row.get(fields.id), fallback_id)
    if id_problem:
        return BadDocument(doc_id, origin, id_problem)
    if fields.text not in row:
        names = ", ".join(map(str, row)) or "none"
        return BadDocument(doc_id, origin, f"no field {fields.text!r} (fields: {names})")
    text = row[fields.text]
    if text is None:
        return BadDocument(doc_id, origin, f"field {fields.text!r} is null")
    if not isinstance(text, str):
        return BadDocument(doc_id, origin, f"field {fields.text!r} must be text, got {_type_name(text)}")
    problem = _unencodable(text)
    if problem:
        return BadDocument(doc_id, origin, problem)
    return Document(id=doc_id, text=text, origin=origin, meta=_meta(row, fields))


def _make_id(value: Any, fallback: str) -> tuple[str, str | None]:
    """The document id as a string; the fallback when the value is missing or empty."""
    if value is None or isinstance(value, bool):
        return fallback, None if value is None else f"id must be text or a number, got {value!r}"
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return fallback, None
        problem = _unencodable(value)
        return (fallback, f"id {problem}") if problem else (value, None)
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, float):
        if math.isnan(value):
            return fallback, None
        return (str(int(value)) if value.is_integer() else repr(value)), None
    return fallback, f"id must be text or a number, got {_type_name(value)}"


def _meta(row: Mapping[str, Any], fields: _Fields) -> dict[str, Any]:
    """The other columns' short scalar values, so a failure or result can be traced back."""
    meta: dict[str, Any] = {}
    for key, value in row.items():
        if key in (fields.id, fields.text) or not isinstance(key, str):
            continue
        if isinstance(value, (dt.date, dt.time)):
            value = value.isoformat()
        if isinstance(value, str):
            if not value or len(value) > _META_MAX_CHARS or _unencodable(value):
                continue
        elif isinstance(value, float):
            if not math.isfinite(value):
                continue
        elif not isinstance(value, (bool, int)):
            continue  # None, lists, nested objects, bytes: not worth carrying with every document
        meta[key] = value
        if len(meta) >= _META_MAX_KEYS:
            break
    return meta


def _unencodable(text: str) -> str | None:
    # A lone surrogate (possible in JSON "\ud800") would make the output record unwritable.
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"holds a lone surrogate at character {exc.start}, which cannot be written as UTF-8"
    return None


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _missing_field(display: str, what: str, name: str, present: Iterable[str], option: str) -> InputError:
    names = ", ".join(map(str, present)) or "none"
    plural = "columns" if what == "column" else "fields"
    return InputError(f"{display}: no {what} {name!r} ({plural}: {names}); choose one with {option}")


def _iter_items(items: Iterable[Any], fields: _Fields) -> Iterator[CorpusItem]:
    for n, item in enumerate(items, 1):
        origin = f"<items>:row {n}"
        if isinstance(item, Document):
            yield item if item.origin else item.model_copy(update={"origin": origin})
        elif isinstance(item, Mapping):
            yield _row_item(item, fields, origin, f"items:{n}")
        else:
            yield BadDocument(f"items:{n}", origin, f"expected a dict or a Document, got {_type_name(item)}")


# --- paths -----------------------------------------------------------------------------------------------------------


def _open_path(path: Path, display: str, fields: _Fields, limit: int | None, split: str) -> Corpus:
    if not path.exists():
        raise InputError(f"{display}: no such file or directory; check the path")
    if path.is_dir():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return _open_saved_dataset(path, display, fields, limit, split)
        return _open_folder(path, display, limit)
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return Corpus(display, "text", lambda: iter([_text_file_item(path, display, path.stem)]), count=1, limit=limit)
    if suffix == ".jsonl":
        return _open_jsonl(path, display, fields, limit)
    if suffix == ".json":
        return _open_json(path, display, fields, limit)
    if suffix == ".csv":
        return _open_csv(path, display, fields, limit)
    if suffix == ".parquet":
        return _open_parquet(path, display, fields, limit)
    known = "a folder of .txt/.md files, .txt, .md, .jsonl, .json, .csv, .parquet or a save_to_disk dataset folder"
    raise InputError(f"{display}: unknown corpus format {suffix or '(no suffix)'!r}; use {known}")


def _open_folder(root: Path, display: str, limit: int | None) -> Corpus:
    relative: list[str] = []
    skipped = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # .git, .ipynb_checkpoints and the like
        base = Path(dirpath).relative_to(root)
        for name in filenames:
            if not name.startswith(".") and Path(name).suffix.lower() in TEXT_SUFFIXES:
                relative.append((base / name).as_posix())
            else:
                skipped += 1
    if not relative:
        raise InputError(f"{display}: no .txt or .md files in this folder ({skipped} other files); check the path")
    relative.sort()

    def read() -> Iterator[CorpusItem]:
        for rel in relative:
            doc_id = rel.rsplit(".", 1)[0]
            yield _text_file_item(root / rel, os.path.join(display, rel), doc_id)

    return Corpus(display, "folder", read, count=len(relative), limit=limit)


def _text_file_item(path: Path, origin: str, doc_id: str) -> CorpusItem:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return BadDocument(doc_id, origin, f"cannot read the file ({exc.strerror or exc})")
    text, problem = _decode_text(data)
    if problem:
        return BadDocument(doc_id, origin, problem)
    assert text is not None
    return Document(id=doc_id, text=text, origin=origin)


def _decode_text(data: bytes) -> tuple[str | None, str | None]:
    """Decode a text file as UTF-8; say why not when it is binary or in another encoding."""
    shift = 0
    if data.startswith(codecs.BOM_UTF8):
        data, shift = data[len(codecs.BOM_UTF8) :], len(codecs.BOM_UTF8)
    nul = data.find(b"\x00")
    if nul >= 0:
        return None, f"binary file, not text (NUL byte at offset {nul + shift})"
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at offset {exc.start + shift})"


# --- JSON Lines ------------------------------------------------------------------------------------------------------


def _open_jsonl(path: Path, display: str, fields: _Fields, limit: int | None) -> Corpus:
    _check_records_have_text(display, (obj for _, obj in _jsonl_objects(path)), fields)
    stem = path.stem

    def read() -> Iterator[CorpusItem]:
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                if raw.strip():
                    yield _jsonl_item(raw, fields, f"{display}:{lineno}", f"{stem}:{lineno}")

    def count() -> int:
        with open(path, "rb") as fh:
            return sum(1 for raw in fh if raw.strip())

    return Corpus(display, "jsonl", read, count=count, limit=limit)


_NUMBER_CHARS = frozenset("0123456789.eE+-")


def _jsonl_item(raw: bytes, fields: _Fields, origin: str, fallback_id: str) -> CorpusItem:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadDocument(
            fallback_id, origin, f"not UTF-8 text (invalid byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
        )
    try:
        obj = json.loads(line.rstrip("\r\n"))  # so that a column in the message points into this line
    except json.JSONDecodeError as exc:
        return BadDocument(fallback_id, origin, f"not JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(obj, dict):
        return BadDocument(fallback_id, origin, f"not a JSON object (got {_type_name(obj)})")
    return _row_item(obj, fields, origin, fallback_id)


def _jsonl_objects(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of the lines that parse, for checks at open time."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                yield lineno, json.loads(raw.decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue


def _check_records_have_text(display: str, records: Iterable[Any], fields: _Fields) -> None:
    """Raise when none of the first records has the text field: the field name is wrong, not the records."""
    first_keys: list[str] | None = None
    seen = 0
    for obj in records:
        if not isinstance(obj, dict):
            continue
        if fields.text in obj:
            return
        if first_keys is None:
            first_keys = list(obj)
        seen += 1
        if seen >= _SCAN_RECORDS:
            break
    if first_keys is not None:
        raise _missing_field(display, "field", fields.text, first_keys, "--text-field")


# --- JSON ------------------------------------------------------------------------------------------------------------


def _open_json(path: Path, display: str, fields: _Fields, limit: int | None) -> Corpus:
    # One streaming pass at open time checks the syntax (a truncated file fails before
    # any model call) and counts the records; the records themselves are dropped.
    counted = 0
    first_records: list[Any] = []
    with _open_text(path, display) as fh:
        for record in _JsonRecords(fh, display, fields.text):
            counted += 1
            if len(first_records) < _SCAN_RECORDS and isinstance(record, dict):
                first_records.append({key: None for key in record})  # only the keys are needed
    _check_records_have_text(display, first_records, fields)
    stem = path.stem

    def read() -> Iterator[CorpusItem]:
        with _open_text(path, display) as fh:
            for n, record in enumerate(_JsonRecords(fh, display, fields.text), 1):
                origin, fallback = f"{display}:row {n}", f"{stem}:{n}"
                if isinstance(record, dict):
                    yield _row_item(record, fields, origin, fallback)
                else:
                    yield BadDocument(fallback, origin, f"not a JSON object (got {_type_name(record)})")

    return Corpus(display, "json", read, count=counted, limit=limit)


def _open_text(path: Path, display: str) -> IO[str]:
    # Decoding errors surface while reading; _JsonRecords turns them into InputError.
    return open(path, encoding="utf-8-sig")


_WHITESPACE = re.compile(r"[ \t\r\n]*")


class _JsonRecords:
    """Iterate the records of a ``.json`` corpus without holding the whole file.

    The file is either an array of records or an object with the array under one of
    :data:`JSON_LIST_KEYS`; an object that has none of them but has the text field
    is read as a single record. Syntax errors raise :class:`InputError` with the
    character offset.
    """

    _CHUNK = 1 << 16

    def __init__(self, fh: IO[str], display: str, text_field: str):
        self._fh = fh
        self._display = display
        self._text_field = text_field
        self._buf = ""
        self._pos = 0
        self._dropped = 0  # characters consumed and dropped from the buffer, for error offsets
        self._eof = False
        self._decoder = json.JSONDecoder()

    def __iter__(self) -> Iterator[Any]:
        first = self._peek()
        if first == "[":
            self._pos += 1
            yield from self._array()
        elif first == "{":
            self._pos += 1
            yield from self._object()
        elif first == "":
            raise InputError(f"{self._display}: the file is empty; expected a JSON array of records")
        else:
            raise self._syntax("expected a JSON array of records or an object holding one")
        if self._peek() != "":
            raise self._syntax("extra data after the JSON value")

    def _array(self) -> Iterator[Any]:
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            yield self._value()
            if self._punctuation(",]") == "]":
                return

    def _object(self) -> Iterator[Any]:
        keys: list[str] = []
        kept: dict[str, Any] = {}
        found = False
        if self._peek() == "}":
            self._pos += 1
        else:
            while True:
                key = self._value()
                if not isinstance(key, str):
                    raise self._syntax("expected a key")
                self._punctuation(":")
                keys.append(key)
                if not found and key in JSON_LIST_KEYS and self._peek() == "[":
                    self._pos += 1
                    found = True
                    yield from self._array()
                else:
                    value = self._value()
                    if not found:
                        kept[key] = value
                if self._punctuation(",}") == "}":
                    break
        if found:
            return
        if self._text_field in kept:
            yield kept
            return
        wanted = ", ".join(repr(k) for k in JSON_LIST_KEYS[:3])
        raise InputError(
            f"{self._display}: expected an array of records or an object with a list under {wanted} "
            f"(keys: {', '.join(keys) or 'none'}); convert it to JSON Lines or rename the key"
        )

    def _peek(self) -> str:
        """The next character that is not whitespace, or '' at the end of the file."""
        while True:
            self._pos = _WHITESPACE.match(self._buf, self._pos).end()  # type: ignore[union-attr]
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _punctuation(self, allowed: str) -> str:
        char = self._peek()
        if char == "" or char not in allowed:
            expected = " or ".join(repr(c) for c in allowed)
            raise self._syntax(f"expected {expected}")
        self._pos += 1
        return char

    def _value(self) -> Any:
        self._peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._fill(grow=True):
                    continue
                raise self._syntax(exc.msg, at=exc.pos) from None
            # A number that ends the buffer, or stops at a character a number can hold ("0" of
            # "0.5" cut after "0."), may go on in the next chunk.
            at_edge = end == len(self._buf) or (
                isinstance(value, int | float) and not isinstance(value, bool) and self._buf[end] in _NUMBER_CHARS
            )
            if at_edge and self._fill(grow=True):
                continue
            self._pos = end
            return value

    def _fill(self, grow: bool = False) -> bool:
        if self._eof:
            return False
        # Growing with the buffer keeps a very long record linear to read rather than quadratic.
        size = max(self._CHUNK, len(self._buf) - self._pos) if grow else self._CHUNK
        try:
            chunk = self._fh.read(size)
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{self._display}: not UTF-8 text (invalid byte 0x{exc.object[exc.start]:02x}); re-save it as UTF-8"
            ) from None
        if not chunk:
            self._eof = True
            return False
        self._dropped += self._pos
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0
        return True

    def _syntax(self, message: str, at: int | None = None) -> InputError:
        offset = self._dropped + (self._pos if at is None else at)
        return InputError(f"{self._display}: invalid JSON at character {offset} ({message}); fix the file")


# --- CSV, Parquet and datasets ---------------------------------------------------------------------------------------


def _open_csv(path: Path, display: str, fields: _Fields, limit: int | None) -> Corpus:
    # Python's csv module rather than datasets' CSV builder (pandas): pandas silently
    # shifts a row that has one field too many (it takes the first column as an
    # index), so a stray unquoted comma would give a document the wrong id and text.
    # Here such a row becomes a BadDocument and the other rows go on. Every value
    # stays a string: ids keep leading zeros and an empty cell is "" rather than NaN.
    _allow_long_csv_fields()
    header = _csv_header(path, display)
    if fields.text not in header:
        raise _missing_field(display, "column", fields.text, header, "--text-field")
    stem = path.stem

    def read() -> Iterator[CorpusItem]:
        for n, row in _csv_rows(path, display):
            origin, fallback = f"{display}:row {n}", f"{stem}:{n}"
            if len(row) != len(header):
                reason = f"row has {len(row)} fields but the header has {len(header)}; quote fields holding commas"
                yield BadDocument(fallback, origin, reason)
            else:
                yield _row_item(dict(zip(header, row, strict=True)), fields, origin, fallback)

    def count() -> int:
        return sum(1 for _ in _csv_rows(path, display))

    return Corpus(display, "csv", read, count=count, limit=limit)


def _csv_header(path: Path, display: str) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{display}: not UTF-8 text (invalid byte 0x{exc.object[exc.start]:02x}); re-save it as UTF-8"
        ) from None
    except csv.Error as exc:
        raise InputError(f"{display}: cannot read the CSV header ({exc}); fix the file") from None
    if not header:
        raise InputError(f"{display}: the file is empty; expected a header row naming the columns")
    return header


def _csv_rows(path: Path, display: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, fields) of the data rows, blank lines skipped."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        n = 0
        try:
            next(reader, None)  # the header
            for row in reader:
                if row:
                    n += 1
                    yield n, row
        except (UnicodeDecodeError, csv.Error) as exc:
            # The reader cannot resynchronise after a bad byte or a broken quote, so the
            # rest of the file is unreadable: a problem of the source, not of one row.
            what = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
            raise InputError(f"{display}: cannot read past line {reader.line_num} ({what}); fix the file") from None


@functools.cache
def _allow_long_csv_fields() -> None:
    # The csv module refuses fields over 128 KiB by default; articles can be longer.
    # The limit is process-wide, and this only ever raises it.
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)


def _open_parquet(path: Path, display: str, fields: _Fields, limit: int | None) -> Corpus:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{display}: not a Parquet file ({_first_line(exc)}); check the file") from None
    schema = metadata.schema.to_arrow_schema()
    if fields.text not in schema.names:
        raise _missing_field(display, "column", fields.text, schema.names, "--text-field")
    _check_text_type(display, fields.text, schema.field(fields.text).type)

    def batches() -> Iterator[Any]:
        # pyarrow's own batch reader rather than datasets' Parquet streaming: the latter
        # decodes a whole row group at once, and a file written with default settings
        # keeps up to a million rows in one group, so memory would grow with the corpus.
        # A buffered column stream without pre-buffering reads pages as batches need them.
        with pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20) as parquet:
            yield from parquet.iter_batches(batch_size=_STREAM_BATCH_ROWS)

    rows = metadata.num_rows
    read = lambda: _iter_rows(_batch_rows(batches()), display, path.stem, fields)  # noqa: E731
    return Corpus(display, "parquet", read, count=rows, limit=limit)


def _check_text_type(display: str, column: str, arrow_type: Any) -> None:
    import pyarrow as pa

    texty = (pa.types.is_string, pa.types.is_large_string, getattr(pa.types, "is_string_view", lambda _t: False))
    if not any(check(arrow_type) for check in texty):
        raise InputError(f"{display}: column {column!r} holds {arrow_type}, not text; choose another with --text-field")


def _batch_rows(batches: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Rows of Arrow record batches as dicts, converted a slice at a time."""
    for batch in batches:
        for start in range(0, batch.num_rows, _STREAM_BATCH_ROWS):
            yield from batch.slice(start, _STREAM_BATCH_ROWS).to_pylist()


def _open_saved_dataset(path: Path, display: str, fields: _Fields, limit: int | None, split: str) -> Corpus:
    datasets = _datasets()
    try:
        with _quiet_datasets():
            loaded = datasets.load_from_disk(str(path))
    except Exception as exc:
        raise InputError(f"{display}: cannot load the saved dataset ({_first_line(exc)}); check the folder") from None
    ds = _checked_dataset(loaded, display, fields, split)
    files = [entry["filename"] for entry in ds.cache_files]
    if not files:
        return _dataset_corpus(ds, display, fields, limit)
    # load_from_disk memory-maps the Arrow files, and every page touched while
    # iterating stays in the process's resident memory until the dataset is dropped,
    # so resident memory would grow with the corpus. Reading the same files as Arrow
    # streams frees each batch once it is used. (save_to_disk applies any index
    # mapping, so the files hold the rows in order.)
    stem = path.name
    read = lambda: _iter_rows(_batch_rows(_arrow_stream_batches(files)), display, stem, fields)  # noqa: E731
    return Corpus(display, "dataset", read, count=len(ds), limit=limit)


def _arrow_stream_batches(files: list[str]) -> Iterator[Any]:
    import pyarrow as pa

    for name in files:
        with pa.OSFile(name) as fh:
            yield from pa.ipc.open_stream(fh)


def _open_dataset(ds: Any, display: str, fields: _Fields, limit: int | None, split: str) -> Corpus:
    return _dataset_corpus(_checked_dataset(ds, display, fields, split), display, fields, limit)


def _checked_dataset(ds: Any, display: str, fields: _Fields, split: str) -> Any:
    """The chosen split of a dataset, after checking it has a text column."""
    datasets = _datasets()
    if isinstance(ds, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        if split not in ds:
            names = ", ".join(ds) or "none"
            raise InputError(f"{display}: no split {split!r} (splits: {names}); choose one with --split")
        ds = ds[split]
    columns = ds.column_names
    if columns is None:  # an IterableDataset that does not know its columns until read
        first = next(iter(ds), None)
        columns = list(first) if first is not None else None
    if columns is not None and fields.text not in columns:
        raise _missing_field(display, "column", fields.text, columns, "--text-field")
    features = getattr(ds, "features", None)
    if features is not None and fields.text in features:
        text_feature = features[fields.text]
        if isinstance(text_feature, datasets.Value) and text_feature.dtype not in ("string", "large_string", "null"):
            raise InputError(
                f"{display}: column {fields.text!r} holds {text_feature.dtype}, not text; "
                "choose another with --text-field"
            )
    return ds


def _dataset_corpus(ds: Any, display: str, fields: _Fields, limit: int | None) -> Corpus:
    count = len(ds) if isinstance(ds, _datasets().Dataset) else None
    stem = Path(display).name if display != "<dataset>" else "dataset"
    return Corpus(display, "dataset", lambda: _iter_rows(ds, display, stem, fields), count=count, limit=limit)


def _iter_rows(rows: Iterable[Mapping[str, Any]], display: str, stem: str, fields: _Fields) -> Iterator[CorpusItem]:
    n = 0
    iterator = iter(rows)
    while True:
        try:
            row = next(iterator)
        except StopIteration:
            return
        except Exception as exc:
            # A corrupt Parquet page or Arrow file: the rest of the source cannot be read
            # reliably, so this is about the source, not one document.
            raise InputError(f"{display}: cannot read past row {n} ({_first_line(exc)}); fix the file") from None
        n += 1
        yield _row_item(row, fields, f"{display}:row {n}", f"{stem}:{n}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _is_datasets_object(value: Any) -> bool:
    return type(value).__module__.split(".", 1)[0] == "datasets"


def _datasets() -> ModuleType:
    import datasets

    return datasets


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence ``datasets``' progress bars and logging for the block, then restore them as they were."""
    datasets = _datasets()
    bars_were_on = datasets.is_progress_bar_enabled()
    verbosity = datasets.logging.get_verbosity()
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # failures are reported as InputError instead
    try:
        yield
    finally:
        datasets.logging.set_verbosity(verbosity)
        if bars_were_on:
            datasets.enable_progress_bars()
