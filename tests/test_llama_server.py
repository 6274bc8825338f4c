"""End to end against a real OpenAI-compatible server: llama_cpp.server with the bundled model.

The fixture starts the server on a free 127.0.0.1 port and stops it afterwards.
The model is tiny, so these tests check the plumbing (request, grammar-constrained
tool call, validation, usage, output record), not the quality of its answers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from extract.backends.local import signal_name
from extract.backends.openai_compat import OpenAIBackend
from extract.core.aio import run_sync
from extract.core.pipeline import ExtractConfig, extract_document
from extract.core.records import Document, DocumentResult, Status

pytestmark = [pytest.mark.server, pytest.mark.slow]

ARTICLE = (
    "Syrian rebels shot down a Russian Su-25 jet near Saraqeb in Idlib province on Saturday. The pilot was killed."
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]

    def check_alive(self) -> None:
        """Fail the test with how the server ended, if it died (a native crash shows here, not as a timeout)."""
        code = self.proc.poll()
        if code is not None:
            pytest.fail(f"llama_cpp.server died during the test ({signal_name(code)})", pytrace=False)


@pytest.fixture(scope="module")
def llama_server() -> Iterator[Server]:
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server] (pip install -e '.[dev]')")
    from extract.backends.local import bundled_model_path

    port = _free_port()
    log = open(os.devnull, "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(bundled_model_path()), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "4096", "--model_alias", "gemma-3-270m", "--seed", "0"],
        stdout=log, stderr=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server ended before it was ready ({signal_name(proc.returncode)})")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server was not ready within 120 s")
            time.sleep(0.5)
        yield Server(base, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _check_record(result: DocumentResult) -> None:
    assert result.provenance.backend == "openai" and result.provenance.model == "gemma-3-270m"
    # usage is what the server reported, not an estimate
    assert result.usage.requests >= 1 and result.usage.prompt_tokens > 20 and result.usage.completion_tokens > 0
    if result.status is Status.FAILED:
        assert result.failure is not None and result.failure.reason == "validation"
    else:
        # every kept incident passed validation and has a grounding verdict for each quote
        paths = {span.path for span in result.evidence}
        assert all(f"incidents[{k}]" in paths for k in range(len(result.incidents)))


def test_openai_backend_against_llama_cpp_server(llama_server: Server) -> None:
    backend = OpenAIBackend("gemma-3-270m", base_url=llama_server.base, mode="tools", max_tokens=300)
    run_sync(backend.check())
    result = extract_document(Document(id="su25", text=ARTICLE), ExtractConfig(backend=backend, max_retries=1))
    llama_server.check_alive()
    _check_record(result)


def test_cli_run_against_llama_cpp_server(llama_server: Server, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "su25.txt").write_text(ARTICLE, encoding="utf-8")
    (corpus / "empty.txt").write_text("   \n", encoding="utf-8")
    out = tmp_path / "run.jsonl"
    env = {**os.environ, "EXTRACT_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("OPENAI_API_KEY", None)  # loopback endpoints need no key
    proc = subprocess.run(
        [sys.executable, "-m", "extract.cli", "run", str(corpus), "--backend", "openai",
         "--base-url", llama_server.base, "--model", "gemma-3-270m", "--max-tokens", "300", "--max-retries", "1",
         "--out", str(out)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    llama_server.check_alive()
    assert proc.returncode == 1, proc.stderr  # the empty document is a failure, so the exit code says so
    assert "Traceback" not in proc.stderr
    records = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == {"su25", "empty"}
    assert records["empty"]["status"] == "failed" and records["empty"]["failure"]["reason"] == "empty"
    _check_record(DocumentResult.model_validate(records["su25"]))
    assert "Run summary" in proc.stdout


def test_a_server_that_died_fails_its_test_with_how_it_ended() -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    dead = Server("http://127.0.0.1:9/v1", subprocess.Popen([sys.executable, "-c", code]))
    dead.proc.wait()
    with pytest.raises(pytest.fail.Exception, match=r"llama_cpp.server died during the test \(SIGSEGV\)"):
        dead.check_alive()
