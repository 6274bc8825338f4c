"""The MUC-3/4 converter on invented messages and keys written in the corpus's format."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract.core.schema import AttributionStatus, CasualtyKind, CountQualifier, IncidentType, WeaponCategory
from extract.scoring.gold import GoldDocument, load_gold
from extract.scoring.gold_checks import validate_gold
from extract.training.sources.muc import convert_muc, parse_fill, parse_location, rebuild_articles

_LABELS = [
    "MESSAGE: ID",
    "MESSAGE: TEMPLATE",
    "INCIDENT: DATE",
    "INCIDENT: LOCATION",
    "INCIDENT: TYPE",
    "INCIDENT: STAGE OF EXECUTION",
    "INCIDENT: INSTRUMENT ID",
    "INCIDENT: INSTRUMENT TYPE",
    "PERP: INCIDENT CATEGORY",
    "PERP: INDIVIDUAL ID",
    "PERP: ORGANIZATION ID",
    "PERP: ORGANIZATION CONFIDENCE",
    "PHYS TGT: ID",
    "PHYS TGT: TYPE",
    "PHYS TGT: NUMBER",
    "PHYS TGT: FOREIGN NATION",
    "PHYS TGT: EFFECT OF INCIDENT",
    "PHYS TGT: TOTAL NUMBER",
    "HUM TGT: NAME",
    "HUM TGT: DESCRIPTION",
    "HUM TGT: TYPE",
    "HUM TGT: NUMBER",
    "HUM TGT: FOREIGN NATION",
    "HUM TGT: EFFECT OF INCIDENT",
    "HUM TGT: TOTAL NUMBER",
]


def template(message: str, number: str, **fills: str | list[str]) -> str:
    """A key template in the raw layout; slots not given are ``-`` (``*`` for a no-incident key)."""
    values: dict[int, list[str]] = {0: [f"{message} (TEST)"], 1: [number]}
    for name, value in fills.items():
        values[int(name[1:])] = [value] if isinstance(value, str) else value
    default = "*" if number == "*" else "-"
    lines = []
    for k, label in enumerate(_LABELS):
        first, *more = values.get(k, [default])
        lines.append(f"{f'{k}.':<4}{label:<32}{first}")
        lines.extend(" " * 36 + extra for extra in more)
    return "\n".join(lines) + "\n\n"


def corpus(tmp_path: Path, texts: dict[str, str], key: str) -> Path:
    folder = tmp_path / "CORPORA" / "dev"
    folder.mkdir(parents=True)
    (folder / "dev-muc3-0001-0100").write_text(
        "".join(f"{mid} (TEST)\n\n   {body}\n\n\n" for mid, body in texts.items()), encoding="latin-1"
    )
    (folder / "key-dev-0001.muc4").write_text(key, encoding="latin-1")
    return tmp_path / "CORPORA"


def run(tmp_path: Path, texts: dict[str, str], key: str) -> tuple[dict, dict[str, GoldDocument], Path]:
    out = tmp_path / "out"
    counts = convert_muc(corpus(tmp_path, texts, key), out)
    problems = validate_gold(out)
    assert problems == [], problems
    gold = load_gold(out)
    return counts, gold.documents, out


BOGOTA = (
    "BOGOTA, 12 MAR 90 (INVENTED RADIO) -- [TEXT] A CAR BOMB EXPLODED ON 11 MARCH IN FRONT OF\n"
    "THE NORTE BANK BRANCH IN CHAPINERO, A DISTRICT OF BOGOTA, KILLING FOUR\n"
    "PASSERSBY AND WOUNDING 2 GUARDS.\n\n"
    "   POLICE SAID THE PEOPLE'S LIBERATION ARMY [PLA] PLANTED THE BOMB.  A CALLER\n"
    "SAID THE RED BRIGADE OF THE NORTH CARRIED OUT THE ATTACK."
)


def bogota_key(**over: str | list[str]) -> str:
    fills: dict[str, str | list[str]] = {
        "s2": "11 MAR 90",
        "s3": "COLOMBIA: BOGOTA (CITY): CHAPINERO (NEIGHBORHOOD)",
        "s4": "BOMBING",
        "s5": "ACCOMPLISHED",
        "s6": '"CAR BOMB"',
        "s7": 'VEHICLE BOMB: "CAR BOMB"',
        "s10": ['"PEOPLE\'S LIBERATION ARMY" / "PLA"', '"RED BRIGADE OF THE NORTH"'],
        "s11": [
            'SUSPECTED OR ACCUSED BY AUTHORITIES: "PEOPLE\'S LIBERATION ARMY" / "PLA"',
            'CLAIMED OR ADMITTED / REPORTED AS FACT: "RED BRIGADE OF THE NORTH"',
        ],
        "s12": '"NORTE BANK BRANCH"',
        "s19": ['"PASSERSBY"', '"GUARDS"'],
        "s21": ['4: "PASSERSBY"', '2: "GUARDS"'],
        "s23": ['DEATH: "PASSERSBY"', 'INJURY: "GUARDS"'],
    }
    fills.update(over)
    return template("DEV-MUC3-0001", "1", **fills)


def only_incident(tmp_path: Path, key: str, text: str = BOGOTA):
    counts, docs, _ = run(tmp_path, {"DEV-MUC3-0001": text}, key)
    (incident,) = docs["muc-dev-muc3-0001"].incidents
    return counts, incident


# --- the fill notation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "optional", "heads", "strings"),
    [
        pytest.param('"FMLN" / "FARABUNDO FRONT"', False, (), ("FMLN", "FARABUNDO FRONT"), id="string-alternatives"),
        pytest.param('? POSSIBLE: "FMLN"', True, ("POSSIBLE",), ("FMLN",), id="optional-cross-reference"),
        pytest.param(
            'SOME DAMAGE / DESTROYED: "BUS"', False, ("SOME DAMAGE", "DESTROYED"), ("BUS",), id="head-alternatives"
        ),
        pytest.param("ATTACK / BOMBING", False, ("ATTACK", "BOMBING"), (), id="set-fill-alternatives"),
        pytest.param('-: "GILDA"', False, (), ("GILDA",), id="empty-head-dropped"),
    ],
)
def test_parse_fill(line: str, optional: bool, heads: tuple[str, ...], strings: tuple[str, ...]) -> None:
    fill = parse_fill(line)
    assert fill is not None
    assert (fill.optional, fill.heads, fill.strings) == (optional, heads, strings)


@pytest.mark.parametrize("line", [pytest.param("*", id="not-applicable"), pytest.param("-", id="empty")])
def test_parse_fill_empty(line: str) -> None:
    assert parse_fill(line) is None


def test_parse_location_alternatives() -> None:
    first, second = parse_location("(PERU: LIMA (CITY): RIMAC (DISTRICT)) / (PERU)")
    assert first.parts == (("PERU", None), ("LIMA", "CITY"), ("RIMAC", "DISTRICT"))
    assert second.parts == (("PERU", None),)


# --- the mapping ----------------------------------------------------------------------


def test_full_incident(tmp_path: Path) -> None:
    counts, incident = only_incident(tmp_path, bogota_key())
    assert counts["documents"] == 1 and counts["incidents"] == 1
    assert incident.type is IncidentType.OTHER_ATTACK
    assert incident.key == "dev-muc3-0001-1" and incident.primary
    assert incident.quote.startswith("BOGOTA, 12 MAR 90") and "A CAR BOMB EXPLODED" in incident.quote
    assert incident.summary.startswith("A bombing in Chapinero")
    assert incident.date is not None
    assert (incident.date.text, incident.date.iso) == ("11 MARCH", "1990-03-11")
    assert incident.weapon is not None
    assert (incident.weapon.text, incident.weapon.category) == ("CAR BOMB", WeaponCategory.OTHER)


def test_location_parts(tmp_path: Path) -> None:
    _, incident = only_incident(tmp_path, bogota_key())
    assert incident.location is not None
    assert (incident.location.place, incident.location.admin1, incident.location.country) == ("CHAPINERO", None, None)
    assert incident.location.quote == incident.quote
    # The city the neighbourhood belongs to is accepted as the place; the country, not in the text, is optional.
    assert incident.alternatives["location.place"] == ["BOGOTA"]
    assert incident.alternatives["location.country"] == ["COLOMBIA"]


def test_location_admin1_and_country(tmp_path: Path) -> None:
    text = "LIMA, 2 MAY 90 -- [TEXT] GUERRILLAS BURNED THE TOWN HALL OF OCROS IN AYACUCHO\nDEPARTMENT, PERU, TODAY."
    key = template(
        "DEV-MUC3-0001",
        "1",
        s2="02 MAY 90",
        s3="PERU: AYACUCHO (DEPARTMENT): OCROS (TOWN)",
        s4="ARSON",
        s5="ACCOMPLISHED",
        s12='"TOWN HALL"',
    )
    _, incident = only_incident(tmp_path, key, text)
    assert incident.location is not None
    loc = incident.location
    assert (loc.place, loc.admin1, loc.country) == ("OCROS", "AYACUCHO", "PERU")
    assert incident.date is not None and (incident.date.text, incident.date.iso) == ("TODAY", "1990-05-02")


@pytest.mark.parametrize(
    ("index", "name", "status", "name_alts", "status_alts"),
    [
        pytest.param(
            0, "PEOPLE'S LIBERATION ARMY", AttributionStatus.ACCUSED, ["PLA"], None, id="accused-by-authorities"
        ),
        # A claim never accepts "confirmed" (GUIDELINES section 8), so REPORTED AS FACT is not an alternative.
        pytest.param(1, "RED BRIGADE OF THE NORTH", AttributionStatus.CLAIMED, None, None, id="claimed"),
    ],
)
def test_confidence_mapping(tmp_path: Path, index, name, status, name_alts, status_alts) -> None:
    _, incident = only_incident(tmp_path, bogota_key())
    perpetrator = incident.perpetrators[index]
    assert (perpetrator.name, perpetrator.status) == (name, status)
    assert name.split()[0] in perpetrator.quote
    assert incident.alternatives.get(f"perpetrators[{index}].name") == name_alts
    assert incident.alternatives.get(f"perpetrators[{index}].status") == status_alts


@pytest.mark.parametrize(
    ("confidence", "status", "alternatives"),
    [
        pytest.param("REPORTED AS FACT", AttributionStatus.CONFIRMED, None, id="fact-confirmed"),
        pytest.param("POSSIBLE", AttributionStatus.SUSPECTED, None, id="possible-suspected"),
        pytest.param("SUSPECTED OR ACCUSED", AttributionStatus.ACCUSED, None, id="accused"),
        pytest.param(
            "REPORTED AS FACT / POSSIBLE", AttributionStatus.CONFIRMED, ["suspected"], id="status-alternative"
        ),
    ],
)
def test_confidence_values(tmp_path: Path, confidence: str, status: AttributionStatus, alternatives) -> None:
    key = bogota_key(s10='"PLA"', s11=f'{confidence}: "PLA"')
    _, incident = only_incident(tmp_path, key)
    assert [(p.name, p.status) for p in incident.perpetrators] == [("PLA", status)]
    assert incident.alternatives.get("perpetrators[0].status") == alternatives


def test_effect_and_number(tmp_path: Path) -> None:
    _, incident = only_incident(tmp_path, bogota_key())
    got = [(c.kind, c.count, c.qualifier, c.who) for c in incident.casualties]
    assert got == [
        (CasualtyKind.KILLED, 4, CountQualifier.EXACT, "PASSERSBY"),
        (CasualtyKind.INJURED, 2, CountQualifier.EXACT, "GUARDS"),
    ]
    assert all("KILLING FOUR" in c.quote for c in incident.casualties)


@pytest.mark.parametrize(
    ("number", "count", "qualifier", "count_max", "alternatives"),
    [
        pytest.param('4 - 6: "PASSERSBY"', 4, CountQualifier.RANGE, 6, None, id="range"),
        pytest.param('4 / 5: "PASSERSBY"', 4, CountQualifier.EXACT, None, ["5"], id="count-alternatives"),
    ],
)
def test_number_forms(tmp_path: Path, number: str, count: int, qualifier, count_max, alternatives) -> None:
    _, incident = only_incident(tmp_path, bogota_key(s19='"PASSERSBY"', s21=number, s23='DEATH: "PASSERSBY"'))
    (casualty,) = incident.casualties
    assert (casualty.count, casualty.qualifier, casualty.count_max) == (count, qualifier, count_max)
    assert incident.alternatives.get("casualties[0].count") == alternatives


def test_plural_count_dropped(tmp_path: Path) -> None:
    counts, incident = only_incident(
        tmp_path, bogota_key(s19='"PASSERSBY"', s21='PLURAL: "PASSERSBY"', s23='DEATH: "PASSERSBY"')
    )
    assert incident.casualties == []
    assert counts["dropped_values"]["casualty_count_plural_or_missing"] == 1


def test_optional_fills(tmp_path: Path) -> None:
    key = bogota_key(
        s2="? 11 MAR 90",
        s7='? VEHICLE BOMB: "CAR BOMB"',
        s10=['? "PEOPLE\'S LIBERATION ARMY" / "PLA"', '"RED BRIGADE OF THE NORTH"'],
    )
    counts, incident = only_incident(tmp_path, key)
    # A scalar optional fill becomes an optional value: null, with what is accepted if given.
    assert incident.date is None
    assert incident.alternatives["date.text"] == ["11 MARCH"]
    # An optional list item or weapon cannot be optional in the gold format: it is dropped and counted.
    assert [p.name for p in incident.perpetrators] == ["RED BRIGADE OF THE NORTH"]
    assert incident.weapon is None
    assert counts["dropped_values"]["optional_fill"] == 2


@pytest.mark.parametrize(
    ("types", "expected", "alternatives"),
    [
        pytest.param("ATTACK / BOMBING", IncidentType.OTHER_ATTACK, None, id="same-type-alternative"),
        pytest.param("KIDNAPPING", IncidentType.OTHER_ATTACK, None, id="kidnapping"),
    ],
)
def test_type_alternatives(tmp_path: Path, types: str, expected: IncidentType, alternatives) -> None:
    _, incident = only_incident(tmp_path, bogota_key(s4=types))
    assert incident.type is expected
    assert incident.alternatives.get("type") == alternatives


def test_mortar_attack_is_shelling(tmp_path: Path) -> None:
    key = bogota_key(s4="ATTACK", s6='"CAR BOMB"', s7='MORTAR: "CAR BOMB"')
    _, incident = only_incident(tmp_path, key)
    assert incident.type is IncidentType.SHELLING
    assert incident.alternatives["type"] == ["other_attack"]


def test_clash_in_the_incident_sentence_is_armed_clash(tmp_path: Path) -> None:
    text = "SAN SALVADOR, 5 FEB 90 -- [TEXT] TWO MAYORS DIED IN A CLASH BETWEEN REBELS AND SOLDIERS NEAR ILOBASCO."
    key = template(
        "DEV-MUC3-0001",
        "1",
        s2="- 05 FEB 90",
        s3="EL SALVADOR: ILOBASCO (CITY)",
        s4="ATTACK",
        s5="ACCOMPLISHED",
        s19='"MAYORS"',
        s21='2: "MAYORS"',
        s23='DEATH: "MAYORS"',
    )
    counts, incident = only_incident(tmp_path, key, text)
    assert incident.type is IncidentType.ARMED_CLASH
    assert incident.date is None and counts["dropped_values"]["date_range_or_before"] == 1
    assert [(c.kind, c.count, c.who) for c in incident.casualties] == [(CasualtyKind.KILLED, 2, "MAYORS")]


def test_kidnapped_are_captured(tmp_path: Path) -> None:
    text = "QUITO, 9 JUN 89 -- [TEXT] ARMED MEN KIDNAPPED THE ENGINEER PABLO RIOS NEAR THE PORT OF ESMERALDAS."
    key = template(
        "DEV-MUC3-0001",
        "1",
        s2="- 09 JUN 89",
        s3="ECUADOR: ESMERALDAS (PORT)",
        s4="KIDNAPPING",
        s5="ACCOMPLISHED",
        s18='"PABLO RIOS"',
        s19='"ENGINEER": "PABLO RIOS"',
        s21='1: "PABLO RIOS"',
    )
    _, incident = only_incident(tmp_path, key, text)
    assert [(c.kind, c.count, c.who) for c in incident.casualties] == [(CasualtyKind.CAPTURED, 1, "ENGINEER")]


@pytest.mark.parametrize(
    ("stage", "kept"),
    [
        pytest.param("THREATENED", False, id="threatened-dropped"),
        pytest.param("ATTEMPTED", True, id="attempted-kept"),
        pytest.param("ACCOMPLISHED", True, id="accomplished-kept"),
    ],
)
def test_stage(tmp_path: Path, stage: str, kept: bool) -> None:
    counts, docs, _ = run(tmp_path, {"DEV-MUC3-0001": BOGOTA}, bogota_key(s5=stage))
    assert len(docs["muc-dev-muc3-0001"].incidents) == int(kept)
    assert counts["dropped_incidents"].get("stage_threatened", 0) == int(not kept)
    if stage == "ATTEMPTED":
        assert docs["muc-dev-muc3-0001"].incidents[0].summary.startswith("An attempted bombing")


def test_type_that_is_not_an_attack_is_dropped(tmp_path: Path) -> None:
    counts, docs, _ = run(tmp_path, {"DEV-MUC3-0001": BOGOTA}, bogota_key(s4="ROBBERY"))
    assert docs["muc-dev-muc3-0001"].incidents == []
    assert counts["dropped_incidents"] == {"type_robbery": 1}


def test_value_not_in_text_is_dropped(tmp_path: Path) -> None:
    key = bogota_key(s6='"GRENADE LAUNCHER"', s7='GRENADE: "GRENADE LAUNCHER"', s2="14 MAR 90")
    counts, incident = only_incident(tmp_path, key)
    assert incident.weapon is None and incident.date is None
    assert counts["dropped_values"]["weapon_not_found"] == 1
    assert counts["dropped_values"]["date_not_found"] == 1


def test_incident_not_in_text_is_dropped(tmp_path: Path) -> None:
    key = template(
        "DEV-MUC3-0001",
        "1",
        s3="COLOMBIA",
        s4="ATTACK",
        s5="ACCOMPLISHED",
        s12='"PIPELINE"',
        s10='"ELN"',
        s11='POSSIBLE: "ELN"',
    )
    counts, docs, _ = run(tmp_path, {"DEV-MUC3-0001": BOGOTA}, key)
    assert docs["muc-dev-muc3-0001"].incidents == []
    assert counts["dropped_incidents"] == {"not_located": 1}


def test_no_incident_document_kept_empty(tmp_path: Path) -> None:
    text = "LA PAZ, 1 APR 90 -- [TEXT] THE MINISTER OF EDUCATION OPENED A NEW SCHOOL IN ORURO TODAY."
    counts, docs, out = run(tmp_path, {"DEV-MUC3-0002": text}, template("DEV-MUC3-0002", "*"))
    assert docs["muc-dev-muc3-0002"].incidents == []
    assert counts["documents"] == 1 and counts["documents_without_incidents"] == 1
    assert (out / "articles" / "muc-dev-muc3-0002.txt").read_text(encoding="utf-8") == text


def test_reserved_document_dropped(tmp_path: Path) -> None:
    # An invented message naming an MH17 (always reserved) next to a free one.
    reserved = "LIMA, 3 APR 90 -- [TEXT] A COLUMNIST RECALLED FLIGHT MH17 IN A STORY ABOUT AIR SAFETY."
    free = "LA PAZ, 1 APR 90 -- [TEXT] THE MINISTER OF EDUCATION OPENED A NEW SCHOOL IN ORURO TODAY."
    key = template("DEV-MUC3-0002", "*") + template("DEV-MUC3-0003", "*")
    counts, docs, out = run(tmp_path, {"DEV-MUC3-0002": free, "DEV-MUC3-0003": reserved}, key)
    assert set(docs) == {"muc-dev-muc3-0002"}
    assert counts["reserved_excluded"] == 1 and counts["reserved"] == {"MH17": 1}
    assert not (out / "labels" / "muc-dev-muc3-0003.json").exists()


def test_mixed_case_copy_preferred_and_articles_rebuilt(tmp_path: Path) -> None:
    root = corpus(tmp_path, {"DEV-MUC3-0001": BOGOTA}, bogota_key())
    mixed = root / "dev" / "dev-muc3-0001-0100.mixed-case"
    upper = (root / "dev" / "dev-muc3-0001-0100").read_text(encoding="latin-1")
    mixed.write_text(upper.replace("A CAR BOMB EXPLODED", "A car bomb exploded"), encoding="latin-1")
    out = tmp_path / "out"
    convert_muc(root, out)
    assert validate_gold(out) == []
    doc = load_gold(out).documents["muc-dev-muc3-0001"]
    assert doc.incidents[0].weapon is not None and doc.incidents[0].weapon.text == "car bomb"
    article = out / "articles" / "muc-dev-muc3-0001.txt"
    before = article.read_text(encoding="utf-8")
    article.unlink()
    assert rebuild_articles(root, out) == 1
    assert article.read_text(encoding="utf-8") == before
