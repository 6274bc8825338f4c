"""Gold labels: hand-annotated incidents for a set of articles.

Layout of a gold directory::

    gold/
      articles/<doc id>.txt     the article text the quotes refer to
      labels/<doc id>.json      one GoldDocument per article
      aliases.json              optional: {"canonical name": ["variant", ...]}
      GUIDELINES.md             the annotation rules

A gold incident is an :class:`~extract.core.schema.Incident` plus a cross-document
incident ``key`` and ``alternatives``: other acceptable values for a field, keyed
by the field's path inside the incident (``"aircraft[0].model"``,
``"location.place"``, ``"perpetrators[1].name"``).

:func:`load_gold` loads a directory and stops at the first problem;
:func:`extract.scoring.gold_checks.validate_gold` checks it thoroughly and returns
every problem. Gold is evaluation data, so it lives with the scorer, outside the
extraction path (an import-linter contract keeps it there).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, ValidationError

from extract.core.errors import InputError
from extract.core.fields import Spec
from extract.core.schema import SCHEMA_VERSION, Incident, _Model

_GOLD_ONLY = Spec(excluded="gold annotation only: the key links reports, alternatives widen what is correct")


class GoldIncident(Incident):
    """An incident as annotated, with its cross-document key and acceptable alternatives."""

    key: Annotated[str, _GOLD_ONLY] = Field(
        description="Shared by every article that reports the same real-world incident."
    )
    alternatives: Annotated[dict[str, list[str]], _GOLD_ONLY] = Field(
        default_factory=dict, description="Other acceptable values, keyed by field path inside the incident."
    )
    note: Annotated[str | None, _GOLD_ONLY] = Field(
        default=None, description="Why the annotator coded it this way, where not obvious."
    )


class GoldDocument(_Model):
    """The gold incidents of one article."""

    id: str
    schema_version: str = SCHEMA_VERSION
    incidents: list[GoldIncident] = Field(default_factory=list)
    note: str | None = None


@dataclass(frozen=True)
class GoldSet:
    """A loaded gold directory."""

    documents: dict[str, GoldDocument]
    articles: dict[str, str]
    aliases: dict[str, list[str]]
    root: Path


def load_gold(directory: str | Path, *, texts: bool = True) -> GoldSet:
    """Load a gold directory; raise :class:`InputError` naming the file on any problem.

    ``texts=False`` loads the labels without the article texts (``articles`` is then empty):
    enough to score the event clustering, which reads no text, where the texts are not
    committed.
    """
    root = Path(directory)
    labels_dir = root / "labels"
    if not labels_dir.is_dir():
        raise InputError(f"{root}: no labels/ folder", hint="a gold directory holds labels/*.json and articles/*.txt")
    documents: dict[str, GoldDocument] = {}
    for path in sorted(labels_dir.glob("*.json")):
        try:
            doc = GoldDocument.model_validate_json(path.read_text(encoding="utf-8"))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise InputError(f"{path}: {loc}: {first['msg']}", hint="fix the label file") from None
        if doc.id != path.stem:
            raise InputError(f"{path}: id {doc.id!r} does not match the file name", hint=f"set id to {path.stem!r}")
        documents[doc.id] = doc
    articles: dict[str, str] = {}
    for doc_id in documents if texts else ():
        article = root / "articles" / f"{doc_id}.txt"
        if not article.is_file():
            raise InputError(f"{article}: article text missing for gold document {doc_id}")
        articles[doc_id] = article.read_text(encoding="utf-8")
    aliases: dict[str, list[str]] = {}
    alias_path = root / "aliases.json"
    if alias_path.is_file():
        try:
            aliases = json.loads(alias_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{alias_path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    return GoldSet(documents=documents, articles=articles, aliases=aliases, root=root)
