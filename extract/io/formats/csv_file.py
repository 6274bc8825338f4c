"""CSV with a header row, read with Python's csv module; every value stays a string."""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterator
from pathlib import Path

from extract.core.errors import InputError
from extract.io.rows import BadDocument, Entry, Fields, Source, check_columns, row_item

_CSV_FIELD_LIMIT = 2**31 - 1


def open_csv(path: Path, display: str, fields: Fields, split: str) -> Source:
    """A ``.csv`` file, after checking its header names the text column."""
    # Python's csv module rather than datasets' CSV builder (pandas): pandas silently
    # shifts a row that has one field too many (it takes the first column as an
    # index), so a stray unquoted comma would give a document the wrong id and text.
    # Here such a row becomes a BadDocument and the other rows go on. Every value
    # stays a string: ids keep leading zeros and an empty cell is "" rather than NaN.
    _allow_long_csv_fields()
    header = _csv_header(path, display)
    check_columns(display, header, fields)
    stem = path.stem

    def read() -> Iterator[Entry]:
        for n, row in _csv_rows(path, display):
            origin, fallback = f"{display}:row {n}", f"{stem}:{n}"
            if len(row) != len(header):
                reason = f"row has {len(row)} fields but the header has {len(header)}; quote fields holding commas"
                yield Entry(BadDocument(fallback, origin, reason), made_id=True)
            else:
                yield row_item(dict(zip(header, row, strict=True)), fields, origin, fallback)

    def count() -> int:
        return sum(1 for _ in _csv_rows(path, display))

    return Source("csv", read, count=count)


def _csv_header(path: Path, display: str) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh, strict=True), None)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{display}: not UTF-8 text (invalid byte 0x{exc.object[exc.start]:02x}); re-save it as UTF-8"
        ) from None
    except csv.Error as exc:
        raise InputError(
            f"{display}: line 1: cannot read the CSV header: a quote is not closed or not followed by a comma "
            f"({exc}); fix the file"
        ) from None
    if not header:
        raise InputError(f"{display}: the file is empty; expected a header row naming the columns")
    return header


def _csv_rows(path: Path, display: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, fields) of the data rows, blank lines skipped.

    Read in strict mode: the lenient reader takes a quote that is never closed as the
    start of one field running over every later line (rows merged in silence), and
    only strict mode says so. The error names the line where the broken row starts.
    """
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, strict=True)
        n = 0
        row_start = 1
        try:
            next(reader, None)  # the header
            row_start = reader.line_num + 1
            for row in reader:
                if row:
                    n += 1
                    yield n, row
                row_start = reader.line_num + 1
        except (UnicodeDecodeError, csv.Error) as exc:
            # The reader cannot resynchronise after a bad byte or a broken quote, so the
            # rest of the file is unreadable: a problem of the source, not of one row.
            if isinstance(exc, UnicodeDecodeError):
                raise InputError(
                    f"{display}: cannot read past line {reader.line_num} (not UTF-8 text); fix the file"
                ) from None
            spans = f" (read on to line {reader.line_num})" if reader.line_num > row_start else ""
            raise InputError(
                f"{display}: line {row_start}: a quote in this row is not closed or not followed by a comma "
                f"({exc}){spans}; fix the quoting: a field holding quotes is quoted, its quotes doubled"
            ) from None


@functools.cache
def _allow_long_csv_fields() -> None:
    # The csv module refuses fields over 128 KiB by default; articles can be longer.
    # The limit is process-wide, and this only ever raises it.
    if csv.field_size_limit() < _CSV_FIELD_LIMIT:
        csv.field_size_limit(_CSV_FIELD_LIMIT)
