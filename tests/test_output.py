"""The run file: append-only whole lines, resume after a kill, later records win, Parquet export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from extract.core.errors import ConfigError, InputError
from extract.core.records import (
    Alignment,
    DocumentResult,
    EvidenceSpan,
    Failure,
    Provenance,
    Status,
    Usage,
)
from extract.core.schema import SCHEMA_VERSION, Incident
from extract.io import RunWriter, completed_ids, export_parquet, read_run, repair_run, results_by_id

PROVENANCE = Provenance(
    prompt="incidents",
    prompt_hash="0123abcd",
    schema_version=SCHEMA_VERSION,
    backend="mock",
    model="mock-1",
    extractor_version="0.1.0",
)
QUOTE = "Syrian rebels shot down a Russian Su-25 near Saraqeb on Saturday."


def ok(doc_id: str, *, summary: str = "Rebels shot down a Su-25 near Saraqeb.") -> DocumentResult:
    incident = Incident.model_validate(
        {
            "type": "aircraft_downing",
            "quote": QUOTE,
            "summary": summary,
            "location": {"near": "Saraqeb", "quote": "near Saraqeb"},
        }
    )
    return DocumentResult(
        id=doc_id,
        status=Status.OK,
        incidents=[incident],
        evidence=[
            EvidenceSpan(
                path="incidents[0]", quote=QUOTE, alignment=Alignment.EXACT, start=0, end=len(QUOTE), score=1.0
            ),
            EvidenceSpan(
                path="incidents[0].location",
                quote="near Saraqeb",
                alignment=Alignment.FUZZY,
                start=40,
                end=52,
                score=0.93,
            ),
        ],
        usage=Usage(requests=1, prompt_tokens=812, completion_tokens=143),
        attempts=1,
        provenance=PROVENANCE,
    )


def failed(doc_id: str, *, reason: str = "empty", message: str = "the document has no text") -> DocumentResult:
    return DocumentResult(
        id=doc_id, status=Status.FAILED, failure=Failure(reason=reason, message=message), provenance=PROVENANCE
    )


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


# --- writing ---------------------------------------------------------------------------------------------------------


def test_each_record_is_one_complete_line_even_with_newlines_inside(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with RunWriter(path) as writer:
        writer.write(ok("a"))
        writer.write(failed("b", message="line one\nline two\r\n\u2028end"))
    raw = lines(path)
    assert len(raw) == 2 and all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in raw)
    assert DocumentResult.model_validate_json(raw[1]).failure.message == "line one\nline two\r\n\u2028end"  # type: ignore[union-attr]
    assert writer.written == 2


def test_reopening_appends_and_never_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "out" / "run.jsonl"  # the folder is created
    with RunWriter(path) as writer:
        writer.write(ok("a"))
        writer.write(ok("b"))
    before = path.read_bytes()
    with RunWriter(path) as writer:
        assert writer.repaired == 0
        writer.write(failed("c"))
    after = path.read_bytes()
    assert after.startswith(before) and len(lines(path)) == 3
    assert [r.id for r in read_run(path)] == ["a", "b", "c"]


def test_fsync_is_called_per_record_when_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    with RunWriter(tmp_path / "run.jsonl", fsync=True) as writer:
        writer.write(ok("a"))
        writer.write(ok("b"))
    assert len(synced) == 2
    with RunWriter(tmp_path / "other.jsonl") as writer:
        writer.write(ok("a"))
    assert len(synced) == 2


def test_writing_after_close_is_an_error(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path / "run.jsonl")
    writer.close()
    with pytest.raises(ValueError, match="closed"):
        writer.write(ok("a"))


def test_unwritable_path_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "run.jsonl").mkdir()
    with pytest.raises(ConfigError, match="cannot open the run file"):
        RunWriter(tmp_path / "run.jsonl")


def test_threads_sharing_a_writer_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    big = "x" * 300_000  # large records, so that interleaved or torn writes would show

    with RunWriter(path) as writer:

        def work(t: int) -> None:
            for i in range(25):
                writer.write(failed(f"{t}-{i}", message=big if i % 5 == 0 else "short"))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ids = [r.id for r in read_run(path)]
    assert len(ids) == 150 and len(set(ids)) == 150


_KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from extract.core.records import DocumentResult, Failure, Provenance, Status
    from extract.io import RunWriter

    provenance = Provenance(
        prompt="p", prompt_hash="h", schema_version="1", backend="b", model="m", extractor_version="0"
    )
    with RunWriter(sys.argv[1]) as writer:
        i = 0
        while True:
            message = "m" * (1000 + 997 * (i % 300))
            failure = Failure(reason="backend", message=message)
            writer.write(DocumentResult(id=f"d{i}", status=Status.FAILED, failure=failure, provenance=provenance))
            i += 1
    """
)


def test_a_run_killed_with_sigkill_leaves_only_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    child = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path)])
    try:
        deadline = time.monotonic() + 30
        while (not path.exists() or path.stat().st_size < 2_000_000) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    done = completed_ids(path)
    assert len(done) > 10
    with RunWriter(path) as writer:  # resuming: any cut-off tail is gone before the first append
        writer.write(ok("after-resume"))
    records = [json.loads(line) for line in lines(path)]
    assert {r["id"] for r in records} == done | {"after-resume"}


# --- resuming --------------------------------------------------------------------------------------------------------


def test_completed_ids_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert completed_ids(tmp_path / "none.jsonl") == set()


def test_completed_ids_with_and_without_failures(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with RunWriter(path) as writer:
        for result in (ok("a"), failed("b"), failed("c"), ok("c"), ok("d"), failed("d")):
            writer.write(result)
    assert completed_ids(path) == {"a", "b", "c", "d"}
    # the latest record decides: c was retried and succeeded, d succeeded and then failed
    assert completed_ids(path, include_failed=False) == {"a", "c"}


@pytest.mark.parametrize(
    ("tail", "kept"),
    [
        pytest.param(b'{"id": "c", "status": "ok", "incid', 2, id="unterminated-half-record"),
        pytest.param(b"   ", 2, id="unterminated-whitespace"),
    ],
)
def test_cut_off_last_line_is_ignored_then_truncated_before_appending(tmp_path: Path, tail: bytes, kept: int) -> None:
    path = tmp_path / "run.jsonl"
    with RunWriter(path) as writer:
        writer.write(ok("a"))
        writer.write(ok("b"))
    clean = path.read_bytes()
    with open(path, "ab") as fh:
        fh.write(tail)
    assert completed_ids(path) == {"a", "b"}
    assert [r.id for r in read_run(path)] == ["a", "b"]
    with RunWriter(path) as writer:
        assert writer.repaired == len(tail)
        writer.write(ok("c"))
    assert path.read_bytes().startswith(clean)
    assert [r.id for r in read_run(path)] == ["a", "b", "c"]


def test_a_complete_last_line_that_is_not_a_record_is_an_error_not_repaired(tmp_path: Path) -> None:
    # Only a kill mid-write leaves a bad last line, and such a line has no newline: a terminated one is damage.
    path = tmp_path / "run.jsonl"
    with RunWriter(path) as writer:
        writer.write(ok("a"))
    with open(path, "ab") as fh:
        fh.write(b'{"id": "c", "sta\n')
    before = path.read_bytes()
    with pytest.raises(InputError, match=r"run\.jsonl:2: not a result record"):
        completed_ids(path)
    with pytest.raises(InputError, match=r"run\.jsonl:2: not a result record"):
        RunWriter(path)
    assert path.read_bytes() == before


def test_complete_last_record_missing_its_newline_is_kept_and_terminated(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes((ok("a").to_json() + "\n" + ok("b").to_json()).encode())
    assert completed_ids(path) == {"a", "b"}
    assert repair_run(path) == 0
    with RunWriter(path) as writer:
        writer.write(ok("c"))
    assert [r.id for r in read_run(path)] == ["a", "b", "c"]


def test_a_file_that_is_only_a_cut_off_line_repairs_to_empty(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(b'{"id": "a", "st')
    assert completed_ids(path) == set()
    assert repair_run(path) == 15 and path.read_bytes() == b""


def test_bad_line_in_the_middle_is_an_input_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes((ok("a").to_json() + "\nnot json\n" + ok("b").to_json() + "\n").encode())
    with pytest.raises(InputError, match=rf"^{path}:2: not a result record"):
        completed_ids(path)
    with pytest.raises(InputError, match=rf"^{path}:2: "):
        list(read_run(path))
    # repairing only ever looks at the last line
    assert repair_run(path) == 0


@pytest.mark.parametrize(
    ("line", "why"),
    [
        pytest.param({"id": "a", "status": "maybe"}, r"status: ", id="unknown-status"),
        pytest.param({"id": "a"}, r"status: Field required", id="only-an-id"),
        pytest.param({"id": "a", "status": "ok"}, r"provenance: Field required", id="no-provenance"),
    ],
)
def test_resume_and_scoring_refuse_the_same_line_that_is_not_a_record(
    tmp_path: Path, line: dict[str, str], why: str
) -> None:
    # One rule for every reader: a line that would make resume skip a document must be a record scoring accepts.
    path = tmp_path / "run.jsonl"
    with RunWriter(path) as writer:
        writer.write(ok("b"))
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
    expected = rf"^{path}:2: not a valid result record \({why}"
    for reader in (completed_ids, lambda p: list(read_run(p)), results_by_id, repair_run):
        with pytest.raises(InputError, match=expected):
            reader(path)


def test_an_unterminated_last_line_that_is_json_but_not_a_record_is_not_cut_off(tmp_path: Path) -> None:
    # A kill mid-write leaves a line that is not JSON; a JSON object without its newline was written whole.
    path = tmp_path / "run.jsonl"
    with RunWriter(path) as writer:
        writer.write(ok("a"))
    with path.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "b"}')
    before = path.read_bytes()
    for reader in (completed_ids, RunWriter):
        with pytest.raises(InputError, match=rf"^{path}:2: not a valid result record"):
            reader(path)
    assert path.read_bytes() == before


def test_results_by_id_keeps_the_later_record(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    with RunWriter(path) as writer:
        for result in (failed("a"), ok("b"), ok("a", summary="Second attempt found the downing.")):
            writer.write(result)
    latest = results_by_id(path)
    assert list(latest) == ["a", "b"]
    assert latest["a"].status is Status.OK and latest["a"].incidents[0].summary == "Second attempt found the downing."


def test_read_run_of_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such run file"):
        list(read_run(tmp_path / "none.jsonl"))


# --- Parquet export --------------------------------------------------------------------------------------------------


def test_parquet_export_round_trip_one_row_per_document(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    written = [failed("a", reason="backend", message="timed out"), ok("b"), failed("c"), ok("a"), ok("d")]
    with RunWriter(path) as writer:
        for result in written:
            writer.write(result)
    target = tmp_path / "run.parquet"
    assert export_parquet(path, target, batch_size=2) == 4  # small batches: several writes
    table = pq.read_table(target)
    assert table.column_names == [
        "id",
        "status",
        "n_incidents",
        "incidents",
        "evidence",
        "failure_reason",
        "failure_message",
        "prompt_tokens",
        "completion_tokens",
        "requests",
        "model",
        "backend",
        "prompt_hash",
        "schema_version",
        "flags",
    ]
    rows = {row["id"]: row for row in table.to_pylist()}
    assert [row["id"] for row in table.to_pylist()] == ["b", "c", "a", "d"]
    expected = ok("a")
    assert rows["a"]["status"] == "ok" and rows["a"]["n_incidents"] == 1
    assert [Incident.model_validate(i) for i in json.loads(rows["a"]["incidents"])] == expected.incidents
    assert [EvidenceSpan.model_validate(e) for e in json.loads(rows["a"]["evidence"])] == expected.evidence
    assert (rows["a"]["prompt_tokens"], rows["a"]["completion_tokens"], rows["a"]["requests"]) == (812, 143, 1)
    assert rows["a"]["failure_reason"] is None and rows["a"]["failure_message"] is None
    assert (rows["c"]["failure_reason"], rows["c"]["failure_message"]) == ("empty", "the document has no text")
    assert rows["c"]["incidents"] == "[]" and rows["c"]["n_incidents"] == 0
    assert {(r["model"], r["backend"], r["prompt_hash"], r["schema_version"]) for r in rows.values()} == {
        ("mock-1", "mock", "0123abcd", SCHEMA_VERSION)
    }


def test_parquet_export_of_an_empty_run_has_the_columns_and_no_rows(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(b"")
    assert export_parquet(path, tmp_path / "run.parquet") == 0
    table = pq.read_table(tmp_path / "run.parquet")
    assert table.num_rows == 0 and "incidents" in table.column_names


def test_failed_parquet_export_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes((ok("a").to_json() + "\n" + json.dumps({"id": "b", "status": "?"}) + "\n").encode())
    with pytest.raises(InputError):
        export_parquet(path, tmp_path / "run.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.jsonl"]
