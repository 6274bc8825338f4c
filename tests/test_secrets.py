"""The API key and URL credentials never reach a message, a failure record, a Parquet row or a log line."""

from __future__ import annotations

import gc
import json
import logging
import socket
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from extract.backends.openai_compat import OpenAIBackend
from extract.cli import main
from extract.core.secrets import REDACTED, redact, url_secrets
from extract.testing.fake_server import FakeOpenAIServer
from extract.testing.faults import Fault, always

KEY = "sk-test-9f8e7d6c5b4a39281706"
PASSWORD = "hunter2-Secret-77"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    rows = [{"id": f"d{k}", "text": f"Shelling killed {k + 2} people in the village on Monday."} for k in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# -- the one function -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secrets", "kept"),
    [
        pytest.param(f"the key {KEY} was refused", [KEY], "the key [redacted] was refused", id="key"),
        pytest.param(
            f"cannot reach http://bob:{PASSWORD}@10.0.0.1:8000/v1: refused", [],
            "cannot reach http://[redacted]@10.0.0.1:8000/v1: refused", id="userinfo",
        ),
        pytest.param(
            "GET https://h.example/v1?api_key=abc123&x=1 failed", [],
            "GET https://h.example/v1?api_key=[redacted]&x=1 failed",
            id="query-key",
        ),
        pytest.param("Authorization: Bearer abcdefgh12345678", [], "Authorization: Bearer [redacted]", id="bearer"),
        pytest.param("nothing secret here", [KEY], "nothing secret here", id="clean"),
        pytest.param("a short key ab", ["ab"], "a short key ab", id="too-short-to-redact"),
    ],
)  # fmt: skip
def test_redact(text: str, secrets: list[str], kept: str) -> None:
    assert redact(text, secrets) == kept


def test_url_secrets_finds_the_password_and_key_parameters() -> None:
    found = url_secrets(f"http://bob:{PASSWORD}@h.example/v1?token=t0k3n-value&x=1")
    assert PASSWORD in found and "t0k3n-value" in found and "bob" not in found


# -- every path -----------------------------------------------------------------------------------------------------


def test_a_server_error_that_echoes_the_key_reaches_no_record_or_parquet_row(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MY_KEY", KEY)
    out, parquet = tmp_path / "out.jsonl", tmp_path / "out.parquet"
    plan = always(Fault.http_error(400, f"Invalid request. Your key {KEY} is not allowed this model."))
    with FakeOpenAIServer(api_key=KEY, plan=plan) as server:
        base = server.base_url.replace("127.0.0.1", "localhost")
        code = main(
            ["run", str(corpus), "--backend", "openai", "--base-url", base, "--model", "m",
             "--api-key-env", "MY_KEY", "--out", str(out), "--parquet", str(parquet), "--no-cache", "--show"]
        )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 3 and all(r["status"] == "failed" for r in records)
    assert all(REDACTED in r["failure"]["message"] for r in records)
    assert KEY not in out.read_text(encoding="utf-8")
    rows = pq.read_table(parquet).to_pylist()
    assert len(rows) == 3 and KEY not in json.dumps(rows)
    assert KEY not in captured.out + captured.err


def test_a_404_that_echoes_the_key_stops_the_run_with_a_redacted_line(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MY_KEY", KEY)
    plan = always(Fault.http_error(404, f"model m not found for key {KEY}"))
    with FakeOpenAIServer(api_key=KEY, plan=plan) as server:
        code = main(
            ["run", str(corpus), "--backend", "openai", "--base-url", server.base_url, "--model", "m",
             "--api-key-env", "MY_KEY", "--out", str(tmp_path / "o.jsonl"), "--no-cache"]
        )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert KEY not in err and REDACTED in err and len(err.strip().splitlines()) == 1


def test_credentials_in_the_base_url_are_not_printed(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://bob:{PASSWORD}@127.0.0.1:{_closed_port()}/v1"
    code = main(
        [
            "run",
            str(corpus),
            "--backend",
            "openai",
            "--base-url",
            url,
            "--model",
            "m",
            "--out",
            str(tmp_path / "o.jsonl"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert PASSWORD not in err and "cannot reach" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("tail", [pytest.param("?api_key={pw}", id="query-key"), pytest.param("#{pw}", id="fragment")])
def test_a_key_in_the_base_url_query_is_refused_in_one_line_without_echoing_it(
    tail: str, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to reach the server as POST /v1?api_key=.../chat/completions: a 404 "no route POST /v1"."""
    with FakeOpenAIServer() as server:
        code = main(
            ["run", str(corpus), "--backend", "openai", "--base-url", server.base_url + tail.format(pw=PASSWORD),
             "--model", "m", "--out", str(tmp_path / "o.jsonl"), "--no-cache"]
        )  # fmt: skip
        assert server.requests == []
    err = capsys.readouterr().err
    assert code == 2 and PASSWORD not in err and len(err.strip().splitlines()) == 1
    assert "--base-url has a query string or fragment" in err and "--api-key-env" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_credentials_in_the_base_url_reach_no_failure_record(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    plan = always(Fault.http_error(400, "bad request"))
    with FakeOpenAIServer(plan=plan) as server:
        url = server.base_url.replace("http://", f"http://bob:{PASSWORD}@")
        backend = OpenAIBackend("m", base_url=url)
        assert PASSWORD not in repr(backend)
        from extract import api

        api.run_corpus(corpus, out=out, backend=backend)
    text = out.read_text(encoding="utf-8")
    assert PASSWORD not in text and text.count('"failed"') == 3


@pytest.mark.parametrize(
    "value", [pytest.param(KEY, id="sk-key"), pytest.param("AbCdEf0123456789AbCdEf0123456789xyzw", id="bare-token")]
)
def test_a_key_given_to_api_key_env_is_refused_without_echoing_it(
    value: str, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["run", str(corpus), "--backend", "openai", "--base-url", "https://llm.example.org/v1", "--model", "m",
         "--api-key-env", value, "--out", str(tmp_path / "o.jsonl")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert value not in err
    assert "--api-key-env takes the name of an environment variable" in err and len(err.strip().splitlines()) == 1


def test_a_variable_name_is_still_named_when_unset(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["run", str(corpus), "--backend", "openai", "--base-url", "https://llm.example.org/v1", "--model", "m",
          "--api-key-env", "MY_KEY", "--out", str(tmp_path / "o.jsonl")])  # fmt: skip
    assert "the variable MY_KEY is not set" in capsys.readouterr().err


def test_log_lines_are_redacted(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The openai client logs error bodies at DEBUG; with logging on, the key must not reach a handler."""
    monkeypatch.setenv("MY_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    plan = always(Fault.http_error(400, f"Invalid request. Your key {KEY} is not allowed."))
    with FakeOpenAIServer(api_key=KEY, plan=plan) as server:
        url = server.base_url.replace("http://", f"http://bob:{PASSWORD}@")
        main(
            ["run", str(corpus), "--backend", "openai", "--base-url", url, "--model", "m", "--transport", "sdk",
             "--api-key-env", "MY_KEY", "--out", str(tmp_path / "o.jsonl"), "--no-cache"]
        )  # fmt: skip
        logging.getLogger("extract.test").warning("direct: %s and %s", KEY, url)
    during = [r for r in caplog.records if r.name != "extract.test"]
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in during)
    assert any(REDACTED in r.getMessage() for r in during), "no log line quoted the error: the test would prove nothing"
    assert KEY not in logged and PASSWORD not in logged
    # Only while the command runs: a log line after it is the caller's business.
    assert any(KEY in r.getMessage() for r in caplog.records if r.name == "extract.test")


def test_log_lines_of_a_library_run_are_redacted(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from extract import api

    monkeypatch.setenv("MY_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    plan = always(Fault.http_error(400, f"Invalid request. Your key {KEY} is not allowed."))
    with FakeOpenAIServer(api_key=KEY, plan=plan) as server:
        summary = api.run_corpus(
            corpus, out=tmp_path / "o.jsonl", backend="openai", model="m", cache=False,
            backend_options={"base_url": server.base_url, "api_key_env": "MY_KEY"},
        )  # fmt: skip
    assert summary.failed == 3
    messages = [r.getMessage() for r in caplog.records]
    assert any("[redacted]" in m for m in messages), "no log line quoted the error: the test would prove nothing"
    assert not [m for m in messages if KEY in m]


def test_a_ray_actor_redacts_its_log_lines_while_it_lives_and_leaves_the_handlers_as_they_were(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Ray keeps an actor's log lines in its worker logs: the backend's key is redacted there too."""
    pytest.importorskip("ray", reason="needs the ray extra")
    from extract.engines.config import RunConfig
    from extract.engines.ray import ExtractActor

    monkeypatch.setenv("MY_KEY", KEY)
    caplog.set_level(logging.INFO)
    before = [list(h.filters) for h in logging.getLogger().handlers]
    with FakeOpenAIServer(api_key=KEY) as server:
        options = {"base_url": server.base_url, "api_key_env": "MY_KEY"}
        config = RunConfig.from_options(backend="openai", model="fake", backend_options=options, cache=False)
        actor = ExtractActor(config, done=[])
        logging.getLogger("extract.test").warning("the endpoint refused key %s", KEY)
        actor.close()
    logging.getLogger("extract.test").warning("after the actor: %s", KEY)
    during, after = (r.getMessage() for r in caplog.records if r.name == "extract.test")
    assert KEY not in during and REDACTED in during
    assert KEY in after  # the filter went with the actor
    assert [list(h.filters) for h in logging.getLogger().handlers] == before
    assert gc.get_freeze_count() == 0  # the heap the actor froze is thawed when it closes
