"""Cluster the incidents of many articles into events.

The method is blocking, pairwise scoring and constrained agglomeration:

1. **Blocking.** Each mention goes into one block per ISO week its resolved date range
   touches (up to :attr:`ClusterConfig.max_weeks` weeks; a mention bounded only by its
   publication date goes into that week and the one before; a range known only to the
   month or year, or not at all, into one coarse block). A block larger than
   :attr:`ClusterConfig.max_block` is split by country, then by province; a mention
   without that value goes into every part. Only mentions sharing a block are compared,
   each pair once. Work grows with the sum of squared block sizes, near-linear when the
   news is spread over time and space.
2. **Pair score.** Some pairs can never be one event: two incidents of one article (the
   annotation rule: an article's incidents are distinct), incompatible types, date
   ranges that do not overlap, different provinces or countries, or aircraft models that
   differ, or two towns found in the gazetteer (geo_precision 1) that differ and neither report names the
   other's. Other pairs add up evidence (:data:`WEIGHTS`): the same type, the same town
   (GeoNames id, or the written names match), the same province, the same day, a shared
   aircraft model, a shared actor, the same death toll, and the overlap of the words of
   the evidence quote and summary; two different named places subtract.
3. **Agglomeration.** Pairs at or above :attr:`ClusterConfig.threshold` are merged, best
   first (ties broken by mention ids), unless the merged event would hold two mentions
   of one article or a pair that can never be one event.

The result depends only on the input: mentions are sorted by (document id, incident
index) first, and the event id is a hash of the mention refs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from extract.core.records import DocumentResult
from extract.core.schema import CasualtyKind, IncidentType
from extract.events.claims import Mention, build_event
from extract.events.dates import Published, resolve_date
from extract.events.geocode import Gazetteer, bare_name
from extract.events.records import Event
from extract.scoring.comparators import types_compatible
from extract.scoring.gold import GoldSet
from extract.scoring.normalize import AliasIndex, name_keys, normalize_name

#: Evidence weights of the pair score (see the module docstring).
WEIGHTS: Mapping[str, float] = {
    "same_type": 1.0,
    "compatible_type": 0.5,
    "same_place": 2.0,
    "different_place": -2.0,
    "same_admin1": 0.5,
    "same_day": 1.0,
    "overlapping_dates": 0.5,
    "same_aircraft": 2.0,
    "shared_actor": 1.0,
    "same_death_toll": 1.0,
    "text_overlap": 3.0,  # times the Jaccard overlap of content words
}

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
    weights: Mapping[str, float] = field(default_factory=lambda: dict(WEIGHTS))


@dataclass(frozen=True)
class _Features:
    doc: str
    type: IncidentType
    start: int | None
    end: int | None
    day: int | None
    country: str
    admin1: str | None
    admin1_keys: frozenset[str]
    town: int | None
    exact_town: bool
    place_keys: frozenset[str]
    aircraft_keys: tuple[frozenset[str], ...]
    actor_keys: frozenset[str]
    killed: int | None
    words: frozenset[str]


def _keys(names: Iterable[str], aliases: AliasIndex) -> frozenset[str]:
    return frozenset(k for n in aliases.expand(list(names)) for k in name_keys(n))


def _features(mention: Mention, aliases: AliasIndex) -> _Features:
    incident, date, place = mention.incident, mention.date, mention.place
    location = incident.location
    written = [v for v in (location.place, location.near) if v] if location else []
    killed = [c for c in incident.casualties if c.kind is CasualtyKind.KILLED]
    text = normalize_name(f"{incident.quote} {incident.summary}")
    return _Features(
        doc=mention.document_id,
        type=incident.type,
        start=date.start.toordinal() if date.start else None,
        end=date.end.toordinal() if date.end else None,
        day=date.start.toordinal() if date.start and date.start == date.end else None,
        # A country the gazetteer does not know is unknown here, not a different country.
        country=(place.country_code or "") if place else "",
        admin1=bare_name(place.admin1) if place and place.admin1 else None,
        admin1_keys=name_keys(bare_name(place.admin1)) if place and place.admin1 else frozenset(),
        town=place.geonames_id if place and place.geo_precision in (1, 2) else None,
        exact_town=bool(place and place.geo_precision == 1),
        place_keys=_keys(written, aliases),
        aircraft_keys=tuple(_keys([a.model], aliases) for a in incident.aircraft if a.model),
        actor_keys=_keys([p.name for p in incident.perpetrators], aliases),
        killed=sum(c.count for c in killed) if killed else None,
        words=frozenset(w for w in _WORD.findall(text) if w not in _STOP),
    )


def can_link(a: _Features, b: _Features) -> bool:
    """Whether two mentions may be the same event at all."""
    if a.doc == b.doc or not types_compatible(a.type, b.type):
        return False
    if a.country and b.country and a.country != b.country:
        return False
    if a.admin1_keys and b.admin1_keys and a.admin1_keys.isdisjoint(b.admin1_keys):
        return False
    lo = max(x for x in (a.start, b.start, -(10**9)) if x is not None)
    hi = min(x for x in (a.end, b.end, 10**9) if x is not None)
    if lo > hi:
        return False
    # ACLED's unit is one location: two reports that each place it in a different gazetteer town are two events
    # (unless one names the other's town, as in "Khan al-Subl near Saraqeb").
    if a.exact_town and b.exact_town and a.town != b.town and a.place_keys.isdisjoint(b.place_keys):
        return False
    shared_model = any(not x.isdisjoint(y) for x in a.aircraft_keys for y in b.aircraft_keys)
    return not (a.aircraft_keys and b.aircraft_keys and not shared_model)


def pair_score(a: _Features, b: _Features, weights: Mapping[str, float] = WEIGHTS) -> float:
    """The evidence that two linkable mentions report one event (see :data:`WEIGHTS`)."""
    score = weights["same_type"] if a.type is b.type else weights["compatible_type"]
    same_town = a.town is not None and a.town == b.town
    if same_town or not a.place_keys.isdisjoint(b.place_keys):
        score += weights["same_place"]
    elif (a.place_keys or a.town) and (b.place_keys or b.town):
        score += weights["different_place"]
    if not a.admin1_keys.isdisjoint(b.admin1_keys):
        score += weights["same_admin1"]
    if a.day is not None and a.day == b.day:
        score += weights["same_day"]
    elif None not in (a.start, a.end, b.start, b.end):
        score += weights["overlapping_dates"]
    if a.aircraft_keys and b.aircraft_keys:
        score += weights["same_aircraft"]  # can_link already refused disjoint models
    if not a.actor_keys.isdisjoint(b.actor_keys):
        score += weights["shared_actor"]
    if a.killed is not None and a.killed == b.killed:
        score += weights["same_death_toll"]
    union = len(a.words | b.words)
    if union:
        score += weights["text_overlap"] * len(a.words & b.words) / union
    return score


def _weeks(f: _Features, config: ClusterConfig) -> list[str]:
    """The time blocks of a mention: ISO weeks its date range touches, or "coarse"."""
    if f.start is not None and f.end is not None and (f.end - f.start) // 7 < config.max_weeks:
        weeks = []
        day = f.start - dt.date.fromordinal(f.start).weekday()
        while day <= f.end:
            year, week, _ = dt.date.fromordinal(day).isocalendar()
            weeks.append(f"{year}-W{week:02d}")
            day += 7
        return weeks
    if f.end is not None and f.start is None:  # bounded by publication only: its week and the one before
        monday = f.end - dt.date.fromordinal(f.end).weekday()
        return [f"{y}-W{w:02d}" for y, w, _ in (dt.date.fromordinal(monday - 7 * b).isocalendar() for b in (0, 1))]
    return ["coarse"]


_SPLITS: tuple[Callable[[_Features], str | None], ...] = (lambda f: f.country or None, lambda f: f.admin1)


def _split(
    key: tuple[str, ...], members: list[int], features: Sequence[_Features], level: int, max_block: int
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


class _UnionFind:
    def __init__(self, n: int, docs: Sequence[str]):
        self.parent = list(range(n))
        self.members: dict[int, list[int]] = {i: [i] for i in range(n)}
        self.docs: dict[int, set[str]] = {i: {docs[i]} for i in range(n)}

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i


@dataclass
class ClusterStats:
    """What the clustering did: for benchmarks and the run summary."""

    mentions: int = 0
    blocks: int = 0
    largest_block: int = 0
    pairs_compared: int = 0
    pairs_linked: int = 0
    events: int = 0


def cluster_mentions(
    mentions: Sequence[Mention],
    aliases: AliasIndex | None = None,
    config: ClusterConfig | None = None,
    stats: ClusterStats | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[list[Mention]]:
    """Group mentions into events; each group sorted, groups in order of their first mention."""
    aliases = aliases or AliasIndex()
    config = config or ClusterConfig()
    stats = stats if stats is not None else ClusterStats()
    ordered = sorted(mentions, key=lambda m: (m.document_id, m.index))
    features = [_features(m, aliases) for m in ordered]
    n = len(ordered)
    stats.mentions = n

    by_week: dict[tuple[str, ...], list[int]] = {}
    for i, f in enumerate(features):
        for week in _weeks(f, config):
            by_week.setdefault((week,), []).append(i)
    blocks: dict[tuple[str, ...], list[int]] = {}
    for key in sorted(by_week):
        blocks.update(_split(key, by_week[key], features, 0, config.max_block))
    block_of: list[list[tuple[str, ...]]] = [[] for _ in range(n)]
    for key in sorted(blocks):
        for i in blocks[key]:
            block_of[i].append(key)
    stats.blocks = len(blocks)
    stats.largest_block = max((len(v) for v in blocks.values()), default=0)

    candidates: list[tuple[float, int, int]] = []
    done = 0
    for key in sorted(blocks):
        members = blocks[key]
        for x, i in enumerate(members):
            fi = features[i]
            for j in members[x + 1 :]:
                # A pair sharing several blocks is compared in the first of them only.
                if len(block_of[i]) > 1 and len(block_of[j]) > 1 and min(set(block_of[i]) & set(block_of[j])) != key:
                    continue
                stats.pairs_compared += 1
                fj = features[j]
                if not can_link(fi, fj):
                    continue
                score = pair_score(fi, fj, config.weights)
                if score >= config.threshold:
                    candidates.append((score, i, j))
        done += 1
        if progress is not None:
            progress(done, len(blocks))

    uf = _UnionFind(n, [f.doc for f in features])
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
    for _, i, j in candidates:
        ri, rj = uf.find(i), uf.find(j)
        if ri == rj or not uf.docs[ri].isdisjoint(uf.docs[rj]):
            continue
        if not all(can_link(features[a], features[b]) for a in uf.members[ri] for b in uf.members[rj]):
            continue
        root, child = (ri, rj) if ri < rj else (rj, ri)
        uf.parent[child] = root
        uf.members[root].extend(uf.members.pop(child))
        uf.docs[root] |= uf.docs.pop(child)
        stats.pairs_linked += 1
    groups = [sorted(members) for members in uf.members.values()]
    groups.sort(key=lambda g: g[0])
    stats.events = len(groups)
    return [[ordered[i] for i in group] for group in groups]


def mentions_from_results(
    results: Iterable[DocumentResult],
    gazetteer: Gazetteer,
    published: Mapping[str, Published] | None = None,
) -> Iterator[Mention]:
    """The mentions of a run's records (failed documents have none)."""
    published = published or {}
    for result in results:
        pub = published.get(result.id)
        for index, incident in enumerate(result.incidents):
            yield Mention(
                document_id=result.id,
                index=index,
                incident=incident,
                published=pub,
                date=resolve_date(incident.date, pub),
                place=gazetteer.resolve(incident.location),
            )


def mentions_from_gold(
    gold: GoldSet, gazetteer: Gazetteer, published: Mapping[str, Published] | None = None
) -> list[Mention]:
    """The gold incidents as mentions, each carrying its cross-document key."""
    published = published or {}
    out = []
    for doc_id in sorted(gold.documents):
        pub = published.get(doc_id)
        for index, incident in enumerate(gold.documents[doc_id].incidents):
            out.append(
                Mention(
                    document_id=doc_id,
                    index=index,
                    incident=incident,
                    published=pub,
                    date=resolve_date(incident.date, pub),
                    place=gazetteer.resolve(incident.location),
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
