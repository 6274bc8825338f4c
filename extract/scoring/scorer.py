"""Evaluate a run against a gold set: :func:`evaluate` and :func:`load_predictions`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from extract.core.errors import InputError
from extract.core.gold import GoldSet
from extract.core.records import Alignment, DocumentResult, Status, Usage
from extract.core.schema import Incident
from extract.scoring.comparators import NameMatcher, Verdict
from extract.scoring.incidents import FIELDS, SUBFIELDS, Slot, align_incidents, lone_incident_slots
from extract.scoring.metrics import (
    VERDICT_INDEX,
    Counts,
    DetectionCounts,
    GroundingCounts,
    bootstrap_ci,
)
from extract.scoring.normalize import AliasIndex
from extract.scoring.report import summarize


@dataclass(frozen=True)
class AlignedPair:
    """A gold incident and the prediction aligned to it, with the verdict on each slot."""

    gold_index: int
    pred_index: int
    agreement: float
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class LoneIncident:
    """An incident left unmatched: a missing gold incident or a spurious prediction."""

    index: int
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class DocumentScore:
    """How one document scored, with what is needed to show the diff."""

    id: str
    status: str  # the prediction's status, or "missing" when the run has no record for it
    gold: tuple[Incident, ...]
    pred: tuple[Incident, ...]
    pairs: tuple[AlignedPair, ...]
    missing: tuple[LoneIncident, ...]
    spurious: tuple[LoneIncident, ...]
    counts: Counts
    grounding: GroundingCounts
    primary_shares: tuple[float, ...] = ()
    failure: str | None = None


@dataclass(frozen=True)
class FailedDocument:
    id: str
    reason: str
    message: str


@dataclass(frozen=True)
class EvalReport:
    """Everything :func:`evaluate` measured; :meth:`summary` gives the JSON form."""

    incidents: DetectionCounts
    slots: Counts
    fields: dict[str, Counts]
    subfields: dict[str, Counts]
    primary_accuracy: float | None
    primary_incidents: int
    grounding: GroundingCounts
    ci: dict[str, tuple[float, float] | None]
    resamples: int
    seed: int
    documents: tuple[DocumentScore, ...]
    missing_documents: tuple[str, ...]
    failed_documents: tuple[FailedDocument, ...]
    extra_documents: tuple[str, ...]
    usage: Usage = field(default_factory=Usage)
    cached_documents: int = 0
    seconds: float = 0.0
    aliases: int = 0

    @property
    def grounding_rate(self) -> float | None:
        return self.grounding.rate

    def summary(self, baseline: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON summary (see :func:`extract.scoring.report.summarize`)."""
        return summarize(self, baseline)


def load_predictions(path: str | Path) -> dict[str, DocumentResult]:
    """Read a JSONL run file: one :class:`DocumentResult` per line; a later line for an id wins."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the run file: {exc.strerror}", hint="check the --pred path") from None
    results: dict[str, DocumentResult] = {}
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                result = DocumentResult.model_validate_json(line)
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(p) for p in first["loc"])
                where = f"{loc}: " if loc else ""
                raise InputError(
                    f"{path}:{lineno}: not a valid result record: {where}{first['msg']}",
                    hint="the run file must hold one DocumentResult JSON object per line",
                ) from None
            results.pop(result.id, None)  # keep file order of the winning lines
            results[result.id] = result
    return results


def _as_mapping(predictions: Iterable[DocumentResult] | Mapping[str, DocumentResult]) -> dict[str, DocumentResult]:
    if isinstance(predictions, Mapping):
        return dict(predictions)
    out: dict[str, DocumentResult] = {}
    for result in predictions:
        out[result.id] = result
    return out


def _tally(
    slots: Iterable[Slot], fields: dict[str, list[int]], subfields: dict[str, list[int]], doc: list[int]
) -> None:
    for slot in slots:
        k = VERDICT_INDEX[slot.verdict]
        fields[slot.field][k] += 1
        doc[k] += 1
        for sub in slot.subs:
            subfields[f"{slot.field}.{sub.name}"][VERDICT_INDEX[sub.verdict]] += 1


def _grounding(result: DocumentResult | None) -> GroundingCounts:
    if result is None:
        return GroundingCounts()
    exact = fuzzy = not_found = 0
    for span in result.evidence:
        if span.alignment is Alignment.EXACT:
            exact += 1
        elif span.alignment is Alignment.FUZZY:
            fuzzy += 1
        else:
            not_found += 1
    return GroundingCounts(exact, fuzzy, not_found)


def _primary_share(slots: Iterable[Slot]) -> float:
    """Share of the gold incident's slots the prediction got exactly right."""
    gold_side = [s for s in slots if s.verdict is not Verdict.SPURIOUS]
    return sum(s.verdict is Verdict.CORRECT for s in gold_side) / len(gold_side) if gold_side else 1.0


def evaluate(
    gold: GoldSet,
    predictions: Iterable[DocumentResult] | Mapping[str, DocumentResult],
    *,
    bootstrap: int = 1000,
    seed: int = 0,
) -> EvalReport:
    """Score predictions against a gold set.

    Every gold document is scored; one with no prediction counts as an empty
    prediction and is listed in ``missing_documents``. Predictions for documents that
    are not in the gold set are ignored for the scores and listed in
    ``extra_documents``; their usage and time still count towards the run's totals.
    """
    preds = _as_mapping(predictions)
    aliases = AliasIndex(gold.aliases)
    names = NameMatcher(aliases)
    fields = {name: [0] * 5 for name in FIELDS}
    subfields = {name: [0] * 5 for name in SUBFIELDS}
    matched = spurious_total = missing_total = 0
    exact = fuzzy = not_found = 0
    shares: list[float] = []
    rows: list[list[int]] = []
    documents: list[DocumentScore] = []
    missing_documents: list[str] = []
    failed: list[FailedDocument] = []

    for doc_id in sorted(gold.documents):
        gold_incidents = tuple(gold.documents[doc_id].incidents)
        result = preds.get(doc_id)
        if result is None:
            missing_documents.append(doc_id)
            pred_incidents: tuple[Incident, ...] = ()
            status = "missing"
        else:
            pred_incidents = tuple(result.incidents)
            status = result.status.value
            if result.status is Status.FAILED:
                failure = result.failure
                failed.append(
                    FailedDocument(doc_id, failure.reason if failure else "unknown", failure.message if failure else "")
                )
        alignment = align_incidents(gold_incidents, pred_incidents, names)
        doc_counts = [0] * 5
        pairs = []
        for gi, pj, score in alignment.pairs:
            _tally(score.slots, fields, subfields, doc_counts)
            pairs.append(AlignedPair(gi, pj, score.agreement, score.slots))
        missing = []
        for gi in alignment.missing:
            slots = tuple(lone_incident_slots(gold_incidents[gi], Verdict.MISSING))
            _tally(slots, fields, subfields, doc_counts)
            missing.append(LoneIncident(gi, slots))
        spurious = []
        for pj in alignment.spurious:
            slots = tuple(lone_incident_slots(pred_incidents[pj], Verdict.SPURIOUS))
            _tally(slots, fields, subfields, doc_counts)
            spurious.append(LoneIncident(pj, slots))

        doc_shares = []
        by_gold = {pair.gold_index: pair for pair in pairs}
        for gi, incident in enumerate(gold_incidents):
            if incident.primary:
                pair = by_gold.get(gi)
                doc_shares.append(_primary_share(pair.slots) if pair is not None else 0.0)
        shares.extend(doc_shares)

        grounding = _grounding(result)
        exact, fuzzy, not_found = exact + grounding.exact, fuzzy + grounding.fuzzy, not_found + grounding.not_found
        matched += len(pairs)
        spurious_total += len(spurious)
        missing_total += len(missing)
        rows.append(
            [len(pairs), len(spurious), len(missing), *doc_counts, grounding.exact + grounding.fuzzy, grounding.total]
        )
        documents.append(
            DocumentScore(
                id=doc_id,
                status=status,
                gold=gold_incidents,
                pred=pred_incidents,
                pairs=tuple(pairs),
                missing=tuple(missing),
                spurious=tuple(spurious),
                counts=Counts.from_list(doc_counts),
                grounding=grounding,
                primary_shares=tuple(doc_shares),
                failure=(result.failure.message if result is not None and result.failure else None),
            )
        )

    usage = Usage()
    seconds = 0.0
    cached = 0
    for result in preds.values():
        usage = usage + result.usage
        seconds += result.seconds
        cached += result.usage.cached
    totals = [sum(v) for v in zip(*(f for f in fields.values()), strict=True)] if fields else [0] * 5
    per_document = np.asarray(rows, dtype=np.int64).reshape(len(rows), 10)
    return EvalReport(
        incidents=DetectionCounts(matched, spurious_total, missing_total),
        slots=Counts.from_list(totals),
        fields={name: Counts.from_list(v) for name, v in fields.items()},
        subfields={name: Counts.from_list(v) for name, v in subfields.items()},
        primary_accuracy=sum(shares) / len(shares) if shares else None,
        primary_incidents=len(shares),
        grounding=GroundingCounts(exact, fuzzy, not_found),
        ci=bootstrap_ci(per_document, bootstrap, seed),
        resamples=bootstrap,
        seed=seed,
        documents=tuple(documents),
        missing_documents=tuple(missing_documents),
        failed_documents=tuple(failed),
        extra_documents=tuple(sorted(set(preds) - set(gold.documents))),
        usage=Usage(
            requests=usage.requests, prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
        ),
        cached_documents=cached,
        seconds=round(seconds, 4),
        aliases=len(aliases),
    )
