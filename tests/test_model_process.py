"""The local model runs in a child process: a native crash costs one document, never the batch.

The crash is real: a test hook makes the model process send itself SIGSEGV when it is
given a chosen document, as llama.cpp does when it meets an instruction the CPU forbids.
The other documents go through the real bundled model in the restarted process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from extract import cli
from extract.api import doctor, run_corpus
from extract.core.errors import ModelUnusable
from extract.core.records import Status
from extract.io.output import read_run

pytestmark = pytest.mark.slow

TEXTS = {
    "doc-0": "Rebels shot down a government helicopter near the town of Kafr Nabl on Monday.",
    "doc-1": "An air strike hit a market in the city on Tuesday, killing four people.",
    "doc-2": "A fighter jet crashed during a training flight; the pilot ejected safely.",
}


@pytest.fixture(autouse=True)
def _needs_llama() -> None:
    pytest.importorskip("llama_cpp", reason="needs the local extra: pip install -e '.[local]'")


def _corpus(tmp_path: Path, ids: list[str]) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"id": i, "text": TEXTS[i]}) + "\n" for i in ids), encoding="utf-8")
    return path


def _gone(pid: int) -> bool:
    """True once ``pid`` no longer runs (a zombie still awaiting its parent's wait counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait_gone(pid: int, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_crash_fails_one_document_and_the_batch_goes_on(tmp_path: Path) -> None:
    from extract.backends.local import LocalBackend

    backend = LocalBackend(max_tokens=96, crash_on={"doc-1"})
    first_pid = backend.process.pid
    assert first_pid is not None
    out = tmp_path / "out.jsonl"
    summary = run_corpus(str(_corpus(tmp_path, ["doc-0", "doc-1", "doc-2"])), out=out, backend=backend, max_retries=0)

    records = {r.id: r for r in read_run(out)}
    assert sorted(records) == ["doc-0", "doc-1", "doc-2"]
    crashed = records["doc-1"]
    assert crashed.status is Status.FAILED and crashed.failure is not None
    assert crashed.failure.reason == "model_crashed" and crashed.failure.signal == "SIGSEGV"
    assert "SIGSEGV" in crashed.failure.message
    for doc_id in ("doc-0", "doc-2"):  # answered by the model: before the crash, and in the restarted process
        record = records[doc_id]
        assert record.failure is None or record.failure.reason != "model_crashed"
        assert record.usage.requests == 1 and record.usage.completion_tokens > 0
    assert summary.failures["model_crashed"] == 1
    assert backend.process.starts == 2 and backend.process.pids[0] == first_pid  # restarted once, for doc-2
    assert all(_wait_gone(pid, 20) for pid in backend.process.pids)  # the run closed the backend


def test_crashes_in_a_row_stop_the_run_with_one_line(tmp_path: Path) -> None:
    from extract.backends.local import LocalBackend

    backend = LocalBackend(max_tokens=32, crash_on=set(TEXTS), max_crashes=2)
    out = tmp_path / "out.jsonl"
    with pytest.raises(ModelUnusable, match=r"crashed 2 times in a row \(last: SIGSEGV\)") as caught:
        run_corpus(str(_corpus(tmp_path, list(TEXTS))), out=out, backend=backend, max_retries=0)
    assert "\n" not in caught.value.one_line() and "extract doctor" in caught.value.one_line()
    records = list(read_run(out))
    # the first crash is a failure record; the second stops the run and its document stays to be resumed
    assert [(r.id, r.failure.reason if r.failure else None) for r in records] == [("doc-0", "model_crashed")]
    assert backend.process.pid is None  # the run closed the backend: no model process is left
    assert all(_wait_gone(pid, 20) for pid in backend.process.pids)


def test_the_model_process_dies_with_its_parent(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from extract.backends.local import LocalBackend\n"
        "b = LocalBackend(max_tokens=8)\n"
        "print(b.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not _gone(child)
        os.kill(parent.pid, signal.SIGKILL)  # no clean-up code runs in the parent
        parent.wait()
        assert _wait_gone(child), f"model process {child} outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_doctor_says_in_one_line_that_this_machine_runs_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["doctor"]) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line
    assert line.startswith("ok: gemma-3-270m-q4_k_m.gguf+incidents-gemma3-270m loads and generates")
    assert "built for" in line and "AVX2" in line.split("built for", 1)[1]


def test_doctor_reports_a_crash_and_a_bad_model_without_raising(tmp_path: Path) -> None:
    from extract.backends.local import PROBE_ID

    crashed = doctor(crash_on={PROBE_ID})
    assert not crashed.ok and "SIGSEGV" in crashed.problem
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF this is not a model")
    report = doctor(str(bad))
    assert not report.ok and "could not be loaded" in report.problem
    assert report.one_line().startswith(f"not ok: {bad}")
