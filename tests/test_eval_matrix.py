"""Eval matrices end to end, offline: mock and replay cells over the seed articles, scored, compared and gated."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extract.api import _plan_cell, run_corpus
from extract.backends.mock import MockBackend, MockCall
from extract.cli import main
from extract.core.errors import ConfigError
from extract.scoring.gold import load_gold
from extract.scoring.matrix import load_matrix
from extract.store import CachingBackend, ResponseStore
from tests.conftest import GOLD, REPO

EXAMPLE = REPO / "evals" / "matrices" / "seed-offline.toml"


def gold_answers(call: MockCall) -> dict[str, Any]:
    """A model that answers every seed article with its gold incidents (keys, alternatives and notes left out)."""
    gold = load_gold(GOLD)
    for doc_id, text in gold.articles.items():
        if text.strip()[:120] in call.article:
            incidents = gold.documents[doc_id].incidents
            return {
                "incidents": [i.model_dump(mode="json", exclude={"key", "alternatives", "note"}) for i in incidents]
            }
    raise AssertionError("an article that is not a seed")


@pytest.fixture(scope="module")
def gold_recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A recording of the gold answers, replayed by a mock cell."""
    root = tmp_path_factory.mktemp("recordings")
    recorder = CachingBackend(MockBackend(gold_answers, model="gold"), ResponseStore(root / "gold"), recording=True)
    run_corpus(GOLD / "articles", out=root / "recorded.jsonl", backend=recorder)
    return root / "gold"


def write_matrix(folder: Path, body: str) -> Path:
    path = folder / "m.toml"
    header = f'corpus = "{GOLD / "articles"}"\ngold = "{GOLD}"\nout = "{folder / "runs"}"\n'
    path.write_text(header + body, encoding="utf-8")
    return path


MATRIX = """
baseline = "empty"

[defaults]
backend = "mock"

[[cells]]
name = "empty"

[[cells]]
name = "gold"
replay = "{recording}"
thresholds = {{ "incidents.f1" = 1.0, "versus_baseline.slots.f1.delta" = 0.5 }}

[[cells]]
name = "echo"
model = "echo"

[thresholds]
max_failures = 0
"""


def summary_of(path: Path) -> dict[str, Any]:
    return {cell["name"]: cell for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]}


def test_cells_are_scored_compared_with_the_baseline_and_reported(
    gold_recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    matrix = write_matrix(tmp_path, MATRIX.format(recording=gold_recording))
    review = tmp_path / "review"
    args = ["eval", "--matrix", str(matrix), "--json", str(tmp_path / "m.json"), "--review", str(review)]
    assert main([*args, "--report", str(tmp_path / "m.md")]) == 0
    cells = summary_of(tmp_path / "m.json")
    assert list(cells) == ["empty", "gold", "echo"]
    gold, empty = cells["gold"], cells["empty"]
    assert gold["metrics"]["incidents.f1"] == gold["metrics"]["slots.f1"] == gold["metrics"]["research.gtt.f1"] == 1.0
    assert gold["metrics"]["grounding_rate"] == 1.0 and gold["metrics"]["failures"] == 0
    assert empty["metrics"]["incidents.f1"] == 0.0 and empty["ci"]["slots.f1"] == [0.0, 0.0]
    # the gold cell against the empty baseline: every resample of documents has it 1.0 better
    versus = gold["versus_baseline"]["slots.f1"]
    assert versus["delta"] == 1.0 and versus["ci"] == [1.0, 1.0] and versus["p"] == 0.0
    assert empty["versus_baseline"]["slots.f1"]["p"] == 1.0  # the baseline against itself
    assert gold["gates"] == {"checked": 3, "failed": []}
    # each cell's run file and eval summary, beside the matrix's own JSON and Markdown
    for name in cells:
        run = tmp_path / "runs" / f"{name}.jsonl"
        assert len(run.read_text().splitlines()) == 5
        assert json.loads(run.with_suffix(".summary.json").read_text())["documents"] == 5
    assert (tmp_path / "runs" / "matrix.json").is_file() is False  # --json was given
    markdown = (tmp_path / "m.md").read_text()
    assert "| gold | 1.000 1.000–1.000 |" in markdown and "+1.000 * p&lt;0.001" in markdown
    out = capsys.readouterr().out
    assert "cell 3/3: echo" in out and "all 5 gate(s) passed" in out and "+1.000 *" in out
    # the review site: the matrix page, linked to each cell's own site, which links back
    page = (review / "index.html").read_text()
    assert all(f'href="cells/{name}/index.html"' in page for name in cells)
    assert '<a href="../../index.html">Matrix</a>' in (review / "cells" / "gold" / "index.html").read_text()


def test_a_rerun_extracts_again_only_the_cells_that_changed(gold_recording: Path, tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, MATRIX.format(recording=gold_recording))
    summary = tmp_path / "runs" / "matrix.json"
    assert main(["eval", "--matrix", str(matrix)]) == 0
    first = summary_of(summary)
    assert all(c["fresh"] and c["extracted"] == 5 for c in first.values())
    assert main(["eval", "--matrix", str(matrix)]) == 0
    again = summary_of(summary)
    assert all(not c["fresh"] and c["extracted"] == 0 and c["reused"] == 5 for c in again.values())
    assert {n: c["metrics"] for n, c in again.items()} == {n: c["metrics"] for n, c in first.items()}
    # one cell's options change: that cell alone runs again
    matrix.write_text(matrix.read_text().replace('model = "echo"', 'model = "echo"\nevidence = "refs"'))
    assert main(["eval", "--matrix", str(matrix)]) == 0
    changed = summary_of(summary)
    assert [n for n, c in changed.items() if c["fresh"]] == ["echo"] and changed["echo"]["extracted"] == 5
    assert json.loads((tmp_path / "runs" / "echo.jsonl").read_text().splitlines()[0])["provenance"]["evidence"] == (
        "refs"
    )
    # a file a cell reads changes (a recording made again): that cell alone runs again
    entry = next(gold_recording.glob("*/*.json"))
    stat = entry.stat()
    os.utime(entry, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert main(["eval", "--matrix", str(matrix)]) == 0
    assert [n for n, c in summary_of(summary).items() if c["fresh"]] == ["gold"]


def test_a_run_cut_short_resumes_as_the_same_cell(gold_recording: Path, tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, MATRIX.format(recording=gold_recording))
    assert main(["eval", "--matrix", str(matrix)]) == 0
    run = tmp_path / "runs" / "gold.jsonl"
    lines = run.read_text().splitlines()
    run.write_text("\n".join(lines[:2]) + "\n")  # as if killed after two documents
    assert main(["eval", "--matrix", str(matrix)]) == 0
    gold = summary_of(tmp_path / "runs" / "matrix.json")["gold"]
    assert (gold["fresh"], gold["extracted"], gold["reused"]) == (False, 3, 2)
    assert gold["metrics"]["incidents.f1"] == 1.0


def test_a_failed_gate_names_its_cell_and_exits_1(
    gold_recording: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the empty baseline quotes nothing: its grounding rate, and any change in it, has no value
    gates = '{ "slots.f1" = 0.5, "versus_baseline.grounding_rate.delta" = -1 }'
    body = MATRIX.format(recording=gold_recording).replace('name = "empty"', f'name = "empty"\nthresholds = {gates}')
    matrix = write_matrix(tmp_path, body)
    assert main(["eval", "--matrix", str(matrix)]) == 1
    out = capsys.readouterr().out
    assert "gate failed: empty: slots.f1 = 0.000 is below the minimum 0.500" in out
    assert "gate failed: empty: versus_baseline.grounding_rate.delta has no value" in out
    assert summary_of(tmp_path / "runs" / "matrix.json")["empty"]["gates"]["failed"]


def test_failed_documents_fail_a_cell_without_max_failures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the seed recording answers the refs prompt only: in quotes mode every document is a replay miss
    recording = REPO / "evals" / "recordings" / "seed-gemma-270m"
    cell = f'name = "quotes"\nbackend = "mock"\nreplay = "{recording}"\nevidence = "quotes"\n'
    matrix = write_matrix(tmp_path, "[[cells]]\n" + cell)
    assert main(["eval", "--matrix", str(matrix)]) == 1
    assert "quotes: 5 document(s) failed (set max_failures to allow some)" in capsys.readouterr().out


def test_the_example_matrix_runs_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # its runs go under ./runs
    assert main(["eval", "--matrix", str(EXAMPLE)]) == 0
    cells = summary_of(tmp_path / "runs" / "matrix-seed-offline" / "matrix.json")
    assert list(cells) == ["replay", "echo,evidence=quotes", "echo,evidence=refs"]
    assert all(c["metrics"]["failures"] == 0 for c in cells.values())


def test_a_matrix_is_not_run_as_a_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--suite", str(EXAMPLE)]) == 2
    assert "is an eval matrix, not a suite" in capsys.readouterr().err


# --- the matrix file ----------------------------------------------------------------------------------------------


def test_axes_make_the_cells(tmp_path: Path) -> None:
    (tmp_path / "rec").mkdir()
    (tmp_path / "p.prompt").write_text("x")
    matrix = write_matrix(
        tmp_path,
        """
[defaults]
backend = "mock"
max_retries = 1

[axes]
schema_style = ["full", "compact"]

[[cells]]
name = "a"
replay = "rec"
prompt = "p.prompt"

[[cells]]
name = "b"
model = "echo"
max_retries = 0
axes = { candidates = [false, "strict"] }
thresholds = { max_failures = 1 }

[thresholds]
"slots.f1" = 0.1
""",
    )
    spec = load_matrix(matrix)
    assert [c.name for c in spec.cells] == [
        "a,schema_style=full", "a,schema_style=compact",
        "b,schema_style=full,candidates=false", "b,schema_style=full,candidates=strict",
        "b,schema_style=compact,candidates=false", "b,schema_style=compact,candidates=strict",
    ]  # fmt: skip
    a, b = spec.cells[0], spec.cells[-1]
    assert a.options == {"backend": "mock", "max_retries": 1, "replay": str(tmp_path / "rec"),
                         "prompt": str(tmp_path / "p.prompt"), "schema_style": "full"}  # fmt: skip
    assert b.options == {"backend": "mock", "max_retries": 0, "model": "echo", "schema_style": "compact",
                         "candidates": "strict"}  # fmt: skip
    assert spec.baseline == "a,schema_style=full"  # the first cell, when none is named
    assert spec.gates(a) == {"slots.f1": 0.1} and spec.gates(b) == {"slots.f1": 0.1, "max_failures": 1.0}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param('colour = "red"\n[[cells]]\nname = "a"\n', "unknown key 'colour'", id="unknown-key"),
        pytest.param('[[cells]]\nbackend = "mock"\n', "cell 1: name None", id="no-name"),
        pytest.param('[[cells]]\nname = "a/b"\n', "cell 1: name 'a/b'", id="unsafe-name"),
        pytest.param('[[cells]]\nname = "a"\n[[cells]]\nname = "A"\n', "two cells are named 'A'", id="same-name"),
        pytest.param('baseline = "z"\n[[cells]]\nname = "a"\n', "the baseline 'z' is not a cell", id="baseline"),
        pytest.param('[[cells]]\nname = "a"\naxes = { evidence = "refs" }\n', "axis 'evidence' needs a list",
                     id="axis-not-list"),
        pytest.param('[[cells]]\nname = "a"\nreplay = "nowhere"\n', "replay", id="missing-recording"),
        pytest.param('[[cells]]\nname = "a"\nmodel = ["x"]\n', "option 'model' must be a single value",
                     id="option-list"),
        pytest.param('[thresholds]\n"slots.f1" = "high"\n[[cells]]\nname = "a"\n', "gate 'slots.f1' needs a number",
                     id="gate-not-number"),
        pytest.param("", "no cells", id="no-cells"),
        pytest.param("[[cells]\n", "not a valid matrix file", id="toml"),
    ],
)  # fmt: skip
def test_a_mistake_in_the_file_is_one_line_naming_it(body: str, message: str, tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_matrix(matrix)
    assert str(matrix) in caught.value.one_line() and message in caught.value.one_line()


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        pytest.param('backend = "mock"\nthreads = 2', "cell 'late': --threads applies to the local backend only",
                     id="option-of-another-backend"),
        pytest.param('backend = "nope"', "cell 'late': unknown backend 'nope'", id="unknown-backend"),
        pytest.param('backend = "mock"\nevidence = "pictures"', "cell 'late': unknown evidence mode", id="evidence"),
        pytest.param('backend = "mock"\nprompt = "no-such-prompt"', "cell 'late'", id="prompt"),
        pytest.param('backend = "mock"\nthresholds = { "slots.f2" = 0.5 }', "cell 'late': unknown metric 'slots.f2'",
                     id="misspelt-gate"),
        pytest.param('backend = "mock"\nmax_retries = -1', "cell 'late': --max-retries", id="run-option"),
    ],
)  # fmt: skip
def test_every_cell_is_checked_before_any_runs(
    cell: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    matrix = write_matrix(
        tmp_path, f'[[cells]]\nname = "first"\nbackend = "mock"\n\n[[cells]]\nname = "late"\n{cell}\n'
    )
    assert main(["eval", "--matrix", str(matrix)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and str(matrix) in err, err
    assert not (tmp_path / "runs" / "first.jsonl").exists()  # nothing ran


def test_a_local_cell_names_its_adapter(tmp_path: Path) -> None:
    """A local cell with adapter none, default or a path is planned (not run: that needs the model)."""
    pytest.importorskip("gguf")
    from extract.training.gguf_adapter import write_adapter

    adapters = tmp_path / "adapters"
    adapters.mkdir()
    tensor = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
    adapter = write_adapter(adapters / "tuned.gguf", {tensor: np.zeros((2, 4))}, alpha=2, n_layers=1,
                            serving={"evidence": "refs", "prompt": "incidents"})  # fmt: skip
    matrix = write_matrix(
        tmp_path,
        '[defaults]\nbackend = "local"\n[[cells]]\nname = "local"\naxes = { adapter = ["none", "default", '
        '"adapters/tuned.gguf"] }\n',
    )
    spec = load_matrix(matrix)
    plans = {c.name: _plan_cell(spec, c) for c in spec.cells}
    assert list(plans) == ["local,adapter=none", "local,adapter=default", "local,adapter=tuned"]
    tuned = plans["local,adapter=tuned"]
    assert tuned.arguments == {"backend": "local", "backend_options": {"adapter": str(adapter)}}
    assert tuned.run == tmp_path / "runs" / "local,adapter=tuned.jsonl"
    assert plans["local,adapter=none"].arguments["backend_options"] == {"adapter": "none"}
    # the adapter's file is part of what the cell's answers depend on
    before = tuned.fingerprint
    write_adapter(adapter, {tensor: np.ones((2, 4))}, alpha=2, n_layers=1, serving={"evidence": "refs"})
    assert _plan_cell(spec, spec.cells[2]).fingerprint != before
    assert _plan_cell(spec, spec.cells[0]).fingerprint == plans["local,adapter=none"].fingerprint
