"""Re-grounding: every predicted quote is located in the article again when a run is scored.

A run file says, in ``evidence``, where each quote was found. The scorer does not take
its word for it: it finds every quote of every predicted incident in the article text
itself (with the same :class:`~extract.core.grounding.Grounder` the extraction uses), and
reports where the file's claim and the re-check disagree. A tool that writes its own
evidence can then claim any grounding rate it likes; the rate reported is the measured one.
"""

from __future__ import annotations

from dataclasses import dataclass

from extract.core.fields import evidenced_objects
from extract.core.grounding import Grounder
from extract.core.records import Alignment, DocumentResult, EvidenceSpan
from extract.core.support import check_values
from extract.scoring.metrics import GroundingCounts

#: What a disagreement shows when one side has no span for a path.
ABSENT = "absent"


@dataclass(frozen=True)
class GroundingDisagreement:
    """A quote whose alignment in the run file differs from the one measured in the article."""

    document: str
    path: str
    quote: str
    claimed: str  # the run file's alignment, or "absent" when it has no span for the path
    measured: str  # the alignment found now, or "absent" for a span with no quoted value behind it


@dataclass(frozen=True)
class Regrounded:
    """One document's quotes, located again: measured and claimed counts, and where they differ."""

    measured: GroundingCounts
    claimed: GroundingCounts
    disagreements: tuple[GroundingDisagreement, ...]


def count_alignments(spans: list[EvidenceSpan]) -> GroundingCounts:
    """Exact, fuzzy and not-found spans of a list, and how many found ones state all their checked values."""
    exact = sum(s.alignment is Alignment.EXACT for s in spans)
    fuzzy = sum(s.alignment is Alignment.FUZZY for s in spans)
    unsupported = sum(s.alignment is not Alignment.NOT_FOUND and not s.supported for s in spans)
    values = sum(len(s.checks) for s in spans)
    stated = sum(c.supported for s in spans for c in s.checks)
    return GroundingCounts(exact, fuzzy, len(spans) - exact - fuzzy, unsupported, values, stated)


def reground(result: DocumentResult, text: str) -> Regrounded:
    """Locate every quote of a document's predicted incidents in its article, whatever ``evidence`` says,
    and check again that each quote states the values it is cited for."""
    grounder = Grounder(text)
    measured = [
        grounder.locate(part.quote, path).model_copy(update={"checks": check_values(part, part.quote, text)})  # type: ignore[attr-defined]
        for k, incident in enumerate(result.incidents)
        for path, part in evidenced_objects(incident, f"incidents[{k}]")
    ]
    claimed = {span.path: span for span in result.evidence}
    disagreements = []
    for span in measured:
        said = claimed.get(span.path)
        if said is None:
            disagreements.append(GroundingDisagreement(result.id, span.path, span.quote, ABSENT, span.alignment.value))
        elif said.alignment is not span.alignment or said.quote.strip() != span.quote:
            disagreements.append(
                GroundingDisagreement(result.id, span.path, said.quote, said.alignment.value, span.alignment.value)
            )
    quoted = {span.path for span in measured}
    for path, said in claimed.items():
        if path not in quoted:
            disagreements.append(GroundingDisagreement(result.id, path, said.quote, said.alignment.value, ABSENT))
    return Regrounded(count_alignments(measured), count_alignments(list(result.evidence)), tuple(disagreements))
