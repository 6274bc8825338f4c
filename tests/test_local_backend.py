"""The embedded default in process: llama.cpp with the bundled GGUF and a JSON-schema grammar.

The model is tiny, so these tests check the plumbing (grammar-constrained JSON of
the right shape, usage from llama.cpp, provenance, salvage of a cut-off reply),
not the quality of its answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from extract.core.aio import run_sync
from extract.core.backend import CompletionRequest
from extract.core.errors import ValidationFailed
from extract.core.pipeline import ExtractConfig, extract_document
from extract.core.prompts import load_prompt
from extract.core.records import Document, Status
from extract.core.schema import Extraction

if TYPE_CHECKING:
    from extract.backends.local import LocalBackend

pytestmark = pytest.mark.slow

ARTICLE = (
    "Syrian rebels shot down a Russian Su-25 jet near Saraqeb in Idlib province on Saturday. The pilot was killed."
)


@pytest.fixture(scope="module")
def backend() -> Iterator[LocalBackend]:
    pytest.importorskip("llama_cpp", reason="needs the local extra: pip install -e '.[local]'")
    from extract.backends.local import LocalBackend

    built = LocalBackend(max_tokens=200)
    yield built
    built.close()


def test_reply_is_grammar_constrained_json_of_the_schema(backend: LocalBackend) -> None:
    request = CompletionRequest(
        messages=tuple(load_prompt().render(ARTICLE)), response_model=Extraction, max_retries=0, document_id="su25"
    )
    try:
        raw = run_sync(backend.complete(request)).raw
    except ValidationFailed as exc:  # a value the model got wrong, or cut off at max_tokens: still the schema's shape
        raw = exc.last_response or ""
    assert raw.lstrip().startswith("{")
    if raw.rstrip().endswith("}"):  # complete: an object of the schema's one key (optional: it has a default)
        assert set(json.loads(raw)) <= {"incidents"}
    else:  # cut off at max_tokens inside the list of incidents
        assert raw.replace(" ", "").startswith('{"incidents":[')


def test_tools_mode_answers_with_a_call_of_the_tool() -> None:
    """In tools mode the grammar is the tool's parameters and the reply comes back as its call."""
    pytest.importorskip("llama_cpp")
    from extract.backends.local import LocalBackend

    tools = LocalBackend(mode="tools", max_tokens=200)
    try:
        request = CompletionRequest(
            messages=tuple(load_prompt().render(ARTICLE)), response_model=Extraction, max_retries=0, document_id="t"
        )
        try:
            completion = run_sync(tools.complete(request))
        except ValidationFailed as exc:  # a wrong value is the model's; the shape is what is tested
            raw = exc.last_response or ""
        else:
            assert isinstance(completion.parsed, Extraction)
            raw = completion.raw
    finally:
        tools.close()
    assert tools.chat_format == "gemma" and tools.chat_format_source == "architecture gemma3"
    assert raw.lstrip().startswith("{")  # the call's arguments, not prose


def test_extract_document_with_the_local_backend(backend: LocalBackend) -> None:
    result = extract_document(Document(id="su25", text=ARTICLE), ExtractConfig(backend=backend, max_retries=0))
    assert result.provenance.backend == "local"
    assert result.provenance.model == "gemma-3-270m-q4_k_m.gguf+incidents-gemma3-270m"  # the shipped adapter
    assert result.usage.requests == 1 and result.usage.prompt_tokens > 50 and result.usage.completion_tokens > 0
    assert result.usage.completion_tokens <= 200
    if result.status is Status.FAILED:
        assert result.failure is not None and result.failure.reason == "validation"
    else:
        paths = {span.path for span in result.evidence}
        assert all(f"incidents[{k}]" in paths for k in range(len(result.incidents)))


def test_a_gguf_path_is_accepted_and_named_in_provenance() -> None:
    pytest.importorskip("llama_cpp")
    from extract.backends.local import LocalBackend, bundled_model_path

    path = bundled_model_path()
    backend = LocalBackend(str(path), max_tokens=8)
    backend.close()
    assert backend.model == path.name


def test_the_shipped_adapter_is_one_f32_lora_for_the_bundled_model_with_its_card() -> None:
    """The one GGUF in git: at most 32 MiB, f32, for the bundled model's exact file, and described by its card."""
    import gguf

    from extract.backends.local import (
        SHIPPED_ADAPTER,
        adapter_info,
        bundled_model_path,
        gguf_sha256,
        resolve_adapter,
    )

    assert SHIPPED_ADAPTER.is_file() and SHIPPED_ADAPTER.stat().st_size <= 32 * 2**20
    info = adapter_info(SHIPPED_ADAPTER)
    assert info["type"] == "adapter" and info["adapter_type"] == "lora" and info["architecture"] == "gemma3"
    assert {t.tensor_type for t in gguf.GGUFReader(SHIPPED_ADAPTER).tensors} == {gguf.GGMLQuantizationType.F32}
    assert info["serving"]["evidence"] == "refs" and info["serving"]["prompt"] == "incidents"
    assert info["training"]["base_sha256"] == gguf_sha256(bundled_model_path())
    card = (SHIPPED_ADAPTER.parent / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert gguf_sha256(SHIPPED_ADAPTER) in card
    assert resolve_adapter(None, None) == SHIPPED_ADAPTER and resolve_adapter(None, "none") is None
