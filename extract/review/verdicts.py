"""Gold verdicts for the review page, taken from the scorer.

The page never compares values itself: :func:`score_run` is the one place that
calls :mod:`extract.scoring`, and turns its result into the small view types below,
so that a change in the scorer's internals is absorbed here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from extract.core.records import DocumentResult
from extract.core.schema import Incident
from extract.scoring.gold import GoldSet


@dataclass(frozen=True)
class SubVerdictView:
    """One sub-field of a composite value (``location.place``, ``aircraft.model``)."""

    name: str
    verdict: str
    gold: Any
    pred: Any


@dataclass(frozen=True)
class FieldVerdict:
    """The verdict on one slot: a field, or one item of a list field, with both values."""

    field: str
    verdict: str  # correct, partial, incorrect, missing, spurious
    gold: Any
    pred: Any
    gold_index: int | None
    pred_index: int | None
    subs: tuple[SubVerdictView, ...] = ()


@dataclass(frozen=True)
class IncidentVerdict:
    """A predicted or gold incident: matched (both indices), spurious (prediction only) or missing (gold only)."""

    kind: str
    pred_index: int | None
    gold_index: int | None
    fields: tuple[FieldVerdict, ...]


@dataclass(frozen=True)
class DocumentVerdicts:
    id: str
    incidents: tuple[IncidentVerdict, ...]
    gold: tuple[Incident, ...]
    counts: dict[str, int]
    f1: float | None
    matched: int
    spurious: int
    missing: int


@dataclass(frozen=True)
class RunVerdicts:
    documents: dict[str, DocumentVerdicts]
    slot_f1: float | None
    slot_precision: float | None
    slot_recall: float | None
    incident_f1: float | None
    matched: int
    spurious: int
    missing: int
    missing_documents: tuple[str, ...]


def _fields(slots: Any) -> tuple[FieldVerdict, ...]:
    out = []
    for slot in slots:
        subs = tuple(SubVerdictView(s.name, s.verdict.value, s.gold, s.pred) for s in slot.subs)
        out.append(
            FieldVerdict(
                slot.field,
                slot.verdict.value,
                slot.gold,
                slot.pred,
                getattr(slot, "gold_index", None),
                getattr(slot, "pred_index", None),
                subs,
            )
        )
    return tuple(out)


def score_run(gold: GoldSet, results: Mapping[str, DocumentResult]) -> RunVerdicts:
    """Score a run against gold with the project's scorer and keep what the page shows.

    Only documents that are in the gold set are scored; others get no verdicts.
    """
    from extract.scoring import evaluate

    report = evaluate(gold, results, bootstrap=0)
    documents: dict[str, DocumentVerdicts] = {}
    for doc in report.documents:
        incidents = [IncidentVerdict("matched", p.pred_index, p.gold_index, _fields(p.slots)) for p in doc.pairs]
        incidents += [IncidentVerdict("spurious", s.index, None, _fields(s.slots)) for s in doc.spurious]
        incidents += [IncidentVerdict("missing", None, m.index, _fields(m.slots)) for m in doc.missing]
        c = doc.counts
        documents[doc.id] = DocumentVerdicts(
            id=doc.id,
            incidents=tuple(incidents),
            gold=tuple(doc.gold),
            counts={
                "correct": c.correct,
                "partial": c.partial,
                "incorrect": c.incorrect,
                "missing": c.missing,
                "spurious": c.spurious,
            },
            f1=c.f1,
            matched=len(doc.pairs),
            spurious=len(doc.spurious),
            missing=len(doc.missing),
        )
    return RunVerdicts(
        documents=documents,
        slot_f1=report.slots.f1,
        slot_precision=report.slots.precision,
        slot_recall=report.slots.recall,
        incident_f1=report.incidents.f1,
        matched=report.incidents.matched,
        spurious=report.incidents.spurious,
        missing=report.incidents.missing,
        missing_documents=tuple(report.missing_documents),
    )
