"""Ways a worse prediction used to score as well as a better one, each pinned by a hand-worked case.

Every case compares two predictions whose order is clear to a human coder (the right
town beats no town; a wrong town is worse than a missing country; 1,000,000 is not
"at least 21"), and asserts that the scorer orders them the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from extract.core.fields import PLACE_QUALIFIERS, field_of
from extract.core.records import Alignment, EvidenceSpan
from extract.core.schema import Casualty, CasualtyKind, CountQualifier, IncidentType, Location
from extract.scoring import NameMatcher, Verdict, compare_count, compare_name, evaluate
from extract.scoring.gold import GoldDocument, GoldSet
from extract.scoring.normalize import AliasIndex
from tests.test_scoring_cases import downing, gold_incident, gold_set, result, score

FOUR_PART = Location(place="Khan al-Subl", near="Saraqeb", admin1="Idlib", country="Syria", quote="q")


def location_score(gold: Location, pred: Location | None, **alternatives: list[str]) -> Any:
    report = score(
        gold_set({"d": [gold_incident(downing(location=gold), alternatives=alternatives)]}),
        [result("d", [downing(location=pred)])],
    )
    return report


# ---------------------------------------------------------------- locations


def test_a_correct_but_less_specific_location_beats_an_empty_one() -> None:
    less = location_score(FOUR_PART, Location(place="Khan al-Subl", quote="q"))
    empty = location_score(FOUR_PART, None)
    assert less.fields["location"].partial == 1
    assert less.slots.f1 > empty.slots.f1
    assert less.fields["location"].f1 > empty.fields["location"].f1


def test_wrong_values_where_the_gold_is_empty_cost_precision() -> None:
    gold = Location(near="Saraqeb", admin1="Idlib", country="Syria", quote="q")
    exact = location_score(gold, gold)
    overfilled = location_score(
        gold, Location(place="Homs", near="Saraqeb", admin1="Idlib", country="Syria", quote="q")
    )
    assert exact.slots.precision == 1.0
    assert overfilled.slots.precision < 1.0
    assert overfilled.slots.recall == 1.0  # nothing the gold asked for was lost


def test_an_accepted_optional_value_is_not_overfilling() -> None:
    gold = Location(near="Sarqeb", admin1="Idlib", country="Syria", quote="q")
    pred = Location(place="Sarqeb", near="Sarqeb", admin1="Idlib", country="Syria", quote="q")
    report = location_score(gold, pred, **{"location.place": ["Sarqeb"]})
    assert report.slots.f1 == 1.0


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        pytest.param(
            Location(place="Saraqeb", country="Syria", quote="q"),
            Location(near="Saraqeb", country="Syria", quote="q"),
            id="place-as-near",
        ),
        pytest.param(
            Location(near="Homs", country="Syria", quote="q"),
            Location(place="Homs", country="Syria", quote="q"),
            id="near-as-place",
        ),
    ],
)
def test_a_town_related_differently_earns_credit(gold: Location, pred: Location) -> None:
    related = location_score(gold, pred)
    wrong = location_score(
        gold, pred.model_copy(update={"place": pred.place and "Ariha", "near": pred.near and "Ariha"})
    )
    assert related.fields["location"].partial == 1
    assert related.slots.f1 > wrong.slots.f1


def test_a_missing_country_weighs_less_than_a_wrong_town() -> None:
    gold = Location(place="Saraqeb", admin1="Idlib", country="Syria", quote="q")
    no_country = location_score(gold, Location(place="Saraqeb", admin1="Idlib", quote="q"))
    wrong_town = location_score(gold, Location(place="Homs", admin1="Idlib", country="Syria", quote="q"))
    assert no_country.slots.f1 > wrong_town.slots.f1


def test_a_qualified_place_is_the_place() -> None:
    """ "Saraqib town" for the gold "Saraqeb" and "Idlib countryside" for the province "Idlib" are right."""
    gold = Location(place="Saraqeb", admin1="Idlib", country="Syria", quote="q")
    qualified = location_score(gold, Location(place="Saraqib town", admin1="Idlib countryside", country="Syria",
                                              quote="q"))  # fmt: skip
    assert qualified.fields["location"].correct == 1
    assert qualified.slots.f1 == location_score(gold, gold).slots.f1 == 1.0


def test_a_location_made_of_qualifiers_is_wrong() -> None:
    gold = Location(place="Saraqeb", admin1="Idlib", country="Syria", quote="q")
    report = location_score(gold, Location(place="the town", admin1="countryside", country="Syria", quote="q"))
    assert report.fields["location"].incorrect == 1
    assert {report.subfields["location.place"].incorrect, report.subfields["location.admin1"].incorrect} == {1}


# The places declare their qualifiers; other names (actors, sources...) keep every word.
PLACE = field_of(Location, "place").spec.qualifiers
assert PLACE == PLACE_QUALIFIERS


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        pytest.param("Idlib", "Idlib countryside", Verdict.CORRECT, id="countryside"),
        pytest.param("Idlib", "Idlib's countryside", Verdict.CORRECT, id="possessive"),
        pytest.param("Idlib", "the countryside of Idlib", Verdict.CORRECT, id="countryside-of"),
        pytest.param("Idlib", "Idlib Province", Verdict.CORRECT, id="province"),
        pytest.param("Idlib", "Idlib Governorate", Verdict.CORRECT, id="governorate"),
        pytest.param("Saraqeb", "Saraqib town", Verdict.CORRECT, id="town-transliterated"),
        pytest.param("Saraqeb", "the outskirts of Sarqeb", Verdict.CORRECT, id="outskirts"),
        pytest.param("Idlib", "Hama countryside", Verdict.INCORRECT, id="another-province"),
        pytest.param("Idlib", "countryside", Verdict.INCORRECT, id="only-a-qualifier"),
        pytest.param("Idlib", "the town of the district", Verdict.INCORRECT, id="only-qualifiers"),
        pytest.param("Idlib", "Idlib, Hama, Aleppo and Latakia countryside", Verdict.INCORRECT, id="padded-places"),
        pytest.param("Khan al-Subl", "Khan al-Subl village", Verdict.CORRECT, id="village"),
    ],
)
def test_place_qualifiers(gold: str, pred: str, expected: Verdict) -> None:
    assert MATCHER.compare(gold, pred, qualifiers=PLACE) is expected
    assert MATCHER.compare(gold, pred, qualifiers=PLACE) is MATCHER.compare(pred, gold, qualifiers=PLACE)


# ---------------------------------------------------------------- counts


def cas(count: int, qualifier: CountQualifier = CountQualifier.EXACT, count_max: int | None = None) -> Casualty:
    return Casualty(kind=CasualtyKind.KILLED, count=count, count_max=count_max, qualifier=qualifier, quote="q")


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        pytest.param(cas(21, CountQualifier.AT_LEAST), cas(1_000_000), Verdict.INCORRECT, id="at-least-huge"),
        pytest.param(cas(21, CountQualifier.AT_LEAST), cas(20), Verdict.INCORRECT, id="at-least-below"),
        pytest.param(cas(21, CountQualifier.AT_LEAST), cas(22), Verdict.PARTIAL, id="at-least-above"),
        pytest.param(cas(21, CountQualifier.AT_LEAST), cas(42), Verdict.PARTIAL, id="at-least-double"),
        pytest.param(cas(21, CountQualifier.AT_LEAST), cas(43), Verdict.INCORRECT, id="at-least-over-double"),
        pytest.param(cas(30, CountQualifier.MORE_THAN), cas(10_000), Verdict.INCORRECT, id="more-than-huge"),
        pytest.param(cas(30, CountQualifier.MORE_THAN), cas(31), Verdict.PARTIAL, id="more-than-above"),
        pytest.param(cas(30, CountQualifier.MORE_THAN), cas(30), Verdict.PARTIAL, id="more-than-same-number"),
        pytest.param(
            cas(21, CountQualifier.AT_LEAST),
            cas(21, CountQualifier.RANGE, 1_000_000),
            Verdict.INCORRECT,
            id="range-upper-end-outside",
        ),
        pytest.param(
            cas(21, CountQualifier.AT_LEAST), cas(25, CountQualifier.RANGE, 30), Verdict.PARTIAL, id="range-inside"
        ),
        pytest.param(
            cas(10, CountQualifier.RANGE, 15), cas(12, CountQualifier.RANGE, 40), Verdict.INCORRECT, id="range-in-range"
        ),
    ],
)
def test_open_counts_are_bounded(gold: Casualty, pred: Casualty, expected: Verdict) -> None:
    assert compare_count(gold, pred) is expected


def test_a_huge_count_everywhere_scores_below_one_too_high() -> None:
    gold = [cas(21, CountQualifier.AT_LEAST), cas(30, CountQualifier.MORE_THAN)]

    def f1(counts: list[int]) -> float:
        preds = [
            c.model_copy(update={"count": n, "qualifier": CountQualifier.EXACT})
            for c, n in zip(gold, counts, strict=True)
        ]
        kinds = [CasualtyKind.KILLED, CasualtyKind.INJURED]
        g = [c.model_copy(update={"kind": k}) for c, k in zip(gold, kinds, strict=True)]
        p = [c.model_copy(update={"kind": k}) for c, k in zip(preds, kinds, strict=True)]
        report = score(gold_set({"d": [gold_incident(downing(casualties=g))]}), [result("d", [downing(casualties=p)])])
        return report.fields["casualties"].f1

    assert f1([22, 31]) > f1([1_000_000, 1_000_000])


# ---------------------------------------------------------------- names

ALIASES = AliasIndex(
    {
        "Hayat Tahrir al-Sham": ["Tahrir al-Sham", "HTS"],
        "Russian Defence Ministry": ["Russian Ministry of Defense", "Russian MoD"],
        "Saraqeb": ["Sarqeb", "Saraqib"],
    }
)
MATCHER = NameMatcher(ALIASES)


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        pytest.param("Tahrir al-Sham", "Ahrar al-Sham", id="ahrar-for-tahrir"),
        pytest.param("Russia", "Prussia", id="prussia-for-russia"),
        pytest.param("Russian Defence Ministry", "Syrian", id="syrian-for-ministry"),
        pytest.param("Austria", "Australia", id="australia-for-austria"),
        pytest.param("Jaish al-Nasr", "Jaish al-Islam", id="jaish-al-islam"),
        pytest.param("Islamic State", "Islamic Jihad", id="islamic-jihad"),
        pytest.param("Syrian rebels", "Syrian government", id="rebels-for-government"),
        pytest.param("Hama", "Homs", id="hama-for-homs"),
        pytest.param("Mi-8", "Mi-28N", id="different-helicopter"),
        pytest.param("Syrian Air Force", "Russian Air Force", id="other-air-force"),
        pytest.param("Free Syrian Army", "Syrian Arab Army", id="fsa-for-saa"),
        pytest.param(
            "Jaish al-Nasr",
            "Syrian rebels, Tahrir al-Sham, Jaish al-Nasr, Russia, Islamic State, Ahrar al-Sham, "
            "Nusra Front, Syrian army, Hezbollah, Free Syrian Army",
            id="ten-actors-in-one-string",
        ),
        pytest.param(
            "Syrian rebels",
            "Syrian rebels and Russian forces and Syrian government forces and Turkish army",
            id="actor-list-with-and",
        ),
    ],
)
def test_near_misses_score_wrong(gold: str, pred: str) -> None:
    assert MATCHER.compare(gold, pred) is Verdict.INCORRECT


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        pytest.param("Saraqeb", "Sarqeb", Verdict.CORRECT, id="dropped-vowel"),
        pytest.param("Saraqeb", "Saraqib", Verdict.CORRECT, id="e-i"),
        pytest.param("Saraqib", "Sarqeb", Verdict.CORRECT, id="via-alias"),
        pytest.param("Tahrir al-Sham", "HTS", Verdict.CORRECT, id="alias"),
        pytest.param("Russian Defence Ministry", "Russian Ministry of Defense", Verdict.CORRECT, id="alias-reworded"),
        pytest.param("Deir ez-Zor", "Dayr az-Zawr", Verdict.CORRECT, id="transliteration"),
        pytest.param("Khan al-Subl", "Khan al-Sabil", Verdict.CORRECT, id="khan-subl"),
        pytest.param("Tahrir al-Sham", "Hayat Tahrir al-Sham", Verdict.CORRECT, id="longer-form-alias"),
        pytest.param("Jaish al-Nasr", "Jaysh al-Nasr", Verdict.CORRECT, id="jaysh"),
        pytest.param("Nikolayevich", "Nikolaevich", Verdict.CORRECT, id="patronymic"),
        pytest.param("Roman Filipov", "Roman Fillipov", Verdict.CORRECT, id="doubled-letter"),
        pytest.param("Syrian Observatory for Human Rights", "Syrian Observatory of Human Rights", Verdict.PARTIAL,
                     id="of-for"),
        pytest.param("Jabhat Fatah al-Sham", "Jabhat Fateh al-Sham", Verdict.CORRECT, id="fatah-fateh"),
        pytest.param("Sukhoi Su-25", "Sukhoy Su-25", Verdict.CORRECT, id="sukhoy"),
        pytest.param("Hayat Tahrir al-Sham", "Hayat Tahrir", Verdict.PARTIAL, id="shorter-form"),
        pytest.param("Syrian rebel groups", "rebel groups", Verdict.PARTIAL, id="subset"),
    ],
)  # fmt: skip
def test_variants_score_right(gold: str, pred: str, expected: Verdict) -> None:
    assert MATCHER.compare(gold, pred) is expected


def test_compare_name_without_aliases_still_rejects_near_misses() -> None:
    assert compare_name("Russia", "Prussia") is Verdict.INCORRECT
    assert compare_name("Saraqeb", "Sarqeb") is Verdict.CORRECT


# ---------------------------------------------------------------- types


def test_detection_is_strict_about_types() -> None:
    gold = gold_set({"d": [gold_incident(downing())]})
    report = score(gold, [result("d", [downing(type=IncidentType.AIRCRAFT_LOSS)])])
    assert report.incidents.f1 == 0.0
    assert (report.incidents.matched, report.incidents.spurious, report.incidents.missing) == (0, 1, 1)
    assert report.incidents_lenient.f1 == 1.0  # still aligned for slot credit
    assert report.fields["type"].incorrect == 1
    summary = report.summary()
    assert summary["incidents"]["f1"] == 0.0
    assert summary["incidents_lenient"]["f1"] == 1.0


def test_a_type_alternative_is_a_strict_detection() -> None:
    gold = gold_set({"d": [gold_incident(downing(), alternatives={"type": ["aircraft_loss"]})]})
    report = score(gold, [result("d", [downing(type=IncidentType.AIRCRAFT_LOSS)])])
    assert report.incidents.f1 == 1.0


# ---------------------------------------------------------------- ties between pairings

# Two predictions that each earn 8 of the gold downing's 9 slots: which one is aligned with it, the
# other left spurious, is a tie on credit. The tie goes to the pairing the headline scores prefer,
# whatever the order the predictions are sorted in (their summaries, which are not scored, move it).
TIES = [
    pytest.param(
        downing(type=IncidentType.AIRCRAFT_LOSS),  # loses the type: aligned, but not a strict detection
        downing(sources=[]),  # loses the source: a strict detection
        (1, 1, 9),  # a strict detection; the 9 values of the other prediction are spurious
        id="same-type",
    ),
    pytest.param(
        # loses the source, and adds a town the gold does not give: one predicted slot more
        downing(location=Location(place="Homs", near="Saraqeb", admin1="Idlib", country="Syria", quote="q"),
                sources=[]),
        downing(perpetrators=[]),  # loses the perpetrator
        (1, 1, 8),  # 8 spurious values, where the other pairing has 9 (8 and the town)
        id="fewer-predicted-slots",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("worse", "better", "detections"), TIES)
@pytest.mark.parametrize("summaries", [("A.", "Z."), ("Z.", "A.")], ids=["worse-first", "better-first"])
def test_a_tie_between_pairings_goes_to_the_better_scores(
    worse: dict[str, Any], better: dict[str, Any], detections: tuple[int, ...], summaries: tuple[str, str]
) -> None:
    gold = gold_set({"d": [gold_incident(downing())]})
    preds = [{**worse, "summary": summaries[0]}, {**better, "summary": summaries[1]}]
    report = score(gold, [result("d", preds)])
    assert [(pair.gold_index, pair.pred_index) for pair in report.documents[0].pairs] == [(0, 1)]
    assert (report.incidents.matched, report.incidents_lenient.matched, report.slots.spurious) == detections


# ---------------------------------------------------------------- re-grounding

ARTICLE = "Rebels shot down a Russian jet near Saraqeb on Saturday. The pilot was killed on the ground."


def grounded_gold() -> GoldSet:
    fields = downing()
    return GoldSet(
        documents={"d": GoldDocument(id="d", incidents=[gold_incident(fields)])},
        articles={"d": ARTICLE},
        aliases={},
        root=Path("."),
    )


def test_invented_quotes_claimed_exact_are_not_grounded() -> None:
    pred = result("d", [downing()])
    # every quote is "quoted text", which is not in the article; the file says all were found exactly
    claimed = [
        EvidenceSpan(path=path, quote="quoted text", alignment=Alignment.EXACT, start=0, end=11, score=1.0)
        for path in ("incidents[0]", "incidents[0].date", "incidents[0].location")
    ]
    pred = pred.model_copy(update={"evidence": claimed})
    report = evaluate(grounded_gold(), [pred], bootstrap=0)
    assert report.grounding.rate == 0.0
    assert report.grounding.not_found == report.grounding.total > 0
    assert report.grounding_claimed.rate == 1.0
    disagreements = report.grounding_disagreements
    assert {d.path for d in disagreements} >= {"incidents[0]", "incidents[0].date", "incidents[0].location"}
    assert all(d.document == "d" for d in disagreements)
    summary = report.summary()
    assert summary["ungrounded"] == report.grounding.total
    assert summary["grounding_disagreements"] >= 3


def test_quotes_that_are_in_the_article_are_grounded_whatever_the_file_says() -> None:
    fields = downing(quote="Rebels shot down a Russian jet near Saraqeb on Saturday.")
    claimed = [EvidenceSpan(path="incidents[0]", quote=fields["quote"], alignment=Alignment.NOT_FOUND, score=0.0)]
    report = evaluate(grounded_gold(), [result("d", [fields], evidence=claimed)], bootstrap=0)
    # the incident quote is in the article; the others ("quoted text") are not
    assert report.grounding.exact == 1
    assert report.grounding.not_found == report.grounding.total - 1
    assert any(d.path == "incidents[0]" and d.claimed == "not_found" for d in report.grounding_disagreements)


def test_articles_for_predictions_outside_the_gold_directory() -> None:
    gold = grounded_gold()
    gold = GoldSet(documents=gold.documents, articles={}, aliases={}, root=Path("."))
    fields = downing(quote="The pilot was killed on the ground.")
    report = evaluate(gold, [result("d", [fields])], bootstrap=0, articles={"d": ARTICLE})
    assert report.grounding.exact == 1
    unchecked = evaluate(gold, [result("d", [fields])], bootstrap=0)
    assert unchecked.grounding.total == 0
    assert unchecked.grounding_unchecked == ("d",)
