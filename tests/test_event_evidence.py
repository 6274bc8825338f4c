"""The evidence the event clustering weighs, one rule at a time, on the real gazetteer.

Each test states a way real reports of one incident disagree (or two incidents look alike)
and checks the rule that decides it, not a score on a data set.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from extract.core.records import DocumentResult, Provenance, Status
from extract.core.schema import Aircraft, Casualty, DateInfo, Incident, Location
from extract.events.cluster import (
    NEARBY_KM,
    WEIGHTS,
    _features,
    aircraft_keys,
    cluster_mentions,
    distance_km,
    mentions_from_results,
    pair_score,
    place_relation,
    toll_relation,
)
from extract.events.dates import Published
from extract.events.geocode import Gazetteer, default_gazetteer, resolve_article
from extract.events.records import PlaceFlag
from extract.scoring.normalize import AliasIndex

FRI, SAT, SUN = dt.date(2018, 2, 2), dt.date(2018, 2, 3), dt.date(2018, 2, 4)
_PROVENANCE = Provenance(
    prompt="p", prompt_hash="-", schema_version="1.0.0", backend="b", model="m", extractor_version="0"
)


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return default_gazetteer(None)


def _incident(
    kind: str = "aircraft_downing",
    *,
    place: str | None = "Saraqeb",
    near: str | None = None,
    admin1: str | None = "Idlib",
    country: str | None = "Syria",
    date: str | None = "Saturday",
    model: str | None = "Su-22",
    category: str = "fixed_wing",
    killed: list[tuple[int, str]] | None = None,
    actor: str | None = None,
    quote: str | None = None,
) -> Incident:
    where = place or near or admin1 or "Syria"
    what = model or "an aircraft"
    body: dict[str, Any] = {
        "type": kind,
        "quote": quote or f"A {what} came down at {where}.",
        "summary": quote or f"A {what} came down at {where}.",
        "location": {"place": place, "near": near, "admin1": admin1, "country": country, "quote": where},
        "aircraft": [Aircraft(model=model, category=category, quote=what)] if model or category != "unknown" else [],
        "casualties": [Casualty(kind="killed", count=n, qualifier=q, quote="killed") for n, q in killed or []],
    }
    if date is not None:
        body["date"] = DateInfo(text=date, precision="day", quote=date)
    if actor is not None:
        body["perpetrators"] = [{"name": actor, "status": "claimed", "quote": actor}]
    return Incident.model_validate(body)


def _events(gazetteer: Gazetteer, articles: dict[str, tuple[dt.date, list[Incident]]]) -> list[list[str]]:
    """Cluster articles given as {doc id: (publication day, incidents)}; the events as sorted mention refs."""
    results = [
        DocumentResult(id=doc, status=Status.OK, incidents=incidents, provenance=_PROVENANCE)
        for doc, (_, incidents) in articles.items()
    ]
    published = {doc: Published.on(day) for doc, (day, _) in articles.items()}
    mentions = list(mentions_from_results(results, gazetteer, published))
    return sorted(sorted(m.ref for m in group) for group in cluster_mentions(mentions))


def _pair(gazetteer: Gazetteer, a: Incident, b: Incident, published: tuple[dt.date, dt.date] = (SUN, SUN)) -> Any:
    results = [
        DocumentResult(id=doc, status=Status.OK, incidents=[incident], provenance=_PROVENANCE)
        for doc, incident in (("a", a), ("b", b))
    ]
    dates = {"a": Published.on(published[0]), "b": Published.on(published[1])}
    mentions = list(mentions_from_results(results, gazetteer, dates))
    return tuple(_features(m, AliasIndex()) for m in mentions)


# -- reports of one incident that disagree ---------------------------------------------------------------------------


def test_a_loss_weighs_as_a_downing_of_the_same_aircraft(gazetteer: Gazetteer) -> None:
    downing, loss = _pair(gazetteer, _incident(), _incident("aircraft_loss"))
    twin = _pair(gazetteer, _incident(), _incident())[1]
    assert pair_score(downing, loss) == pair_score(downing, twin)
    strike, shelling = _pair(gazetteer, _incident("missile_strike"), _incident("shelling"))
    assert pair_score(strike, shelling) == pair_score(downing, twin) - WEIGHTS["same_type"] + WEIGHTS["compatible_type"]


def test_two_reports_that_disagree_in_every_way_real_ones_do_merge(gazetteer: Gazetteer) -> None:
    """Village against town, loss against downing, 14 against 15 dead, a type against a role, no date a day early."""
    first = _incident(place="Saraqeb", date="Saturday", model="Su-22", killed=[(14, "exact")])
    second = _incident(
        "aircraft_loss",
        place="Lislamin",
        date=None,
        model="pro-regime fighter jet",
        category="unknown",
        killed=[(15, "exact")],
    )
    assert _events(gazetteer, {"a": (SUN, [first]), "b": (FRI, [second])}) == [["a#0", "b#0"]]


@pytest.mark.parametrize(
    ("second", "relation"),
    [
        pytest.param(_incident(place="Saraqib"), "same", id="one-town-two-spellings"),
        pytest.param(_incident(place="Khan al-Subl", near="Saraqeb"), "same", id="village-near-the-town-named"),
        pytest.param(_incident(place=None, near="Saraqeb"), "same", id="only-near-the-town"),
        pytest.param(_incident(place="Lislamin"), "nearby", id="village-by-the-town-in-the-gazetteer"),
        pytest.param(_incident(place="Afis"), "far", id="a-town-of-its-standing-5km-away"),
        pytest.param(_incident(place="Binnish"), "far", id="a-town-of-its-standing-13km-away"),
        pytest.param(_incident(place="Maasaran"), "different", id="a-place-not-in-the-gazetteer"),
        pytest.param(_incident(place=None), "unknown", id="only-the-province"),
    ],
)
def test_place_relation_through_the_gazetteer(gazetteer: Gazetteer, second: Incident, relation: str) -> None:
    a, b = _pair(gazetteer, _incident(place="Saraqeb"), second)
    assert place_relation(a, b) == relation == place_relation(b, a)


def test_nearby_means_within_the_stated_distance(gazetteer: Gazetteer) -> None:
    saraqib, lislamin = _pair(gazetteer, _incident(place="Saraqeb"), _incident(place="Lislamin"))
    assert saraqib.point and lislamin.point and distance_km(saraqib.point, lislamin.point) < NEARBY_KM
    assert lislamin.population * 10 <= saraqib.population  # a village by a town
    idlib = _pair(gazetteer, _incident(place="Lislamin"), _incident(place="Kafranbel"))[1]  # a town 40 km away
    assert idlib.point and distance_km(lislamin.point, idlib.point) > NEARBY_KM
    assert lislamin.population * 10 <= idlib.population and place_relation(lislamin, idlib) == "far"


def test_two_villages_near_one_town_are_not_one_place_by_that_town(gazetteer: Gazetteer) -> None:
    said = "Turkish forces shelled a village near Tel Tamr."

    def shelling(village: str, near: str | None) -> Incident:
        return _incident("shelling", place=village, near=near, admin1="Al-Hasakah", model=None, quote=said)

    siblings = _pair(gazetteer, shelling("Al-Dardar", "Tel Tamr"), shelling("Al-Tawila", "Tel Tamr"))
    unrelated = _pair(gazetteer, shelling("Al-Dardar", None), shelling("Al-Tawila", None))
    assert place_relation(*siblings) == "siblings" and place_relation(*unrelated) == "different"
    # The shared reference town takes away the penalty of two different places, and adds nothing.
    assert pair_score(*siblings) == pytest.approx(pair_score(*unrelated) - WEIGHTS["different_place"])


@pytest.mark.parametrize(
    ("first", "second", "relation"),
    [
        pytest.param([(14, "exact")], [(15, "exact")], "close", id="14-and-15-dead"),
        pytest.param([(3, "exact")], [(40, "exact")], "apart", id="3-and-40-dead"),
        pytest.param([(11, "more_than")], [(18, "at_least")], "close", id="more-than-11-and-at-least-18"),
        pytest.param([(11, "more_than")], [(1, "exact")], "apart", id="more-than-11-and-one"),
        pytest.param([(3, "at_least")], [(40, "exact")], "apart", id="at-least-3-is-not-40"),
        pytest.param([(5, "exact"), (2, "exact")], [(4, "exact")], "close", id="one-group-of-two-close"),
        pytest.param([(100, "about")], [(118, "exact")], "close", id="about-100-and-118"),
        pytest.param([(7, "exact")], [(7, "at_least")], "same", id="the-same-figure"),
        pytest.param([(7, "exact")], [], "unknown", id="one-report-gives-none"),
    ],
)
def test_death_tolls_of_one_incident_differ_a_little(
    gazetteer: Gazetteer, first: list[tuple[int, str]], second: list[tuple[int, str]], relation: str
) -> None:
    a, b = _pair(gazetteer, _incident(killed=first), _incident(killed=second))
    assert toll_relation(a, b) == relation == toll_relation(b, a)


@pytest.mark.parametrize(
    ("first", "second", "match"),
    [
        pytest.param("Su-22", "Su-22M4", True, id="variant-of-one-family"),
        pytest.param("Sukhoi Su-25", "Su 25", True, id="maker-and-spacing"),
        pytest.param("Mi-28N", "Mi-28", True, id="variant-letter"),
        pytest.param("Su-24", "Su-25", False, id="two-families"),
        pytest.param("MiG-21", "MiG-23", False, id="two-mig-families"),
    ],
)
def test_aircraft_designations_match_by_family(first: str, second: str, match: bool) -> None:
    a = aircraft_keys(Aircraft(model=first, category="fixed_wing", quote="q"), AliasIndex())
    b = aircraft_keys(Aircraft(model=second, category="fixed_wing", quote="q"), AliasIndex())
    assert a and b and (not a.isdisjoint(b)) is match


@pytest.mark.parametrize(
    "model", ["a pro-regime fighter jet", "warplane", "Black Hawk helicopter", "drone"], ids=lambda m: m
)
def test_a_description_is_not_a_designation(model: str) -> None:
    assert aircraft_keys(Aircraft(model=model, category="unknown", quote="q"), AliasIndex()) == frozenset()


def test_a_designation_and_a_description_of_its_role_merge_by_role(gazetteer: Gazetteer) -> None:
    said = "A plane came down at Saraqeb."
    typed = _incident(model="Su-22", quote=said)
    described = _pair(gazetteer, typed, _incident(model="fighter jet", category="unknown", quote=said))
    untyped = _pair(gazetteer, typed, _incident(model=None, category="unknown", quote=said))
    assert pair_score(*described) == pair_score(*untyped) + WEIGHTS["same_aircraft_role"]


def test_a_date_known_only_from_publication_allows_a_day_of_time_zone(gazetteer: Gazetteer) -> None:
    dated = _incident(date="Saturday", model=None, category="unknown")
    undated = _incident(date=None, model=None, category="unknown")
    assert _events(gazetteer, {"a": (SUN, [dated]), "b": (FRI, [undated])}) == [["a#0", "b#0"]]
    two_days_early = {"a": (SUN, [dated]), "b": (dt.date(2018, 2, 1), [undated])}
    assert _events(gazetteer, two_days_early) == [["a#0"], ["b#0"]]


def test_an_undated_report_tells_of_the_days_before_publication(gazetteer: Gazetteer) -> None:
    dated, undated = _pair(gazetteer, _incident(date="Saturday"), _incident(date=None), published=(SUN, SUN))
    stale = _pair(gazetteer, _incident(date="Saturday"), _incident(date=None), published=(SUN, dt.date(2018, 2, 20)))
    assert pair_score(dated, undated) == pair_score(*stale) + WEIGHTS["overlapping_dates"]


# -- incidents that look alike and stay apart ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "second",
    [
        pytest.param(_incident(model="Mi-8", category="helicopter", date="Monday"), id="another-aircraft-same-week"),
        pytest.param(_incident(model=None, category="helicopter"), id="a-helicopter-and-a-jet-same-day"),
        pytest.param(_incident(place="Afis"), id="a-town-of-its-standing-nearby"),
        pytest.param(_incident(date="Sunday"), id="the-next-day-in-the-same-town"),
    ],
)
def test_two_downings_in_one_week_and_region_stay_apart(gazetteer: Gazetteer, second: Incident) -> None:
    first = _incident(model=None, category="fixed_wing")
    assert _events(gazetteer, {"a": (dt.date(2018, 2, 6), [first]), "b": (dt.date(2018, 2, 6), [second])}) == [
        ["a#0"],
        ["b#0"],
    ]


def test_a_report_of_one_of_two_downings_joins_the_right_one(gazetteer: Gazetteer) -> None:
    both = [_incident(model="Su-22", place="Saraqeb"), _incident(model="Mi-8", category="helicopter", place="Binnish")]
    one = [_incident(place=None, model="a pro-regime fighter jet", category="unknown", date=None)]
    assert _events(gazetteer, {"a": (SUN, both), "b": (SUN, one)}) == [["a#0", "b#0"], ["a#1"]]


# -- the article as context ------------------------------------------------------------------------------------------


def test_a_province_of_one_country_names_the_country(gazetteer: Gazetteer) -> None:
    place = gazetteer.resolve(Location(place="Saraqeb", admin1="Idlib", quote="x"))
    assert place is not None and (place.name, place.country_code) == ("Saraqib", "SY")
    assert PlaceFlag.COUNTRY_INFERRED in place.flags
    punjab = gazetteer.resolve(Location(place="Lahore", admin1="Punjab", quote="x"))  # India's and Pakistan's
    assert punjab is not None and punjab.geonames_id is None and punjab.flags == [PlaceFlag.NO_COUNTRY]


def test_an_incident_without_a_country_is_looked_up_in_the_articles(gazetteer: Gazetteer) -> None:
    stated = Location(place="Saraqeb", country="Syria", quote="x")
    bare = Location(place="Binnish", quote="x")
    _, binnish = resolve_article(gazetteer, [stated, bare])
    assert binnish is not None and (binnish.name, binnish.country_code) == ("Binnish", "SY")
    assert PlaceFlag.COUNTRY_INFERRED in binnish.flags
    _, _, unsure = resolve_article(gazetteer, [stated, Location(place="Mosul", country="Iraq", quote="x"), bare])
    assert unsure is not None and unsure.flags == [PlaceFlag.NO_COUNTRY]  # two countries: no guess


# -- reproducing the figures offline -------------------------------------------------------------------------------


def test_gold_events_scores_a_set_whose_texts_are_not_there(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import shutil

    from extract.cli import main

    from .conftest import GOLD

    labels_only = tmp_path / "set"
    shutil.copytree(GOLD / "labels", labels_only / "labels")
    for name in ("aliases.json", "published.json"):
        shutil.copy(GOLD / name, labels_only / name)
    summary = tmp_path / "events.json"
    assert main(["gold", "events", str(labels_only), "--json", str(summary)]) == 0
    out = capsys.readouterr().out
    assert "11 events for 11 incident keys" in out and "with the alias table" in out
    data = json.loads(summary.read_text())
    assert data["gold_input"]["conll_f1"] == 1.0 and data["documents_with_publication_date"] == 5
    assert main(["gold", "events", str(tmp_path / "nowhere")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "nowhere" in line and "labels" in line
