"""Python iterables of dicts or :class:`~extract.core.records.Document` objects, read as they are pulled."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sized
from typing import Any

from extract.core.records import Document
from extract.io.rows import BadDocument, Entry, Fields, Source, row_item, type_name


def open_items(items: Iterable[Any], fields: Fields) -> Source:
    """An iterable as a source; its length is known only when it is sized (a list, not a generator).

    An iterator (a generator) can be read once only, which the source says.
    """
    count = len(items) if isinstance(items, Sized) else None
    return Source("items", lambda: _iter_items(items, fields), count=count, rereadable=not isinstance(items, Iterator))


def _iter_items(items: Iterable[Any], fields: Fields) -> Iterator[Entry]:
    for n, item in enumerate(items, 1):
        origin = f"<items>:row {n}"
        if isinstance(item, Document):
            yield Entry(item if item.origin else item.model_copy(update={"origin": origin}))
        elif isinstance(item, Mapping):
            yield row_item(item, fields, origin, f"items:{n}")
        else:
            reason = f"expected a dict or a Document, got {type_name(item)}"
            yield Entry(BadDocument(f"items:{n}", origin, reason), made_id=True)
