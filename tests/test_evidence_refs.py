"""Evidence by reference: the derived answer models, the compact rendering, and the pipeline in refs mode."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from extract.backends.mock import MockBackend
from extract.cli import main
from extract.core.backend import CompletionRequest, cache_key
from extract.core.evidence import REFS_FIELD, EvidenceMode, answer_model, compact_schema, incident_model
from extract.core.fields import fields_of
from extract.core.pipeline import ExtractConfig, extract_document
from extract.core.prompts import load_prompt, load_prompt_for
from extract.core.records import Alignment, Document, Status
from extract.core.schema import Extraction, schema_hash
from extract.core.sentences import split_sentences

ARTICLE = (
    "Syrian rebels shot down a Russian Su-25 near Saraqeb on Saturday. "
    "Tahrir al-Sham claimed responsibility. The pilot was killed on the ground."
)


def refs_incident(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "aircraft_downing",
        "sentences": [1],
        "summary": "Rebels shot down a Russian jet.",
        "date": {"text": "Saturday", "precision": "day", "sentences": [1]},
        "location": {"near": "Saraqeb", "sentences": [1]},
        "aircraft": [{"model": "Su-25", "category": "fixed_wing", "operator": "Russia", "sentences": [1]}],
        "perpetrators": [{"name": "Tahrir al-Sham", "status": "claimed", "sentences": [2]}],
        "casualties": [{"kind": "killed", "count": 1, "qualifier": "exact", "who": "pilot", "sentences": [3]}],
        "primary": True,
    }
    data.update(overrides)
    return data


def refs_config(backend: Any, **kwargs: Any) -> ExtractConfig:
    return ExtractConfig(backend=backend, prompt=load_prompt_for("incidents", "refs"), evidence="refs", **kwargs)


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    out = [model]
    for info in fields_of(model):
        if info.model is not None:
            out.extend(_models(info.model))
    return out


# -- the derived answer models ----------------------------------------------------------------------------------


def test_quote_mode_full_is_the_schema_itself() -> None:
    assert answer_model("quotes") is Extraction
    assert answer_model(EvidenceMode.QUOTES, compact=False) is Extraction


def test_refs_model_replaces_every_quote_and_keeps_every_other_field() -> None:
    derived = answer_model("refs", 12)
    for original in _models(Extraction):
        twin = _find(derived, original.__name__)
        expected = [n if n != "quote" else REFS_FIELD for n in original.model_fields]
        assert list(twin.model_fields) == expected, original.__name__
        for name, info in original.model_fields.items():
            if name != "quote":
                assert twin.model_fields[name].description == info.description


def _find(root: type[BaseModel], name: str) -> type[BaseModel]:
    for model in _models_derived(root):
        if model.__name__ == name:
            return model
    raise AssertionError(f"no derived model {name}")


def _models_derived(model: type[BaseModel]) -> list[type[BaseModel]]:
    from extract.core.fields import _model_of

    out = [model]
    for info in model.model_fields.values():
        sub, _, _ = _model_of(info.annotation)
        if sub is not None:
            out.extend(_models_derived(sub))
    return out


@pytest.mark.parametrize(
    ("item", "error"),
    [
        pytest.param(refs_incident(location={"sentences": [1]}), "at least one of place", id="location-validator-kept"),
        pytest.param(
            refs_incident(casualties=[{"kind": "killed", "count": 3, "qualifier": "range", "sentences": [3]}]),
            "range needs count_max",
            id="casualty-validator-kept",
        ),
        pytest.param(refs_incident(sentences=[13]), "less than or equal to 12", id="number-past-the-last"),
        pytest.param(refs_incident(sentences=[0]), "greater than or equal to 1", id="number-zero"),
        pytest.param(refs_incident(sentences=[]), "at least 1 item", id="no-number"),
        pytest.param(refs_incident(quote="copied text"), "Extra inputs are not permitted", id="quote-not-allowed"),
    ],
)
def test_refs_model_validates_like_the_schema_and_bounds_the_numbers(item: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        answer_model("refs", 12).model_validate({"incidents": [item]})


def test_refs_model_accepts_a_valid_answer_and_keeps_the_one_primary_rule() -> None:
    model = answer_model("refs", 3)
    assert len(model.model_validate({"incidents": [refs_incident()]}).incidents) == 1  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="at most one incident may have primary"):
        model.model_validate({"incidents": [refs_incident(), refs_incident()]})


def test_a_later_chunk_may_cite_only_its_own_numbers() -> None:
    model = answer_model("refs", 40, first=30)
    model.model_validate({"incidents": [refs_incident(sentences=[30], date=None, location=None, aircraft=[],
                                                      perpetrators=[], casualties=[])]})  # fmt: skip
    with pytest.raises(ValidationError, match="greater than or equal to 30"):
        model.model_validate({"incidents": [refs_incident(sentences=[29])]})


def test_incident_model_is_the_item_of_the_answer() -> None:
    assert incident_model(answer_model("refs", 5)).__name__ == "Incident"
    assert REFS_FIELD in incident_model(answer_model("refs", 5)).model_fields


# -- the compact rendering -------------------------------------------------------------------------------------


def _keys(node: Any, key: str) -> int:
    if isinstance(node, dict):
        return (key in node) + sum(_keys(v, key) for v in node.values())
    if isinstance(node, list):
        return sum(_keys(v, key) for v in node)
    return 0


@pytest.mark.parametrize("mode", ["quotes", "refs"])
def test_compact_schema_has_no_titles_below_the_root_and_is_shorter(mode: str) -> None:
    full = answer_model(mode, 20).model_json_schema()
    compact = answer_model(mode, 20, compact=True).model_json_schema()
    assert compact["title"] == "Extraction"  # instructor names the tool after it
    assert _keys({k: v for k, v in compact.items() if k != "title"}, "title") == 0
    assert _keys(compact, "default") == 0
    assert len(json.dumps(compact)) < 0.8 * len(json.dumps(full))
    # the evidence field is defined once and referred to everywhere else
    shared = "Quote" if mode == "quotes" else "Sentences"
    assert shared in compact["$defs"]
    assert json.dumps(compact).count('"Evidence:') == 1


def test_compact_schema_keeps_every_property_and_requirement() -> None:
    full = answer_model("refs", 9).model_json_schema()
    compact = answer_model("refs", 9, compact=True).model_json_schema()
    for name, definition in full["$defs"].items():
        if "properties" in definition:
            assert compact["$defs"][name]["properties"].keys() == definition["properties"].keys()
            assert compact["$defs"][name].get("required") == definition.get("required")


def test_compact_schema_drops_only_descriptions_that_repeat_the_enum() -> None:
    schema = {
        "title": "T",
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/E", "description": "red, green or blue."},
            "b": {"$ref": "#/$defs/E", "description": "red: a warm colour; green; blue."},
        },
        "$defs": {"E": {"enum": ["red", "green", "blue"], "title": "E", "type": "string"}},
    }
    out = compact_schema(schema)
    assert out["properties"]["a"] == {"enum": ["red", "green", "blue"], "type": "string"}
    assert out["properties"]["b"]["description"] == "red: a warm colour; green; blue."
    assert "$defs" not in out


def test_compact_schema_drops_quoted_sample_values_and_keeps_the_rest_of_the_description() -> None:
    compact = answer_model("quotes", compact=True).model_json_schema()
    aircraft = compact["$defs"]["Aircraft"]["properties"]
    assert aircraft["model"]["description"] == "Aircraft model as written; null if not given."
    assert aircraft["model"]["type"] == ["string", "null"]
    assert "e.g." not in json.dumps(compact).replace("e.g. [3]", "")


def test_the_quote_mode_schema_hash_is_unchanged_by_the_compact_rendering() -> None:
    before = schema_hash(Extraction)
    answer_model("quotes", compact=True).model_json_schema()
    assert schema_hash(Extraction) == before
    assert schema_hash(answer_model("quotes", compact=True)) != before


# -- the pipeline in refs mode ---------------------------------------------------------------------------------


def test_refs_reply_becomes_exactly_grounded_quotes_with_offsets() -> None:
    backend = MockBackend([{"incidents": [refs_incident()]}])
    result = extract_document(Document(id="a", text=ARTICLE), refs_config(backend))
    assert result.status is Status.OK
    sentences = split_sentences(ARTICLE)
    assert result.incidents[0].quote == sentences[0].text
    assert result.incidents[0].perpetrators[0].quote == "Tahrir al-Sham claimed responsibility."
    assert [s.alignment for s in result.evidence] == [Alignment.EXACT] * 6
    for span in result.evidence:
        assert span.start is not None and span.end is not None
        assert ARTICLE[span.start : span.end] == span.quote
        assert span.refs
    assert {s.path: s.refs for s in result.evidence}["incidents[0].casualties[0]"] == [3]
    assert result.provenance.evidence == "refs"
    # the prompt showed numbered sentences and asked for numbers, not quotes
    user = backend.calls[0].messages[-1]["content"]
    assert "[1] Syrian rebels shot down" in user and "[3] The pilot was killed" in user
    tool = json.dumps(backend.calls[0].kwargs["tools"])
    assert '"sentences"' in tool and '"quote"' not in tool


def test_non_adjacent_sentences_give_the_span_from_first_to_last() -> None:
    backend = MockBackend([{"incidents": [refs_incident(sentences=[3, 1])]}])
    result = extract_document(Document(id="a", text=ARTICLE), refs_config(backend))
    span = result.evidence[0]
    assert (span.start, span.end, span.refs) == (0, len(ARTICLE), [1, 3])
    assert span.quote == ARTICLE


def test_a_sentence_that_does_not_exist_is_re_asked_with_the_error() -> None:
    backend = MockBackend([{"incidents": [refs_incident(sentences=[7])]}, {"incidents": [refs_incident()]}])
    result = extract_document(Document(id="a", text=ARTICLE), refs_config(backend))
    assert result.status is Status.OK and result.attempts == 2
    reask = json.dumps(backend.calls[1].messages)
    assert "less than or equal to 3" in reask


def test_an_incident_that_keeps_citing_a_missing_sentence_is_rejected_and_the_rest_kept() -> None:
    bad = {"incidents": [refs_incident(), refs_incident(sentences=[9], primary=False)]}
    backend = MockBackend([bad, bad, bad])
    result = extract_document(Document(id="a", text=ARTICLE), refs_config(backend, max_retries=2))
    assert result.status is Status.PARTIAL
    assert len(result.incidents) == 1
    assert [r.index for r in result.rejected] == [1]
    assert "less than or equal to 3" in result.rejected[0].error


def test_long_documents_are_chunked_by_sentences_with_numbers_that_run_through() -> None:
    text = " ".join(f"Sentence number {k} reports a clash near the town." for k in range(1, 41))
    prompts: list[str] = []
    schemas: list[dict[str, Any]] = []

    def reply(call: Any) -> dict[str, Any]:
        prompts.append(call.messages[-1]["content"])
        schemas.append(call.kwargs["tools"][0]["function"]["parameters"])
        first = int(call.messages[-1]["content"].split("<article>\n[", 1)[1].split("]", 1)[0])
        return {"incidents": [{"type": "armed_clash", "sentences": [first], "summary": "A clash."}]}

    backend = MockBackend(reply)
    result = extract_document(Document(id="long", text=text), refs_config(backend, chunk_chars=600, chunk_overlap=120))
    assert result.chunks == len(prompts) > 2
    firsts = [int(p.split("<article>\n[", 1)[1].split("]", 1)[0]) for p in prompts]
    assert firsts[0] == 1 and firsts == sorted(firsts) and len(set(firsts)) == len(firsts)
    assert [s.refs for s in result.evidence] == [[f] for f in firsts]
    for span in result.evidence:
        assert span.start is not None
        assert text[span.start : span.end] == f"Sentence number {span.refs[0]} reports a clash near the town."  # type: ignore[index]
    # each chunk's schema allows only the numbers that chunk shows
    bounds = json.dumps(schemas[1])
    assert f'"minimum": {firsts[1]}' in bounds


def test_refs_and_quotes_requests_have_different_cache_keys_and_quote_keys_are_unchanged() -> None:
    messages = ({"role": "user", "content": "x"},)
    quotes = CompletionRequest(messages=messages, response_model=Extraction)
    refs = CompletionRequest(messages=messages, response_model=answer_model("refs", 3), evidence="refs")
    assert "evidence" not in quotes.fingerprint()
    assert cache_key({}, quotes) != cache_key({}, refs)


def test_refs_prompt_variant_is_chosen_only_in_refs_mode() -> None:
    assert load_prompt_for("incidents", "refs").name == "incidents-refs"
    assert load_prompt_for("incidents", "quotes").name == "incidents"
    assert "numbered sentences" in load_prompt("incidents-refs").system


def test_cli_run_in_refs_mode_writes_exactly_grounded_records(tmp_path: Path) -> None:
    corpus = tmp_path / "docs.jsonl"
    corpus.write_text(
        json.dumps({"id": "d1", "text": "BEIRUT (AP) — A drone struck a convoy. Two people died."}) + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    args = ["run", str(corpus), "--backend", "mock", "--model", "echo", "--out", str(out)]
    assert main([*args, "--evidence", "refs", "--schema", "compact"]) == 0
    record = json.loads(out.read_text().splitlines()[0])
    assert record["provenance"]["evidence"] == "refs"
    assert record["provenance"]["schema_style"] == "compact"
    assert record["provenance"]["prompt"] == "incidents-refs"
    [span] = record["evidence"]
    assert (span["alignment"], span["refs"], span["start"]) == ("exact", [1], 0)
    assert span["quote"] == "BEIRUT (AP) — A drone struck a convoy."
    from extract import api

    assert "schema 1.0.0, evidence refs, compact schema)" in api.describe_run(out)


def test_cli_rejects_an_unknown_evidence_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", str(tmp_path), "--evidence", "links"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("chunk", "overlap"),
    [
        pytest.param(300, 0, id="no-overlap"),
        pytest.param(300, 100, id="overlap"),
        pytest.param(200, 500, id="overlap-larger-than-chunk"),
    ],
)
def test_sentence_groups_cover_every_sentence_in_order_and_progress(chunk: int, overlap: int) -> None:
    from extract.core.pipeline import split_sentence_groups

    text = " ".join(f"Sentence {k} tells of shelling near the town." for k in range(1, 60))
    groups = split_sentence_groups(text, refs_config(MockBackend([]), chunk_chars=chunk, chunk_overlap=overlap))
    seen = [s.number for g in groups for s in g]
    assert sorted(set(seen)) == list(range(1, 60))
    for before, after in itertools.pairwise(groups):
        assert after[0].number > before[0].number  # always moves on
        assert after[0].number <= before[-1].number + 1  # never skips a sentence
        if overlap == 0:
            assert after[0].number == before[-1].number + 1
    assert all(g[-1].end - g[0].start <= chunk for g in groups)
    assert len(groups) < 60


def _gold_as_refs_answer(incidents: list[Any], text: str) -> dict[str, Any]:
    """The gold incidents written as a refs-mode answer: every quote replaced by the sentences it lies in."""
    from extract.core.grounding import Grounder
    from extract.core.schema import Incident

    sentences = split_sentences(text)
    grounder = Grounder(text)

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {k: convert(v) for k, v in node.items() if k != "quote"}
        if "quote" in node:
            span = grounder.locate(node["quote"])
            assert span.start is not None and span.end is not None
            out[REFS_FIELD] = [s.number for s in sentences if s.start < span.end and span.start < s.end]
        return out

    plain = [{k: v for k, v in i.model_dump(mode="json").items() if k in Incident.model_fields} for i in incidents]
    return {"incidents": convert(plain)}


@pytest.mark.parametrize("compact", [False, True], ids=["full", "compact"])
def test_the_gold_answered_by_reference_scores_perfectly_on_the_seed_articles(compact: bool) -> None:
    """Every value survives the round trip through sentence numbers on real articles (a check of the refs path,
    not a measure of any model)."""
    from extract.scoring import evaluate
    from extract.scoring.gold import load_gold

    gold = load_gold(Path(__file__).resolve().parents[1] / "gold")
    answers = {
        doc_id: _gold_as_refs_answer(doc.incidents, gold.articles[doc_id]) for doc_id, doc in gold.documents.items()
    }
    current: dict[str, str] = {}
    backend = MockBackend(lambda call: answers[current["id"]])
    config = refs_config(backend, compact_schema=compact)
    results = []
    for doc_id in gold.documents:
        current["id"] = doc_id
        results.append(extract_document(Document(id=doc_id, text=gold.articles[doc_id]), config))
    assert all(r.status is Status.OK and r.attempts == 1 for r in results)
    report = evaluate(gold, results, bootstrap=0, articles=gold.articles)
    assert report.incidents.f1 == 1.0
    assert report.slots.f1 == 1.0
    assert report.grounding.rate == 1.0 and report.grounding.exact == report.grounding.total
    assert report.grounding.supported_share == 1.0
    assert not report.grounding_disagreements


def test_echo_answers_a_quotes_request_with_a_quote_even_for_a_numbered_looking_article(tmp_path: Path) -> None:
    text = "[1] A list item that opens the article. Rebels shelled the town."
    result = extract_document(Document(id="d", text=text), ExtractConfig(backend=MockBackend("echo")))
    assert result.status is Status.OK and result.incidents[0].quote.startswith("[1] A list item")
    refs = extract_document(Document(id="d", text=text), refs_config(MockBackend("echo")))
    assert refs.status is Status.OK and refs.evidence[0].refs == [1]
