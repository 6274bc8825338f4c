"""Kill a real ``extract run`` mid-batch with SIGKILL, run it again, and check nothing is lost or asked twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from extract.io.output import completed_ids
from extract.testing import FakeOpenAIServer, write_corpus

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"),
]

DOCS = 40


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_a_killed_run_resumes_without_repeating_a_written_document(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", DOCS)
    out = tmp_path / "out.jsonl"
    every_id = {f"doc-{k:05d}" for k in range(DOCS)}
    with FakeOpenAIServer(latency=0.1) as server:
        command = [sys.executable, "-m", "extract.cli", "run", str(corpus), "--backend", "openai"]
        command += ["--base-url", server.base_url, "--model", "fake", "--out", str(out), "--no-cache"]
        command += ["--concurrency", "4", "--quiet", "--no-show"]

        first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=os.environ)
        try:
            deadline = time.monotonic() + 60
            while _lines(out) < 8 and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
            assert first.poll() is None, "the first run ended before it could be killed"
            os.kill(first.pid, signal.SIGKILL)
        finally:
            if first.poll() is None:
                first.kill()
            first.wait(10)
        assert first.returncode == -signal.SIGKILL

        written = completed_ids(out)
        assert 8 <= len(written) < DOCS, "the kill must land mid-run for this test to mean anything"
        first_requests = server.counts_by_document()
        assert written <= set(first_requests)
        server.reset()

        second = subprocess.run(command, capture_output=True, text=True, timeout=120, env=os.environ)
        assert second.returncode == 0, second.stderr
        second_requests = server.counts_by_document()

    # Documents written by the first run are never asked for again; every other one exactly once.
    assert not written & set(second_requests)
    assert second_requests == {doc_id: 1 for doc_id in every_id - written}

    raw = out.read_bytes()
    assert raw.endswith(b"\n")
    records = [json.loads(line) for line in raw.decode("utf-8").splitlines()]  # every line is whole JSON
    seen = [record["id"] for record in records]
    assert len(seen) == len(set(seen)) == DOCS and set(seen) == every_id
    assert all(record["status"] == "ok" for record in records)
