"""Untrusted text (article text, model output, document ids, model names) is shown as text in every output:
no HTML, links or images in the Markdown report, no rich markup or hyperlinks on the terminal."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from extract import api
from extract.cli import main
from extract.core.records import DocumentResult
from extract.display import print_incidents, print_summary
from extract.runner import RunSummary
from extract.testing.fake_server import FakeOpenAIServer

from .conftest import ARTICLES, GOLD

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "[click me](javascript:alert(3))",
    "![pixel](https://tracker.example/p.png)",
    "<a href='javascript:alert(4)'>x</a>",
    "<javascript:alert(5)>",
    "&lt;b&gt;entity&lt;/b&gt;",
    "[ref]: https://tracker.example/r.png",
]
PROVENANCE = {"prompt": "p", "prompt_hash": "h", "schema_version": "1.0.0", "backend": "mock", "model": "m",
              "extractor_version": "0"}  # fmt: skip


def _hostile_incident(k: int, payload: str) -> dict[str, object]:
    quote = f"quote {payload}"
    return {
        "type": "air_strike",
        "quote": quote,
        "summary": payload,
        "location": {"place": payload, "country": payload, "quote": quote},
        "perpetrators": [{"name": payload, "status": "claimed", "quote": quote}],
        "weapon": {"text": payload, "category": "other", "quote": quote},
        "casualties": [{"kind": "killed", "count": k + 1, "qualifier": "exact", "who": payload, "quote": quote}],
        "primary": k == 0,
    }


def _hostile_run(path: Path) -> None:
    ids = sorted(p.stem for p in ARTICLES.glob("*.txt"))
    lines = []
    for n, doc_id in enumerate(ids[:-1]):
        incidents = [_hostile_incident(k, payload) for k, payload in enumerate(HOSTILE[n:] + HOSTILE[:n])]
        lines.append({"id": doc_id, "status": "ok", "incidents": incidents, "provenance": PROVENANCE})
    failure = {"reason": "server_error<img src=x onerror=alert(6)>", "message": HOSTILE[0] + HOSTILE[2]}
    lines.append({"id": ids[-1], "status": "failed", "failure": failure, "provenance": PROVENANCE})
    lines.append({"id": "<script>alert('id')</script>", "status": "ok", "provenance": PROVENANCE})
    path.write_text("".join(DocumentResult.model_validate(r).to_json() + "\n" for r in lines), encoding="utf-8")


def _html_of(markdown_text: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(markdown_text)


def test_the_markdown_report_shows_hostile_values_as_text(tmp_path: Path) -> None:
    run = tmp_path / "run.jsonl"
    _hostile_run(run)
    report = tmp_path / "report.md"
    api.evaluate_run(GOLD, run, report=report, bootstrap=10)
    text = report.read_text(encoding="utf-8")
    html = _html_of(text)
    tags = set(re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html))
    assert tags <= {"h1", "h2", "h3", "p", "table", "thead", "tbody", "tr", "th", "td", "strong", "ul", "li", "em"}
    opened = re.findall(r"<[a-zA-Z][^>]*>", html)
    assert not [t for t in opened if re.search(r"\b(?:href|src|on[a-z]+)\s*=", t)]
    # The values are still there, readable, as text.
    assert "alert(1)" in html and "javascript:alert(3)" in html and "tracker.example/p.png" in html


@pytest.mark.parametrize("payload", [pytest.param(p, id=f"payload-{k}") for k, p in enumerate(HOSTILE)])
def test_each_payload_renders_without_markup_in_a_report_cell(payload: str) -> None:
    from extract.scoring.report import _cell

    html = _html_of(f"| a |\n|---|\n| {_cell(payload)} |\n")
    inner = re.search(r"<td>(.*)</td>", html, re.DOTALL)
    assert inner is not None, html
    assert "<" not in inner.group(1), html


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=200, color_system="truecolor"), buffer


@pytest.mark.parametrize(
    "doc_id",
    [
        pytest.param("x[/bold]", id="closing-tag"),
        pytest.param("[link=https://evil.example]click[/link]", id="link"),
        pytest.param("[red]alarm[/red]", id="style"),
        pytest.param("a\\[b]", id="backslash"),
    ],
)
def test_document_ids_with_markup_print_as_text(doc_id: str) -> None:
    console, buffer = _console()
    ok = DocumentResult.model_validate(
        {"id": doc_id, "status": "ok", "incidents": [_hostile_incident(0, "[/b]x")], "provenance": PROVENANCE}
    )
    failed = DocumentResult.model_validate(
        {"id": doc_id, "status": "failed", "failure": {"reason": "[/bold]r", "message": "m"}, "provenance": PROVENANCE}
    )
    print_incidents(console, [ok, failed])
    summary = RunSummary(out=f"runs/{doc_id}.jsonl", backend="mock", model=doc_id, parquet=f"{doc_id}.parquet")
    summary.add(failed)
    print_summary(console, summary)
    out = buffer.getvalue()
    assert "\x1b]8;" not in out  # no terminal hyperlink
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert plain.count(doc_id) >= 4 and "[/bold]r" in plain


def test_a_run_with_a_markup_id_and_model_still_prints_its_summary_and_writes_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    rows = [{"id": "x[/bold]", "text": "Shelling killed two."}, {"id": "[link=https://e.example]y", "text": "A."}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out, parquet = tmp_path / "out.jsonl", tmp_path / "out.parquet"
    with FakeOpenAIServer() as server:
        code = main(
            ["run", str(corpus), "--backend", "openai", "--base-url", server.base_url, "--model", "m[/bold]",
             "--out", str(out), "--parquet", str(parquet), "--no-cache", "--show"]
        )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Run summary" in captured.out and "openai / m[/bold]" in captured.out
    assert "x[/bold]" in captured.out and "[link=https://e.example]y" in captured.out
    assert pq.read_table(parquet).column("id").to_pylist() == ["x[/bold]", "[link=https://e.example]y"]


def test_eval_and_agreement_titles_take_markup_in_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    gold = tmp_path / "gold[/bold]"
    shutil.copytree(GOLD, gold)
    assert main(["gold", "agree", str(gold), str(GOLD)]) == 0
    assert "gold[/bold]" in capsys.readouterr().out


# -- terminal escape sequences ------------------------------------------------------------------------------------

OSC8 = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
CLEAR = "\x1b[2J\x1b[H"
TITLE = "\x1b]2;pwned\x07"
CSI_C1 = "\x9b31m"
# Bidi controls: an override that shows the rest of the line reversed, isolates, marks (Trojan Source).
RLO = "\u202e"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        pytest.param(OSC8, "\\x1b]8;;https://evil.example/\\x1b\\click\\x1b]8;;\\x1b\\", id="osc8-hyperlink"),
        pytest.param(CLEAR, "\\x1b[2J\\x1b[H", id="clear-screen"),
        pytest.param(TITLE, "\\x1b]2;pwned\\x07", id="window-title"),
        pytest.param(CSI_C1, "\\x9b31m", id="c1-csi"),
        pytest.param("a\rb\x08c\x7f", "a\\x0db\\x08c\\x7f", id="carriage-return-backspace-del"),
        pytest.param("tab\tand\nnewline, Alep حلب", "tab\tand\nnewline, Alep حلب", id="text-unchanged"),
        pytest.param(f"ok.txt{RLO}gpj.exe", "ok.txt\\u202egpj.exe", id="bidi-override"),
        pytest.param(BIDI, "".join(f"\\u{ord(c):04x}" for c in BIDI), id="bidi-embeddings-isolates-marks"),
        pytest.param(
            "\u061c\u200b\ufeff\u00ad\u2060", "\\u061c\\u200b\\ufeff\\xad\\u2060", id="other-format-characters"
        ),
        pytest.param(
            "\ud800 \U000e0001 \u2028\u2029", "\\ud800 \\U000e0001 \\u2028\\u2029", id="surrogate-tag-separators"
        ),
        pytest.param("می\u200cخواهم 👩\u200d🚒 é ß", "می\u200cخواهم 👩\u200d🚒 é ß", id="joiners-spell-words"),
    ],
)
def test_printable_shows_control_characters_as_escapes(text: str, shown: str) -> None:
    from extract.display import printable

    assert printable(text) == shown


def _no_control_sequences(text: str) -> None:
    assert "\x1b" not in text and "\x9b" not in text and "\x07" not in text, repr(text[:400])
    assert not any(c in text for c in BIDI), repr(text[:400])


def test_run_show_prints_escape_sequences_in_ids_and_text_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "corpus.jsonl"
    rows = [
        {"id": f"link{OSC8}{RLO}", "text": f"Shelling killed two people in {CLEAR}Hama{TITLE}{RLO} on Monday."},
        {"id": f"clear{CLEAR}{CSI_C1}", "text": "Rebels shelled Aleppo on Monday, killing five civilians."},
    ]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with FakeOpenAIServer() as server:
        code = main(
            ["run", str(corpus), "--backend", "openai", "--base-url", server.base_url, "--model", f"m{TITLE}",
             "--out", str(tmp_path / "out.jsonl"), "--no-cache", "--show"]
        )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    _no_control_sequences(captured.out + captured.err)
    assert "link\\x1b]8;;https://evil.example/" in captured.out and "clear\\x1b[2J" in captured.out
    assert "\\x1b[2J\\x1b[HHama\\x1b]2;pwned\\x07\\u202e" in captured.out  # the quote, shown with its escapes
    # The records keep the text as it was: only the terminal sees escapes.
    assert {r["id"] for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())} == {
        row["id"] for row in rows
    }


def test_scan_prints_escape_sequences_in_ids_as_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from extract.scoring.injection import load_injection_set

    corpus = tmp_path / "corpus.jsonl"
    attack = load_injection_set()[6].text
    rows = [{"id": f"bad{OSC8}{CLEAR}", "text": attack}, {"id": f"also{TITLE}{BIDI}", "text": f"{CLEAR}{BIDI}{attack}"}]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main(["scan", str(corpus)]) == 1
    captured = capsys.readouterr()
    _no_control_sequences(captured.out + captured.err)
    assert "bad\\x1b]8;;https://evil.example/" in captured.out and "also\\x1b]2;pwned\\x07" in captured.out


def test_errors_and_sentences_print_escape_sequences_as_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(tmp_path / f"missing{CLEAR}{TITLE}{RLO}.jsonl"), "--backend", "mock"]) == 2
    article = tmp_path / "article.txt"
    article.write_text(f"Shelling hit {OSC8} Hama{BIDI} on Monday. Five{CLEAR} people died.", encoding="utf-8")
    assert main(["sentences", str(article), "--candidates"]) == 0
    captured = capsys.readouterr()
    _no_control_sequences(captured.out + captured.err)
    assert "missing\\x1b[2J" in captured.err and "Shelling hit \\x1b]8;;" in captured.out


def test_events_review_eval_gold_and_usage_errors_print_bidi_controls_as_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from tests.review_fixtures import seed_run

    run = seed_run(tmp_path / f"run{RLO}.jsonl")
    gold = tmp_path / f"gold{BIDI}"
    shutil.copytree(GOLD, gold)
    assert main(["events", str(run), "--gold", str(gold), "--out", str(tmp_path / f"ev{RLO}.jsonl"), "--quiet"]) == 0
    assert main(["review", str(run), "--out", str(tmp_path / f"site{RLO}")]) == 0
    assert main(["eval", "--gold", str(gold), "--pred", str(run), "--bootstrap", "10"]) == 0
    assert main(["gold", "events", str(gold)]) == 0
    assert main(["gold", "validate", str(gold)]) == 0
    with pytest.raises(SystemExit):
        main([f"events{RLO}"])
    captured = capsys.readouterr()
    _no_control_sequences(captured.out + captured.err)
    assert "ev\\u202e.jsonl" in captured.out and "site\\u202e" in captured.out and "gold\\u202a" in captured.out
    assert "'events\\u202e'" in captured.err  # argparse's invalid choice, quoting what was typed
