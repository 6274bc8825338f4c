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


def test_a_run_keeps_the_heap_out_of_the_collector_only_while_it_runs(tmp_path: Path) -> None:
    import gc

    from extract.testing import write_corpus

    corpus = write_corpus(tmp_path / "corpus.jsonl", 5)
    during: list[int] = []
    common = {"backend": "mock", "model": "echo", "on_result": lambda _: during.append(gc.get_freeze_count())}
    run_corpus(str(corpus), out=tmp_path / "a.jsonl", **common)
    assert min(during) > 0 and gc.get_freeze_count() == 0 and gc.isenabled()

    # A caller that froze objects itself keeps its choice: nothing more is frozen, nothing thawed
    # (the count may drop: a frozen object whose last reference goes is still freed).
    gc.freeze()
    try:
        mine = gc.get_freeze_count()
        during.clear()
        run_corpus(str(corpus), out=tmp_path / "b.jsonl", **common)
        assert 0 < max(during) <= mine and 0 < gc.get_freeze_count() <= mine
    finally:
        gc.unfreeze()


def test_the_heap_is_thawed_even_when_closing_the_backend_fails(tmp_path: Path) -> None:
    import gc

    from extract.backends.mock import MockBackend
    from extract.testing import write_corpus

    class ClosesBadly(MockBackend):
        async def aclose(self) -> None:
            raise RuntimeError("the connection pool would not close")

    corpus = write_corpus(tmp_path / "corpus.jsonl", 3)
    with pytest.raises(RuntimeError, match="would not close"):
        run_corpus(str(corpus), out=tmp_path / "out.jsonl", backend=ClosesBadly("echo"))
    assert gc.get_freeze_count() == 0


def test_the_ray_engine_checks_its_evidence_options_before_it_starts(tmp_path: Path) -> None:
    from extract.api import ConfigError, RayEngine
    from extract.testing import write_corpus

    corpus = write_corpus(tmp_path / "corpus.jsonl", 3)
    for bad in ({"evidence": "ref"}, {"schema_style": "compakt"}):
        with pytest.raises(ConfigError, match="unknown"):
            run_corpus(str(corpus), out=tmp_path / "out.jsonl", backend="mock", engine="ray", **bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="ray-write parquet"):
        run_corpus(
            str(corpus), out=tmp_path / "parts", backend="mock", engine=RayEngine(write="jsonl"), parquet=tmp_path / "x"
        )
