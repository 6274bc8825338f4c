"""Batches against a misbehaving OpenAI-compatible server: every document is accounted for, calls are bounded.

Each test starts :class:`~extract.testing.FakeOpenAIServer` on 127.0.0.1 with a
fault plan, runs a small batch through :func:`extract.api.run_corpus` with the
``openai`` backend and several documents in flight, and reads the output back.
Transport faults are retried below instructor by the retry policy; validation
errors are re-asked by instructor; what persists becomes a failure record.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from extract import cli
from extract.api import run_corpus
from extract.core.records import DocumentResult, Status
from extract.io.output import read_run
from extract.runner import RunSummary
from extract.testing import (
    FakeOpenAIServer,
    Fault,
    Plan,
    RequestInfo,
    chain,
    first_attempts,
    on_documents,
    randomly,
    write_corpus,
)
from extract.transport import RetryPolicy

pytestmark = pytest.mark.server

T = TypeVar("T")

DOCS = 8
CONCURRENCY = 4
# Seconds per request. Generous, so that no answer times out because the machine is busy; the tests
# of the timeout itself use SLOW_TIMEOUT against a "slow" fault that would answer only after a minute.
TIMEOUT = 30.0
SLOW_TIMEOUT = 3.0
SLOW = Fault.slow(60.0)
MAX_RETRIES = 1  # instructor re-asks after a validation error
POLICY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_retry_after=0.1)
#: Most chat requests one document can cost: every instructor attempt may use every transport attempt.
PER_DOCUMENT_BOUND = POLICY.max_attempts * (MAX_RETRIES + 1)
FAULTED = ("doc-00001", "doc-00004", "doc-00006")


def timeout_for(fault: Fault) -> float:
    return SLOW_TIMEOUT if fault.kind == "slow" else TIMEOUT


def ids(n: int = DOCS) -> set[str]:
    return {f"doc-{k:05d}" for k in range(n)}


def run_batch(
    server: FakeOpenAIServer,
    tmp_path: Path,
    *,
    n: int = DOCS,
    policy: RetryPolicy = POLICY,
    max_retries: int = MAX_RETRIES,
    mode: str | None = None,
    timeout: float = TIMEOUT,
) -> tuple[dict[str, DocumentResult], RunSummary]:
    """Run ``n`` sample documents against ``server``; return the records read back from the output, by id."""
    corpus = write_corpus(tmp_path / "corpus.jsonl", n)
    out = tmp_path / "out.jsonl"
    summary = run_corpus(
        str(corpus),
        out=out,
        backend="openai",
        model="fake",
        backend_options={"base_url": server.base_url, "timeout": timeout, "mode": mode},
        retry=policy,
        concurrency=CONCURRENCY,
        max_retries=max_retries,
        cache=False,
    )
    records = list(read_run(out))
    seen = [r.id for r in records]
    assert len(seen) == len(set(seen)), f"an id was written twice: {sorted(seen)}"
    assert set(seen) == ids(n), "every document needs exactly one record or failure record"
    return {r.id: r for r in records}, summary


def assert_usage_matches_server(record: DocumentResult, server: FakeOpenAIServer) -> None:
    """The record counts every request the server saw for it, and exactly the tokens the server reported."""
    assert record.usage.requests == server.count(record.id)
    assert (record.usage.prompt_tokens, record.usage.completion_tokens) == server.usage_sent(record.id)


# (fault, failure reason when it persists, chat requests one document then costs)
PERSISTENT = [
    pytest.param(Fault.rate_limit(retry_after=0.01), "rate_limited", POLICY.max_attempts, id="http-429"),
    pytest.param(Fault.server_error(), "server_error", POLICY.max_attempts, id="http-500"),
    pytest.param(Fault.server_error(503), "server_error", POLICY.max_attempts, id="http-503"),
    pytest.param(SLOW, "timeout", POLICY.max_attempts, id="slower-than-timeout"),
    pytest.param(Fault.drop(), "connection", POLICY.max_attempts, id="dropped-connection"),
    pytest.param(Fault.schema_violation(), "validation", MAX_RETRIES + 1, id="schema-violation"),
    pytest.param(
        Fault.truncated_body(),
        "server_error",
        POLICY.max_attempts,
        id="truncated-body",
    ),
    pytest.param(
        Fault.not_json_body(),
        "server_error",
        POLICY.max_attempts,
        id="not-json-body",
    ),
]


@pytest.mark.parametrize(("fault", "reason", "calls"), PERSISTENT)
def test_a_persistent_fault_becomes_a_failure_record(fault: Fault, reason: str, calls: int, tmp_path: Path) -> None:
    with FakeOpenAIServer(plan=on_documents(FAULTED, fault)) as server:
        records, summary = run_batch(server, tmp_path, timeout=timeout_for(fault))

    assert server.count() <= len(FAULTED) * PER_DOCUMENT_BOUND + (DOCS - len(FAULTED))
    for doc_id, record in records.items():
        assert_usage_matches_server(record, server)
        if doc_id not in FAULTED:
            assert record.status is Status.OK and server.count(doc_id) == 1
            continue
        assert record.status is Status.FAILED and record.failure is not None
        assert record.failure.message
        assert record.failure.attempts == record.attempts == server.count(doc_id)
        assert server.count(doc_id) <= PER_DOCUMENT_BOUND
        if reason == "validation":  # the replies arrived, so their tokens were spent and counted
            assert record.usage.prompt_tokens > 0 and record.usage.completion_tokens > 0
        assert record.failure.reason == reason
        assert server.count(doc_id) == calls
    assert summary.failed == len(FAULTED) and summary.failures == {reason: len(FAULTED)}


TRANSIENT = [
    pytest.param(Fault.rate_limit(retry_after=0.01), id="http-429"),
    pytest.param(Fault.server_error(), id="http-500"),
    pytest.param(SLOW, id="slower-than-timeout"),
    pytest.param(Fault.drop(), id="dropped-connection"),
    pytest.param(Fault.schema_violation(), id="schema-violation"),
    pytest.param(Fault.truncated_body(), id="truncated-body"),
    pytest.param(Fault.not_json_body(), id="not-json-body"),
]


@pytest.mark.parametrize("fault", TRANSIENT)
def test_a_transient_fault_is_retried_into_an_ok_record(fault: Fault, tmp_path: Path) -> None:
    with FakeOpenAIServer(plan=first_attempts(1, fault)) as server:
        records, summary = run_batch(server, tmp_path, timeout=timeout_for(fault))

    assert summary.ok == DOCS and summary.failed == 0
    for doc_id, record in records.items():
        assert record.status is Status.OK and len(record.incidents) == 1
        assert server.count(doc_id) == 2  # the failed attempt and the good one, no more
        assert_usage_matches_server(record, server)
    assert server.fault_counts() == {fault.kind: DOCS}


def test_concurrency_keeps_that_many_requests_in_flight(tmp_path: Path) -> None:
    # The server answers nothing until CONCURRENCY requests wait at once: a runner that sent them one at a
    # time would show a peak of 1 (after the hold times out). How fast that goes is for benchmarks/ to say.
    with FakeOpenAIServer(hold_until=CONCURRENCY) as server:
        records, _ = run_batch(server, tmp_path)
    assert all(r.status is Status.OK for r in records.values()) and server.count() == DOCS
    assert server.peak_in_flight == CONCURRENCY


def test_seeded_random_faults_give_the_outcome_the_plan_dictates(tmp_path: Path) -> None:
    n = 12
    plan = chain(
        randomly(0.35, Fault.server_error(), seed=11),
        randomly(0.35, Fault.rate_limit(retry_after=0.0), seed=12),
    )

    def fate(doc_id: str) -> tuple[str | None, int]:
        """(failure reason or None, requests) for a document, worked out from the plan alone."""
        for attempt in range(1, POLICY.max_attempts + 1):
            fault = plan(RequestInfo(index=0, document=doc_id, attempt=attempt, body={}))
            if fault is None:
                return None, attempt
        return {"server_error": "server_error", "rate_limit": "rate_limited"}[fault.kind], POLICY.max_attempts

    expected = {doc_id: fate(doc_id) for doc_id in ids(n)}
    # The seeds were chosen so that the batch has both kinds of document; check they still do.
    assert any(reason for reason, _ in expected.values())
    assert any(reason is None and calls > 1 for reason, calls in expected.values())

    with FakeOpenAIServer(plan=plan) as server:
        records, _ = run_batch(server, tmp_path, n=n)
    for doc_id, (reason, calls) in expected.items():
        record = records[doc_id]
        assert server.count(doc_id) == calls
        assert (record.failure.reason if record.failure else None) == reason
        assert_usage_matches_server(record, server)


# -- Retry-After ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SleepRecordingPolicy(RetryPolicy):
    """A retry policy whose waits are recorded instead of slept."""

    slept: list[float] = field(default_factory=list)

    async def call(
        self,
        send: Callable[[], Awaitable[T]],
        *,
        on_attempt: Callable[[], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> T:
        async def record(seconds: float) -> None:
            self.slept.append(seconds)

        return await super().call(send, on_attempt=on_attempt, sleep=record)


@pytest.mark.parametrize(
    ("retry_after", "max_retry_after", "expected"),
    [
        pytest.param(0.2, 5.0, 0.2, id="fractional-seconds"),
        pytest.param(3, 5.0, 3.0, id="whole-seconds"),
        pytest.param(5, 5.0, 5.0, id="at-max-retry-after"),
    ],
)
def test_retry_after_is_what_the_retry_waits(
    retry_after: float, max_retry_after: float, expected: float, tmp_path: Path
) -> None:
    policy = SleepRecordingPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, max_retry_after=max_retry_after)
    with FakeOpenAIServer(plan=first_attempts(1, Fault.rate_limit(retry_after=retry_after))) as server:
        records, _ = run_batch(server, tmp_path, n=3, policy=policy)
    assert all(r.status is Status.OK for r in records.values())
    assert policy.slept == pytest.approx([expected] * 3)


def test_a_retry_after_longer_than_the_cap_fails_the_document_without_waiting(tmp_path: Path) -> None:
    """Waiting the cap and asking again used to hold each attempt for 120 s against a server asking for an hour."""
    policy = SleepRecordingPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, max_retry_after=0.1)
    with FakeOpenAIServer(plan=on_documents(FAULTED, Fault.rate_limit(retry_after=30))) as server:
        records, summary = run_batch(server, tmp_path, policy=policy)
        assert all(server.count(doc_id) == 1 for doc_id in FAULTED)
    assert policy.slept == [] and summary.failures == {"rate_limited": len(FAULTED)}
    for doc_id in FAULTED:
        failure = records[doc_id].failure
        assert failure is not None and "asked to wait 30 s, longer than the 0.1 s" in failure.message


def test_without_retry_after_the_policy_backs_off_on_its_own(tmp_path: Path) -> None:
    policy = SleepRecordingPolicy(max_attempts=3, base_delay=0.04, max_delay=1.0, max_retry_after=5.0)
    with FakeOpenAIServer(plan=first_attempts(2, Fault.rate_limit(retry_after=None))) as server:
        run_batch(server, tmp_path, n=3, policy=policy)
    assert len(policy.slept) == 6  # two waits per document
    assert all(0.0 <= s <= 0.08 for s in policy.slept)  # full jitter under 0.04 * 2 ** (attempt - 1)


def test_retry_after_delays_the_next_request_on_the_wire(tmp_path: Path) -> None:
    wait = 0.25
    policy = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0, max_retry_after=5.0)
    with FakeOpenAIServer(plan=first_attempts(1, Fault.rate_limit(retry_after=wait))) as server:
        run_batch(server, tmp_path, n=2, policy=policy)
        chat = server.chat_requests()
    for doc_id in ids(2):
        first, second = (r.received for r in chat if r.document == doc_id)
        assert second - first >= wait - 0.02  # how much later it came depends on the machine's load


# -- what a retry or re-ask sends ------------------------------------------------------------------


def _added_text(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    assert after[: len(before)] == before, "a re-ask keeps the conversation and appends to it"
    return " ".join(str(m.get("content") or "") + str(m.get("tool_calls") or "") for m in after[len(before) :])


@pytest.mark.parametrize("mode", [pytest.param("tools", id="tools"), pytest.param("json", id="json")])
def test_reasks_carry_the_validation_error_and_retries_repeat_the_request(mode: str, tmp_path: Path) -> None:
    # Attempt 1: wrong shape (re-ask); attempt 2: HTTP 500 (transport retry); attempt 3: fine.
    plan: Plan = chain(
        first_attempts(1, Fault.schema_violation()),
        lambda info: Fault.server_error() if info.attempt == 2 else None,
    )
    with FakeOpenAIServer(plan=plan) as server:
        records, _ = run_batch(server, tmp_path, n=3, mode=mode)
        chat = server.chat_requests()
    for doc_id, record in records.items():
        assert record.status is Status.OK and record.usage.requests == 3
        first, second, third = (r for r in chat if r.document == doc_id)
        assert (first.fault, second.fault, third.fault) == ("schema", "server_error", None)
        added = _added_text(first.messages, second.messages)
        assert "Extra inputs are not permitted" in added  # the validation error went back to the model
        assert "server error" not in added.lower() and "HTTP 500" not in added
        assert third.body == second.body  # a transport retry resends the same request, unchanged


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.server_error(), id="http-500"),
        pytest.param(Fault.rate_limit(retry_after=0.0), id="http-429"),
        pytest.param(Fault.drop(), id="dropped-connection"),
        pytest.param(SLOW, id="slower-than-timeout"),
    ],
)
def test_a_transport_retry_resends_the_first_request_unchanged(fault: Fault, tmp_path: Path) -> None:
    with FakeOpenAIServer(plan=first_attempts(1, fault)) as server:
        run_batch(server, tmp_path, n=3, timeout=timeout_for(fault))
        chat = server.chat_requests()
    for doc_id in ids(3):
        first, second = (r for r in chat if r.document == doc_id)
        assert first.fault == fault.kind and second.fault is None
        assert second.body == first.body


# -- the command line -----------------------------------------------------------------------------


def _cli_args(corpus: Path, out: Path, server: FakeOpenAIServer, *extra: str) -> list[str]:
    return [
        "run",
        str(corpus),
        "--backend",
        "openai",
        "--model",
        "fake",
        "--base-url",
        server.base_url,
        "--out",
        str(out),
        "--concurrency",
        "3",
        "--max-retries",
        "1",
        "--timeout",
        "5",
        "--quiet",
        "--no-show",
        *extra,
    ]


@pytest.mark.parametrize(
    ("extra", "code"),
    [pytest.param((), 1, id="failures-exit-1"), pytest.param(("--allow-failures",), 0, id="allowed-exit-0")],
)
def test_cli_exit_code_when_documents_fail(
    extra: tuple[str, ...], code: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", 6)
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(plan=on_documents(["doc-00002"], Fault.schema_violation())) as server:
        assert cli.main(_cli_args(corpus, out, server, "--no-cache", *extra)) == code
    failed = [r for r in read_run(out) if r.status is Status.FAILED]
    assert [r.id for r in failed] == ["doc-00002"] and failed[0].failure and failed[0].failure.reason == "validation"
    said = capsys.readouterr().out
    assert ("1 document(s) failed" in said) is (code == 1)


CAP = 64 * 1024


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(Fault.large_body(4 * CAP), id="large-body"),
        # 1 MiB of reply that travels as about 1 KB of gzip: the cap applies to the decoded body.
        pytest.param(Fault.gzip_body(16 * CAP), id="gzip-body-that-expands"),
    ],
)
def test_a_reply_larger_than_the_cap_fails_its_document_naming_the_limit(
    fault: Fault, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 300 MB body, and a 1 MB gzip body that expands to 1 GiB, used to be read whole (GBs of memory)."""
    corpus = write_corpus(tmp_path / "corpus.jsonl", 6)
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(plan=on_documents(FAULTED, fault)) as server:
        code = cli.main(_cli_args(corpus, out, server, "--no-cache", "--max-response-bytes", str(CAP)))
        # Not retried: the server would send the same body again.
        assert all(server.count(doc_id) == 1 for doc_id in ids(6))
    assert code == 1
    records = {r.id: r for r in read_run(out)}
    assert set(records) == ids(6)
    for doc_id, record in records.items():
        if doc_id not in FAULTED:
            assert record.status is Status.OK
            continue
        assert record.status is Status.FAILED and record.failure is not None
        assert record.failure.reason == "response_too_large"
        assert f"larger than {CAP:,} bytes" in record.failure.message
        assert "--max-response-bytes" in record.failure.message
    assert "failed: response_too_large" in capsys.readouterr().out


def test_the_default_cap_takes_a_reply_of_a_few_hundred_kilobytes(tmp_path: Path) -> None:
    with FakeOpenAIServer(plan=on_documents(FAULTED, Fault.gzip_body(16 * CAP))) as server:
        records, summary = run_batch(server, tmp_path)
    assert summary.ok == DOCS and all(r.status is Status.OK for r in records.values())


def test_cli_all_ok_exits_0(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", 4)
    with FakeOpenAIServer() as server:
        assert cli.main(_cli_args(corpus, tmp_path / "out.jsonl", server, "--no-cache")) == 0
        assert server.count() == 4


# -- the API key ----------------------------------------------------------------------------------

KEY = "sk-fake-7Qx9-DistinctiveTestKey-b41e"


def test_the_api_key_is_sent_but_never_written_or_printed(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", 6)
    cache, record = tmp_path / "cache", tmp_path / "record"
    # Faults on two documents, so that errors are reported on stdout/stderr and in failure records.
    plan = chain(
        on_documents(["doc-00001"], Fault.schema_violation()), on_documents(["doc-00003"], Fault.rate_limit(0))
    )
    env = {**os.environ, "OPENAI_API_KEY": KEY, "EXTRACT_CACHE_DIR": str(tmp_path / "default-cache")}
    outputs = []
    with FakeOpenAIServer(plan=plan, api_key=KEY) as server:
        for store in (("--cache-dir", str(cache)), ("--record", str(record))):
            out = tmp_path / f"out{len(outputs)}.jsonl"
            args = [sys.executable, "-m", "extract.cli", *_cli_args(corpus, out, server, *store)]
            done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 1, done.stderr  # two documents failed
            outputs += [done.stdout, done.stderr]
        assert server.requests and all(r.authorized for r in server.requests)  # the key was sent every time

    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".json", ".jsonl")]
    assert any(p.parent.parent == cache for p in files) and any(p.parent.parent == record for p in files)
    for path in files:
        assert KEY not in path.read_text(encoding="utf-8"), f"the API key leaked into {path}"
    for text in outputs:
        assert KEY not in text
    assert "document(s) failed" in outputs[0]  # the check reads real output
