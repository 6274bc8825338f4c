"""UCDP-AEC source: rows are read with their line numbers, and article texts are rebuilt for the labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extract.core.errors import InputError
from extract.training.sources.ucdp_aec import document_id, load_rows, main, rebuild_articles


def _row(event: int, article: str, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": event,
        "source_article": article,
        "source_date": "2021-02-22 00:00",
        "deaths_side_a": 0,
        "deaths_side_b": 3,
        "deaths_civilian": 0,
        "deaths_unknown": 0,
        "deaths_low": 3,
        "deaths_high": 3,
        "side_a_name": "Government of Cameroon",
        "side_b_name": "Ambazonia insurgents",
        "location_root_name": "Cameroon",
        "location_adm1_name": "South-West region",
        "location_adm2_name": "Meme d\u00e9partement",
        "location_where_name": "Nake Bongwana village",
        "start_date": "2021-09-15",
        "end_date": "2021-09-15",
    }
    row.update(extra)
    return row


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    # ensure_ascii as in the dataset: non-ASCII text arrives as \\u escapes.
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# Texts with what a rebuild must keep byte for byte: curly quotes, a no-break space, CRLF, U+2028.
VALIDATION = [
    _row(101, "Rebels \u201cambushed\u201d a convoy on Thursday.\nTwo soldiers died."),
    _row(102, "Shelling hit the\u00a0market.\r\nNo one was hurt.\u2028End."),
    _row(103, "An air strike killed five militants."),
]
TEST = [_row(201, "A drone struck a checkpoint near Kunduz.")]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "aec"
    folder.mkdir()
    _write_jsonl(folder / "validation.jsonl", VALIDATION)
    _write_jsonl(folder / "test.jsonl", TEST)
    return folder


def _label(gold: Path, doc_id: str, keys: tuple[str, ...] = ()) -> None:
    (gold / "labels").mkdir(parents=True, exist_ok=True)
    incidents = [{"key": key} for key in keys]
    (gold / "labels" / f"{doc_id}.json").write_text(
        json.dumps({"id": doc_id, "incidents": incidents}), encoding="utf-8"
    )


@pytest.mark.parametrize(
    ("split", "line", "expected"),
    [
        pytest.param("validation", 7, "aec-validation-0007", id="padded-to-four"),
        pytest.param("test", 1, "aec-test-0001", id="first-line"),
        pytest.param("test", 12345, "aec-test-12345", id="wider-than-four"),
    ],
)
def test_document_id(split: str, line: int, expected: str) -> None:
    assert document_id(split, line) == expected


@pytest.mark.parametrize(
    ("split", "line"),
    [pytest.param("train", 1, id="unknown-split"), pytest.param("test", 0, id="line-zero")],
)
def test_document_id_refuses_what_cannot_point_into_the_dataset(split: str, line: int) -> None:
    with pytest.raises(ValueError):
        document_id(split, line)


def test_load_rows_reads_every_field_with_its_line(source: Path) -> None:
    rows = load_rows(source / "validation.jsonl")
    assert [(r.line, r.id) for r in rows] == [(1, 101), (2, 102), (3, 103)]
    first = rows[0]
    assert first.source_article == VALIDATION[0]["source_article"]
    assert first.location_adm2_name == "Meme d\u00e9partement"
    assert (first.deaths_side_b, first.deaths_low, first.deaths_high) == (3, 3, 3)
    assert first.start_date == first.end_date == "2021-09-15"


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = tmp_path / "validation.jsonl"
    path.write_text(json.dumps(_row(1, "a")) + "\n\n" + json.dumps(_row(2, "b")) + "\n", encoding="utf-8")
    assert [(r.line, r.id) for r in load_rows(path)] == [(1, 1), (3, 2)]


@pytest.mark.parametrize(
    ("bad_line", "says"),
    [
        pytest.param('{"id": 5, "source_article": "cut off', "not valid JSON", id="truncated-json"),
        pytest.param("[1, 2]", "expected a JSON object", id="not-an-object"),
        pytest.param('{"source_article": "text"}', "'id'", id="no-id"),
        pytest.param('{"id": "5", "source_article": "text"}', "'id'", id="id-not-a-number"),
        pytest.param('{"id": 5, "source_article": null}', "'source_article'", id="no-text"),
        pytest.param('{"id": 5, "source_article": "t", "deaths_low": "3"}', "'deaths_low'", id="count-not-a-number"),
    ],
)
def test_a_malformed_line_is_one_line_naming_file_and_line(tmp_path: Path, bad_line: str, says: str) -> None:
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps(_row(1, "fine")) + "\n" + bad_line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_rows(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: ")
    assert says in message
    assert "\n" not in message


def test_rebuild_writes_the_exact_texts_of_labelled_lines(source: Path, tmp_path: Path) -> None:
    gold = tmp_path / "gold"
    _label(gold, "aec-validation-0001", ("aec-101-ambush", "other-incident"))
    _label(gold, "aec-validation-0002")
    _label(gold, "aec-test-0001", ("aec-201-drone-strike",))
    _label(gold, "000_seed")  # not a dataset id: left alone

    assert rebuild_articles(source, gold) == 3

    articles = gold / "articles"
    assert sorted(p.name for p in articles.iterdir()) == [
        "aec-test-0001.txt",
        "aec-validation-0001.txt",
        "aec-validation-0002.txt",
    ]
    assert (articles / "aec-validation-0001.txt").read_bytes() == VALIDATION[0]["source_article"].encode("utf-8")
    # CRLF, U+2028 and the no-break space come back byte for byte.
    assert (articles / "aec-validation-0002.txt").read_bytes() == VALIDATION[1]["source_article"].encode("utf-8")
    assert (articles / "aec-test-0001.txt").read_text(encoding="utf-8") == TEST[0]["source_article"]


def test_rebuild_refuses_a_row_of_another_event(source: Path, tmp_path: Path) -> None:
    gold = tmp_path / "gold"
    _label(gold, "aec-validation-0003", ("aec-999-air-strike",))
    with pytest.raises(InputError, match="is UCDP event 103, but the label codes event 999"):
        rebuild_articles(source, gold)


def test_rebuild_refuses_a_line_past_the_end(source: Path, tmp_path: Path) -> None:
    gold = tmp_path / "gold"
    _label(gold, "aec-test-0002")
    with pytest.raises(InputError, match=r"test\.jsonl has no row at line 2"):
        rebuild_articles(source, gold)


def test_rebuild_names_a_missing_file(tmp_path: Path) -> None:
    gold = tmp_path / "gold"
    _label(gold, "aec-test-0001")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"test\.jsonl: missing"):
        rebuild_articles(tmp_path / "empty", gold)


def test_command_line_rebuild(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gold = tmp_path / "gold"
    _label(gold, "aec-validation-0003")
    assert main(["rebuild", str(source), str(gold)]) == 0
    assert "wrote 1 article(s)" in capsys.readouterr().out
    rebuilt = (gold / "articles" / "aec-validation-0003.txt").read_text(encoding="utf-8")
    assert rebuilt == VALIDATION[2]["source_article"]


def test_command_line_error_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "aec"
    bad.mkdir()
    (bad / "validation.jsonl").write_text("not json\n", encoding="utf-8")
    gold = tmp_path / "gold"
    _label(gold, "aec-validation-0001")
    assert main(["rebuild", str(bad), str(gold)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{bad / 'validation.jsonl'}:1: not valid JSON" in err
