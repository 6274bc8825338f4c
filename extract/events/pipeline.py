"""From run files to events, and the score of the merge against gold incident keys.

:func:`events_from_runs` is what ``extract events`` calls; :func:`evaluate_events` is the
hook ``extract eval`` calls to add an ``events`` section to its summary and report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from extract.core.errors import InputError
from extract.core.records import DocumentResult
from extract.events.claims import Mention
from extract.events.cluster import (
    ClusterConfig,
    ClusterStats,
    build_events,
    cluster_mentions,
    mentions_from_gold,
    mentions_from_results,
)
from extract.events.dates import Published, load_publication_dates
from extract.events.geocode import Gazetteer, default_gazetteer
from extract.events.records import Event
from extract.scoring.comparators import NameMatcher
from extract.scoring.coref import CorefScores, coref_scores, singletons
from extract.scoring.gold import GoldSet
from extract.scoring.incidents import align_incidents
from extract.scoring.normalize import AliasIndex

#: The publication dates of a gold set, if it has them: ``<gold>/published.json``.
GOLD_PUBLISHED = "published.json"


def read_run(path: str | Path) -> Iterator[DocumentResult]:
    """Stream the records of a run file; a bad line raises :class:`InputError` naming file and line."""
    p = Path(path)
    try:
        fh = p.open("rb")
    except OSError as exc:
        raise InputError(
            f"{p}: cannot read the run file ({exc.strerror})", hint="give a file written by extract run"
        ) from None
    with fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                yield DocumentResult.model_validate_json(raw)
            except ValidationError as exc:
                errors = exc.errors()
                what = errors[0]["msg"] if errors else str(exc)
                where = ".".join(str(x) for x in errors[0]["loc"]) if errors and errors[0]["loc"] else ""
                raise InputError(
                    f"{p}:{lineno}: not a run record ({where + ': ' if where else ''}{what})",
                    hint="events are built from the JSON Lines files extract run writes",
                ) from None


def events_from_runs(
    paths: Sequence[str | Path],
    *,
    published: Mapping[str, Published] | None = None,
    aliases: AliasIndex | None = None,
    gazetteer: Gazetteer | None = None,
    config: ClusterConfig | None = None,
    stats: ClusterStats | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Event]:
    """Cluster the incidents of one or more run files into events (deterministic order and ids).

    A document id seen in two run files is read once (the first file wins), so a run and
    its resumed copy can be given together.
    """
    gazetteer = gazetteer or default_gazetteer(aliases)
    mentions: list[Mention] = []
    seen: set[str] = set()
    for path in paths:
        for result in read_run(path):
            if result.id in seen:
                continue
            seen.add(result.id)
            mentions.extend(mentions_from_results([result], gazetteer, published))
    return build_events(mentions, aliases, config, stats, progress)


@dataclass
class EventsEvaluation:
    """Coreference scores of the merge: on gold incidents, end to end, and the singleton baselines."""

    gold_input: CorefScores
    gold_input_baseline: CorefScores
    end_to_end: CorefScores | None = None
    end_to_end_baseline: CorefScores | None = None
    gold_events: int = 0
    predicted_events: int = 0
    published_dates: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "gold_input": self.gold_input.as_dict(),
            "gold_input_singleton_baseline": self.gold_input_baseline.as_dict(),
            "gold_events": self.gold_events,
            "predicted_events_from_gold": self.predicted_events,
            "documents_with_publication_date": self.published_dates,
        }
        if self.end_to_end is not None and self.end_to_end_baseline is not None:
            out["end_to_end"] = self.end_to_end.as_dict()
            out["end_to_end_singleton_baseline"] = self.end_to_end_baseline.as_dict()
        return out

    def markdown(self) -> str:
        lines = [
            "## Events (cross-document merge)",
            "",
            f"Gold: {self.gold_events} events (incident keys); clustering the gold incidents gives "
            f"{self.predicted_events}. Publication dates known for {self.published_dates} documents.",
            "",
            "| input | clustering | MUC F1 | B³ F1 | CEAF-e F1 | CoNLL F1 |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        rows = [
            ("gold incidents", "events", self.gold_input),
            ("gold incidents", "singletons", self.gold_input_baseline),
        ]
        if self.end_to_end is not None and self.end_to_end_baseline is not None:
            rows += [("run", "events", self.end_to_end), ("run", "singletons", self.end_to_end_baseline)]
        for source, method, s in rows:
            lines.append(
                f"| {source} | {method} | {s.muc.f1:.3f} | {s.b3.f1:.3f} | {s.ceafe.f1:.3f} | {s.conll_f1:.3f} |"
            )
        lines += [""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def gold_publication_dates(gold: GoldSet) -> dict[str, Published]:
    """The gold set's publication dates (``published.json`` beside ``labels/``), or none."""
    path = gold.root / GOLD_PUBLISHED
    return load_publication_dates(path) if path.is_file() else {}


def evaluate_events(
    gold: GoldSet,
    predictions: Mapping[str, DocumentResult] | None = None,
    *,
    config: ClusterConfig | None = None,
    gazetteer: Gazetteer | None = None,
) -> EventsEvaluation:
    """Score event clustering against the gold incident keys (MUC, B³, CEAF-e, CoNLL F1).

    With gold incidents as input the score isolates the clustering. With a run, each
    predicted incident is first aligned to a gold incident of its document (the
    scorer's alignment); unaligned predictions are mentions the key lacks, unfound gold
    incidents mentions the response lacks.
    """
    aliases = AliasIndex(gold.aliases)
    gazetteer = gazetteer or default_gazetteer(aliases)
    published = gold_publication_dates(gold)
    gold_mentions = mentions_from_gold(gold, gazetteer, published)
    key: dict[str, set[tuple[str, int]]] = {}
    for m in gold_mentions:
        key.setdefault(m.key or m.ref, set()).add((m.document_id, m.index))
    key_clusters = list(key.values())
    groups = cluster_mentions(gold_mentions, aliases, config)
    response = [{(m.document_id, m.index) for m in group} for group in groups]
    result = EventsEvaluation(
        gold_input=coref_scores(key_clusters, response),
        gold_input_baseline=coref_scores(key_clusters, singletons(key_clusters)),
        gold_events=len(key_clusters),
        predicted_events=len(groups),
        published_dates=len(published),
    )
    if predictions is not None:
        names = NameMatcher(aliases)
        pred_mentions: list[Mention] = []
        ids: dict[tuple[str, int], tuple[str, int] | tuple[str, str, int]] = {}
        for doc_id in sorted(predictions):
            record = predictions[doc_id]
            gold_doc = gold.documents.get(doc_id)
            if gold_doc is not None:
                alignment = align_incidents(gold_doc.incidents, record.incidents, names)
                for gi, pj, _ in alignment.pairs:
                    ids[doc_id, pj] = (doc_id, gi)
            for pj in range(len(record.incidents)):
                ids.setdefault((doc_id, pj), ("spurious", doc_id, pj))
            pred_mentions.extend(mentions_from_results([record], gazetteer, published))
        pred_groups = cluster_mentions(pred_mentions, aliases, config)
        pred_response = [{ids[m.document_id, m.index] for m in group} for group in pred_groups]
        result.end_to_end = coref_scores(key_clusters, pred_response)
        result.end_to_end_baseline = coref_scores(key_clusters, singletons(pred_response))
        found = sum(1 for v in ids.values() if v[0] != "spurious")
        result.notes.append(
            f"End to end: {len(pred_mentions)} predicted incidents, {found} aligned to gold incidents; "
            "the rest count as mentions the key lacks."
        )
    return result
