"""How the model process decodes: the grammar asked about the model's own choice first, and loops cut.

``complete`` must give the very tokens llama-cpp-python's own ``create_completion`` gives under
the same grammar (it only asks the grammar fewer questions), and :class:`RepeatStop` must end a
list at its first repeated item with valid JSON, whatever way the answer arrives in pieces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from extract.backends.llama_worker import RepeatStop


def feed_in_pieces(text: str, sizes: list[int]) -> tuple[str | None, RepeatStop]:
    guard = RepeatStop("incidents", "summary")
    at = 0
    for size in sizes or [len(text)]:
        cut = guard.feed(text[at : at + size])
        at += size
        if cut is not None:
            return cut, guard
    cut = guard.feed(text[at:])
    return cut, guard


def incident(summary: str, **more: Any) -> dict[str, Any]:
    return {"type": "aircraft_downing", "sentences": [1], "summary": summary, **more}


def test_a_repeated_summary_ends_the_list_before_the_repeat() -> None:
    items = [incident("A jet was downed."), incident("A convoy was shelled."), incident("A jet was downed.")]
    answer = json.dumps({"incidents": items})
    cut, _ = feed_in_pieces(answer, [5] * 1000)
    assert cut is not None
    assert json.loads(cut) == {"incidents": items[:2]}


def test_the_cut_is_found_before_the_repeated_item_is_complete() -> None:
    """It fires when the repeated string closes, not at the end of the item: the rest is never generated."""
    first = json.dumps(incident("A jet was downed.", location={"place": "X"}))
    answer = '{"incidents":[' + first + ',{"type":"armed_clash","sentences":[2],"summary":"A jet was downed.","loc'
    cut, guard = feed_in_pieces(answer, [1] * len(answer))
    assert cut is not None and json.loads(cut) == {"incidents": [json.loads(first)]}
    assert guard.text.endswith('"summary":"A jet was downed."')


def test_quotes_braces_and_escapes_inside_strings_do_not_confuse_it() -> None:
    tricky = 'He said "{[,]}" \\ and left'
    answer = json.dumps({"incidents": [incident(tricky), incident("other, {not a key}"), incident(tricky)]})
    cut, _ = feed_in_pieces(answer, [3] * 1000)
    assert cut is not None
    assert json.loads(cut) == {"incidents": [incident(tricky), incident("other, {not a key}")]}


def test_the_key_counts_only_on_the_lists_own_items() -> None:
    """A ``summary`` inside an item's nested object, or outside the list, is not an item's summary."""
    nested = {
        "incidents": [incident("one", location={"summary": "same"}), incident("two", location={"summary": "same"})]
    }
    assert feed_in_pieces(json.dumps(nested), [])[0] is None
    other_list = {"notes": [{"summary": "same"}, {"summary": "same"}], "incidents": [incident("one")]}
    assert feed_in_pieces(json.dumps(other_list), [])[0] is None
    a_value_not_a_key = {"incidents": [incident("summary"), {"type": "summary", "summary": "x"}]}
    assert feed_in_pieces(json.dumps(a_value_not_a_key), [])[0] is None


@given(
    summaries=st.lists(st.sampled_from(["a", "b", 'c "q"', "d\\e", "{f}", "g, h"]), min_size=0, max_size=6),
    sizes=st.lists(st.integers(min_value=1, max_value=9), max_size=400),
    spaced=st.booleans(),
)
def test_any_answer_in_any_pieces_is_cut_at_its_first_repeat_and_only_there(
    summaries: list[str], sizes: list[int], spaced: bool
) -> None:
    items = [incident(s, casualties=[{"kind": "killed", "count": i}]) for i, s in enumerate(summaries)]
    answer = json.dumps({"incidents": items}, indent=1 if spaced else None)
    cut, guard = feed_in_pieces(answer, sizes)
    first_repeat = next((i for i, s in enumerate(summaries) if s in summaries[:i]), None)
    if first_repeat is None:
        assert cut is None
        assert guard.text == answer
    else:
        assert cut is not None
        assert json.loads(cut) == {"incidents": items[:first_repeat]}


# --- the real llama.cpp: the bundled model and the shipped adapter ---------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "incidents": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"type": {"enum": ["downing", "strike", "clash"]}, "summary": {"type": "string"}},
                "required": ["type", "summary"],
            },
        }
    },
    "required": ["incidents"],
}

PROMPTS = [
    "Rebels shot down a government helicopter near Hama on Monday; two crew members were killed. Incidents as JSON:",
    "No incident is reported in this text about the weather in Aleppo. Incidents as JSON:",
]


@pytest.fixture(scope="module")
def llm() -> Iterator[Any]:
    pytest.importorskip("llama_cpp", reason="needs the local extra: pip install -e '.[local]'")
    from extract.backends import llama_worker
    from extract.backends.local import SHIPPED_ADAPTER, bundled_model_path

    config = {
        "model_path": str(bundled_model_path()),
        "lora_path": str(SHIPPED_ADAPTER),
        "n_ctx": 1024,
        "n_threads": 1,
        "seed": 0,
        "verbose": False,
    }
    model = llama_worker._load(config)
    yield model
    model.close()


@pytest.mark.slow
@pytest.mark.parametrize("schema", [SCHEMA, None], ids=["schema-grammar", "json-grammar"])
def test_greedy_gives_the_same_tokens_as_llama_cpp_python_under_the_same_grammar(llm: Any, schema: Any) -> None:
    from extract.backends.llama_worker import _grammar, complete

    for prompt in PROMPTS:
        tokens = llm.tokenize(prompt.encode())
        llm.reset()
        theirs = llm.create_completion(prompt=tokens, max_tokens=60, temperature=0.0, seed=7, grammar=_grammar(schema))
        grammar = _grammar(schema)
        llm.reset()  # both from an empty cache: a prompt decoded in other batches gives slightly other logits
        ours = complete(llm, tokens, grammar=grammar, max_tokens=60, temperature=0.0, seed=7, stop=None)
        assert ours["choices"][0]["text"] == theirs["choices"][0]["text"]
        assert ours["choices"][0]["finish_reason"] == theirs["choices"][0]["finish_reason"]
        assert ours["usage"] == theirs["usage"]


@pytest.mark.slow
def test_sampling_at_a_temperature_keeps_to_the_grammar_and_repeats_with_its_seed(llm: Any) -> None:
    """At a temperature every token is drawn under the grammar (no shortcut): valid, and the same for the same seed."""
    from extract.backends.llama_worker import _grammar, complete

    short = json.loads(json.dumps(SCHEMA))
    short["properties"]["incidents"]["maxItems"] = 2
    tokens = llm.tokenize(PROMPTS[0].encode())
    texts = []
    for seed in (7, 7):
        out = complete(llm, tokens, grammar=_grammar(short), max_tokens=300, temperature=0.8, seed=seed, stop=None)
        text = out["choices"][0]["text"]
        assert text.replace(" ", "").startswith('{"incidents":[')
        if out["choices"][0]["finish_reason"] == "stop":  # not cut off by max_tokens: complete, valid JSON
            assert all(item["type"] in ("downing", "strike", "clash") for item in json.loads(text)["incidents"])
        texts.append(text)
    assert texts[0] == texts[1]


@pytest.mark.slow
def test_a_forced_loop_is_cut_into_valid_json_with_one_item(llm: Any) -> None:
    """A grammar that allows only one summary makes every item after the first a repeat."""
    from extract.backends.llama_worker import _grammar, complete

    looping = json.loads(json.dumps(SCHEMA))
    items = looping["properties"]["incidents"]
    items["minItems"] = items["maxItems"] = 4
    items["items"]["properties"]["summary"] = {"enum": ["the same"]}
    tokens = llm.tokenize(PROMPTS[0].encode())
    cut = complete(
        llm,
        tokens,
        grammar=_grammar(looping),
        max_tokens=200,
        temperature=0.0,
        seed=0,
        stop=None,
        repeat_stop=RepeatStop("incidents", "summary"),
    )
    answer = json.loads(cut["choices"][0]["text"])
    assert [item["summary"] for item in answer["incidents"]] == ["the same"]
    assert cut["choices"][0]["finish_reason"] == "stop"
    uncut = complete(llm, tokens, grammar=_grammar(looping), max_tokens=200, temperature=0.0, seed=0, stop=None)
    assert cut["usage"]["completion_tokens"] < uncut["usage"]["completion_tokens"]
    assert len(json.loads(uncut["choices"][0]["text"])["incidents"]) == 4


def test_the_local_backend_stops_repeats_on_the_answers_own_list_and_key() -> None:
    """``STOP_REPEATS`` names the answer's list of incidents and a key every incident has."""
    from extract.backends.local import STOP_REPEATS
    from extract.core.schema import Extraction, Incident

    list_key, key = STOP_REPEATS
    assert list_key in Extraction.model_fields
    assert key in Incident.model_fields
    assert Incident.model_fields[key].is_required()
