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
from extract.core.jsonfile import read_json_object
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
    label_paths = sorted(labels_dir.glob("*.json"))
    if not label_paths:
        raise InputError(f"{labels_dir}: no label files, so there is nothing to score against", hint=_ONE_PER_ARTICLE)
    documents: dict[str, GoldDocument] = {}
    for path in label_paths:
        try:
            doc = GoldDocument.model_validate_json(_read(path))
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
        articles[doc_id] = _read(article)
    alias_path = root / "aliases.json"
    aliases = read_alias_table(alias_path) if alias_path.is_file() else {}
    return GoldSet(documents=documents, articles=articles, aliases=aliases, root=root)


_ONE_PER_ARTICLE = "add labels/<doc id>.json, one per article"

#: What an alias table looks like, for messages.
ALIAS_TABLE_SHAPE = '{"canonical name": ["variant", ...]}'


def read_alias_table(path: str | Path) -> dict[str, list[str]]:
    """An alias table ``{"canonical name": ["variant", ...]}``; an :class:`InputError` naming the file and the
    entry when it is not one."""
    data = read_json_object(path, "the alias table", ALIAS_TABLE_SHAPE)
    for canonical, variants in data.items():
        if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
            raise InputError(
                f"{path}: {json.dumps(canonical, ensure_ascii=False)}: variants must be a list of names",
                hint=f"the alias table is {ALIAS_TABLE_SHAPE}",
            )
    return data


def unreadable(exc: OSError | UnicodeDecodeError) -> str:
    """Why a gold file could not be read, in a few words (the message names the file)."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start}); save it as UTF-8"
    return f"cannot read the file ({exc.strerror or exc})"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: {unreadable(exc)}") from None
