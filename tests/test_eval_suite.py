"""The evaluation harness end to end: gold scored against itself, and the eval suites with their gates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from extract.cli import main
from extract.core.pipeline import ExtractConfig, ground_incidents
from extract.core.records import DocumentResult, Status, Usage
from extract.core.schema import Incident
from extract.scoring.gold import load_gold
from extract.scoring.incidents import FIELDS
from tests.conftest import GOLD, REPO

SUITES = sorted((REPO / "evals").glob("*.toml"))


def _gold_as_prediction(path: Path) -> None:
    """A run file whose incidents are the gold incidents themselves (keys and alternatives dropped)."""
    from extract.backends.mock import MockBackend

    provenance = ExtractConfig(backend=MockBackend()).provenance()
    gold = load_gold(GOLD)
    with path.open("w", encoding="utf-8") as fh:
        for doc_id, doc in gold.documents.items():
            incidents = [
                Incident.model_validate(i.model_dump(exclude={"key", "alternatives", "note"})) for i in doc.incidents
            ]
            result = DocumentResult(
                id=doc_id,
                status=Status.OK,
                incidents=incidents,
                evidence=ground_incidents(incidents, gold.articles[doc_id]),
                usage=Usage(),
                provenance=provenance,
            )
            fh.write(result.to_json() + "\n")


def test_gold_against_itself_scores_one_everywhere(tmp_path: Path) -> None:
    pred = tmp_path / "gold.jsonl"
    _gold_as_prediction(pred)
    summary_path = tmp_path / "summary.json"
    report = tmp_path / "report.md"
    assert (
        main(["eval", "--gold", str(GOLD), "--pred", str(pred), "--json", str(summary_path), "--report", str(report)])
        == 0
    )
    summary = json.loads(summary_path.read_text())
    assert summary["documents"] == 5 and summary["failures"] == 0
    for part in ("incidents", "slots"):
        assert summary[part]["precision"] == summary[part]["recall"] == summary[part]["f1"] == 1.0, part
    assert set(summary["fields"]) == set(FIELDS)
    for name, scores in summary["fields"].items():
        assert scores["f1"] in (1.0, None), name  # None: a field the gold never fills has nothing to score
    assert sum(scores["f1"] == 1.0 for scores in summary["fields"].values()) >= len(FIELDS) - 1
    assert summary["grounding_rate"] == 1.0  # every gold quote is verbatim in its article
    assert "000_992d4656b890393e" in report.read_text()


def test_an_empty_run_scores_zero_and_the_baseline_shows_deltas(tmp_path: Path) -> None:
    gold_pred = tmp_path / "gold.jsonl"
    _gold_as_prediction(gold_pred)
    base = tmp_path / "base.json"
    assert main(["eval", "--gold", str(GOLD), "--pred", str(gold_pred), "--json", str(base)]) == 0
    empty = tmp_path / "empty.jsonl"
    lines = [json.loads(line) for line in gold_pred.read_text().splitlines()]
    empty.write_text("".join(json.dumps({**r, "incidents": [], "evidence": []}) + "\n" for r in lines))
    out = tmp_path / "empty.json"
    assert main(["eval", "--gold", str(GOLD), "--pred", str(empty), "--json", str(out), "--baseline", str(base)]) == 0
    summary = json.loads(out.read_text())
    assert summary["incidents"]["recall"] == 0.0 and summary["slots"]["recall"] == 0.0
    assert summary["delta"]["incidents.f1"] == pytest.approx(-1.0)


@pytest.mark.parametrize("suite", [pytest.param(s, id=s.stem) for s in SUITES])
def test_eval_suite_gates_pass(suite: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # the suite writes its run under ./runs
    assert main(["eval", "--suite", str(suite), "--json", str(tmp_path / "s.json")]) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["documents"] == 5


# A model that invents: an incident whose quote is in no seed article.
INVENTED = {
    "type": "shelling",
    "quote": "Artillery fire hit the central market of an invented town at noon.",
    "summary": "An invented shelling.",
    "primary": True,
}


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"incidents": [INVENTED]}, id="invented-incident"),
        pytest.param({"incidents": []}, id="finds-nothing"),
    ],
)
def test_a_gate_fails_when_the_replayed_answers_get_worse(
    answer: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replace the recording by a worse model's: the same gates must fail.

    Which worse model fails the gates depends on what the recording scores: a recording that
    finds nothing can only be made worse by inventing (spurious, ungrounded); one that finds
    something also by finding nothing. Each case is checked against what the recording scores.
    """
    suite = REPO / "evals" / "seed-replay.toml"
    worse = tmp_path / "evals"
    shutil.copytree(REPO / "evals", worse)
    recording = worse / "recordings" / "seed-gemma-270m"
    recorded_incidents = 0
    for entry in recording.glob("*/*.json"):
        data = json.loads(entry.read_text())
        if data.get("outcome") == "ok":
            recorded_incidents += len(json.loads(data["result"])["incidents"])
        data.update(outcome="ok", result=json.dumps(answer))
        entry.write_text(json.dumps(data))
    if not answer["incidents"] and not recorded_incidents:
        pytest.skip("the recording finds nothing, so a model that finds nothing is not worse")
    (worse / "seed-replay.toml").write_text(
        suite.read_text()
        .replace('corpus = "../gold/articles"', f'corpus = "{GOLD / "articles"}"')
        .replace('gold = "../gold"', f'gold = "{GOLD}"')
    )
    monkeypatch.chdir(tmp_path)
    assert main(["eval", "--suite", str(worse / "seed-replay.toml")]) == 1


def test_eval_regrounds_against_a_corpus_and_names_repeated_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pred = tmp_path / "gold.jsonl"
    _gold_as_prediction(pred)
    lines = pred.read_text(encoding="utf-8").splitlines()
    pred.write_text("\n".join([*lines, lines[0]]) + "\n", encoding="utf-8")  # the first document written twice
    # --corpus: the quotes are checked against the documents the run read (they take precedence over gold/articles)
    bare = GOLD
    out = tmp_path / "s.json"
    assert main(["eval", "--gold", str(bare), "--pred", str(pred), "--corpus", str(GOLD / "articles"),
                 "--json", str(out)]) == 0  # fmt: skip
    summary = json.loads(out.read_text())
    first = json.loads(lines[0])["id"]
    assert summary["duplicate_ids"] == [first]
    assert summary["grounding_rate"] == 1.0 and summary["grounding_disagreements"] == 0
    assert f"written more than once (the later record is scored): {first}" in capsys.readouterr().out
    # against another text the same quotes are not found, whatever the run file's evidence says
    moved = tmp_path / "moved"
    moved.mkdir()
    for article in (GOLD / "articles").glob("*.txt"):
        (moved / article.name).write_text("An unrelated article.", encoding="utf-8")
    assert main(["eval", "--gold", str(bare), "--pred", str(pred), "--corpus", str(moved), "--json", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["grounding_rate"] == 0.0
    assert summary["grounding_claimed"]["rate"] == 1.0
    assert summary["grounding_disagreements"] == summary["grounding"]["total"] > 0


def test_a_negative_bootstrap_count_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred = tmp_path / "run.jsonl"
    pred.write_text("", encoding="utf-8")
    assert main(["eval", "--gold", str(GOLD), "--pred", str(pred), "--bootstrap", "-5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bootstrap" in err and "-5" in err, err
