"""Training examples: a labelled article rendered exactly as the local backend will be asked about it.

An example is one chunk's request (:func:`extract.core.pipeline.plan_requests`: the prompt
template, the evidence mode, the schema, the chunking) and the answer the model should give,
as JSON text that the request's grammar accepts: keys in the order the grammar writes them
(required first, then optional, each in declared order), optional values left out when empty,
no white space. Labels come from gold folders (hand annotation, converted corpora) or from run
files of any backend (silver labels, :func:`silver_documents`).

Everything here is free of torch; the token ids are made by :mod:`extract.training.tokens`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from extract.backends.local import answer_grammar_schema
from extract.core.errors import InputError
from extract.core.evidence import QUOTE_FIELD, REFS_FIELD, EvidenceMode
from extract.core.grounding import Grounder
from extract.core.pipeline import ExtractConfig, PlannedRequest, plan_requests
from extract.core.records import Document
from extract.core.schema import Incident
from extract.core.sentences import Sentence

#: Annotation-only keys of a gold incident: never part of an answer.
_GOLD_ONLY = ("key", "alternatives", "note")


@dataclass(frozen=True)
class Labelled:
    """An article and the incidents it should give (schema incidents, quotes located in ``text``)."""

    id: str
    text: str
    incidents: tuple[dict[str, Any], ...]
    source: str


@dataclass(frozen=True)
class Example:
    """One request and the answer to teach for it."""

    id: str
    source: str
    messages: tuple[dict[str, Any], ...]
    #: The JSON schema the local backend turns into the grammar for this request.
    schema: dict[str, Any]
    answer: str
    incidents: int


@dataclass
class RenderReport:
    """What rendering kept and dropped, and why (for the model card and the console)."""

    documents: int = 0
    examples: int = 0
    incidents: int = 0
    empty_examples: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n


# -- reading labels ------------------------------------------------------------------------------------------------


def gold_documents(directory: str | Path, source: str | None = None, *, skip_missing: bool = False) -> list[Labelled]:
    """The labelled articles of a gold folder (``articles/<id>.txt`` + ``labels/<id>.json``).

    A label whose article is missing is an error naming it (rebuild the texts first, see the
    folder's SOURCE.md), or, with ``skip_missing``, left out.
    """
    root = Path(directory)
    labels = root / "labels"
    if not labels.is_dir():
        raise InputError(f"{root}: no labels/ folder", hint="a gold folder holds labels/*.json and articles/*.txt")
    name = source or root.name
    out: list[Labelled] = []
    for path in sorted(labels.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: not a readable label file ({exc})", hint="fix or remove it") from None
        article = root / "articles" / f"{path.stem}.txt"
        try:
            text = article.read_text(encoding="utf-8")
        except FileNotFoundError:
            if skip_missing:
                continue
            raise InputError(
                f"{article}: missing article for {path.name}", hint=f"rebuild the texts (see {root}/SOURCE.md)"
            ) from None
        except UnicodeDecodeError:
            raise InputError(f"{article}: not UTF-8", hint="re-encode the article as UTF-8") from None
        incidents = tuple(
            {k: v for k, v in item.items() if k not in _GOLD_ONLY} for item in data.get("incidents") or []
        )
        out.append(Labelled(str(data.get("id") or path.stem), text, incidents, name))
    return out


def silver_documents(
    run_file: str | Path, corpus: dict[str, str], *, min_grounded: float = 1.0, source: str | None = None
) -> tuple[list[Labelled], dict[str, int]]:
    """Labels from a run file of any backend (distillation): its ``ok`` records whose evidence is grounded.

    A record is kept only when it did not fail, was not partial, carries no injection flag, and
    the share of its evidence spans found in the article (exact or fuzzy) is at least
    ``min_grounded``. ``corpus`` maps document ids to their text (the run's input). Returns the
    labelled articles and the count of records dropped by reason.
    """
    from extract.core.runfile import read_results  # the run file's one reader: the latest record per id

    path = Path(run_file)
    kept: list[Labelled] = []
    dropped: dict[str, int] = {}

    def drop(reason: str) -> None:
        dropped[reason] = dropped.get(reason, 0) + 1

    for record in read_results(path).results.values():
        if record.status.value != "ok":
            drop(f"status {record.status.value}")
            continue
        if record.flags:
            drop("flagged")
            continue
        text = corpus.get(record.id)
        if text is None:
            drop("article not in the corpus")
            continue
        spans = record.evidence
        grounded = sum(1 for s in spans if s.alignment.value != "not_found")
        if spans and grounded / len(spans) < min_grounded:
            drop("ungrounded evidence")
            continue
        incidents = tuple(i.model_dump(mode="json") for i in record.incidents)
        kept.append(Labelled(record.id, text, incidents, source or path.stem))
    return kept, dropped


# -- the answer ----------------------------------------------------------------------------------------------------


def _cite(node: Any, numbers_of: Any) -> Any:
    """A gold value with each ``quote`` turned into the numbers of the sentences it lies in.

    Returns None for an object whose quote lies outside the chunk: the caller drops it.
    """
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == QUOTE_FIELD:
                numbers = numbers_of(value)
                if not numbers:
                    return None
                out[REFS_FIELD] = numbers
            elif isinstance(value, dict):
                cited = _cite(value, numbers_of)
                out[key] = cited  # None: an optional value whose evidence is elsewhere
            elif isinstance(value, list):
                out[key] = [c for c in (_cite(v, numbers_of) for v in value) if c is not None]
            else:
                out[key] = value
        return out
    return node


def _numbers(text: str, sentences: tuple[Sentence, ...]) -> Any:
    grounder = Grounder(text)

    def numbers_of(quote: Any) -> list[int]:
        if not isinstance(quote, str):
            return []
        span = grounder.locate(quote)
        if span.start is None or span.end is None:
            return []
        start, end = span.start, span.end
        return [s.number for s in sentences if s.start < end and start < s.end]

    return numbers_of


def _in_chunk(incident: dict[str, Any], text: str, chunk: PlannedRequest) -> bool:
    quote = incident.get(QUOTE_FIELD)
    if not isinstance(quote, str):
        return False
    if chunk.sentences:
        return True  # refs mode decides by sentence numbers
    return quote in chunk.text


def order_like_grammar(schema: dict[str, Any], value: Any, root: dict[str, Any] | None = None) -> Any:
    """``value`` with every object's keys in the order the grammar writes them, empty optionals left out.

    llama.cpp's converter (``json_schema_to_gbnf``) writes the required properties first, then
    the optional ones, each in declared order, and lets an optional one be skipped.
    """
    root = root if root is not None else schema
    node = _resolve(schema, root)
    if isinstance(value, dict):
        node = _branch(node, root, dict)
        properties: dict[str, Any] = node.get("properties") or {}
        required = set(node.get("required") or [])
        names = list(properties)
        order = [n for n in names if n in required] + [n for n in names if n not in required]
        out: dict[str, Any] = {}
        for name in order:
            if name not in value:
                continue
            item = value[name]
            if name not in required and (item is None or item == [] or item is False):
                continue
            out[name] = order_like_grammar(properties[name], item, root)
        unknown = set(value) - set(properties)
        if unknown:
            raise ValueError(f"keys not in the schema: {sorted(unknown)}")
        return out
    if isinstance(value, list):
        node = _branch(node, root, list)
        items = node.get("items") or {}
        return [order_like_grammar(items, v, root) for v in value]
    return value


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = str(node["$ref"])
        name = ref.rsplit("/", 1)[-1]
        node = root.get("$defs", {})[name]
    return node


def _branch(node: dict[str, Any], root: dict[str, Any], kind: type) -> dict[str, Any]:
    """The branch of an ``anyOf`` (a nullable value) that holds an object or an array."""
    wanted = "object" if kind is dict else "array"
    for option in node.get("anyOf") or node.get("oneOf") or []:
        option = _resolve(option, root)
        if option.get("type") == wanted or (wanted == "object" and "properties" in option):
            return option
    return node


def answer_text(model: type[BaseModel], schema: dict[str, Any], incidents: list[dict[str, Any]]) -> str:
    """The answer as the model should write it: validated by the answer model, then ordered like the grammar."""
    data = model.model_validate({"incidents": incidents}).model_dump(mode="json")
    ordered = order_like_grammar(schema, data)
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))


def render(labelled: Iterable[Labelled], config: ExtractConfig, report: RenderReport | None = None) -> list[Example]:
    """Every chunk of every labelled article as an example, through the pipeline's own request planning."""
    report = report if report is not None else RenderReport()
    examples: list[Example] = []
    for doc in labelled:
        report.documents += 1
        for example in _render_one(doc, config, report):
            examples.append(example)
            report.examples += 1
            report.incidents += example.incidents
            report.empty_examples += example.incidents == 0
    return examples


def _render_one(doc: Labelled, config: ExtractConfig, report: RenderReport) -> Iterator[Example]:
    if not doc.text.strip():
        report.drop("empty article")
        return
    planned = plan_requests(Document(id=doc.id, text=doc.text), config)
    refs = config.evidence is EvidenceMode.REFS
    for chunk in planned:
        request = chunk.request
        schema = answer_grammar_schema(request.response_model.model_json_schema())
        numbers_of = _numbers(doc.text, chunk.sentences) if refs else None
        items: list[dict[str, Any]] = []
        for incident in doc.incidents:
            try:
                Incident.model_validate(incident)
            except ValidationError:
                report.drop("label does not validate")
                continue
            if refs:
                cited = _cite(incident, numbers_of)
                if cited is None:
                    if len(planned) == 1:
                        report.drop("incident quote not found in the article")
                    continue
                items.append(cited)
            elif _in_chunk(incident, doc.text, chunk):
                items.append(incident)
        kept: list[dict[str, Any]] = []
        for item in items:  # one incident that the answer model refuses must not cost the others
            try:
                request.response_model.model_validate({"incidents": [item]})
            except ValidationError:
                report.drop("incident does not fit the answer model")
                continue
            kept.append(item)
        kept = _one_primary(kept)
        try:
            answer = answer_text(request.response_model, schema, kept)
        except (ValidationError, ValueError):
            report.drop("answer does not validate")
            continue
        yield Example(
            id=request.document_id,
            source=doc.source,
            messages=tuple(dict(m) for m in request.messages),
            schema=schema,
            answer=answer,
            incidents=len(kept),
        )


def _one_primary(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen = False
    out = []
    for item in items:
        if item.get("primary") and seen:
            item = {**item, "primary": False}
        seen = seen or bool(item.get("primary"))
        out.append(item)
    return out


def examples_hash(examples: Iterable[Example]) -> str:
    """A content hash of the examples (prompts and answers): the training data's identity."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps([ex.id, ex.messages, ex.answer], ensure_ascii=False).encode())
    return digest.hexdigest()[:16]
