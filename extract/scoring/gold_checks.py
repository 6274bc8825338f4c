"""Checks of a gold directory: everything :func:`~extract.scoring.gold.load_gold` does not stop for.

:func:`validate_gold` checks verbatim quotes, alternatives paths, primaries, keys, ids,
articles, the schema version and the alias table, and returns every problem as a
:class:`GoldProblem` instead of stopping at the first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from extract.core.fields import evidenced_values
from extract.core.grounding import Grounder
from extract.core.schema import SCHEMA_VERSION, Incident
from extract.scoring.gold import ALIAS_TABLE_SHAPE, GoldDocument, GoldIncident, unreadable

#: Cross-document keys are readable lowercase slugs, e.g. ``2018-02-03-su25-downing-saraqeb``.
KEY_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

_SEGMENT = re.compile(r"^([a-z_][a-z0-9_]*)(?:\[(\d+)\])?$")

# Evidence and prose are never compared with a prediction, so an alternative for them would be dead weight.
_NOT_SCORED = frozenset({"quote", "summary"})

# Alternatives under an empty composite are never read, except under an empty date: there they mean
# "no date is required, but one given must be one of these" (see the guidelines, section 14).
_OPTIONAL_PARENTS = frozenset({"date"})

_WHOLE_NUMBER = re.compile(r"^[0-9]+$")

_EXCERPT = 100


@dataclass(frozen=True)
class GoldProblem:
    """One thing wrong in a gold directory: the file, where inside it, and what is wrong."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


def validate_gold(directory: str | Path) -> list[GoldProblem]:
    """Check a gold directory and return every problem found; an empty list means it is sound.

    Unlike :func:`load_gold` this does not stop at the first error: schema errors are
    reported as problems, and the incidents of a broken file that do validate are still
    checked. Checks: quotes occur verbatim in the article, ``alternatives`` name existing
    text fields, at most one primary per document, keys are slugs used once per document,
    ids match file names, every label has an article and every article a label, the
    schema version is current, and no alias belongs to two canonical names.
    """
    root = Path(directory)
    labels_dir = root / "labels"
    if not labels_dir.is_dir():
        return [
            GoldProblem(str(root), "", "no labels/ folder; a gold directory holds labels/*.json and articles/*.txt")
        ]
    label_paths = sorted(labels_dir.glob("*.json"))
    problems: list[GoldProblem] = []
    if not label_paths:
        problems.append(GoldProblem(str(labels_dir), "", "no label files; add labels/<doc id>.json"))
    for path in label_paths:
        problems.extend(_check_label_file(root, path))
    labelled = {path.stem for path in label_paths}
    for article in sorted((root / "articles").glob("*.txt")):
        if article.stem not in labelled:
            problems.append(
                GoldProblem(str(article), "", f"article has no label file; add labels/{article.stem}.json or remove it")
            )
    problems.extend(_check_aliases(root / "aliases.json"))
    return problems


def _check_label_file(root: Path, path: Path) -> list[GoldProblem]:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return [GoldProblem(file, "", f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}")]
    except (OSError, UnicodeDecodeError) as exc:
        return [GoldProblem(file, "", unreadable(exc))]
    if not isinstance(raw, dict):
        return [GoldProblem(file, "", "a label file holds one JSON object, a gold document")]

    problems: list[GoldProblem] = []
    try:
        doc = GoldDocument.model_validate_json(text)
    except ValidationError as exc:
        problems.extend(GoldProblem(file, _format_loc(err["loc"]), err["msg"]) for err in exc.errors())
        # Keep checking what can be checked, so one typo does not hide every other problem in the file.
        doc_id, version, incidents = raw.get("id"), raw.get("schema_version", SCHEMA_VERSION), _salvage(raw)
    else:
        doc_id, version, incidents = doc.id, doc.schema_version, list(enumerate(doc.incidents))

    if isinstance(doc_id, str) and doc_id != path.stem:
        problems.append(GoldProblem(file, "id", f"id {doc_id!r} does not match the file name; set it to {path.stem!r}"))
    if version != SCHEMA_VERSION:
        problems.append(
            GoldProblem(
                file,
                "schema_version",
                f"schema_version {version!r} is not the current {SCHEMA_VERSION!r}; "
                "re-check the labels against the schema, then update it",
            )
        )
    article = root / "articles" / f"{path.stem}.txt"
    grounder: Grounder | None = None
    if article.is_file():
        try:
            # Threshold 0 so that a missing quote is always reported with its closest passage.
            grounder = Grounder(article.read_text(encoding="utf-8"), threshold=0.0)
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(GoldProblem(str(article), "", f"{unreadable(exc)}; the quotes cannot be checked"))
    else:
        problems.append(GoldProblem(file, "", f"no article at {article}; the quotes cannot be checked"))

    primaries = [f"incidents[{i}]" for i, incident in incidents if incident.primary]
    if len(primaries) > 1:
        problems.append(
            GoldProblem(
                file, "incidents", f"{len(primaries)} incidents are primary ({', '.join(primaries)}); at most one"
            )
        )
    first_with_key: dict[str, int] = {}
    for i, incident in incidents:
        prefix = f"incidents[{i}]"
        problems.extend(_check_key(file, prefix, incident.key, i, first_with_key))
        if grounder is not None:
            problems.extend(_check_quotes(file, prefix, incident, grounder))
        problems.extend(_check_alternatives(file, prefix, incident))
    return problems


def _salvage(raw: dict[str, Any]) -> list[tuple[int, GoldIncident]]:
    items = raw.get("incidents")
    if not isinstance(items, list):
        return []
    out: list[tuple[int, GoldIncident]] = []
    for i, item in enumerate(items):
        try:
            out.append((i, GoldIncident.model_validate_json(json.dumps(item))))
        except ValidationError:
            continue  # already reported by the document-level validation
    return out


def _format_loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _check_key(file: str, prefix: str, key: str, index: int, first_with_key: dict[str, int]) -> list[GoldProblem]:
    path = f"{prefix}.key"
    if not key.strip():
        return [
            GoldProblem(file, path, "key is empty; give a cross-document key such as 2018-02-03-su25-downing-saraqeb")
        ]
    if not KEY_PATTERN.match(key):
        return [GoldProblem(file, path, f"key {key!r} is not a lowercase slug of letters, digits and single hyphens")]
    if key in first_with_key:
        other = first_with_key[key]
        return [
            GoldProblem(file, path, f"key {key!r} is also used by incidents[{other}]; code each real incident once")
        ]
    first_with_key[key] = index
    return []


def _check_quotes(file: str, prefix: str, incident: GoldIncident, grounder: Grounder) -> list[GoldProblem]:
    problems: list[GoldProblem] = []
    for path, quote in evidenced_values(incident, prefix):
        if quote in grounder.text:
            continue
        span = grounder.locate(quote)
        if span.start is None or span.end is None:
            message = "quote does not occur in the article; copy it verbatim"
        else:
            found = _excerpt(grounder.text[span.start : span.end])
            if span.score >= 1.0:
                message = f"quote differs from the article only in case, spacing or typographic characters: {found!r}"
            else:
                message = (
                    f"quote does not occur verbatim in the article; closest passage "
                    f"({span.score:.0%} similar, characters {span.start}-{span.end}): {found!r}"
                )
        problems.append(GoldProblem(file, f"{path}.quote", message))
    return problems


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


def _check_alternatives(file: str, prefix: str, incident: GoldIncident) -> list[GoldProblem]:
    problems: list[GoldProblem] = []
    for field_path, values in incident.alternatives.items():
        where = f"{prefix}.alternatives[{json.dumps(field_path)}]"
        leaf, error = _resolve(incident, field_path)
        if leaf is None:
            problems.append(GoldProblem(file, where, error or "no field at this path"))
            continue
        if not values:
            problems.append(GoldProblem(file, where, "no alternatives listed; remove the entry or add values"))
        coded: str | None = None  # an empty field has nothing an alternative could repeat
        if leaf.value is not None:
            coded = str(leaf.value.value) if isinstance(leaf.value, Enum) else str(leaf.value)
        choices = [member.value for member in leaf.kind] if issubclass(leaf.kind, Enum) else None
        seen: set[str] = set()
        for alternative in values:
            if not alternative.strip():
                problems.append(GoldProblem(file, where, "an alternative is empty"))
            elif choices is not None and alternative not in choices:
                problems.append(GoldProblem(file, where, f"{alternative!r} is not one of {', '.join(choices)}"))
            elif leaf.kind is int and not _WHOLE_NUMBER.match(alternative):
                problems.append(GoldProblem(file, where, f"{alternative!r} is not a whole number written in digits"))
            elif coded is not None and alternative.casefold() == coded.casefold():
                problems.append(GoldProblem(file, where, f"{alternative!r} repeats the coded value"))
            elif alternative.casefold() in seen:
                problems.append(GoldProblem(file, where, f"{alternative!r} is listed twice"))
            seen.add(alternative.casefold())
    return problems


@dataclass(frozen=True)
class _Leaf:
    """The field an alternatives path names: its coded value (None when left empty) and its type."""

    value: Any
    kind: type


def _resolve(incident: Incident, field_path: str) -> tuple[_Leaf, None] | tuple[None, str]:
    """Follow a path such as ``aircraft[0].model`` through the incident, by value and by declared type.

    The type is followed too, so that a path below an empty date can still be checked.
    """
    model: Any = Incident
    obj: Any = incident
    segments = field_path.split(".")
    for depth, segment in enumerate(segments):
        parent = ".".join(segments[:depth]) or "the incident"
        match = _SEGMENT.match(segment)
        if match is None:
            return None, f"{segment!r} is not a field name or name[index]"
        name, index = match.group(1), match.group(2)
        # model is Incident at the top, so key, alternatives and note (annotation, not scored values) are refused.
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or name not in model.model_fields:
            return None, f"{parent} has no field {name!r}"
        if name in _NOT_SCORED:
            return None, f"{name!r} is evidence or prose, not a scored value"
        declared = _unwrap(model.model_fields[name].annotation)
        value = None if obj is None else getattr(obj, name)
        if get_origin(declared) is list:
            if index is None:
                return None, f"{name!r} is a list; name the item, e.g. {name}[0]"
            items = value or []
            if int(index) >= len(items):
                return None, f"{name!r} has {len(items)} item(s); index {index} is out of range"
            model, obj = get_args(declared)[0], items[int(index)]
        elif index is not None:
            return None, f"{name!r} is not a list; drop the [{index}]"
        else:
            model, obj = declared, value
        here = ".".join(segments[: depth + 1])
        if obj is None and depth < len(segments) - 1 and here not in _OPTIONAL_PARENTS:
            return None, f"{here} is null, so alternatives under it are never used; code {here} first"
    if not isinstance(model, type) or model is bool or not (model in (str, int) or issubclass(model, Enum)):
        return None, f"{field_path} is not a text, category or count field; alternatives apply only to those"
    return _Leaf(obj, model), None


def _unwrap(annotation: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None``."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if get_origin(annotation) in (Union, UnionType):
            args = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation


def _check_aliases(path: Path) -> list[GoldProblem]:
    if not path.is_file():
        return []
    file = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return [GoldProblem(file, "", f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}")]
    except (OSError, UnicodeDecodeError) as exc:
        return [GoldProblem(file, "", unreadable(exc))]
    if not isinstance(data, dict):
        return [GoldProblem(file, "", f"the alias table is one object: {ALIAS_TABLE_SHAPE}")]
    problems: list[GoldProblem] = []
    # Matching folds case, so two groups that share a name up to case would make the table ambiguous.
    owner: dict[str, str] = {}
    for canonical, variants in data.items():
        where = json.dumps(canonical, ensure_ascii=False)
        if not isinstance(variants, list) or not all(isinstance(v, str) and v.strip() for v in variants):
            problems.append(GoldProblem(file, where, "variants must be a list of non-empty strings"))
            continue
        for name in (canonical, *variants):
            folded = " ".join(name.split()).casefold()
            other = owner.setdefault(folded, canonical)
            if other != canonical:
                problems.append(GoldProblem(file, where, f"{name!r} also belongs to {other!r}; a name has one group"))
    return problems
