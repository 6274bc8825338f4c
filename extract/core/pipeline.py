"""Extract one document: a pure function of (document, config).

Nothing here knows about batches, caches, concurrency or retries of whole
documents; those wrap :func:`extract_document` from outside. Problems with the
document or the model's answer become a failure record, never an exception,
except for configuration errors that would fail every document the same way
(wrong API key), which propagate so that a batch can stop early.

Long documents are split into overlapping chunks at paragraph or sentence
boundaries, each chunk is extracted on its own, and incidents found twice in the
overlap are merged. Documents over ``max_chars`` are refused.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import jiter
from pydantic import BaseModel, ValidationError

from extract.core import EXTRACTOR_VERSION
from extract.core.aio import run_sync
from extract.core.backend import Backend, Completion, CompletionRequest
from extract.core.candidates import MODES, OPEN, STRICT, find_candidates
from extract.core.errors import (
    AuthenticationFailed,
    BackendError,
    ConfigError,
    DocumentTooLong,
    EmptyDocument,
    ExtractError,
    ValidationFailed,
)
from extract.core.evidence import EvidenceMode, answer_model, incident_model, refs_to_incident, to_incident
from extract.core.fields import evidenced_objects
from extract.core.grounding import FUZZY_THRESHOLD, Grounder
from extract.core.injection import document_flags
from extract.core.prompts import PromptTemplate, load_prompt
from extract.core.records import (
    Alignment,
    Document,
    DocumentResult,
    EvidenceSpan,
    Failure,
    Provenance,
    RejectedItem,
    Status,
    Usage,
)
from extract.core.schema import SCHEMA_VERSION, Extraction, Incident
from extract.core.secrets import backend_secrets, redact
from extract.core.sentences import MAX_SPAN_CHARS, Sentence, number_text, split_sentences
from extract.core.support import check_values


@dataclass(frozen=True)
class ExtractConfig:
    """Everything that decides how a document is extracted."""

    backend: Backend
    prompt: PromptTemplate = field(default_factory=load_prompt)
    max_retries: int = 2
    chunk_chars: int = 12_000
    chunk_overlap: int = 1_000
    max_chars: int = 200_000
    grounding_threshold: float = FUZZY_THRESHOLD
    #: quotes: the model copies a quote for each value; refs: it cites numbered sentences.
    evidence: EvidenceMode = EvidenceMode.QUOTES
    #: Show the model the compact rendering of the schema (see :func:`~extract.core.evidence.compact_schema`).
    compact_schema: bool = False
    #: Refs mode: sentences longer than this are shown (and cited) as several numbered spans.
    span_chars: int = MAX_SPAN_CHARS
    #: Offer the document's own names, numbers and dates as enums in the schema (for grammar-constrained
    #: backends): True (or "open") with a free-text twin for each, "strict" without (and without a summary).
    candidates: bool | str = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "evidence", EvidenceMode(self.evidence))
        if self.candidates not in (True, False, OPEN, STRICT):
            raise ConfigError(f"unknown candidates mode {self.candidates!r}", hint=f"use {' or '.join(MODES)}")
        object.__setattr__(self, "candidates", STRICT if self.candidates == STRICT else bool(self.candidates))

    @property
    def schema_style(self) -> str:
        return "compact" if self.compact_schema else "full"

    def provenance(self) -> Provenance:
        return Provenance(
            prompt=self.prompt.name,
            prompt_hash=self.prompt.hash,
            schema_version=SCHEMA_VERSION,
            backend=self.backend.name,
            model=self.backend.model,
            extractor_version=EXTRACTOR_VERSION,
            evidence=self.evidence.value,
            schema_style=self.schema_style,
            candidates=self.candidates,
        )


# A step yields a request and is sent back a Completion or the BackendError it raised.
_Steps = Generator[CompletionRequest, "Completion | BackendError", DocumentResult]


async def aextract_document(document: Document, config: ExtractConfig) -> DocumentResult:
    """Extract the incidents of one document: the one path, async, that batching and engines wrap.

    The record carries the document's flags (text addressed to the model), whatever the outcome.
    """
    result = await _aextract(document, config)
    flags = document_flags(document.text)
    return result.model_copy(update={"flags": flags}) if flags else result


async def _aextract(document: Document, config: ExtractConfig) -> DocumentResult:
    steps = _steps(document, config)
    try:
        request = next(steps)
        while True:
            outcome: Completion | BackendError
            try:
                outcome = await config.backend.complete(request)
            except (AuthenticationFailed, ConfigError):
                raise
            except BackendError as exc:
                outcome = exc
            except Exception as exc:  # one broken document must never stop a batch
                return _unexpected(document, config, exc)
            request = steps.send(outcome)
    except StopIteration as stop:
        return stop.value


def extract_document(document: Document, config: ExtractConfig) -> DocumentResult:
    """:func:`aextract_document` for synchronous callers (scripts, notebooks with a running loop too)."""
    return run_sync(aextract_document(document, config))


def failure_result(
    document_id: str, config: ExtractConfig, error: ExtractError, seconds: float = 0.0
) -> DocumentResult:
    """A failure record for a document that could not be extracted."""
    attempts = getattr(error, "attempts", 0) or 0
    usage = getattr(error, "usage", None)
    message = error.message + (f" ({error.hint})" if error.hint else "")
    return DocumentResult(
        id=document_id,
        status=Status.FAILED,
        failure=Failure(
            reason=error.reason,
            message=redact(message, backend_secrets(config.backend)),
            attempts=attempts,
            signal=getattr(error, "signal", None) or None,
        ),
        usage=usage if isinstance(usage, Usage) else Usage(),
        attempts=attempts,
        seconds=round(seconds, 4),
        provenance=config.provenance(),
    )


def _unexpected(document: Document, config: ExtractConfig, exc: Exception) -> DocumentResult:
    error = ExtractError(f"unexpected {type(exc).__name__}: {exc}", hint="please report this with the document")
    error.reason = "unexpected"
    return failure_result(document.id, config, error)


@dataclass(frozen=True)
class _Chunk:
    """One request's worth of a document: its text (quotes mode) or its numbered sentences (refs mode)."""

    text: str
    sentences: tuple[Sentence, ...] = ()


def _chunks(text: str, config: ExtractConfig) -> list[_Chunk]:
    if config.evidence is EvidenceMode.QUOTES:
        return [_Chunk(c) for c in split_text(text, config.chunk_chars, config.chunk_overlap)]
    return [_Chunk(number_text(group), group) for group in split_sentence_groups(text, config)]


def split_sentence_groups(text: str, config: ExtractConfig) -> list[tuple[Sentence, ...]]:
    """The numbered sentences of ``text`` in groups of about ``chunk_chars``, overlapping by about
    ``chunk_overlap``; numbers run through the whole document, so a citation means one place."""
    sentences = split_sentences(text, config.span_chars)
    if not sentences:
        return []
    groups: list[tuple[Sentence, ...]] = []
    first = 0
    while True:
        last = first
        while last + 1 < len(sentences) and sentences[last + 1].end - sentences[first].start <= config.chunk_chars:
            last += 1
        groups.append(sentences[first : last + 1])
        if last + 1 >= len(sentences):
            return groups
        back = last if config.chunk_overlap > 0 else first
        while back > first and sentences[last].end - sentences[back].start < config.chunk_overlap:
            back -= 1
        # the next group starts at the sentence that gives about chunk_overlap characters of overlap,
        # or right after this one when no such sentence lies after this group's first
        first = back if back > first else last + 1


@dataclass(frozen=True)
class PlannedRequest:
    """One chunk's request, as the pipeline sends it, with the chunk's text and numbered sentences."""

    request: CompletionRequest
    text: str
    sentences: tuple[Sentence, ...] = ()


def plan_requests(document: Document, config: ExtractConfig) -> list[PlannedRequest]:
    """The requests a document is extracted with, one per chunk, before any is sent.

    The one place where a chunk becomes a prompt and an answer model: extraction sends these, and
    training (:mod:`extract.training`) renders its examples from them, so a model is taught on
    exactly the prompts and the schema it is later asked with.
    """
    chunks = _chunks(document.text, config)
    planned: list[PlannedRequest] = []
    for k, chunk in enumerate(chunks):
        chunk_id = document.id if len(chunks) == 1 else f"{document.id}#{k}"
        numbers = (chunk.sentences[0].number, chunk.sentences[-1].number) if chunk.sentences else (0, 0)
        offered = None
        if config.candidates:
            offered = find_candidates(
                document.text[chunk.sentences[0].start : chunk.sentences[-1].end] if chunk.sentences else chunk.text,
                strict=config.candidates == STRICT,
            )
        model = answer_model(
            config.evidence, numbers[1], config.compact_schema, first=numbers[0] or 1, candidates=offered
        )
        request = CompletionRequest(
            messages=tuple(config.prompt.render(chunk.text, chunk_id)),
            response_model=model,
            document_id=chunk_id,
            prompt_hash=config.prompt.hash,
            schema_version=SCHEMA_VERSION,
            max_retries=config.max_retries,
            evidence=config.evidence.value,
        )
        planned.append(PlannedRequest(request, chunk.text, chunk.sentences))
    return planned


#: An incident with the sentence numbers of its values (by evidence path, refs mode only).
_Found = tuple[Incident, dict[str, list[int]]]


def _steps(document: Document, config: ExtractConfig) -> _Steps:
    started = time.perf_counter()
    text = document.text
    if not text.strip():
        error: ExtractError = EmptyDocument("document is empty or only white space", hint="nothing to extract")
        return failure_result(document.id, config, error)
    if len(text) > config.max_chars:
        error = DocumentTooLong(
            f"document has {len(text):,} characters, over the limit of {config.max_chars:,}",
            hint="split it, or raise the limit with --max-chars",
        )
        return failure_result(document.id, config, error)

    planned = plan_requests(document, config)
    sentences = {s.number: s for plan in planned for s in plan.sentences}
    found: list[_Found] = []
    rejected: list[RejectedItem] = []
    usages: list[Usage] = []
    attempts = 0
    failures: list[BackendError] = []
    for plan in planned:
        request, model = plan.request, plan.request.response_model
        outcome = yield request
        if isinstance(outcome, Completion):
            usages.append(outcome.usage)
            attempts += outcome.attempts
            items = getattr(outcome.parsed, "incidents", None)
            assert isinstance(items, list)
            kept, lost = _convert(items, config, sentences, text, offset=len(rejected))
            found.extend(_without_repeats(kept))
            rejected.extend(lost)
            continue
        usages.append(outcome.usage if isinstance(outcome.usage, Usage) else Usage())
        attempts += outcome.attempts
        if isinstance(outcome, ValidationFailed):
            kept, lost = _salvage(outcome.last_response, config, model, sentences, text, offset=len(rejected))
            rejected.extend(lost)  # kept for inspection, whether or not anything valid was salvaged
            if kept:
                found.extend(_without_repeats(kept))
                if not lost:  # e.g. cut off at max_tokens between two items: say so
                    rejected.append(
                        RejectedItem(index=-1, error=f"reply did not validate as a whole: {outcome.message}")
                    )
                continue
            # Nothing valid in it: the chunk failed (a reply whose every incident was rejected is not
            # a partial answer with no incident).
        failures.append(outcome)

    elapsed = time.perf_counter() - started
    usage = Usage.total(usages)
    if failures and len(failures) == len(planned):
        first = failures[0]
        first.attempts, first.usage = attempts, usage
        failed = failure_result(document.id, config, first, elapsed)
        return failed.model_copy(update={"rejected": rejected}) if rejected else failed

    if len(planned) > 1:
        found = [found[k] for k in _merge_keep([f[0] for f in found], text)]
    incidents = _one_primary([f[0] for f in found])
    if config.evidence is EvidenceMode.REFS:
        evidence = ground_refs(list(zip(incidents, [f[1] for f in found], strict=True)), sentences, text)
    else:
        evidence = ground_incidents(incidents, text, config.grounding_threshold)
    status = Status.PARTIAL if (rejected or failures) else Status.OK
    if failures:
        secrets = backend_secrets(config.backend)
        rejected.extend(
            RejectedItem(index=-1, error=redact(f"chunk failed: {f.reason}: {f.message}", secrets)) for f in failures
        )
    return DocumentResult(
        id=document.id,
        status=status,
        incidents=incidents,
        evidence=evidence,
        rejected=rejected,
        usage=usage,
        attempts=attempts,
        chunks=len(planned),
        seconds=round(elapsed, 4),
        provenance=config.provenance(),
    )


def _without_repeats(found: list[_Found]) -> list[_Found]:
    """One answer's incidents without exact repeats (every value and citation the same, the primary
    flag aside): a repeat is never a second event, and small models repeat list items in a loop."""
    seen: set[str] = set()
    out: list[_Found] = []
    for incident, refs in found:
        key = json.dumps([incident.model_dump(mode="json", exclude={"primary"}), refs], sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append((incident, refs))
    return out


def _convert(
    items: list[Any], config: ExtractConfig, sentences: dict[int, Sentence], text: str, offset: int
) -> tuple[list[_Found], list[RejectedItem]]:
    """Validated answer items as schema incidents (refs mode: sentence numbers turned into quotes)."""
    if config.evidence is EvidenceMode.QUOTES and all(isinstance(item, Incident) for item in items):
        return [(item, {}) for item in items], []
    kept: list[_Found] = []
    lost: list[RejectedItem] = []
    for k, item in enumerate(items):
        try:
            if config.evidence is EvidenceMode.QUOTES:
                kept.append((to_incident(item), {}))
            else:
                kept.append(refs_to_incident(item, sentences, text))
        except ValueError as exc:
            data = item.model_dump(mode="json") if hasattr(item, "model_dump") else item
            lost.append(RejectedItem(index=offset + k, error=_brief_any(exc), data=data))
    return kept, lost


def _salvage(
    raw: str | None,
    config: ExtractConfig,
    model: type[BaseModel],
    sentences: dict[int, Sentence],
    text: str,
    offset: int,
) -> tuple[list[_Found], list[RejectedItem]]:
    if model is Extraction:
        incidents, dropped = salvage(raw, offset)
        return [(i, {}) for i in incidents], dropped
    item_model = incident_model(model)
    data = _loads_lenient(raw)
    items = data.get("incidents") if isinstance(data, dict) else data if isinstance(data, list) else None
    if not isinstance(items, list):
        return [], []
    kept: list[_Found] = []
    lost: list[RejectedItem] = []
    for k, item in enumerate(items):
        try:
            valid = item_model.model_validate(item)
            if config.evidence is EvidenceMode.QUOTES:
                kept.append((to_incident(valid), {}))
            else:
                kept.append(refs_to_incident(valid, sentences, text))
        except ValueError as exc:
            lost.append(RejectedItem(index=offset + k, error=_brief_any(exc), data=item))
    return kept, lost


def _brief_any(exc: ValueError) -> str:
    return _brief(exc) if isinstance(exc, ValidationError) else str(exc)


def ground_refs(
    found: list[tuple[Incident, dict[str, list[int]]]], sentences: dict[int, Sentence], text: str
) -> list[EvidenceSpan]:
    """Evidence spans from cited sentence numbers: exact by construction, each value checked against its text."""
    spans: list[EvidenceSpan] = []
    for k, (incident, refs) in enumerate(found):
        for path, value in evidenced_objects(incident, f"incidents[{k}]"):
            numbers = refs.get("incident" + path[len(f"incidents[{k}]") :], [])
            quote = getattr(value, "quote", "")
            if numbers:
                start = min(sentences[n].start for n in numbers)
                end = max(sentences[n].end for n in numbers)
                span = EvidenceSpan(
                    path=path, quote=quote, alignment=Alignment.EXACT, start=start, end=end, score=1.0, refs=numbers
                )
            else:  # not cited by number (cannot happen for a converted answer): locate the quote
                span = Grounder(text).locate(quote, path)
            spans.append(span.model_copy(update={"checks": check_values(value, quote, text)}))
    return spans


def ground_incidents(incidents: list[Incident], text: str, threshold: float = FUZZY_THRESHOLD) -> list[EvidenceSpan]:
    """An evidence span for every quoted value of every incident, each value checked against its quote."""
    grounder = Grounder(text, threshold)
    spans: list[EvidenceSpan] = []
    for k, incident in enumerate(incidents):
        for path, value in evidenced_objects(incident, f"incidents[{k}]"):
            quote = getattr(value, "quote", "")
            span = grounder.locate(quote, path)
            spans.append(span.model_copy(update={"checks": check_values(value, quote, text)}))
    return spans


_JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


def salvage(raw: str | None, offset: int = 0) -> tuple[list[Incident], list[RejectedItem]]:
    """Keep the valid incidents of a reply that failed validation as a whole.

    Returns the incidents that validate on their own and a :class:`RejectedItem`
    with the error for each one that does not. Both lists are empty when the reply
    holds no list of incidents at all.
    """
    data = _loads_lenient(raw)
    items = data.get("incidents") if isinstance(data, dict) else data if isinstance(data, list) else None
    if not isinstance(items, list):
        return [], []
    kept: list[Incident] = []
    lost: list[RejectedItem] = []
    for k, item in enumerate(items):
        try:
            kept.append(Incident.model_validate(item))
        except ValidationError as exc:
            lost.append(RejectedItem(index=offset + k, error=_brief(exc), data=item))
    return _one_primary(kept), lost


def _loads_lenient(raw: str | None) -> Any:
    """Parse a reply that may be wrapped in prose or cut off mid-way (max_tokens)."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    start = raw.find("{")
    if start < 0:
        return None
    match = _JSON_OBJECT.search(raw, start)
    if match:
        try:
            return json.loads(match.group(0))
        except json.JSONDecodeError:
            pass
    try:
        # A truncated reply: keep what is complete; a cut-off item fails validation on its own.
        return jiter.from_json(raw[start:].encode(), partial_mode=True)
    except ValueError:
        return None


def _brief(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"{loc}: {err['msg']}" if loc else err["msg"])
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _one_primary(incidents: list[Incident]) -> list[Incident]:
    seen = False
    out = []
    for incident in incidents:
        if incident.primary and seen:
            incident = incident.model_copy(update={"primary": False})
        seen = seen or incident.primary
        out.append(incident)
    return out


def merge_incidents(incidents: list[Incident], text: str) -> list[Incident]:
    """Drop incidents found twice in overlapping chunks (same type, same grounded sentence)."""
    return _one_primary([incidents[k] for k in _merge_keep(incidents, text)])


def _merge_keep(incidents: list[Incident], text: str) -> list[int]:
    """The indices of the incidents :func:`merge_incidents` keeps."""
    grounder = Grounder(text)
    kept: list[int] = []
    spans: list[tuple[str, int, int]] = []
    for k, incident in enumerate(incidents):
        span = grounder.locate(incident.quote)
        if span.start is not None and span.end is not None:
            start, end = span.start, span.end
            if any(t == incident.type.value and start < e and s < end for t, s, e in spans):
                continue
            spans.append((incident.type.value, start, end))
        kept.append(k)
    return kept


_BREAKS = ("\n\n", "\n", ". ", " ")


def split_text(text: str, size: int, overlap: int) -> list[str]:
    """Split text into chunks of at most ``size`` characters overlapping by about ``overlap``.

    Cuts fall at the last paragraph break, else line break, else sentence end, else
    space before the limit, so that a sentence is rarely cut in two.
    """
    if len(text) <= size:
        return [text]
    overlap = max(0, min(overlap, size // 2))
    chunks = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            window = text[start:end]
            for mark in _BREAKS:
                cut = window.rfind(mark, size // 2)
                if cut > 0:
                    end = start + cut + len(mark)
                    break
        chunks.append(text[start:end])
        if end >= len(text):
            break
        start = max(end - overlap, start + 1)
    return chunks
