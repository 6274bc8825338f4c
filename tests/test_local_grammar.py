"""The JSON schema the local backend compiles into a llama.cpp grammar (no model needed)."""

from __future__ import annotations

import json

import pytest

from extract.backends.local import MAX_INTEGER_ENUM, grammar_schema
from extract.core.evidence import answer_model


def _integers(node: object) -> list[dict[str, object]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "integer":
            found.append(node)
        for value in node.values():
            found += _integers(value)
    elif isinstance(node, list):
        for value in node:
            found += _integers(value)
    return found


def test_sentence_numbers_become_the_enum_of_the_sentences_that_exist() -> None:
    schema = grammar_schema(answer_model("refs", 12, compact=True).model_json_schema())
    ranged = [n for n in _integers(schema) if "enum" in n]
    assert ranged, "refs mode bounds sentence numbers; the grammar keeps the bound as an enum"
    assert all(n["enum"] == list(range(1, 13)) for n in ranged)
    assert "minimum" not in json.dumps(schema) and "maximum" not in json.dumps(schema)


@pytest.mark.parametrize(
    "node",
    [
        pytest.param({"type": "integer", "minimum": 0}, id="open-above"),
        pytest.param({"type": "integer", "minimum": 1, "maximum": MAX_INTEGER_ENUM + 1}, id="too-wide"),
        pytest.param({"type": "number", "minimum": 1, "maximum": 3}, id="not-integer"),
    ],
)
def test_other_bounds_are_dropped_not_enumerated(node: dict[str, object]) -> None:
    assert grammar_schema(node) == {"type": node["type"]}


def test_the_quotes_mode_schema_is_unchanged_but_for_unsafe_keys() -> None:
    from extract.core.schema import Extraction

    schema = grammar_schema(Extraction.model_json_schema())
    assert not [n for n in _integers(schema) if "enum" in n]
    assert "maxLength" not in json.dumps(schema)
