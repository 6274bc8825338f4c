"""The Ray Data engine on a local Ray instance (two CPUs) against the fake OpenAI-compatible server.

Every test reads the run file back and checks that each document is there exactly
once, with the record the default engine would have written, and that the server
saw a bounded number of requests. One Ray instance serves the whole module: it
listens on 127.0.0.1 only, with no dashboard and no usage statistics. The tests at
the end start instances of their own, in child interpreters, to kill their driver.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

from extract import cli  # noqa: E402
from extract.api import RayEngine, RunConfig, run_corpus  # noqa: E402
from extract.core.errors import InputError  # noqa: E402
from extract.engines.ray import (  # noqa: E402
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
        config = RunConfig.from_options(
            out=out, backend="openai", model="fake", backend_options=options(server), cache=False,
            max_retries=MAX_RETRIES, concurrency=4, engine="ray", actors=2, batch_size=10,
        )  # fmt: skip
        first = run_dataset(ray.data.from_items(docs[:50]), config)
        calls_first = server.counts_by_document()
        second = run_dataset(ray.data.from_items(docs), config)
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
        config = RunConfig.from_options(
            out=tmp_path / "out.jsonl", backend="openai", model="fake", backend_options=options(server), cache=False,
            concurrency=4, rpm=1e9, engine="ray", actors=2, batch_size=8,
        )  # fmt: skip
        dataset, _ = read_corpus(str(corpus))
        run_dataset(dataset, config, bucket=bucket)
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


# -- the local instance on this machine ----------------------------------------------------------------------------

#: How long the reaper of a killed driver may take to end the instance: far more than it needs (about a second).
GONE_DEADLINE = 120.0


def _child_environment(**values: str) -> dict[str, str]:
    """This environment, with the ``extract`` under test first on the path of a child interpreter."""
    import extract

    root = str(Path(extract.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **values}


def _is_loopback(address: str) -> bool:
    import ipaddress

    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    return (mapped or ip).is_loopback


def _listening(process: Any) -> list[str]:
    """The local addresses the process listens on (TCP) or receives on from anyone (unconnected UDP)."""
    import socket

    try:
        connections = process.net_connections(kind="inet")
    except psutil.Error:  # it has just exited
        return []
    return [
        c.laddr.ip
        for c in connections
        if c.status == psutil.CONN_LISTEN or (c.type == socket.SOCK_DGRAM and not c.raddr)
    ]


def _name(process: Any) -> str:
    try:
        return str(process.name())
    except psutil.Error:
        return "(exited)"


def _alive(process: Any) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _cmdline(process: Any) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def _mark_of(process: Any) -> str | None:
    from extract.engines.ray_reaper import MARK

    try:
        return dict(process.environ()).get(MARK)
    except psutil.Error:
        return None


def _marked(mark: str) -> list[Any]:
    """The processes of the instance as its reaper sees them (marked, or descended from a marked one)."""
    from extract.engines.ray_reaper import Instance

    found = []
    for pid in Instance(mark, spare=frozenset({os.getpid()})).scan():
        with contextlib.suppress(psutil.Error):
            found.append(psutil.Process(pid))
    return found


def _left(processes: list[Any], mark: str) -> list[Any]:
    """Those of ``processes``, and of the instance marked ``mark``, that are still alive."""
    known = {p.pid for p in processes}
    extra = [p for p in _marked(mark) if p.pid not in known] if mark else []
    return [p for p in [*processes, *extra] if _alive(p)]


def _end(processes: list[Any]) -> None:
    """Kill what a failing test found alive, so that it leaves nothing behind."""
    for p in processes:
        with contextlib.suppress(psutil.Error):
            p.kill()


def test_a_local_instance_listens_on_loopback_only_and_dies_with_its_driver_killed_outright(tmp_path: Path) -> None:
    """Its GCS, raylet and workers listened on every interface, and after a SIGKILL of the driver the
    dashboard and runtime-env agents lived on for a minute or two."""
    import subprocess
    import sys

    corpus = write_corpus(tmp_path / "corpus.jsonl", 4)
    # Answers only after a long wait: the run is still in flight when it is looked at and killed.
    with FakeOpenAIServer(latency=300) as server:
        command = [
            sys.executable, "-m", "extract.cli", "run", str(corpus), "--engine", "ray", "--backend", "openai",
            "--model", "fake", "--base-url", server.base_url, "--out", str(tmp_path / "out.jsonl"), "--no-cache",
            "--quiet", "--actors", "1", "--timeout", "600",
        ]  # fmt: skip
        driver = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_child_environment()
        )
        processes: list[Any] = []
        reapers: list[Any] = []
        mark = ""
        try:
            deadline = time.monotonic() + 240
            while server.count() == 0 and driver.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            if server.count() == 0:
                driver.kill()
                pytest.fail(f"the Ray run sent no request: {driver.communicate()[1][-2000:]}")
            root = psutil.Process(driver.pid)
            processes = [root, *root.children(recursive=True)]
            names = {_name(p) for p in processes}
            # The instance's servers, its agents and the actor's worker (the request in flight is the actor's).
            assert {"gcs_server", "raylet"} <= names, names
            reapers = [p for p in processes if "ray_reaper" in _cmdline(p)]
            ray_processes = [p for p in processes if p.pid != root.pid and p not in reapers]
            assert len(reapers) == 1, "the driver started one reaper"
            assert any("ExtractActor" in _cmdline(p) for p in ray_processes), names
            raylet = next(p for p in ray_processes if _name(p) == "raylet")
            mark = _mark_of(raylet) or ""
            assert mark, "the instance carries no mark"
            # Found as the reaper finds them: marked, or (the agents) children of a marked process.
            found = {p.pid for p in _marked(mark)}
            unmarked = [(p.pid, _name(p)) for p in ray_processes if p.pid not in found and _alive(p)]
            assert unmarked == [], "every Ray process carries the instance's mark"
            listening = {(_name(p), address) for p in processes for address in _listening(p)}
            assert {name for name, _ in listening} >= {"gcs_server", "raylet"}, listening
            assert [entry for entry in listening if not _is_loopback(entry[1])] == []
        finally:
            driver.kill()  # SIGKILL: nothing in the driver runs any more
            driver.communicate()
            # The verdict waits for the reaper (it ends once none of the instance is left), not for a time:
            # the agents would end by themselves within a minute or two, and then the test proved nothing.
            reaper_ended = True
            for reaper in reapers:
                try:
                    reaper.wait(GONE_DEADLINE)
                except psutil.TimeoutExpired:
                    reaper_ended = False
            left = _left(processes, mark)
            _end(left)
    assert driver.returncode == -signal.SIGKILL
    assert reaper_ended, "the reaper did not end"
    assert [(p.pid, _name(p)) for p in left] == []


def test_a_clean_exit_ends_the_instance_and_puts_the_process_back_as_it_was(tmp_path: Path) -> None:
    """In a fresh interpreter (this one holds the module's instance): the environment, Ray's constant and the
    process's children are as they were before the session, and no process of the instance is left."""
    import subprocess
    import sys

    script = tmp_path / "session.py"
    script.write_text(
        textwrap.dedent(
            """
            import json, os, sys
            import psutil, ray
            from ray._private import ray_constants
            from extract.engines.ray import ray_session

            environment, flag = dict(os.environ), ray_constants.ENABLE_RAY_CLUSTER
            children = {p.pid for p in psutil.Process().children(recursive=True)}
            with ray_session(num_cpus=1) as session:
                instance = psutil.Process().children(recursive=True)  # the agents too: the raylet lives
                inside = {
                    "environment": dict(os.environ) == environment,
                    "flag": ray_constants.ENABLE_RAY_CLUSTER == flag,
                    "node": session.util.get_node_ip_address(),
                    "names": sorted(p.name() for p in instance),
                }
            # At once, with no wait: the session ends only when its reaper has ended what was left.
            def alive(p):
                try:
                    return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                except psutil.Error:
                    return False
            json.dump(
                {
                    "inside": inside,
                    "environment": dict(os.environ) == environment,
                    "flag": ray_constants.ENABLE_RAY_CLUSTER == flag,
                    "initialized": ray.is_initialized(),
                    "left": sorted(p.name() for p in instance if p.pid not in children and alive(p)),
                },
                sys.stdout,
            )
            """
        ),
        encoding="utf-8",
    )
    environment = _child_environment(RAY_USAGE_STATS_ENABLED="1")  # a value of the caller's, to be put back
    environment.pop("INCIDENT_EXTRACT_RAY_INSTANCE", None)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=environment, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout)
    assert got["inside"]["environment"] and got["inside"]["flag"] and got["inside"]["node"] == "127.0.0.1"
    assert {"gcs_server", "raylet", "ray::DashboardAgent"} <= set(got["inside"]["names"]), got["inside"]["names"]
    assert (got["environment"], got["flag"], got["initialized"], got["left"]) == (True, True, False, [])


def test_the_environment_is_put_back_after_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    from extract.engines.ray import _environment

    monkeypatch.setenv("EXTRACT_TEST_SET", "before")
    monkeypatch.delenv("EXTRACT_TEST_UNSET", raising=False)
    monkeypatch.delenv("EXTRACT_TEST_UNTOUCHED", raising=False)
    with (
        pytest.raises(RuntimeError),
        _environment({"EXTRACT_TEST_SET": "during", "EXTRACT_TEST_UNSET": "during", "EXTRACT_TEST_UNTOUCHED": None}),
    ):
        assert (os.environ["EXTRACT_TEST_SET"], os.environ["EXTRACT_TEST_UNSET"]) == ("during", "during")
        assert "EXTRACT_TEST_UNTOUCHED" not in os.environ
        raise RuntimeError("the block fails")
    assert os.environ["EXTRACT_TEST_SET"] == "before"
    assert "EXTRACT_TEST_UNSET" not in os.environ and "EXTRACT_TEST_UNTOUCHED" not in os.environ


def test_an_instance_that_did_not_take_loopback_is_refused_and_shut_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """If Ray ever ignores the loopback address, the run stops instead of listening on the network."""
    from ray._private import ray_constants

    from extract.core.errors import ConfigError
    from extract.engines import ray as engine
    from extract.engines import ray_reaper

    calls: list[str] = []
    seen: dict[str, Any] = {}

    class FakeRay:
        __version__ = "0.0"

        class util:  # as in Ray
            @staticmethod
            def get_node_ip_address() -> str:
                return "192.0.2.7"

        @staticmethod
        def is_initialized() -> bool:
            return False

        @staticmethod
        def init(**kwargs: Any) -> None:
            seen.update(kwargs, flag=ray_constants.ENABLE_RAY_CLUSTER, mark=os.environ.get(ray_reaper.MARK))
            calls.append("init")

        @staticmethod
        def shutdown() -> None:
            calls.append("shutdown")

    def reapers() -> list[int]:
        return [p.pid for p in psutil.Process().children() if "ray_reaper" in _cmdline(p) and _alive(p)]

    flag, before = ray_constants.ENABLE_RAY_CLUSTER, reapers()
    monkeypatch.setattr(engine, "_ray", lambda: FakeRay)
    with pytest.raises(ConfigError, match=r"192\.0\.2\.7"), ray_session(num_cpus=1):
        pytest.fail("the session was used")
    assert calls == ["init", "shutdown"]
    assert seen["_node_ip_address"] == "127.0.0.1" and seen["flag"] is False and seen["mark"]
    assert flag == ray_constants.ENABLE_RAY_CLUSTER and ray_reaper.MARK not in os.environ
    assert ray_reaper.marked(seen["mark"]) == [] and reapers() == before
