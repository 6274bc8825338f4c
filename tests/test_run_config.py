"""The run configuration: each option declared once, checked when built, and the one thing every path hands on."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel

from extract import api, cli
from extract.core.errors import ConfigError
from extract.core.pipeline import ExtractConfig
from extract.engines.config import (
    Extraction,
    Output,
    Pace,
    RayEngine,
    Reading,
    Responses,
    RunConfig,
    run_options,
)
from extract.runner import RunSummary

GROUPS: tuple[type[BaseModel], ...] = (Reading, Output, Extraction, Responses, Pace, RayEngine)


def _run_parser() -> argparse.ArgumentParser:
    parser = cli._build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]


def _corpus(tmp_path: Path, n: int = 3) -> Path:
    path = tmp_path / "corpus.jsonl"
    rows = [{"id": f"d{k}", "text": f"Rebels shot down a helicopter near Saraqeb ({k})."} for k in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# -- declared once ---------------------------------------------------------------------------------------------------


def test_the_command_line_defaults_are_the_configurations() -> None:
    args = _run_parser().parse_args(["corpus.jsonl"])
    assert cli._run_config(args) == RunConfig()
    ray = _run_parser().parse_args(["corpus.jsonl", "--engine", "ray", "--quiet"])
    assert cli._run_config(ray) == RunConfig(ray=RayEngine())


def test_no_run_flag_restates_a_default() -> None:
    # A flag that sets an option is None unless given (or a switch), so the declaration's default applies.
    options = set(run_options())
    restated = {
        action.dest: action.default
        for action in _run_parser()._actions
        if action.dest in options and action.default is not None and not isinstance(action.default, bool)
    }
    assert restated == {}


def test_the_pipelines_defaults_are_not_repeated() -> None:
    pipeline = {f.name: f.default for f in dataclasses.fields(ExtractConfig)}
    extraction = RunConfig().extraction
    assert (extraction.max_retries, extraction.max_chars, extraction.chunk_chars) == (
        pipeline["max_retries"],
        pipeline["max_chars"],
        pipeline["chunk_chars"],
    )


def test_every_option_has_one_name_and_the_options_round_trip() -> None:
    names = run_options()
    assert len(names) == len(set(names))
    config = RunConfig.from_options(out="o.jsonl", concurrency=4, engine="ray", actors=3, evidence="refs")
    assert RunConfig.from_options(**config.options()) == config
    assert config.replace(concurrency=8).pace.concurrency == 8 and config.pace.concurrency == 4


def test_the_configuration_is_frozen() -> None:
    config = RunConfig()
    with pytest.raises(ValueError, match="frozen"):
        config.pace.concurrency = 2  # type: ignore[misc]


def test_a_matrix_cell_sets_what_decides_its_answers_and_its_pace() -> None:
    assert set(api.CELL_RUN_OPTIONS) == (set(Extraction.model_fields) | set(Pace.model_fields)) - {"backend_options"}
    assert set(Pace.model_fields) == api._PACE_OPTIONS  # left out of a cell's fingerprint


# -- checked when built ----------------------------------------------------------------------------------------------


def _out_of_bounds() -> list[Any]:
    """A value just past every bound the declaration holds, walked from the fields (none can be left out)."""
    cases = []
    for group in GROUPS:
        for name, field in group.model_fields.items():
            for bound in field.metadata:
                if isinstance(bound, annotated_types.Ge):
                    value: Any = bound.ge - 1
                elif isinstance(bound, annotated_types.Gt):
                    value = bound.gt
                elif isinstance(bound, annotated_types.Le):
                    value = bound.le + 1
                else:
                    continue
                cases.append(pytest.param(name, value, id=f"{name}={value}"))
    return cases


@pytest.mark.parametrize(("name", "value"), _out_of_bounds())
def test_a_value_out_of_bounds_is_one_line_naming_its_flag(name: str, value: Any) -> None:
    engine = {"engine": "ray"} if name in RayEngine.model_fields else {}
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_options(**engine, **{name: value})
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith("--" + name.replace("_", "-") + ":"), line


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({"engine": "ray", "write": "csv"}, "--ray-write: ", id="flag-declared-on-the-field"),
        pytest.param({"actors": 3}, "--actors applies to the ray engine only", id="ray-option-with-local"),
        pytest.param({"engine": "spark"}, "unknown engine 'spark'", id="unknown-engine"),
        pytest.param({"concurency": 2}, "unknown run option 'concurency'", id="misspelt-option"),
        pytest.param({"evidence": "ref"}, "unknown evidence mode 'ref'", id="evidence"),
        pytest.param({"schema_style": "compakt"}, "unknown schema style 'compakt'", id="schema-style"),
        pytest.param(
            {"engine": "ray", "write": "jsonl", "parquet": "x.parquet"},
            "--parquet exports a run file",
            id="two-outputs",
        ),
    ],
)
def test_an_option_that_cannot_work_is_one_line(options: dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_options(**options)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_a_ray_engine_built_by_hand_is_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"^--actors: "):
        RayEngine(actors=0)


# -- the one thing every path hands on -------------------------------------------------------------------------------


def _record_engines(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[RunConfig]]:
    import extract.engines.local
    import extract.engines.ray

    received: dict[str, list[RunConfig]] = {"local": [], "ray": []}

    def recorder(engine: str) -> Any:
        def run_corpus(source: Any, config: RunConfig, **_: Any) -> RunSummary:
            received[engine].append(config)
            return RunSummary(out=str(config.output.out))

        return run_corpus

    monkeypatch.setattr(extract.engines.local, "run_corpus", recorder("local"))
    monkeypatch.setattr(extract.engines.ray, "run_corpus", recorder("ray"))
    return received


def test_both_engines_receive_the_configuration_the_command_line_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    received = _record_engines(monkeypatch)
    corpus = _corpus(tmp_path)
    flags = ["--backend", "mock", "--model", "echo", "--concurrency", "3", "--max-chars", "5000", "--quiet"]
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.jsonl"
        assert cli.main(["run", str(corpus), *flags, "--engine", engine, "--out", str(out)]) == 0
    (local,), (ray,) = received["local"], received["ray"]
    built = cli._run_config(_run_parser().parse_args([str(corpus), *flags, "--out", "x"])).served()
    assert local.replace(out="x") == built
    assert local == ray.model_copy(update={"ray": None}).replace(out=local.output.out)
    assert ray.ray == RayEngine()


def test_a_complete_configuration_reaches_the_engine_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received = _record_engines(monkeypatch)
    config = RunConfig.from_options(
        out=tmp_path / "o.jsonl", backend="mock", prompt="incidents", evidence="quotes", schema_style="full",
        candidates=False,
    )  # fmt: skip
    api.run_corpus(_corpus(tmp_path), config)
    assert received["local"] == [config] and received["local"][0] is config


def test_a_configuration_and_keyword_arguments_write_the_same_records(tmp_path: Path) -> None:
    corpus = _corpus(tmp_path)
    by_name = api.run_corpus(corpus, out=tmp_path / "a.jsonl", backend="mock", model="echo", concurrency=2)
    config = RunConfig.from_options(backend="mock", model="echo", concurrency=2)
    given = api.run_corpus(corpus, config, out=tmp_path / "b.jsonl")
    assert (by_name.documents, by_name.ok) == (given.documents, given.ok) == (3, 3)
    lines = [(tmp_path / name).read_text(encoding="utf-8").splitlines() for name in ("a.jsonl", "b.jsonl")]
    strip = [
        [{k: v for k, v in json.loads(line).items() if k not in ("usage", "seconds")} for line in run] for run in lines
    ]
    assert strip[0] == strip[1]
