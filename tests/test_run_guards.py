"""A careless or hostile user must not lose data, hang a run, or get a traceback.

Each test here names a way a run went wrong (a full disk, the output pointed at the
corpus, two runs on one file, a corrupted cache...) and what must happen instead.
They use the mock backend and the fake OpenAI-compatible server, never a real model.
"""

from __future__ import annotations

import inspect
import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from extract import api
from extract.backends.mock import MockBackend
from extract.cli import main
from extract.core.errors import ConfigError, InputError
from extract.io.corpus import open_corpus
from extract.store import CachingBackend, ResponseStore
from extract.testing import FakeOpenAIServer
from extract.testing.faults import Fault, always, first_attempts
from extract.transport import RetryPolicy
from tests.conftest import GOLD

# Long enough for a subprocess to import the package on a loaded machine, short enough that a hang
# fails the test within a couple of minutes rather than at pytest's own timeout.
SUBPROCESS_TIMEOUT = 120

SHORT = "Rebels shelled Aleppo on Monday, killing at least 28 civilians."


def _jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _run_cli(*args: str, limit_bytes: int | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-m", "extract.cli", *args],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        preexec_fn=limit,
        cwd=cwd,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )


# -- 1. a write error ends the run -----------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [pytest.param("1", id="one-worker"), pytest.param("8", id="eight-workers")])
def test_a_full_disk_ends_the_run_with_one_line_and_keeps_whole_lines(tmp_path: Path, concurrency: str) -> None:
    corpus = _jsonl(tmp_path / "c.jsonl", [{"id": f"d{i:03d}", "text": f"{SHORT} ({i})"} for i in range(300)])
    out = tmp_path / "out.jsonl"
    # Like a full disk: writes past 20 KB fail (EFBIG; Python ignores SIGXFSZ).
    done = _run_cli(
        "run", str(corpus), "--backend", "mock", "--model", "echo", "--out", str(out), "--quiet",
        "--concurrency", concurrency, "--no-show", limit_bytes=20_000,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done.stderr)
    assert "cannot write" in line and str(out) in line
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n"), "a torn last line was left behind"
    kept = _lines(out)
    assert 0 < len(kept) < 300
    assert len({r["id"] for r in kept}) == len(kept)


def test_any_exception_in_a_worker_stops_the_run_instead_of_hanging(tmp_path: Path) -> None:
    corpus = [{"id": f"d{i}", "text": SHORT} for i in range(50)]
    seen: list[str] = []

    def on_result(result: object) -> None:
        seen.append(getattr(result, "id", ""))
        if len(seen) == 3:
            raise RuntimeError("the display broke")

    with pytest.raises(api.ExtractError, match="RuntimeError: the display broke"):
        api.run_corpus(corpus, out=tmp_path / "o.jsonl", backend="mock", model="echo", concurrency=2,
                       on_result=on_result)  # fmt: skip
    assert len(_lines(tmp_path / "o.jsonl")) >= 3


# -- 2. the output is the input ---------------------------------------------------------------------------------------


def test_out_equal_to_the_corpus_is_refused_and_the_corpus_kept(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    corpus = _jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": SHORT}])
    before = corpus.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(corpus)
    for out in (corpus, link):
        code = main(["run", str(corpus), "--backend", "mock", "--out", str(out), "--overwrite", "--quiet"])
        assert code == 2
        assert "is the corpus" in _one_error_line(capsys.readouterr().err)
    assert corpus.read_bytes() == before


def test_out_inside_a_folder_corpus_where_the_reader_would_find_it_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text(SHORT, encoding="utf-8")
    with pytest.raises(ConfigError, match="inside the corpus"):
        api.run_corpus(folder, out=folder / "sub" / "run.md", backend="mock")
    # A file the folder reader skips (not .txt/.md) may live there.
    summary = api.run_corpus(folder, out=folder / "run.jsonl", backend="mock")
    assert summary.documents == 1


# -- 3. two runs on one output ---------------------------------------------------------------------------------------


def test_a_second_run_on_a_locked_output_exits_2_naming_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    corpus = _jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": SHORT}])
    out = tmp_path / "out.jsonl"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from extract.io.output import RunLock
            with RunLock({str(out)!r}):
                print("locked", flush=True)
                sys.stdin.readline()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        code = main(["run", str(corpus), "--backend", "mock", "--out", str(out), "--quiet"])
        line = _one_error_line(capsys.readouterr().err)
        assert code == 2
        assert f"process {holder.pid}" in line
        assert not out.exists() or out.read_text(encoding="utf-8") == ""
    finally:
        holder.communicate("\n", timeout=SUBPROCESS_TIMEOUT)
    # Once the other run has ended, the lock is free again.
    assert main(["run", str(corpus), "--backend", "mock", "--out", str(out), "--quiet"]) == 0


def test_the_lock_is_released_when_the_run_ends(tmp_path: Path) -> None:
    from extract.io.output import RunLock

    out = tmp_path / "o.jsonl"
    with RunLock(out), pytest.raises(ConfigError, match=f"process {os.getpid()}"), RunLock(out):
        pass
    with RunLock(out):
        pass
    with RunLock(tmp_path / "new" / "folder" / "o.jsonl"):  # like the writer, it creates the folder
        assert (tmp_path / "new" / "folder" / ".o.jsonl.lock").read_text(encoding="utf-8") == f"{os.getpid()}\n"


@pytest.mark.parametrize("make_link", [pytest.param(os.symlink, id="symlink"), pytest.param(os.link, id="hardlink")])
def test_a_second_run_through_a_link_to_a_locked_output_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture, make_link: Any
) -> None:
    from extract.io.output import RunLock

    corpus = _jsonl(tmp_path / "c.jsonl", [{"id": f"d{i}", "text": f"{SHORT} ({i})"} for i in range(4)])
    out = tmp_path / "out.jsonl"
    assert main(["run", str(corpus), "--backend", "mock", "--out", str(out), "--limit", "1", "--quiet"]) == 0
    link = tmp_path / "elsewhere" / "link.jsonl"  # another folder, so nothing beside the name is shared
    link.parent.mkdir()
    make_link(out, link)
    before = out.read_bytes()
    capsys.readouterr()
    with RunLock(out):  # the first run, still writing
        for extra in ([], ["--overwrite"]):
            code = main(["run", str(corpus), "--backend", "mock", "--out", str(link), "--quiet", *extra])
            assert code == 2
            assert "another run" in _one_error_line(capsys.readouterr().err)
    assert out.read_bytes() == before


def test_overwrite_through_a_symlink_starts_the_real_file_afresh(tmp_path: Path) -> None:
    # The lock is on the real file, so that is the file a run writes: --overwrite must not swap the link for
    # a new file beside it (which a third run through the link would then find unlocked).
    corpus = _jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": SHORT}, {"id": "b", "text": SHORT}])
    out, link = tmp_path / "out.jsonl", tmp_path / "link.jsonl"
    api.run_corpus(corpus, out=out, backend="mock", limit=1)
    link.symlink_to(out)
    summary = api.run_corpus(corpus, out=link, backend="mock", resume=False)
    assert summary.documents == 2 and link.is_symlink()
    assert [r["id"] for r in _lines(out)] == ["a", "b"]


# -- 4. duplicate ids ------------------------------------------------------------------------------------------------


def test_each_later_duplicate_id_gets_a_failure_record_naming_the_first(tmp_path: Path) -> None:
    corpus = _jsonl(
        tmp_path / "c.jsonl",
        [{"id": "a", "text": SHORT}, {"id": "b", "text": SHORT}, {"id": "a", "text": "other"},
         {"id": "a", "text": "third"}],
    )  # fmt: skip
    out = tmp_path / "o.jsonl"
    summary = api.run_corpus(corpus, out=out, backend="mock", model="echo")
    records = _lines(out)
    assert len(records) == 4
    dups = [r for r in records if r["status"] == "failed"]
    assert [d["failure"]["reason"] for d in dups] == ["duplicate_id", "duplicate_id"]
    assert all("duplicate id 'a': first seen at" in d["failure"]["message"] for d in dups)
    assert all(d["failure"]["message"].split("first seen at")[1].startswith(f" {corpus}:1;") for d in dups)
    # The first document keeps its own record: a later failure must not replace it.
    assert [r["status"] for r in records if r["id"] == "a"] == ["ok"]
    assert summary.duplicates == 2 and summary.failures["duplicate_id"] == 2
    # Resuming writes nothing new.
    again = api.run_corpus(corpus, out=out, backend="mock", model="echo")
    assert again.documents == 0 and len(_lines(out)) == 4


# -- 5, 6. a reply that never validates, and --retry-failed ----------------------------------------------------------

_ALL_INVALID = {"incidents": [{"type": "not-a-type", "quote": "x"}]}


def test_a_reply_that_never_validates_is_failed_not_partial(tmp_path: Path) -> None:
    corpus = [{"id": "a", "text": SHORT}]
    backend = MockBackend([_ALL_INVALID] * 3)
    summary = api.run_corpus(corpus, out=tmp_path / "o.jsonl", backend=backend, max_retries=2)
    (record,) = _lines(tmp_path / "o.jsonl")
    assert record["status"] == "failed"
    assert record["failure"]["reason"] == "validation"
    assert len(record["rejected"]) == 1, "what was rejected is kept for inspection"
    assert summary.failed == 1 and summary.partial == 0


def test_retry_failed_retries_a_validation_failure_past_the_cache(tmp_path: Path) -> None:
    corpus = [{"id": "a", "text": SHORT}]
    out, store = tmp_path / "o.jsonl", ResponseStore(tmp_path / "cache")
    first = MockBackend([_ALL_INVALID] * 3)
    api.run_corpus(corpus, out=out, backend=CachingBackend(first, store), max_retries=2)
    assert _lines(out)[-1]["status"] == "failed"
    second = MockBackend([{"incidents": []}])
    summary = api.run_corpus(corpus, out=out, backend=CachingBackend(second, store), retry_failed=True)
    assert len(second.calls) == 1, "the cached failure was served again"
    assert summary.ok == 1 and _lines(out)[-1]["status"] == "ok"


# -- 7. a cache entry of the wrong shape, a corrupted manifest -------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param("[]", id="a-list"),
        pytest.param('{"outcome": "ok"}', id="no-result"),
        pytest.param('{"outcome": "ok", "result": "{\\"incidents\\": 3}"}', id="result-of-the-wrong-shape"),
        pytest.param("{", id="not-json"),
        pytest.param('{"outcome": "validation_failed", "errors": 3}', id="failure-with-errors-not-a-list"),
        pytest.param('{"outcome": "validation_failed", "message": ["x"]}', id="failure-with-message-not-text"),
    ],
)
def test_a_cache_entry_of_the_wrong_shape_is_a_miss_with_a_warning(tmp_path: Path, entry: str) -> None:
    corpus = [{"id": "a", "text": SHORT}]
    store = ResponseStore(tmp_path / "cache")
    api.run_corpus(corpus, out=tmp_path / "1.jsonl", backend=CachingBackend(MockBackend([{"incidents": []}]), store))
    (path,) = (tmp_path / "cache").glob("*/*.json")
    path.write_text(entry, encoding="utf-8")
    inner = MockBackend([{"incidents": []}])
    with pytest.warns(api.CacheWarning, match=path.name):
        summary = api.run_corpus(corpus, out=tmp_path / "2.jsonl", backend=CachingBackend(inner, store))
    assert summary.ok == 1 and len(inner.calls) == 1
    # The entry was rewritten: a third run is a hit.
    third = MockBackend([])
    assert api.run_corpus(corpus, out=tmp_path / "3.jsonl", backend=CachingBackend(third, store)).ok == 1


def test_the_command_line_shows_a_damaged_cache_entry_as_one_warning_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    corpus = _jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": SHORT}])
    cache = tmp_path / "cache"
    with FakeOpenAIServer() as server:
        args = ["run", str(corpus), "--backend", "openai", "--model", "m", "--base-url", server.base_url,
                "--cache-dir", str(cache), "--quiet", "--no-show", "--out", str(tmp_path / "o.jsonl")]  # fmt: skip
        assert main(args) == 0
        (entry,) = cache.glob("*/*.json")
        entry.write_text("[]", encoding="utf-8")
        capsys.readouterr()
        assert main([*args, "--overwrite"]) == 0
        assert len(server.chat_requests()) == 2, "the damaged entry was a miss, so the model was asked again"
    err = capsys.readouterr().err
    assert _one_error_line(err) == f"extract: warning: {entry}: holds list, not an entry; treated as a miss"


@pytest.mark.parametrize("manifest", [pytest.param("{", id="not-json"), pytest.param("[]", id="not-an-object")])
def test_a_corrupted_recording_manifest_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture, manifest: str
) -> None:
    corpus = _jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": SHORT}])
    rec = tmp_path / "rec"
    rec.mkdir()
    (rec / "manifest.json").write_text(manifest, encoding="utf-8")
    code = main(["run", str(corpus), "--backend", "mock", "--replay", str(rec), "--out", str(tmp_path / "o.jsonl")])
    assert code == 2
    assert "manifest.json" in _one_error_line(capsys.readouterr().err)
    # Recording into it again starts a new manifest, with a warning.
    with pytest.warns(api.CacheWarning, match="manifest.json"):
        summary = api.run_corpus(corpus, out=tmp_path / "r.jsonl", backend="mock", model="echo", record=rec)
    assert summary.ok == 1
    assert json.loads((rec / "manifest.json").read_text(encoding="utf-8"))["identity"]["backend"] == "mock"


# -- 8. resume repairs only a cut-off last line ----------------------------------------------------------------------


def test_resume_refuses_a_complete_last_line_that_is_not_a_record(tmp_path: Path) -> None:
    corpus = [{"id": "a", "text": SHORT}, {"id": "b", "text": SHORT}]
    out = tmp_path / "o.jsonl"
    api.run_corpus(corpus[:1], out=out, backend="mock")
    with out.open("a", encoding="utf-8") as fh:
        fh.write('{"note": "a human wrote this"}\n')
    before = out.read_bytes()
    with pytest.raises(InputError, match=r"o\.jsonl:2: not a valid result record \(id: Field required\)"):
        api.run_corpus(corpus, out=out, backend="mock")
    assert out.read_bytes() == before


def test_resume_still_repairs_a_cut_off_last_line(tmp_path: Path) -> None:
    corpus = [{"id": "a", "text": SHORT}, {"id": "b", "text": SHORT}]
    out = tmp_path / "o.jsonl"
    api.run_corpus(corpus[:1], out=out, backend="mock")
    with out.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "b", "status": "o')
    summary = api.run_corpus(corpus, out=out, backend="mock")
    assert summary.documents == 1
    assert [r["id"] for r in _lines(out)] == ["a", "b"]


@pytest.mark.parametrize("retry", [pytest.param([], id="resume"), pytest.param(["--retry-failed"], id="retry-failed")])
def test_resume_refuses_a_line_with_an_id_that_is_not_a_record(
    tmp_path: Path, capsys: pytest.CaptureFixture, retry: list[str]
) -> None:
    # Such a line once made the run skip that document for good, while eval, events and review refused it.
    corpus = _jsonl(tmp_path / "c.jsonl", [{"id": f"a-{i:05d}", "text": SHORT} for i in range(3)])
    out = tmp_path / "o.jsonl"
    args = ["run", str(corpus), "--backend", "mock", "--model", "echo", "--out", str(out), "--quiet", "--no-show"]
    assert main(args[:-2]) == 0
    with out.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "a-00021"}\n')
    before = out.read_bytes()
    code = main([*args, *retry])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2 and f"{out}:4: not a valid result record" in line
    assert out.read_bytes() == before
    assert main(["eval", "--gold", str(GOLD), "--pred", str(out)]) == 2
    assert f"{out}:4: not a valid result record" in _one_error_line(capsys.readouterr().err)


# -- 9. a CSV quote that is never closed -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('1,"Rebels shelled\n2,Aleppo\n3,on Monday\n', id="open-to-the-end"),
        pytest.param('1,"Rebels shelled\n2,Aleppo\n3,"on Monday"\n', id="closed-by-a-later-quote"),
    ],
)
def test_a_csv_quote_never_closed_names_its_line(tmp_path: Path, body: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,text\n" + body, encoding="utf-8")
    with pytest.raises(InputError, match=r"c\.csv: line 2: .*quote"):
        list(open_corpus(path))


def test_a_csv_header_with_a_quote_never_closed_names_line_1(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text('id,"text\n1,Rebels shelled Aleppo\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"c\.csv: line 1: .*quote"):
        open_corpus(path)


# -- clear errors ----------------------------------------------------------------------------------------------------


_OPENAI = ["--backend", "openai", "--model", "m"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param([*_OPENAI, "--base-url", "http://127.0.0.1:99999/v1"], "--base-url", id="port-out-of-range"),
        pytest.param([*_OPENAI, "--base-url", "http://[::1/v1"], "--base-url", id="unclosed-ipv6-bracket"),
        pytest.param([*_OPENAI, "--base-url", "127.0.0.1:8000/v1"], "--base-url", id="no-scheme"),
        # Options the run cannot use are errors, not dropped.
        pytest.param(["--actors", "0"], "--actors applies to the ray engine only", id="actors"),
        pytest.param(["--batch-size", "0"], "--batch-size applies to the ray engine only", id="batch-size"),
        pytest.param(["--actors", "3"], "--actors applies to the ray engine only", id="actors-not-dropped"),
        pytest.param(["--id-field", "nosuch"], "no field 'nosuch' (fields: id, text)", id="id-field"),
        pytest.param(["--split", "nosuch"], "no split 'nosuch'", id="split"),
    ],
)
def test_a_bad_option_is_one_line_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture, args: list[str], expected: str
) -> None:
    corpus = _jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": SHORT}])
    backend = [] if "--backend" in args else ["--backend", "mock"]
    code = main(["run", str(corpus), *backend, *args, "--out", str(tmp_path / "o.jsonl"), "--quiet"])
    assert code == 2
    assert expected in _one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "o.jsonl").exists()


def test_out_under_a_regular_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    corpus = _jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": SHORT}])
    (tmp_path / "file").write_text("x", encoding="utf-8")
    code = main(["run", str(corpus), "--backend", "mock", "--out", str(tmp_path / "file" / "o.jsonl")])
    assert code == 2
    assert "o.jsonl" in _one_error_line(capsys.readouterr().err)


def test_parquet_into_a_missing_folder_is_one_line_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    corpus = _jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": SHORT}])
    (tmp_path / "file").write_text("x", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    code = main(
        ["run", str(corpus), "--backend", "mock", "--out", str(out), "--parquet", str(tmp_path / "file" / "p.parquet")]
    )
    assert code == 2
    assert "p.parquet" in _one_error_line(capsys.readouterr().err)
    assert not out.exists(), "the run should not start when its Parquet copy cannot be written"
    # A missing folder is created, as for --out.
    assert (
        main(
            [
                "run",
                str(corpus),
                "--backend",
                "mock",
                "--out",
                str(out),
                "--parquet",
                str(tmp_path / "new" / "p.parquet"),
            ]
        )
        == 0
    )
    assert (tmp_path / "new" / "p.parquet").is_file()


@pytest.mark.parametrize("transport", [pytest.param("direct", id="direct"), pytest.param("sdk", id="sdk")])
def test_a_server_answering_404_for_the_model_stops_the_run_after_the_first_request(
    tmp_path: Path, transport: str
) -> None:
    corpus = [{"id": f"d{i}", "text": SHORT} for i in range(20)]
    with FakeOpenAIServer(plan=always(Fault.http_error(404, "The model `m` does not exist"))) as server:
        with pytest.raises(ConfigError, match="404"):
            api.run_corpus(
                corpus, out=tmp_path / "o.jsonl", backend="openai", model="m", cache=False, concurrency=1,
                backend_options={"base_url": server.base_url, "transport": transport},
            )  # fmt: skip
        assert len(server.chat_requests()) == 1
    assert _lines(tmp_path / "o.jsonl") == []


def test_the_mock_acting_out_a_404_stops_the_run_like_the_http_backend(tmp_path: Path) -> None:
    corpus = [{"id": f"d{i}", "text": SHORT} for i in range(20)]
    backend = MockBackend(lambda call: Fault.http_error(404, "The model `m` does not exist"))
    with pytest.raises(ConfigError, match="404"):
        api.run_corpus(corpus, out=tmp_path / "o.jsonl", backend=backend)
    assert len(backend.calls) == 1
    assert _lines(tmp_path / "o.jsonl") == []


@pytest.mark.parametrize("transport", [pytest.param("direct", id="direct"), pytest.param("sdk", id="sdk")])
def test_a_429_whose_retry_after_is_not_a_number_is_retried_with_backoff(tmp_path: Path, transport: str) -> None:
    corpus = [{"id": "a", "text": SHORT}]
    with FakeOpenAIServer(plan=first_attempts(2, Fault.rate_limit_header("soon"))) as server:
        summary = api.run_corpus(
            corpus, out=tmp_path / "o.jsonl", backend="openai", model="m", cache=False,
            backend_options={"base_url": server.base_url, "transport": transport},
            retry=RetryPolicy(base_delay=0.01, max_delay=0.02),
        )  # fmt: skip
        assert len(server.chat_requests()) == 3
    assert summary.ok == 1


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("soon", id="a-word"),
        pytest.param("nan", id="nan"),
        pytest.param("-1", id="negative"),
        pytest.param("inf", id="infinite"),
        pytest.param("", id="empty"),
    ],
)
def test_a_retry_after_that_is_not_a_usable_delay_leaves_the_wait_to_backoff(value: str) -> None:
    from extract.backends.openai_wire import retry_after

    # None means "no advice": the policy waits with exponential backoff. NaN and negative values used to
    # become a wait of 0, retrying at once.
    assert retry_after({"retry-after": value}) is None
    assert retry_after({"retry-after-ms": value}) is None


@pytest.mark.parametrize(
    ("option", "value"),
    [
        pytest.param("--chunk-chars", "0", id="chunk-chars"),
        pytest.param("--concurrency", "0", id="concurrency"),
        pytest.param("--rpm", "-5", id="rpm"),
        pytest.param("--tpm", "0", id="tpm"),
        pytest.param("--max-tokens", "0", id="max-tokens"),
        pytest.param("--max-retries", "-1", id="max-retries"),
        pytest.param("--max-chars", "0", id="max-chars"),
        pytest.param("--limit", "-1", id="limit"),
        pytest.param("--timeout", "0", id="timeout"),
    ],
)
def test_numeric_options_out_of_range_are_refused_before_any_call(
    tmp_path: Path, capsys: pytest.CaptureFixture, option: str, value: str
) -> None:
    corpus = _jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": SHORT}])
    backend = (
        ["--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"]
        if option == "--timeout"
        else ["--backend", "mock"]
    )
    code = main(["run", str(corpus), *backend, option, value, "--out", str(tmp_path / "o.jsonl")])
    assert code == 2
    assert _one_error_line(capsys.readouterr().err).startswith(f"extract: error: {option}")
    assert not (tmp_path / "o.jsonl").exists()


def test_run_options_are_declared_in_one_place() -> None:
    from extract.engines.config import run_options

    # run_corpus takes no option of its own: every one is a field of the configuration, bounds and all.
    parameters = inspect.signature(api.run_corpus).parameters
    assert [p.kind for p in parameters.values()][-1] is inspect.Parameter.VAR_KEYWORD
    assert not set(parameters) & set(run_options())


def test_parquet_equal_to_out_is_refused(tmp_path: Path) -> None:
    corpus = [{"id": "a", "text": SHORT}]
    out = tmp_path / "o.jsonl"
    with pytest.raises(ConfigError, match="--parquet is --out"):
        api.run_corpus(corpus, out=out, parquet=out, backend="mock")
    assert not out.exists()


def test_a_cache_that_cannot_be_written_keeps_the_answers(tmp_path: Path) -> None:
    # A full disk or a wrong --cache-dir must not throw away answers the model gave: the records are
    # written, with a warning that nothing is cached.
    corpus = [{"id": f"d{i}", "text": SHORT} for i in range(3)]
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file, not a folder", encoding="utf-8")
    inner = MockBackend([{"incidents": []}] * 3)
    with pytest.warns(api.CacheWarning, match="cannot write the cache") as caught:
        summary = api.run_corpus(
            corpus, out=tmp_path / "o.jsonl", backend=CachingBackend(inner, ResponseStore(not_a_folder))
        )
    assert summary.ok == 3 and len(inner.calls) == 3
    assert len([w for w in caught if issubclass(w.category, api.CacheWarning)]) == 1, "one warning, not one per call"


def test_a_recording_that_cannot_be_written_stops_the_run_with_one_line(tmp_path: Path) -> None:
    corpus = [{"id": f"d{i}", "text": f"{SHORT} ({i})"} for i in range(3)]
    # Where the entries go (one folder per key prefix), found by recording once elsewhere.
    api.run_corpus(corpus, out=tmp_path / "first.jsonl", backend="mock", model="echo", record=tmp_path / "first")
    rec = tmp_path / "rec"
    rec.mkdir()
    for folder in (tmp_path / "first").iterdir():
        if folder.is_dir():
            (rec / folder.name).write_text("a file where a folder must go", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot write the recording"):
        api.run_corpus(corpus, out=tmp_path / "o.jsonl", backend="mock", model="echo", record=rec)
    assert _lines(tmp_path / "o.jsonl") == [], "no record whose answer could not be recorded"
