"""How the model gives its evidence, and the answer models and schema renderings that follow.

Two modes, chosen per run (``--evidence``):

* ``quotes`` (the default): every value carries a ``quote`` copied from the article, which
  grounding then looks for in the text. The answer model is :class:`~extract.core.schema.Extraction`.
* ``refs``: the article is shown as numbered sentences (:mod:`extract.core.sentences`) and every
  value carries ``sentences``, the numbers of the sentences that state it. The pipeline turns the
  numbers back into the quoted text and its offsets, so records look the same in both modes and
  grounding is exact by construction. Numbers that do not exist fail validation (the schema
  bounds them by the document's sentence count), so the model is re-asked with the error like
  any other invalid reply; an incident that still cites a missing sentence after the re-asks is
  rejected with that error, as any incident that fails validation is. Re-asking rather than
  dropping the value: the error names the numbers allowed, a model that slipped by one or cited a
  number from another chunk usually corrects it, and a value kept without its citation would be a
  value without evidence.

The refs-mode answer model is derived from the schema's own declarations (each quote field
becomes a list of sentence numbers; every other field, validator and description is kept), so
the schema is written once.

Either mode can also be rendered compactly (:func:`compact_schema`): no pydantic ``title`` keys
below the root, no defaults the model does not need, enum lists inlined where they are used,
descriptions that only repeat an enum dropped, and the evidence field defined once in ``$defs``.
The compact rendering is its own answer model, so the full rendering (and its schema hash)
stays as it was.

With candidates (``--candidates``, :mod:`extract.core.candidates`) the schema also offers the
document's own names and numbers as enums, for backends that turn the schema into a grammar.
"""

from __future__ import annotations

import copy
import json
import re
import types
import typing
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, Field, WithJsonSchema, create_model, model_validator

from extract.core.candidates import OTHER_SUFFIX, Candidates
from extract.core.fields import Compare, field_of, fields_of
from extract.core.schema import EVIDENCE, Extraction, Incident, _Model
from extract.core.sentences import Sentence

#: The field that holds sentence numbers in refs mode (it replaces ``quote``).
REFS_FIELD = "sentences"
QUOTE_FIELD = "quote"
REFS_DESCRIPTION = "Evidence: the numbers of the article's sentences that state this value, e.g. [3] or [3, 4]."
INCIDENT_REFS_DESCRIPTION = "The numbers of the sentences that report this incident."


class EvidenceMode(StrEnum):
    """How the model cites its evidence."""

    QUOTES = "quotes"
    REFS = "refs"


class _CompactModel(_Model):
    """An answer model whose JSON schema is the compact rendering."""

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return copy.deepcopy(_compact_cached(cls, args, tuple(sorted(kwargs.items()))))


@lru_cache(maxsize=1024)
def _compact_cached(cls: type[_Model], args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    # instructor asks for the schema on every request; the full one is cached by _Model already
    return compact_schema(_Model.model_json_schema.__func__(cls, *args, **dict(kwargs)))  # type: ignore[attr-defined]


def answer_model(
    evidence: EvidenceMode | str = EvidenceMode.QUOTES,
    sentences: int = 0,
    compact: bool = False,
    first: int = 1,
    candidates: Candidates | None = None,
) -> type[BaseModel]:
    """The model the backend is asked to fill.

    In refs mode the model may cite sentences ``first`` to ``sentences`` (the numbers shown to
    it): the schema allows no others, so a grammar-constrained backend cannot produce another
    number and any other backend is re-asked when it does.

    With ``candidates`` (:func:`~extract.core.candidates.find_candidates`), the schema offers the
    document's own names for every proper-name field and its numbers for every count, as enums,
    each with a free-text twin ``<field>_other`` for a value the article does not write; sentence
    numbers become an enum too. Validation still accepts any value: the enums are for backends
    that turn the schema into a grammar.
    """
    mode = EvidenceMode(evidence)
    if mode is EvidenceMode.QUOTES:
        if not compact and candidates is None:
            return Extraction
        return _derive(Extraction, None, compact, candidates)
    if sentences < first or first < 1:
        raise ValueError(f"refs mode needs sentences to cite, got numbers {first} to {sentences}")
    return _derive(Extraction, (first, sentences), compact, candidates)


OTHER_DESCRIPTION = "Only when no choice above fits: the value as the article gives or implies it."
#: Strict candidate mode bounds lists in the grammar: sentences cited per value, items per list ...
STRICT_MAX_ITEMS = 4
#: ... and incidents per request.
STRICT_MAX_INCIDENTS = 8


@lru_cache(maxsize=1024)
def _derive(
    model: type[BaseModel], refs: tuple[int, int] | None, compact: bool, candidates: Candidates | None = None
) -> type[BaseModel]:
    """``model`` with each quote field replaced by sentence numbers (when ``refs``), compact or not,
    its names and counts offered from ``candidates`` (when given)."""
    fields: dict[str, Any] = {}
    others: list[str] = []
    strict = candidates is not None and candidates.strict
    for name, info in model.model_fields.items():
        if name == QUOTE_FIELD and refs:
            description = INCIDENT_REFS_DESCRIPTION if model is Incident else REFS_DESCRIPTION
            number: Any = Annotated[int, Field(ge=refs[0], le=refs[1])]
            if candidates is not None:
                numbers = list(range(refs[0], refs[1] + 1))
                number = Annotated[number, WithJsonSchema({"enum": numbers, "type": "integer"})]
            bound: Any = {"maxItems": STRICT_MAX_ITEMS} if strict else None
            cited = (
                Annotated[list[number], EVIDENCE],
                Field(min_length=1, description=description, json_schema_extra=bound),
            )
            if strict:  # the evidence first: the values that follow are then read off the cited sentences
                fields = {REFS_FIELD: cited, **fields}
            else:
                fields[REFS_FIELD] = cited
            continue
        if strict and _is_prose(model, name):
            continue  # filled from the incident's cited sentences (fill_prose)
        annotation = _substitute(info.annotation, refs, compact, candidates)
        copied = copy.copy(info)
        if strict and get_origin(info.annotation) is list:
            # a bound in the grammar only (validation accepts more): a small model repeats list items
            # until max_tokens, and a bounded list ends its loop
            most = STRICT_MAX_INCIDENTS if name == "incidents" else STRICT_MAX_ITEMS
            extra = copied.json_schema_extra if isinstance(copied.json_schema_extra, dict) else {}
            copied.json_schema_extra = {**extra, "maxItems": most}
        choices = _choices(model, name, candidates)
        if choices is not None:
            kind = "integer" if isinstance(choices[0], int) else "string"
            enum: dict[str, Any] = {"enum": list(choices), "type": kind}
            required = info.is_required() and candidates is not None and candidates.strict
            offered: dict[str, Any] = enum if required else {"anyOf": [enum, {"type": "null"}]}
            if info.description:
                offered = {**offered, "description": info.description}
            fields[name] = (Annotated[annotation, copied, WithJsonSchema(offered)], copied)
            if candidates is not None and candidates.strict:
                continue
            other = int if kind == "integer" else str
            fields[name + OTHER_SUFFIX] = (other | None, Field(default=None, description=OTHER_DESCRIPTION))
            others.append(name)
            continue
        fields[name] = (Annotated[annotation, copied], copied)
    validators: dict[str, Any] = {
        name: model_validator(mode=dec.info.mode)(dec.func)
        for name, dec in model.__pydantic_decorators__.model_validators.items()
    }
    if others:
        validators["_fold_other"] = model_validator(mode="before")(_folder(tuple(others)))
    base = _CompactModel if compact else _Model
    derived: type[BaseModel] = create_model(
        model.__name__, __base__=base, __doc__=model.__doc__, __validators__=validators, **fields
    )
    return derived


def _choices(model: type[BaseModel], name: str, candidates: Candidates | None) -> tuple[Any, ...] | None:
    """The values a field is offered from the document, or None for a field left free."""
    if candidates is None or name not in {f.name for f in fields_of(model)}:
        return None
    info = field_of(model, name)
    if info.spec.proper and candidates.names:
        return candidates.names
    if info.spec.dated and candidates.dates:
        return candidates.dates
    annotation = model.model_fields[name].annotation
    integer = annotation is int or (
        get_origin(annotation) in (typing.Union, types.UnionType) and int in get_args(annotation)
    )
    checked_number = integer and (info.spec.compare is Compare.COUNT or bool(info.spec.checked))
    if checked_number and candidates.numbers:
        return candidates.numbers
    return None


def _is_prose(model: type[BaseModel], name: str) -> bool:
    return name in {f.name for f in fields_of(model) if f.spec.prose}


#: A prose field filled from evidence is cut to this many characters (the schema's limit for a name).
MAX_PROSE = 300


def fill_prose(data: dict[str, Any], quote: str) -> dict[str, Any]:
    """An incident's data with every prose field it lacks (the summary, in strict candidate mode) set
    to its cited text, cut at a word before :data:`MAX_PROSE` characters."""
    text = " ".join(quote.split())
    if len(text) > MAX_PROSE:
        text = text[: MAX_PROSE - 1].rsplit(" ", 1)[0] + "…"
    missing = {f.name for f in fields_of(Incident) if f.spec.prose} - data.keys()
    return {**data, **dict.fromkeys(missing, text)} if text else data


def _folder(names: tuple[str, ...]) -> Any:
    """A before-validator that moves each ``<field>_other`` into ``<field>`` when the field was left empty."""

    def fold(cls: Any, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for name in names:
            other = data.pop(name + OTHER_SUFFIX, None)
            if data.get(name) in (None, "") and other not in (None, ""):
                data[name] = other
        return data

    return classmethod(fold)


def _substitute(
    annotation: Any, refs: tuple[int, int] | None, compact: bool, candidates: Candidates | None = None
) -> Any:
    """The annotation with every schema model in it replaced by its derived model."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _derive(annotation, refs, compact, candidates)
    origin = get_origin(annotation)
    if origin is None:
        return annotation
    args = tuple(_substitute(a, refs, compact, candidates) for a in get_args(annotation))
    if origin is typing.Annotated:
        return Annotated[(args[0], *get_args(annotation)[1:])]
    if origin in (typing.Union, types.UnionType):
        return typing.Union[args]  # noqa: UP007 - built from a tuple at run time
    if origin is list:
        item: Any = args[0]
        return list[item]
    return annotation


def incident_model(answer: type[BaseModel]) -> type[BaseModel]:
    """The model of one incident of an answer model (to validate the items of a broken reply one by one)."""
    item: type[BaseModel] = get_args(answer.model_fields["incidents"].annotation)[0]
    return item


# -- the compact rendering -------------------------------------------------------------------

_ENUM_WORDS = re.compile(r"[\s,.;:()\"']+|\bor\b|\band\b")
# ', e.g. "Su-25", "Mi-8"': quoted sample values in a description.
_SAMPLES = re.compile(r",?\s*e\.g\.\s*(?:\"[^\"]*\"(?:,\s*|\s+or\s+)?)+")


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A shorter JSON schema that validates the same values.

    Drops ``title`` keys below the root (instructor names the tool after the root title),
    ``default`` keys (the ``required`` list already says what may be left out), descriptions
    that only list an enum's values, and a definition's own description where every property
    that uses it describes it already, and quoted sample values (``e.g. "Su-25"``: a model
    copies them into answers where the article gives no value); writes an optional scalar as a list of types
    (``["string", "null"]``) instead of an ``anyOf``; inlines enum definitions where they are
    used; and moves the evidence field's description into one shared definition.
    """
    schema = copy.deepcopy(schema)
    defs: dict[str, Any] = schema.pop("$defs", {})
    enums = {name: d for name, d in defs.items() if "enum" in d}
    shared: dict[str, Any] = {}

    def walk(node: Any, key: str = "") -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref", "")
        name = ref.rsplit("/", 1)[-1] if ref.startswith("#/$defs/") else ""
        if name in enums:
            node = {**{k: v for k, v in node.items() if k != "$ref"}, "enum": enums[name]["enum"]}
            node.setdefault("type", enums[name].get("type", "string"))
        if key in (QUOTE_FIELD, REFS_FIELD) and "description" in node:
            evidence = {k: v for k, v in node.items() if k != "title"}
            def_name = "Quote" if key == QUOTE_FIELD else "Sentences"
            if shared.setdefault(def_name, evidence) == evidence:
                return {"$ref": f"#/$defs/{def_name}"}
        out: dict[str, Any] = {}
        for k, v in node.items():
            if k in ("title", "default"):
                continue
            if k == "properties":
                out[k] = {p: walk(sub, p) for p, sub in v.items()}
            else:
                out[k] = walk(v)
        if isinstance(out.get("description"), str):
            out["description"] = _SAMPLES.sub("", out["description"]).strip()
        if "enum" in out and "description" in out and _only_enum_values(out["description"], out["enum"]):
            del out["description"]
        return _nullable_scalar(out)

    title = schema.get("title")
    described = _described_everywhere(schema, defs)
    body = walk(schema)
    kept = {name: walk(d) for name, d in defs.items() if name not in enums}
    for name in described & kept.keys():
        kept[name].pop("description", None)
    kept.update(shared)
    body, kept = _share_enums(body, kept)
    result: dict[str, Any] = {}
    if title:
        result["title"] = title
    result.update(body)
    if kept:
        result["$defs"] = kept
    return result


def _share_enums(body: dict[str, Any], defs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Long enum lists used more than once (a document's candidate names) become one shared definition."""
    seen: dict[str, int] = {}

    def count(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("enum"), list) and len(node["enum"]) > 8:
                key = json.dumps(node, sort_keys=True)
                seen[key] = seen.get(key, 0) + 1
            for v in node.values():
                count(v)
        elif isinstance(node, list):
            for v in node:
                count(v)

    count(body)
    count(defs)
    names = {key: f"Choices{k + 1}" for k, key in enumerate(k for k, n in seen.items() if n > 1)}
    if not names:
        return body, defs

    def replace(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("enum"), list) and (key := json.dumps(node, sort_keys=True)) in names:
                return {"$ref": f"#/$defs/{names[key]}"}
            return {k: replace(v) for k, v in node.items()}
        if isinstance(node, list):
            return [replace(v) for v in node]
        return node

    shared = {name: json.loads(key) for key, name in names.items()}
    return replace(body), {**{k: replace(v) for k, v in defs.items()}, **shared}


def _nullable_scalar(node: dict[str, Any]) -> dict[str, Any]:
    """``{"anyOf": [{"type": T, ...}, {"type": "null"}]}`` as ``{"type": [T, "null"], ...}`` for a scalar T."""
    options = node.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or {"type": "null"} not in options:
        return node
    other = options[0] if options[1] == {"type": "null"} else options[1]
    if other.get("type") not in ("string", "integer", "number", "boolean") or set(other) - {
        "type",
        "minimum",
        "maximum",
    }:
        return node
    out = {k: v for k, v in node.items() if k != "anyOf"}
    out.update({k: v for k, v in other.items() if k != "type"})
    out["type"] = [other["type"], "null"]
    return out


def _described_everywhere(schema: dict[str, Any], defs: dict[str, Any]) -> set[str]:
    """Definitions every reference to which sits in a property with a description of its own."""
    described: dict[str, bool] = {}

    def visit(node: Any, owner_described: bool) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item, owner_described)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            name = ref.rsplit("/", 1)[-1]
            described[name] = described.get(name, True) and owner_described
        for key, value in node.items():
            if key == "properties":
                for prop in value.values():
                    visit(prop, "description" in prop)
            elif key in ("items", "anyOf"):
                visit(value, owner_described)
            elif key != "$defs" and isinstance(value, dict | list):
                visit(value, False)

    visit(schema, False)
    for definition in defs.values():
        visit(definition, False)
    return {name for name, ok in described.items() if ok}


def _only_enum_values(description: str, values: list[Any]) -> bool:
    words = {w for w in _ENUM_WORDS.split(description.lower()) if w}
    return bool(words) and words <= {str(v).lower() for v in values}


# -- from sentence numbers back to quotes ----------------------------------------------------


def cited_span(numbers: list[int], sentences: Mapping[int, Sentence]) -> tuple[int, int]:
    """The character span from the first cited sentence to the end of the last one."""
    chosen = [sentences[n] for n in numbers]
    return min(s.start for s in chosen), max(s.end for s in chosen)


def refs_to_incident(
    item: BaseModel | dict[str, Any], sentences: Mapping[int, Sentence], text: str
) -> tuple[Incident, dict[str, list[int]]]:
    """A refs-mode incident as a schema :class:`Incident`, with the sentence numbers of each value.

    Every ``sentences`` list becomes a ``quote``: the article's own text from the first cited
    sentence to the end of the last, so grounding finds it exactly. The numbers are returned by
    evidence path (``incident``, ``incident.location``, ``incident.aircraft[0]``: the paths of
    :func:`~extract.core.fields.evidenced_values`). Raises ``ValueError`` (a pydantic
    ``ValidationError``) for an incident that does not validate or cites a sentence that does not exist.
    """
    data = item.model_dump(mode="json") if isinstance(item, BaseModel) else item
    refs: dict[str, list[int]] = {}
    converted = _to_quotes(data, sentences, text, "incident", refs)
    return Incident.model_validate(fill_prose(converted, str(converted.get(QUOTE_FIELD, "")))), refs


def to_incident(item: BaseModel | dict[str, Any]) -> Incident:
    """A quotes-mode answer item (of any rendering) as a schema :class:`Incident`."""
    data = item.model_dump(mode="json") if isinstance(item, BaseModel) else item
    data = _without_others(data)
    return Incident.model_validate(fill_prose(data, str(data.get(QUOTE_FIELD, ""))))


def _without_others(data: Any) -> Any:
    if isinstance(data, list):
        return [_without_others(d) for d in data]
    if isinstance(data, dict):
        return {k: _without_others(v) for k, v in data.items() if not k.endswith(OTHER_SUFFIX)}
    return data


def _to_quotes(data: Any, sentences: Mapping[int, Sentence], text: str, path: str, refs: dict[str, list[int]]) -> Any:
    if isinstance(data, list):
        return [_to_quotes(d, sentences, text, f"{path}[{k}]", refs) for k, d in enumerate(data)]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        if key == REFS_FIELD or key.endswith(OTHER_SUFFIX):  # folded into their field by validation
            continue
        out[key] = _to_quotes(value, sentences, text, f"{path}.{key}", refs)
    if REFS_FIELD in data:
        numbers = data[REFS_FIELD]
        valid = isinstance(numbers, list) and bool(numbers)
        valid = valid and all(isinstance(n, int) and n in sentences for n in numbers)
        if not valid:
            raise ValueError(f"{path}.{REFS_FIELD}: {numbers!r} cites a sentence the article does not have")
        start, end = cited_span(numbers, sentences)
        out[QUOTE_FIELD] = text[start:end]
        refs[path] = sorted(set(numbers))
    return out
