"""Values from the article: candidate names and numbers, and the schema that offers them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from extract.backends.mock import MockBackend
from extract.core.candidates import find_candidates
from extract.core.evidence import answer_model
from extract.core.pipeline import ExtractConfig, extract_document
from extract.core.prompts import load_prompt_for
from extract.core.records import Document, Status
from extract.core.schema import Extraction

SEEDS = sorted((Path(__file__).resolve().parents[1] / "gold" / "articles").glob("*.txt"))

ARTICLE = (
    "BEIRUT (AP) — Rebels shot down a Russian Su-25 near the town of Khan al-Subl on Saturday. "
    "The Syrian Observatory for Human Rights said the pilot was killed. "
    "Rebels said both crew members of a second jet, an Mi-28N, escaped. Dozens of people were wounded."
)


def test_names_designations_and_numbers_of_a_news_text() -> None:
    found = find_candidates(ARTICLE)
    for name in ("BEIRUT", "AP", "Russian", "Su-25", "Khan al-Subl", "Syrian Observatory for Human Rights", "Mi-28N"):
        assert name in found.names, name
    for word in ("Rebels", "The", "Saturday", "Dozens"):  # sentence-initial common words, weekdays, quantities
        assert word not in found.names, word
    # 1 always (a pilot), 2 for "both", 24 for "dozens" (the guidelines' lower bound); no digits in the text
    assert found.numbers == (1, 2, 24)


def test_punctuation_and_connectors() -> None:
    found = find_candidates("Officials in Idlib, Aleppo and Hama said Russia and Iran backed the Army of Islam.")
    assert {"Idlib", "Aleppo", "Hama", "Russia", "Iran", "Army of Islam"} <= set(found.names)
    assert "Idlib Aleppo" not in found.names and "Russia and Iran" not in found.names


def test_hyphenated_adjectives_and_shouted_headlines_are_not_names() -> None:
    found = find_candidates("RUSSIAN JET DOWNED OVER IDLIB\nIranian-backed militias advanced on Aleppo.")
    assert "RUSSIAN JET DOWNED OVER IDLIB" not in found.names
    assert "Iranian-backed" not in found.names and "Aleppo" in found.names


def test_names_with_diacritics() -> None:
    found = find_candidates("Shelling hit Şanlıurfa and Ḥomṣ overnight, officials in Łódź said.")
    assert {"Şanlıurfa", "Ḥomṣ", "Łódź"} <= set(found.names)


def test_ids_and_phone_numbers_are_not_counts() -> None:
    assert find_candidates("Posted 760076790127792128. Seven people died.").numbers == (1, 7)


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_seed_candidate_lists_stay_small_and_are_spans_of_the_article(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    found = find_candidates(text)
    assert 0 < len(found.names) <= 80 and 0 < len(found.numbers) <= 30
    for name in found.names:
        assert name in text or all(word in text for word in name.split()), name
    assert len(set(found.names)) == len(found.names)


def _location_schema(model: Any) -> dict[str, Any]:
    schema = model.model_json_schema()
    return schema["$defs"]["Location"]["properties"]


def test_the_schema_offers_names_and_counts_with_a_free_text_twin() -> None:
    found = find_candidates(ARTICLE)
    model = answer_model("refs", 4, compact=True, candidates=found)
    schema = model.model_json_schema()
    text = json.dumps(schema)
    place = schema["$defs"]["Location"]["properties"]["place"]
    shared = place["anyOf"][0]["$ref"].rsplit("/", 1)[-1]  # one shared list for every name field
    assert schema["$defs"][shared]["enum"] == list(found.names)
    assert "place_other" in schema["$defs"]["Location"]["properties"]
    count = schema["$defs"]["Casualty"]["properties"]["count"]
    assert count["anyOf"][0]["enum"] == [1, 2, 24]
    assert schema["$defs"]["Sentences"]["items"]["enum"] == [1, 2, 3, 4]
    # free-text fields stay free
    assert "enum" not in json.dumps(schema["$defs"]["Casualty"]["properties"]["who"])
    assert "enum" not in json.dumps(schema["$defs"]["Weapon"]["properties"]["text"])
    assert text.count('"Khan al-Subl"') == 1


def test_a_value_not_offered_goes_in_the_twin_and_is_folded_back() -> None:
    model = answer_model("quotes", candidates=find_candidates(ARTICLE))
    answer = {
        "incidents": [
            {
                "type": "aircraft_downing",
                "quote": "Rebels shot down a Russian Su-25",
                "summary": "A jet was shot down.",
                "location": {"place": "Khan al-Subl", "country_other": "Syria", "quote": "near the town"},
                "casualties": [
                    {"kind": "killed", "count": None, "count_other": 3, "qualifier": "exact", "quote": "killed"}
                ],
            }
        ]
    }
    parsed = model.model_validate(answer)
    location = parsed.incidents[0].location  # type: ignore[attr-defined]
    assert (location.place, location.country) == ("Khan al-Subl", "Syria")
    assert parsed.incidents[0].casualties[0].count == 3  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="at least one of place"):
        model.model_validate({"incidents": [{**answer["incidents"][0], "location": {"quote": "x"}}]})


def test_without_candidates_quote_mode_is_the_schema_itself() -> None:
    assert answer_model("quotes") is Extraction


def test_pipeline_with_candidates_writes_plain_records(tmp_path: Path) -> None:
    reply = {
        "incidents": [
            {
                "type": "aircraft_downing",
                "sentences": [1],
                "summary": "A jet was shot down.",
                "location": {"place": "Khan al-Subl", "country_other": "Syria", "sentences": [1]},
                "perpetrators": [{"name": None, "name_other": "rebels", "status": "claimed", "sentences": [3]}],
                "casualties": [{"kind": "killed", "count": 1, "qualifier": "exact", "who": "pilot", "sentences": [2]}],
                "primary": True,
            }
        ]
    }
    backend = MockBackend([reply])
    config = ExtractConfig(
        backend=backend, prompt=load_prompt_for("incidents", "refs"), evidence="refs", candidates=True
    )
    result = extract_document(Document(id="a", text=ARTICLE), config)
    assert result.status is Status.OK
    incident = result.incidents[0]
    assert incident.location is not None and incident.location.country == "Syria"
    assert incident.perpetrators[0].name == "rebels"
    assert result.provenance.candidates is True
    record = json.loads(result.to_json())
    assert "_other" not in json.dumps(record)
    tool = json.dumps(backend.calls[0].kwargs["tools"])
    assert '"Khan al-Subl"' in tool and "place_other" in tool
