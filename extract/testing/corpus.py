"""Sample corpora for tests and benchmarks: short synthetic articles, each with a document marker.

The marker (``[doc:ID]``) lets the fake server tell which document a request is about,
whatever the prompt around it looks like.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

MARKER = re.compile(r"\[doc:([^\]\s]+)\]")


def doc_marker(document_id: str) -> str:
    """A tag to put in a test article so the server can tell which document a request is for."""
    return f"[doc:{document_id}]"


_PLACES = ("Idlib", "Aleppo", "Hama", "Homs", "Daraa", "Deir ez-Zor", "Raqqa", "Latakia", "Saraqeb", "Palmyra")


def sample_documents(n: int, prefix: str = "doc", *, sentences: int = 3) -> list[dict[str, str]]:
    """``n`` short test articles as ``{"id", "text"}`` records, each tagged with its :func:`doc_marker`.

    The first sentence differs per document, so the default reply's quote grounds
    exactly; ``sentences`` pads each article for size.
    """
    docs = []
    for k in range(n):
        doc_id = f"{prefix}-{k:05d}"
        place = _PLACES[k % len(_PLACES)]
        lines = [f"Shelling hit the outskirts of {place} on Monday, killing {k % 17 + 2} civilians in report {k}."]
        lines += [f"Local monitors described the attack in detail, paragraph {j}." for j in range(1, sentences)]
        docs.append({"id": doc_id, "text": " ".join(lines) + f" {doc_marker(doc_id)}"})
    return docs


def write_corpus(path: str | Path, n: int, prefix: str = "doc", *, sentences: int = 3) -> Path:
    """Write :func:`sample_documents` as a JSON Lines corpus and return its path."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as fh:
        for record in sample_documents(n, prefix, sentences=sentences):
            fh.write(json.dumps(record) + "\n")
    return path


# -- reading requests -----------------------------------------------------------------
