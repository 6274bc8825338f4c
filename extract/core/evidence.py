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
  rejected with that error, as any incident that fails validation is.

The refs-mode answer model is derived from the schema's own declarations (each quote field
becomes a list of sentence numbers; every other field, validator and description is kept), so
the schema is written once.

Either mode can also be rendered compactly (:func:`compact_schema`): no pydantic ``title`` keys
below the root, no defaults the model does not need, enum lists inlined where they are used,
descriptions that only repeat an enum dropped, and the evidence field defined once in ``$defs``.
The compact rendering is its own answer model, so the full rendering (and its schema hash)
stays as it was.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, Field, create_model, model_validator

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
        return compact_schema(super().model_json_schema(*args, **kwargs))


def answer_model(
    evidence: EvidenceMode | str = EvidenceMode.QUOTES, sentences: int = 0, compact: bool = False, first: int = 1
) -> type[BaseModel]:
    """The model the backend is asked to fill.

    In refs mode the model may cite sentences ``first`` to ``sentences`` (the numbers shown to
    it): the schema allows no others, so a grammar-constrained backend cannot produce another
    number and any other backend is re-asked when it does.
    """
    mode = EvidenceMode(evidence)
    if mode is EvidenceMode.QUOTES:
        return _derive(Extraction, None, compact) if compact else Extraction
    if sentences < first or first < 1:
        raise ValueError(f"refs mode needs sentences to cite, got numbers {first} to {sentences}")
    return _derive(Extraction, (first, sentences), compact)


@lru_cache(maxsize=1024)
def _derive(model: type[BaseModel], refs: tuple[int, int] | None, compact: bool) -> type[BaseModel]:
    """``model`` with each quote field replaced by sentence numbers (when ``refs``), compact or not."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name == QUOTE_FIELD and refs:
            description = INCIDENT_REFS_DESCRIPTION if model is Incident else REFS_DESCRIPTION
            number = Annotated[int, Field(ge=refs[0], le=refs[1])]
            fields[REFS_FIELD] = (
                Annotated[list[number], EVIDENCE],
                Field(min_length=1, description=description),
            )
            continue
        annotation = _substitute(info.annotation, refs, compact)
        copied = copy.copy(info)
        fields[name] = (Annotated[annotation, copied], copied)
    validators: dict[str, Any] = {
        name: model_validator(mode=dec.info.mode)(dec.func)
        for name, dec in model.__pydantic_decorators__.model_validators.items()
    }
    base = _CompactModel if compact else _Model
    derived: type[BaseModel] = create_model(
        model.__name__, __base__=base, __doc__=model.__doc__, __validators__=validators, **fields
    )
    return derived


def _substitute(annotation: Any, refs: tuple[int, int] | None, compact: bool) -> Any:
    """The annotation with every schema model in it replaced by its derived model."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _derive(annotation, refs, compact)
    origin = get_origin(annotation)
    if origin is None:
        return annotation
    args = tuple(_substitute(a, refs, compact) for a in get_args(annotation))
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


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A shorter JSON schema that validates the same values.

    Drops ``title`` keys below the root (instructor names the tool after the root title),
    ``default`` keys (the ``required`` list already says what may be left out), and
    descriptions that only list an enum's values; inlines enum definitions where they are
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
        if "enum" in out and "description" in out and _only_enum_values(out["description"], out["enum"]):
            del out["description"]
        return out

    title = schema.get("title")
    body = walk(schema)
    kept = {name: walk(d) for name, d in defs.items() if name not in enums}
    kept.update(shared)
    result: dict[str, Any] = {}
    if title:
        result["title"] = title
    result.update(body)
    if kept:
        result["$defs"] = kept
    return result


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
    return Incident.model_validate(converted), refs


def _to_quotes(data: Any, sentences: Mapping[int, Sentence], text: str, path: str, refs: dict[str, list[int]]) -> Any:
    if isinstance(data, list):
        return [_to_quotes(d, sentences, text, f"{path}[{k}]", refs) for k, d in enumerate(data)]
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        if key == REFS_FIELD:
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
