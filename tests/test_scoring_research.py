"""GTT role-filler F1 and CEAF-REE on hand-built documents, each worked out by hand beside the case."""

from __future__ import annotations

from itertools import permutations
from typing import Any

import pytest

from extract.core.schema import (
    Aircraft,
    AircraftCategory,
    Casualty,
    CasualtyKind,
    CountQualifier,
    DateInfo,
    DatePrecision,
    Incident,
    IncidentType,
    Location,
    Perpetrator,
    Source,
    SourceKind,
)
from extract.scoring import NameMatcher
from extract.scoring.gold import GoldIncident
from extract.scoring.normalize import AliasIndex
from extract.scoring.research import ceaf_ree_document, gtt_document, research_scores, role_fillers
from tests.test_scoring_cases import gold_incident, gold_set, result, score

Q = "q"
NAMES = NameMatcher(AliasIndex({"Syrian rebels": ["rebels"]}))


def incident(kind: IncidentType, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"type": kind, "quote": Q, "summary": "s"}
    return {**base, **fields}


def day(text: str) -> DateInfo:
    return DateInfo(text=text, precision=DatePrecision.DAY, quote=Q)


def perp(name: str) -> list[Perpetrator]:
    return [Perpetrator(name=name, status="confirmed", quote=Q)]


KILLED_1 = [Casualty(kind=CasualtyKind.KILLED, count=1, qualifier=CountQualifier.EXACT, quote=Q)]

# Gold: a downing (5 fillers: date, location, region, perpetrator, victim) and an air strike (3 fillers).
GOLD = [
    GoldIncident(
        **incident(
            IncidentType.AIRCRAFT_DOWNING,
            date=day("Saturday"),
            location=Location(near="Saraqeb", country="Syria", quote=Q),
            perpetrators=perp("Tahrir al-Sham"),
            casualties=KILLED_1,
        ),
        key="a",
    ),
    GoldIncident(
        **incident(
            IncidentType.AIR_STRIKE,
            location=Location(place="Ariha", country="Syria", quote=Q),
            perpetrators=perp("Russia"),
        ),
        key="b",
    ),
]
# Prediction: the downing with the wrong day and the wrong group, the town given as place rather than near
# (the location role ignores how a town relates); the strike typed as shelling.
PRED = [
    Incident(
        **incident(
            IncidentType.AIRCRAFT_DOWNING,
            date=day("Sunday"),
            location=Location(place="Saraqeb", country="Syria", quote=Q),
            perpetrators=perp("Ahrar al-Sham"),
            casualties=KILLED_1,
        )
    ),
    Incident(
        **incident(
            IncidentType.SHELLING,
            location=Location(place="Ariha", country="Syria", quote=Q),
            perpetrators=perp("Russia"),
        )
    ),
]


def totals(per_role: dict[str, Any]) -> tuple[int, int, int]:
    return (
        sum(c.matched for c in per_role.values()),
        sum(c.predicted for c in per_role.values()),
        sum(c.gold for c in per_role.values()),
    )


def test_gtt_by_hand() -> None:
    # Downing aligned with downing: location, region and victim match (3 of 5 on each side).
    # The shelling cannot align with the air strike (types differ): its 3 fillers are spurious, the strike's 3
    # missing. Matched 3, predicted 5 + 3 = 8, gold 5 + 3 = 8: P = R = F1 = 3/8.
    per_role = gtt_document(GOLD, PRED, NAMES)
    assert totals(per_role) == (3, 8, 8)
    assert (per_role["perpetrator"].matched, per_role["perpetrator"].gold) == (0, 2)
    assert research_scores([(GOLD, PRED)], NAMES).gtt.f1 == pytest.approx(3 / 8)


def test_ceaf_ree_by_hand() -> None:
    # Templates ignored; per role, entities pooled over the document:
    # date {Saturday} vs {Sunday}: 0/1/1; location {Saraqeb, Ariha} both: 2/2/2; region {Syria} (the two gold
    # mentions are one entity): 1/1/1; perpetrator {Tahrir al-Sham, Russia} vs {Ahrar al-Sham, Russia}: 1/2/2;
    # victim {killed 1}: 1/1/1. Matched 5 of 7 predicted and 7 gold: F1 5/7.
    per_role = ceaf_ree_document(GOLD, PRED, NAMES)
    assert totals(per_role) == (5, 7, 7)
    assert (per_role["region"].matched, per_role["region"].predicted, per_role["region"].gold) == (1, 1, 1)
    assert research_scores([(GOLD, PRED)], NAMES).ceaf_ree.f1 == pytest.approx(5 / 7)


def test_aliases_are_one_entity_on_both_sides() -> None:
    gold = [GoldIncident(**incident(IncidentType.ARMED_CLASH, perpetrators=perp("Syrian rebels")), key="a")]
    pred = [
        Incident(**incident(IncidentType.ARMED_CLASH, perpetrators=perp("rebels"))),
        Incident(**incident(IncidentType.SHELLING, perpetrators=perp("Syrian rebels"))),
    ]
    # one entity each side in CEAF-REE: 1/1/1; in GTT the shelling's filler is spurious: 1/2/1
    assert totals(ceaf_ree_document(gold, pred, NAMES)) == (1, 1, 1)
    assert totals(gtt_document(gold, pred, NAMES)) == (1, 2, 1)


@pytest.mark.parametrize(
    ("place", "near", "expected"),
    [
        pytest.param("Sarqeb", "Sarqeb", (2, 2, 2), id="optional-place-given"),
        pytest.param(None, "Sarqeb", (1, 1, 1), id="optional-place-left-out"),
        pytest.param("Sarqeb", None, (1, 1, 1), id="required-near-found-as-place"),
        pytest.param("Homs", "Sarqeb", (1, 2, 1), id="wrong-optional-place-is-spurious"),
    ],
)
def test_optional_gold_values(place: str | None, near: str | None, expected: tuple[int, int, int]) -> None:
    # gold: near Sarqeb, place left empty but "Sarqeb" accepted (the headline says "in Sarqeb")
    gold = [
        GoldIncident(
            **incident(IncidentType.AIRCRAFT_DOWNING, location=Location(near="Sarqeb", quote=Q)),
            key="a",
            alternatives={"location.place": ["Sarqeb"]},
        )
    ]
    pred = [Incident(**incident(IncidentType.AIRCRAFT_DOWNING, location=Location(place=place, near=near, quote=Q)))]
    assert totals(gtt_document(gold, pred, NAMES)) == expected


def test_role_fillers_of_an_incident() -> None:
    fillers = role_fillers(GOLD[0])
    assert [f.role for f in fillers] == ["date", "location", "region", "perpetrator", "victim"]


def test_eval_reports_the_research_metrics() -> None:
    gold = gold_set({"d": [gold_incident(i.model_dump(exclude={"key", "alternatives", "note"})) for i in GOLD]})
    report = score(gold, [result("d", [p.model_dump() for p in PRED])])
    summary = report.summary()
    assert summary["research"]["gtt"]["f1"] == pytest.approx(3 / 8)
    assert summary["research"]["ceaf_ree"]["f1"] == pytest.approx(5 / 7)
    assert set(summary["research"]["gtt_roles"]) == {"date", "location", "region", "perpetrator", "victim"}


def test_a_qualified_place_fills_its_role() -> None:
    # "Saraqib town" is the gold's Saraqeb and "Idlib province" its Idlib: location 1/1/1, region 1/1/1.
    gold = [
        GoldIncident(
            **incident(IncidentType.AIR_STRIKE, location=Location(place="Saraqeb", admin1="Idlib", quote=Q)), key="a"
        )
    ]
    pred = [
        Incident(
            **incident(
                IncidentType.AIR_STRIKE, location=Location(place="Saraqib town", admin1="Idlib province", quote=Q)
            )
        )
    ]
    assert totals(gtt_document(gold, pred, NAMES)) == (2, 2, 2)
    assert totals(ceaf_ree_document(gold, pred, NAMES)) == (2, 2, 2)


def test_gtt_roles_do_not_depend_on_the_order_of_the_incidents() -> None:
    """Two pairings of equal credit put the match in different roles; the incidents' order must not choose."""
    su25 = [Aircraft(model="Su-25", category=AircraftCategory.FIXED_WING, quote="q")]
    sohr = [Source(name="SOHR", kind=SourceKind.GOVERNMENT, quote="q")]
    saraqeb = Location(place="Saraqeb", quote="q")
    gold = [
        GoldIncident.model_validate({**incident(IncidentType.AIRCRAFT_LOSS, aircraft=su25, sources=sohr), "key": "a"}),
        GoldIncident.model_validate({**incident(IncidentType.AIRCRAFT_DOWNING), "key": "b"}),
        GoldIncident.model_validate(
            {**incident(IncidentType.AIRCRAFT_DOWNING, location=saraqeb, aircraft=su25), "key": "c"}
        ),
    ]
    pred = [
        Incident.model_validate(incident(IncidentType.AIRCRAFT_DOWNING)),
        Incident.model_validate(incident(IncidentType.AIRCRAFT_LOSS, location=saraqeb, aircraft=su25)),
        Incident.model_validate(incident(IncidentType.AIRCRAFT_LOSS, sources=sohr)),
    ]
    seen = {
        repr(sorted((role, c.as_dict()) for role, c in gtt_document(list(g), list(p), NAMES).items()))
        for g in permutations(gold)
        for p in permutations(pred)
    }
    assert len(seen) == 1
