"""The event record: one real-world incident, with every article mention linked.

An :class:`Event` is what clustering produces from the per-article incidents of
one or more runs. It never picks one article's story: every value that reports
disagree on (who did it, the weapon, the toll, the type) is kept as a list of
:class:`Claim` or :class:`CasualtyEstimate` entries, each naming the mentions and
sources behind it. The consolidated fields (``type``, ``date``, ``location``,
``fatalities``) follow the rules stated in the README ("Events").

One event is written per JSON line (:meth:`Event.to_json`, :func:`read_events`).
The shape is versioned by :data:`EVENT_SCHEMA_VERSION`; new fields are added with
defaults so that older files still load.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from extract.core.errors import InputError
from extract.core.schema import AttributionStatus, CasualtyKind, CountQualifier, DatePrecision, IncidentType

EVENT_SCHEMA_VERSION = "1.1.0"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DateMethod(StrEnum):
    """How a date range was obtained."""

    ISO = "iso"  # the article (or record) gave an absolute date
    WEEKDAY = "weekday"  # "Saturday", "on Monday": the latest such day on or before publication
    RELATIVE = "relative"  # "yesterday", "last week", "over the last 24 hours", "since late Friday"
    MONTH = "month"  # "last December", "April", "July 8": month (and day) resolved to a year by publication
    PUBLICATION = "publication"  # no date in the record: the publication date bounds it from above only
    UNRESOLVED = "unresolved"  # nothing to anchor it


class DateRange(_Frozen):
    """When an event happened, as a closed range of days with a precision."""

    start: dt.date | None = Field(default=None, description="First possible day (inclusive).")
    end: dt.date | None = Field(default=None, description="Last possible day (inclusive).")
    precision: DatePrecision = DatePrecision.UNKNOWN
    method: DateMethod = DateMethod.UNRESOLVED
    text: str | None = Field(default=None, description="The date as written in the article.")
    anchor: dt.date | None = Field(default=None, description="The publication date it was resolved against.")

    @property
    def days(self) -> int | None:
        """Length of the range in days, or None when open."""
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).days + 1


class PlaceFlag(StrEnum):
    """Why a place has no coordinates, or why they are less certain."""

    NOT_FOUND = "not_found"  # no gazetteer entry in the country: kept as written
    NO_COUNTRY = "no_country"  # the record names no country, so the place was not looked up
    COUNTRY_INFERRED = "country_inferred"  # no country in the record: from its province or the article's other places
    AMBIGUOUS = "ambiguous"  # several entries in the country; the most populous was taken
    COUNTRY_ONLY = "country_only"  # only a country is known


class Place(_Frozen):
    """A location resolved against the GeoNames gazetteer, or kept as written with a flag."""

    written: str = Field(description="The most specific place name as the record gives it.")
    role: str = Field(description="Which record field it came from: place, near, admin1 or country.")
    geonames_id: int | None = None
    name: str | None = Field(default=None, description="The gazetteer's name for it.")
    latitude: float | None = None
    longitude: float | None = None
    population: int | None = Field(default=None, description="GeoNames' population of the town (0: not known).")
    admin1: str | None = Field(default=None, description="First-level division (gazetteer name, else as written).")
    admin2: str | None = None
    country: str | None = None
    country_code: str | None = Field(default=None, description="ISO 3166-1 alpha-2.")
    iso3: str | None = Field(default=None, description="ISO 3166-1 alpha-3.")
    iso_numeric: int | None = Field(default=None, description="ISO 3166-1 numeric (ACLED's iso column).")
    geo_precision: int | None = Field(default=None, description="ACLED geo_precision: 1, 2 or 3; None if not found.")
    flags: list[PlaceFlag] = Field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.geonames_id is not None


class MentionRef(_Frozen):
    """One incident of one article that reports the event."""

    document_id: str
    incident_index: int
    type: IncidentType
    quote: str
    primary: bool = False
    published: dt.date | None = Field(default=None, description="The article's publication date, if known.")
    date: DateRange | None = None
    place: Place | None = None
    key: str | None = Field(default=None, description="The gold incident key, when the input is gold.")

    @property
    def ref(self) -> str:
        """``<document id>#<incident index>``: how claims point at mentions."""
        return f"{self.document_id}#{self.incident_index}"


class Claim(_Frozen):
    """One value reported for the event, with who reported it and how it is attributed."""

    value: str = Field(description="The value as first written (names are grouped after normalisation).")
    variants: list[str] = Field(default_factory=list, description="Other spellings of it in the reports.")
    status: AttributionStatus | None = Field(default=None, description="For perpetrators: how it is attributed.")
    category: str | None = Field(default=None, description="For weapons, aircraft and sources: the category.")
    mentions: list[str] = Field(default_factory=list, description="Mention refs (doc#index) that report it.")
    documents: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list, description="Sources the reporting mentions name.")


class CasualtyReport(_Frozen):
    """One article's figure for one group of people."""

    mention: str
    count: int
    count_max: int | None = None
    qualifier: CountQualifier
    who: str | None = None
    low: int = Field(description="The lowest number the wording supports.")
    high: int | None = Field(default=None, description="The highest it supports; None when open-ended.")
    sources: list[str] = Field(default_factory=list)


class CasualtyEstimate(_Frozen):
    """UCDP-style low, best and high estimates of one kind of casualty, across reports."""

    kind: CasualtyKind
    low: int
    best: int
    high: int
    reports: list[CasualtyReport] = Field(default_factory=list)


class Event(_Frozen):
    """One real-world incident with every mention linked and conflicting claims kept."""

    id: str = Field(description="Deterministic: a hash of the sorted mention refs.")
    schema_version: str = EVENT_SCHEMA_VERSION
    type: IncidentType = Field(description="Consolidated type (see the README's rules).")
    types: list[Claim] = Field(default_factory=list, description="Every type the mentions give.")
    date: DateRange | None = None
    location: Place | None = None
    mentions: list[MentionRef]
    documents: list[str] = Field(default_factory=list)
    perpetrators: list[Claim] = Field(default_factory=list)
    weapons: list[Claim] = Field(default_factory=list)
    aircraft: list[Claim] = Field(default_factory=list)
    operators: list[Claim] = Field(default_factory=list, description="Who flew the aircraft, per report.")
    sources: list[Claim] = Field(default_factory=list)
    casualties: list[CasualtyEstimate] = Field(default_factory=list)
    fatalities: int | None = Field(default=None, description="Consolidated deaths: the most conservative figure.")
    summary: str | None = Field(default=None, description="The summary of the primary (else first) mention.")
    conflicts: list[str] = Field(
        default_factory=list,
        description="Fields on which the reports disagree, e.g. perpetrators, weapons, fatalities.",
    )

    def to_json(self) -> str:
        return self.model_dump_json()


def write_events(events: Iterable[Event], path: str | Path) -> int:
    """Write events as JSON Lines; returns how many."""
    n = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for event in events:
            fh.write(event.to_json() + "\n")
            n += 1
    return n


def read_events(path: str | Path) -> Iterator[Event]:
    """Read an events JSONL file; a bad line raises :class:`InputError` naming file and line."""
    p = Path(path)
    try:
        fh = p.open(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{p}: cannot read ({exc.strerror})") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield Event.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as exc:
                first = str(exc).splitlines()[0]
                raise InputError(f"{p}:{lineno}: not an event record: {first}") from None
