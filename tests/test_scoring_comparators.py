"""Unit tests of the scorer's comparators and normalisation, one parametrised table each."""

from __future__ import annotations

import pytest

from extract.core.schema import (
    Aircraft,
    AircraftCategory,
    AttributionStatus,
    Casualty,
    CasualtyKind,
    CountQualifier,
    DateInfo,
    DatePrecision,
    IncidentType,
    Location,
    Perpetrator,
    Source,
    SourceKind,
)
from extract.scoring import (
    AliasIndex,
    NameMatcher,
    Verdict,
    compare_bool,
    compare_count,
    compare_date,
    compare_enum,
    compare_lists,
    compare_name,
    count_accepts,
    normalize_date,
    normalize_name,
    types_compatible,
)
from extract.scoring.incidents import compare_composite

COR, PAR, INC, MIS, SPU = (
    Verdict.CORRECT,
    Verdict.PARTIAL,
    Verdict.INCORRECT,
    Verdict.MISSING,
    Verdict.SPURIOUS,
)
Q = "quoted text"


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("  Idlib  Province ", "idlib province", id="case-and-spaces"),
        pytest.param("Ḥamāh", "hamah", id="diacritics"),
        pytest.param("Su-25", "su 25", id="hyphen-to-space"),
        pytest.param("Hay'at Tahrir al-Sham", "hayat tahrir sham", id="apostrophe-and-al-prefix"),
        pytest.param("Al Qaeda", "qaeda", id="al-with-space"),
        pytest.param("Deir ez-Zor", "deir zor", id="assimilated-article"),
        pytest.param("Tal Abyad", "tal abyad", id="al-inside-a-word-kept"),
        pytest.param("Al", "al", id="only-an-article-kept"),
        pytest.param("Straße", "strasse", id="sharp-s"),
    ],
)
def test_normalize_name(text: str, expected: str) -> None:
    assert normalize_name(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("On July 8th,", "july 8", id="ordinal-and-on"),
        pytest.param("Feb. 3", "feb 3", id="abbreviation-dot"),
        pytest.param("in the night of Saturday", "night of saturday", id="leading-fillers-only"),
    ],
)
def test_normalize_date(text: str, expected: str) -> None:
    assert normalize_date(text) == expected


# ---------------------------------------------------------------- names and places

ALIASES = {"Hayat Tahrir al-Sham": ["HTS", "Jabhat Fateh al-Sham"], "Aleppo": ["Halab"]}


@pytest.mark.parametrize(
    ("gold", "pred", "alternatives", "aliases", "expected"),
    [
        pytest.param("Saraqeb", "Saraqeb", (), None, COR, id="identical"),
        pytest.param("Idlib Province", "idlib province.", (), None, COR, id="case-and-punctuation"),
        pytest.param("Hamāh", "Hamah", (), None, COR, id="diacritics"),
        pytest.param("Su-25", "SU 25", (), None, COR, id="hyphen-vs-space"),
        pytest.param("Su-25", "Su25", (), None, COR, id="hyphen-vs-nothing"),
        pytest.param("Saraqeb", "Sarqeb", (), None, COR, id="transliteration-sarqeb"),
        pytest.param("Saraqeb", "Saraqib", (), None, COR, id="transliteration-saraqib"),
        pytest.param("Khan Shaykhun", "Khan Sheikhoun", (), None, COR, id="transliteration-diphthong"),
        pytest.param("al-Qaeda", "Qaida", (), None, COR, id="al-prefix-and-vowel"),
        pytest.param("Deir ez-Zor", "Dayr al-Zawr", (), None, COR, id="assimilated-article-and-diphthongs"),
        pytest.param("Raqqa", "Ar-Raqqah", (), None, COR, id="final-h-and-sun-letter"),
        pytest.param("Sarqeb", "Idlib", ("Idlib",), None, COR, id="gold-alternative"),
        pytest.param("Hayat Tahrir al-Sham", "HTS", (), ALIASES, COR, id="alias-variant"),
        pytest.param("HTS", "Jabhat Fateh al-Sham", (), ALIASES, COR, id="alias-variant-to-variant"),
        pytest.param("Halab", "Aleppo", (), ALIASES, COR, id="alias-canonical"),
        pytest.param("Hayat Tahrir al-Sham", "HTS", (), None, INC, id="no-alias-table"),
        pytest.param(
            "Syrian Observatory for Human Rights",
            "Syrian Observatory of Human Rights",
            (),
            None,
            PAR,
            id="fuzzy-partial",
        ),
        pytest.param("Hayat Tahrir al-Sham", "Tahrir al-Sham", (), None, PAR, id="word-subset-partial"),
        pytest.param("Aleppo", "Alepo city", (), None, INC, id="one-shared-word-is-not-enough"),
        pytest.param("Sukhoi Su-24", "Sukhoi Su-25", (), None, INC, id="different-digits"),
        pytest.param("Iran", "Iraq", (), None, INC, id="short-names-differ"),
        pytest.param("Oman", "Amman", (), None, INC, id="vowel-a-is-not-folded"),
        pytest.param("Sinai", "Sanaa", (), None, INC, id="vowel-key-keeps-a-apart"),
        pytest.param("Yemen", "Oman", (), None, INC, id="initial-y-is-a-letter"),
        pytest.param("Russia", "Syrian Arab Army", (), None, INC, id="unrelated"),
    ],
)
def test_compare_name(
    gold: str, pred: str, alternatives: tuple[str, ...], aliases: dict[str, list[str]] | None, expected: Verdict
) -> None:
    assert compare_name(gold, pred, alternatives, AliasIndex(aliases)) is expected


def test_name_matcher_threshold_is_a_setting() -> None:
    gold, pred = "Syrian Observatory for Human Rights", "Syrian Observatory of Human Rights"
    # their normalised forms have a rapidfuzz ratio of about 95.7: partial by default, incorrect above it
    assert NameMatcher().compare(gold, pred) is PAR
    assert NameMatcher(threshold=97).compare(gold, pred) is INC


# ---------------------------------------------------------------- counts


def count(n: int, qualifier: str = "exact", high: int | None = None) -> Casualty:
    return Casualty(kind=CasualtyKind.KILLED, count=n, count_max=high, qualifier=CountQualifier(qualifier), quote=Q)


@pytest.mark.parametrize(
    ("gold", "pred", "alternatives", "expected"),
    [
        pytest.param(count(12), count(12), (), COR, id="exact-equal"),
        pytest.param(count(12), count(13), (), INC, id="exact-off-by-one"),
        pytest.param(count(30, "more_than"), count(30, "more_than"), (), COR, id="same-count-same-qualifier"),
        pytest.param(count(30, "more_than"), count(30), (), PAR, id="same-count-other-qualifier"),
        pytest.param(count(30, "more_than"), count(31), (), PAR, id="more-than-inside"),
        pytest.param(count(30, "more_than"), count(29), (), INC, id="more-than-below"),
        pytest.param(count(5, "at_least"), count(7), (), PAR, id="at-least-inside"),
        pytest.param(count(5, "at_least"), count(4), (), INC, id="at-least-below"),
        pytest.param(count(80, "about"), count(64), (), PAR, id="about-lower-edge"),
        pytest.param(count(80, "about"), count(96), (), PAR, id="about-upper-edge"),
        pytest.param(count(80, "about"), count(63), (), INC, id="about-too-low"),
        pytest.param(count(80, "about"), count(97), (), INC, id="about-too-high"),
        pytest.param(count(10, "range", 15), count(10, "range", 15), (), COR, id="range-equal"),
        # both ends of a predicted range are checked: 20 is outside 10-15
        pytest.param(count(10, "range", 15), count(10, "range", 20), (), INC, id="range-other-upper-bound"),
        pytest.param(count(10, "range", 15), count(11, "range", 14), (), PAR, id="range-within-range"),
        pytest.param(count(5, "at_least"), count(10), (), PAR, id="at-least-upper-bound"),
        pytest.param(count(5, "at_least"), count(11), (), INC, id="at-least-beyond-bound"),
        pytest.param(count(10, "range", 15), count(12), (), PAR, id="range-inside"),
        pytest.param(count(10, "range", 15), count(16), (), INC, id="range-outside"),
        pytest.param(count(12), count(13), ("13",), COR, id="gold-alternative"),
    ],
)
def test_compare_count(gold: Casualty, pred: Casualty, alternatives: tuple[str, ...], expected: Verdict) -> None:
    assert compare_count(gold, pred, alternatives) is expected


@pytest.mark.parametrize(
    ("gold", "value", "expected"),
    [
        pytest.param(count(30, "more_than"), 30, False, id="more-than-excludes-bound"),
        pytest.param(count(5, "at_least"), 5, True, id="at-least-includes-bound"),
        pytest.param(count(0, "about"), 0, True, id="about-zero"),
        pytest.param(count(3), 3, True, id="exact"),
    ],
)
def test_count_accepts(gold: Casualty, value: int, expected: bool) -> None:
    assert count_accepts(gold, value) is expected


# ---------------------------------------------------------------- enums, booleans, types


@pytest.mark.parametrize(
    ("gold", "pred", "alternatives", "expected"),
    [
        pytest.param(AttributionStatus.CLAIMED, AttributionStatus.CLAIMED, (), COR, id="equal"),
        pytest.param(AttributionStatus.CLAIMED, AttributionStatus.CONFIRMED, (), INC, id="different"),
        pytest.param(AttributionStatus.CLAIMED, AttributionStatus.ACCUSED, ("accused",), COR, id="alternative"),
    ],
)
def test_compare_enum(gold: object, pred: object, alternatives: tuple[str, ...], expected: Verdict) -> None:
    assert compare_enum(gold, pred, alternatives) is expected


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        pytest.param(True, True, COR, id="both-true"),
        pytest.param(False, False, COR, id="both-false"),
        pytest.param(True, False, INC, id="differ"),
    ],
)
def test_compare_bool(gold: bool, pred: bool, expected: Verdict) -> None:
    assert compare_bool(gold, pred) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        pytest.param("aircraft_downing", "aircraft_downing", True, id="identical"),
        pytest.param("aircraft_downing", "aircraft_loss", True, id="downing-loss"),
        pytest.param("aircraft_loss", "aircraft_downing", True, id="symmetric"),
        pytest.param("air_strike", "missile_strike", True, id="air-missile"),
        pytest.param("air_strike", "shelling", False, id="air-shelling"),
        pytest.param("aircraft_downing", "air_strike", False, id="downing-air-strike"),
    ],
)
def test_types_compatible(a: str, b: str, expected: bool) -> None:
    assert types_compatible(IncidentType(a), IncidentType(b)) is expected


# ---------------------------------------------------------------- dates


def date(text: str, iso: str | None = None) -> DateInfo:
    return DateInfo(text=text, iso=iso, precision=DatePrecision.DAY if iso else DatePrecision.UNKNOWN, quote=Q)


@pytest.mark.parametrize(
    ("gold", "pred", "text_alts", "iso_alts", "expected"),
    [
        pytest.param(date("July 8"), date("on July 8th"), (), (), COR, id="text-normalised"),
        pytest.param(date("Saturday", "2018-02-03"), date("3 February", "2018-02-03"), (), (), COR, id="iso-equal"),
        pytest.param(date("February", "2018-02"), date("Feb 3", "2018-02-03"), (), (), PAR, id="iso-coarser"),
        pytest.param(date("2018", "2018"), date("2019", "2019"), (), (), INC, id="iso-different"),
        pytest.param(date("February 3"), date("Febuary 3"), (), (), PAR, id="text-fuzzy"),
        pytest.param(date("July 8"), date("July 9"), (), (), INC, id="text-digits-differ"),
        pytest.param(date("Saturday"), date("Sunday"), (), (), INC, id="text-different"),
        pytest.param(date("Saturday"), date("last weekend"), ("weekend",), (), INC, id="text-alt-no-match"),
        pytest.param(date("Saturday"), date("at the weekend"), ("weekend",), (), COR, id="text-alternative"),
        pytest.param(date("Saturday"), date("Feb 3", "2018-02-03"), (), ("2018-02-03",), COR, id="iso-alternative"),
        pytest.param(date("Saturday", "2018-02-03"), date("Saturday"), (), (), COR, id="text-equal-iso-missing"),
    ],
)
def test_compare_date(
    gold: DateInfo, pred: DateInfo, text_alts: tuple[str, ...], iso_alts: tuple[str, ...], expected: Verdict
) -> None:
    assert compare_date(gold, pred, text_alts, iso_alts) is expected


# ---------------------------------------------------------------- composites and lists


def perp(name: str, status: str = "claimed") -> Perpetrator:
    return Perpetrator(name=name, status=AttributionStatus(status), quote=Q)


def loc(place: str | None = None, near: str | None = None, admin1: str | None = None, country: str | None = None):
    return Location(place=place, near=near, admin1=admin1, country=country, quote=Q)


@pytest.mark.parametrize(
    ("field", "gold", "pred", "alternatives", "expected", "subs"),
    [
        pytest.param(
            "perpetrators",
            perp("Tahrir al-Sham", "claimed"),
            perp("Tahrir al-Sham", "confirmed"),
            {},
            PAR,  # name 2 of 3 weight earned
            {"name": COR, "status": INC},
            id="claimed-predicted-confirmed",
        ),
        pytest.param(
            "location",
            loc(near="Sarqeb", admin1="Idlib", country="Syria"),
            loc(place="Sarqeb", admin1="Idlib", country="Syria"),
            {},
            PAR,  # the same town given as place for near: partial, crossed; admin1 and country correct
            {"near": PAR, "admin1": COR, "country": COR},
            id="location-near-as-place",
        ),
        pytest.param(
            "location",
            loc(place="Saraqeb", country="Syria"),
            loc(place="Saraqib", admin1="Idlib", country="Syria"),
            {},
            COR,  # every sub-field the gold fills is right; admin1 only counts as spurious in the sub-field table
            {"place": COR, "admin1": SPU, "country": COR},
            id="location-extra-admin1",
        ),
        pytest.param(
            "location",
            loc(place="Saraqeb", country="Syria"),
            loc(place="Maarat al-Numan", country="Syria"),
            {},
            INC,  # country 1 of 5 weight: a wrong town costs more than a right country earns
            {"place": INC, "country": COR},
            id="location-wrong-place",
        ),
        pytest.param(
            "location",
            loc(place="Saraqeb", admin1="Idlib", country="Syria"),
            loc(place="Maarat al-Numan", country="Syria"),
            {},
            INC,  # 1 of 7 weight
            {"place": INC, "admin1": MIS, "country": COR},
            id="location-only-country",
        ),
        pytest.param(
            "location",
            loc(place="Saraqeb", country="Syria"),
            loc(place="Saraqeb", near="Idlib", country="Syria"),
            {"location.near": ["Idlib city", "Idlib"]},
            COR,  # empty gold near with an alternative: optional, and matched
            {"place": COR, "near": COR, "country": COR},
            id="optional-sub-field-matched",
        ),
        pytest.param(
            "location",
            loc(place="Saraqeb", country="Syria"),
            loc(place="Saraqeb", near="Hama", country="Syria"),
            {"location.near": ["Idlib"]},
            COR,  # the optional near does not match its alternative: spurious, and not weighed
            {"place": COR, "near": SPU, "country": COR},
            id="optional-sub-field-not-matched",
        ),
        pytest.param(
            "casualties",
            count(30, "more_than"),
            count(12),
            {},
            INC,  # kind 1 of 5 weight (count weighs 3)
            {"kind": COR, "count": INC},
            id="casualty-wrong-count",
        ),
    ],
)
def test_compare_composite(
    field: str, gold: object, pred: object, alternatives: dict[str, list[str]], expected: Verdict, subs: dict
) -> None:
    verdict, sub_verdicts, _ = compare_composite(field, gold, pred, alternatives, field, NameMatcher())
    assert verdict is expected
    assert {s.name: s.verdict for s in sub_verdicts} == subs


def test_compare_lists_aligns_items_by_content() -> None:
    gold = [perp("Syrian rebels", "confirmed"), perp("Tahrir al-Sham", "claimed")]
    pred = [perp("Tahrir al-Sham", "claimed"), perp("Islamic State", "suspected"), perp("Syrian rebels", "confirmed")]
    slots = compare_lists("perpetrators", gold, pred, {}, NameMatcher())
    pairs = {(s.gold_index, s.pred_index): s.verdict for s in slots}
    # gold 0 <-> pred 2 and gold 1 <-> pred 0, both correct; pred 1 matches no name: spurious
    assert pairs == {(0, 2): COR, (1, 0): COR, (None, 1): SPU}


def test_compare_lists_does_not_pair_different_names() -> None:
    slots = compare_lists("perpetrators", [perp("Russia")], [perp("Turkey")], {}, NameMatcher())
    assert sorted(s.verdict.value for s in slots) == ["missing", "spurious"]


def test_compare_lists_casualties_pair_by_kind_then_count() -> None:
    injured = Casualty(kind=CasualtyKind.INJURED, count=4, qualifier=CountQualifier.EXACT, quote=Q)
    gold = [count(3), count(10), injured]
    pred = [count(10), count(3)]
    slots = compare_lists("casualties", gold, pred, {}, NameMatcher())
    assert {(s.gold_index, s.pred_index): s.verdict for s in slots} == {(0, 1): COR, (1, 0): COR, (2, None): MIS}


def test_compare_lists_aircraft_with_alternative_model() -> None:
    gold = [Aircraft(model="Sukhoi 25", category=AircraftCategory.FIXED_WING, operator="Russia", quote=Q)]
    pred = [Aircraft(model="Su-25", category=AircraftCategory.FIXED_WING, operator="Russia", quote=Q)]
    without = compare_lists("aircraft", gold, pred, {}, NameMatcher())
    with_alt = compare_lists("aircraft", gold, pred, {"aircraft[0].model": ["Su-25"]}, NameMatcher())
    # model 0 of 2, category 1, operator 1: half the weight -> partial; with the alternative, correct
    assert [s.verdict for s in without] == [PAR]
    assert [s.verdict for s in with_alt] == [COR]


def test_compare_lists_sources_kind_differs() -> None:
    gold = [Source(name="SOHR", kind=SourceKind.MONITOR, quote=Q)]
    pred = [Source(name="SOHR", kind=SourceKind.NEWS_AGENCY, quote=Q)]
    assert [s.verdict for s in compare_lists("sources", gold, pred, {}, NameMatcher())] == [PAR]
