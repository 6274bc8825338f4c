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

Every item has its own id. An id the source gives is kept; an id the reader makes
up (``coll:2`` for line 2 of ``coll.jsonl`` when it has none, ``x@coll.jsonl:2``
for a second ``x``) never takes an id the source gives anywhere, before or after it,
nor one made up earlier: it gets a ``#2``, ``#3``... suffix instead. So every
document is extracted under its own id, and every read gives the same ids.

Nothing reads the whole corpus into memory: text and CSV files are read line by
line, JSON arrays element by element (with ijson), Parquet and saved datasets a
batch of rows at a time. Only the ids seen so far are kept, to catch duplicates. A file found
corrupt part-way (a CSV whose quoting breaks, an invalid byte in a CSV) raises
:class:`~extract.core.errors.InputError` when reading gets there.

Each format is one module in :mod:`extract.io.formats` (``pyarrow`` and
``datasets`` are imported only when a source needs them); the registry below,
:data:`SUFFIX_OPENERS` and :data:`FOLDER_OPENERS`, picks the module for a path.
This module keeps what every format shares: :class:`Corpus`, which numbers,
limits and de-duplicates, and the dispatch.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from extract.core.errors import ConfigError, InputError
from extract.core.records import Document
from extract.io.formats import csv_file, hf_datasets, items, json_file, jsonl, parquet, text
from extract.io.rows import (
    DEFAULT_ID_FIELD,
    DEFAULT_SPLIT,
    DEFAULT_TEXT_FIELD,
    BadDocument,
    CorpusItem,
    Entry,
    Fields,
    Source,
    refuse_split,
)

#: The failure reason of an item whose id an earlier item of the corpus already has.
DUPLICATE_ID = "duplicate_id"

#: Suffixes read as one document per file, in a folder or on their own.
TEXT_SUFFIXES = text.TEXT_SUFFIXES
#: Keys under which a ``.json`` object may hold its list of records (the first in the file that holds one).
JSON_LIST_KEYS = json_file.JSON_LIST_KEYS

__all__ = ["JSON_LIST_KEYS", "TEXT_SUFFIXES", "BadDocument", "Corpus", "CorpusItem", "open_corpus", "reads_path"]

#: Opens a path of one format: ``(path, display name, fields, split) -> Source``.
Opener = Callable[[Path, str, Fields, str], Source]

#: The registry: a file's suffix picks its format. A new format is one module in
#: ``extract/io/formats/`` and one entry here.
SUFFIX_OPENERS: dict[str, Opener] = {
    ".txt": text.open_file,
    ".md": text.open_file,
    ".jsonl": jsonl.open_jsonl,
    ".json": json_file.open_json,
    ".csv": csv_file.open_csv,
    ".parquet": parquet.open_parquet,
}
#: A folder is read by the first opener whose test it passes.
FOLDER_OPENERS: tuple[tuple[Callable[[Path], bool], Opener], ...] = (
    (hf_datasets.is_saved_dataset, hf_datasets.open_saved),
    (lambda _path: True, text.open_folder),
)
#: The openers of sources that may have splits (which check ``--split`` themselves); every other refuses one.
SPLIT_OPENERS: tuple[Opener, ...] = (hf_datasets.open_saved,)


class Corpus:
    """A lazily read corpus: iterate it for :class:`Document` and :class:`BadDocument` items.

    ``name`` is the path as given (or ``<dataset>``, ``<items>``) and ``kind`` the
    format. ``length`` is the number of items iteration yields when that is cheap
    to know (computed on first access, at most one fast pass over the file), else
    ``None``. Iterating again reads the source again, which works for files and
    datasets but not for a one-shot generator. Ids are made unique here, for every
    source (see :class:`IdBook`); to do so each id is kept with where it was first
    seen, which is the only memory that grows with the corpus.
    """

    def __init__(
        self,
        name: str,
        kind: str,
        read: Callable[[], Iterator[Entry]],
        *,
        count: Callable[[], int | None] | int | None = None,
        limit: int | None = None,
        rereadable: bool = True,
    ):
        self.name = name
        self.kind = kind
        self.limit = limit
        self.rereadable = rereadable
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
        book = IdBook(self._given_ids if self.rereadable else None)
        entries = self._read()
        try:
            for n, (item, made_id) in enumerate(entries, 1):
                origin = item.origin or self.name
                item_id, earlier = book.enter(item.id, made_id, origin)
                if earlier is not None:
                    item = BadDocument(
                        item_id,
                        origin,
                        f"duplicate id {item.id!r}: first seen at {earlier}; not extracted "
                        "(give every document its own id)",
                        kind=DUPLICATE_ID,
                    )
                elif item_id != item.id:
                    item = (
                        dataclasses.replace(item, id=item_id)
                        if isinstance(item, BadDocument)
                        else item.model_copy(update={"id": item_id})
                    )
                yield item
                if self.limit is not None and n >= self.limit:
                    break
        finally:
            _close(entries)

    def _given_ids(self) -> set[str]:
        """Every id the source itself gives (a whole pass over it, the limit not applied)."""
        entries = self._read()
        try:
            return {item.id for item, made_id in entries if not made_id}
        finally:
            _close(entries)

    def documents(self) -> Iterator[Document]:
        """Only the good documents (for callers that record bad ones some other way)."""
        return (item for item in self if isinstance(item, Document))

    def __repr__(self) -> str:
        return f"Corpus({self.name!r}, kind={self.kind!r})"  # no length: it may cost a pass over the file


def open_corpus(
    source: Any,
    *,
    id_field: str = DEFAULT_ID_FIELD,
    text_field: str = DEFAULT_TEXT_FIELD,
    limit: int | None = None,
    split: str = DEFAULT_SPLIT,
) -> Corpus:
    """Open ``source`` as a :class:`Corpus` after checking what concerns the whole source.

    ``source`` is a path (folder, ``.txt``, ``.md``, ``.jsonl``, ``.json``, ``.csv``,
    ``.parquet`` or a ``save_to_disk`` folder), a ``datasets`` dataset or dataset
    dict, or an iterable of dicts or documents. ``split`` picks the split of a
    dataset dict (another source refuses one); ``limit`` stops after that many items.
    ``id_field`` may be missing from every record when it is the default (ids are then
    made up from positions); a field named otherwise must be there, as ``text_field``
    must. Raises :class:`InputError` when the source cannot be used at all.
    """
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be 0 or more, got {limit}; pass a count of documents to read")
    fields = Fields(id_field, text_field)
    if isinstance(source, (str, os.PathLike)):
        display = str(source)
        # Read by its absolute path (shown as given), so that a Ray read task elsewhere reads the same file.
        return _corpus(display, _open_path(Path(source).absolute(), display, fields, split), limit)
    if hf_datasets.is_datasets_object(source):
        return _corpus("<dataset>", hf_datasets.open_dataset(source, "<dataset>", fields, split), limit)
    if isinstance(source, (Document, Mapping, bytes)):
        raise InputError(
            f"cannot read a corpus from a single {type(source).__name__}; pass a path, a dataset or a list of documents"
        )
    if isinstance(source, Iterable):
        refuse_split("<items>", split, "a Python iterable")
        return _corpus("<items>", items.open_items(source, fields), limit)
    raise InputError(
        f"cannot read a corpus from {type(source).__name__}; "
        "pass a path, a dataset or an iterable of dicts or documents"
    )


class IdBook:
    """The ids a pass over a corpus has handed out, so that no two items share one.

    An id the source gives is kept; a later item with the same id is a duplicate, and
    gets an id of its own (the repeated id with where it was found), so that its
    failure record never replaces the first one's record. An id the reader made up is
    changed with a ``#N`` suffix when it equals an id handed out already or one the
    source gives further on. Finding the latter takes one pass over the source's ids
    (``given_ids``), made the first time an id is made up; a source that can be read
    only once has none (``None``), and a real id that then turns up after an equal
    made-up one is a duplicate, with its own record.
    """

    def __init__(self, given_ids: Callable[[], set[str]] | None):
        self._given_ids = given_ids
        self._given: set[str] | None = None
        self._first_seen: dict[str, str] = {}

    def enter(self, item_id: str, made_id: bool, origin: str) -> tuple[str, str | None]:
        """The id the item found at ``origin`` gets, and where its own id was first seen if it is a duplicate."""
        earlier = None if made_id else self._first_seen.get(item_id)
        if made_id:
            item_id = self._fresh(item_id)
        elif earlier is not None:
            item_id = self._fresh(f"{item_id}@{origin}")
        self._first_seen[item_id] = origin
        return item_id, earlier

    def _fresh(self, wanted: str) -> str:
        if self._given is None:
            self._given = self._given_ids() if self._given_ids is not None else set()
        candidate, n = wanted, 1
        while candidate in self._first_seen or candidate in self._given:
            n += 1
            candidate = f"{wanted}#{n}"
        return candidate


def _close(entries: Iterator[Entry]) -> None:
    # Close files now when the caller stops early, not at garbage collection.
    close = getattr(entries, "close", None)
    if close is not None:
        close()


# --- dispatch --------------------------------------------------------------------------------------------------------


def _corpus(display: str, source: Source, limit: int | None) -> Corpus:
    return Corpus(display, source.kind, source.read, count=source.count, limit=limit, rereadable=source.rereadable)


def _open_path(path: Path, display: str, fields: Fields, split: str) -> Source:
    if not path.exists():
        raise InputError(f"{display}: no such file or directory; check the path")
    suffix = path.suffix.lower()
    if path.is_dir():
        opener = next(open_folder for applies, open_folder in FOLDER_OPENERS if applies(path))
        what = "a folder of text files"
    else:
        found = SUFFIX_OPENERS.get(suffix)
        if found is None:
            known = f"a folder of .txt/.md files, {', '.join(SUFFIX_OPENERS)} or a save_to_disk dataset folder"
            raise InputError(f"{display}: unknown corpus format {suffix or '(no suffix)'!r}; use {known}")
        opener, what = found, f"a {suffix} file"
    if opener not in SPLIT_OPENERS:
        refuse_split(display, split, what)
    return opener(path, display, fields, split)


def reads_path(source: Any, path: str | os.PathLike[str]) -> bool:
    """Whether reading ``source`` as a corpus would read ``path``: the same file (after resolving
    links), a file that a folder corpus picks up, or anything inside a saved dataset's folder.

    An output for which this holds would be read as input (or empty the corpus it is written over).
    """
    if not isinstance(source, (str, os.PathLike)):
        return False
    src, target = Path(source), Path(path)
    if src.is_file():
        try:
            return target.exists() and os.path.samefile(src, target)
        except OSError:
            return False
    if not src.is_dir():
        return False
    try:
        relative = target.resolve().relative_to(src.resolve())
    except ValueError:
        return False
    return hf_datasets.is_saved_dataset(src) or text.folder_reads(relative)
