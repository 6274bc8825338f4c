"""The scorer on hand-built documents whose right answer is worked out next to each case.

The base gold incident ``downing()`` has nine slots: type, date, location, one
aircraft, one perpetrator, weapon, one casualty group, one source, primary.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from extract.core.errors import ConfigError, InputError
from extract.core.records import Alignment, DocumentResult, EvidenceSpan, Failure, Provenance, Status, Usage
from extract.core.schema import (
    Aircraft,
    AircraftCategory,
    AttributionStatus,
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
    Weapon,
    WeaponCategory,
)
from extract.scoring import (
    EvalReport,
    check_gates,
    evaluate,
    load_predictions,
    load_summary,
    markdown,
    read_predictions,
    render_table,
    write_json,
    write_markdown,
)
from extract.scoring.gold import GoldDocument, GoldIncident, GoldSet
from extract.scoring.incidents import FIELDS

Q = "quoted text"
PROV = Provenance(
    prompt="incidents", prompt_hash="h", schema_version="1.0.0", backend="mock", model="m", extractor_version="0"
)


# ---------------------------------------------------------------- builders


def downing(**changes: Any) -> dict[str, Any]:
    """The fields of a fully coded aircraft downing (nine slots)."""
    fields: dict[str, Any] = {
        "type": IncidentType.AIRCRAFT_DOWNING,
        "quote": Q,
        "summary": "Rebels shot down a Su-25 near Saraqeb.",
        "date": DateInfo(text="Saturday", iso="2018-02-03", precision=DatePrecision.DAY, quote=Q),
        "location": Location(near="Saraqeb", admin1="Idlib", country="Syria", quote=Q),
        "aircraft": [Aircraft(model="Su-25", category=AircraftCategory.FIXED_WING, operator="Russia", quote=Q)],
        "perpetrators": [Perpetrator(name="Tahrir al-Sham", status=AttributionStatus.CLAIMED, quote=Q)],
        "weapon": Weapon(text="shoulder-launched missile", category=WeaponCategory.MANPADS, quote=Q),
        "casualties": [
            Casualty(kind=CasualtyKind.KILLED, count=1, qualifier=CountQualifier.EXACT, who="pilot", quote=Q)
        ],
        "sources": [Source(name="Syrian Observatory for Human Rights", kind=SourceKind.MONITOR, quote=Q)],
        "primary": True,
    }
    fields.update(changes)
    return fields


def strike(place: str, killed: int, day: str, **changes: Any) -> dict[str, Any]:
    """A small air strike: type, date, location, one casualty group (four slots)."""
    fields: dict[str, Any] = {
        "type": IncidentType.AIR_STRIKE,
        "quote": Q,
        "summary": f"An air strike on {place}.",
        "date": DateInfo(text=day, precision=DatePrecision.UNKNOWN, quote=Q),
        "location": Location(place=place, country="Syria", quote=Q),
        "casualties": [Casualty(kind=CasualtyKind.KILLED, count=killed, qualifier=CountQualifier.EXACT, quote=Q)],
    }
    fields.update(changes)
    return fields


def gold_incident(fields: dict[str, Any], key: str = "k", **extra: Any) -> GoldIncident:
    return GoldIncident(**fields, key=key, **extra)


def gold_set(docs: dict[str, list[GoldIncident]], aliases: dict[str, list[str]] | None = None) -> GoldSet:
    return GoldSet(
        documents={d: GoldDocument(id=d, incidents=incs) for d, incs in docs.items()},
        articles={},  # no article: quotes are not re-grounded (see test_grounding_rate for that)
        aliases=aliases or {},
        root=Path("."),
    )


def result(doc_id: str, incidents: list[dict[str, Any]], **extra: Any) -> DocumentResult:
    extra.setdefault("status", Status.OK)
    return DocumentResult(id=doc_id, incidents=[Incident(**f) for f in incidents], provenance=PROV, **extra)


def score(gold: GoldSet, preds: list[DocumentResult]) -> EvalReport:
    return evaluate(gold, preds, bootstrap=50, seed=1)


def prf(counts: Any) -> tuple[float | None, float | None, float | None]:
    return counts.precision, counts.recall, counts.f1


# ---------------------------------------------------------------- hand-built cases


def test_perfect_prediction_scores_one() -> None:
    report = score(gold_set({"d": [gold_incident(downing())]}), [result("d", [downing()])])
    assert prf(report.slots) == (1.0, 1.0, 1.0)
    assert prf(report.incidents) == (1.0, 1.0, 1.0)
    assert report.slots.correct == 9
    assert report.primary_accuracy == 1.0


def test_empty_prediction_scores_zero() -> None:
    report = score(gold_set({"d": [gold_incident(downing())]}), [result("d", [])])
    # nine gold slots, all missing; nothing predicted: precision 0, recall 0
    assert report.slots.missing == 9
    assert prf(report.slots) == (0.0, 0.0, 0.0)
    assert prf(report.incidents) == (0.0, 0.0, 0.0)
    assert report.primary_accuracy == 0.0


def test_one_spurious_incident() -> None:
    shelling = strike("Aleppo", 3, "Sunday", type=IncidentType.SHELLING, date=None)
    report = score(gold_set({"d": [gold_incident(downing())]}), [result("d", [downing(), shelling])])
    # the shelling cannot align with a downing: its type, location and casualty are 3 spurious slots
    # slots: P = 9 / (9 + 3) = 0.75, R = 9 / 9 = 1, F1 = 2 * 0.75 / 1.75
    assert (report.slots.correct, report.slots.spurious) == (9, 3)
    assert prf(report.slots) == pytest.approx((0.75, 1.0, 1.5 / 1.75))
    # incidents: 1 matched, 1 spurious: P = 0.5, R = 1, F1 = 2/3
    assert prf(report.incidents) == pytest.approx((0.5, 1.0, 2 / 3))
    assert report.fields["type"].spurious == 1


def test_one_missing_incident() -> None:
    second = strike("Maarat al-Numan", 5, "Monday", date=None)
    gold = gold_set({"d": [gold_incident(downing()), gold_incident(second, key="k2")]})
    report = score(gold, [result("d", [downing()])])
    # the air strike is missing: type, location, casualty = 3 missing slots
    # slots: P = 9 / 9 = 1, R = 9 / 12 = 0.75; incidents: P = 1, R = 0.5
    assert (report.slots.correct, report.slots.missing) == (9, 3)
    assert prf(report.slots) == pytest.approx((1.0, 0.75, 1.5 / 1.75))
    assert prf(report.incidents) == pytest.approx((1.0, 0.5, 2 / 3))


def test_partial_count() -> None:
    more_than_30 = [
        Casualty(kind=CasualtyKind.KILLED, count=30, qualifier=CountQualifier.MORE_THAN, who="soldiers", quote=Q)
    ]
    predicted_35 = [
        Casualty(kind=CasualtyKind.KILLED, count=35, qualifier=CountQualifier.EXACT, who="soldiers", quote=Q)
    ]
    gold = gold_set({"d": [gold_incident(strike("Saraqeb", 0, "Monday", casualties=more_than_30))]})
    report = score(gold, [result("d", [strike("Saraqeb", 0, "Monday", casualties=predicted_35)])])
    # 35 lies in "more than 30": the count is partial; the casualty group earns kind 1 + count 1.5 + who 1
    # = 3.5 of 5, so it is partial. Slots: type, date, location correct, casualty partial:
    # P = R = (3 + 0.5) / 4 = 0.875
    assert report.subfields["casualties.count"].partial == 1
    assert report.fields["casualties"].partial == 1
    assert prf(report.slots) == pytest.approx((0.875, 0.875, 0.875))


@pytest.mark.parametrize(
    ("aliases", "expected_f1"),
    [
        # with the table, "HTS" is the same actor: all four slots correct
        pytest.param({"Hayat Tahrir al-Sham": ["HTS"]}, 1.0, id="alias-match"),
        # without it the perpetrators do not pair: 1 missing + 1 spurious; type and location correct:
        # P = 2 / 3, R = 2 / 3
        pytest.param({}, 2 / 3, id="no-alias"),
    ],
)
def test_alias_match(aliases: dict[str, list[str]], expected_f1: float) -> None:
    def incident(actor: str) -> dict[str, Any]:
        return strike(
            "Saraqeb",
            0,
            "x",
            date=None,
            casualties=[],
            perpetrators=[Perpetrator(name=actor, status=AttributionStatus.CLAIMED, quote=Q)],
        )

    gold = gold_set({"d": [gold_incident(incident("Hayat Tahrir al-Sham"))]}, aliases)
    report = score(gold, [result("d", [incident("HTS")])])
    assert report.slots.f1 == pytest.approx(expected_f1)


def test_swapped_order_is_fixed_by_alignment() -> None:
    a = strike("Saraqeb", 3, "Monday")
    b = strike("Ariha", 7, "Tuesday")
    gold = gold_set({"d": [gold_incident(a, key="a"), gold_incident(b, key="b")]})
    report = score(gold, [result("d", [b, a])])
    # gold 0 (Saraqeb) pairs with prediction 1, gold 1 with prediction 0; all 8 slots correct
    assert [(p.gold_index, p.pred_index) for p in report.documents[0].pairs] == [(0, 1), (1, 0)]
    assert prf(report.slots) == (1.0, 1.0, 1.0)


def test_claimed_predicted_as_confirmed_is_partial() -> None:
    claimed = downing(perpetrators=[Perpetrator(name="Tahrir al-Sham", status=AttributionStatus.CLAIMED, quote=Q)])
    confirmed = downing(perpetrators=[Perpetrator(name="Tahrir al-Sham", status=AttributionStatus.CONFIRMED, quote=Q)])
    report = score(gold_set({"d": [gold_incident(claimed)]}), [result("d", [confirmed])])
    # the name (weight 2) is right, the status (weight 1) wrong: partial. 8 correct + 1 partial of 9:
    # P = R = 8.5 / 9; the perpetrators field alone: 0.5
    assert report.fields["perpetrators"].partial == 1
    assert report.fields["perpetrators"].f1 == pytest.approx(0.5)
    assert report.subfields["perpetrators.name"].correct == 1
    assert report.subfields["perpetrators.status"].incorrect == 1
    assert prf(report.slots) == pytest.approx((8.5 / 9, 8.5 / 9, 8.5 / 9))
    # primary accuracy counts exact slots only: 8 of 9
    assert report.primary_accuracy == pytest.approx(8 / 9)


@pytest.mark.parametrize(
    ("pred_type", "matched", "type_verdict"),
    [
        pytest.param(IncidentType.AIRCRAFT_LOSS, 1, "incorrect", id="compatible-type-aligns"),
        pytest.param(IncidentType.AIR_STRIKE, 0, None, id="incompatible-type-never-aligns"),
    ],
)
def test_type_compatibility(pred_type: IncidentType, matched: int, type_verdict: str | None) -> None:
    report = score(gold_set({"d": [gold_incident(downing())]}), [result("d", [downing(type=pred_type)])])
    assert report.incidents_lenient.matched == matched
    assert report.incidents.matched == 0  # strict detection: the types differ
    if type_verdict is None:
        # unaligned: nine spurious and nine missing slots
        assert (report.slots.missing, report.slots.spurious) == (9, 9)
    else:
        assert report.fields["type"].incorrect == 1
        assert report.slots.correct == 8


def test_type_alternative_makes_types_compatible() -> None:
    # air_strike and aircraft_downing are not compatible, but the gold lists air_strike as acceptable:
    # the pair aligns and the type is correct, so all nine slots are
    gold = gold_set({"d": [gold_incident(downing(), alternatives={"type": ["air_strike"]})]})
    report = score(gold, [result("d", [downing(type=IncidentType.AIR_STRIKE)])])
    assert report.incidents.matched == 1
    assert report.slots.correct == 9


def test_too_little_agreement_does_not_align() -> None:
    gold = gold_set({"d": [gold_incident(strike("Saraqeb", 3, "Monday"))]})
    # same type, but date, place and count all wrong: the location earns 0.5 (country) of the 3 slots other
    # than type, under the 25% needed, so the prediction is spurious and the gold incident missing
    report = score(gold, [result("d", [strike("Ariha", 9, "Friday")])])
    assert report.incidents.matched == 0
    assert (report.incidents.spurious, report.incidents.missing) == (1, 1)


def test_value_empty_on_both_sides_is_not_counted() -> None:
    bare = downing(date=None, weapon=None, aircraft=[], primary=False)
    report = score(gold_set({"d": [gold_incident(bare)]}), [result("d", [bare])])
    # type, location, perpetrator, casualty, source
    assert report.slots.correct == 5
    assert report.fields["date"].gold == report.fields["date"].predicted == 0
    assert report.fields["date"].f1 is None


def test_optional_gold_value_via_alternatives() -> None:
    no_date = downing(date=None)
    gold = gold_set({"d": [gold_incident(no_date, alternatives={"date.text": ["Saturday"]})]})
    right = score(gold, [result("d", [downing()])])
    wrong = score(gold, [result("d", [downing(date=DateInfo(text="Friday", precision=DatePrecision.DAY, quote=Q))])])
    assert right.fields["date"].correct == 1
    assert wrong.fields["date"].spurious == 1


# ---------------------------------------------------------------- documents, failures, grounding, usage


def test_missing_failed_and_extra_documents() -> None:
    gold = gold_set({"a": [gold_incident(downing())], "b": [gold_incident(downing())], "c": [gold_incident(downing())]})
    preds = [
        result("a", [downing()], usage=Usage(requests=2, prompt_tokens=100, completion_tokens=20), seconds=1.5),
        result(
            "b",
            [],
            status=Status.FAILED,
            failure=Failure(reason="validation", message="bad JSON", attempts=3),
            usage=Usage(requests=3, prompt_tokens=300, completion_tokens=60),
            seconds=2.0,
        ),
        result("z", [downing()], usage=Usage(requests=1, prompt_tokens=10, completion_tokens=1), seconds=0.5),
    ]
    report = score(gold, preds)
    summary = report.summary()
    assert summary["documents"] == 3
    assert summary["failures"] == 1
    assert summary["missing_documents"] == ["c"]
    assert summary["failed_documents"] == [{"id": "b", "reason": "validation", "message": "bad JSON"}]
    assert summary["extra_documents"] == ["z"]
    # a is perfect, b and c contribute nine missing slots each: R = 9 / 27
    assert report.slots.recall == pytest.approx(1 / 3)
    assert summary["usage"]["total_tokens"] == 120 + 360 + 11
    assert summary["usage"]["requests"] == 6
    assert summary["usage"]["seconds"] == pytest.approx(4.0)


def span(path: str, alignment: Alignment) -> EvidenceSpan:
    return EvidenceSpan(path=path, quote=Q, alignment=alignment, score=1.0 if alignment is Alignment.EXACT else 0.5)


def test_grounding_rate() -> None:
    # The run file's evidence is not trusted: every quote is located in the article again.
    article = f"Rebels shot down a jet. {Q}. The pilot was killed."
    evidence = [span("incidents[0]", Alignment.NOT_FOUND), span("incidents[0].date", Alignment.EXACT)]
    pred = downing(quote="Rebels shot down a jet.", weapon=None)
    pred["date"] = pred["date"].model_copy(update={"quote": "the pilot was killed"})  # fuzzy: case differs
    pred["location"] = pred["location"].model_copy(update={"quote": "an invented sentence about somewhere else"})
    report = evaluate(
        gold_set({"d": [gold_incident(downing())]}), [result("d", [pred], evidence=evidence)], bootstrap=0,
        articles={"d": article},
    )  # fmt: skip
    # 7 quotes: incident (exact), date (fuzzy), location (not found), aircraft, perpetrator, casualty, source (exact)
    summary = report.summary()
    g = summary["grounding"]
    assert (g["exact"], g["fuzzy"], g["not_found"]) == (5, 1, 1)
    # The article states none of the names, dates and counts the found quotes are cited for, so those five are
    # unsupported and count as ungrounded; only the incident's quote (cited for no checked value) is grounded.
    assert (g["unsupported"], summary["ungrounded"]) == (5, 6)
    assert summary["grounding_rate"] == pytest.approx(1 / 7)
    # the file claimed 1 exact and 1 not found: the incident quote (claimed not found, found exactly), the date
    # (claimed exact, found fuzzily) and the five quotes the file has no span for all differ
    assert summary["grounding_claimed"]["total"] == 2
    assert summary["grounding_disagreements"] == 7


def test_a_found_quote_must_state_its_values_to_count_as_grounded() -> None:
    article = "Rebels shot down a Su-25 near Saraqeb on Saturday, killing the pilot. Officials blamed Hama."
    stated = "Rebels shot down a Su-25 near Saraqeb on Saturday, killing the pilot."
    pred = strike("Saraqeb", 1, "Saturday", quote=stated)
    pred["date"] = pred["date"].model_copy(update={"quote": stated})
    pred["location"] = Location(place="Saraqeb", country="Syria", quote=stated)  # Syria: nowhere in the article
    pred["casualties"] = [
        Casualty(kind=CasualtyKind.KILLED, count=1, qualifier=CountQualifier.EXACT, who="pilot", quote=stated),
        Casualty(kind=CasualtyKind.KILLED, count=3, qualifier=CountQualifier.EXACT, quote=stated),  # invented
    ]
    gold = gold_set({"d": [gold_incident(pred)]})
    report = evaluate(gold, [result("d", [pred])], bootstrap=0, articles={"d": article})
    g = report.summary()["grounding"]
    # incident, date, location, two casualty groups: all found exactly; the location's country and the count of
    # three are stated nowhere, so two of the five are ungrounded
    assert (g["exact"], g["unsupported"], report.summary()["ungrounded"]) == (5, 2, 2)
    assert report.grounding.rate == pytest.approx(3 / 5)
    # checked values: date text, place, country, count 1, who, count 3 -> 4 of 6 stated
    assert (g["values"], g["values_supported"]) == (6, 4)
    assert report.summary()["supported_share"] == pytest.approx(4 / 6, abs=1e-3)


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate() -> None:
    docs = {f"d{k}": [gold_incident(strike("Saraqeb", k, "Monday"))] for k in range(20)}
    # half the documents right, half with the wrong count (casualty incorrect)
    preds = [result(f"d{k}", [strike("Saraqeb", k if k % 2 else k + 100, "Monday")]) for k in range(20)]
    first = evaluate(gold_set(docs), preds, bootstrap=200, seed=7)
    again = evaluate(gold_set(docs), preds, bootstrap=200, seed=7)
    other = evaluate(gold_set(docs), preds, bootstrap=200, seed=8)
    lo, hi = first.ci["slots.f1"]
    assert first.ci == again.ci
    assert first.ci != other.ci
    assert lo < first.slots.f1 < hi
    assert first.ci["incidents.f1"] == (1.0, 1.0)  # every document aligns in every resample
    assert first.ci["grounding_rate"] is None  # no evidence spans at all
    assert evaluate(gold_set(docs), preds, bootstrap=0).ci["slots.f1"] is None


# ---------------------------------------------------------------- reading predictions


def test_load_predictions_later_line_wins_and_repeats_are_named(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    lines = [result("a", []).to_json(), "", result("b", []).to_json(), result("a", [downing()]).to_json()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    preds = load_predictions(path)
    assert sorted(preds) == ["a", "b"]
    assert len(preds["a"].incidents) == 1
    assert read_predictions(path).duplicates == ("a",)


def test_load_predictions_reads_a_run_cut_short(tmp_path: Path) -> None:
    # what a kill mid-write leaves: extract run resumes from it, so extract eval must read it too
    path = tmp_path / "run.jsonl"
    whole, cut = result("a", []).to_json(), result("b", [downing()]).to_json()
    path.write_text(whole + "\n" + cut[: len(cut) // 2], encoding="utf-8")
    assert list(load_predictions(path)) == ["a"]


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        pytest.param("{not json", "run.jsonl:2: not a result record", id="not-json"),
        pytest.param('{"id": "x"}', r"run.jsonl:2: not a valid result record \(status", id="missing-field"),
    ],
)
def test_load_predictions_names_file_and_line(tmp_path: Path, bad_line: str, expected: str) -> None:
    path = tmp_path / "run.jsonl"
    # a bad line before the last is damage, not an interrupted write
    text = result("a", []).to_json() + "\n" + bad_line + "\n" + result("c", []).to_json() + "\n"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=expected):
        load_predictions(path)


def test_load_predictions_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such run file"):
        load_predictions(tmp_path / "nope.jsonl")


def test_missing_gold_documents_are_counted_and_named() -> None:
    gold = gold_set({"a": [gold_incident(downing())], "b": [gold_incident(downing())]})
    summary = score(gold, [result("a", [downing()])]).summary()
    assert summary["missing"] == 1
    assert summary["missing_documents"] == ["b"]


# ---------------------------------------------------------------- writers


@pytest.fixture
def mixed_report() -> EvalReport:
    claimed = downing()
    confirmed = downing(perpetrators=[Perpetrator(name="Tahrir al-Sham", status=AttributionStatus.CONFIRMED, quote=Q)])
    gold = gold_set({"d": [gold_incident(claimed), gold_incident(strike("Ariha", 4, "Monday"), key="k2")]})
    extra = strike("Aleppo", 2, "Friday", type=IncidentType.SHELLING)
    return score(gold, [result("d", [confirmed, extra])])


def test_json_summary_shape(tmp_path: Path, mixed_report: EvalReport) -> None:
    out = tmp_path / "eval.json"
    write_json(mixed_report, out)
    summary = json.loads(out.read_text(encoding="utf-8"))
    for key in ("incidents", "slots"):
        assert set(summary[key]) >= {"precision", "recall", "f1"}
    assert set(summary["fields"]) == set(FIELDS)  # derived from the field declarations, like the scorer
    assert set(summary["fields"]["location"]) >= {"precision", "recall", "f1"}
    for key in ("grounding_rate", "documents", "failures", "ci", "usage", "primary_accuracy", "ungrounded"):
        assert key in summary
    assert load_summary(out) == summary


def test_markdown_has_tables_and_document_diff(tmp_path: Path, mixed_report: EvalReport) -> None:
    out = tmp_path / "eval.md"
    write_markdown(mixed_report, out)
    text = out.read_text(encoding="utf-8")
    assert "| incident detection |" in text
    assert "| perpetrators | 0 | 1 | 0 | 0 | 0 |" in text  # COR PAR INC MIS SPU
    assert "**gold 0 ↔ predicted 0**" in text
    assert (
        "| perpetrators | Tahrir al-Sham (claimed) | Tahrir al-Sham (confirmed) | **partial** (status: incorrect) |"
        in text
    )
    assert "**missing** gold incident 1" in text
    assert "**spurious** predicted incident 1" in text
    assert " Δ " not in text


def test_baseline_deltas(mixed_report: EvalReport) -> None:
    baseline = json.loads(json.dumps(mixed_report.summary()))
    baseline["slots"]["f1"] -= 0.25
    baseline["fields"]["location"]["f1"] = 0.5
    summary = mixed_report.summary(baseline)
    assert summary["delta"]["slots.f1"] == pytest.approx(0.25)
    assert summary["delta"]["fields.location.f1"] == pytest.approx(mixed_report.fields["location"].f1 - 0.5)
    assert summary["delta"]["incidents.f1"] == 0.0
    text = markdown(mixed_report, baseline)
    assert "+0.250" in text
    console = Console(record=True, width=140)
    console.print(render_table(mixed_report, baseline))
    rendered = console.export_text()
    assert "slots (micro)" in rendered
    assert "+0.250" in rendered


def test_console_table_without_baseline(mixed_report: EvalReport) -> None:
    console = Console(record=True, width=140)
    console.print(render_table(mixed_report))
    rendered = console.export_text()
    assert "incident detection" in rendered
    assert "Δ" not in rendered
    assert f"{mixed_report.incidents.f1:.3f}" in rendered


# ---------------------------------------------------------------- gates


def test_gates_pass(mixed_report: EvalReport) -> None:
    summary = mixed_report.summary()
    assert check_gates(summary, {"incidents.f1": 0.5, "slots.f1": 0.1, "max_failures": 0}) == []


def test_gates_fail_with_one_line_each(mixed_report: EvalReport) -> None:
    summary = mixed_report.summary()
    # incidents: 1 matched, 1 spurious, 1 missing -> F1 0.5
    failed = check_gates(summary, {"incidents.f1": 0.9, "fields.location.f1": 0.0, "max_ungrounded": -1})
    assert failed == [
        "incidents.f1 = 0.500 is below the minimum 0.900",
        "ungrounded = 0 is above the maximum -1",
    ]


def test_gate_on_a_subfield_and_on_a_report(mixed_report: EvalReport) -> None:
    # keys with dots in them resolve: subfields -> "perpetrators.status" -> f1 (0: the one status is wrong)
    assert check_gates(mixed_report, {"subfields.perpetrators.status.f1": 0.5}) == [
        "subfields.perpetrators.status.f1 = 0.000 is below the minimum 0.500"
    ]


def test_gate_without_a_value_fails(mixed_report: EvalReport) -> None:
    # no evidence spans: the grounding rate is undefined, which must not pass silently
    assert check_gates(mixed_report.summary(), {"grounding_rate": 0.5}) == [
        "grounding_rate has no value (nothing to score), below the minimum 0.5"
    ]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("incidents.f2", id="unknown-leaf"),
        pytest.param("fields.place.f1", id="unknown-field"),
        pytest.param("fields.location", id="not-a-number"),
        pytest.param("max_nothing", id="unknown-maximum"),
    ],
)
def test_gate_unknown_metric_is_an_error(mixed_report: EvalReport, path: str) -> None:
    with pytest.raises(ConfigError):
        check_gates(mixed_report.summary(), {"slots.f1": 0.0, path: 0.5})
