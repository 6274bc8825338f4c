"""The incident schema: what the model is asked to return, and what gold labels use.

Field descriptions are written for the model and the human reader at once: they
reach the model through the JSON schema. Every value carries a ``quote`` copied
from the article, which grounding later locates in the text.

Bump :data:`SCHEMA_VERSION` on any change that alters the JSON schema; it goes into
every output record and every cache key.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
from enum import StrEnum
from functools import cache, lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from extract.core.fields import (
    PLACE_QUALIFIERS,
    SCORED_BY_PARENT,
    SCORED_WITH_COUNT,
    ClaimPart,
    Claims,
    Compare,
    Family,
    Spec,
)

SCHEMA_VERSION = "1.0.0"

_HAS_WORD = re.compile(r"\w")
_ISO_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


# Length limits live in validators, not in the JSON schema: llama.cpp unrolls a
# maxLength into one grammar rule per character, and long limits crash it.
MAX_QUOTE = 2000
MAX_NAME = 300


def _check_quote(value: str) -> str:
    value = value.strip()
    if not _HAS_WORD.search(value):
        raise ValueError("quote must be text copied from the article, not punctuation or an empty string")
    if len(value) > MAX_QUOTE:
        raise ValueError(f"quote is {len(value)} characters; copy only the passage that states the value")
    return value


def _check_name(value: str) -> str:
    value = " ".join(value.split())
    if not _HAS_WORD.search(value):
        raise ValueError("name must not be empty")
    if len(value) > MAX_NAME:
        raise ValueError(f"{len(value)} characters is too long for a name; give just the name")
    return value


EVIDENCE = Spec(excluded="evidence: located in the article and counted in the grounding rate")

Quote = Annotated[
    str,
    AfterValidator(_check_quote),
    EVIDENCE,
    Field(
        description="Evidence: a short passage copied word for word from the article that states this value. "
        "Copy it exactly; do not paraphrase or translate.",
    ),
]
Name = Annotated[str, AfterValidator(_check_name)]
OptionalName = Annotated[Name | None, BeforeValidator(_blank_to_none)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The JSON schema, generated once per class and arguments (callers get a copy).

        instructor asks for it on every request; generating it took most of the
        client's CPU time per document.
        """
        return copy.deepcopy(_cached_schema(cls, args, tuple(sorted(kwargs.items()))))


class IncidentType(StrEnum):
    AIRCRAFT_DOWNING = "aircraft_downing"
    AIRCRAFT_LOSS = "aircraft_loss"
    AIR_STRIKE = "air_strike"
    MISSILE_STRIKE = "missile_strike"
    SHELLING = "shelling"
    ARMED_CLASH = "armed_clash"
    OTHER_ATTACK = "other_attack"


class DatePrecision(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"
    UNKNOWN = "unknown"


class AircraftCategory(StrEnum):
    FIXED_WING = "fixed_wing"
    HELICOPTER = "helicopter"
    DRONE = "drone"
    UNKNOWN = "unknown"


class AttributionStatus(StrEnum):
    CONFIRMED = "confirmed"
    CLAIMED = "claimed"
    ACCUSED = "accused"
    SUSPECTED = "suspected"
    DENIED = "denied"


class WeaponCategory(StrEnum):
    MANPADS = "manpads"
    OTHER_SURFACE_TO_AIR = "other_surface_to_air"
    ANTI_AIRCRAFT_GUN = "anti_aircraft_gun"
    AIR_TO_AIR = "air_to_air"
    CRUISE_OR_BALLISTIC_MISSILE = "cruise_or_ballistic_missile"
    ARTILLERY_OR_ROCKETS = "artillery_or_rockets"
    AERIAL_BOMB = "aerial_bomb"
    SMALL_ARMS = "small_arms"
    OTHER = "other"
    UNKNOWN = "unknown"


class CasualtyKind(StrEnum):
    KILLED = "killed"
    INJURED = "injured"
    CAPTURED = "captured"


class CountQualifier(StrEnum):
    EXACT = "exact"
    AT_LEAST = "at_least"
    MORE_THAN = "more_than"
    ABOUT = "about"
    RANGE = "range"


class SourceKind(StrEnum):
    GOVERNMENT = "government"
    MILITARY = "military"
    ARMED_GROUP = "armed_group"
    MONITOR = "monitor"
    NEWS_AGENCY = "news_agency"
    WITNESS = "witness"
    SOCIAL_MEDIA = "social_media"
    OTHER = "other"


class DateInfo(_Model):
    """When the incident happened, as the article gives it."""

    text: Annotated[Name, Spec(excluded=SCORED_BY_PARENT, checked=True, dated=True)] = Field(
        description='The date or day exactly as written in the article, e.g. "Tuesday", "March 3", "last month".'
    )
    iso: Annotated[str | None, Spec(excluded=SCORED_BY_PARENT)] = Field(
        default=None,
        description="ISO date (YYYY-MM-DD, YYYY-MM or YYYY) only when the article itself makes the date absolute; "
        "null when it only says a weekday or a relative time.",
    )
    precision: Annotated[DatePrecision, Spec(excluded=SCORED_BY_PARENT)] = Field(
        description="How precise the written date is: day, week, month, year or unknown."
    )
    quote: Quote

    @model_validator(mode="after")
    def _check_iso(self) -> DateInfo:
        if self.iso is not None:
            if not _ISO_DATE.match(self.iso):
                raise ValueError(f"iso must look like YYYY-MM-DD, YYYY-MM or YYYY, got {self.iso!r}")
            parts = [int(p) for p in self.iso.split("-")]
            try:
                dt.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
            except ValueError as exc:
                raise ValueError(f"iso {self.iso!r} is not a real date: {exc}") from None
        return self

    def show(self) -> str:
        """The value as one short line, for reports and the console."""
        return self.text + (f" ({self.iso})" if self.iso else "")


class Location(_Model):
    """Where the incident happened."""

    # Weights (see gold/GUIDELINES.md, section 6): the most specific part weighs most,
    # so a wrong town costs more than a missing country.

    place: Annotated[OptionalName, Spec(Compare.NAME, weight=4, proper=True, qualifiers=PLACE_QUALIFIERS)] = Field(
        default=None, description="The most specific named place (village, town, base, road)."
    )
    near: Annotated[OptionalName, Spec(Compare.NAME, weight=3, proper=True, qualifiers=PLACE_QUALIFIERS)] = Field(
        default=None, description='The reference place when the article says the incident was "near" or "close to" it.'
    )
    admin1: Annotated[OptionalName, Spec(Compare.NAME, weight=2, proper=True, qualifiers=PLACE_QUALIFIERS)] = Field(
        default=None, description="Province, governorate or region (first administrative level)."
    )
    country: Annotated[OptionalName, Spec(Compare.NAME, weight=1, proper=True)] = Field(
        default=None, description="Country."
    )
    quote: Quote

    @model_validator(mode="after")
    def _not_empty(self) -> Location:
        if not any((self.place, self.near, self.admin1, self.country)):
            raise ValueError("a location needs at least one of place, near, admin1 or country")
        return self

    def show(self) -> str:
        parts = (self.place, f"near {self.near}" if self.near else None, self.admin1, self.country)
        return ", ".join(p for p in parts if p)


class Aircraft(_Model):
    """An aircraft involved in the incident (shot down, crashed, or carrying out the strike)."""

    model: Annotated[OptionalName, Spec(Compare.NAME, weight=2, claim=ClaimPart.VALUE, proper=True)] = Field(
        default=None, description='Aircraft model as written, e.g. "F-16", "Ka-52"; null if not given.'
    )
    category: Annotated[AircraftCategory, Spec(Compare.ENUM, weight=1, claim=ClaimPart.CATEGORY)] = Field(
        description="fixed_wing, helicopter, drone or unknown."
    )
    operator: Annotated[OptionalName, Spec(Compare.NAME, weight=1, claims=Claims("operators"), proper=True)] = Field(
        default=None, description='Who flew it, e.g. "Ukraine", "Indian Air Force".'
    )
    quote: Quote

    def show(self) -> str:
        extra = ", ".join(p for p in (self.category.value, self.operator) if p)
        return f"{self.model or 'model?'} ({extra})"


class Perpetrator(_Model):
    """An actor said to be responsible, with how the article attributes it."""

    name: Annotated[Name, Spec(Compare.NAME, weight=2, key=True, claim=ClaimPart.VALUE, proper=True)] = Field(
        description='The group or force, e.g. "al-Shabaab", "the Houthis".'
    )
    status: Annotated[AttributionStatus, Spec(Compare.ENUM, weight=1, claim=ClaimPart.STATUS)] = Field(
        description="confirmed: stated as fact or confirmed by an authority; claimed: the actor itself claimed it; "
        "accused: another party blames them; suspected: speculation or unverified reports; denied: the actor denies it."
    )
    quote: Quote

    def show(self) -> str:
        return f"{self.name} ({self.status.value})"


class Weapon(_Model):
    """The weapon used."""

    text: Annotated[Name, Spec(Compare.NAME, weight=1, claim=ClaimPart.VALUE)] = Field(
        description='The weapon exactly as written, e.g. "anti-tank guided missile".'
    )
    category: Annotated[WeaponCategory, Spec(Compare.ENUM, weight=1, claim=ClaimPart.CATEGORY)] = Field(
        description="The weapon's category."
    )
    quote: Quote

    def show(self) -> str:
        return f"{self.text} ({self.category.value})"


class Casualty(_Model):
    """A group of people killed, injured or captured in the incident."""

    kind: Annotated[CasualtyKind, Spec(Compare.ENUM, weight=1, key=True)] = Field(
        description="killed, injured or captured."
    )
    count: Annotated[int, Spec(Compare.COUNT, weight=3)] = Field(
        ge=0, description='The number. For "more than 40" write 40; for "at least seven" write 7.'
    )
    count_max: Annotated[int | None, Spec(excluded=SCORED_WITH_COUNT, checked=True)] = Field(
        default=None, ge=0, description="Upper bound, only when the qualifier is range."
    )
    qualifier: Annotated[CountQualifier, Spec(excluded=SCORED_WITH_COUNT)] = Field(
        description='exact, at_least ("at least seven"), more_than ("more than 40"), about ("around 80") '
        'or range ("10 to 15").'
    )
    who: Annotated[OptionalName, Spec(Compare.NAME, weight=1)] = Field(
        default=None, description='Who they were, e.g. "pilot", "civilians", "militants".'
    )
    quote: Quote

    @model_validator(mode="after")
    def _check_range(self) -> Casualty:
        if self.qualifier is CountQualifier.RANGE:
            if self.count_max is None or self.count_max < self.count:
                raise ValueError("a range needs count_max greater than or equal to count")
        elif self.count_max is not None:
            raise ValueError("count_max is only for qualifier range")
        return self

    def show(self) -> str:
        count = f"{self.count}-{self.count_max}" if self.count_max is not None else str(self.count)
        qualifier = "" if self.qualifier is CountQualifier.EXACT else f"{self.qualifier.value.replace('_', ' ')} "
        return f"{self.kind.value} {qualifier}{count}" + (f" {self.who}" if self.who else "")


class Source(_Model):
    """Who reported or stated the information."""

    name: Annotated[Name, Spec(Compare.NAME, weight=2, key=True, claim=ClaimPart.VALUE, proper=True)] = Field(
        description='Who said it, e.g. "the Health Ministry", "Associated Press".'
    )
    kind: Annotated[SourceKind, Spec(Compare.ENUM, weight=1, claim=ClaimPart.CATEGORY)] = Field(
        description="What kind of source it is."
    )
    quote: Quote

    def show(self) -> str:
        return f"{self.name} ({self.kind.value})"


class Incident(_Model):
    """One real-world event reported in the article as having happened."""

    type: Annotated[
        IncidentType, Spec(Compare.ENUM, family=Family.INCIDENT, claims=Claims("types", conflict="type"))
    ] = Field(
        description="aircraft_downing: an aircraft brought down by hostile fire; aircraft_loss: a crash not attributed "
        "to hostile fire; air_strike; missile_strike; shelling; armed_clash; other_attack."
    )
    quote: Quote = Field(description="The sentence of the article that reports this incident, copied word for word.")
    summary: Annotated[
        Name, Spec(excluded="free text in the model's own words: not comparable with gold", prose=True)
    ] = Field(description="One sentence in your own words: what happened, where, when.")
    date: Annotated[DateInfo | None, Spec(Compare.DATE, family=Family.DATE)] = Field(
        default=None, description="When it happened; null if the article does not say."
    )
    location: Annotated[Location | None, Spec(family=Family.PLACE, label="where")] = Field(
        default=None, description="Where it happened; null if the article does not say."
    )
    aircraft: Annotated[list[Aircraft], Spec(family=Family.AIRCRAFT, claims=Claims("aircraft", "aircraft"))] = Field(
        default_factory=list, description="Aircraft involved; empty if none."
    )
    perpetrators: Annotated[
        list[Perpetrator],
        Spec(
            family=Family.ACTOR,
            label="by",
            claims=Claims("perpetrators", "perpetrators", on=(ClaimPart.VALUE, ClaimPart.STATUS)),
        ),
    ] = Field(default_factory=list, description="Who is said to be responsible.")
    weapon: Annotated[
        Weapon | None, Spec(family=Family.WEAPON, claims=Claims("weapons", "weapons", on=(ClaimPart.CATEGORY,)))
    ] = Field(default=None, description="The weapon used; null if not given.")
    casualties: Annotated[list[Casualty], Spec(family=Family.CASUALTIES)] = Field(
        default_factory=list, description="People killed, injured or captured."
    )
    sources: Annotated[list[Source], Spec(family=Family.SOURCE, label="according to", claims=Claims("sources"))] = (
        Field(default_factory=list, description="Who reported or stated the facts of this incident.")
    )
    primary: Annotated[bool, Spec(Compare.FLAG, family=Family.INCIDENT)] = Field(
        default=False, description="True for the article's main incident only."
    )


class Extraction(_Model):
    """All incidents an article reports as having happened (zero or more)."""

    incidents: Annotated[
        list[Incident], Spec(excluded="aligned with the gold incidents, then scored field by field")
    ] = Field(
        default_factory=list,
        description="Every incident the article reports with a place or a time; empty if there are none.",
    )

    @model_validator(mode="after")
    def _one_primary(self) -> Extraction:
        if sum(1 for i in self.incidents if i.primary) > 1:
            raise ValueError("at most one incident may have primary set to true")
        return self


@lru_cache(maxsize=256)
def _cached_schema(cls: type[BaseModel], args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return BaseModel.model_json_schema.__func__(cls, *args, **dict(kwargs))  # type: ignore[attr-defined]


@cache
def schema_hash(model: type[BaseModel] = Extraction) -> str:
    """Content hash of a response model's JSON schema (goes into cache keys)."""
    text = json.dumps(model.model_json_schema(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
