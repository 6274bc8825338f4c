"""Build one :class:`~extract.events.records.Event` from the mentions clustered into it.

Nothing here picks one article's story. Each value the mentions report becomes a
:class:`~extract.events.records.Claim` naming the mentions, documents and sources
behind it; names that are spellings of one another (``Tahrir al-Sham`` /
``Hayat Tahrir al-Sham``) are grouped with the shared normaliser and the alias table.
The consolidated fields follow fixed rules (also stated in the README):

* ``type``: the type most mentions give; a tie goes to the type of a primary mention,
  then to the first in the schema's order.
* ``date``: the intersection of the mentions' date ranges when they overlap (the
  narrowest range all reports allow), else the narrowest single range.
* ``location``: the most precise geocoded place (lowest geo_precision), ties to the one
  most mentions give; if none was found, the most specific place as written.
* casualties: per kind, each report's figure becomes a low and a high bound (exact: n..n;
  at least / more than: n..open; about: n -/+ 20%; range: n..max). Across reports,
  ``low`` is the smallest lower bound, ``high`` the largest upper bound (or lower bound
  when open-ended), ``best`` the median of the lower bounds (the lower median when
  their number is even). ``fatalities`` is the ``low`` of the killed: ACLED's most
  conservative figure.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any

from pydantic import BaseModel

from extract.core.fields import ClaimPart, Claims, fields_of
from extract.core.schema import Casualty, CasualtyKind, CountQualifier, DatePrecision, Incident, IncidentType
from extract.events.dates import Published
from extract.events.records import (
    CasualtyEstimate,
    CasualtyReport,
    Claim,
    DateRange,
    Event,
    MentionRef,
    Place,
)
from extract.scoring.comparators import ABOUT_TOLERANCE
from extract.scoring.normalize import AliasIndex, name_keys

_TYPE_ORDER = {t: i for i, t in enumerate(IncidentType)}


@dataclass(frozen=True)
class Mention:
    """One incident of one article, with what was resolved about it."""

    document_id: str
    index: int
    incident: Incident
    published: Published | None
    date: DateRange
    place: Place | None
    key: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.document_id}#{self.index}"

    def to_ref(self) -> MentionRef:
        return MentionRef(
            document_id=self.document_id,
            incident_index=self.index,
            type=self.incident.type,
            quote=self.incident.quote,
            primary=self.incident.primary,
            published=self.published.latest if self.published else None,
            date=self.date,
            place=self.place,
            key=self.key,
        )


def event_id(refs: Iterable[str]) -> str:
    """Deterministic event id: a hash of the sorted mention refs."""
    digest = hashlib.sha256("\n".join(sorted(refs)).encode()).hexdigest()
    return f"ev-{digest[:16]}"


class _Groups:
    """Groups names that share a normalised key or an alias group (first seen wins the label)."""

    def __init__(self, aliases: AliasIndex):
        self.aliases = aliases
        self.labels: list[str] = []
        self.variants: list[dict[str, None]] = []
        self._by_key: dict[str, int] = {}

    def add(self, name: str) -> int:
        keys = [k for n in self.aliases.expand([name]) for k in name_keys(n)]
        group = next((self._by_key[k] for k in keys if k in self._by_key), None)
        if group is None:
            group = len(self.labels)
            self.labels.append(name)
            self.variants.append({})
        elif name != self.labels[group]:
            self.variants[group][name] = None
        for key in keys:
            self._by_key.setdefault(key, group)
        return group


def _claims(
    mentions: Sequence[Mention],
    items: Callable[[Incident], Iterable[tuple[str, Any, Any]]],
    aliases: AliasIndex,
) -> list[Claim]:
    """Claims grouped by (name group, status-or-category), in order of first mention."""
    groups = _Groups(aliases)
    source_names = _Groups(aliases)  # spellings of one source ("Russian Defense Ministry") count once
    order: dict[tuple[int, Any], dict[str, Any]] = {}
    for mention in mentions:
        sources = [source_names.labels[source_names.add(s.name)] for s in mention.incident.sources]
        for name, status, category in items(mention.incident):
            entry = order.setdefault(
                (groups.add(name), status or category),
                {"status": status, "category": category, "mentions": {}, "documents": {}, "sources": {}},
            )
            entry["mentions"][mention.ref] = None
            entry["documents"][mention.document_id] = None
            entry["sources"].update(dict.fromkeys(sources))
    out = []
    for (group, _), entry in order.items():
        out.append(
            Claim(
                value=groups.labels[group],
                variants=list(groups.variants[group]),
                status=entry["status"],
                category=entry["category"],
                mentions=list(entry["mentions"]),
                documents=list(entry["documents"]),
                sources=list(entry["sources"]),
            )
        )
    return out


def casualty_bounds(casualty: Casualty) -> tuple[int, int | None]:
    """The lowest and highest number one casualty figure supports (high None: open-ended)."""
    n = casualty.count
    if casualty.qualifier is CountQualifier.EXACT:
        return n, n
    if casualty.qualifier is CountQualifier.RANGE:
        return n, casualty.count_max
    if casualty.qualifier is CountQualifier.ABOUT:
        return int(n * (1 - ABOUT_TOLERANCE)), round(n * (1 + ABOUT_TOLERANCE))
    return n, None  # at_least, more_than: the stated number is the conservative floor


def report_bounds(groups: Sequence[Casualty]) -> tuple[int, int | None]:
    """One report's bounds for one kind of casualty, its groups added up (high None: open-ended).

    Groups within one report are different people ("28 civilians" and "8 women" would be
    double counting, but the guidelines code one entry per disjoint group).
    """
    bounds = [casualty_bounds(c) for c in groups]
    highs = [h for _, h in bounds]
    return sum(low for low, _ in bounds), None if None in highs else sum(h for h in highs if h is not None)


def casualty_estimates(mentions: Sequence[Mention]) -> list[CasualtyEstimate]:
    """UCDP-style low/best/high per casualty kind across reports (one figure per mention)."""
    out = []
    for kind in CasualtyKind:
        reports: list[CasualtyReport] = []
        for mention in mentions:
            groups = [c for c in mention.incident.casualties if c.kind is kind]
            if not groups:
                continue
            low, high = report_bounds(groups)
            first = groups[0]
            reports.append(
                CasualtyReport(
                    mention=mention.ref,
                    count=sum(c.count for c in groups),
                    count_max=first.count_max if len(groups) == 1 else None,
                    qualifier=first.qualifier if len(groups) == 1 else CountQualifier.AT_LEAST,
                    who=", ".join(dict.fromkeys(c.who for c in groups if c.who)) or None,
                    low=low,
                    high=high,
                    sources=[s.name for s in mention.incident.sources],
                )
            )
        if not reports:
            continue
        lows = sorted(r.low for r in reports)
        out.append(
            CasualtyEstimate(
                kind=kind,
                low=lows[0],
                best=lows[(len(lows) - 1) // 2],
                high=max(r.high if r.high is not None else r.low for r in reports),
                reports=reports,
            )
        )
    return out


def _consolidated_type(mentions: Sequence[Mention]) -> IncidentType:
    counts: dict[IncidentType, int] = {}
    for mention in mentions:
        counts[mention.incident.type] = counts.get(mention.incident.type, 0) + 1
    primary = {m.incident.type for m in mentions if m.incident.primary}
    return min(counts, key=lambda t: (-counts[t], t not in primary, _TYPE_ORDER[t]))


def _precision_of(days: int) -> DatePrecision:
    if days <= 1:
        return DatePrecision.DAY
    return DatePrecision.WEEK if days <= 7 else DatePrecision.MONTH if days <= 31 else DatePrecision.YEAR


def _consolidated_date(mentions: Sequence[Mention]) -> DateRange | None:
    bounded = [m.date for m in mentions if m.date.start is not None and m.date.end is not None]
    if bounded:
        start = max(r.start for r in bounded if r.start is not None)
        end = min(r.end for r in bounded if r.end is not None)
        narrowest = min(bounded, key=lambda r: (r.days or 0, r.start, r.end))
        if start > end or (start, end) == (narrowest.start, narrowest.end):
            return narrowest
        days = (end - start).days + 1
        return narrowest.model_copy(update={"start": start, "end": end, "precision": _precision_of(days), "text": None})
    open_ended = [m.date for m in mentions if m.date.end is not None]
    if open_ended:
        return min(open_ended, key=lambda r: (r.end, r.anchor))
    return None


def _consolidated_place(mentions: Sequence[Mention]) -> Place | None:
    places = [m.place for m in mentions if m.place is not None]
    if not places:
        return None
    found = [p for p in places if p.geo_precision is not None]
    pool = found or places
    counts: dict[tuple[int | None, str], int] = {}
    for p in pool:
        counts[(p.geonames_id, p.written)] = counts.get((p.geonames_id, p.written), 0) + 1
    role_rank = {"place": 0, "near": 1, "admin1": 2, "country": 3}
    return min(
        pool,
        key=lambda p: (p.geo_precision or 9, role_rank.get(p.role, 4), -counts[(p.geonames_id, p.written)]),
    )


@dataclass(frozen=True)
class ClaimSource:
    """Where one list of an event's claims comes from, as the incident schema declares it.

    ``field`` is the incident field; ``sub`` a sub-field of its items that keeps claims of its
    own (an aircraft's operator). ``value``, ``status`` and ``category`` name the sub-fields
    that are those parts of the claim (:class:`~extract.core.fields.ClaimPart`); a scalar
    field is its own value.
    """

    field: str
    claims: Claims
    sub: str | None = None
    value: str | None = None
    status: str | None = None
    category: str | None = None
    scalar: bool = False

    def items(self, incident: Incident) -> Iterator[tuple[str, Any, Any]]:
        """(value, status, category) for each version of the value this incident reports."""
        held = getattr(incident, self.field)
        if self.scalar:
            yield _text(held), None, None
            return
        for item in held if isinstance(held, list) else [held] if held is not None else []:
            if self.sub is not None:
                value = getattr(item, self.sub)
                if value:
                    yield _text(value), None, None
                continue
            category = _text(getattr(item, self.category)) if self.category else None
            value = (getattr(item, self.value) if self.value else None) or category
            if value:
                yield value, getattr(item, self.status) if self.status else None, category


def _text(value: Any) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


@cache
def claim_sources(model: type[BaseModel] = Incident) -> tuple[ClaimSource, ...]:
    """Every claim list the schema declares (``Spec(claims=...)``), in schema order."""
    out = []
    for info in fields_of(model):
        if info.model is None:
            if info.spec.claims is not None:
                out.append(ClaimSource(info.name, info.spec.claims, scalar=True))
            continue
        parts = {p.spec.claim: p.name for p in fields_of(info.model) if p.spec.claim and p.spec.claims is None}
        if info.spec.claims is not None:
            out.append(
                ClaimSource(
                    info.name,
                    info.spec.claims,
                    value=parts.get(ClaimPart.VALUE),
                    status=parts.get(ClaimPart.STATUS),
                    category=parts.get(ClaimPart.CATEGORY),
                )
            )
        for sub in fields_of(info.model):
            if sub.spec.claims is not None:
                out.append(ClaimSource(info.name, sub.spec.claims, sub=sub.name))
    return tuple(out)


def _conflicting(claims: Sequence[Claim], on: Sequence[ClaimPart]) -> bool:
    return len({tuple(getattr(c, part.value) for part in on) for c in claims}) > 1


def build_event(mentions: Sequence[Mention], aliases: AliasIndex | None = None) -> Event:
    """One event from its mentions (given in a deterministic order)."""
    aliases = aliases or AliasIndex()
    mentions = sorted(mentions, key=lambda m: (m.document_id, m.index))
    claims: dict[str, Any] = {}
    conflicts = []
    for source in claim_sources():
        found = claims[source.claims.into] = _claims(mentions, source.items, aliases)
        if source.claims.conflict and _conflicting(found, source.claims.on):
            conflicts.append(source.claims.conflict)
    casualties = casualty_estimates(mentions)
    killed = next((c for c in casualties if c.kind is CasualtyKind.KILLED), None)
    for estimate in casualties:
        if len({(r.low, r.high) for r in estimate.reports}) > 1:
            conflicts.append("fatalities" if estimate.kind is CasualtyKind.KILLED else estimate.kind.value)
    primary = next((m for m in mentions if m.incident.primary), mentions[0])
    return Event(
        id=event_id(m.ref for m in mentions),
        type=_consolidated_type(mentions),
        date=_consolidated_date(mentions),
        location=_consolidated_place(mentions),
        mentions=[m.to_ref() for m in mentions],
        documents=list(dict.fromkeys(m.document_id for m in mentions)),
        **claims,
        casualties=casualties,
        fatalities=killed.low if killed else None,
        summary=primary.incident.summary,
        conflicts=conflicts,
    )
