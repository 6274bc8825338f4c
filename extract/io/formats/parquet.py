"""Parquet, read a batch of rows at a time with pyarrow (imported only when a Parquet file is opened)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from extract.core.errors import InputError
from extract.io.rows import STREAM_BATCH_ROWS, Fields, Source, batch_rows, check_columns, first_line, iter_rows


def open_parquet(path: Path, display: str, fields: Fields, split: str) -> Source:
    """A ``.parquet`` file, after checking from its metadata that the text column exists and holds text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_metadata(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{display}: not a Parquet file ({first_line(exc)}); check the file") from None
    schema = metadata.schema.to_arrow_schema()
    check_columns(display, schema.names, fields)
    _check_text_type(display, fields.text, schema.field(fields.text).type)

    def batches() -> Iterator[Any]:
        # pyarrow's own batch reader rather than datasets' Parquet streaming: the latter
        # decodes a whole row group at once, and a file written with default settings
        # keeps up to a million rows in one group, so memory would grow with the corpus.
        # A buffered column stream without pre-buffering reads pages as batches need them.
        with pq.ParquetFile(path, pre_buffer=False, buffer_size=1 << 20) as parquet:
            yield from parquet.iter_batches(batch_size=STREAM_BATCH_ROWS)

    read = lambda: iter_rows(batch_rows(batches()), display, path.stem, fields)  # noqa: E731
    return Source("parquet", read, count=metadata.num_rows)


def _check_text_type(display: str, column: str, arrow_type: Any) -> None:
    """Raise when an Arrow column type is not a string type."""
    import pyarrow as pa

    texty = (pa.types.is_string, pa.types.is_large_string, getattr(pa.types, "is_string_view", lambda _t: False))
    if not any(check(arrow_type) for check in texty):
        raise InputError(f"{display}: column {column!r} holds {arrow_type}, not text; choose another with --text-field")
