"""Annotator agreement: Cohen's kappa worked by hand, two annotations scored both ways, and the command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from extract.cli import main
from extract.core.schema import IncidentType
from extract.scoring.agreement import agreement, cohen_kappa
from extract.scoring.gold import load_gold
from tests.conftest import GOLD
from tests.test_scoring_cases import downing, gold_incident, gold_set, strike


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        # p_o = 3/4; A codes x twice and y twice, B x once and y three times: p_e = 2/4*1/4 + 2/4*3/4 = 1/2;
        # kappa = (3/4 - 1/2) / (1 - 1/2) = 1/2
        pytest.param([("x", "x"), ("x", "y"), ("y", "y"), ("y", "y")], 0.5, id="half"),
        pytest.param([("x", "x"), ("y", "y")], 1.0, id="perfect"),
        # p_o = 0, p_e = 1/2*1/2 + 1/2*1/2 = 1/2: kappa = -1
        pytest.param([("x", "y"), ("y", "x")], -1.0, id="always-opposite"),
        pytest.param([("x", "x"), ("x", "x")], None, id="one-category-undefined"),
        pytest.param([], None, id="no-pairs"),
    ],
)
def test_cohen_kappa_by_hand(pairs: list[tuple[str, str]], expected: float | None) -> None:
    kappa = cohen_kappa(pairs).kappa
    assert kappa == (None if expected is None else pytest.approx(expected))


def test_two_annotations_both_ways() -> None:
    # A and B code the same two incidents; B types the strike as a missile strike (compatible, so aligned).
    # Type pairs: (downing, downing), (air_strike, missile_strike): p_o = 1/2, p_e = 1/4, kappa = 1/3.
    a = gold_set({"d": [gold_incident(downing()), gold_incident(strike("Ariha", 4, "Monday"), key="k2")]})
    b_strike = strike("Ariha", 4, "Monday", type=IncidentType.MISSILE_STRIKE)
    b = gold_set({"d": [gold_incident(downing()), gold_incident(b_strike, key="k2")], "only-b": []})
    report = agreement(a, b)
    assert report.documents == ("d",)
    assert report.only_b == ("only-b",)
    assert report.kappas["type"].kappa == pytest.approx(1 / 3)
    assert report.kappas["type"].pairs == 2
    rows = report.field_agreement()
    assert rows["type"]["a_as_gold"] == rows["type"]["b_as_gold"] == pytest.approx(0.5)
    assert rows["incidents"]["mean"] == pytest.approx(0.5)  # strict detection: one of two incidents agrees
    assert rows["location"]["mean"] == 1.0


def test_an_alternative_makes_the_two_directions_differ() -> None:
    # A accepts missile_strike as a reading; B does not list air_strike: A-as-gold agrees, B-as-gold does not
    strike_a = gold_incident(strike("Ariha", 4, "Monday"), alternatives={"type": ["missile_strike"]})
    strike_b = gold_incident(strike("Ariha", 4, "Monday", type=IncidentType.MISSILE_STRIKE))
    report = agreement(gold_set({"d": [strike_a]}), gold_set({"d": [strike_b]}))
    rows = report.field_agreement()
    assert (rows["type"]["a_as_gold"], rows["type"]["b_as_gold"]) == (1.0, 0.0)


def test_gold_agrees_with_itself() -> None:
    gold = load_gold(GOLD)
    report = agreement(gold, gold)
    rows = report.field_agreement().values()
    assert all(row["mean"] in (1.0, None) for row in rows)  # None: a field neither annotation fills
    assert any(row["mean"] == 1.0 for row in rows)
    assert all(k.kappa in (1.0, None) for k in report.kappas.values())


def test_gold_agree_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    second = tmp_path / "second"
    shutil.copytree(GOLD, second)
    label = second / "labels" / "001_fdcfd5f3d50c3716.json"
    data = json.loads(label.read_text(encoding="utf-8"))
    data["incidents"][0]["perpetrators"][1]["status"] = "confirmed"  # the second annotator reads the claim as fact
    label.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "agree.json"
    assert main(["gold", "agree", str(GOLD), str(second), "--json", str(out)]) == 0
    summary = json.loads(out.read_text(encoding="utf-8"))
    assert summary["fields"]["perpetrators"]["mean"] < 1.0
    assert summary["kappa"]["perpetrators.status"]["kappa"] < 1.0
    assert summary["kappa"]["type"]["kappa"] == 1.0
    assert "perpetrators.status" in capsys.readouterr().out


def test_gold_agree_without_shared_documents_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other"  # one article, not one of the seeds
    (other / "labels").mkdir(parents=True)
    (other / "articles").mkdir()
    (other / "labels" / "elsewhere.json").write_text('{"id": "elsewhere", "incidents": []}', encoding="utf-8")
    (other / "articles" / "elsewhere.txt").write_text("Nothing happened here.", encoding="utf-8")
    assert main(["gold", "agree", str(GOLD), str(other)]) == 2
    assert "no document in common" in capsys.readouterr().err
