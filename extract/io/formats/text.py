"""Plain text: one ``.txt`` or ``.md`` file, or a folder of them, each file one document."""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from pathlib import Path

from extract.core.errors import InputError
from extract.core.records import Document
from extract.io.rows import BadDocument, CorpusItem, Entry, Fields, Source

#: Suffixes read as one document per file, in a folder or on their own.
TEXT_SUFFIXES = (".txt", ".md")


def open_file(path: Path, display: str, fields: Fields, split: str) -> Source:
    """One text file as one document, named by the file's stem."""
    return Source("text", lambda: iter([Entry(text_file_item(path, display, path.stem))]), count=1)


def open_folder(root: Path, display: str, fields: Fields, split: str) -> Source:
    """Every ``.txt``/``.md`` file under ``root`` (hidden ones left out), in path order, named by relative path."""
    relative: list[str] = []
    skipped = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # .git, .ipynb_checkpoints and the like
        base = Path(dirpath).relative_to(root)
        for name in filenames:
            if folder_reads(base / name):
                relative.append((base / name).as_posix())
            else:
                skipped += 1
    if not relative:
        raise InputError(f"{display}: no .txt or .md files in this folder ({skipped} other files); check the path")
    relative.sort()

    def read() -> Iterator[Entry]:
        for rel in relative:
            doc_id = rel.rsplit(".", 1)[0]
            yield Entry(text_file_item(root / rel, os.path.join(display, rel), doc_id))

    return Source("folder", read, count=len(relative))


def folder_reads(relative: Path) -> bool:
    """Whether :func:`open_folder` reads the file at this path relative to its folder."""
    hidden = any(part.startswith(".") for part in relative.parts)
    return not hidden and relative.suffix.lower() in TEXT_SUFFIXES


def text_file_item(path: Path, origin: str, doc_id: str) -> CorpusItem:
    """The file as a Document, or a BadDocument when it cannot be read or is not UTF-8 text."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return BadDocument(doc_id, origin, f"cannot read the file ({exc.strerror or exc})")
    text, problem = decode_text(data)
    if problem:
        return BadDocument(doc_id, origin, problem)
    assert text is not None
    return Document(id=doc_id, text=text, origin=origin)


def decode_text(data: bytes) -> tuple[str | None, str | None]:
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
