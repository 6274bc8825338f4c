"""Eval matrices: one corpus with gold labels, run once per *cell* of run options, scored, and compared.

A matrix file (TOML) names the corpus and gold, the cells, the baseline cell and the gates::

    name = "seed-offline"
    corpus = "../../gold/articles"      # paths in the file are relative to it
    gold = "../../gold"
    out = "runs/matrix-seed-offline"    # the cells' run files (relative to the working folder, as a suite's)
    baseline = "replay"                 # the cell the others are compared with (default: the first)

    [defaults]                          # options every cell starts from
    prompt = "incidents"

    [[cells]]
    name = "replay"
    backend = "mock"
    replay = "../recordings/seed-gemma-270m"
    thresholds = { "max_incidents.spurious" = 0 }   # this cell's own gates, added to the matrix's

    [[cells]]
    name = "echo"
    backend = "mock"
    model = "echo"
    axes = { evidence = ["quotes", "refs"] }  # one cell per value: "echo,evidence=quotes", "echo,evidence=refs"

    [axes]                              # the same for every cell: the product of all axes makes the cells
    schema_style = ["full", "compact"]

    [thresholds]                        # gates for every cell, as a suite's
    max_failures = 0

A cell's options are those of :func:`extract.api.run_corpus` (``backend``, ``model``, ``prompt``,
``evidence``, ``schema_style``, ``candidates``, ``max_retries``...) and its backend's own
(``replay``, ``adapter``, ``chat_format``, ``base_url``, ``max_tokens``...). A cell made by axes is
named after its cell and each axis value. ``replay``, an ``adapter`` path, a ``model`` ending in
``.gguf`` and a ``prompt`` path are relative to the matrix file. Reading the corpus: ``id_field``,
``text_field``, ``split`` and ``limit`` (the same documents for every cell, so that cells pair).

This module reads the file and scores, compares and reports the cells; running them is
:func:`extract.api.run_matrix`'s business.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from rich import box
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from extract.core.errors import ConfigError
from extract.scoring.gates import check_gates, resolve_metric
from extract.scoring.metrics import RESAMPLED, PairedDelta, paired_bootstrap
from extract.scoring.report import summarize

MATRIX_FORMAT = "incident-extract-matrix/1"

#: Keys of a matrix file; anything else is an error naming the key.
MATRIX_KEYS = frozenset(
    {"name", "corpus", "gold", "out", "baseline", "defaults", "axes", "cells", "thresholds", "id_field",
     "text_field", "split", "limit", "seed"}
)  # fmt: skip
#: Keys of a cell that are not run options.
CELL_KEYS = frozenset({"name", "axes", "thresholds"})


def _relative_to(base: Path, value: str) -> str:
    return str((base / Path(value).expanduser()).resolve())


# Options whose value is a path, relative to the matrix file, and when (a name is left alone).
PATH_OPTIONS: dict[str, Any] = {
    "replay": lambda v: True,
    "adapter": lambda v: v not in ("none", "default"),
    "model": lambda v: v.endswith(".gguf"),
    "prompt": lambda v: bool(Path(v).suffix),
}

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._,=+-]{0,119}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class Cell:
    """One cell: a name, its run options (paths resolved), and its own gates."""

    name: str
    options: dict[str, Any]
    thresholds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Matrix:
    """A matrix file, read and expanded into cells."""

    path: Path
    name: str
    corpus: Path
    gold: Path
    out: Path
    baseline: str
    cells: tuple[Cell, ...]
    #: Gates for every cell (a cell's own are added to these).
    thresholds: dict[str, float]
    reading: dict[str, Any]
    seed: int = 0

    def gates(self, cell: Cell) -> dict[str, float]:
        """The gates that apply to a cell: the matrix's, then the cell's own."""
        return {**self.thresholds, **cell.thresholds}


def _table(path: Path, value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {what} must be a table, got {value!r}")
    return value


def _axis_part(value: Any) -> str:
    """An axis value as part of a cell name: a path by its file name, unsafe characters replaced."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if "/" in text:
        text = Path(text).stem
    return _UNSAFE.sub("_", text).strip("_") or "_"


def _options(path: Path, where: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """A cell's run options, checked to be plain values, paths made relative to the matrix file."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        if isinstance(value, dict | list):
            raise ConfigError(f"{path}: {where}: option {key!r} must be a single value, got {value!r}")
        if isinstance(value, str) and key in PATH_OPTIONS and PATH_OPTIONS[key](value):
            value = _relative_to(path.parent, value)
            if not Path(value).exists():
                raise ConfigError(f"{path}: {where}: {key} {value}: no such file or folder")
        out[key] = value
    return out


def _axes(path: Path, where: str, value: Any) -> dict[str, list[Any]]:
    axes = _table(path, value, f"{where} axes")
    for key, values in axes.items():
        if key in CELL_KEYS:
            raise ConfigError(f"{path}: {where}: {key!r} cannot be an axis")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: {where}: axis {key!r} needs a list of values, got {values!r}")
    return axes


def _thresholds(path: Path, where: str, value: Any) -> dict[str, float]:
    gates = _table(path, value, f"{where} thresholds")
    for key, limit in gates.items():
        if isinstance(limit, bool) or not isinstance(limit, int | float):
            raise ConfigError(f"{path}: {where}: gate {key!r} needs a number, got {limit!r}", hint="write e.g. 0.8")
    return {k: float(v) for k, v in gates.items()}


def load_matrix(path: str | Path) -> Matrix:
    """Read a matrix file and expand its axes into cells; a :class:`ConfigError` naming the file for a mistake."""
    path = Path(path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the matrix: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid matrix file: {exc}") from None
    unknown = sorted(set(spec) - MATRIX_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}", hint="a matrix has " + ", ".join(sorted(MATRIX_KEYS)))
    for key in ("corpus", "gold"):
        if not isinstance(spec.get(key), str):
            raise ConfigError(f"{path}: missing {key!r}", hint="a matrix names its corpus and gold (relative to it)")
    defaults = _options(path, "defaults", _table(path, spec.get("defaults", {}), "defaults"))
    shared_axes = _axes(path, "the matrix", spec.get("axes", {}))
    bases = spec.get("cells", [])
    if not isinstance(bases, list) or not all(isinstance(c, dict) for c in bases):
        raise ConfigError(f"{path}: cells must be [[cells]] tables")
    if not bases and not shared_axes:
        raise ConfigError(f"{path}: no cells", hint="add [[cells]] tables or [axes] whose product makes the cells")
    cells: list[Cell] = []
    for k, base in enumerate(bases or [{"name": ""}]):
        name = base.get("name", "" if not bases else None)
        if not isinstance(name, str) or (bases and not _SAFE_NAME.match(name)):
            raise ConfigError(
                f"{path}: cell {k + 1}: name {name!r} must be letters, digits and . _ , = + - (up to 120)",
                hint="each [[cells]] table needs a name, used for its run file",
            )
        where = f"cell {name!r}" if name else "the matrix"
        axes = {**shared_axes, **_axes(path, where, base.get("axes", {}))}
        own = _options(path, where, {key: v for key, v in base.items() if key not in CELL_KEYS})
        gates = _thresholds(path, where, base.get("thresholds", {}))
        for values in itertools.product(*axes.values()):
            chosen = dict(zip(axes, values, strict=True))
            parts = [name] if name else []
            parts += [f"{key}={_axis_part(value)}" for key, value in chosen.items()]
            options = {**defaults, **own, **_options(path, where, chosen)}
            cells.append(Cell(",".join(parts), options, gates))
    seen: dict[str, str] = {}
    for cell in cells:
        if cell.name.lower() in seen:
            raise ConfigError(
                f"{path}: two cells are named {cell.name!r} (names are file names, equal up to case)",
                hint="give the cells distinct names",
            )
        seen[cell.name.lower()] = cell.name
    baseline = spec.get("baseline", cells[0].name)
    if baseline not in {c.name for c in cells}:
        raise ConfigError(
            f"{path}: the baseline {baseline!r} is not a cell", hint="cells: " + ", ".join(c.name for c in cells)
        )
    reading: dict[str, Any] = {key: spec[key] for key in ("id_field", "text_field", "split", "limit") if key in spec}
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{path}: seed must be a whole number, got {seed!r}")
    return Matrix(
        path=path,
        name=str(spec.get("name", path.stem)),
        corpus=Path(_relative_to(path.parent, spec["corpus"])),
        gold=Path(_relative_to(path.parent, spec["gold"])),
        out=Path(str(spec.get("out", f"runs/matrix-{path.stem}"))),
        baseline=baseline,
        cells=tuple(cells),
        thresholds=_thresholds(path, "the matrix", spec.get("thresholds", {})),
        reading=reading,
        seed=seed,
    )


# --- scores of a cell ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellScores:
    """A cell's run, scored: its eval summary (as ``extract eval --json`` writes it) and what the run reused."""

    name: str
    options: dict[str, Any]
    run: str
    #: The eval summary, with ``per_document`` (tokens, seconds) and, once compared, ``versus_baseline``.
    summary: dict[str, Any]
    #: Per gold document, the counts the bootstrap draws (see :attr:`EvalReport.document_counts`).
    counts: tuple[tuple[int, ...], ...]
    #: Documents extracted by this invocation, and records kept from an earlier one.
    extracted: int = 0
    reused: int = 0
    #: The run was started afresh: its options or inputs changed since its run file was written.
    fresh: bool = True
    versus: dict[str, PairedDelta | None] = field(default_factory=dict)
    gates: int = 0
    failures: tuple[str, ...] = ()


def score_cell(
    name: str,
    options: Mapping[str, Any],
    run: str | Path,
    report: Any,
    *,
    records: int,
    extracted: int = 0,
    reused: int = 0,
    fresh: bool = True,
) -> CellScores:
    """A cell's scores from its :class:`~extract.scoring.scorer.EvalReport`; ``records``: records in its run file."""
    summary = summarize(report)
    usage = summary["usage"]
    summary["per_document"] = {
        "records": records,
        "tokens": round(usage["total_tokens"] / records, 3) if records else None,
        "seconds": round(usage["seconds"] / records, 4) if records else None,
        "cached": usage["cached_documents"],
    }
    return CellScores(name, dict(options), str(run), summary, report.document_counts, extracted, reused, fresh)


def compare_cells(
    cells: Sequence[CellScores], baseline: str, *, resamples: int, seed: int = 0
) -> tuple[CellScores, ...]:
    """Each cell with its paired bootstrap comparison against the baseline cell (``versus_baseline``)."""
    base = next(c for c in cells if c.name == baseline)
    reference = np.asarray(base.counts, dtype=np.int64)
    out = []
    for cell in cells:
        versus = paired_bootstrap(reference, np.asarray(cell.counts, dtype=np.int64), resamples, seed)
        # A metric undefined on either side still has its keys, so that a gate on it fails as "no value".
        summary = {**cell.summary, "versus_baseline": {
            name: d.as_dict() if d is not None else dict.fromkeys(("delta", "ci", "p", "resamples"))
            for name, d in versus.items()
        }}  # fmt: skip
        out.append(replace(cell, summary=summary, versus=versus))
    return tuple(out)


def gate_template(report: Any) -> dict[str, Any]:
    """A cell summary with every key a gate may name (from a report of nothing), to check gates before a run."""
    cell = score_cell("", {}, "", report, records=0)
    return {**cell.summary, "versus_baseline": {name: PairedDelta(0.0, (0.0, 0.0), 1.0, 0).as_dict()
                                                for name in RESAMPLED}}  # fmt: skip


def check_matrix_gates(matrix: Matrix, template: Mapping[str, Any]) -> None:
    """Refuse a misspelt gate before anything runs (a :class:`ConfigError` naming the file and cell)."""
    for cell in matrix.cells:
        try:
            check_gates(template, matrix.gates(cell))
        except ConfigError as exc:
            raise ConfigError(f"{matrix.path}: cell {cell.name!r}: {exc.message}", hint=exc.hint) from None


def apply_gates(cell: CellScores, thresholds: Mapping[str, float]) -> CellScores:
    """The cell with the gates it failed; failed documents fail it unless a ``max_failures`` gate allows them."""
    failed = check_gates(cell.summary, thresholds)
    if cell.summary["failures"] and "max_failures" not in thresholds:
        failed.append(f"{cell.summary['failures']} document(s) failed (set max_failures to allow some)")
    return replace(cell, gates=len(thresholds), failures=tuple(failed))


# --- the whole matrix ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatrixResult:
    """Every cell scored, compared with the baseline and gated."""

    path: str
    name: str
    out: str
    baseline: str
    resamples: int
    seed: int
    cells: tuple[CellScores, ...]

    @property
    def failures(self) -> list[str]:
        """Every failed gate, as "cell: what failed"."""
        return [f"{cell.name}: {line}" for cell in self.cells for line in cell.failures]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def gates(self) -> int:
        return sum(cell.gates for cell in self.cells)

    def summary(self) -> dict[str, Any]:
        """The JSON form: the matrix, then per cell its options, run, headline metrics, comparison and gates."""
        return {
            "format": MATRIX_FORMAT,
            "matrix": self.path,
            "name": self.name,
            "out": self.out,
            "baseline": self.baseline,
            "bootstrap": {"level": 0.95, "resamples": self.resamples, "seed": self.seed},
            "cells": [
                {
                    "name": cell.name,
                    "options": cell.options,
                    "run": cell.run,
                    "extracted": cell.extracted,
                    "reused": cell.reused,
                    "fresh": cell.fresh,
                    "metrics": {m.key: resolve_metric(cell.summary, m.key) for m in HEADLINE},
                    "ci": {name: cell.summary["ci"].get(name) for name in RESAMPLED},
                    "versus_baseline": cell.summary.get("versus_baseline", {}),
                    "gates": {"checked": cell.gates, "failed": list(cell.failures)},
                }
                for cell in self.cells
            ],
            "passed": self.passed,
        }


@dataclass(frozen=True)
class Metric:
    """A headline metric of the matrix table: a path of the cell summary, its label and how it is shown."""

    key: str
    label: str
    digits: int = 3
    #: The bootstrap interval shown beside it (a key of the summary's ``ci``).
    ci: str = ""


#: The columns every rendering of a matrix shows (console, Markdown, review page, JSON ``metrics``).
HEADLINE: tuple[Metric, ...] = (
    Metric("incidents.f1", "incident F1", ci="incidents.f1"),
    Metric("slots.f1", "slot F1", ci="slots.f1"),
    Metric("research.gtt.f1", "GTT F1"),
    Metric("grounding_rate", "grounding", ci="grounding_rate"),
    Metric("supported_share", "supported"),
    Metric("failures", "failures", digits=0),
    Metric("per_document.tokens", "tokens/doc", digits=0),
    Metric("per_document.seconds", "s/doc", digits=2),
)
#: The changes shown against the baseline (paired bootstrap).
VERSUS: tuple[tuple[str, str], ...] = (("incidents.f1", "Δ incident F1"), ("slots.f1", "Δ slot F1"))


def _number(value: Any, digits: int) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}" if digits else f"{value:,.0f}"


def _change(delta: PairedDelta | None) -> str:
    if delta is None:
        return "–"
    p = "p<0.001" if delta.p_value < 0.001 else f"p={delta.p_value:.3f}"
    return f"{delta.delta:+.3f}{' *' if delta.significant() else ''}\n{p}"


def matrix_rows(result: MatrixResult) -> tuple[list[str], list[list[str]]]:
    """The matrix as a table of text: the header and one row per cell (what every rendering shows).

    A value's interval, and a change's p-value, are on a second line of its cell.
    """
    header = ["cell", *(m.label for m in HEADLINE), *(label for _, label in VERSUS), "gates"]
    rows = []
    for cell in result.cells:
        row = [cell.name + ("\n(baseline)" if cell.name == result.baseline else "")]
        for m in HEADLINE:
            text = _number(resolve_metric(cell.summary, m.key), m.digits)
            ci = cell.summary["ci"].get(m.ci) if m.ci else None
            row.append(text + (f"\n{ci[0]:.3f}–{ci[1]:.3f}" if ci else ""))
        if cell.name == result.baseline:
            row += ["" for _ in VERSUS]
        else:
            row += [_change(cell.versus.get(key)) for key, _ in VERSUS]
        if cell.failures:
            row.append(f"{len(cell.failures)} of {cell.gates} failed")
        else:
            row.append(f"{cell.gates} passed" if cell.gates else "none")
        rows.append(row)
    return header, rows


def method_note(result: MatrixResult) -> str:
    """How the matrix's intervals and changes were computed, in one paragraph."""
    return (
        f"Each interval is the 95% one from {result.resamples} bootstrap resamples of documents. Δ: the cell "
        f"minus the baseline ({result.baseline}), both resampled on the same documents (paired bootstrap); p is "
        "two-sided, * marks p < 0.05. Tokens and seconds are per record of the run file (a cached answer costs none)."
    )


def render_matrix(result: MatrixResult, width: int = 120) -> Group:
    """Rich tables of the matrix for a console ``width`` wide: a column per cell, a row per metric.

    Cells are columns so that a value and its interval are read whole; when more cells than fit
    the width, they are shown in several tables of the same rows.
    """
    header, rows = matrix_rows(result)
    label = max(len(h) for h in header)
    value = max([11] + [len(line) for row in rows for text in row[1:] for line in text.split("\n")])
    per_table = max(1, (width - label - 2) // (value + 2))
    tables = []
    for first in range(0, len(rows), per_table):
        part = rows[first : first + per_table]
        table = Table(box=box.SIMPLE_HEAD, padding=(0, 1), title_justify="left")
        if first == 0:
            table.title = f"Eval matrix: {escape(result.name)}"
        table.add_column("")
        for row, cell in zip(part, result.cells[first : first + per_table], strict=True):
            table.add_column(escape(row[0]), justify="right", overflow="fold", min_width=value,
                             header_style="bold red" if cell.failures else "bold")  # fmt: skip
        for k, name in enumerate(header[1:], start=1):
            table.add_row(escape(name), *(escape(row[k]) for row in part))
        tables.append(table)
    tables[-1].caption = method_note(result)
    return Group(*tables)


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;")


def matrix_markdown(result: MatrixResult) -> str:
    """The Markdown report: the table, each cell's options and run, and the gates that failed."""
    header, rows = matrix_rows(result)
    lines = [f"# Eval matrix: {_md(result.name)}", "", f"Matrix file: `{result.path}`; runs in `{result.out}`.", ""]
    lines += ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(_md(text).replace("\n", " ") for text in row) + " |" for row in rows]
    lines += ["", method_note(result), "", "## Cells", ""]
    for cell in result.cells:
        options = ", ".join(f"{k} = {v!r}" for k, v in cell.options.items()) or "the defaults"
        reuse = "started afresh" if cell.fresh else "resumed"
        lines.append(
            f"- **{_md(cell.name)}**: {_md(options)}. Run `{cell.run}` ({reuse}: {cell.extracted} extracted, "
            f"{cell.reused} kept)."
        )
    lines += ["", "## Gates", ""]
    lines += [f"- {_md(line)}" for line in result.failures] or [f"All {result.gates} gate(s) passed."]
    return "\n".join(lines) + "\n"
