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
    recorder = CachingBackend(MockBackend([REPLY], model="some-model"), ResponseStore(tmp_path), recording=True)
    recorded = extract_document(Document(id="d", text=TEXT), ExtractConfig(backend=recorder))
    replay = ReplayBackend(ResponseStore(tmp_path))
    replayed = extract_document(Document(id="d", text=TEXT), ExtractConfig(backend=replay))
    assert replayed.incidents == recorded.incidents
    assert replayed.provenance.model == "replay:some-model"
    assert replayed.usage.cached and replayed.usage.prompt_tokens == recorded.usage.prompt_tokens


def test_replay_of_a_changed_prompt_is_a_miss_that_says_what_to_do(tmp_path: Path) -> None:
    recorder = CachingBackend(MockBackend([REPLY]), ResponseStore(tmp_path), recording=True)
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


def test_a_recording_holds_one_model_only(tmp_path: Path) -> None:
    CachingBackend(MockBackend([REPLY], model="a"), ResponseStore(tmp_path), recording=True)
    with pytest.raises(ConfigError, match="another model"):
        CachingBackend(MockBackend([REPLY], model="b"), ResponseStore(tmp_path), recording=True)


def test_a_cache_holds_the_answers_of_several_models(tmp_path: Path) -> None:
    a, b = MockBackend([REPLY], model="a"), MockBackend([REPLY], model="b")
    for inner in (a, b, a, b):
        extract_document(
            Document(id="d", text=TEXT), ExtractConfig(backend=CachingBackend(inner, ResponseStore(tmp_path)))
        )
    assert len(a.calls) == len(b.calls) == 1  # one call each, then each model's own answer from the cache
    assert not (tmp_path / "manifest.json").exists()


def test_replay_needs_a_manifest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a recording"):
        ReplayBackend(ResponseStore(tmp_path))


def test_store_entries_hold_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-0123456789")
    recorder = CachingBackend(MockBackend([REPLY]), ResponseStore(tmp_path), recording=True)
    extract_document(Document(id="d", text=TEXT), ExtractConfig(backend=recorder))
    files = list(tmp_path.rglob("*.json"))
    assert len(files) == 2  # manifest + one response
    for path in files:
        assert "SECRET" not in path.read_text()
        json.loads(path.read_text())


# -- what the cache key tells apart ---------------------------------------------------------------


def _extract_through(backend: CachingBackend) -> None:
    result = extract_document(Document(id="d", text=TEXT), ExtractConfig(backend=backend, max_retries=0))
    assert result.status is Status.OK


def test_two_servers_serving_one_model_name_do_not_share_answers(tmp_path: Path) -> None:
    from extract.backends.openai_compat import OpenAIBackend
    from extract.testing import FakeOpenAIServer

    store = ResponseStore(tmp_path / "cache")
    with FakeOpenAIServer(model="local") as first, FakeOpenAIServer(model="local") as second:
        a = CachingBackend(OpenAIBackend("local", base_url=first.base_url), store)
        b = CachingBackend(OpenAIBackend("local", base_url=second.base_url), store)
        _extract_through(a)
        _extract_through(b)
        _extract_through(a)  # the same server again: answered from the cache
        assert (first.count(), second.count()) == (1, 1)
    assert (a.hits, b.hits) == (1, 0)
    assert a.identity()["endpoint"] == first.base_url and "endpoint" in b.identity()


def test_the_endpoint_in_the_key_carries_no_credentials() -> None:
    from extract.backends.openai_compat import public_endpoint

    assert public_endpoint("http://user:secret@127.0.0.1:8080/v1/") == "http://127.0.0.1:8080/v1"
    assert public_endpoint("https://h.example/v1?api-version=2024-10&api_key=SECRET") == (
        "https://h.example/v1?api-version=2024-10"
    )


def test_two_gguf_files_with_one_name_have_different_hashes(tmp_path: Path) -> None:
    from extract.backends.local import gguf_sha256

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    one, two, copy = (tmp_path / d / "model.gguf" for d in "abc")
    one.write_bytes(b"GGUF weights of one model")
    two.write_bytes(b"GGUF weights of another model")
    copy.write_bytes(one.read_bytes())
    assert gguf_sha256(one) != gguf_sha256(two)
    assert gguf_sha256(one) == gguf_sha256(copy)  # the same weights under another path are the same model


def test_entries_keyed_without_the_endpoint_are_not_served(tmp_path: Path) -> None:
    from extract.backends.openai_compat import OpenAIBackend
    from extract.core.backend import CompletionRequest, cache_key
    from extract.core.schema import Extraction
    from extract.testing import FakeOpenAIServer

    store = ResponseStore(tmp_path / "cache")
    with FakeOpenAIServer(model="local") as server:
        backend = OpenAIBackend("local", base_url=server.base_url)
        old_identity = {k: v for k, v in backend.identity().items() if k not in ("endpoint", "identity_version")}
        request = CompletionRequest(
            messages=tuple(load_prompt().render(TEXT)),
            response_model=Extraction,
            document_id="d",
            prompt_hash=load_prompt().hash,
            schema_version="1.0.0",
            max_retries=0,
        )
        # an answer stored the old way (the key knew the model's name only), from some other server
        store.put(cache_key(old_identity, request), {"outcome": "ok", "result": '{"incidents": []}', "raw": ""})
        cached = CachingBackend(backend, store)
        _extract_through(cached)
        assert server.count() == 1 and cached.hits == 0
