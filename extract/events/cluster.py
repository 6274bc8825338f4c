"""Cluster the incidents of many articles into events.

The method is blocking, pairwise scoring and constrained agglomeration:

1. **Blocking.** Each mention goes into one block per ISO week its resolved date range
   touches (up to :attr:`ClusterConfig.max_weeks` weeks; a mention bounded only by its
   publication date goes into that week and the one before; a range known only to the
   month or year, or not at all, into one coarse block). A block larger than
   :attr:`ClusterConfig.max_block` is split by country, then by province; a mention
   without that value goes into every part. Only mentions sharing a block are compared,
   each pair once. Work grows with the sum of squared block sizes, near-linear when the
   news is spread over time and space. A block that neither country nor province can
   split (many reports of one town in one week) and that holds more pairs than
   :attr:`ClusterConfig.max_pairs` compares each mention with its nearest mentions in
   (type, date, place) order only, as many as the limit allows, and a
   :class:`~extract.core.errors.ClusterWarning` names the limit: time and memory stay
   bounded, and the events of that block may miss merges.
2. **Pair score.** Some pairs can never be one event: two incidents of one article (the
   annotation rule: an article's incidents are distinct), incompatible types, date ranges
   that do not overlap (a date known only from the publication date is given a day's
   margin, :data:`TIME_ZONE_MARGIN_DAYS`), different provinces or countries, aircraft
   designations that differ, aircraft of different roles in a downing or loss, or two towns
   found in the gazetteer (geo_precision 1) more than :data:`NEARBY_KM` apart that neither
   report names as the other's. Other pairs add up evidence (:data:`WEIGHTS`), each kind
   declared once below with the reason reports of one event differ in it:

   * the type: the same type or one family (:data:`TYPE_FAMILIES`: a loss and a downing),
     else a compatible type;
   * the place (:func:`place_relation`): the same place (the same written or gazetteer
     town, or one report's town is the other's reference town), a village by the other's
     town (within :data:`NEARBY_KM` in the gazetteer), or a different one; two different
     villages near one town are neither; and the same province;
   * the date: the same day, or overlapping ranges; a report dated only by its publication
     is taken to tell of the last :data:`FRESH_DAYS` days;
   * the aircraft (:func:`aircraft_keys`): the same designation ("Su-22" = "Su-22M4"), or
     only the same role when one report names no designation ("a fighter jet");
   * a shared actor;
   * the death toll (:func:`toll_relation`): the same, or figures too far apart to be one
     event's (3 against 40; 14 against 15 is neither);
   * the overlap of the words of the evidence quote and summary.
3. **Agglomeration.** Pairs at or above :attr:`ClusterConfig.threshold` are merged, best
   first (ties broken by mention ids), unless the merged event would hold two mentions
   of one article or a pair that can never be one event.

The result depends only on the input: mentions are sorted by (document id, incident
index) first, and the event id is a hash of the mention refs.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import re
import warnings
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from extract.core.errors import ClusterWarning
from extract.core.records import DocumentResult
from extract.core.schema import Aircraft, AircraftCategory, CasualtyKind, Incident, IncidentType
from extract.events.claims import Mention, build_event, casualty_bounds, report_bounds
from extract.events.dates import Published, resolve_date
from extract.events.geocode import PlaceResolver, bare_name, resolve_article
from extract.events.records import DateMethod, DateRange, Event, Place
from extract.scoring.comparators import ABOUT_TOLERANCE, OPEN_COUNT_FACTOR, types_compatible
from extract.scoring.gold import GoldSet
from extract.scoring.normalize import AliasIndex, name_keys, normalize_name

#: Evidence weights of the pair score (see the module docstring).
WEIGHTS: Mapping[str, float] = {
    "same_type": 1.0,  # or one family of TYPE_FAMILIES
    "compatible_type": 0.5,
    "same_place": 2.0,
    "nearby_place": 1.0,
    "different_place": -2.0,
    "same_admin1": 0.5,
    "same_day": 1.0,
    "overlapping_dates": 0.5,
    "same_aircraft": 2.0,
    "same_aircraft_role": 1.0,
    "shared_actor": 1.0,
    "same_death_toll": 1.0,
    "different_death_toll": -1.0,
    "text_overlap": 3.0,  # times the Jaccard overlap of content words
}

#: Types that name one happening whose cause the reports disagree on: an aircraft that came down
#: is a downing in one report ("shot down") and a loss in another ("crashed", "disappeared"). A pair
#: within a family weighs as the same type; other compatible types (``COMPATIBLE_TYPES``) are
#: different kinds of incident that reports confuse, and weigh less.
TYPE_FAMILIES: tuple[frozenset[IncidentType], ...] = (
    frozenset({IncidentType.AIRCRAFT_DOWNING, IncidentType.AIRCRAFT_LOSS}),
)

#: Types whose subject is the aircraft itself: two reports naming aircraft of different roles
#: (a helicopter, a jet) are two aircraft, so two events.
AIRCRAFT_TYPES = frozenset({IncidentType.AIRCRAFT_DOWNING, IncidentType.AIRCRAFT_LOSS})

#: Two gazetteer places this close (km) can be one event's place as two reports name it: a
#: village in one, the town it lies by in the other. UCDP's where_prec 2 is "within ~25 km of a
#: known point"; farther apart, two towns each found exactly are two events (ACLED's unit is one
#: location).
NEARBY_KM = 25.0

#: A village by a town: the smaller place has at most this share of the larger one's people (an
#: order of magnitude). Two towns of one standing, each named by a report, are two places however
#: close they are; so are two places whose population GeoNames does not know (its towns of
#: unknown population are administrative seats: Sarmin, Ariha).
VILLAGE_SHARE = 0.1

#: A date known only from the publication date may be a day later than the publisher's own
#: calendar day: the publisher and the place can be in time zones a day apart.
TIME_ZONE_MARGIN_DAYS = 1

#: A report with no date of its own most often tells of the last few days before publication:
#: a date in that window counts as overlapping (evidence only, never a veto: recaps are older).
FRESH_DAYS = 3

#: Two death tolls of one event differ by a death or two (counted at different times, by
#: different sources) or by the share ``about`` allows; farther apart they are two events'.
TOLL_SLACK = 1

#: Words that name an aircraft's role rather than its designation, with the role they give:
#: "a pro-regime fighter jet" names no model, only a fixed-wing aircraft.
ROLE_WORDS: Mapping[str, AircraftCategory] = {
    **dict.fromkeys(
        ("jet", "jets", "fighter", "warplane", "plane", "aircraft", "airplane", "bomber", "aeroplane"),
        AircraftCategory.FIXED_WING,
    ),
    **dict.fromkeys(("helicopter", "chopper", "gunship"), AircraftCategory.HELICOPTER),
    **dict.fromkeys(("drone", "uav", "uavs", "drones"), AircraftCategory.DRONE),
}
_DESIGNATION = re.compile(r"([a-z]+)\s?(\d+)")

_STOP = frozenset(
    {
        "the",
        "a",
        "an",
        "and",
        "or",
        "of",
        "in",
        "on",
        "at",
        "to",
        "by",
        "for",
        "from",
        "with",
        "was",
        "were",
        "is",
        "are",
        "be",
        "been",
        "has",
        "had",
        "have",
        "that",
        "which",
        "who",
        "said",
        "says",
        "after",
        "before",
        "near",
        "over",
        "into",
        "its",
        "his",
        "her",
        "their",
        "it",
        "as",
        "this",
        "than",
        "more",
        "least",
        "about",
        "some",
        "also",
    }
)
_WORD = re.compile(r"[^\W\d_]{3,}|\d+")


@dataclass(frozen=True)
class ClusterConfig:
    """Settings of the clustering (the defaults are what the README documents)."""

    threshold: float = 3.0
    max_block: int = 256
    max_weeks: int = 6
    #: The most pairs compared in one block: all the pairs of a block of 2,000 mentions (the largest part of a
    #: 100,000-incident synthetic corpus holds 1,532). A larger block compares each mention with its nearest
    #: ``max_pairs // size`` mentions in (type, date, place) order, so that its pairs, and the memory they take,
    #: stay within this (see the module docstring).
    max_pairs: int = 2_000_000
    weights: Mapping[str, float] = field(default_factory=lambda: dict(WEIGHTS))


@dataclass(frozen=True)
class _Features:
    doc: str
    type: IncidentType
    start: int | None  # the range a link needs the other report's range to meet (see linkable_range)
    end: int | None
    day: int | None
    fresh: tuple[int, int] | None  # a report dated by its publication only: the days it most likely tells of
    country: str
    admin1: str | None
    admin1_keys: frozenset[str]
    spot_keys: frozenset[str]  # the place itself: its written names and, found exactly, its gazetteer town
    area_keys: frozenset[str]  # its reference town ("near"), written and as found in the gazetteer
    exact_town: int | None
    point: tuple[float, float] | None  # coordinates of the town or the reference town (geo_precision 1 or 2)
    population: int  # of that town (0: not known)
    aircraft_keys: tuple[frozenset[str], ...]
    roles: frozenset[AircraftCategory]
    actor_keys: frozenset[str]
    killed: int | None
    tolls: tuple[tuple[int, int], ...]
    words: frozenset[str]


def _keys(names: Iterable[str], aliases: AliasIndex) -> frozenset[str]:
    return frozenset(k for n in aliases.expand(list(names)) for k in name_keys(n))


def linkable_range(date: DateRange) -> tuple[int | None, int | None]:
    """The days (as ordinals) a report's date allows, with :data:`TIME_ZONE_MARGIN_DAYS` after a publication bound."""
    start = date.start.toordinal() if date.start else None
    end = date.end.toordinal() if date.end else None
    if date.method is DateMethod.PUBLICATION and end is not None:
        end += TIME_ZONE_MARGIN_DAYS
    return start, end


def aircraft_keys(aircraft: Aircraft, aliases: AliasIndex) -> frozenset[str]:
    """The keys an aircraft's designation is matched under; empty when the model names only a role.

    The names (with their aliases) and the family of each: the letters and first number of the
    designation ("Su-22M4" and "Su-22" are one family, "Su-24" and "Su-25" two). A model without
    a digit that holds a role word (:data:`ROLE_WORDS`: "fighter jet", "Black Hawk helicopter") is
    a description, compared by its role only.
    """
    model = aircraft.model
    if not model or _description_roles(model):
        return frozenset()
    names = aliases.expand([model])
    families = {f"{m[1]}{m[2]}" for n in names if (m := _DESIGNATION.search(normalize_name(n)))}
    return _keys(names, aliases) | {"family:" + f for f in families}


def _description_roles(model: str) -> frozenset[AircraftCategory]:
    """The roles a model that is only a description names ("a pro-regime fighter jet"); empty for a designation."""
    norm = normalize_name(model)
    if any(ch.isdigit() for ch in norm):
        return frozenset()
    return frozenset(ROLE_WORDS[w] for w in norm.split() if w in ROLE_WORDS)


def _roles(incident: Incident) -> frozenset[AircraftCategory]:
    """The roles of a report's aircraft: their categories, and what a description of one says ("fighter jet")."""
    stated = frozenset(a.category for a in incident.aircraft if a.category is not AircraftCategory.UNKNOWN)
    return stated.union(*(_description_roles(a.model or "") for a in incident.aircraft))


def _tolls(incident: Incident) -> tuple[tuple[int, int], ...]:
    """The death tolls a report allows: each group's and, for several groups, their total.

    Bounds as the event's casualty estimates read them; an open figure ("at least 21") is
    bounded as the scorer bounds it (up to ``OPEN_COUNT_FACTOR`` times it).
    """
    groups = [c for c in incident.casualties if c.kind is CasualtyKind.KILLED]
    bounds = [casualty_bounds(c) for c in groups] + ([report_bounds(groups)] if len(groups) > 1 else [])
    return tuple((low, high if high is not None else max(OPEN_COUNT_FACTOR * low, low + 1)) for low, high in bounds)


def _point(place: Place | None) -> tuple[float, float] | None:
    if place is None or place.geo_precision not in (1, 2) or place.latitude is None or place.longitude is None:
        return None
    return place.latitude, place.longitude


def _features(mention: Mention, aliases: AliasIndex) -> _Features:
    incident, date, place = mention.incident, mention.date, mention.place
    location = incident.location
    town = f"geonames:{place.geonames_id}" if place and place.geonames_id else None
    precision = place.geo_precision if place else None
    killed = [c for c in incident.casualties if c.kind is CasualtyKind.KILLED]
    text = normalize_name(f"{incident.quote} {incident.summary}")
    start, end = linkable_range(date)
    fresh = None
    if date.method is DateMethod.PUBLICATION and end is not None:
        fresh = (end - TIME_ZONE_MARGIN_DAYS - FRESH_DAYS, end)
    return _Features(
        doc=mention.document_id,
        type=incident.type,
        start=start,
        end=end,
        day=date.start.toordinal() if date.start and date.start == date.end else None,
        fresh=fresh,
        # A country the gazetteer does not know is unknown here, not a different country.
        country=(place.country_code or "") if place else "",
        admin1=bare_name(place.admin1) if place and place.admin1 else None,
        admin1_keys=name_keys(bare_name(place.admin1)) if place and place.admin1 else frozenset(),
        spot_keys=_keys([location.place] if location and location.place else [], aliases)
        | ({town} if town and precision == 1 else set()),
        area_keys=_keys([location.near] if location and location.near else [], aliases)
        | ({town} if town and precision == 2 else set()),
        exact_town=place.geonames_id if place and precision == 1 else None,
        point=_point(place),
        population=(place.population or 0) if place else 0,
        aircraft_keys=tuple(k for k in (aircraft_keys(a, aliases) for a in incident.aircraft) if k),
        roles=_roles(incident),
        actor_keys=_keys([p.name for p in incident.perpetrators], aliases),
        killed=sum(c.count for c in killed) if killed else None,
        tolls=_tolls(incident),
        words=frozenset(w for w in _WORD.findall(text) if w not in _STOP),
    )


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def place_relation(a: _Features, b: _Features) -> str:
    """How two reports' places relate: ``same``, ``nearby``, ``siblings``, ``different``, ``far`` or ``unknown``.

    * same: the same place (written or gazetteer town); or one report gives only a reference
      town ("near Saraqeb") that the other names; or one report's town is the other's reference
      town (a village in one report, the town it lies by in the other);
    * siblings: two different places near one reference town (two villages near Tel Tamr):
      neither the same nor apart;
    * nearby: the gazetteer puts them within :data:`NEARBY_KM`, and one is a village by the
      other (:data:`VILLAGE_SHARE`);
    * far: two towns each found exactly, farther apart (never one event);
    * different: both name a place, and none of the above holds; unknown: one names none.
    """
    if not a.spot_keys.isdisjoint(b.spot_keys):
        return "same"
    for x, y in ((a, b), (b, a)):
        if not x.spot_keys and not x.area_keys.isdisjoint(y.spot_keys | y.area_keys):
            return "same"
        if not x.spot_keys.isdisjoint(y.area_keys):
            return "same"
    if not a.area_keys.isdisjoint(b.area_keys):
        return "siblings"
    if (
        a.point is not None
        and b.point is not None
        and 0 < min(a.population, b.population) <= VILLAGE_SHARE * max(a.population, b.population)
        and distance_km(a.point, b.point) <= NEARBY_KM
    ):
        return "nearby"
    if a.exact_town is not None and b.exact_town is not None:
        return "far"
    if (a.spot_keys or a.area_keys) and (b.spot_keys or b.area_keys):
        return "different"
    return "unknown"


def toll_relation(a: _Features, b: _Features) -> str:
    """How two reports' death tolls relate: ``same``, ``close``, ``apart`` or ``unknown`` (one gives none).

    The same total; close when some figure of one and some figure of the other are within
    :data:`TOLL_SLACK` deaths, or ``ABOUT_TOLERANCE`` of the larger, of each other's bounds
    (14 and 15 dead, "more than 11" and "at least 18"); apart otherwise (3 and 40).
    """
    if not a.tolls or not b.tolls:
        return "unknown"
    if a.killed == b.killed:
        return "same"

    def slack(n: int) -> float:
        return max(TOLL_SLACK, ABOUT_TOLERANCE * n)

    for low_a, high_a in a.tolls:
        for low_b, high_b in b.tolls:
            if low_a <= high_b + slack(high_b) and low_b <= high_a + slack(high_a):
                return "close"
    return "apart"


def _windows_meet(a: _Features, b: _Features) -> bool:
    """Whether the days two reports most likely tell of meet (a closed range, else the fresh window)."""
    wa = (a.start, a.end) if a.start is not None and a.end is not None else a.fresh
    wb = (b.start, b.end) if b.start is not None and b.end is not None else b.fresh
    return wa is not None and wb is not None and max(wa[0], wb[0]) <= min(wa[1], wb[1])


def _same_family(a: IncidentType, b: IncidentType) -> bool:
    return a is b or any(a in family and b in family for family in TYPE_FAMILIES)


def can_link(a: _Features, b: _Features) -> bool:
    """Whether two mentions may be the same event at all."""
    return a.doc != b.doc and _compatible(a, b)


def _compatible(a: _Features, b: _Features) -> bool:
    """Whether two mentions of different articles may be the same event: it reads only :func:`_link_view`."""
    if not types_compatible(a.type, b.type):
        return False
    if a.country and b.country and a.country != b.country:
        return False
    if a.admin1_keys and b.admin1_keys and a.admin1_keys.isdisjoint(b.admin1_keys):
        return False
    lo = max(x for x in (a.start, b.start, -(10**9)) if x is not None)
    hi = min(x for x in (a.end, b.end, 10**9) if x is not None)
    if lo > hi:
        return False
    if place_relation(a, b) == "far":
        return False
    if a.type in AIRCRAFT_TYPES and b.type in AIRCRAFT_TYPES and a.roles and b.roles and a.roles.isdisjoint(b.roles):
        return False
    shared_model = any(not x.isdisjoint(y) for x in a.aircraft_keys for y in b.aircraft_keys)
    return not (a.aircraft_keys and b.aircraft_keys and not shared_model)


_PLACE_WEIGHT = {"same": "same_place", "nearby": "nearby_place", "different": "different_place"}
_TOLL_WEIGHT = {"same": "same_death_toll", "apart": "different_death_toll"}


def pair_score(a: _Features, b: _Features, weights: Mapping[str, float] = WEIGHTS) -> float:
    """The evidence that two linkable mentions report one event (see :data:`WEIGHTS`)."""
    score = weights["same_type"] if _same_family(a.type, b.type) else weights["compatible_type"]
    place = _PLACE_WEIGHT.get(place_relation(a, b))
    if place is not None:
        score += weights[place]
    if not a.admin1_keys.isdisjoint(b.admin1_keys):
        score += weights["same_admin1"]
    if a.day is not None and a.day == b.day:
        score += weights["same_day"]
    elif _windows_meet(a, b):
        score += weights["overlapping_dates"]
    if a.aircraft_keys and b.aircraft_keys:
        score += weights["same_aircraft"]  # can_link already refused disjoint designations
    elif a.type in AIRCRAFT_TYPES and b.type in AIRCRAFT_TYPES and not a.roles.isdisjoint(b.roles):
        score += weights["same_aircraft_role"]
    if not a.actor_keys.isdisjoint(b.actor_keys):
        score += weights["shared_actor"]
    toll = _TOLL_WEIGHT.get(toll_relation(a, b))
    if toll is not None:
        score += weights[toll]
    union = len(a.words | b.words)
    if union:
        score += weights["text_overlap"] * len(a.words & b.words) / union
    return score


def _weeks(f: _Features, config: ClusterConfig) -> list[str]:
    """The time blocks of a mention: ISO weeks its date range touches, or "coarse"."""
    return [_week_key(day) for day in _mondays(f.start, f.end, config)] or [COARSE]


COARSE = "coarse"


def _week_key(monday: int) -> str:
    year, week, _ = dt.date.fromordinal(monday).isocalendar()
    return f"{year}-W{week:02d}"


def _mondays(start: int | None, end: int | None, config: ClusterConfig) -> list[int]:
    """The Mondays (as ordinals) of the ISO weeks a date range is blocked in; empty for the coarse block."""
    if start is not None and end is not None and (end - start) // 7 < config.max_weeks:
        first = start - dt.date.fromordinal(start).weekday()
        return list(range(first, end + 1, 7))
    if end is not None and start is None:  # bounded by publication only: its week and the one before
        monday = end - dt.date.fromordinal(end).weekday()
        return [monday - 7, monday]
    return []


def sweep_key(mention: Mention, config: ClusterConfig | None = None) -> tuple[int, str]:
    """Where a mention enters the sweep: the Monday of its first block week; undated mentions last, by country.

    The second part is the country code of a mention in the undated (coarse) block, "" when
    unknown (those come first) or when the mention is dated.
    """
    mondays = _mondays(*linkable_range(mention.date), config or ClusterConfig())
    if mondays:
        return mondays[0], ""
    return _COARSE_KEY, (mention.place.country_code or "") if mention.place else ""


_COARSE_KEY = 10**7  # after every date's ordinal (dt.date.max is 3,652,059)

_SPLITS: tuple[Callable[[_Features], str | None], ...] = (lambda f: f.country or None, lambda f: f.admin1)


def _split(
    key: tuple[str, ...], members: list[int], features: Mapping[int, _Features], level: int, max_block: int
) -> Iterator[tuple[tuple[str, ...], list[int]]]:
    """Split an oversized block by country, then province; mentions lacking the value go into every part."""
    if len(members) <= max_block or level >= len(_SPLITS):
        yield key, members
        return
    value_of = _SPLITS[level]
    parts: dict[str, list[int]] = {}
    unknown = []
    for i in members:
        value = value_of(features[i])
        if value is None:
            unknown.append(i)
        else:
            parts.setdefault(value, []).append(i)
    if not parts:
        yield from _split((*key, "?"), members, features, level + 1, max_block)
        return
    for value in sorted(parts):
        yield from _split((*key, value), sorted(parts[value] + unknown), features, level + 1, max_block)


@dataclass
class ClusterStats:
    """What the clustering did: for benchmarks and the run summary."""

    mentions: int = 0
    blocks: int = 0
    largest_block: int = 0
    pairs_compared: int = 0
    pairs_linked: int = 0
    events: int = 0
    #: The most mentions held at once (the sweep's window plus unfinished components): what memory follows.
    largest_window: int = 0
    #: Blocks whose pairs were more than :attr:`ClusterConfig.max_pairs`: each mention met its nearest only.
    capped_blocks: int = 0
    #: In those blocks, the fewest nearest mentions each mention was compared with.
    fewest_neighbours: int = 0


class _Pairs:
    """A component's candidate pairs (score, first mention, second), packed: 24 bytes a pair, not a tuple's 150."""

    __slots__ = ("firsts", "scores", "seconds")

    def __init__(self) -> None:
        self.scores, self.firsts, self.seconds = array("d"), array("q"), array("q")

    def append(self, score: float, i: int, j: int) -> None:
        self.scores.append(score)
        self.firsts.append(i)
        self.seconds.append(j)

    def extend(self, other: _Pairs) -> None:
        self.scores.extend(other.scores)
        self.firsts.extend(other.firsts)
        self.seconds.extend(other.seconds)

    def best_first(self) -> Iterator[tuple[int, int]]:
        """The pairs by score, highest first, ties by mention order (the order of the merge)."""
        scores, firsts, seconds = (np.frombuffer(a, dtype=a.typecode) for a in (self.scores, self.firsts, self.seconds))
        for k in np.lexsort((seconds, firsts, -scores)).tolist():  # the last key sorts first
            yield self.firsts[k], self.seconds[k]


@dataclass
class _Component:
    """Mentions joined by candidate pairs; finished when none of them can meet a new mention."""

    members: list[int]
    edges: _Pairs
    open: int


_Emit = Callable[[int, list[Mention]], None]


class _Sweep:
    """Block-by-block clustering over mentions ordered by their first block week.

    A mention is held from its first block week to its last (at most ``max_weeks`` + 1 weeks);
    mentions joined by a candidate pair form a component, and a component none of whose
    mentions is still in the window can gain no pair, so it is agglomerated, handed to
    ``emit`` and dropped. The greedy merge of a component depends only on its own pairs, so
    this gives the same events as merging all pairs of the corpus at once.
    """

    def __init__(
        self,
        aliases: AliasIndex,
        config: ClusterConfig,
        stats: ClusterStats,
        emit: Callable[[int, list[Mention]], None],
    ):
        self.aliases, self.config, self.stats, self.emit = aliases, config, stats, emit
        self.mentions: dict[int, Mention] = {}
        self.features: dict[int, _Features] = {}
        self.window: dict[int, int] = {}  # seq -> its last block week (Monday ordinal; coarse: the coarse key)
        self.keys: dict[int, list[tuple[str, ...]]] = {}  # blocks a windowed mention was put in so far
        self.parent: dict[int, int] = {}
        self.components: dict[int, _Component] = {}
        self.progress: Callable[[int, int], None] | None = None
        self.total = 0

    def _find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def add(self, seq: int, mention: Mention) -> None:
        f = _features(mention, self.aliases)
        self.mentions[seq], self.features[seq] = mention, f
        mondays = _mondays(f.start, f.end, self.config)
        self.window[seq] = mondays[-1] if mondays else _COARSE_KEY
        self.keys[seq] = []
        self.parent[seq] = seq
        self.components[seq] = _Component([seq], _Pairs(), 1)
        self.stats.mentions += 1
        held = len(self.mentions)
        self.stats.largest_window = max(self.stats.largest_window, held)

    def block(self, week: int) -> None:
        """Compare the pairs of one block week, then release what it closes."""
        members = sorted(self.window)
        if members:
            self._blocks(list(_split((_week_key(week),), members, self.features, 0, self.config.max_block)))
            self._release([s for s, last in self.window.items() if last <= week])

    def coarse(self, items: Iterator[tuple[tuple[int, str], int, Mention]]) -> None:
        """The undated block: one block, or when oversized one part per country, read one country at a time.

        As :func:`_split` cuts it: each country's part holds that country's mentions and those
        of unknown country, which are read first and held to the end.
        """
        max_block = self.config.max_block
        head = list(itertools.islice(items, max_block + 1))
        if len(head) <= max_block:
            for _, seq, mention in head:
                self.add(seq, mention)
            self._blocks([((COARSE,), sorted(self.window))])
            self._release(list(self.window))
            return
        unknown: list[int] = []
        countries = 0
        for country, group in itertools.groupby(itertools.chain(head, items), key=lambda e: e[0][1]):
            members = []
            for _, seq, mention in group:
                self.add(seq, mention)
                members.append(seq)
            if not country:
                unknown = members
                continue
            countries += 1
            self._blocks(list(_split((COARSE, country), sorted(members + unknown), self.features, 1, max_block)))
            self._release(members)
            if self.progress is not None:
                self.progress(self.stats.mentions - len(self.mentions), self.total)
        if not countries:
            self._blocks(list(_split((COARSE, "?"), unknown, self.features, 1, max_block)))
        self._release(unknown)

    def _blocks(self, blocks: list[tuple[tuple[str, ...], list[int]]]) -> None:
        for key, part in blocks:
            for i in part:
                self.keys[i].append(key)
        self.stats.blocks += len(blocks)
        self.stats.largest_block = max(self.stats.largest_block, max(len(p) for _, p in blocks))
        for key, part in blocks:
            self._compare(key, part)

    def _release(self, seqs: list[int]) -> None:
        """These mentions meet no new block: finish the components left with no open mention."""
        for seq in seqs:
            del self.window[seq], self.keys[seq]
            root = self._find(seq)
            component = self.components[root]
            component.open -= 1
            if component.open == 0:
                self._finish(root)

    def _compare(self, key: tuple[str, ...], members: list[int]) -> None:
        features, keys, weights, threshold = self.features, self.keys, self.config.weights, self.config.threshold
        reach = len(members)  # each mention meets the next `reach` of the block: all of them, unless capped
        if len(members) * (len(members) - 1) // 2 > self.config.max_pairs:
            members = sorted(members, key=lambda i: _nearness(features[i], i))
            reach = max(1, self.config.max_pairs // len(members))
            self.stats.capped_blocks += 1
            self.stats.fewest_neighbours = min(self.stats.fewest_neighbours or reach, reach)
        for x, i in enumerate(members):
            fi = features[i]
            for j in members[x + 1 : x + 1 + reach]:
                # A pair sharing several blocks is compared in the first of them only.
                if len(keys[i]) > 1 and len(keys[j]) > 1 and min(set(keys[i]) & set(keys[j])) != key:
                    continue
                self.stats.pairs_compared += 1
                fj = features[j]
                if not can_link(fi, fj):
                    continue
                score = pair_score(fi, fj, weights)
                if score >= threshold:
                    self._join(score, i, j)

    def _join(self, score: float, i: int, j: int) -> None:
        ri, rj = self._find(i), self._find(j)
        if ri != rj:
            big, small = (ri, rj) if len(self.components[ri].members) >= len(self.components[rj].members) else (rj, ri)
            self.parent[small] = big
            absorbed = self.components.pop(small)
            kept = self.components[big]
            kept.members.extend(absorbed.members)
            kept.edges.extend(absorbed.edges)
            kept.open += absorbed.open
            ri = big
        self.components[ri].edges.append(score, i, j)

    def _finish(self, root: int) -> None:
        component = self.components.pop(root)
        for group in _agglomerate(component, self.features, self.stats):
            self.emit(group[0], [self.mentions[i] for i in group])
        for seq in component.members:
            del self.mentions[seq], self.features[seq], self.parent[seq]


def _nearness(f: _Features, seq: int) -> tuple[object, ...]:
    """The order in which a capped block's mentions meet their nearest: likely reports of one event fall together."""
    return (f.type.value, f.start if f.start is not None else -1, f.end or -1, sorted(f.spot_keys), f.killed or -1, seq)


def _link_view(f: _Features) -> _Features:
    """What :func:`_compatible` reads of a mention: its features but the article, words, day, toll and actors.

    Reports that differ only in those (many retellings of one event) share one view, so that a merge checks each
    pair of views once instead of each pair of mentions.
    """
    return replace(f, doc="", day=None, fresh=None, killed=None, tolls=(), actor_keys=frozenset(), words=frozenset())


def _agglomerate(component: _Component, features: Mapping[int, _Features], stats: ClusterStats) -> list[list[int]]:
    """Merge a component's pairs best first (ties by mention order) under the constraints; sorted groups.

    Two groups merge when their articles are apart and every pair of their mentions may link (:func:`can_link`),
    checked on the groups' distinct views (:func:`_link_view`), each pair of views once.
    """
    members: dict[int, list[int]] = {i: [i] for i in component.members}
    docs: dict[int, set[str]] = {i: {features[i].doc} for i in component.members}
    parent = {i: i for i in component.members}
    view_ids: dict[_Features, int] = {}
    views: list[_Features] = []
    kinds: dict[int, set[int]] = {}
    for i in component.members:
        view = _link_view(features[i])
        if view not in view_ids:
            view_ids[view] = len(views)
            views.append(view)
        kinds[i] = {view_ids[view]}
    known: dict[tuple[int, int], bool] = {}

    def compatible(x: int, y: int) -> bool:
        if (x, y) not in known:
            known[x, y] = _compatible(views[x], views[y])
        return known[x, y]

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in component.edges.best_first():
        ri, rj = find(i), find(j)
        if ri == rj or not docs[ri].isdisjoint(docs[rj]):
            continue
        if not all(compatible(x, y) for x in kinds[ri] for y in kinds[rj]):
            continue
        root, child = (ri, rj) if ri < rj else (rj, ri)
        parent[child] = root
        members[root].extend(members.pop(child))
        docs[root] |= docs.pop(child)
        kinds[root] |= kinds.pop(child)
        stats.pairs_linked += 1
    groups = sorted(sorted(g) for g in members.values())
    stats.events += len(groups)
    return groups


def sweep(
    ordered: Iterable[tuple[tuple[int, str], int, Mention]],
    emit: Callable[[int, list[Mention]], None],
    aliases: AliasIndex | None = None,
    config: ClusterConfig | None = None,
    stats: ClusterStats | None = None,
    progress: Callable[[int, int], None] | None = None,
    total: int = 0,
) -> ClusterStats:
    """Cluster mentions given as ``(sweep key, seq, mention)`` in (sweep key, seq) order; ``emit(first seq, group)``.

    ``seq`` is the mention's rank by (document id, incident index): ties between pairs are
    broken by it. The sweep key is :func:`sweep_key`. Groups are emitted as soon as they are
    final, in no particular order; memory follows the number of mentions whose weeks are open.
    """
    aliases = aliases or AliasIndex()
    config = config or ClusterConfig()
    stats = stats if stats is not None else ClusterStats()
    state = _Sweep(aliases, config, stats, emit)
    state.progress, state.total = progress, total
    week: int | None = None
    items = iter(ordered)
    for (key, part), seq, mention in items:
        while week is not None and key > week and state.window:
            state.block(week)
            if progress is not None:
                progress(stats.mentions - len(state.mentions), total)
            week = week + 7
        if key == _COARSE_KEY:
            state.coarse(itertools.chain([((key, part), seq, mention)], items))
            break
        if week is None or key > week:
            week = key
        state.add(seq, mention)
    while week is not None and state.window:
        state.block(week)
        week = week + 7
    if state.components:  # cannot happen: every mention leaves the window at its last week
        raise AssertionError("unfinished components after the sweep")
    if progress is not None:
        progress(stats.mentions, total or stats.mentions)
    if stats.capped_blocks:
        warnings.warn(
            f"{stats.capped_blocks} block(s) that neither country nor province could split held more than "
            f"ClusterConfig.max_pairs = "
            f"{config.max_pairs:,} pairs (the largest: {stats.largest_block:,} mentions); each of their mentions was "
            f"compared with its {stats.fewest_neighbours:,} nearest or more only, so their events may miss merges",
            ClusterWarning,
            stacklevel=2,
        )
    return stats


def cluster_mentions(
    mentions: Sequence[Mention],
    aliases: AliasIndex | None = None,
    config: ClusterConfig | None = None,
    stats: ClusterStats | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[list[Mention]]:
    """Group mentions into events; each group sorted, groups in order of their first mention.

    Everything is in memory here; :func:`extract.events.pipeline.stream_events` runs the same
    sweep over an on-disk store.
    """
    config = config or ClusterConfig()
    ordered = sorted(mentions, key=lambda m: (m.document_id, m.index))
    entries = sorted(((sweep_key(m, config), seq, m) for seq, m in enumerate(ordered)), key=lambda e: e[:2])
    groups: list[tuple[int, list[Mention]]] = []
    sweep(entries, lambda first, group: groups.append((first, group)), aliases, config, stats, progress, len(ordered))
    return [group for _, group in sorted(groups, key=lambda g: g[0])]


def mentions_from_results(
    results: Iterable[DocumentResult],
    gazetteer: PlaceResolver,
    published: Mapping[str, Published] | None = None,
) -> Iterator[Mention]:
    """The mentions of a run's records (failed documents have none)."""
    published = published or {}
    for result in results:
        pub = published.get(result.id)
        places = resolve_article(gazetteer, [incident.location for incident in result.incidents])
        for index, (incident, place) in enumerate(zip(result.incidents, places, strict=True)):
            yield Mention(
                document_id=result.id,
                index=index,
                incident=incident,
                published=pub,
                date=resolve_date(incident.date, pub),
                place=place,
            )


def mentions_from_gold(
    gold: GoldSet, gazetteer: PlaceResolver, published: Mapping[str, Published] | None = None
) -> list[Mention]:
    """The gold incidents as mentions, each carrying its cross-document key."""
    published = published or {}
    out = []
    for doc_id in sorted(gold.documents):
        pub = published.get(doc_id)
        incidents = gold.documents[doc_id].incidents
        places = resolve_article(gazetteer, [incident.location for incident in incidents])
        for index, (incident, place) in enumerate(zip(incidents, places, strict=True)):
            out.append(
                Mention(
                    document_id=doc_id,
                    index=index,
                    incident=incident,
                    published=pub,
                    date=resolve_date(incident.date, pub),
                    place=place,
                    key=incident.key,
                )
            )
    return out


def build_events(
    mentions: Sequence[Mention],
    aliases: AliasIndex | None = None,
    config: ClusterConfig | None = None,
    stats: ClusterStats | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Event]:
    """Cluster mentions and build one event per cluster (in order of first mention)."""
    groups = cluster_mentions(mentions, aliases, config, stats, progress)
    return [build_event(group, aliases) for group in groups]
