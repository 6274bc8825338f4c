"""Dates from the article, strict candidates (the article's values only), and the guards for small models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from extract.backends.local import grammar_schema
from extract.backends.mock import MockBackend
from extract.core.candidates import find_candidates, find_dates
from extract.core.errors import ConfigError
from extract.core.evidence import MAX_PROSE, STRICT_MAX_INCIDENTS, STRICT_MAX_ITEMS, answer_model, fill_prose
from extract.core.pipeline import ExtractConfig, extract_document
from extract.core.prompts import load_prompt_for
from extract.core.records import Document, Status

ARTICLE = (
    "Shells hit the town of Varnek late Friday, killing three people, the Orlan Monitor said. "
    "The monitor said 12 others were wounded. "
    "In May 2020 a similar attack hit the town."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Rebels struck on Saturday.", ("Saturday",), id="weekday"),
        pytest.param("It began late Friday night.", ("late Friday night",), id="weekday-with-time"),
        pytest.param("On March 3, 2021 and on 4 July.", ("March 3, 2021", "4 July"), id="calendar-dates"),
        pytest.param("Fighting since May 2020; talks in June.", ("May 2020", "June"), id="months"),
        pytest.param("Officials may meet. May they agree?", (), id="the-verb-may-is-no-date"),
        pytest.param(
            "The attack took place yesterday, after clashes last week.", ("yesterday", "last week"), id="relative"
        ),
        pytest.param("Reported on 2021-04-05.", ("2021-04-05",), id="iso"),
        pytest.param("A monday.example.org page.", (), id="lower-case-weekday-is-no-date"),
    ],
)
def test_date_phrases(text: str, expected: tuple[str, ...]) -> None:
    assert find_dates(text) == expected


def test_dates_are_offered_and_not_listed_as_names() -> None:
    found = find_candidates(ARTICLE)
    assert found.dates == ("late Friday", "May 2020")
    assert "Friday" not in found.names and "Varnek" in found.names


def test_strict_schema_offers_only_the_articles_values() -> None:
    found = find_candidates(ARTICLE, strict=True)
    model = answer_model("refs", 3, compact=True, candidates=found)
    schema = model.model_json_schema()
    text = json.dumps(schema)
    assert "_other" not in text  # no free-text twin
    incident = schema["$defs"]["Incident"]["properties"]
    assert "summary" not in incident and "summary" not in schema["$defs"]["Incident"]["required"]
    assert schema["$defs"]["DateInfo"]["properties"]["text"]["enum"] == ["late Friday", "May 2020"]
    # a required name is one of the article's, never null
    name = schema["$defs"]["Perpetrator"]["properties"]["name"]
    assert "anyOf" not in name and "Orlan Monitor" in json.dumps(name) + json.dumps(schema["$defs"])
    # the evidence first in every value, and lists bounded for the grammar
    assert next(iter(schema["$defs"]["Location"]["properties"])) == "sentences"
    assert next(iter(schema["$defs"]["Casualty"]["required"])) == "sentences"
    assert schema["properties"]["incidents"]["maxItems"] == STRICT_MAX_INCIDENTS
    assert schema["$defs"]["Sentences"]["maxItems"] == STRICT_MAX_ITEMS
    assert incident["casualties"]["maxItems"] == STRICT_MAX_ITEMS


def test_open_schema_is_unchanged_by_strict_settings() -> None:
    schema = answer_model("refs", 3, compact=True, candidates=find_candidates(ARTICLE)).model_json_schema()
    assert "place_other" in schema["$defs"]["Location"]["properties"]
    assert "summary" in schema["$defs"]["Incident"]["properties"]
    assert "maxItems" not in json.dumps(schema)
    assert "date_other" not in json.dumps(schema) and "text_other" in json.dumps(schema)


def test_grammar_keeps_small_item_bounds_and_drops_large_ones() -> None:
    schema = {"type": "array", "items": {"type": "integer"}, "maxItems": 4, "minItems": 1}
    assert grammar_schema(schema) == {"type": "array", "items": {"type": "integer"}, "maxItems": 4}
    assert "maxItems" not in grammar_schema({**schema, "maxItems": 500})


def test_summary_filled_from_the_cited_text_and_cut_at_a_word() -> None:
    assert fill_prose({"type": "shelling"}, "Shells  hit\nthe town.")["summary"] == "Shells hit the town."
    long = fill_prose({}, "word " * 200)["summary"]
    assert len(long) <= MAX_PROSE and long.endswith("word…")
    assert fill_prose({"summary": "kept"}, "other")["summary"] == "kept"


def _strict_config(backend: MockBackend) -> ExtractConfig:
    return ExtractConfig(
        backend=backend, prompt=load_prompt_for("incidents", "refs"), evidence="refs", candidates="strict"
    )


def test_pipeline_strict_record_and_repeats_dropped() -> None:
    incident: dict[str, Any] = {
        "sentences": [1],
        "type": "shelling",
        "date": {"sentences": [1], "text": "late Friday", "precision": "day"},
        "location": {"sentences": [1], "place": "Varnek"},
        "casualties": [{"sentences": [1], "kind": "killed", "count": 3, "qualifier": "exact"}],
        "primary": True,
    }
    repeat = {**incident, "primary": False}
    other = {**repeat, "sentences": [3], "date": {"sentences": [3], "text": "May 2020", "precision": "month"}}
    backend = MockBackend([{"incidents": [incident, repeat, other, repeat]}])
    result = extract_document(Document(id="a", text=ARTICLE), _strict_config(backend))
    assert result.status is Status.OK
    assert len(result.incidents) == 2  # the exact repeats are one incident; another sentence is another
    first = result.incidents[0]
    assert first.summary == "Shells hit the town of Varnek late Friday, killing three people, the Orlan Monitor said."
    assert first.date is not None and first.date.text == "late Friday"
    assert result.provenance.candidates == "strict"
    schema = json.dumps(backend.calls[0].kwargs["tools"])
    assert "_other" not in schema and '"late Friday"' in schema


def test_unknown_candidates_mode_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown candidates mode"):
        _strict_config(MockBackend([])).__class__(backend=MockBackend([]), candidates="loose")


def test_cli_takes_strict_candidates(tmp_path: Path) -> None:
    from extract.cli import main

    corpus = tmp_path / "a.txt"
    corpus.write_text(ARTICLE, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code = main(["run", str(corpus), "--backend", "mock", "--evidence", "refs", "--candidates", "strict",
                 "--out", str(out), "--quiet", "--no-cache"])  # fmt: skip
    assert code == 0
    record = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert record["provenance"]["candidates"] == "strict"
