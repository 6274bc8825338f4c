"""Training data keeps the held-out evaluation sets out: the loader drops their documents by id and counts them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from extract.core.errors import ConfigError
from extract.training.reserved import HELD_OUT_EVALS, held_out_ids
from extract.training.run import Source, load_sources

ROOT = Path(__file__).resolve().parent.parent
PLAIN = "Gunmen attacked a police post in Lima, killing three officers."


def write_gold(folder: Path, texts: dict[str, str]) -> Path:
    (folder / "labels").mkdir(parents=True)
    (folder / "articles").mkdir()
    for doc_id, text in texts.items():
        (folder / "labels" / f"{doc_id}.json").write_text(json.dumps({"id": doc_id, "incidents": []}), encoding="utf-8")
        (folder / "articles" / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    return folder


def first_label(folder: str) -> str:
    return sorted((ROOT / folder / "labels").glob("*.json"))[0].stem


def test_every_declared_held_out_set_is_in_the_repository_and_all_its_labels_are_held_out() -> None:
    ids = held_out_ids()
    for folder in HELD_OUT_EVALS:
        labels = sorted((ROOT / folder / "labels").glob("*.json"))
        assert labels, f"{folder} has no labels"
        assert {ids[path.stem] for path in labels} == {folder}


@pytest.mark.parametrize("folder", [pytest.param(f, id=Path(f).name) for f in HELD_OUT_EVALS])
def test_a_training_document_of_a_held_out_set_is_dropped_and_counted(tmp_path: Path, folder: str) -> None:
    held = first_label(folder)
    free = "aec-validation-9999"
    assert free not in held_out_ids()
    gold = write_gold(tmp_path / "gold", {held: PLAIN, free: PLAIN})
    docs, dropped = load_sources([Source(gold)])
    assert [d.id for d in docs] == [free]
    assert dropped == {f"held out for evaluation ({folder})": 1}


def test_documents_naming_a_reserved_incident_are_counted_apart(tmp_path: Path) -> None:
    gold = write_gold(tmp_path / "gold", {"doc-a": "Flight MH17 was shot down over Donetsk.", "doc-b": PLAIN})
    docs, dropped = load_sources([Source(gold)])
    assert [d.id for d in docs] == ["doc-b"]
    assert dropped == {"may report a reserved incident": 1}


def test_a_declared_set_missing_from_the_repository_is_an_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "evals").mkdir()
    with pytest.raises(ConfigError, match=HELD_OUT_EVALS[0]):
        held_out_ids(tmp_path)


def test_an_installed_package_without_evals_holds_nothing_out(tmp_path: Path) -> None:
    assert held_out_ids(tmp_path) == {}
