"""The Ray Data engine on a local Ray instance (two CPUs) against the fake OpenAI-compatible server.

Every test reads the run file back and checks that each document is there exactly
once, with the record the default engine would have written, and that the server
saw a bounded number of requests. One Ray instance serves the whole module: it
listens on 127.0.0.1 only, with no dashboard and no usage statistics.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

from extract import cli  # noqa: E402
from extract.api import RayEngine, run_corpus  # noqa: E402
from extract.core.errors import InputError  # noqa: E402
from extract.engines.ray import (  # noqa: E402
    BackendSpec,
    JobSpec,
    TokenBucket,
    ray_session,
    read_corpus,
    run_dataset,
)
from extract.io.output import read_run  # noqa: E402
from extract.testing import (  # noqa: E402
    FakeOpenAIServer,
    Fault,
    Plan,
    chain,
    first_attempts,
    on_documents,
    randomly,
    sample_documents,
    write_corpus,
)
from extract.transport import RetryPolicy  # noqa: E402
from tests.conftest import _guarded_getaddrinfo  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.server]

POLICY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=0.1)
MAX_RETRIES = 1
#: Most chat requests one document can cost: every instructor attempt may use every transport attempt.
PER_DOCUMENT_BOUND = POLICY.max_attempts * (MAX_RETRIES + 1)


@pytest.fixture(scope="module", autouse=True)
def ray_instance() -> Iterator[Any]:
    """A short-lived local Ray instance, started while live network access is blocked in this process."""
    with pytest.MonkeyPatch.context() as mp:
        import socket

        mp.setattr(socket, "getaddrinfo", _guarded_getaddrinfo)
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        mp.setenv("HF_HUB_OFFLINE", "1")
        with ray_session(num_cpus=2) as session:
            yield session


def options(server: FakeOpenAIServer, **extra: Any) -> dict[str, Any]:
    return {"base_url": server.base_url, "timeout": 5, **extra}


def records(path: Path) -> dict[str, dict[str, Any]]:
    """Records by id; fails if an id appears twice."""
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    counts = collections.Counter(r["id"] for r in lines)
    assert [i for i, n in counts.items() if n > 1] == []
    return {r["id"]: r for r in lines}


def comparable(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its timings (and with failure messages, which may name the reader, kept)."""
    return {k: v for k, v in record.items() if k != "seconds"}


def corpus_with_an_empty_document(tmp_path: Path, n: int) -> Path:
    path = write_corpus(tmp_path / "corpus.jsonl", n)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "empty-doc", "text": "   "}) + "\n")
    return path


def faults() -> Plan:
    return chain(
        on_documents(["doc-00003", "doc-00011"], Fault.server_error()),  # never recovers: server_error
        on_documents(["doc-00005"], Fault.schema_violation()),  # never valid: validation
        first_attempts(1, Fault.rate_limit(retry_after=0.01)),  # every document's first request: 429, then fine
    )


def test_same_records_and_failure_records_as_the_default_engine(tmp_path: Path) -> None:
    corpus = corpus_with_an_empty_document(tmp_path, 40)
    outs = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.jsonl"
        with FakeOpenAIServer(plan=faults()) as server:
            common: dict[str, Any] = {
                "out": out,
                "backend": "openai",
                "model": "fake",
                "backend_options": options(server),
                "retry": POLICY,
                "max_retries": MAX_RETRIES,
                "cache": False,
            }
            if engine == "local":
                run_corpus(str(corpus), concurrency=6, **common)
            else:
                run_corpus(str(corpus), concurrency=3, engine=RayEngine(actors=2, batch_size=8), **common)
        outs[engine] = records(out)
    local, distributed = outs["local"], outs["ray"]
    assert len(local) == 41 and set(local) == set(distributed)
    assert {i: comparable(r) for i, r in local.items()} == {i: comparable(r) for i, r in distributed.items()}
    reasons = {i: r["failure"]["reason"] for i, r in distributed.items() if r["status"] == "failed"}
    assert reasons == {
        "doc-00003": "server_error",
        "doc-00011": "server_error",
        "doc-00005": "validation",
        "empty-doc": "empty",
    }


def first_attempt_only(plan: Plan) -> Plan:
    return lambda info: plan(info) if info.attempt == 1 else None


def test_a_few_hundred_documents_with_faults_each_written_once_with_bounded_calls(tmp_path: Path) -> None:
    n = 300
    corpus = write_corpus(tmp_path / "corpus.jsonl", n)
    # Transient faults on a document's first request only, so that every document but the
    # always-failing ones ends well and the expected outcome does not depend on chance.
    plan = chain(
        on_documents([f"doc-{k:05d}" for k in range(0, n, 50)], Fault.server_error()),
        first_attempt_only(randomly(0.15, Fault.rate_limit(retry_after=0.01), seed=3)),
        first_attempt_only(randomly(0.1, Fault.drop(), seed=4)),
        first_attempt_only(randomly(0.05, Fault.schema_violation(), seed=5)),
    )
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(plan=plan, latency=0.005) as server:
        summary = run_corpus(
            str(corpus),
            out=out,
            backend="openai",
            model="fake",
            backend_options=options(server),
            retry=POLICY,
            max_retries=MAX_RETRIES,
            concurrency=8,
            engine=RayEngine(actors=2, batch_size=32),
            cache=False,
        )
        by_document = server.counts_by_document()
    written = records(out)
    assert set(written) == {f"doc-{k:05d}" for k in range(n)}
    failed = {i for i, r in written.items() if r["status"] == "failed"}
    assert failed == {f"doc-{k:05d}" for k in range(0, n, 50)}
    assert {written[i]["failure"]["reason"] for i in failed} == {"server_error"}
    assert summary.documents == n and summary.failed == len(failed)
    assert max(by_document.values()) <= PER_DOCUMENT_BOUND
    assert server.fault_counts()["rate_limit"] > 10 and server.fault_counts()["drop"] > 5
    assert sum(by_document.values()) == sum(r["usage"]["requests"] for r in written.values())


def test_resume_skips_written_documents_before_any_model_call(tmp_path: Path) -> None:
    docs = sample_documents(120)
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer() as server:
        job = JobSpec(
            backend=BackendSpec("openai", "fake", options(server), cache=False), max_retries=MAX_RETRIES, concurrency=4
        )
        first = run_dataset(ray.data.from_items(docs[:50]), job, out, actors=2, batch_size=10)
        calls_first = server.counts_by_document()
        second = run_dataset(ray.data.from_items(docs), job, out, actors=2, batch_size=10)
        calls_all = server.counts_by_document()
    assert (first.documents, second.documents, second.skipped) == (50, 70, 50)
    assert set(records(out)) == {d["id"] for d in docs}
    # The first 50 were asked once, in the first run only; the other 70 once, in the second.
    assert calls_first == calls_all - collections.Counter({d["id"]: 1 for d in docs[50:]})
    assert set(calls_all.values()) == {1}


def test_one_rate_budget_is_shared_by_every_actor(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", 60)
    bucket = ray.remote(num_cpus=0)(TokenBucket).remote(1e9, None)
    with FakeOpenAIServer() as server:
        job = JobSpec(backend=BackendSpec("openai", "fake", options(server), cache=False), concurrency=4)
        dataset, _ = read_corpus(str(corpus))
        run_dataset(dataset, job, tmp_path / "out.jsonl", actors=2, batch_size=8, rpm=1e9, bucket=bucket)
        sent = server.count()
    stats = ray.get(bucket.stats.remote())
    ray.kill(bucket)
    assert sent == 60 and stats["granted"] == sent


def test_token_bucket_grants_a_minute_of_budget_then_asks_to_wait() -> None:
    bucket = TokenBucket(rpm=30, tpm=None)
    granted = [bucket.reserve() for _ in range(31)]
    assert granted[:30] == [0.0] * 30
    assert 1.5 < granted[30] <= 2.0  # one request every 2 s at 30 a minute
    tokens = TokenBucket(rpm=None, tpm=1000)
    assert tokens.reserve(600) == 0.0 and tokens.reserve(600) > 0 and tokens.granted == 1


def _actor_pids() -> list[int]:
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "ExtractActor" in " ".join(proc.cmdline()):
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


@pytest.mark.parametrize("cache", [pytest.param(False, id="no-cache"), pytest.param(True, id="shared-cache")])
def test_a_killed_actor_loses_nothing_and_writes_nothing_twice(cache: bool, tmp_path: Path) -> None:
    n = 240
    in_flight = 4
    corpus = write_corpus(tmp_path / "corpus.jsonl", n)
    out = tmp_path / "out.jsonl"
    killed: list[int] = []
    with FakeOpenAIServer(latency=0.03) as server:

        def kill_one_actor_mid_run() -> None:
            deadline = time.monotonic() + 120
            while server.count() < n // 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            pids = _actor_pids()
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])

        killer = threading.Thread(target=kill_one_actor_mid_run, daemon=True)
        killer.start()
        summary = run_corpus(
            str(corpus),
            out=out,
            backend="openai",
            model="fake",
            backend_options=options(server),
            retry=POLICY,
            concurrency=in_flight,
            engine=RayEngine(actors=2, batch_size=12),
            cache=cache,
            cache_dir=tmp_path / "cache",
        )
        killer.join(10)
        by_document = server.counts_by_document()
    assert killed, "no actor process was found to kill"
    written = records(out)
    assert set(written) == {f"doc-{k:05d}" for k in range(n)}
    statuses = collections.Counter(r["failure"]["reason"] if r["failure"] else r["status"] for r in written.values())
    assert statuses == {"ok": n}, statuses
    assert summary.documents == n and set(by_document) == set(written)
    asked_again = sum(by_document.values()) - n
    if cache:
        # Ray runs the killed actor's unfinished batches again, but what had been answered is in
        # the shared cache: only the requests in flight at the kill are asked again.
        assert asked_again <= in_flight, by_document
    else:
        # Without a cache they are asked again in full, each document once more at most.
        assert max(by_document.values()) <= 2 and asked_again < n // 2, by_document


def test_cli_runs_on_ray(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", 20)
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer() as server:
        code = cli.main(
            [
                "run", str(corpus), "--engine", "ray", "--backend", "openai", "--model", "fake",
                "--base-url", server.base_url, "--out", str(out), "--no-cache", "--quiet",
                "--concurrency", "4", "--actors", "2",
            ]
        )  # fmt: skip
        assert server.count() == 20
    assert code == 0
    assert sorted(r.id for r in read_run(out)) == [f"doc-{k:05d}" for k in range(20)]


def test_unreachable_endpoint_stops_before_ray_runs_anything(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", 5)
    code = cli.main(
        [
            "run", str(corpus), "--engine", "ray", "--backend", "openai", "--model", "fake",
            "--base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "out.jsonl"), "--no-cache", "--quiet",
        ]
    )  # fmt: skip
    assert code == 2
    assert not (tmp_path / "out.jsonl").exists() or (tmp_path / "out.jsonl").read_text() == ""


@pytest.mark.parametrize("kind", [pytest.param("folder", id="txt-folder"), pytest.param("parquet", id="parquet")])
def test_ray_readers_give_the_ids_and_failures_of_the_default_engine(kind: str, tmp_path: Path) -> None:
    docs = sample_documents(6)
    if kind == "folder":
        source = tmp_path / "articles"
        (source / "sub").mkdir(parents=True)
        for k, doc in enumerate(docs):
            (source / ("sub" if k % 2 else "") / f"{doc['id']}.txt").write_text(doc["text"], encoding="utf-8")
        (source / "broken.txt").write_bytes(b"\x00\x01binary")
        expected_failed = {"broken": "bad_input"}
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        source = tmp_path / "articles.parquet"
        rows = [*docs, {"id": "nothing", "text": ""}]
        pq.write_table(pa.Table.from_pylist(rows), source)
        expected_failed = {"nothing": "empty"}
    outs = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.jsonl"
        if engine == "local":
            run_corpus(str(source), out=out, backend="mock", model="echo", cache=False)
        else:
            run_corpus(str(source), out=out, backend="mock", model="echo", cache=False, engine="ray")
        outs[engine] = records(out)
    assert set(outs["ray"]) == set(outs["local"]) and len(outs["ray"]) == 7
    for engine, got in outs.items():
        failed = {i: r["failure"]["reason"] for i, r in got.items() if r["status"] == "failed"}
        assert failed == expected_failed, engine
    ok_local = {i: comparable(r) for i, r in outs["local"].items() if r["status"] != "failed"}
    ok_ray = {i: comparable(r) for i, r in outs["ray"].items() if r["status"] != "failed"}
    assert ok_local == ok_ray


T = "Rebels shelled Aleppo on Monday."


def _line(record: dict[str, str]) -> bytes:
    return json.dumps(record).encode() + b"\n"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        pytest.param(
            "c.jsonl",
            _line({"id": "a", "text": T})
            + b"{not json\n"
            + b'{"id": "x", "text": "caf\xe9"}\n'
            + _line({"id": "b", "text": T}),
            id="malformed-and-not-utf8-lines",
        ),
        pytest.param(
            "c.jsonl",
            b"".join(_line({"id": i, "text": f"{T} {n}"}) for n, i in enumerate("abab")),
            id="duplicate-ids",
        ),
        pytest.param(
            "c.jsonl",
            b"".join(_line({"id": i, "text": T}) for i in ("x", "x", "x@{corpus}:2")),
            id="a-real-id-equal-to-a-made-up-one",
        ),
        pytest.param("c.csv", b'id,text\n1,"Rebels shelled\n2,Aleppo\n3,on Monday\n', id="csv-quote-never-closed"),
        pytest.param("c.csv", b'id,text\n1,"He said "no" today"\n2,ok\n', id="csv-stray-quote"),
    ],
)
def test_bad_input_gives_the_records_and_errors_of_the_default_engine(
    tmp_path: Path, name: str, content: bytes
) -> None:
    # Both engines read a file through the same row reader: the same records, or the same one-line error.
    corpus = tmp_path / name
    corpus.write_bytes(content.replace(b"{corpus}", str(corpus).encode()))
    outcomes: dict[str, Any] = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.jsonl"
        try:
            summary = run_corpus(str(corpus), out=out, backend="mock", model="echo", cache=False, engine=engine)
            outcome: Any = (summary.documents, summary.duplicates, summary.failures)
        except InputError as exc:
            outcome = str(exc)
        written = records(out) if out.exists() else {}
        outcomes[engine] = (outcome, {i: comparable(r) for i, r in written.items()})
    assert outcomes["ray"] == outcomes["local"]
    outcome, written = outcomes["ray"]
    lines = content.count(b"\n") - (name == "c.csv")
    if isinstance(outcome, str):
        assert outcome.startswith(f"{corpus}: line 2: a quote") and written == {}
    else:
        assert outcome[0] == len(written) == lines, "every line has its record"


def test_a_corpus_found_broken_part_way_is_one_line_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = tmp_path / "c.csv"
    corpus.write_text('id,text\n1,ok\n2,"He said "no" today"\n', encoding="utf-8")
    args = ["run", str(corpus), "--engine", "ray", "--backend", "mock", "--model", "echo", "--no-cache", "--quiet"]
    assert cli.main([*args, "--out", str(tmp_path / "out.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1].startswith(f"extract: error: {corpus}: line 3: a quote in this row is not closed")


def test_a_folder_named_through_dot_dot_is_read_as_on_the_default_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "articles").mkdir()
    (tmp_path / "work").mkdir()
    for doc in sample_documents(3):
        (tmp_path / "articles" / f"{doc['id']}.txt").write_text(doc["text"], encoding="utf-8")
    monkeypatch.chdir(tmp_path / "work")  # Ray's workers keep the directory they started in
    outs = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.jsonl"
        run_corpus("../articles", out=out, backend="mock", model="echo", cache=False, engine=engine)
        outs[engine] = {i: comparable(r) for i, r in records(out).items()}
    assert outs["ray"] == outs["local"] and len(outs["ray"]) == 3


def test_rows_of_a_ray_dataset_that_repeat_an_id_get_duplicate_records(tmp_path: Path) -> None:
    # Rows Ray's readers read never pass the corpus reader: the driver gives a repeat its own failure record.
    rows = [{"id": i, "text": f"{T} {n}"} for n, i in enumerate("abab")]
    out = tmp_path / "out.jsonl"
    summary = run_corpus(ray.data.from_items(rows), out=out, backend="mock", model="echo", cache=False, engine="ray")
    written = records(out)
    duplicates = {i: r for i, r in written.items() if r["status"] == "failed"}
    assert set(written) - set(duplicates) == {"a", "b"} and len(duplicates) == 2
    assert {r["failure"]["reason"] for r in duplicates.values()} == {"duplicate_id"}
    assert (summary.documents, summary.duplicates) == (4, 2)


def test_retry_failed_extracts_only_the_failed_documents_again(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", 30)
    out = tmp_path / "out.jsonl"
    broken = ["doc-00004", "doc-00017"]
    common: dict[str, Any] = {"out": out, "backend": "openai", "model": "fake", "cache": False, "engine": "ray"}
    with FakeOpenAIServer(plan=on_documents(broken, Fault.server_error())) as server:
        first = run_corpus(str(corpus), backend_options=options(server), retry=POLICY, concurrency=4, **common)
    with FakeOpenAIServer() as server:
        again = run_corpus(str(corpus), backend_options=options(server), retry=POLICY, retry_failed=True, **common)
        asked = server.counts_by_document()
    assert (first.failed, again.documents, again.skipped) == (2, 2, 28)
    assert asked == {d: 1 for d in broken}
    latest = {r.id: r.status.value for r in read_run(out)}
    assert len(latest) == 30 and set(latest.values()) == {"ok"}


def test_ray_writers_fill_a_folder_with_the_run_files_lines_and_resume_from_it(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", 40)
    local_out, folder = tmp_path / "local.jsonl", tmp_path / "parts"
    with FakeOpenAIServer(plan=on_documents(["doc-00007"], Fault.server_error())) as server:
        common: dict[str, Any] = {
            "backend": "openai",
            "model": "fake",
            "backend_options": options(server),
            "retry": POLICY,
        }
        run_corpus(str(corpus), out=local_out, cache=False, concurrency=4, **common)
        server.reset()
        parted = RayEngine(write="jsonl", batch_size=8)
        first = run_corpus(str(corpus), out=folder, engine=parted, cache=False, **common)
        asked_first = server.count()
        second = run_corpus(str(corpus), out=folder, engine=RayEngine(write="jsonl"), cache=False, **common)
        asked_second = server.count() - asked_first
    parts = sorted(folder.glob("*.jsonl"))
    assert len(parts) > 1  # one part per write task, written where the actors ran
    lines: dict[str, dict[str, Any]] = {}
    for part in parts:
        lines |= records(part)
    assert sum(len(records(p)) for p in parts) == 40  # no id in two parts
    assert {i: comparable(r) for i, r in lines.items()} == {i: comparable(r) for i, r in records(local_out).items()}
    assert (first.documents, first.failed, first.failures["server_error"]) == (40, 1, 1)
    assert (second.documents, second.skipped, asked_second) == (0, 40, 0)


def test_ray_writers_write_parquet_with_the_export_columns(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from extract.io.output import export_parquet

    corpus = write_corpus(tmp_path / "corpus.jsonl", 30)
    with FakeOpenAIServer() as server:
        common: dict[str, Any] = {
            "backend": "openai",
            "model": "fake",
            "backend_options": options(server),
            "retry": POLICY,
        }
        run_corpus(str(corpus), out=tmp_path / "local.jsonl", cache=False, **common)
        parted = RayEngine(write="parquet")
        summary = run_corpus(str(corpus), out=tmp_path / "parts", engine=parted, cache=False, **common)
    export_parquet(tmp_path / "local.jsonl", tmp_path / "local.parquet")
    expected = pq.read_table(tmp_path / "local.parquet")
    got = pq.read_table(sorted((tmp_path / "parts").glob("*.parquet")))
    assert got.schema.names == expected.schema.names and summary.documents == 30
    key = [("id", "ascending")]
    assert got.sort_by(key).to_pylist() == expected.sort_by(key).to_pylist()
