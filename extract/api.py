"""The Python API: extract one text, run a corpus, score a run, run an eval suite or an eval matrix.

The CLI is a thin layer over these functions::

    from extract.api import extract_text, run_corpus
    result = extract_text("Rebels shot down a Su-25 near Saraqeb on Saturday.", backend="mock", model="echo")
    summary = run_corpus("gold/articles", out="runs/seeds.jsonl", backend="local")
"""

from __future__ import annotations

import contextlib
import json
import os
import tomllib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extract.backends import DEFAULT_BACKEND
from extract.core.backend import Backend
from extract.core.errors import CacheWarning, ClusterWarning, ConfigError, ExtractError, InputError, OutputError
from extract.core.pipeline import ExtractConfig, extract_document
from extract.core.prompts import load_prompt_for
from extract.core.records import Document, DocumentResult
from extract.engines.config import (
    Extraction,
    OnResult,
    OnStart,
    Pace,
    RayEngine,
    Reading,
    RunConfig,
    evidence_options,
    serving_choices,
)
from extract.engines.recipe import default_cache_dir, make_backend
from extract.runner import Prices, RunSummary, load_price_table

__all__ = [
    "CacheWarning",
    "ClusterWarning",
    "ConfigError",
    "DoctorReport",
    "ExtractError",
    "InputError",
    "OutputError",
    "RayEngine",
    "RunConfig",
    "SuiteResult",
    "build_review",
    "check_outputs",
    "default_cache_dir",
    "describe_run",
    "doctor",
    "evaluate_run",
    "extract_text",
    "make_backend",
    "run_corpus",
    "run_cost",
    "run_matrix",
    "run_suite",
    "validate_gold_dir",
]

BUNDLED_NOTE = (
    "Model: the bundled Gemma 3 270M, a tiny model that lets the pipeline run anywhere offline. With the project's "
    "adapter it misses most incidents and gets many values wrong (extract/adapters/MODEL_CARD.md has its scores); "
    "without it, it finds nothing. Review what it finds, or point --backend openai at a capable model."
)


def extract_text(
    text: str,
    *,
    id: str = "document",
    backend: str | Backend | None = None,
    model: str | None = None,
    prompt: str | None = None,
    max_retries: int = 2,
    evidence: str | None = None,
    schema_style: str | None = None,
    candidates: bool | str | None = None,
    **backend_options: Any,
) -> DocumentResult:
    """Extract the incidents of one text (no cache, no output file).

    ``evidence``: ``quotes`` (each value copies a quote) or ``refs`` (each value cites numbered
    sentences); ``schema_style``: ``full`` or ``compact`` (the schema rendering the model is shown).
    Left as None, these and ``prompt`` are what the local model's adapter was trained with (see
    :func:`serving_choices`), else ``incidents``, ``quotes``, ``full`` and no candidates.
    """
    built = (
        backend
        if not isinstance(backend, str | None)
        else make_backend(backend, model, options=backend_options, cache=False)
    )
    prompt, evidence, schema_style, candidates = serving_choices(
        built, model, backend_options, prompt, evidence, schema_style, candidates
    )
    config = ExtractConfig(
        backend=built,
        prompt=load_prompt_for(prompt, evidence),
        max_retries=max_retries,
        **evidence_options(evidence, schema_style, candidates),
    )
    return extract_document(Document(id=id, text=text), config)


def run_corpus(
    source: Any,
    config: RunConfig | None = None,
    *,
    on_start: OnStart | None = None,
    on_result: OnResult | None = None,
    **options: Any,
) -> RunSummary:
    """Extract a corpus into a JSON Lines file (resumed if it exists); return what the run did.

    ``config``: a :class:`~extract.engines.config.RunConfig`; or the options by name, as its groups
    declare them (``out=``, ``backend=``, ``model=``, ``concurrency=``, ``cache=``...); options given
    with a ``config`` change it. ``engine``: ``"local"`` (one process, one event loop) or ``"ray"`` /
    a :class:`~extract.engines.config.RayEngine` (Ray Data; ``source`` may then also be a
    ``ray.data.Dataset``). Both write the same records, failure records and resume state.

    Prints nothing: ``on_start`` is called with the number of documents (None when the
    corpus cannot tell), ``on_result`` with each record as it is written, for a progress
    display or a live view. ``summary.bundled`` says whether the bundled test-sized model answered.

    ``prompt``, ``evidence``, ``schema_style`` and ``candidates`` left as None are what the local
    model's adapter was trained with (:func:`serving_choices`), else the plain defaults.
    """
    from extract.io.output import export_parquet

    config = RunConfig.from_options(**options) if config is None else config.replace(**options) if options else config
    if config.output.out is None:
        stem = Path(str(source)).stem if isinstance(source, str | Path) else "dataset"
        backend = config.extraction.backend
        name = backend if isinstance(backend, str) else getattr(backend, "name", None)
        config = config.replace(out=Path("runs") / f"{stem or 'corpus'}.{name or DEFAULT_BACKEND}.jsonl")
    config = config.served()
    out, parquet = config.output.out, config.output.parquet
    assert out is not None
    if config.ray is not None and config.ray.write:
        # A folder of part files, Ray's writers' own: not the corpus, and no second export of it.
        if isinstance(source, str | Path) and Path(out).resolve() == Path(source).resolve():
            raise ConfigError(f"{out}: the output folder is the corpus; choose another --out")
        from extract.io.output import prepare_output

        prepare_output(out, "--out", folder=True).mkdir(exist_ok=True)  # the folder, before the run lock is taken on it
    else:
        check_outputs([("--out", out), ("--parquet", parquet)], corpora=[("the corpus", source)])
    if config.ray is None:
        from extract.engines.local import run_corpus as run_here

        summary = run_here(source, config, on_start=on_start, on_result=on_result)
    else:
        from extract.engines.ray import run_corpus as run_on_ray

        summary = run_on_ray(source, config, on_start=on_start, on_result=on_result)
    if parquet:
        export_parquet(out, parquet)
        summary.parquet = str(parquet)
    return summary


def evaluate_run(
    gold: str | Path,
    pred: str | Path,
    *,
    json_out: str | Path | None = None,
    report: str | Path | None = None,
    baseline: str | Path | None = None,
    bootstrap: int = 1000,
    prices: str | Path | None = None,
    corpus: str | Path | None = None,
    id_field: str = "id",
    text_field: str = "text",
) -> Any:
    """Score a run file against a gold directory; write the JSON and Markdown reports if asked; return the scores.

    Every predicted quote is located again in its article: the gold directory's
    ``articles/``, or the documents of ``corpus`` (read as ``extract run`` reads it) for
    predictions over other documents. With ``prices`` (the table ``extract run --prices``
    takes), the run's cost estimate is added to the JSON summary as ``cost`` (see
    :func:`run_cost`). Ids written more than once in the run file are named in the summary
    (and by :func:`extract.scoring.report.report_warnings`, which the command line prints).
    The reports appear whole or not at all: each is written beside its path and renamed when
    complete, so a failed write or an interruption leaves an earlier report as it was.
    """
    from extract.io.output import staged_output
    from extract.scoring import evaluate, load_summary, read_predictions, write_json, write_markdown
    from extract.scoring.gold import load_gold

    check_outputs(
        [("--json", json_out), ("--report", report)],
        inputs=[("the --gold folder", gold), ("the --pred run file", pred), ("the --baseline file", baseline),
                ("the --prices file", prices)],
        corpora=[("the --corpus", corpus)],
    )  # fmt: skip
    gold_set = load_gold(gold)
    contents = read_predictions(pred)
    predictions = contents.results
    articles = corpus_texts(corpus, id_field=id_field, text_field=text_field) if corpus is not None else None
    result = evaluate(gold_set, predictions, bootstrap=bootstrap, articles=articles, duplicates=contents.duplicates)
    base = load_summary(baseline) if baseline else None
    with contextlib.ExitStack() as stack:  # each written beside its path, renamed when whole
        json_path = stack.enter_context(staged_output(json_out, "--json")) if json_out else None
        report_path = stack.enter_context(staged_output(report, "--report")) if report else None
        if json_path is not None:
            summary = write_json(result, json_path, baseline=base)
            if prices:
                summary["cost"] = round(_run_cost(predictions, prices), 6)
                json_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        if report_path is not None:
            write_markdown(result, report_path, baseline=base)
        # --- events: cross-document merge scores (one separate call; see add_events_scores) ---
        add_events_scores(gold_set, predictions, json_out=json_path, report=report_path)
    return result


def describe_run(pred: str | Path) -> str:
    """Which backend, model, prompt and schema produced a run file (with a warning for the bundled model)."""
    from extract.scoring import read_predictions

    return _describe_run(read_predictions(pred).results, pred)


def run_cost(pred: str | Path, prices: str | Path) -> float:
    """The estimated cost of a run file's tokens, from a price table."""
    from extract.scoring import read_predictions

    return _run_cost(read_predictions(pred).results, prices)


def corpus_texts(corpus: str | Path, *, id_field: str = "id", text_field: str = "text") -> dict[str, str]:
    """The text of every readable document of a corpus, by id (to re-ground quotes against)."""
    from extract.io import open_corpus

    return {doc.id: doc.text for doc in open_corpus(corpus, id_field=id_field, text_field=text_field).documents()}


def _describe_run(predictions: dict[str, DocumentResult], path: str | Path) -> str:
    """Which backend, model, prompt and schema produced the run being scored."""
    seen = sorted(
        {
            (p.backend, p.model, p.prompt, p.prompt_hash, p.schema_version, _evidence_note(p))
            for p in (r.provenance for r in predictions.values())
        }
    )
    parts = [f"{b} / {m} (prompt {pr} {h[:8]}, schema {v}{e})" for b, m, pr, h, v, e in seen]
    line = f"Scoring {path}: " + ("; ".join(parts) or "no records")
    if any(m.endswith("gemma-3-270m-q4_k_m.gguf") for _, m, *_ in seen):
        line += "\n" + BUNDLED_NOTE
    return line


def _evidence_note(p: Any) -> str:
    """ ", evidence refs, compact schema, candidates" for a run not made with the defaults; empty otherwise."""
    notes = [f"evidence {p.evidence}"] if p.evidence != "quotes" else []
    notes += [f"{p.schema_style} schema"] if p.schema_style != "full" else []
    notes += [f"{p.candidates} candidates" if isinstance(p.candidates, str) else "candidates"] if p.candidates else []
    return "".join(f", {n}" for n in notes)


def _run_cost(predictions: dict[str, DocumentResult], prices: str | Path) -> float:
    table = load_price_table(prices)
    return sum(Prices.from_table(table, r.provenance.model, prices).cost(r.usage) for r in predictions.values())


@dataclass(frozen=True)
class SuiteResult:
    """An eval suite's outcome: the scores, and every gate that failed (empty when all passed)."""

    path: str
    result: Any
    gates: int
    failures: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


def run_suite(
    suite: str | Path,
    *,
    json_out: str | Path | None = None,
    report: str | Path | None = None,
    baseline: str | Path | None = None,
) -> SuiteResult:
    """Run an eval suite: extract its corpus with its backend, score against its gold, apply its gates."""
    from extract.scoring import check_gates

    path = Path(suite)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the suite: {exc}") from None
    if "cells" in spec or "axes" in spec:
        raise ConfigError(f"{path}: is an eval matrix, not a suite", hint="run it with extract eval --matrix")
    base = path.parent

    def rel(key: str) -> Path:
        if key not in spec:
            raise ConfigError(f"{path}: missing {key!r}", hint="a suite names corpus, gold, backend and thresholds")
        return (base / spec[key]).resolve()

    out = Path(spec.get("out", f"runs/suite-{path.stem}.jsonl"))
    options = {"replay": str(rel("replay"))} if "replay" in spec else {}
    options |= {k: spec[k] for k in ("base_url", "mode", "max_tokens") if k in spec}
    summary = run_corpus(
        rel("corpus"),
        out=out,
        backend=spec.get("backend", "mock"),
        model=spec.get("model"),
        backend_options=options,
        prompt=spec.get("prompt", "incidents"),
        resume=False,
        cache=False,
        evidence=spec.get("evidence", "quotes"),
        schema_style=spec.get("schema_style", "full"),
        candidates=spec.get("candidates", False),
    )
    result = evaluate_run(rel("gold"), out, json_out=json_out, report=report, baseline=baseline)
    thresholds = dict(spec.get("thresholds", {}))
    failed = check_gates(result, thresholds)
    if summary.failed and "max_failures" not in thresholds:
        failed.append(f"{summary.failed} document(s) failed to extract (set max_failures in the suite to allow some)")
    return SuiteResult(str(path), result, len(thresholds), tuple(failed))


# --- eval matrices: many runs of one corpus, compared -------------------------------------------------------------

#: The options of :func:`run_corpus` a matrix cell may set (what decides its answers, and its pace); any other
#: option of a cell is its backend's.
CELL_RUN_OPTIONS = tuple(name for name in (*Extraction.model_fields, *Pace.model_fields) if name != "backend_options")
# How fast a cell runs, not what it answers: left out of its fingerprint.
_PACE_OPTIONS = frozenset(Pace.model_fields)


@dataclass(frozen=True)
class _CellPlan:
    """A matrix cell ready to run: its run file, the :func:`run_corpus` arguments, and what its answers depend on."""

    name: str
    run: Path
    arguments: dict[str, Any]
    fingerprint: str


def _path_state(path: Path | None) -> Any:
    """The size and modification time of a file, or of every file under a folder: what tells that an input changed."""
    if path is None:
        return None
    if path.is_file():
        stat = path.stat()
        return [stat.st_size, stat.st_mtime_ns]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return [[str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    return None


def _plan_cell(matrix: Any, cell: Any) -> _CellPlan:
    """Check a cell's options, prompt and backend options without building anything, and fingerprint it.

    The fingerprint holds everything that changes the cell's answers: its options, the prompt
    it is asked with (by content), the schema and extractor versions, and the state of every
    file it reads (corpus, recording, adapter, model, prompt file).
    """
    import hashlib

    from extract.backends import parse_options
    from extract.core import EXTRACTOR_VERSION
    from extract.core.schema import SCHEMA_VERSION
    from extract.scoring.matrix import PATH_OPTIONS

    options = dict(cell.options)
    arguments = {key: options.pop(key) for key in CELL_RUN_OPTIONS if key in options}
    backend = arguments.get("backend", DEFAULT_BACKEND)
    try:
        parse_options(backend, {**options, "model": arguments.get("model")})
        RunConfig.from_options(limit=matrix.reading.get("limit"), **arguments)
        asked = serving_choices(
            backend, arguments.get("model"), options, arguments.get("prompt"), arguments.get("evidence"),
            arguments.get("schema_style"), arguments.get("candidates"),
        )  # fmt: skip
        evidence_options(*asked[1:])
        prompt_hash = load_prompt_for(asked[0], asked[1]).hash
        adapter = None
        if backend == "local":
            from extract.backends.local import resolve_adapter

            adapter = resolve_adapter(arguments.get("model"), options.get("adapter"))
    except ConfigError as exc:
        raise ConfigError(f"{matrix.path}: cell {cell.name!r}: {exc.message}", hint=exc.hint) from None
    files = {
        key: _path_state(Path(value))
        for key, value in cell.options.items()
        if key in PATH_OPTIONS and isinstance(value, str) and PATH_OPTIONS[key](value)
    }
    state = {
        "options": {k: v for k, v in cell.options.items() if k not in _PACE_OPTIONS},
        "asked": [*asked, prompt_hash],
        "versions": [SCHEMA_VERSION, EXTRACTOR_VERSION],
        "corpus": [str(matrix.corpus), _path_state(matrix.corpus), matrix.reading],
        "files": files,
        "adapter": [str(adapter), _path_state(adapter)],
    }
    fingerprint = hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()
    arguments["backend_options"] = options
    return _CellPlan(cell.name, matrix.out / f"{cell.name}.jsonl", arguments, fingerprint)


def _start_cell(plan: _CellPlan) -> bool:
    """Make a cell's run file ready: kept (to resume) when it was written with the same fingerprint, else removed.

    Returns whether the cell starts afresh. The fingerprint is written beside the run file before
    it is, so a run cut short resumes as a run of the same cell.
    """
    from extract.io.output import RunLock

    marker = plan.run.with_suffix(".cell.json")
    try:
        before = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint")
    except (OSError, ValueError, AttributeError):
        before = None
    if before == plan.fingerprint and plan.run.exists():
        return False
    with RunLock(plan.run):
        plan.run.unlink(missing_ok=True)
        marker.write_text(json.dumps({"cell": plan.name, "fingerprint": plan.fingerprint}) + "\n", encoding="utf-8")
    return True


def run_matrix(
    matrix: str | Path,
    *,
    json_out: str | Path | None = None,
    report: str | Path | None = None,
    review: str | Path | None = None,
    bootstrap: int = 1000,
    on_cell: Callable[[str, int, int], None] | None = None,
) -> Any:
    """Run an eval matrix (see :mod:`extract.scoring.matrix`) and return its
    :class:`~extract.scoring.matrix.MatrixResult`.

    Every cell is checked first (its options, prompt and gates), so that a mistake in the last
    cell stops the matrix before the first runs. Each cell is one :func:`run_corpus` call into its
    own run file in the matrix's ``out`` folder, through the response cache, scored against the
    gold (every quote re-grounded in the corpus), then compared with the baseline cell by a paired
    bootstrap and gated. A cell whose options and input files are those its run file was written
    with resumes it and extracts nothing again; a changed cell starts afresh (and the cache
    answers what its model was already asked). Writes the matrix JSON and Markdown (default
    ``matrix.json`` and ``matrix.md`` in ``out``), each cell's eval summary beside its run file
    (``NAME.summary.json``) and, with ``review``, a review site with a page comparing the cells.
    ``on_cell(name, k, n)`` is called as cell k of n starts. Prints nothing.
    """
    from extract.io.corpus import open_corpus
    from extract.scoring import evaluate, read_predictions
    from extract.scoring.gold import load_gold
    from extract.scoring.matrix import (
        MatrixResult,
        apply_gates,
        check_matrix_gates,
        compare_cells,
        gate_template,
        load_matrix,
        matrix_markdown,
        score_cell,
    )

    spec = load_matrix(matrix)
    gold_set = load_gold(spec.gold)
    # Scoring nothing checks the bootstrap count and gives every key a gate may name, before anything runs.
    check_matrix_gates(spec, gate_template(evaluate(gold_set, {}, bootstrap=bootstrap)))
    plans = [_plan_cell(spec, cell) for cell in spec.cells]
    reading = dict(Reading(**spec.reading))  # the run configuration's defaults for what the matrix leaves out
    articles = {
        doc.id: doc.text for doc in open_corpus(spec.corpus, **reading).documents() if doc.id in gold_set.documents
    }
    scored = []
    for k, plan in enumerate(plans):
        if on_cell is not None:
            on_cell(plan.name, k + 1, len(plans))
        fresh = _start_cell(plan)
        try:
            summary = run_corpus(spec.corpus, out=plan.run, resume=True, **reading, **plan.arguments)
        except ExtractError as exc:  # one line that says which cell stopped (its records are kept: run again)
            exc.message = f"{spec.path}: cell {plan.name!r}: {exc.message}"
            exc.args = (exc.one_line(),)
            raise
        contents = read_predictions(plan.run)
        result = evaluate(gold_set, contents.results, bootstrap=bootstrap, seed=spec.seed, articles=articles,
                          duplicates=contents.duplicates)  # fmt: skip
        scored.append(
            score_cell(
                plan.name,
                spec.cells[k].options,
                plan.run,
                result,
                records=len(contents.results),
                extracted=summary.documents,
                reused=summary.skipped,
                fresh=fresh,
            )
        )
    compared = compare_cells(scored, spec.baseline, resamples=bootstrap, seed=spec.seed)
    gated = tuple(apply_gates(cell, spec.gates(c)) for cell, c in zip(compared, spec.cells, strict=True))
    for cell in gated:
        Path(cell.run).with_suffix(".summary.json").write_text(
            json.dumps(cell.summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    outcome = MatrixResult(str(spec.path), spec.name, str(spec.out), spec.baseline, bootstrap, spec.seed, gated)
    json_path = Path(json_out) if json_out else spec.out / "matrix.json"
    json_path.write_text(json.dumps(outcome.summary(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (Path(report) if report else spec.out / "matrix.md").write_text(matrix_markdown(outcome), encoding="utf-8")
    if review is not None:
        from extract.review import build_matrix_site

        build_matrix_site(outcome, review, gold=gold_set, articles=spec.corpus,
                          id_field=reading["id_field"], text_field=reading["text_field"])  # fmt: skip
    return outcome


def validate_gold_dir(directory: str | Path) -> list[str]:
    """One line per problem in a gold directory (empty when valid).

    Its ``published.json`` is read by the reader ``extract eval`` and ``events`` use, so a file they
    refuse is a problem here, in the same words.
    """
    from extract.events.pipeline import gold_publication_dates
    from extract.scoring.gold_checks import validate_gold

    problems = [str(problem) for problem in validate_gold(directory)]
    try:
        gold_publication_dates(directory)
    except InputError as exc:
        problems.append(exc.one_line())
    return problems


# CPU features that decide whether a llama.cpp build runs here, as /proc/cpuinfo names them.
_CPU_FEATURES = ("avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vnni", "amx_tile", "amx_int8", "amx_bf16")


@dataclass(frozen=True)
class DoctorReport:
    """Whether this machine can run the local model, and why not."""

    ok: bool
    model: str
    llama_cpp_version: str = ""
    built_for: tuple[str, ...] = ()
    cpu: tuple[str, ...] = ()
    tokens: int = 0
    seconds: float = 0.0
    problem: str = ""
    #: The LoRA adapter applied, with the start of its SHA-256; empty for none.
    adapter: str = ""

    def one_line(self) -> str:
        built = " ".join(self.built_for) or "unknown"
        cpu = " ".join(self.cpu) or "unknown"
        where = f"llama.cpp {self.llama_cpp_version or '?'} built for {built}; this CPU reports {cpu}"
        adapter = f"adapter {self.adapter}" if self.adapter else "no adapter"
        if self.ok:
            return (
                f"ok: {self.model} loads and generates ({self.tokens} tokens in {self.seconds:.2f} s); "
                f"{adapter}; {where}"
            )
        return f"not ok: {self.model}: {self.problem}; {where}"


def _cpu_features() -> tuple[str, ...]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return tuple(f.upper() for f in _CPU_FEATURES if f in flags)


def doctor(model: str | None = None, *, threads: int | None = None, **local_options: Any) -> DoctorReport:
    """Load the local model in its child process and generate a few tokens: can this machine run it?

    Never raises for a model that crashes or does not load: the report says so.
    """
    from extract.backends.local import BUNDLED, LocalBackend

    name = model or BUNDLED
    cpu = _cpu_features()
    backend = None
    try:
        backend = LocalBackend(model, n_threads=threads, max_tokens=8, **local_options)
        info = backend.process.info
        built = tuple(
            part.split("=")[0].strip()
            for part in str(info.get("system_info", "")).replace("CPU :", "").split("|")
            if part.strip().endswith("= 1")
        )
        version = str(info.get("llama_cpp_version", ""))
        name = backend.model
        adapter = (
            f"{backend.adapter.name} (sha256 {str(backend.adapter_sha256)[:12]})" if backend.adapter is not None else ""
        )
        try:
            probe = backend.probe(tokens=8)
        except ExtractError as exc:
            return DoctorReport(False, name, version, built, cpu, problem=exc.message)
        usage = probe.get("reply", {}).get("usage", {})
        return DoctorReport(
            True, name, version, built, cpu, tokens=int(usage.get("completion_tokens", 0)), seconds=probe["seconds"],
            adapter=adapter,
        )  # fmt: skip
    except ExtractError as exc:
        return DoctorReport(False, name, cpu=cpu, problem=exc.message)
    finally:
        if backend is not None:
            backend.close()


def versions() -> dict[str, str | None]:
    """The package, the schema, llama.cpp and the shipped adapter's SHA-256 (``extract --version``).

    Reads files only: no model is loaded.
    """
    from importlib import metadata

    from extract.backends.local import SHIPPED_ADAPTER, gguf_sha256  # imports llama.cpp only when used
    from extract.core import EXTRACTOR_VERSION
    from extract.core.schema import SCHEMA_VERSION

    try:
        llama = metadata.version("llama-cpp-python")
    except metadata.PackageNotFoundError:
        llama = None
    adapter = gguf_sha256(SHIPPED_ADAPTER) if SHIPPED_ADAPTER.is_file() else None
    return {
        "incident-extract": EXTRACTOR_VERSION,
        "schema": SCHEMA_VERSION,
        "llama-cpp-python": llama,
        "adapter": adapter,
    }


def gold_agreement(dir_a: str | Path, dir_b: str | Path, *, json_out: str | Path | None = None) -> Any:
    """Score two annotations of the same articles against each other (``extract gold agree``); prints nothing.

    Returns an :class:`~extract.scoring.agreement.AgreementReport`: per-field F1 both
    ways and Cohen's kappa for the categorical fields; writes its JSON summary to ``json_out``.
    """
    from extract.io.output import staged_output
    from extract.scoring.agreement import agreement_dirs

    check_outputs([("--json", json_out)], inputs=[("the first gold folder", dir_a), ("the second gold folder", dir_b)])
    result = agreement_dirs(dir_a, dir_b)
    if json_out:
        with staged_output(json_out, "--json") as staged:
            staged.write_text(json.dumps(result.summary(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return result


def gold_events_scores(directory: str | Path, *, aliases: bool = True, json_out: str | Path | None = None) -> Any:
    """Cluster a gold set's incidents and score the events against their keys (``extract gold events``).

    The clustering alone, offline: the gold incidents are the input, the incident keys the
    answer (MUC, B³, CEAF-e, CoNLL F1, beside one event per incident). The article texts are not
    needed; the alias table and ``published.json`` are used when present (``aliases=False``
    leaves the alias table out). Returns the
    :class:`~extract.events.pipeline.EventsEvaluation`; writes its JSON summary to ``json_out``.
    Prints nothing.
    """
    from dataclasses import replace

    from extract.events.pipeline import evaluate_events
    from extract.io.output import staged_output
    from extract.scoring.gold import load_gold

    check_outputs([("--json", json_out)], inputs=[("the gold folder", directory)])
    gold_set = load_gold(directory, texts=False)
    result = evaluate_events(gold_set if aliases else replace(gold_set, aliases={}))
    if json_out:
        with staged_output(json_out, "--json") as staged:
            staged.write_text(json.dumps(result.summary(), indent=2) + "\n", encoding="utf-8")
    return result


# --- events: from article records to an event dataset -------------------------------------------------------------


def build_events_dataset(
    runs: list[str | Path],
    *,
    out: str | Path,
    fmt: str = "jsonl",
    gold: str | Path | None = None,
    published: str | Path | None = None,
    corpus: str | Path | None = None,
    id_field: str = "id",
    text_field: str = "text",
    date_field: str | None = None,
    aliases: str | Path | None = None,
    progress: Any = None,
    actors: str | Path | None = None,
) -> dict[str, Any]:
    """Cluster the incidents of run files into events and write them (``extract events``).

    Publication dates come from ``published`` (a ``{"doc id": {"date": ...}}`` JSON file such
    as ``gold/published.json``), or from a column (``date_field``) of the corpus the run was
    made from. The alias table (``aliases``, default: the gold set's when ``gold`` is given)
    groups names and places; ``actors`` is an actor table ``{"name": "rebel_group"}`` for
    ACLED's inter codes (:mod:`extract.events.actors`). ``progress(done, total)`` is called as the clustering's blocks
    are compared (``done``: incidents whose event is final). Runs are read, clustered and
    written in memory bounded by the busiest weeks, not the corpus (see ``stream_events``).
    The output appears whole or not at all: it is written beside ``out`` and renamed when
    complete (:func:`extract.io.output.staged_output`), so a failure or an interruption leaves
    an earlier output as it was. Returns a summary: counts, clustering statistics and the path;
    prints nothing.
    """
    import time
    from collections.abc import Iterable, Iterator

    from extract.events.actors import ActorTable
    from extract.events.cluster import ClusterStats
    from extract.events.dates import load_publication_dates
    from extract.events.export import FORMATS, export_events
    from extract.events.geocode import default_gazetteer
    from extract.events.pipeline import gold_publication_dates, stream_events
    from extract.events.records import Event
    from extract.io.formats.hf_datasets import is_saved_dataset
    from extract.io.output import staged_output
    from extract.scoring.gold import load_gold, read_alias_table
    from extract.scoring.normalize import AliasIndex

    if fmt not in FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}", hint="use one of " + ", ".join(FORMATS))
    if not runs:
        raise ConfigError("extract events needs at least one run file")
    check_outputs(
        [("--out", out)],
        inputs=[*(("a run file", run) for run in runs), ("the --gold folder", gold),
                ("the --published file", published), ("the --aliases file", aliases), ("the --actors file", actors)],
        corpora=[("the --corpus", corpus)],
        folders={"--out"} if fmt == "hf" else (),
    )  # fmt: skip
    if fmt == "hf" and Path(out).is_dir() and any(Path(out).iterdir()) and not is_saved_dataset(Path(out)):
        raise ConfigError(f"{out}: folder is not empty and holds no saved dataset; choose an empty or new --out")
    alias_table: dict[str, list[str]] = {}
    dates = {}
    if gold is not None:
        gold_set = load_gold(gold)
        alias_table = dict(gold_set.aliases)
        dates.update(gold_publication_dates(gold_set))
    if aliases is not None:
        alias_table = read_alias_table(aliases)
    if published is not None:
        dates.update(load_publication_dates(published))
    if corpus is not None:
        if not date_field:
            raise ConfigError("--corpus is read for publication dates only; give --date-field too")
        dates.update(_corpus_dates(corpus, id_field, text_field, date_field))
    stats = ClusterStats()
    counts = {"multi_document_events": 0, "with_conflicts": 0}

    def counted(events: Iterable[Event]) -> Iterator[Event]:
        for event in events:
            counts["multi_document_events"] += len(event.documents) > 1
            counts["with_conflicts"] += bool(event.conflicts)
            yield event

    alias_index = AliasIndex(alias_table)
    gazetteer = default_gazetteer(alias_index)

    def country_code(name: str) -> str | None:
        found = gazetteer.country(name)
        return found.code if found else None

    # ACLED's actor types: from the actor table, and for actors named as a country, the country.
    table = (
        ActorTable.load(actors, alias_index, country_code) if actors else ActorTable(None, alias_index, country_code)
    )
    # Written beside --out and renamed when whole; the clustering's spill file goes in the same work folder,
    # where the next run finds it if this one is killed.
    with staged_output(out) as staged:
        events = stream_events(
            runs, published=dates, aliases=alias_index, gazetteer=gazetteer, stats=stats, progress=progress,
            workdir=staged.parent,
        )  # fmt: skip
        with contextlib.closing(events):
            written = export_events(counted(events), staged, fmt, timestamp=int(time.time()), actors=table)
    return {
        "out": str(out),
        "format": fmt,
        "events": written,
        "mentions": stats.mentions,
        **counts,
        "documents_with_publication_date": len(dates),
        "blocks": stats.blocks,
        "largest_block": stats.largest_block,
        "pairs_compared": stats.pairs_compared,
        "capped_blocks": stats.capped_blocks,
    }


def add_events_scores(
    gold_set: Any,
    predictions: Any,
    *,
    json_out: str | Path | None = None,
    report: str | Path | None = None,
) -> Any:
    """Score event clustering against the gold incident keys; add it to the eval's JSON and report.

    The JSON summary gets an ``events`` key; the Markdown report an "Events" section. Returns the
    :class:`~extract.events.pipeline.EventsEvaluation`, or None when the gazetteer extra is not
    installed (the summary then says so under ``events.skipped``). Prints nothing.
    """
    from extract.events.pipeline import evaluate_events

    try:
        scores = evaluate_events(gold_set, predictions)
        section: dict[str, Any] = scores.summary()
    except ConfigError as exc:  # the gazetteer extra is not installed: the rest is scored, this says why not
        scores, section = None, {"skipped": exc.one_line()}
    if json_out:
        path = Path(json_out)
        summary = json.loads(path.read_text(encoding="utf-8"))
        summary["events"] = section
        path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if report and scores is not None:
        with Path(report).open("a", encoding="utf-8") as fh:
            fh.write("\n" + scores.markdown())
    return scores


def _corpus_dates(corpus: str | Path, id_field: str, text_field: str, date_field: str) -> dict[str, Any]:
    """Publication dates from a corpus column (the corpus reader keeps extra columns as metadata)."""
    from extract.events.dates import Published, parse_day
    from extract.io.corpus import BadDocument, open_corpus

    out: dict[str, Published] = {}
    seen_field = False
    for item in open_corpus(corpus, id_field=id_field, text_field=text_field):
        if isinstance(item, BadDocument):
            continue
        if date_field not in item.meta:
            continue
        seen_field = True
        try:
            day = parse_day(item.meta[date_field])
        except ValueError as exc:
            raise InputError(f"{item.origin or corpus}: document {item.id}: {date_field}: {exc}") from None
        if day is not None:
            out[item.id] = Published.on(day)
    if not seen_field:
        raise InputError(f"{corpus}: no document has a {date_field!r} column", hint="check --date-field")
    return out


# -- the Ray Data engine ---------------------------------------------------------------------------------------------


def build_review(
    run: str | Path,
    out: str | Path,
    *,
    gold: str | Path | None = None,
    events: str | Path | None = None,
    articles: str | Path | None = None,
    id_field: str = "id",
    text_field: str = "text",
    page_size: int = 100,
) -> Any:
    """Write the static review site of a run (see :func:`extract.review.build_site`); returns its summary."""
    from extract.review import build_site

    if page_size < 1:
        raise ConfigError(f"page size must be at least 1, got {page_size}")
    check_outputs(
        [("--out", out)],
        inputs=[("the run file", run), ("the --gold folder", gold), ("the --events file", events)],
        corpora=[("the --articles corpus", articles)],
        folders={"--out"},
    )
    return build_site(
        run,
        out,
        gold=gold,
        events=events,
        articles=articles,
        id_field=id_field,
        text_field=text_field,
        page_size=page_size,
    )


# -- prompt injection: scan a corpus, measure a backend on the injection set ---------------------------------------


def scan_injection(
    source: Any,
    *,
    id_field: str = "id",
    text_field: str = "text",
    split: str = "train",
    limit: int | None = None,
    on_document: Callable[[], None] | None = None,
) -> list[tuple[str, list[Any]]]:
    """Every document of a corpus that holds text addressed to the model, with what was found
    (:class:`extract.core.injection.Hit`s), in corpus order. No model is called; ``on_document``
    is called for each document read."""
    from extract.core.injection import scan
    from extract.io.corpus import BadDocument, open_corpus

    found: list[tuple[str, list[Any]]] = []
    for item in open_corpus(source, id_field=id_field, text_field=text_field, split=split, limit=limit):
        if on_document is not None:
            on_document()
        if isinstance(item, BadDocument):
            continue
        hits = scan(item.text)
        if hits:
            found.append((item.id, hits))
    return found


def measure_injection(
    cases: str | Path | None = None,
    *,
    backend: str | Backend | None = None,
    model: str | None = None,
    backend_options: dict[str, Any] | None = None,
    prompt: str = "incidents",
    max_retries: int = 2,
    out: str | Path | None = None,
    on_result: Callable[[DocumentResult], None] | None = None,
) -> Any:
    """Run a backend over the prompt-injection set and count the articles that hijacked it
    (the attacker's values appear in the output), were flagged, or both
    (:class:`extract.scoring.injection.InjectionReport`). No response cache: every article is asked.
    ``out`` also keeps the records as a run file."""
    from extract.core.pipeline import aextract_document
    from extract.io.output import RunWriter
    from extract.scoring.injection import DEFAULT_SET, judge, load_injection_set

    loaded = load_injection_set(cases or DEFAULT_SET)
    built = (
        backend
        if not isinstance(backend, str | None)
        else make_backend(backend, model, options=backend_options, cache=False)
    )
    config = ExtractConfig(backend=built, prompt=load_prompt_for(prompt), max_retries=max_retries)

    async def extract_all() -> dict[str, DocumentResult]:
        results: dict[str, DocumentResult] = {}
        try:
            for case in loaded:
                result = await aextract_document(Document(id=case.id, text=case.text), config)
                results[case.id] = result
                if on_result is not None:
                    on_result(result)
        finally:
            await built.aclose()
        return results

    from extract.core.aio import run_sync

    results = run_sync(extract_all())
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with RunWriter(out) as writer:
            for result in results.values():
                writer.write(result)
    return judge(loaded, results, backend=built.name, model=built.model)


# -- evidence by reference, compact schema -------------------------------------------------------------------------


@dataclass(frozen=True)
class ArticleView:
    """An article as the model sees it in refs mode: numbered sentences, and the values it may be offered."""

    source: str
    sentences: tuple[Any, ...]
    candidates: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sentences": [{"n": s.number, "start": s.start, "end": s.end, "text": s.text} for s in self.sentences],
            "candidates": {
                "names": list(self.candidates.names),
                "numbers": list(self.candidates.numbers),
                "dates": list(self.candidates.dates),
            },
        }


def article_sentences(path: str | Path, *, max_chars: int = 400) -> ArticleView:
    """The numbered sentences (with offsets) and the candidate names and numbers of one text file."""
    from extract.core.candidates import find_candidates
    from extract.core.sentences import split_sentences

    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such file", hint="give a .txt or .md article") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text (byte {exc.start})", hint="convert it to UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
    if max_chars < 20:
        raise ConfigError(f"--max-chars must be at least 20, got {max_chars}")
    return ArticleView(str(source), split_sentences(text, max_chars), find_candidates(text))


# --- outputs that would lose data: checked before a run starts ----------------------------------------------------


def check_outputs(
    outputs: Sequence[tuple[str, str | Path | None]],
    *,
    inputs: Sequence[tuple[str, Any]] = (),
    corpora: Sequence[tuple[str, Any]] = (),
    folders: Collection[str] = (),
) -> None:
    """Refuse outputs that would destroy or feed an input, or each other, and create their folders.

    ``outputs`` are (option, path) pairs, None for an output not asked for; ``folders`` names
    the options whose output is a folder (replaced whole). ``inputs`` are (what, path) pairs of
    files and folders read whole (a run file, a gold folder, a table); ``corpora`` are (what,
    source) pairs read as ``extract run`` reads a corpus. An output that is an input (after
    resolving links), lies inside an input folder (for a folder corpus: a file its reader would
    pick up), or is a folder holding an input is a :class:`ConfigError`; so are two outputs at
    one path and an output whose folder cannot be created (under a regular file, no permission).
    Checked before any work is done, so a mistake costs nothing.
    """
    from extract.io.corpus import reads_path
    from extract.io.output import prepare_output

    given = [(option, Path(path)) for option, path in outputs if path is not None]
    read = [(what, source, True) for what, source in inputs] + [(what, source, False) for what, source in corpora]
    for k, (option, path) in enumerate(given):
        for other, earlier in given[:k]:
            relation = _relation(earlier, path)
            if relation:
                raise ConfigError(f"{path}: {option} {relation} {other} ({earlier}); one would overwrite the other")
        for what, source, whole in read:
            if not isinstance(source, str | os.PathLike):
                continue
            relation = _relation(Path(source), path)
            if relation == "is inside" and not whole and not reads_path(source, path):
                continue  # a file the corpus reader skips may live in a folder corpus
            if relation == "holds":
                raise ConfigError(
                    f"{path}: {option} holds {what} ({source}); replacing it would delete the input",
                    hint=f"choose another {option}",
                )
            if relation:
                raise ConfigError(
                    f"{path}: {option} {relation} {what} ({source}); writing it would destroy or feed the input",
                    hint=f"choose a path outside {what}" if relation == "is inside" else f"choose another {option}",
                )
        prepare_output(path, option, folder=option in folders)


def _relation(source: Path, out: Path) -> str | None:
    """How an output path meets an input path: it "is" it, "is inside" it or "holds" it; None when apart."""
    a, b = source.resolve(), out.resolve()
    try:
        same = a == b or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        same = False
    if same:
        return "is"
    if b.is_relative_to(a):
        return "is inside"
    if a.is_relative_to(b):
        return "holds"
    return None
