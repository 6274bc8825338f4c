"""The openai backend against a fake OpenAI-compatible server on 127.0.0.1: modes, usage, and clear errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from extract import cli
from extract.api import make_backend
from extract.backends.openai_compat import OpenAIBackend
from extract.core.aio import run_sync
from extract.core.backend import Completion, CompletionRequest
from extract.core.errors import ConfigError, ConnectionFailed
from extract.core.pipeline import ExtractConfig
from extract.core.schema import Extraction
from extract.io.corpus import open_corpus
from extract.io.output import read_run
from extract.runner import run
from extract.testing import FakeOpenAIServer, Fault, always, doc_marker, first_attempts, write_corpus
from extract.transport import RetryPolicy
from tests.conftest import completion_request

pytestmark = pytest.mark.server

FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, max_retry_after=0.05)
TEXT = (
    f"Shelling hit the outskirts of Hama on Monday, killing five civilians. Monitors confirmed it. {doc_marker('d1')}"
)


def request(max_retries: int = 2) -> CompletionRequest:
    return completion_request(TEXT, "d1", max_retries)


def complete(backend: OpenAIBackend, req: CompletionRequest) -> Completion:
    return run_sync(backend.complete(req))


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# (mode, what the request must carry for it)
MODES = [
    pytest.param("tools", "tools", id="tools"),
    pytest.param("json", "json_object", id="json"),
    pytest.param("json_schema", "json_schema", id="json_schema"),
]


@pytest.mark.parametrize(("mode", "marker"), MODES)
def test_each_mode_gives_a_valid_completion(mode: str, marker: str) -> None:
    with FakeOpenAIServer() as server:
        backend = OpenAIBackend("fake", base_url=server.base_url, mode=mode, timeout=5, retry=FAST)
        done = complete(backend, request())
        (sent,) = server.chat_requests()
    assert isinstance(done.parsed, Extraction) and len(done.parsed.incidents) == 1
    assert done.parsed.incidents[0].quote == "Shelling hit the outskirts of Hama on Monday, killing five civilians."
    assert done.attempts == 1 and done.usage.requests == 1 and done.model == "fake"
    body: dict[str, Any] = sent.body or {}
    if marker == "tools":
        assert body.get("tools") and "response_format" not in body
    else:
        assert body.get("response_format", {}).get("type") == marker and not body.get("tools")
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == server.usage_sent("d1")


@pytest.mark.parametrize(("mode", "marker"), MODES)
def test_usage_is_summed_across_reasks(mode: str, marker: str) -> None:
    with FakeOpenAIServer(plan=first_attempts(1, Fault.schema_violation())) as server:
        backend = OpenAIBackend("fake", base_url=server.base_url, mode=mode, timeout=5, retry=FAST)
        done = complete(backend, request())
        first, second = server.chat_requests()
    assert done.attempts == 2 and done.usage.requests == 2 and len(done.errors) == 1
    assert (first.fault, second.fault) == ("schema", None)
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == server.usage_sent("d1")
    # Both requests count, the first (whose reply failed validation) as well as the re-ask.
    assert done.usage.prompt_tokens == _prompt_tokens(first.messages) + _prompt_tokens(second.messages)


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    # The fake server's own rule: a token per four characters of message content, plus one.
    return sum(len(str(m.get("content") or "")) for m in messages) // 4 + 1


def test_one_backend_serves_two_batches(tmp_path: Path) -> None:
    corpus = write_corpus(tmp_path / "corpus.jsonl", 4)
    with FakeOpenAIServer() as server:
        backend = OpenAIBackend("fake", base_url=server.base_url, timeout=5, retry=RetryPolicy(max_attempts=1))
        for k in range(2):
            summary = run(open_corpus(str(corpus)), ExtractConfig(backend=backend), tmp_path / f"out{k}.jsonl")
            assert summary.failed == 0, [r.failure for r in read_run(tmp_path / f"out{k}.jsonl") if r.failure]
        assert server.count() == 8


# -- unreachable endpoint ---------------------------------------------------------------------------


def test_check_names_an_unreachable_url_in_one_line() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    backend = OpenAIBackend("fake", base_url=url, timeout=2, retry=FAST)
    with pytest.raises(ConfigError) as caught:
        run_sync(backend.check())
    message = str(caught.value)
    assert url in message and "\n" not in message


def test_a_request_to_an_unreachable_url_is_a_connection_failure_after_the_retries() -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    backend = OpenAIBackend("fake", base_url=url, timeout=2, retry=FAST)
    with pytest.raises(ConnectionFailed) as caught:
        complete(backend, request())
    assert url in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.attempts == FAST.max_attempts and caught.value.reason == "connection"


def test_cli_unreachable_url_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v1"
    corpus = write_corpus(tmp_path / "corpus.jsonl", 2)
    args = ["run", str(corpus), "--backend", "openai", "--model", "fake", "--base-url", url, "--no-cache"]
    assert cli.main([*args, "--out", str(tmp_path / "out.jsonl")]) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert err.startswith("extract: error:") and url in err and len(err.splitlines()) == 1


# -- refused key ------------------------------------------------------------------------------------


def test_cli_refused_key_exits_2_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    corpus = write_corpus(tmp_path / "corpus.jsonl", 3)
    with FakeOpenAIServer(api_key="sk-right") as server:
        args = ["run", str(corpus), "--backend", "openai", "--model", "fake", "--base-url", server.base_url]
        code = cli.main([*args, "--no-cache", "--out", str(tmp_path / "out.jsonl")])
        assert server.count() == 0  # refused at the check, before the batch
    err = capsys.readouterr().err.strip()
    assert code == cli.EXIT_ERROR
    assert len(err.splitlines()) == 1 and "401" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def refused_mid_batch(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], int, Path]:
    """The CLI in a subprocess against a server whose /models answers but whose chat endpoint says 401."""
    tmp = tmp_path_factory.mktemp("refused")
    corpus = write_corpus(tmp / "corpus.jsonl", 12)
    out = tmp / "out.jsonl"
    with FakeOpenAIServer(plan=always(Fault.http_error(401, "Incorrect API key provided."))) as server:
        args = ["run", str(corpus), "--backend", "openai", "--model", "fake", "--base-url", server.base_url]
        args += ["--out", str(out), "--no-cache", "--concurrency", "3", "--quiet"]
        done = subprocess.run(
            [sys.executable, "-m", "extract.cli", *args], capture_output=True, text=True, timeout=120, env=os.environ
        )
        calls = server.count()
    return done, calls, out


def test_a_401_mid_batch_stops_the_batch_with_exit_2(
    refused_mid_batch: tuple[subprocess.CompletedProcess[str], int, Path],
) -> None:
    done, calls, out = refused_mid_batch
    assert done.returncode == cli.EXIT_ERROR
    assert calls <= 3  # one refused request per document in flight, then the run stops
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("extract: error:") and "401" in last
    assert not out.exists() or list(read_run(out)) == []  # nothing was extracted, nothing recorded as failed


def test_a_401_mid_batch_prints_only_one_line(
    refused_mid_batch: tuple[subprocess.CompletedProcess[str], int, Path],
) -> None:
    done, _, _ = refused_mid_batch
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


# -- missing key --------------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record (and refuse) every connection attempt and name lookup."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network use in a test that must make none")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


@pytest.mark.parametrize(
    ("base_url", "variable"),
    [
        pytest.param("https://llm.example.com/v1", "EXTRACT_TEST_MISSING_KEY", id="remote-url-custom-variable"),
        pytest.param(None, "OPENAI_API_KEY", id="openai-default"),
    ],
)
def test_a_missing_key_for_a_remote_url_is_a_config_error_naming_the_variable(
    base_url: str | None, variable: str, no_network: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ConfigError) as caught:
        make_backend("openai", "some-model", options={"base_url": base_url, "api_key_env": variable}, cache=False)
    assert variable in str(caught.value) and "\n" not in str(caught.value)
    assert no_network == []


def test_cli_missing_key_exits_2_naming_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_network: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EXTRACT_TEST_MISSING_KEY", raising=False)
    corpus = write_corpus(tmp_path / "corpus.jsonl", 2)
    args = ["run", str(corpus), "--backend", "openai", "--model", "m", "--base-url", "https://llm.example.com/v1"]
    args += ["--api-key-env", "EXTRACT_TEST_MISSING_KEY", "--no-cache", "--out", str(tmp_path / "out.jsonl")]
    assert cli.main(args) == cli.EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert "EXTRACT_TEST_MISSING_KEY" in err and len(err.splitlines()) == 1
    assert no_network == []


def test_a_loopback_url_needs_no_key() -> None:
    with FakeOpenAIServer() as server:
        backend = OpenAIBackend("fake", base_url=server.base_url, timeout=5, retry=FAST)
        run_sync(backend.check())
        assert complete(backend, request()).parsed is not None


def test_credentials_in_a_remote_url_stand_for_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """They are what is sent (HTTP Basic auth, in place of the key), so no key variable is asked for."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    backend = OpenAIBackend("m", base_url="https://bob:s3cret-pass@llm.example.org/v1")
    assert backend.endpoint == "https://llm.example.org/v1" and "s3cret-pass" in backend.secrets()
    with pytest.raises(ConfigError, match="the variable OPENAI_API_KEY is not set"):
        OpenAIBackend("m", base_url="https://llm.example.org/v1")


def test_the_fake_server_runs_in_its_own_process_and_reports_counts() -> None:
    command = [sys.executable, "-m", "extract.testing.fake_server", "--latency", "0.01"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        backend = OpenAIBackend("fake", base_url=url, timeout=5, retry=FAST)
        assert complete(backend, request()).parsed is not None
        with urllib.request.urlopen(url.removesuffix("/v1") + "/_fake/stats", timeout=5) as response:
            stats = json.load(response)
        assert stats["requests"] == 1 and stats["by_document"] == {"d1": 1}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Warning" not in err
