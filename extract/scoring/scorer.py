"""Evaluate a run against a gold set: :func:`evaluate` and :func:`load_predictions`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from extract.core.errors import ConfigError, InputError
from extract.core.records import DocumentResult, Status, Usage
from extract.core.runfile import RunContents, read_results
from extract.core.schema import Incident
from extract.scoring.comparators import NameMatcher, Verdict
from extract.scoring.gold import GoldSet
from extract.scoring.grounding import GroundingDisagreement, reground
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
from extract.scoring.research import ResearchScores, research_scores


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
    #: Detection with compatible types counted as found (``incidents`` is strict: types must agree).
    incidents_lenient: DetectionCounts = field(default_factory=DetectionCounts)
    #: What the run file's ``evidence`` claimed; ``grounding`` is what re-grounding measured.
    grounding_claimed: GroundingCounts = field(default_factory=GroundingCounts)
    grounding_disagreements: tuple[GroundingDisagreement, ...] = ()
    #: Documents with predicted quotes but no article text to check them against.
    grounding_unchecked: tuple[str, ...] = ()
    #: Document ids that appear more than once in the run file (the later record was scored).
    duplicate_ids: tuple[str, ...] = ()
    research: ResearchScores = field(default_factory=ResearchScores)
    #: Per document, in ``documents`` order, the counts the bootstrap resamples
    #: (:data:`~extract.scoring.metrics.BOOT_COLUMNS`): what a paired comparison of two runs draws from.
    document_counts: tuple[tuple[int, ...], ...] = ()

    @property
    def grounding_rate(self) -> float | None:
        return self.grounding.rate

    def summary(self, baseline: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The JSON summary (see :func:`extract.scoring.report.summarize`)."""
        return summarize(self, baseline)


def read_predictions(path: str | Path) -> RunContents:
    """Read a run file with the reader ``extract run`` resumes from: latest record per id, and repeated ids.

    An unfinished last line (a run killed mid-write) is skipped; any other bad line is an
    :class:`InputError` naming ``file:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such run file", hint="check the --pred path")
    return read_results(path)


def load_predictions(path: str | Path) -> dict[str, DocumentResult]:
    """Read a JSONL run file: one :class:`DocumentResult` per id; a later line for an id wins."""
    return read_predictions(path).results


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
    articles: Mapping[str, str] | None = None,
    duplicates: Sequence[str] = (),
) -> EvalReport:
    """Score predictions against a gold set.

    Every gold document is scored; one with no prediction counts as an empty
    prediction and is listed in ``missing_documents``. Predictions for documents that
    are not in the gold set are ignored for the scores and listed in
    ``extra_documents``; their usage and time still count towards the run's totals.

    Every predicted quote is located again in the document's article (``articles``,
    else the gold set's own): the grounding reported is the one measured, and
    ``grounding_disagreements`` lists where the run file's ``evidence`` said otherwise.
    Incident detection (``incidents``) is strict: an aligned pair whose types differ
    (compatible types, aligned for slot credit) counts as one spurious and one missing
    incident; ``incidents_lenient`` counts it as found.
    """
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0:
        raise ConfigError(
            f"bootstrap resamples must be a whole number, 0 or more; got {bootstrap!r}",
            hint="--bootstrap 0 leaves out the confidence intervals",
        )
    preds = _as_mapping(predictions)
    texts = {**gold.articles, **(articles or {})}
    aliases = AliasIndex(gold.aliases)
    names = NameMatcher(aliases)
    fields = {name: [0] * 5 for name in FIELDS}
    subfields = {name: [0] * 5 for name in SUBFIELDS}
    matched = spurious_total = missing_total = strict_total = 0
    measured = GroundingCounts()
    claimed = GroundingCounts()
    disagreements: list[GroundingDisagreement] = []
    unchecked: list[str] = []
    research_docs: list[tuple[tuple[Incident, ...], tuple[Incident, ...]]] = []
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

        grounding = GroundingCounts()
        if result is not None and result.incidents:
            text = texts.get(doc_id)
            if text is None:
                unchecked.append(doc_id)
            else:
                checked = reground(result, text)
                grounding = checked.measured
                claimed = claimed + checked.claimed
                disagreements.extend(checked.disagreements)
        measured = measured + grounding
        strict = sum(score.same_type for _, _, score in alignment.pairs)
        matched += len(pairs)
        strict_total += strict
        spurious_total += len(spurious)
        missing_total += len(missing)
        research_docs.append((gold_incidents, pred_incidents))
        loose = len(pairs) - strict
        rows.append(
            [strict, len(spurious) + loose, len(missing) + loose, *doc_counts,
             grounding.grounded, grounding.total]
        )  # fmt: skip
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
    loose_total = matched - strict_total
    return EvalReport(
        incidents=DetectionCounts(strict_total, spurious_total + loose_total, missing_total + loose_total),
        incidents_lenient=DetectionCounts(matched, spurious_total, missing_total),
        grounding_claimed=claimed,
        grounding_disagreements=tuple(disagreements),
        grounding_unchecked=tuple(unchecked),
        duplicate_ids=tuple(duplicates),
        research=research_scores(research_docs, names),
        slots=Counts.from_list(totals),
        fields={name: Counts.from_list(v) for name, v in fields.items()},
        subfields={name: Counts.from_list(v) for name, v in subfields.items()},
        primary_accuracy=sum(shares) / len(shares) if shares else None,
        primary_incidents=len(shares),
        grounding=measured,
        ci=bootstrap_ci(per_document, bootstrap, seed),
        document_counts=tuple(tuple(row) for row in rows),
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
