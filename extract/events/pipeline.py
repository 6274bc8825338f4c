"""From run files to events, and the score of the merge against gold incident keys.

:func:`events_from_runs` is what ``extract events`` calls; :func:`evaluate_events` is the
hook ``extract eval`` calls to add an ``events`` section to its summary and report.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from extract.core.errors import OutputError
from extract.core.records import DocumentResult
from extract.core.runfile import iter_results
from extract.events.claims import Mention, build_event
from extract.events.cluster import (
    ClusterConfig,
    ClusterStats,
    cluster_mentions,
    mentions_from_gold,
    mentions_from_results,
    sweep,
    sweep_key,
)
from extract.events.dates import Published, load_publication_dates
from extract.events.geocode import Gazetteer, PlaceResolver, default_gazetteer
from extract.events.records import Event
from extract.scoring.comparators import NameMatcher
from extract.scoring.coref import CorefScores, coref_scores, singletons
from extract.scoring.gold import GoldSet
from extract.scoring.incidents import align_incidents
from extract.scoring.normalize import AliasIndex

#: The publication dates of a gold set, if it has them: ``<gold>/published.json``.
GOLD_PUBLISHED = "published.json"


#: Mentions go to disk as JSON through pydantic's serialiser (several times faster than pickling the models).
_MENTION = TypeAdapter(Mention)


class _Store:
    """A temporary SQLite file holding the mentions of a corpus, then its events, off the heap.

    Mentions go in as they are read; the sweep reads them back by (first block week, rank by
    document id and incident index); events go in as components finish and come out in the
    order of their first mention. SQLite sorts on disk, so memory stays that of the sweep.
    Each document's mentions are those of its record that is kept (see :meth:`keep`); the
    others are left out when the mentions are ranked.
    """

    def __init__(self, folder: Path):
        self.db = sqlite3.connect(folder / "events.sqlite3", isolation_level=None)
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA temp_store = FILE;
            CREATE TABLE documents (id TEXT PRIMARY KEY, run INTEGER, line INTEGER);
            CREATE TABLE mentions (doc TEXT, line INTEGER, idx INTEGER, week INTEGER, part TEXT, body BLOB);
            CREATE TABLE events (first INTEGER, body BLOB);
            """
        )
        self.db.execute("BEGIN")

    def keep(self, document_id: str, run: int, line: int) -> bool:
        """Whether the record at ``line`` of run file number ``run`` is the one kept for its document.

        Within a run file the later record wins, as for every reader of run files (a failure
        retried on resume is written again); a document already read from an earlier run file
        is not read again.
        """
        kept = self.db.execute(
            "INSERT INTO documents VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET line = excluded.line "
            "WHERE documents.run = excluded.run",
            (document_id, run, line),
        )
        return kept.rowcount == 1

    def add_mention(self, mention: Mention, line: int, key: tuple[int, str]) -> None:
        self.db.execute(
            "INSERT INTO mentions VALUES (?, ?, ?, ?, ?, ?)",
            (mention.document_id, line, mention.index, key[0], key[1], _MENTION.dump_json(mention)),
        )

    def ordered(self) -> tuple[int, Iterator[tuple[tuple[int, str], int, Mention]]]:
        """How many mentions, and (sweep key, rank, mention) in sweep order."""
        self.db.execute("COMMIT")
        self.db.executescript(
            """
            CREATE TABLE ranked AS
              SELECT ROW_NUMBER() OVER (ORDER BY doc, idx) - 1 AS seq, week, part, body
              FROM mentions JOIN documents ON mentions.doc = documents.id AND mentions.line = documents.line;
            DROP TABLE mentions;
            CREATE INDEX ranked_order ON ranked (week, part, seq);
            """
        )
        total = self.db.execute("SELECT COUNT(*) FROM ranked").fetchone()[0]
        self.db.execute("BEGIN")  # the events, in one transaction
        rows = self.db.execute("SELECT week, part, seq, body FROM ranked ORDER BY week, part, seq")
        return total, (((week, part), seq, _MENTION.validate_json(body)) for week, part, seq, body in rows)

    def add_event(self, first: int, event: Event) -> None:
        self.db.execute("INSERT INTO events VALUES (?, ?)", (first, event.to_json()))

    def events(self) -> Iterator[Event]:
        for (body,) in self.db.execute("SELECT body FROM events ORDER BY first"):
            yield Event.model_validate_json(body)

    def close(self) -> None:
        self.db.close()


def stream_events(
    paths: Sequence[str | Path],
    *,
    published: Mapping[str, Published] | None = None,
    aliases: AliasIndex | None = None,
    gazetteer: PlaceResolver | None = None,
    config: ClusterConfig | None = None,
    stats: ClusterStats | None = None,
    progress: Callable[[int, int], None] | None = None,
    workdir: str | Path | None = None,
) -> Generator[Event, None, None]:
    """Cluster the incidents of run files into events, in bounded memory; yields them in order.

    The same events, ids and order as :func:`events_from_runs`. The mentions are spilled to a
    temporary SQLite file (in ``workdir``, default the system's temporary folder) as they are
    read, then clustered one block week at a time (:func:`extract.events.cluster.sweep`): what
    is held in memory is the mentions whose block weeks are still open, not the corpus. The
    file is removed when the iterator is exhausted or closed.

    Run files are read as ``extract run`` and ``extract eval`` read them
    (:func:`extract.core.runfile.iter_results`): a last line cut off by a kill is skipped, any
    other bad line is an :class:`~extract.core.errors.InputError` naming ``file:line``, and
    within a file the later record of a document wins. A document id seen in two run files is
    read once (the first file wins), so a run and its resumed copy can be given together.
    """
    aliases = aliases or AliasIndex()
    config = config or ClusterConfig()
    gazetteer = gazetteer or default_gazetteer(aliases)
    with tempfile.TemporaryDirectory(prefix="extract-events-", dir=workdir) as folder:
        try:
            store = _Store(Path(folder))
        except sqlite3.Error as exc:
            raise _spill_error(folder, exc) from None
        try:
            for run, path in enumerate(paths):
                for line, result in iter_results(path):
                    if not store.keep(result.id, run, line):
                        continue
                    for mention in mentions_from_results([result], gazetteer, published):
                        store.add_mention(mention, line, sweep_key(mention, config))
            total, ordered = store.ordered()

            def emit(first: int, group: list[Mention]) -> None:
                store.add_event(first, build_event(group, aliases))

            sweep(ordered, emit, aliases, config, stats, progress, total)
            yield from store.events()
        except sqlite3.Error as exc:
            if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) not in _WRITE_ERRORS:
                raise
            raise _spill_error(folder, exc) from None
        finally:
            store.close()


#: SQLite's primary result codes for a spill file that cannot be written (a full disk, a file size limit).
_WRITE_ERRORS = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY})


def _spill_error(folder: str, exc: sqlite3.Error) -> OutputError:
    return OutputError(
        f"{folder}: cannot write the clustering's spill file ({exc})",
        hint="free some space, then run the command again",
    )


def events_from_runs(
    paths: Sequence[str | Path],
    *,
    published: Mapping[str, Published] | None = None,
    aliases: AliasIndex | None = None,
    gazetteer: PlaceResolver | None = None,
    config: ClusterConfig | None = None,
    stats: ClusterStats | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Event]:
    """Cluster the incidents of one or more run files into events (deterministic order and ids).

    A list of what :func:`stream_events` yields; use that to write a large corpus.
    """
    return list(
        stream_events(
            paths,
            published=published,
            aliases=aliases,
            gazetteer=gazetteer,
            config=config,
            stats=stats,
            progress=progress,
        )
    )


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


def gold_publication_dates(gold: GoldSet | str | Path) -> dict[str, Published]:
    """The publication dates of a gold set or folder (``published.json`` beside ``labels/``), or none.

    The one reader of that file, for ``extract eval``, ``events`` and ``gold validate`` alike: a file
    that is not a JSON object of dates is an :class:`~extract.core.errors.InputError` naming it.
    """
    path = (gold.root if isinstance(gold, GoldSet) else Path(gold)) / GOLD_PUBLISHED
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
