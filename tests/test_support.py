"""Values checked against their evidence text: names, places, numbers and dates."""

from __future__ import annotations

import pytest

from extract.core.schema import Aircraft, Casualty, DateInfo, Location, Perpetrator
from extract.core.support import check_values, count_supported, name_supported, numbers_in


@pytest.mark.parametrize(
    ("value", "evidence", "supported"),
    [
        pytest.param("Saraqeb", "near the town of Saraqeb, in Idlib", True, id="exact"),
        pytest.param("Saraqib", "near the town of Saraqeb, in Idlib", True, id="transliteration-vowel"),
        pytest.param("Sarqeb", "near the city of Saraqeb", True, id="transliteration-dropped-vowel"),
        pytest.param("Syria", "Syrian rebels shot down a jet", True, id="derived-form"),
        pytest.param("Russian Defense Ministry", "the Russian Ministry of Defence said", True, id="order-and-spelling"),
        pytest.param("Hama", "Syrian rebels shot down a jet near Saraqeb", False, id="invented-place"),
        pytest.param("Jaish al-Izza", "Tahrir al-Sham claimed the attack", False, id="invented-group"),
        pytest.param("Tahrir al-Sham", "Tahrir al-Sham claimed the attack", True, id="hyphenated-name"),
        pytest.param("Ḥomṣ", "a helicopter crashed near Homs", True, id="diacritics"),
        pytest.param("Su-25", "a Sukhoi Su-25 came down", True, id="designation"),
        pytest.param("Su-24", "a Sukhoi Su-25 came down", False, id="wrong-designation-number"),
        pytest.param("Mi-8", "an Mi-28N helicopter gunship", False, id="designation-not-a-substring-match"),
        pytest.param("Idlib Province", "in Idlib", False, id="every-content-word-needed"),
        pytest.param("the pilot", "killed its pilot", True, id="stop-words-ignored"),
        pytest.param("", "anything", False, id="empty-value"),
    ],
)
def test_names(value: str, evidence: str, supported: bool) -> None:
    assert name_supported(value, evidence) is supported


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("killing 30 rebels and 1,200 civilians", {30, 1200}, id="digits-and-thousands"),
        pytest.param("Five Russian soldiers and twenty-one others", {5, 21}, id="words"),
        pytest.param("a dozen fighters", {12}, id="a-dozen"),
        pytest.param("two dozen fighters", {24}, id="two-dozen"),
        pytest.param("dozens of people and scores of others, hundreds more", set(), id="vague-quantities"),
        pytest.param("one hundred and five people", {105}, id="compound"),
        pytest.param("three thousand troops", {3000}, id="thousand"),
    ],
)
def test_numbers_in(text: str, expected: set[int]) -> None:
    assert numbers_in(text) == expected


@pytest.mark.parametrize(
    ("count", "evidence", "who", "supported"),
    [
        pytest.param(5, "Five people on board were killed", None, True, id="word"),
        pytest.param(28, "left 28 civilians dead", None, True, id="digits"),
        pytest.param(30, "dozens of civilians dead", None, False, id="dozens-is-no-number"),
        pytest.param(7, "seven civilians were killed", None, True, id="seven"),
        pytest.param(6, "seven civilians were killed", None, False, id="wrong-number"),
        pytest.param(1, "rebels killed its pilot on the ground", "pilot", True, id="one-by-article"),
        pytest.param(1, "rebels killed pilots on the ground", "pilot", False, id="plural-is-not-one"),
        pytest.param(1, "a lone gunman opened fire", None, True, id="one-by-word"),
        pytest.param(0, "no one was hurt", None, True, id="zero"),
        pytest.param(0, "two were hurt", None, False, id="zero-unsupported"),
    ],
)
def test_counts(count: int, evidence: str, who: str | None, supported: bool) -> None:
    assert count_supported(count, evidence, who) is supported


def test_check_values_walks_the_declared_fields_of_one_object() -> None:
    location = Location(place="Khan al-Subl", near="Saraqeb", country="Syria", quote="x")
    checks = check_values(location, "shot down over the town of Khan al-Subl near the city of Saraqeb")
    assert [(c.field, c.supported) for c in checks] == [("place", True), ("near", True), ("country", False)]


def test_enums_and_flags_are_not_checked_and_dates_and_upper_bounds_are() -> None:
    aircraft = Aircraft(model="Su-25", category="fixed_wing", operator=None, quote="x")
    assert [c.field for c in check_values(aircraft, "a Su-25")] == ["model"]
    date = DateInfo(text="July 8", iso=None, precision="day", quote="x")
    assert [(c.field, c.supported) for c in check_values(date, "was downed on July 8.")] == [("text", True)]
    casualty = Casualty(kind="killed", count=10, count_max=15, qualifier="range", who="fighters", quote="x")
    checks = check_values(casualty, "between 10 and 15 fighters were killed")
    assert [(c.field, c.value, c.supported) for c in checks] == [
        ("count", "10", True),
        ("count_max", "15", True),
        ("who", "fighters", True),
    ]
    perpetrator = Perpetrator(name="Islamic State", status="claimed", quote="x")
    assert [c.supported for c in check_values(perpetrator, "Tahrir al-Sham claimed it")] == [False]


def test_the_console_names_values_their_evidence_does_not_state() -> None:
    import io

    from rich.console import Console

    from extract.backends.mock import MockBackend
    from extract.core.pipeline import ExtractConfig, extract_document
    from extract.core.records import Document
    from extract.display import print_incidents

    text = "Rebels shot down a jet near Saraqeb on Saturday, killing the pilot."
    reply = {
        "incidents": [
            {
                "type": "aircraft_downing",
                "quote": text,
                "summary": "A jet was shot down.",
                "location": {"near": "Saraqeb", "admin1": "Hama", "quote": "near Saraqeb"},
                "casualties": [{"kind": "killed", "count": 3, "qualifier": "exact", "quote": "killing the pilot"}],
            }
        ]
    }
    result = extract_document(Document(id="d", text=text), ExtractConfig(backend=MockBackend([reply])))
    out = io.StringIO()
    print_incidents(Console(file=out, width=200), [result])
    assert "not stated in their evidence: admin1 'Hama'; count '3'" in out.getvalue()
