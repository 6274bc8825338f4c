"""Nothing lost outside ``extract run`` either: events, review, eval and gold never destroy what they read.

Each test names a way an output went wrong (pointed at an input, a full disk, a kill in the
middle, broken gold) and what must happen instead: one line, exit 2, every input and every
earlier output left as it was.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from extract.cli import main
from tests.review_fixtures import GOLD, seed_run

SITE_MARKER = ".review-site"


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("extract: error:"), err
    return lines[0]


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under a folder (or the one file) with its bytes, to show that nothing changed."""
    if root.is_file():
        return {root.name: root.read_bytes()}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A folder holding a run file, a copy of the seed gold folder and its publication dates."""
    seed_run(tmp_path / "run.jsonl")
    shutil.copytree(GOLD, tmp_path / "gold")
    shutil.copy(GOLD / "published.json", tmp_path / "published.json")
    (tmp_path / "link.jsonl").symlink_to(tmp_path / "run.jsonl")
    site = tmp_path / "site"  # an earlier review site someone keeps the run file in
    site.mkdir()
    (site / SITE_MARKER).write_text("written by extract review\n")
    shutil.copy(tmp_path / "run.jsonl", site / "run.jsonl")
    return tmp_path


# -- 1. an output that is an input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kept", "message"),
    [
        pytest.param(["events", "run.jsonl", "--out", "run.jsonl"], "run.jsonl", "--out is a run file",
                     id="events-out-is-the-run"),
        pytest.param(["events", "run.jsonl", "--out", "link.jsonl"], "run.jsonl", "--out is a run file",
                     id="events-out-is-a-link-to-the-run"),
        pytest.param(["events", "run.jsonl", "--published", "published.json", "--out", "published.json"],
                     "published.json", "--out is the --published file", id="events-out-is-the-dates-file"),
        pytest.param(["events", "run.jsonl", "--gold", "gold", "--out", "gold/aliases.json"], "gold",
                     "--out is inside the --gold folder", id="events-out-inside-the-gold-folder"),
        pytest.param(["events", "run.jsonl", "--gold", "gold", "--format", "hf", "--out", "gold"], "gold",
                     "--out is the --gold folder", id="events-hf-out-is-an-input-folder"),
        pytest.param(["review", "site/run.jsonl", "--out", "site"], "site", "--out holds the run file",
                     id="review-out-holds-its-run"),
        pytest.param(["review", "run.jsonl", "--gold", "gold", "--out", "gold"], "gold",
                     "--out is the --gold folder", id="review-out-is-the-gold-folder"),
        pytest.param(["eval", "--gold", "gold", "--pred", "run.jsonl", "--json", "run.jsonl"], "run.jsonl",
                     "--json is the --pred run file", id="eval-json-is-the-run"),
        pytest.param(["eval", "--gold", "gold", "--pred", "run.jsonl", "--report", "gold/labels/x.md"], "gold",
                     "--report is inside the --gold folder", id="eval-report-inside-the-gold-folder"),
        pytest.param(["eval", "--gold", "gold", "--pred", "run.jsonl", "--json", "s.json", "--report", "s.json"],
                     "run.jsonl", "--report is --json", id="eval-json-and-report-at-one-path"),
        pytest.param(["gold", "agree", "gold", "gold", "--json", "gold/aliases.json"], "gold",
                     "--json is inside the first gold folder", id="gold-agree-json-inside-a-gold-folder"),
    ],
)  # fmt: skip
def test_an_output_that_is_an_input_is_refused_and_the_input_kept(
    inputs: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str], kept: str,
    message: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(inputs)
    before = _snapshot(inputs / kept)
    assert main([*args, *(["--quiet"] if args[0] == "events" else [])]) == 2
    assert message in _one_error_line(capsys.readouterr().err)
    assert _snapshot(inputs / kept) == before
    assert not (inputs / "s.json").exists()
