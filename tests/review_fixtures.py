"""Runs for the review site's tests: perturbed gold for the seeds, and one with hostile text everywhere."""

from __future__ import annotations

import json
from pathlib import Path

from extract.core.fields import evidenced_values
from extract.core.grounding import Grounder
from extract.core.records import DocumentResult, Failure, RejectedItem, Status
from extract.core.schema import (
    AttributionStatus,
    Incident,
    IncidentType,
    Location,
    Perpetrator,
    Source,
    SourceKind,
)
from extract.scoring.gold import load_gold
from extract.testing.synthetic_runs import PROVENANCE, synthetic_run

REPO = Path(__file__).resolve().parents[1]
GOLD = REPO / "gold"

SCRIPT = "<script>window.__pwned = (window.__pwned || 0) + 1</script>"
IMG = '<img src="nowhere.png" onerror="window.__pwned = (window.__pwned || 0) + 1">'
HOSTILE_ARTICLE = (
    f"Rebels {SCRIPT} shot down a jet near Saraqeb {IMG} on Monday, the monitor said.\n\n"
    "A second paragraph says nothing more."
)
HOSTILE_ID = 'evil"><img src=x onerror=alert(1)>'


def write_run(path: Path, results: list[DocumentResult]) -> Path:
    path.write_text("".join(r.to_json() + "\n" for r in results), encoding="utf-8")
    return path


def write_articles(path: Path, texts: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in texts.items()), encoding="utf-8")
    return path


FAILED_ID = "zz-not-in-gold-failed"


def seed_run(path: Path, seed: int = 1) -> Path:
    """Perturbed gold predictions for the five seed articles (every verdict kind occurs), and one failure."""
    failed = DocumentResult(
        id=FAILED_ID,
        status=Status.FAILED,
        failure=Failure(reason="timeout", message="the server did not answer within 120 s", attempts=4),
        provenance=PROVENANCE,
    )
    return write_run(path, [*synthetic_run(load_gold(GOLD), seed=seed).results, failed])


def hostile_run(folder: Path) -> tuple[Path, Path]:
    """A run and its articles in which the article, the model's values, errors and the id carry markup."""
    incident = Incident(
        type=IncidentType.AIRCRAFT_DOWNING,
        quote=f"Rebels {SCRIPT} shot down a jet",
        summary=f"Summary {SCRIPT} {IMG}",
        location=Location(place=f"Saraqeb {IMG}", country="Syria", quote=f"near Saraqeb {IMG}"),
        perpetrators=[Perpetrator(name=f"Rebels {SCRIPT}", status=AttributionStatus.CLAIMED, quote="Rebels")],
        sources=[Source(name=f"monitor {IMG}", kind=SourceKind.MONITOR, quote=f"invented {SCRIPT} quote")],
    )
    grounder = Grounder(HOSTILE_ARTICLE)
    evidence = [grounder.locate(q, p) for p, q in evidenced_values(incident, "incidents[0]")]
    ok = DocumentResult(
        id=HOSTILE_ID,
        status=Status.PARTIAL,
        incidents=[incident],
        evidence=evidence,
        rejected=[RejectedItem(index=1, error=f"quote: {SCRIPT}", data={"summary": IMG})],
        provenance=PROVENANCE,
    )
    failed = DocumentResult(
        id="failed-doc",
        status=Status.FAILED,
        failure=Failure(reason="validation", message=f"never validated: {IMG}", attempts=3),
        provenance=PROVENANCE,
    )
    run = write_run(folder / "hostile.jsonl", [ok, failed])
    articles = write_articles(folder / "articles.jsonl", {HOSTILE_ID: HOSTILE_ARTICLE, "failed-doc": SCRIPT})
    return run, articles
