"""The Python API returns data and prints nothing; the command line does the printing."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract.api import evaluate_run, run_corpus, run_suite

REPO = Path(__file__).resolve().parents[1]


def test_library_calls_print_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run.jsonl"
    seen = []
    summary = run_corpus(str(REPO / "gold" / "articles"), out=out, backend="mock", model="echo", on_result=seen.append)
    result = evaluate_run(REPO / "gold", out, bootstrap=10, json_out=tmp_path / "s.json", report=tmp_path / "r.md")
    suite = run_suite(REPO / "evals" / "seed-replay.toml", json_out=tmp_path / "suite.json")
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", "")
    assert summary.documents == len(seen) == 5 and not summary.bundled
    assert len(result.documents) == 5 and (tmp_path / "r.md").is_file()
    assert suite.passed and suite.gates > 0 and suite.failures == ()
