"""Synthetic run records with known errors, made by perturbing gold labels.

For tests and benchmarks of what reads runs (the review site, reports): every kind
of verdict, grounding outcome and record status appears, at a chosen scale, without
a model. These records are not model output and their scores say nothing about
extraction quality.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from extract.core.fields import evidenced_values
from extract.core.grounding import Grounder
from extract.core.records import DocumentResult, Failure, Provenance, RejectedItem, Status, Usage
from extract.core.schema import (
    SCHEMA_VERSION,
    AttributionStatus,
    Incident,
    IncidentType,
    Source,
    SourceKind,
)
from extract.scoring.gold import GoldDocument, GoldSet

PROVENANCE = Provenance(
    prompt="incidents",
    prompt_hash="0" * 16,
    schema_version=SCHEMA_VERSION,
    backend="synthetic",
    model="perturbed-gold",
    extractor_version="0",
)

# An invented quote: not in any article, so grounding reports it not found.
INVENTED_QUOTE = "officials in the capital said the report could not be verified"


@dataclass(frozen=True)
class SyntheticRun:
    results: list[DocumentResult]
    gold: GoldSet


def _as_prediction(gold_incident: Incident) -> Incident:
    return Incident.model_validate(gold_incident.model_dump(exclude={"key", "alternatives", "note"}))


def _perturb(incident: Incident, rng: random.Random) -> Incident:
    update: dict[str, object] = {}
    roll = rng.random()
    if incident.date is not None and roll < 0.3:
        update["date"] = None  # missing
    if incident.location is not None and rng.random() < 0.3:
        update["location"] = incident.location.model_copy(update={"place": "Elsewhere"})  # wrong or partial
    if incident.perpetrators and rng.random() < 0.4:
        first = incident.perpetrators[0]
        status = (
            AttributionStatus.SUSPECTED
            if first.status is not AttributionStatus.SUSPECTED
            else AttributionStatus.CLAIMED
        )
        update["perpetrators"] = [first.model_copy(update={"status": status}), *incident.perpetrators[1:]]
    if incident.casualties and rng.random() < 0.3:
        group = incident.casualties[0]
        update["casualties"] = [group.model_copy(update={"count": group.count + 7}), *incident.casualties[1:]]
    if rng.random() < 0.35:
        invented = Source(name="Unnamed officials", kind=SourceKind.GOVERNMENT, quote=INVENTED_QUOTE)
        update["sources"] = [*incident.sources, invented]  # spurious and ungrounded
    return incident.model_copy(update=update)


def _result(doc_id: str, text: str, gold: GoldDocument, rng: random.Random) -> DocumentResult:
    roll = rng.random()
    if roll < 0.05:
        failure = Failure(reason="validation", message="the reply never validated after 3 attempts", attempts=3)
        return DocumentResult(id=doc_id, status=Status.FAILED, failure=failure, attempts=3, provenance=PROVENANCE)
    incidents = [_perturb(_as_prediction(g), rng) for g in gold.incidents if rng.random() > 0.2]
    if incidents and rng.random() < 0.2:  # a spurious extra incident
        incidents.append(incidents[0].model_copy(update={"type": IncidentType.ARMED_CLASH, "primary": False}))
    grounder = Grounder(text)
    evidence = [
        grounder.locate(quote, path)
        for j, incident in enumerate(incidents)
        for path, quote in evidenced_values(incident, f"incidents[{j}]")
    ]
    rejected = []
    if rng.random() < 0.15:
        rejected.append(RejectedItem(index=len(incidents), error="quote: Field required", data={"type": "shelling"}))
    return DocumentResult(
        id=doc_id,
        status=Status.PARTIAL if rejected else Status.OK,
        incidents=incidents,
        evidence=evidence,
        rejected=rejected,
        usage=Usage(requests=1, prompt_tokens=len(text) // 4, completion_tokens=300),
        attempts=1,
        provenance=PROVENANCE,
    )


def synthetic_run(gold: GoldSet, documents: int | None = None, seed: int = 0) -> SyntheticRun:
    """Perturbed predictions for ``documents`` documents (default: one per gold document).

    Beyond the gold set's size, its documents are reused under new ids
    (``syn00012-<id>``); the returned gold set holds every id, so the run can be scored.
    """
    rng = random.Random(seed)
    base = sorted(gold.documents)
    n = len(base) if documents is None else documents
    results, labels, articles = [], {}, {}
    for k, doc_id in zip(range(n), _cycle(base), strict=False):
        new_id = doc_id if documents is None else f"syn{k:05d}-{doc_id}"
        label = gold.documents[doc_id].model_copy(update={"id": new_id})
        labels[new_id], articles[new_id] = label, gold.articles[doc_id]
        results.append(_result(new_id, gold.articles[doc_id], label, rng))
    return SyntheticRun(results, GoldSet(labels, articles, gold.aliases, gold.root))


def _cycle(items: list[str]) -> Iterator[str]:
    while items:
        yield from items
