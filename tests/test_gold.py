"""Gold labels: the shipped set is sound, and the validator catches each kind of broken label."""

from __future__ import annotations

import copy
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from extract.core.records import DocumentResult, Status
from extract.core.schema import SCHEMA_VERSION, Extraction, Incident
from extract.scoring.gold import GoldDocument, GoldIncident, load_gold
from extract.scoring.gold_checks import GoldProblem, validate_gold
from extract.scoring.normalize import AliasIndex, normalize_name
from extract.testing.synthetic_runs import PROVENANCE

GOLD = Path(__file__).resolve().parent.parent / "gold"
DOC_ID = "doc_a"
ARTICLE = (
    "Rebels shot down a Russian Su-25 near Sarqeb on Saturday, killing the pilot.\n"
    "The observatory said more than 30 strikes hit the town overnight.\n"
)


def _label() -> dict[str, Any]:
    """A small, valid gold document for ARTICLE; cases below break one thing in a copy of it."""
    return {
        "id": DOC_ID,
        "schema_version": SCHEMA_VERSION,
        "incidents": [
            {
                "key": "2018-02-03-su25-downing-saraqeb",
                "primary": True,
                "type": "aircraft_downing",
                "quote": "Rebels shot down a Russian Su-25 near Sarqeb on Saturday, killing the pilot.",
                "summary": "Rebels shot down a Russian Su-25 near Sarqeb and killed the pilot.",
                "date": {"text": "Saturday", "iso": None, "precision": "day", "quote": "on Saturday"},
                "location": {"near": "Sarqeb", "quote": "near Sarqeb"},
                "aircraft": [
                    {"model": "Su-25", "category": "fixed_wing", "operator": "Russia", "quote": "a Russian Su-25"}
                ],
                "perpetrators": [{"name": "Rebels", "status": "confirmed", "quote": "Rebels shot down"}],
                "casualties": [
                    {"kind": "killed", "count": 1, "qualifier": "exact", "who": "pilot", "quote": "killing the pilot"}
                ],
                "alternatives": {"location.near": ["Saraqeb"], "aircraft[0].model": ["Sukhoi Su-25"]},
            },
            {
                "key": "2018-02-03-airstrikes-saraqeb",
                "type": "air_strike",
                "quote": "The observatory said more than 30 strikes hit the town overnight.",
                "summary": "More than 30 strikes hit the town overnight.",
                "sources": [{"name": "the observatory", "kind": "monitor", "quote": "The observatory said"}],
            },
        ],
    }


def _write_gold(root: Path, label: dict[str, Any] | str, aliases: dict[str, Any] | None = None) -> Path:
    (root / "labels").mkdir(parents=True)
    (root / "articles").mkdir()
    (root / "articles" / f"{DOC_ID}.txt").write_text(ARTICLE, encoding="utf-8")
    text = label if isinstance(label, str) else json.dumps(label, ensure_ascii=False)
    (root / "labels" / f"{DOC_ID}.json").write_text(text, encoding="utf-8")
    if aliases is not None:
        (root / "aliases.json").write_text(json.dumps(aliases), encoding="utf-8")
    return root


def test_small_gold_fixture_is_valid(tmp_path: Path) -> None:
    # The broken cases below are only meaningful if the unbroken fixture passes.
    assert validate_gold(_write_gold(tmp_path, _label())) == []


def test_shipped_gold_has_no_problems() -> None:
    problems = validate_gold(GOLD)
    assert problems == [], "\n".join(str(p) for p in problems)


# --- one broken thing per case ------------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets a dotted path (``incidents.0.aircraft.0.quote``) in the label."""

    def mutate(label: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        obj: Any = label
        for part in parents:
            obj = obj[int(part)] if part.isdigit() else obj[part]
        if value is _DELETE:
            del obj[int(last) if last.isdigit() else last]
        else:
            obj[int(last) if last.isdigit() else last] = value

    return mutate


_DELETE = object()

LABEL_CASES = [
    pytest.param(
        _set("incidents.0.aircraft.0.quote", "a Russian Su 25 jet"),
        "incidents[0].aircraft[0].quote",
        "closest passage",
        id="quote-not-verbatim",
    ),
    pytest.param(
        _set("incidents.0.quote", "rebels shot down a Russian Su-25 near  Sarqeb on Saturday, killing the pilot."),
        "incidents[0].quote",
        "only in case, spacing or typographic characters",
        id="quote-differs-in-case-and-spacing",
    ),
    pytest.param(
        _set("incidents.1.sources.0.quote", "The monitor said"),
        "incidents[1].sources[0].quote",
        "not occur verbatim",
        id="quote-in-second-incident",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"aircraft[0].modle": ["Su 25"]}),
        'incidents[0].alternatives["aircraft[0].modle"]',
        "has no field 'modle'",
        id="alternatives-unknown-field",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"perpetrators[2].name": ["Syrian rebels"]}),
        'incidents[0].alternatives["perpetrators[2].name"]',
        "out of range",
        id="alternatives-index-out-of-range",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"aircraft.model": ["Su 25"]}),
        'incidents[0].alternatives["aircraft.model"]',
        "is a list",
        id="alternatives-list-without-index",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"casualties[0].count": ["one"]}),
        'incidents[0].alternatives["casualties[0].count"]',
        "not a whole number",
        id="alternatives-count-not-a-number",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"primary": ["true"]}),
        'incidents[0].alternatives["primary"]',
        "not a text, category or count field",
        id="alternatives-flag-field",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"aircraft[0]": ["Su-25"]}),
        'incidents[0].alternatives["aircraft[0]"]',
        "not a text, category or count field",
        id="alternatives-whole-object",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"aircraft[0].model[0]": ["Su 25"]}),
        'incidents[0].alternatives["aircraft[0].model[0]"]',
        "'model' is not a list",
        id="alternatives-index-on-text",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"aircraft[x].model": ["Su 25"]}),
        'incidents[0].alternatives["aircraft[x].model"]',
        "'aircraft[x]' is not a field name",
        id="alternatives-bad-segment",
    ),
    pytest.param(
        _set("incidents.0.location", None),
        'incidents[0].alternatives["location.near"]',
        "location is null, so alternatives under it are never used",
        id="alternatives-under-empty-location",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"weapon.text": ["missile"]}),
        'incidents[0].alternatives["weapon.text"]',
        "weapon is null",
        id="alternatives-under-empty-weapon",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"key": ["su25"]}),
        'incidents[0].alternatives["key"]',
        "has no field 'key'",
        id="alternatives-annotation-field",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"date.quote": ["Saturday"]}),
        'incidents[0].alternatives["date.quote"]',
        "not a scored value",
        id="alternatives-quote-field",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"type": ["shootdown"]}),
        'incidents[0].alternatives["type"]',
        "'shootdown' is not one of",
        id="alternatives-bad-category",
    ),
    pytest.param(
        _set("incidents.0.alternatives", {"aircraft[0].model": ["su-25"]}),
        'incidents[0].alternatives["aircraft[0].model"]',
        "repeats the coded value",
        id="alternatives-repeat-value",
    ),
    pytest.param(
        _set("incidents.1.primary", True),
        "incidents",
        "2 incidents are primary (incidents[0], incidents[1])",
        id="two-primaries",
    ),
    pytest.param(_set("incidents.0.key", ""), "incidents[0].key", "key is empty", id="empty-key"),
    pytest.param(_set("incidents.0.key", "Su25 downing"), "incidents[0].key", "lowercase slug", id="key-not-a-slug"),
    pytest.param(
        _set("incidents.1.key", "2018-02-03-su25-downing-saraqeb"),
        "incidents[1].key",
        "also used by incidents[0]",
        id="key-twice-in-one-document",
    ),
    pytest.param(_set("id", "doc_b"), "id", "does not match the file name", id="id-mismatch"),
    pytest.param(_set("schema_version", "0.9.0"), "schema_version", "not the current", id="old-schema-version"),
    pytest.param(
        _set("incidents.0.type", "shootdown"), "incidents[0].type", "Input should be", id="schema-error-bad-category"
    ),
    pytest.param(
        _set("incidents.1.summary", _DELETE), "incidents[1].summary", "Field required", id="schema-error-missing-field"
    ),
    pytest.param(
        _set("incidents.0.casualties.0.qualifier", "range"),
        "incidents[0].casualties[0]",
        "count_max",
        id="schema-error-model-rule",
    ),
    pytest.param(_set("incidents.0.nickname", "x"), "incidents[0].nickname", "Extra inputs", id="schema-error-extra"),
]


@pytest.mark.parametrize(("mutate", "path", "fragment"), LABEL_CASES)
def test_broken_label_is_caught(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], path: str, fragment: str
) -> None:
    label = copy.deepcopy(_label())
    mutate(label)
    problems = validate_gold(_write_gold(tmp_path, label))
    assert len(problems) == 1, "\n".join(str(p) for p in problems)
    (problem,) = problems
    assert problem.file.endswith(f"{DOC_ID}.json")
    assert problem.path == path
    assert fragment in problem.message


@pytest.mark.parametrize(
    ("incident", "alternatives"),
    [
        pytest.param(0, {"location.place": ["Sarqeb", "Saraqeb"]}, id="optional-empty-place"),
        pytest.param(0, {"date.iso": ["2018-02-03"]}, id="optional-empty-iso"),
        pytest.param(1, {"date.text": ["overnight"]}, id="optional-date-under-empty-date"),
        pytest.param(0, {"casualties[0].count": ["2"]}, id="count-as-digits"),
        pytest.param(0, {"type": ["aircraft_loss"], "perpetrators[0].status": ["claimed"]}, id="categories"),
        pytest.param(1, {"sources[0].kind": ["other"], "sources[0].name": ["SOHR"]}, id="list-item-fields"),
    ],
)
def test_valid_alternatives_pass(tmp_path: Path, incident: int, alternatives: dict[str, list[str]]) -> None:
    # The scorer reads alternatives for an empty text field as "optional, but one of these if given".
    label = _label()
    label["incidents"][incident]["alternatives"] = alternatives
    assert validate_gold(_write_gold(tmp_path, label)) == []


def test_missing_article_is_caught(tmp_path: Path) -> None:
    root = _write_gold(tmp_path, _label())
    (root / "articles" / f"{DOC_ID}.txt").unlink()
    problems = validate_gold(root)
    assert [(p.path, "no article at" in p.message) for p in problems] == [("", True)]


def test_article_without_label_is_caught(tmp_path: Path) -> None:
    root = _write_gold(tmp_path, _label())
    (root / "articles" / "doc_b.txt").write_text("An unlabelled article.", encoding="utf-8")
    problems = validate_gold(root)
    assert len(problems) == 1
    assert problems[0].file.endswith("doc_b.txt")
    assert "has no label file" in problems[0].message


def test_invalid_json_is_caught(tmp_path: Path) -> None:
    problems = validate_gold(_write_gold(tmp_path, '{"id": "doc_a", "incidents": [}'))
    assert len(problems) == 1
    assert "not valid JSON (line 1" in problems[0].message


def test_missing_labels_folder_is_caught(tmp_path: Path) -> None:
    problems = validate_gold(tmp_path)
    assert len(problems) == 1
    assert "no labels/ folder" in problems[0].message


def test_schema_error_does_not_hide_other_problems(tmp_path: Path) -> None:
    # One invalid incident must not stop the checks on the incidents that do validate.
    label = _label()
    label["incidents"][0]["type"] = "shootdown"
    label["incidents"][1]["quote"] = "Thirty strikes hit the town."
    problems = validate_gold(_write_gold(tmp_path, label))
    assert sorted(p.path for p in problems) == ["incidents[0].type", "incidents[1].quote"]


@pytest.mark.parametrize(
    ("aliases", "fragment"),
    [
        pytest.param(
            {"Saraqeb": ["Sarqeb"], "Sarqeb town": ["sarqeb"]}, "also belongs to 'Saraqeb'", id="variant-in-two-groups"
        ),
        pytest.param({"Saraqeb": ["Sarqeb"], "Idlib": ["Saraqeb"]}, "also belongs to", id="canonical-as-variant"),
        pytest.param({"Saraqeb": "Sarqeb"}, "list of non-empty strings", id="variants-not-a-list"),
        pytest.param({"Saraqeb": ["Sarqeb", " "]}, "list of non-empty strings", id="empty-variant"),
        pytest.param(["Saraqeb", "Sarqeb"], "one object", id="not-an-object"),
    ],
)
def test_broken_aliases_are_caught(tmp_path: Path, aliases: Any, fragment: str) -> None:
    problems = validate_gold(_write_gold(tmp_path, _label(), aliases=aliases))
    assert len(problems) == 1, "\n".join(str(p) for p in problems)
    assert problems[0].file.endswith("aliases.json")
    assert fragment in problems[0].message


def _label_is_a_folder(root: Path) -> Path:
    (root / "labels" / "doc_b.json").mkdir()
    return root / "labels" / "doc_b.json"


def _aliases_of_numbers(root: Path) -> Path:
    (root / "aliases.json").write_text('{"x": 5}', encoding="utf-8")
    return root / "aliases.json"


def _article_not_utf8(root: Path) -> Path:
    (root / "articles" / f"{DOC_ID}.txt").write_bytes(ARTICLE.encode("utf-16"))
    return root / "articles" / f"{DOC_ID}.txt"


def _no_labels(root: Path) -> Path:
    (root / "labels" / f"{DOC_ID}.json").unlink()
    return root / "labels"


@pytest.mark.parametrize(
    ("breaks", "what"),
    [
        pytest.param(_label_is_a_folder, "cannot read the file (Is a directory)", id="label-path-is-a-folder"),
        pytest.param(_aliases_of_numbers, '"x": variants must be a list', id="aliases-of-numbers"),
        pytest.param(_article_not_utf8, "not UTF-8 text (byte 0)", id="article-not-utf8"),
        pytest.param(_no_labels, "no label files", id="no-labels"),
    ],
)
def test_broken_gold_is_one_line_naming_the_file_in_eval_and_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], breaks: Callable[[Path], Path], what: str
) -> None:
    from extract.cli import main

    root = _write_gold(tmp_path / "gold", _label())
    run = tmp_path / "run.jsonl"
    run.write_text(DocumentResult(id=DOC_ID, status=Status.OK, provenance=PROVENANCE).to_json() + "\n")
    culprit = breaks(root)
    assert main(["eval", "--gold", str(root), "--pred", str(run), "--bootstrap", "10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"extract: error: {culprit}: ") and what in err and len(err.splitlines()) == 1, err
    assert main(["gold", "validate", str(root)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert any(line.startswith(f"{culprit}: ") for line in out[:-1]), out
    assert all(line.startswith(str(root)) for line in out[:-1]) and out[-1].endswith(f"problem(s) in {root}"), out


@pytest.mark.parametrize(
    ("published", "what"),
    [
        pytest.param("[]", "the publication dates must be a JSON object", id="a-list"),
        pytest.param('"2024-05-01"', "the publication dates must be a JSON object", id="a-string"),
        pytest.param("{not json", "the publication dates is not JSON", id="not-json"),
        pytest.param(f'{{"{DOC_ID}": "2024-05-01"}}', "expected an object with date", id="an-entry-not-an-object"),
        pytest.param(f'{{"{DOC_ID}": {{"date": "May 1"}}}}', "is not an ISO date", id="an-entry-not-a-date"),
    ],
)
def test_broken_publication_dates_are_the_same_one_line_in_eval_and_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], published: str, what: str
) -> None:
    from extract.cli import main

    root = _write_gold(tmp_path / "gold", _label())
    (root / "published.json").write_text(published, encoding="utf-8")
    run = tmp_path / "run.jsonl"
    run.write_text(DocumentResult(id=DOC_ID, status=Status.OK, provenance=PROVENANCE).to_json() + "\n")
    assert main(["eval", "--gold", str(root), "--pred", str(run), "--bootstrap", "10"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"extract: error: {root / 'published.json'}") and what in err[0], err
    assert main(["gold", "validate", str(root)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [err[0].removeprefix("extract: error: "), f"1 problem(s) in {root}"]


def test_alias_variants_differing_only_in_case_within_a_group_are_fine(tmp_path: Path) -> None:
    aliases = {"Syrian rebels": ["rebels", "Rebels"], "Saraqeb": ["Sarqeb"]}
    assert validate_gold(_write_gold(tmp_path, _label(), aliases=aliases)) == []


@pytest.mark.parametrize(
    ("problem", "line"),
    [
        pytest.param(
            GoldProblem("labels/a.json", "incidents[0].quote", "bad"),
            "labels/a.json: incidents[0].quote: bad",
            id="with-path",
        ),
        pytest.param(GoldProblem("articles/b.txt", "", "no label"), "articles/b.txt: no label", id="without-path"),
    ],
)
def test_problem_prints_as_one_line(problem: GoldProblem, line: str) -> None:
    assert str(problem) == line


# --- the shipped gold set --------------------------------------------------------------------------------------------

SHIPPED_IDS = sorted(p.stem for p in (GOLD / "labels").glob("*.json"))


def test_shipped_gold_covers_the_seed_articles() -> None:
    assert sorted(p.stem for p in (GOLD / "articles").glob("*.txt")) == SHIPPED_IDS
    assert len(SHIPPED_IDS) == 5


@pytest.mark.parametrize("doc_id", [pytest.param(d, id=d) for d in SHIPPED_IDS])
def test_shipped_document_parses_into_the_schema(doc_id: str) -> None:
    doc = GoldDocument.model_validate_json((GOLD / "labels" / f"{doc_id}.json").read_text(encoding="utf-8"))
    # Stripped of the annotation fields, the gold must be exactly what a model is asked to return.
    plain = [Incident.model_validate(i.model_dump(exclude={"key", "alternatives", "note"})) for i in doc.incidents]
    extraction = Extraction.model_validate({"incidents": [i.model_dump() for i in plain]})
    assert len(extraction.incidents) == len(doc.incidents) > 0
    assert sum(i.primary for i in extraction.incidents) == 1


@pytest.mark.parametrize(
    ("key", "documents"),
    [
        pytest.param("2018-02-03-su25-downing-saraqeb", {"000", "001", "002"}, id="su25-downing"),
        pytest.param("2018-02-03-airstrikes-saraqeb", {"000", "001"}, id="saraqeb-strikes"),
        pytest.param("2018-02-convoy-strikes-m5-highway", {"001", "002"}, id="convoy-strikes"),
        pytest.param("2018-02-03-russian-retaliation-strike-idlib", {"001", "002"}, id="retaliation"),
        pytest.param("2016-08-01-mi8-downing-idlib", {"003", "004"}, id="mi8-downing"),
        pytest.param("2016-08-01-rebel-shelling-aleppo", {"003", "004"}, id="aleppo-shelling"),
        pytest.param("2016-07-31-rebel-offensive-clashes-aleppo", {"003", "004"}, id="aleppo-clashes"),
    ],
)
def test_shared_incident_keys_link_the_same_articles(key: str, documents: set[str]) -> None:
    gold = load_gold(GOLD)
    found = {doc_id[:3] for doc_id, doc in gold.documents.items() if any(i.key == key for i in doc.incidents)}
    assert found == documents


def test_guidelines_worked_example_validates(tmp_path: Path) -> None:
    # The worked example in GUIDELINES.md is real gold for article 001; keep it that way.
    text = (GOLD / "GUIDELINES.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 1
    example = json.loads(blocks[0])
    doc_id = "001_fdcfd5f3d50c3716"
    (tmp_path / "labels").mkdir()
    (tmp_path / "articles").mkdir()
    shutil.copy(GOLD / "articles" / f"{doc_id}.txt", tmp_path / "articles")
    label = {"id": doc_id, "schema_version": SCHEMA_VERSION, "incidents": [example]}
    (tmp_path / "labels" / f"{doc_id}.json").write_text(json.dumps(label, ensure_ascii=False), encoding="utf-8")
    assert validate_gold(tmp_path) == []
    shipped = {i.key: i for i in load_gold(GOLD).documents[doc_id].incidents}[example["key"]]
    assert GoldIncident.model_validate(example).model_dump(exclude={"note"}) == shipped.model_dump(exclude={"note"})


# ---------------------------------------------------------------- checks of the seed gold against the guidelines


def _seed_incidents() -> list[tuple[str, int, Any]]:
    gold = load_gold(GOLD)
    return [(doc_id, k, i) for doc_id, doc in gold.documents.items() for k, i in enumerate(doc.incidents)]


def test_seed_location_quotes_state_the_places_coded() -> None:
    # Section 4: a quote states its value. A place or near must be written in the location's own quote
    # (as coded or as a member of its alias group), not only in an alternative.
    aliases = AliasIndex(json.loads((GOLD / "aliases.json").read_text(encoding="utf-8")))
    problems = []
    for doc_id, k, incident in _seed_incidents():
        location = incident.location
        if location is None:
            continue
        quote = f" {normalize_name(location.quote)} "
        for part in ("place", "near"):
            value = getattr(location, part)
            if value and not any(f" {normalize_name(n)} " in quote for n in aliases.expand([value])):
                problems.append(f"{doc_id} incidents[{k}].location.{part} {value!r} not in {location.quote!r}")
    assert problems == []


def test_seed_claims_are_never_accepted_as_confirmed() -> None:
    # Section 8: an actor announcing its own attack is a claim; accepting "confirmed" for it would let a claim
    # coded as fact score as right.
    problems = [
        f"{doc_id} incidents[{k}].perpetrators[{j}] {p.name!r}"
        for doc_id, k, incident in _seed_incidents()
        for j, p in enumerate(incident.perpetrators)
        if p.status.value == "claimed" and "confirmed" in incident.alternatives.get(f"perpetrators[{j}].status", [])
    ]
    assert problems == []
