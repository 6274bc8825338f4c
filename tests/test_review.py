"""The review site without a browser: what is written, that nothing is dropped, escaping, the command."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pydantic import BaseModel

from extract.cli import main
from extract.core.records import Alignment, EvidenceSpan
from extract.core.schema import AttributionStatus, Incident, IncidentType
from extract.events.records import Claim, Event, MentionRef, write_events
from extract.io.output import results_by_id
from extract.review import build_site
from extract.review.families import FAMILY_OF_FIELD, family, family_of_field
from extract.review.site import page_name, segments, span_views
from extract.review.verdicts import score_run
from extract.scoring import evaluate
from extract.scoring.gold import load_gold
from tests.review_fixtures import GOLD, HOSTILE_ID, hostile_run, seed_run, write_articles


class _Page(HTMLParser):
    """Collects the marks (span ids and text), value elements, rows and scripts of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[list[str], str]] = []
        self.values: list[list[str]] = []
        self.row_classes: list[str] = []
        self.scripts: list[str | None] = []
        self.images = 0
        self.handlers: list[str] = []
        self._in_mark: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "mark":
            self._in_mark = (a.get("data-s") or "").split()
            self.marks.append((self._in_mark, ""))
        if a.get("data-ev") is not None and tag != "mark":
            self.values.append((a["data-ev"] or "").split())
        if tag == "li" and "row" in (a.get("class") or "").split():
            self.row_classes.append(a.get("class") or "")
        if tag == "script":
            self.scripts.append(a.get("src"))
        if tag == "img":
            self.images += 1
        self.handlers += [name for name, _ in attrs if name.startswith("on")]

    def handle_data(self, data: str) -> None:
        if self._in_mark is not None:
            ids, text = self.marks[-1]
            self.marks[-1] = (ids, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "mark":
            self._in_mark = None


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _index_data(out: Path) -> dict:
    text = (out / "index-data.js").read_text(encoding="utf-8")
    assert text.startswith("window.REVIEW_INDEX=")
    return json.loads(text[len("window.REVIEW_INDEX=") :].rstrip().rstrip(";"))


# --- families -------------------------------------------------------------------------------------


def _evidenced_fields() -> list[str]:
    """Incident fields whose values carry a quote, found by walking the schema."""
    out = []
    for name, info in Incident.model_fields.items():
        for arg in [info.annotation, *typing.get_args(info.annotation)]:
            if isinstance(arg, type) and issubclass(arg, BaseModel) and "quote" in arg.model_fields:
                out.append(name)
                break
    return out


def test_every_evidenced_field_has_a_family() -> None:
    fields = _evidenced_fields()
    assert {"date", "location", "aircraft", "perpetrators", "weapon", "casualties", "sources"} <= set(fields)
    for name in fields:
        assert family_of_field(name) != "other", f"add {name!r} to FAMILY_OF_FIELD"
    assert set(FAMILY_OF_FIELD) - {""} == set(fields), "the family table names a field the schema does not have"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("incidents[0]", "incident", id="incident-sentence"),
        pytest.param("incidents[3].location", "place", id="location-is-place"),
        pytest.param("incidents[0].perpetrators[2]", "actor", id="perpetrator-is-actor"),
        pytest.param("incidents[1].sources[0]", "source", id="source"),
        pytest.param("incidents[0].vehicle[0]", "other", id="unknown-field-kept-as-other"),
        pytest.param("nonsense", "other", id="unparsable-path"),
    ],
)
def test_family_of_path(path: str, expected: str) -> None:
    assert family(path) == expected


# --- segments -------------------------------------------------------------------------------------


def _span(path: str, start: int, end: int, text: str, alignment: Alignment = Alignment.EXACT) -> EvidenceSpan:
    return EvidenceSpan(path=path, quote=text[start:end], alignment=alignment, start=start, end=end, score=1.0)


def test_segments_keep_nested_and_overlapping_spans() -> None:
    text = "abcdefghij"
    evidence = [
        _span("incidents[0].location", 0, 6, text),  # 0: outer
        _span("incidents[0].date", 2, 4, text),  # 1: nested in 0
        _span("incidents[0].perpetrators[0]", 5, 8, text),  # 2: overlaps the end of 0
    ]
    segs = segments(text, span_views(evidence, text))
    assert [(s.text, s.spans, s.family) for s in segs] == [
        ("ab", "0", "place"),
        ("cd", "0 1", "date"),  # the innermost span gives the colour
        ("e", "0", "place"),
        ("f", "0 2", "actor"),
        ("gh", "2", "actor"),
        ("ij", "", ""),
    ]
    assert "".join(s.text for s in segs) == text


def test_span_views_say_why_a_span_is_not_placed() -> None:
    text = "Rebels shot down a jet."
    evidence = [
        _span("incidents[0]", 0, 6, text),
        EvidenceSpan(path="incidents[0].date", quote="Monday", alignment=Alignment.NOT_FOUND, score=0.0),
        EvidenceSpan(path="incidents[0].weapon", quote="x", alignment=Alignment.FUZZY, start=20, end=99, score=0.9),
        EvidenceSpan(path="incidents[0].location", quote="Idlib", alignment=Alignment.EXACT, start=0, end=5, score=1),
    ]
    views = span_views(evidence, text)
    assert [v.placed for v in views] == [True, False, False, False]
    assert "not found" in (views[1].problem or "")
    assert "outside the article" in (views[2].problem or "")
    assert "differs" in (views[3].problem or "")
    assert all(not v.placed and v.problem == "article text not available" for v in span_views(evidence[:1], None))


# --- the site -------------------------------------------------------------------------------------


@pytest.fixture
def seed_site(tmp_path: Path) -> tuple[Path, Path]:
    run = seed_run(tmp_path / "run.jsonl")
    out = tmp_path / "site"
    summary = build_site(run, out, gold=GOLD)
    assert summary.documents == 6 and summary.with_gold and summary.index == out / "index.html"
    return run, out


def test_every_evidence_span_is_highlighted_or_listed(seed_site: tuple[Path, Path]) -> None:
    run, out = seed_site
    texts = load_gold(GOLD).articles
    data = _index_data(out)
    pages = {row[1]: row[0] for row in data["rows"]}
    ungrounded_seen = 0
    for doc_id, result in results_by_id(run).items():
        page = _parse(out / "docs" / pages[doc_id])
        highlighted = {i for ids, _ in page.marks for i in ids}
        grounded = {str(k) for k, s in enumerate(result.evidence) if s.alignment is not Alignment.NOT_FOUND}
        assert highlighted == grounded
        # Each span's pieces, in order, are exactly its stretch of the article.
        for k in grounded:
            span = result.evidence[int(k)]
            assert "".join(text for ids, text in page.marks if k in ids) == texts[doc_id][span.start : span.end]
        # Every value with evidence points at its span; ungrounded ones are listed too, never dropped.
        pointed = {i for ids in page.values for i in ids}
        assert pointed == {str(k) for k in range(len(result.evidence))}
        ungrounded_seen += len(result.evidence) - len(grounded)
    assert ungrounded_seen > 0, "the perturbed run should contain invented quotes"


def test_gold_verdicts_on_the_page_are_the_scorers(seed_site: tuple[Path, Path]) -> None:
    run, out = seed_site
    gold = load_gold(GOLD)
    results = results_by_id(run)
    report = evaluate(gold, results, bootstrap=0)
    data = _index_data(out)
    pages = {row[1]: row for row in data["rows"]}
    kinds = {"correct", "partial", "incorrect", "missing", "spurious"}
    seen = set()
    for doc in report.documents:
        row = pages[doc.id]
        assert row[9] == (None if doc.counts.f1 is None else round(doc.counts.f1, 4))
        assert row[10] == [len(doc.pairs), len(doc.spurious), len(doc.missing)]
        page = _parse(out / "docs" / row[0])
        on_page = {k: sum(f"vd-row-{k}" in c.split() for c in page.row_classes) for k in kinds}
        assert on_page == dataclasses.asdict(doc.counts), doc.id  # one row per scored slot, none lost
        seen |= {k for k, n in on_page.items() if n}
    assert seen == kinds, "the perturbed run should show every verdict"
    verdicts = score_run(gold, results)
    assert verdicts.slot_f1 == report.slots.f1 and verdicts.matched == report.incidents.matched


def test_index_lists_every_document_with_its_counts(seed_site: tuple[Path, Path]) -> None:
    run, out = seed_site
    data = _index_data(out)
    results = results_by_id(run)
    assert [row[1] for row in data["rows"]] == list(results)
    for row in data["rows"]:
        result = results[row[1]]
        assert row[2] == result.status.value
        assert row[3] == len(result.incidents)
        assert row[6] == sum(s.alignment is Alignment.NOT_FOUND for s in result.evidence)
        assert row[7] == len(result.rejected)
        assert (out / "docs" / row[0]).is_file()
    assert sorted(data["worst"]) == list(range(len(results)))
    worst_f1 = [data["rows"][k][9] for k in data["worst"] if data["rows"][k][2] != "failed"]
    assert worst_f1 == sorted(worst_f1)


def test_hostile_text_is_escaped(tmp_path: Path) -> None:
    run, articles = hostile_run(tmp_path)
    out = tmp_path / "site"
    build_site(run, out, articles=articles)
    for page_path in [out / "index.html", *sorted((out / "docs").iterdir())]:
        html = page_path.read_text(encoding="utf-8")
        page = _parse(page_path)
        assert all(src and src.endswith(".js") for src in page.scripts), page_path  # only our own script files
        assert page.images == 0 and page.handlers == [], page_path  # no element, no event handler from the data
        assert "<script>window" not in html
    doc_pages = [p.read_text(encoding="utf-8") for p in (out / "docs").iterdir()]
    assert any("&lt;script&gt;window.__pwned" in html for html in doc_pages)
    data_js = (out / "index-data.js").read_text(encoding="utf-8")
    assert "<" not in data_js and "\\u003cimg" in data_js
    assert HOSTILE_ID not in {p.name for p in (out / "docs").iterdir()}


def _page_of_a_document_with_evidence(run: Path, site: Path) -> Path:
    """The page of the first document of the (randomly perturbed) run that has evidence."""
    doc_id = next(i for i, r in results_by_id(run).items() if r.evidence)
    return next(p for p in (site / "docs").glob("*.html") if p.name.startswith(doc_id))


def test_articles_missing_gives_a_warning_and_lists_the_quotes(tmp_path: Path) -> None:
    run = seed_run(tmp_path / "run.jsonl")
    summary = build_site(run, tmp_path / "site")
    assert summary.warnings and "--articles" in summary.warnings[0]
    page = _parse(_page_of_a_document_with_evidence(run, tmp_path / "site"))
    assert page.marks == []
    assert len(page.values) > 0


def test_articles_from_a_corpus_file(tmp_path: Path) -> None:
    run = seed_run(tmp_path / "run.jsonl")
    texts = load_gold(GOLD).articles
    corpus = write_articles(tmp_path / "articles.jsonl", texts)
    summary = build_site(run, tmp_path / "site", articles=corpus)
    assert summary.warnings == ()
    page = _parse(_page_of_a_document_with_evidence(run, tmp_path / "site"))
    assert page.marks


def test_events_page_links_mentions_and_shows_conflicting_claims(tmp_path: Path) -> None:
    run = seed_run(tmp_path / "run.jsonl")
    doc_a, doc_b = "000_992d4656b890393e", "elsewhere-article"
    mentions = [
        MentionRef(document_id=doc_a, incident_index=0, type=IncidentType.AIRCRAFT_DOWNING, quote="shot down"),
        MentionRef(document_id=doc_b, incident_index=2, type=IncidentType.AIRCRAFT_LOSS, quote="crashed"),
    ]
    event = Event(
        id="ev-1",
        type=IncidentType.AIRCRAFT_DOWNING,
        mentions=mentions,
        documents=[doc_a, doc_b],
        perpetrators=[
            Claim(value="Rebel Group A", status=AttributionStatus.CLAIMED, mentions=[f"{doc_a}#0"]),
            Claim(value="Rebel Group B <b>", status=AttributionStatus.ACCUSED, mentions=[f"{doc_b}#2"]),
        ],
        conflicts=["perpetrators"],
    )
    events = tmp_path / "events.jsonl"
    write_events([event], events)
    summary = build_site(run, tmp_path / "site", gold=GOLD, events=events)
    assert summary.events == 1
    html = (tmp_path / "site" / "events.html").read_text(encoding="utf-8")
    assert f'href="docs/{doc_a}.html#inc-0"' in html
    assert doc_b in html and f"docs/{doc_b}" not in html  # not in the run: named, not linked
    assert "Rebel Group A" in html and "Rebel Group B &lt;b&gt;" in html and "reports disagree" in html
    doc_page = (tmp_path / "site" / "docs" / f"{doc_a}.html").read_text(encoding="utf-8")
    assert 'href="../events.html#ev-0"' in doc_page


def test_page_names_are_safe_and_unique() -> None:
    used: set[str] = set()
    names = [page_name(i, used) for i in ["abc", "ABC", "../etc/passwd", "a b/c", "..", "é"]]
    assert len({n.lower() for n in names}) == len(names)
    assert names[0] == "abc.html"
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.html", name), name


# --- the command ----------------------------------------------------------------------------------


def test_cli_review(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = seed_run(tmp_path / "run.jsonl")
    out = tmp_path / "site"
    assert main(["review", str(run), "--gold", str(GOLD), "--out", str(out)]) == 0
    assert str(out / "index.html") in capsys.readouterr().out
    # The same folder is rebuilt in place.
    assert main(["review", str(run), "--out", str(out), "--articles", str(GOLD / "articles")]) == 0


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param("missing-run", "no such run file", id="missing-run-file"),
        pytest.param("foreign-out", "not written by extract review", id="refuses-a-foreign-folder"),
        pytest.param("bad-line", "run.jsonl:1", id="bad-run-line-names-file-and-line"),
    ],
)
def test_cli_review_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, message: str) -> None:
    run = seed_run(tmp_path / "run.jsonl")
    out = tmp_path / "site"
    if setup == "missing-run":
        run = tmp_path / "nope.jsonl"
    elif setup == "foreign-out":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    else:
        lines = run.read_text().splitlines()
        run.write_text("\n".join(["{not json", *lines]) + "\n")
    assert main(["review", str(run), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    if setup == "foreign-out":
        assert (out / "notes.txt").read_text() == "mine"
