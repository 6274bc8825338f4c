"""Corpus readers: every source format, bad documents that do not stop a batch, and whole-source errors."""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extract.core.errors import ConfigError, InputError
from extract.core.records import Document
from extract.io import BadDocument, Corpus, open_corpus

ROWS = [
    {"id": "a1", "text": "Rebels shot down a helicopter near Idlib.\nTwo crew died.", "source": "AP"},
    {"id": "a2", "text": "Shelling hit Ḥamā on Monday; «at least five» were killed.", "source": "Reuters"},
    {"id": "a3", "text": "An air strike struck a market in Douma.", "source": "AFP"},
]
EXPECTED = [(row["id"], row["text"]) for row in ROWS]


def items(corpus: Corpus) -> list[Document | BadDocument]:
    return list(corpus)


def pairs(corpus: Corpus) -> list[tuple[str, str]]:
    out = []
    for item in corpus:
        assert isinstance(item, Document), item
        out.append((item.id, item.text))
    return out


def bad(corpus: Corpus) -> list[BadDocument]:
    return [item for item in corpus if isinstance(item, BadDocument)]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    pa_csv.write_csv(pa.Table.from_pylist(rows), path)
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


# --- every source format ---------------------------------------------------------------------------------------------


def _folder(tmp: Path) -> Any:
    for row in ROWS:
        (tmp / "corpus" / f"{row['id']}.txt").parent.mkdir(exist_ok=True)
        (tmp / "corpus" / f"{row['id']}.txt").write_text(row["text"], encoding="utf-8")
    return tmp / "corpus"


def _json_object(tmp: Path) -> Any:
    path = tmp / "c.json"
    path.write_text(json.dumps({"version": 2, "documents": ROWS}), encoding="utf-8")
    return path


def _json_array(tmp: Path) -> Any:
    path = tmp / "c.json"
    path.write_text(json.dumps(ROWS, indent=2), encoding="utf-8")
    return path


def _saved_dataset(tmp: Path) -> Any:
    datasets.Dataset.from_list(ROWS).save_to_disk(tmp / "saved")
    return tmp / "saved"


def _saved_dataset_dict(tmp: Path) -> Any:
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS)}).save_to_disk(tmp / "saved")
    return tmp / "saved"


SOURCES = [
    pytest.param(_folder, 3, id="folder"),
    pytest.param(lambda tmp: write_jsonl(tmp / "c.jsonl", ROWS), 3, id="jsonl"),
    pytest.param(_json_array, 3, id="json-array"),
    pytest.param(_json_object, 3, id="json-object-with-documents"),
    pytest.param(lambda tmp: write_csv(tmp / "c.csv", ROWS), 3, id="csv"),
    pytest.param(lambda tmp: write_parquet(tmp / "c.parquet", ROWS), 3, id="parquet"),
    pytest.param(_saved_dataset, 3, id="save-to-disk-dataset"),
    pytest.param(_saved_dataset_dict, 3, id="save-to-disk-dataset-dict"),
    pytest.param(lambda tmp: datasets.Dataset.from_list(ROWS), 3, id="in-memory-dataset"),
    pytest.param(lambda tmp: datasets.Dataset.from_list(ROWS).to_iterable_dataset(), None, id="iterable-dataset"),
    pytest.param(lambda tmp: [dict(row) for row in ROWS], 3, id="list-of-dicts"),
    pytest.param(lambda tmp: (Document(id=r["id"], text=r["text"]) for r in ROWS), None, id="generator-of-documents"),
]


@pytest.mark.parametrize(("build", "length"), SOURCES)
def test_every_source_reads_the_same_documents(
    tmp_path: Path, build: Callable[[Path], Any], length: int | None
) -> None:
    corpus = open_corpus(build(tmp_path))
    assert corpus.length == length
    documents = items(corpus)
    assert [(d.id, d.text) for d in documents if isinstance(d, Document)] == EXPECTED
    assert all(isinstance(d, Document) and d.origin for d in documents)


@pytest.mark.parametrize(
    ("name", "origin_of_second"),
    [
        pytest.param("c.jsonl", "c.jsonl:2", id="jsonl-line"),
        pytest.param("c.csv", "c.csv:row 2", id="csv-row"),
        pytest.param("c.parquet", "c.parquet:row 2", id="parquet-row"),
    ],
)
def test_origin_names_file_and_line_or_row_and_meta_keeps_other_columns(
    tmp_path: Path, name: str, origin_of_second: str
) -> None:
    path = tmp_path / name
    {".jsonl": write_jsonl, ".csv": write_csv, ".parquet": write_parquet}[path.suffix](path, ROWS)
    second = items(open_corpus(path))[1]
    assert isinstance(second, Document)
    assert second.origin == str(tmp_path / origin_of_second)
    assert second.meta == {"source": "Reuters"}


@pytest.mark.parametrize(
    "suffix",
    [pytest.param(".txt", id="txt"), pytest.param(".md", id="md")],
)
def test_single_text_file_is_one_document_named_by_its_stem(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"report-17{suffix}"
    path.write_text(ROWS[0]["text"], encoding="utf-8")
    corpus = open_corpus(path)
    assert corpus.length == 1
    assert pairs(corpus) == [("report-17", ROWS[0]["text"])]


def test_folder_is_recursive_sorted_and_skips_other_files(tmp_path: Path) -> None:
    root = tmp_path / "news"
    files = {
        "b.txt": "second",
        "a.md": "first",
        "2019/03/raid.txt": "nested",
        "2019/notes.TXT": "upper-case suffix",
        "image.png": "not read",
        "data.csv": "not read",
        ".hidden.txt": "not read",
        ".git/HEAD.txt": "not read",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    corpus = open_corpus(root)
    assert corpus.length == 4
    assert pairs(corpus) == [
        ("2019/03/raid", "nested"),
        ("2019/notes", "upper-case suffix"),
        ("a", "first"),
        ("b", "second"),
    ]


def test_folder_text_keeps_its_bytes_but_drops_a_utf8_bom(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_bytes(b"\xef\xbb\xbfLine one\r\nLine two\n")
    assert pairs(open_corpus(tmp_path / "d")) == [("x", "Line one\r\nLine two\n")]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(b"GIF89a\x01\x00\x00\x00", "binary file, not text (NUL byte at offset 7)", id="binary"),
        pytest.param(b"Caf\xe9 in Aleppo", "not UTF-8 text (invalid byte 0xe9 at offset 3)", id="latin-1"),
        pytest.param(b"twelve bytes\xff", "not UTF-8 text (invalid byte 0xff at offset 12)", id="stray-0xff"),
    ],
)
def test_unreadable_file_in_folder_is_a_bad_document_and_the_rest_goes_on(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    root = tmp_path / "news"
    root.mkdir()
    (root / "a.txt").write_text("before", encoding="utf-8")
    (root / "b.txt").write_bytes(content)
    (root / "c.txt").write_text("after", encoding="utf-8")
    got = items(open_corpus(root))
    assert [type(item).__name__ for item in got] == ["Document", "BadDocument", "Document"]
    assert got[1] == BadDocument(id="b", origin=str(root / "b.txt"), reason=reason)


# --- field names and ids ---------------------------------------------------------------------------------------------

CUSTOM = [{"doc_id": r["id"], "body": r["text"], "source": r["source"]} for r in ROWS]


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda tmp: write_jsonl(tmp / "c.jsonl", CUSTOM), id="jsonl"),
        pytest.param(lambda tmp: write_csv(tmp / "c.csv", CUSTOM), id="csv"),
        pytest.param(lambda tmp: write_parquet(tmp / "c.parquet", CUSTOM), id="parquet"),
        pytest.param(lambda tmp: datasets.Dataset.from_list(CUSTOM), id="dataset"),
        pytest.param(lambda tmp: CUSTOM, id="list-of-dicts"),
    ],
)
def test_custom_id_and_text_fields(tmp_path: Path, build: Callable[[Path], Any]) -> None:
    corpus = open_corpus(build(tmp_path), id_field="doc_id", text_field="body")
    assert pairs(corpus) == EXPECTED


def test_missing_or_empty_ids_fall_back_to_stem_and_row(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "wire.jsonl",
        [{"text": "no id"}, {"id": "", "text": "empty id"}, {"id": "  ", "text": "blank id"}, {"id": 7, "text": "int"}],
    )
    assert [d.id for d in open_corpus(path)] == ["wire:1", "wire:2", "wire:3", "7"]


def test_csv_without_id_column_uses_row_numbers_and_keeps_leading_zeros(tmp_path: Path) -> None:
    no_id = write_csv(tmp_path / "wire.csv", [{"text": "one"}, {"text": "two"}])
    assert [d.id for d in open_corpus(no_id)] == ["wire:1", "wire:2"]
    zeros = write_csv(tmp_path / "z.csv", [{"id": "007", "text": "one"}])
    assert [d.id for d in open_corpus(zeros)] == ["007"]


def test_duplicate_id_is_a_bad_document_for_the_second_occurrence(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "data.jsonl", [{"id": "x", "text": "first"}, {"id": "x", "text": "second"}])
    first, second = items(open_corpus(path))
    assert isinstance(first, Document) and first.text == "first"
    assert second == BadDocument(
        f"x@{path}:2",
        f"{path}:2",
        f"duplicate id 'x': first seen at {path}:1; not extracted (give every document its own id)",
        kind="duplicate_id",
    )


def test_duplicate_ids_are_caught_for_in_memory_documents_too() -> None:
    got = items(open_corpus([Document(id="d", text="one"), Document(id="d", text="two")]))
    assert isinstance(got[1], BadDocument) and got[1].reason.startswith("duplicate id 'd'")


def _ids_and_reasons(corpus: Corpus) -> list[tuple[str, str]]:
    return [(i.id, i.kind if isinstance(i, BadDocument) else "document") for i in corpus]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [{"id": "x", "text": "one"}, {"id": "x", "text": "two"}, {"id": "x@{path}:2", "text": "three"}],
            [("x", "document"), ("x@{path}:2#2", "duplicate_id"), ("x@{path}:2", "document")],
            id="a-real-id-equal-to-a-duplicates-id",
        ),
        pytest.param(
            ["{not json", {"id": "coll:1", "text": "real"}],
            [("coll:1#2", "bad_input"), ("coll:1", "document")],
            id="a-real-id-equal-to-a-bad-lines-fallback",
        ),
        pytest.param(
            [{"id": "coll:2", "text": "real"}, {"text": "no id"}],
            [("coll:2", "document"), ("coll:2#2", "document")],
            id="a-positional-id-equal-to-an-earlier-real-id",
        ),
        pytest.param(
            [{"text": "no id"}, {"id": "coll:1#2", "text": "real"}, {"id": "coll:1", "text": "real"}],
            [("coll:1#3", "document"), ("coll:1#2", "document"), ("coll:1", "document")],
            id="the-suffixed-id-is-taken-too",
        ),
    ],
)
def test_generated_ids_never_take_an_id_the_source_gives(
    tmp_path: Path, rows: list[Any], expected: list[tuple[str, str]]
) -> None:
    path = tmp_path / "coll.jsonl"
    lines = [row if isinstance(row, str) else json.dumps(row).replace("{path}", str(path)) for row in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    got = _ids_and_reasons(open_corpus(path))
    assert got == [(i.replace("{path}", str(path)), kind) for i, kind in expected]
    assert _ids_and_reasons(open_corpus(path)) == got, "the same ids on every read, so that a resume finds them"


def test_every_document_gets_a_record_when_a_real_id_equals_a_generated_one(tmp_path: Path) -> None:
    from extract.api import run_corpus

    path = tmp_path / "c.jsonl"
    rows = [{"id": "x", "text": "one"}, {"id": "x", "text": "two"}, {"id": f"x@{path}:2", "text": "three"}]
    write_jsonl(path, rows)
    out = tmp_path / "o.jsonl"
    summary = run_corpus(path, out=out, backend="mock", model="echo")
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert (summary.documents, summary.ok, summary.duplicates, summary.skipped) == (3, 2, 1, 0)
    assert {r["id"] for r in records if r["status"] == "ok"} == {"x", f"x@{path}:2"}


def test_a_one_shot_generator_never_loses_a_document_to_an_id_made_up_before_it() -> None:
    # A generator cannot be read twice to find the ids to come: the later real id is then a duplicate, with a record.
    rows = iter([{"text": "no id"}, {"id": "items:1", "text": "real"}])
    got = _ids_and_reasons(open_corpus(rows))
    assert got == [("items:1", "document"), ("items:1@<items>:row 2", "duplicate_id")]


def test_empty_and_whitespace_text_pass_through_as_documents(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"id": "e", "text": ""}, {"id": "w", "text": " \n\t"}])
    assert pairs(open_corpus(path)) == [("e", ""), ("w", " \n\t")]


def test_csv_empty_cell_is_empty_text_not_a_missing_value(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,text\n1,""\n2,\n3,NA\n', encoding="utf-8")
    assert pairs(open_corpus(path)) == [("1", ""), ("2", ""), ("3", "NA")]


def test_meta_keeps_short_scalars_only(tmp_path: Path) -> None:
    row = {"id": "m", "text": "t", "n": 3, "ok": True, "score": 0.5, "tags": ["a"], "long": "x" * 500, "none": None}
    (document,) = items(open_corpus(write_jsonl(tmp_path / "c.jsonl", [row])))
    assert isinstance(document, Document)
    assert document.meta == {"n": 3, "ok": True, "score": 0.5}


# --- bad records inside a file ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "doc_id", "reason"),
    [
        pytest.param('{"id": "b", "text": ', "data:2", "not JSON (Expecting value at column 21)", id="not-json"),
        pytest.param('["a", "list"]', "data:2", "not a JSON object (got a list)", id="not-an-object"),
        pytest.param('{"id": "b", "body": "x"}', "b", "no field 'text' (fields: id, body)", id="no-text-field"),
        pytest.param('{"id": "b", "text": null}', "b", "field 'text' is null", id="null-text"),
        pytest.param('{"id": "b", "text": 42}', "b", "field 'text' must be text, got a number", id="number-text"),
        pytest.param(
            '{"id": {"k": 1}, "text": "x"}', "data:2", "id must be text or a number, got an object", id="bad-id"
        ),
        pytest.param(
            '{"id": "b", "text": "x\\ud800y"}',
            "b",
            "holds a lone surrogate at character 1, which cannot be written as UTF-8",
            id="lone-surrogate",
        ),
    ],
)
def test_bad_jsonl_line_is_a_bad_document_and_the_next_lines_go_on(
    tmp_path: Path, line: str, doc_id: str, reason: str
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"id": "a", "text": "one"}\n' + line + '\n\n   \n{"id": "c", "text": "three"}\n', encoding="utf-8")
    corpus = open_corpus(path)
    assert corpus.length == 3  # blank lines are not documents
    first, middle, last = items(corpus)
    assert isinstance(first, Document) and isinstance(last, Document)
    assert last.origin == f"{path}:5"
    assert middle == BadDocument(doc_id, f"{path}:2", reason)


def test_non_utf8_jsonl_line_is_a_bad_document(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"id": "a", "text": "one"}\n{"id": "b", "text": "caf\xe9"}\n{"id": "c", "text": "three"}\n')
    got = items(open_corpus(path))
    assert [type(g).__name__ for g in got] == ["Document", "BadDocument", "Document"]
    assert got[1] == BadDocument("data:2", f"{path}:2", "not UTF-8 text (invalid byte 0xe9 at column 25)")


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        pytest.param([{"id": "a", "text": "ok"}, 5], "not a JSON object (got a number)", id="json-number"),
        pytest.param([{"id": "a", "text": "ok"}, {"id": "b"}], "no field 'text' (fields: id)", id="json-no-text"),
    ],
)
def test_bad_json_array_element_is_a_bad_document(tmp_path: Path, records: list[Any], reason: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    first, second = items(open_corpus(path))
    assert isinstance(first, Document)
    assert isinstance(second, BadDocument) and second.reason == reason and second.origin == f"{path}:row 2"


def test_null_text_in_parquet_is_a_bad_document(tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "c.parquet", [{"id": "a", "text": None}, {"id": "b", "text": "ok"}])
    got = items(open_corpus(path))
    assert got[0] == BadDocument("a", f"{path}:row 1", "field 'text' is null")
    assert isinstance(got[1], Document)


# --- whole-source errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda tmp: write_csv(tmp / "data.csv", [{"id": "1", "body": "x"}]),
            "data.csv: no column 'text' (columns: id, body); choose one with --text-field",
            id="csv",
        ),
        pytest.param(
            lambda tmp: write_parquet(tmp / "data.parquet", [{"id": "1", "body": "x"}]),
            "data.parquet: no column 'text' (columns: id, body); choose one with --text-field",
            id="parquet",
        ),
        pytest.param(
            lambda tmp: write_jsonl(tmp / "data.jsonl", [{"id": "1", "body": "x"}, {"id": "2", "body": "y"}]),
            "data.jsonl: no field 'text' (fields: id, body); choose one with --text-field",
            id="jsonl-no-record-has-it",
        ),
        pytest.param(
            lambda tmp: _saved(tmp, [{"id": "1", "body": "x"}]),
            "saved: no column 'text' (columns: id, body); choose one with --text-field",
            id="saved-dataset",
        ),
        pytest.param(
            lambda tmp: write_parquet(tmp / "data.parquet", [{"id": "1", "text": 5}]),
            "data.parquet: column 'text' holds int64, not text; choose another with --text-field",
            id="parquet-text-not-a-string",
        ),
        *(
            pytest.param(
                build,
                f"{name}: no {what} 'nosuch' ({what}s: id, text, source); choose one with --id-field",
                id=f"{kind}-id-field",
            )
            for kind, build, name, what in (
                ("jsonl", lambda tmp: write_jsonl(tmp / "data.jsonl", ROWS), "data.jsonl", "field"),
                ("json", lambda tmp: _json_file(tmp, ROWS), "c.json", "field"),
                ("csv", lambda tmp: write_csv(tmp / "data.csv", ROWS), "data.csv", "column"),
                ("parquet", lambda tmp: write_parquet(tmp / "data.parquet", ROWS), "data.parquet", "column"),
                ("saved-dataset", lambda tmp: _saved(tmp, ROWS), "saved", "column"),
            )
        ),
    ],
)
def test_missing_text_or_named_id_column_is_an_input_error_naming_file_and_columns(
    tmp_path: Path, build: Callable[[Path], Path], message: str
) -> None:
    # A named id field no record has used to fall back to positional ids: a typo gave every document a made-up id.
    path = build(tmp_path)
    with pytest.raises(InputError) as caught:
        open_corpus(path, id_field="nosuch" if "--id-field" in message else "id")
    assert str(caught.value) == str(path.parent / message)


def test_the_default_id_field_may_be_missing_positional_ids_then(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "wire.jsonl", [{"text": "one"}, {"text": "two"}])
    assert [d.id for d in open_corpus(path)] == ["wire:1", "wire:2"]


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda tmp: write_jsonl(tmp / "data.jsonl", ROWS), id="jsonl"),
        pytest.param(lambda tmp: write_csv(tmp / "data.csv", ROWS), id="csv"),
        pytest.param(lambda tmp: write_parquet(tmp / "data.parquet", ROWS), id="parquet"),
        pytest.param(lambda tmp: _saved(tmp, ROWS), id="saved-dataset-without-splits"),
        pytest.param(_folder, id="text-folder"),
        pytest.param(lambda tmp: ROWS, id="list-of-dicts"),
    ],
)
def test_a_split_given_for_a_source_without_splits_is_an_input_error(
    tmp_path: Path, build: Callable[[Path], Any]
) -> None:
    source = build(tmp_path)
    with pytest.raises(InputError, match=r"no split 'nosuch': .* has no splits; --split is for a saved DatasetDict"):
        open_corpus(source, split="nosuch")
    assert len(items(open_corpus(source, split="train"))) == 3  # the default is no choice, so it is never refused


def _saved(tmp: Path, rows: list[dict[str, Any]]) -> Path:
    datasets.Dataset.from_list(rows).save_to_disk(tmp / "saved")
    return tmp / "saved"


def test_dataset_dict_without_the_split_names_the_splits(tmp_path: Path) -> None:
    dd = datasets.DatasetDict({"test": datasets.Dataset.from_list(ROWS), "dev": datasets.Dataset.from_list(ROWS)})
    dd.save_to_disk(tmp_path / "saved")
    with pytest.raises(InputError, match=r"no split 'train' \(splits: test, dev\); choose one with --split"):
        open_corpus(tmp_path / "saved")
    assert [d.id for d in open_corpus(tmp_path / "saved", split="dev")] == ["a1", "a2", "a3"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param("notes.pdf", b"%PDF", "notes.pdf: unknown corpus format '.pdf'", id="unknown-format"),
        pytest.param("missing.jsonl", None, "missing.jsonl: no such file or directory; check the path", id="missing"),
        pytest.param(
            "trunc.json", b'[{"id": "a", "text": "x"}, {"id": "b", "te', "trunc.json: invalid JSON", id="truncated-json"
        ),
        pytest.param("dict.json", b'{"a": 1, "b": [1]}', "expected an array of records", id="json-without-list"),
        pytest.param("empty.json", b"", "empty.json: the file is empty", id="empty-json"),
        pytest.param(
            "bad.csv", b"id,t\xffxt\n1,a\n", "bad.csv: not UTF-8 text (invalid byte 0xff)", id="csv-header-not-utf8"
        ),
        pytest.param("fake.parquet", b"not parquet", "fake.parquet: not a Parquet file", id="not-parquet"),
        pytest.param("empty.csv", b"", "empty.csv: the file is empty", id="empty-csv"),
    ],
)
def test_whole_source_problems_raise_input_error(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        open_corpus(path)
    text = str(caught.value)
    assert message in text and "\n" not in text


def test_csv_that_breaks_later_raises_input_error_when_reached(tmp_path: Path) -> None:
    # A CSV reader cannot resynchronise after a bad byte, so this is about the file, not one document.
    path = tmp_path / "late.csv"
    # The bad byte comes after the first read buffer, so the header check at open time passes.
    path.write_bytes(b"id,text\n" + b"".join(b"%d,fine\n" % i for i in range(20_000)) + b"x,caf\xe9\n")
    corpus = open_corpus(path)
    with pytest.raises(InputError, match=r"late\.csv: cannot read past line \d+ \(not UTF-8 text\); fix the file"):
        items(corpus)


def test_csv_row_with_a_stray_comma_is_a_bad_document_not_a_shifted_row(tmp_path: Path) -> None:
    path = tmp_path / "wire.csv"
    path.write_text("id,text\n1,Shelling in Homs\n2,Raid in Idlib, Syria\n3,Strike in Deir ez-Zor\n", encoding="utf-8")
    got = items(open_corpus(path))
    assert [(g.id, g.text) for g in got if isinstance(g, Document)] == [
        ("1", "Shelling in Homs"),
        ("3", "Strike in Deir ez-Zor"),
    ]
    assert got[1] == BadDocument(
        "wire:2", f"{path}:row 2", "row has 3 fields but the header has 2; quote fields holding commas"
    )


def test_folder_without_text_files_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("a", encoding="utf-8")
    with pytest.raises(InputError, match=r"no \.txt or \.md files in this folder \(1 other files\)"):
        open_corpus(tmp_path)


def test_single_object_json_with_text_is_one_document(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"id": "solo", "text": "alone", "data": "not a list"}), encoding="utf-8")
    assert pairs(open_corpus(path)) == [("solo", "alone")]


@pytest.mark.parametrize(
    "source",
    [
        pytest.param("text", id="plain-string-is-a-path"),
        pytest.param(42, id="number"),
        pytest.param({"a": 1}, id="dict"),
    ],
)
def test_unusable_python_sources_raise_input_error(source: Any) -> None:
    with pytest.raises(InputError):
        open_corpus(source)


def test_negative_limit_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        open_corpus([], limit=-1)


# --- size, limits and streaming --------------------------------------------------------------------------------------

BIG = ("Rebels said they shot down a Syrian MiG near Hama — «confirmed». " * 16_000)[:1_000_000]


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda tmp: _text_folder(tmp, BIG), id="txt"),
        pytest.param(lambda tmp: write_jsonl(tmp / "c.jsonl", [{"id": "big", "text": BIG}]), id="jsonl"),
        pytest.param(lambda tmp: _json_file(tmp, [{"id": "big", "text": BIG}]), id="json"),
        pytest.param(lambda tmp: write_csv(tmp / "c.csv", [{"id": "big", "text": BIG}]), id="csv"),
        pytest.param(lambda tmp: write_parquet(tmp / "c.parquet", [{"id": "big", "text": BIG}]), id="parquet"),
    ],
)
def test_one_megabyte_document_is_read_intact(tmp_path: Path, build: Callable[[Path], Path]) -> None:
    (document,) = items(open_corpus(build(tmp_path)))
    assert isinstance(document, Document)
    assert len(document.text) == 1_000_000 and document.text == BIG


def _text_folder(tmp: Path, text: str) -> Path:
    (tmp / "d").mkdir()
    (tmp / "d" / "big.txt").write_text(text, encoding="utf-8")
    return tmp / "d"


def _json_file(tmp: Path, records: Any) -> Path:
    path = tmp / "c.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    return path


def test_limit_stops_reading_and_caps_length(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", [{"id": str(i), "text": "t"} for i in range(10)])
    corpus = open_corpus(path, limit=4)
    assert corpus.length == 4
    assert [d.id for d in corpus] == ["0", "1", "2", "3"]
    assert open_corpus(path, limit=0).length == 0 and items(open_corpus(path, limit=0)) == []


def test_reading_the_first_document_pulls_one_record_from_a_generator() -> None:
    pulled = 0

    def rows() -> Iterator[dict[str, str]]:
        nonlocal pulled
        for i in range(1_000_000):
            pulled += 1
            yield {"id": str(i), "text": "t"}

    first = next(iter(open_corpus(rows())))
    assert isinstance(first, Document) and first.id == "0"
    assert pulled == 1


def test_a_stopped_iteration_closes_the_source_generator() -> None:
    closed = False

    def rows() -> Iterator[dict[str, str]]:
        nonlocal closed
        try:
            for i in range(100):
                yield {"id": str(i), "text": "t"}
        finally:
            closed = True

    assert len(items(open_corpus(rows(), limit=3))) == 3
    assert closed


def _peak_bytes(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "writer",
    [
        pytest.param(lambda path, rows: write_jsonl(path.with_suffix(".jsonl"), rows), id="jsonl"),
        pytest.param(lambda path, rows: _json_file(path.parent, rows), id="json"),
    ],
)
def test_memory_stays_flat_while_reading_a_16_megabyte_file(
    tmp_path: Path, writer: Callable[[Path, list[Any]], Path]
) -> None:
    rows = [{"id": f"d{i}", "text": f"{i} " + "word " * 1000} for i in range(3200)]
    path = writer(tmp_path / "c", rows)
    del rows
    assert path.stat().st_size > 16_000_000

    def first_document() -> None:
        next(iter(open_corpus(path)))

    def every_document() -> None:
        for _ in open_corpus(path):
            pass

    # The file is 16 MB; a reader that held it, or even a tenth of it, would show here.
    assert _peak_bytes(first_document) < 1_000_000
    assert _peak_bytes(every_document) < 1_500_000


@pytest.mark.parametrize("bars", [pytest.param(True, id="bars-on"), pytest.param(False, id="bars-off")])
def test_reading_a_dataset_leaves_the_process_as_it_was(bars: bool, tmp_path: Path) -> None:
    saved = _saved(tmp_path, ROWS)
    if bars:
        datasets.enable_progress_bars()
    else:
        datasets.disable_progress_bars()
    verbosity = datasets.logging.get_verbosity()
    environment = dict(os.environ)
    try:
        assert len(list(open_corpus(saved))) == len(ROWS)
        assert datasets.is_progress_bar_enabled() is bars
        assert datasets.logging.get_verbosity() == verbosity
        assert dict(os.environ) == environment
    finally:
        datasets.enable_progress_bars()


# --- the streaming JSON reader against the standard parser -----------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
# Records as corpora hold them (an id, a text, other columns), mixed with values of every JSON type.
json_records = (
    st.fixed_dictionaries(
        {"text": st.text() | json_values},
        optional={
            "id": st.text(max_size=8) | st.integers() | st.floats(allow_nan=False, allow_infinity=False),
            "source": json_values,
        },
    )
    | json_values
)


def _outcome(source: Path) -> list[tuple[Any, ...]] | str:
    """What reading a corpus gives, with the file name and line/row wording taken out, to compare formats."""

    def plain(message: str) -> str:
        return message.replace(str(source), "<file>").replace("<file>:row ", "<file>:")

    try:
        result: list[tuple[Any, ...]] = []
        for item in open_corpus(source):
            if isinstance(item, Document):
                result.append(("doc", item.id, item.text, item.meta))
            else:
                result.append(("bad", plain(item.id), plain(item.reason)))
        return result
    except InputError as exc:
        return plain(str(exc))


@settings(max_examples=80, deadline=None)
@given(records=st.lists(json_records, max_size=6), wrapped=st.booleans(), indent=st.sampled_from([None, 1]))
def test_json_file_reads_what_the_standard_parser_reads_from_the_same_records_as_jsonl(
    tmp_path_factory: pytest.TempPathFactory, records: list[Any], wrapped: bool, indent: int | None
) -> None:
    # Replaces a test of the hand-written parser's chunk boundaries: ijson owns its
    # buffering now, so the reader is checked from outside, record for record,
    # against JSON Lines (parsed by the json module) holding the same records.
    tmp = tmp_path_factory.mktemp("json")
    document = {"meta": {"n": [1, 2]}, "records": records} if wrapped else records
    (tmp / "c.json").write_text(json.dumps(document, indent=indent, ensure_ascii=False), encoding="utf-8")
    write_jsonl(tmp / "c.jsonl", records)
    assert _outcome(tmp / "c.json") == _outcome(tmp / "c.jsonl")


@settings(max_examples=40, deadline=None)
@given(records=st.lists(json_records, min_size=1, max_size=4), wrapped=st.booleans(), data=st.data())
def test_json_file_cut_off_part_way_is_a_one_line_input_error_naming_the_file(
    tmp_path_factory: pytest.TempPathFactory, records: list[Any], wrapped: bool, data: st.DataObject
) -> None:
    document = {"records": records} if wrapped else records
    text = json.dumps(document, ensure_ascii=False)
    cut = text[: data.draw(st.integers(0, len(text) - 1), label="cut")]
    path = tmp_path_factory.mktemp("cut") / "cut.json"
    path.write_text(cut, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        open_corpus(path)
    message = str(caught.value)
    assert "\n" not in message
    expected = "the file is empty" if not cut.strip() else "invalid JSON"
    assert message.startswith(f"{path}: ") and expected in message


def test_json_syntax_error_says_how_many_records_came_before_it(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('[{"id": "a", "text": "x"}, {"id": "b", "text": "y"} {"id": "c"}]', encoding="utf-8")
    with pytest.raises(InputError, match=r"^.*c\.json: invalid JSON after record 2 \(parse error: .*\); fix the file$"):
        open_corpus(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b'[{"id": "a", "text": "caf\xe9"}]', "not UTF-8 text (invalid byte 0xe9)", id="latin-1"),
        pytest.param(b'[{"id": "a", "text": "x"}] [1]', "invalid JSON after record 1", id="two-values"),
        pytest.param(b"42", "expected a JSON array of records or an object holding one", id="number"),
        pytest.param(b"  \n ", "the file is empty", id="only-whitespace"),
        pytest.param(
            b'[{"id": "a", "text": "x", "score": NaN}]',
            "write null instead of NaN/Infinity, or convert it to JSON Lines",
            id="nan-is-not-json",
        ),
    ],
)
def test_json_file_problems_are_one_line_input_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "c.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        open_corpus(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_json_character_split_across_read_chunks_and_a_bom_are_read_intact(tmp_path: Path) -> None:
    # "—" is three bytes in UTF-8; place it across the 64 KiB boundary of the reads.
    head = '\ufeff[{"id": "a", "text": "'
    pad = "x" * (65_535 - len(head.encode("utf-8")))
    text = pad + "— end"
    path = tmp_path / "c.json"
    path.write_bytes((head + text + '"}]').encode("utf-8"))
    assert pairs(open_corpus(path)) == [("a", text)]


# --- the format registry ---------------------------------------------------------------------------------------------


def test_a_format_added_to_the_registry_is_read_and_listed_among_the_known_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from extract.io import corpus as corpus_module
    from extract.io.rows import Fields, Source, row_item

    def open_tsv(path: Path, display: str, fields: Fields, split: str) -> Source:
        lines = path.read_text(encoding="utf-8").splitlines()
        header = lines[0].split("\t")

        def read() -> Iterator[Document | BadDocument]:
            for n, line in enumerate(lines[1:], 1):
                yield row_item(dict(zip(header, line.split("\t"), strict=True)), fields, f"{display}:{n}", f"t:{n}")

        return Source("tsv", read, count=len(lines) - 1)

    monkeypatch.setitem(corpus_module.SUFFIX_OPENERS, ".tsv", open_tsv)
    path = tmp_path / "c.tsv"
    path.write_text("id\ttext\nx1\tShelling hit Hama.\n", encoding="utf-8")
    corpus = open_corpus(path)
    assert (corpus.kind, corpus.length, pairs(corpus)) == ("tsv", 1, [("x1", "Shelling hit Hama.")])
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    with pytest.raises(InputError, match=r"use a folder of \.txt/\.md files, \.txt, .*\.parquet, \.tsv or a save_to"):
        open_corpus(tmp_path / "notes.pdf")
