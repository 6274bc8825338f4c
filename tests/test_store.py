"""The response store: cache hits make no calls, recordings replay offline, misses say why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extract.backends.mock import MockBackend, ReplayBackend
from extract.core.errors import ConfigError
from extract.core.pipeline import ExtractConfig, extract_document
from extract.core.prompts import PromptTemplate, load_prompt
from extract.core.records import Document, Status
from extract.store import CachingBackend, ResponseStore

TEXT = "Rebels shelled two districts of Aleppo on Monday, killing at least 28 civilians."
REPLY = {
    "incidents": [
        {
            "type": "shelling",
            "quote": "Rebels shelled two districts of Aleppo on Monday",
            "summary": "Rebel shelling of Aleppo killed at least 28 civilians.",
            "casualties": [
                {
                    "kind": "killed",
                    "count": 28,
                    "qualifier": "at_least",
                    "who": "civilians",
                    "quote": "at least 28 civilians",
                }
            ],
            "primary": True,
        }
    ]
}


def test_second_run_is_answered_from_the_cache(tmp_path: Path) -> None:
    inner = MockBackend([REPLY])
    cached = CachingBackend(inner, ResponseStore(tmp_path))
    first = extract_document(Document(id="d", text=TEXT), ExtractConfig(backend=cached))
    second = extract_document(Document(id="d", text=TEXT), ExtractConfig(backend=cached))
    assert len(inner.calls) == 1 and cached.hits == 1
    assert second.incidents == first.incidents
    assert second.usage.cached and second.usage.requests == 0 and second.usage.total_tokens == 0


def test_a_changed_document_misses_the_cache(tmp_path: Path) -> None:
    inner = MockBackend([REPLY, REPLY])
    cached = CachingBackend(inner, ResponseStore(tmp_path))
    extract_document(Document(id="d", text=TEXT), ExtractConfig(backend=cached))
    extract_document(Document(id="d", text=TEXT + " Dozens were wounded."), ExtractConfig(backend=cached))
    assert len(inner.calls) == 2


def test_validation_failures_are_cached_and_salvaged_the_same_way(tmp_path: Path) -> None:
    junk = {"incidents": [REPLY["incidents"][0], {"type": "bogus"}]}
    inner = MockBackend([junk, junk])
    cached = CachingBackend(inner, ResponseStore(tmp_path))
    cfg = ExtractConfig(backend=cached, max_retries=1)
    first = extract_document(Document(id="d", text=TEXT), cfg)
    second = extract_document(Document(id="d", text=TEXT), cfg)
    assert first.status is second.status is Status.PARTIAL
    assert second.incidents == first.incidents and len(second.rejected) == 1
    assert len(inner.calls) == 2  # both attempts of the first run; none in the second


def test_record_then_replay_without_the_model(tmp_path: Path) -> None:
    recorder = CachingBackend(MockBackend([REPLY], model="some-model"), ResponseStore(tmp_path))
    recorded = extract_document(Document(id="d", text=TEXT), ExtractConfig(backend=recorder))
    replay = ReplayBackend(ResponseStore(tmp_path))
    replayed = extract_document(Document(id="d", text=TEXT), ExtractConfig(backend=replay))
    assert replayed.incidents == recorded.incidents
    assert replayed.provenance.model == "replay:some-model"
    assert replayed.usage.cached and replayed.usage.prompt_tokens == recorded.usage.prompt_tokens


def test_replay_of_a_changed_prompt_is_a_miss_that_says_what_to_do(tmp_path: Path) -> None:
    recorder = CachingBackend(MockBackend([REPLY]), ResponseStore(tmp_path))
    extract_document(Document(id="d", text=TEXT), ExtractConfig(backend=recorder))
    base = load_prompt()
    changed = PromptTemplate(
        name=base.name, system=base.system + "\nBe brief.", user=base.user, hash="changed", path=base.path
    )
    result = extract_document(
        Document(id="d", text=TEXT), ExtractConfig(backend=ReplayBackend(ResponseStore(tmp_path)), prompt=changed)
    )
    assert result.status is Status.FAILED and result.failure is not None
    assert result.failure.reason == "replay_miss" and "--record" in result.failure.message


def test_a_store_holds_one_model_only(tmp_path: Path) -> None:
    CachingBackend(MockBackend([REPLY], model="a"), ResponseStore(tmp_path))
    with pytest.raises(ConfigError, match="another model"):
        CachingBackend(MockBackend([REPLY], model="b"), ResponseStore(tmp_path))


def test_replay_needs_a_manifest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a recording"):
        ReplayBackend(ResponseStore(tmp_path))


def test_store_entries_hold_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-0123456789")
    recorder = CachingBackend(MockBackend([REPLY]), ResponseStore(tmp_path))
    extract_document(Document(id="d", text=TEXT), ExtractConfig(backend=recorder))
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == 2  # manifest + one response
    for path in files:
        assert "SECRET" not in path.read_text()
        json.loads(path.read_text())
