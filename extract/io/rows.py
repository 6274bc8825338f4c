"""What every corpus format shares: the item types, the field names, and turning one record into a document.

A format module opens its source and returns a :class:`Source`; the records it
reads become :class:`~extract.core.records.Document` or :class:`BadDocument`
items through :func:`row_item`, so every format checks ids, text and metadata
the same way. Each item comes as an :class:`Entry` that says whether the reader
made its id up, so that the corpus can keep made-up ids off the ids the source gives.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from extract.core.errors import InputError
from extract.core.records import Document

# How many records are looked at when a source is opened, to tell a wrong
# --text-field (every record lacks it) from a few bad records.
SCAN_RECORDS = 1000
# Rows converted to Python at a time from Parquet and Arrow batches: small enough
# that memory does not depend on how the file was written.
STREAM_BATCH_ROWS = 256
_META_MAX_KEYS = 20
#: The defaults of --id-field, --text-field and --split. Records may lack the default id field (their ids are
#: then made up from their position); a field named otherwise must be there, as the text field must.
DEFAULT_ID_FIELD = "id"
DEFAULT_TEXT_FIELD = "text"
DEFAULT_SPLIT = "train"
_META_MAX_CHARS = 200


@dataclass(frozen=True)
class BadDocument:
    """A record that could not become a :class:`Document`; the batch writes it as a failure and goes on."""

    id: str
    origin: str
    reason: str
    #: The failure reason its record gets: ``bad_input``, or ``duplicate_id`` for a repeated id.
    kind: str = "bad_input"


CorpusItem = Document | BadDocument


class Entry(NamedTuple):
    """One item as a format reads it, and whether the reader made its id up (the record gave none it could use)."""

    item: CorpusItem
    made_id: bool = False


@dataclass(frozen=True)
class Fields:
    """The names of the id and text fields (``--id-field``, ``--text-field``)."""

    id: str
    text: str

    @property
    def required(self) -> tuple[tuple[str, str], ...]:
        """(name, option) of each field a source's records must have: the text field, and the id field if named."""
        named_id = ((self.id, "--id-field"),) if self.id != DEFAULT_ID_FIELD else ()
        return ((self.text, "--text-field"), *named_id)


@dataclass(frozen=True)
class Source:
    """What a format's opener returns once the whole source has been checked.

    ``read`` starts a fresh pass over the source; ``count`` is the number of items
    that pass yields, a function computing it (called at most once, on demand), or
    ``None`` when it is not cheap to know. ``rereadable`` is False for a source that
    a second pass would find empty (a generator).
    """

    kind: str
    read: Callable[[], Iterator[Entry]]
    count: Callable[[], int | None] | int | None = None
    rereadable: bool = True


def row_item(row: Mapping[str, Any], fields: Fields, origin: str, fallback_id: str) -> Entry:
    """Turn one record into a Document, or a BadDocument saying what is wrong with it."""
    given, id_problem = make_id(row.get(fields.id))
    doc_id, made_id = (fallback_id, True) if given is None else (given, False)
    if id_problem:
        return Entry(BadDocument(doc_id, origin, id_problem), made_id)
    if fields.text not in row:
        names = ", ".join(map(str, row)) or "none"
        return Entry(BadDocument(doc_id, origin, f"no field {fields.text!r} (fields: {names})"), made_id)
    text = row[fields.text]
    if text is None:
        return Entry(BadDocument(doc_id, origin, f"field {fields.text!r} is null"), made_id)
    if not isinstance(text, str):
        return Entry(BadDocument(doc_id, origin, f"field {fields.text!r} must be text, got {type_name(text)}"), made_id)
    problem = unencodable(text)
    if problem:
        return Entry(BadDocument(doc_id, origin, problem), made_id)
    return Entry(Document(id=doc_id, text=text, origin=origin, meta=meta(row, fields)), made_id)


def make_id(value: Any) -> tuple[str | None, str | None]:
    """The document id as a string, or None when the value is missing or empty; and why it cannot be used, if so."""
    if value is None or isinstance(value, bool):
        return None, None if value is None else f"id must be text or a number, got {value!r}"
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None, None
        problem = unencodable(value)
        return (None, f"id {problem}") if problem else (value, None)
    if isinstance(value, int):
        return str(value), None
    if isinstance(value, float):
        if math.isnan(value):
            return None, None
        return (str(int(value)) if value.is_integer() else repr(value)), None
    return None, f"id must be text or a number, got {type_name(value)}"


def meta(row: Mapping[str, Any], fields: Fields) -> dict[str, Any]:
    """The other columns' short scalar values, so a failure or result can be traced back."""
    kept: dict[str, Any] = {}
    for key, value in row.items():
        if key in (fields.id, fields.text) or not isinstance(key, str):
            continue
        if isinstance(value, (dt.date, dt.time)):
            value = value.isoformat()
        if isinstance(value, str):
            if not value or len(value) > _META_MAX_CHARS or unencodable(value):
                continue
        elif isinstance(value, float):
            if not math.isfinite(value):
                continue
        elif not isinstance(value, (bool, int)):
            continue  # None, lists, nested objects, bytes: not worth carrying with every document
        kept[key] = value
        if len(kept) >= _META_MAX_KEYS:
            break
    return kept


def unencodable(text: str) -> str | None:
    """Why ``text`` cannot be written as UTF-8, or ``None`` when it can."""
    # A lone surrogate (possible in JSON "\ud800") would make the output record unwritable.
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"holds a lone surrogate at character {exc.start}, which cannot be written as UTF-8"
    return None


def type_name(value: Any) -> str:
    """A JSON-ish name for a value's type, for messages."""
    names = {dict: "an object", list: "a list", str: "text", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def check_columns(display: str, columns: Iterable[str], fields: Fields) -> None:
    """Raise when a source's columns lack a field its records must have (:attr:`Fields.required`)."""
    columns = list(columns)
    for name, option in fields.required:
        if name not in columns:
            raise _missing(display, "column", name, columns, option)


def check_records_have_fields(display: str, records: Iterable[Any], fields: Fields) -> None:
    """Raise when none of the first records has a required field: the field name is wrong, not the records."""
    first_keys: list[str] | None = None
    missing = dict(fields.required)
    seen = 0
    for obj in records:
        if not isinstance(obj, dict):
            continue
        for name in [name for name in missing if name in obj]:
            del missing[name]
        if not missing:
            return
        if first_keys is None:
            first_keys = list(obj)
        seen += 1
        if seen >= SCAN_RECORDS:
            break
    if first_keys is not None:
        name, option = next(iter(missing.items()))
        raise _missing(display, "field", name, first_keys, option)


def _missing(display: str, what: str, name: str, present: Iterable[str], option: str) -> InputError:
    names = ", ".join(map(str, present)) or "none"
    plural = "columns" if what == "column" else "fields"
    return InputError(f"{display}: no {what} {name!r} ({plural}: {names}); choose one with {option}")


def refuse_split(display: str, split: str, what: str) -> None:
    """Raise when a split is chosen for a source that has none (``what`` says which kind of source it is)."""
    if split != DEFAULT_SPLIT:
        raise InputError(f"{display}: no split {split!r}: {what} has no splits; --split is for a saved DatasetDict")


def iter_rows(rows: Iterable[Mapping[str, Any]], display: str, stem: str, fields: Fields) -> Iterator[Entry]:
    """Items of a stream of row dicts (Parquet, Arrow, datasets), numbered from 1."""
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
            raise InputError(f"{display}: cannot read past row {n} ({first_line(exc)}); fix the file") from None
        n += 1
        yield row_item(row, fields, f"{display}:row {n}", f"{stem}:{n}")


def batch_rows(batches: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Rows of Arrow record batches as dicts, converted a slice at a time."""
    for batch in batches:
        for start in range(0, batch.num_rows, STREAM_BATCH_ROWS):
            yield from batch.slice(start, STREAM_BATCH_ROWS).to_pylist()


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, for a one-line error."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
