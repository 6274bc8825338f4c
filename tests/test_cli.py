"""The command line: bad input gets one clear line, and one bad document never stops a batch."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from extract.cli import main


def _records(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "good.txt").write_text(
        "Rebels shelled Aleppo on Monday, killing at least 28 civilians.", encoding="utf-8"
    )
    return folder


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["--backend", "nope"], "unknown backend 'nope' (choose one of local, mock, openai)", id="unknown-backend"
        ),
        pytest.param(
            ["--backend", "openai", "--model", "m", "--base-url", "https://llm.example.org/v1"],
            "no API key: the variable OPENAI_API_KEY is not set",
            id="missing-api-key",
        ),
        pytest.param(
            ["--backend", "openai", "--model", "m", "--api-key-env", "MY_KEY"],
            "the variable MY_KEY is not set",
            id="missing-named-key",
        ),
        pytest.param(["--backend", "mock", "--mode", "yaml"], "unknown instructor mode 'yaml'", id="unknown-mode"),
        pytest.param(
            ["--backend", "local", "--model", "/no/such/model.gguf"], "model file not found", id="missing-gguf"
        ),
        pytest.param(
            ["--prompt", "nope", "--backend", "mock"], "prompt template 'nope' not found", id="missing-prompt"
        ),
        pytest.param(
            ["--backend", "openai", "--model", "m", "--threads", "4"],
            "--threads applies to the local backend only, not to openai",
            id="option-of-another-backend",
        ),
        pytest.param(
            ["--backend", "mock", "--base-url", "http://127.0.0.1:1/v1"],
            "--base-url applies to the openai backend only, not to mock",
            id="base-url-for-mock",
        ),
        pytest.param(
            ["--backend", "mock", "--max-tokens", "0"],
            "--max-tokens: Input should be greater than or equal to 1 (got 0)",
            id="max-tokens-zero",
        ),
        pytest.param(
            ["--backend", "openai", "--model", "m", "--timeout", "-1"],
            "--timeout: Input should be greater than 0",
            id="negative-timeout",
        ),
    ],
)
def test_configuration_errors_are_one_line_with_exit_2(
    args: list[str], expected: str, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", str(corpus), "--out", str(tmp_path / "out.jsonl"), *args])
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2
    assert line.startswith("extract: error: ") and expected in line


def test_unreachable_endpoint_is_one_line(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    code = main(
        [
            "run",
            str(corpus),
            "--backend",
            "openai",
            "--model",
            "m",
            "--base-url",
            url,
            "--out",
            str(tmp_path / "o.jsonl"),
        ]
    )
    line = _one_error_line(capsys.readouterr().err)
    assert code == 2 and f"cannot reach {url}" in line and "--base-url" in line


def test_missing_corpus_and_missing_text_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nowhere"), "--backend", "mock"]) == 2
    assert "nowhere" in _one_error_line(capsys.readouterr().err)
    csv = tmp_path / "data.csv"
    csv.write_text("id,body\n1,Rebels shelled Aleppo.\n", encoding="utf-8")
    assert main(["run", str(csv), "--backend", "mock", "--out", str(tmp_path / "o.jsonl")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "data.csv" in line and "'text'" in line and "--text-field" in line


def test_bad_documents_become_failure_records_and_the_batch_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "articles.jsonl"
    lines = [
        json.dumps({"id": "a", "text": "Rebels shelled Aleppo on Monday."}),
        "{not json",
        json.dumps({"id": "empty", "text": "   "}),
        json.dumps({"id": "notext"}),
        json.dumps({"id": "huge", "text": "Shelling. " * 110_000}),
        json.dumps({"id": "b", "text": "A Russian Mi-8 helicopter was shot down over Idlib."}),
    ]
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "run.jsonl"
    code = main(["run", str(data), "--backend", "mock", "--model", "echo", "--out", str(out)])
    assert code == 1  # some documents failed
    records = _records(out)
    assert len(records) == 6
    assert records["a"]["status"] == records["b"]["status"] == "ok"
    failures = {
        k: (r["failure"]["reason"], r["failure"]["message"]) for k, r in records.items() if r["status"] == "failed"
    }
    assert failures["empty"][0] == "empty"
    assert failures["huge"][0] == "too_long" and "--max-chars" in failures["huge"][1]
    assert failures["articles:2"][0] == "bad_input"
    assert (
        failures["articles:2"][1]
        == f"{data}:2: not JSON (Expecting property name enclosed in double quotes at column 2)"
    )
    assert failures["notext"] == ("bad_input", f"{data}:4: no field 'text' (fields: id)")
    out_text = capsys.readouterr().out
    assert "4 document(s) failed" in out_text
    # the same run with --allow-failures exits 0 and, resuming, makes no new call
    assert main(["run", str(data), "--backend", "mock", "--model", "echo", "--out", str(out), "--allow-failures"]) == 0
    assert len(out.read_text().splitlines()) == 6


def test_binary_and_non_utf8_files_in_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "ok.txt").write_text("Rebels shelled Aleppo on Monday.", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("Alep bombardée le lundi.".encode("latin-1"))
    (folder / "blob.txt").write_bytes(bytes(range(256)) * 4)
    out = tmp_path / "run.jsonl"
    assert (
        main(["run", str(folder), "--backend", "mock", "--model", "echo", "--out", str(out), "--allow-failures"]) == 0
    )
    records = _records(out)
    assert records["ok"]["status"] == "ok"
    for name in ("latin1", "blob"):
        failure = records[name]["failure"]
        assert records[name]["status"] == "failed" and failure["reason"] == "bad_input"
        assert f"{name}.txt" in failure["message"] or name in records[name]["id"]


def test_cost_estimate_in_the_run_summary_and_in_eval(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"mock-echo": {"input": 1.0, "output": 2.0}}))
    out = tmp_path / "run.jsonl"
    assert (
        main(["run", str(corpus), "--backend", "mock", "--model", "echo", "--out", str(out), "--prices", str(prices)])
        == 0
    )
    record = next(iter(_records(out).values()))
    expected = (record["usage"]["prompt_tokens"] * 1.0 + record["usage"]["completion_tokens"] * 2.0) / 1e6
    assert f"${expected:.4f}" in capsys.readouterr().out
    gold = tmp_path / "gold"  # the corpus's one article, with no incident
    (gold / "labels").mkdir(parents=True)
    (gold / "labels" / "good.json").write_text('{"id": "good", "incidents": []}', encoding="utf-8")
    shutil.copytree(corpus, gold / "articles")
    summary = tmp_path / "summary.json"
    assert main(["eval", "--gold", str(gold), "--pred", str(out), "--prices", str(prices), "--json", str(summary)]) == 0
    assert json.loads(summary.read_text())["cost"] == pytest.approx(expected, abs=1e-6)


def test_price_table_without_the_model_is_a_config_error(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"gpt-x": {"input": 1.0, "output": 2.0}}))
    code = main(["run", str(corpus), "--backend", "mock", "--out", str(tmp_path / "o.jsonl"), "--prices", str(prices)])
    assert code == 2 and "no prices for model 'mock-empty'" in _one_error_line(capsys.readouterr().err)


def test_gold_validate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from tests.conftest import GOLD

    assert main(["gold", "validate", str(GOLD)]) == 0
    assert "gold labels valid" in capsys.readouterr().out
    broken = tmp_path / "gold"
    shutil.copytree(GOLD, broken)
    label = broken / "labels" / "000_992d4656b890393e.json"
    label.write_text(label.read_text().replace("a Sukhoi 25 jet, is used", "a Sukhoi-25 fighter, is used", 1))
    assert main(["gold", "validate", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "000_992d4656b890393e" in out and "aircraft[0]" in out
    assert out.strip().endswith(f"1 problem(s) in {broken}")


def test_retry_failed_extracts_only_the_failed_documents_again(tmp_path: Path) -> None:
    data = tmp_path / "docs.jsonl"
    data.write_text(
        json.dumps({"id": "a", "text": "Rebels shelled Aleppo on Monday."})
        + "\n"
        + json.dumps({"id": "b", "text": " "})
        + "\n"
    )
    out = tmp_path / "run.jsonl"
    assert main(["run", str(data), "--backend", "mock", "--model", "echo", "--out", str(out)]) == 1
    data.write_text(
        json.dumps({"id": "a", "text": "Rebels shelled Aleppo on Monday."})
        + "\n"
        + json.dumps({"id": "b", "text": "A helicopter was shot down over Idlib."})
        + "\n"
    )
    # a plain resume skips both; --retry-failed redoes b only and appends its new record
    assert main(["run", str(data), "--backend", "mock", "--model", "echo", "--out", str(out)]) == 1
    assert len(out.read_text().splitlines()) == 2
    assert main(["run", str(data), "--backend", "mock", "--model", "echo", "--out", str(out), "--retry-failed"]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["id"], r["status"]) for r in lines] == [("a", "ok"), ("b", "failed"), ("b", "ok")]
    assert _records(out)["b"]["status"] == "ok"  # the later record wins


def test_a_backend_from_an_entry_point_is_chosen_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An installed distribution (as pip would leave it) that declares a backend, and nothing else.
    package = tmp_path / "site"
    (package / "echo_plugin").mkdir(parents=True)
    (package / "echo_plugin" / "__init__.py").write_text(
        "from extract.backends import BackendSpec, BackendOptions\n"
        "from extract.backends.mock import MockBackend\n"
        "class EchoOptions(BackendOptions):\n"
        "    shout: bool = False\n"
        "def build(options, retry, limiter):\n"
        "    return MockBackend('echo', model='plugin')\n"
        "SPEC = BackendSpec('echo-plugin', EchoOptions, build)\n",
        encoding="utf-8",
    )
    info = package / "echo_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[incident_extract.backends]\necho-plugin = echo_plugin:SPEC\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(package))
    out = tmp_path / "out.jsonl"
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": "a", "text": "Rebels shot down a jet near Saraqeb."}) + "\n", encoding="utf-8")
    assert main(["run", str(corpus), "--backend", "echo-plugin", "--out", str(out), "--no-cache"]) == 0
    record = _records(out)["a"]
    assert record["provenance"]["model"] == "plugin" and record["status"] == "ok"
    # its own options are typed like the built-in ones
    assert main(["run", str(corpus), "--backend", "echo-plugin", "--threads", "2", "--out", str(out)]) == 2
    assert "--threads applies to the local backend only, not to echo-plugin" in capsys.readouterr().err
