"""The Python API: extract one text, run a corpus, score a run, run an eval suite.

The CLI is a thin layer over these functions::

    from extract.api import extract_text, run_corpus
    result = extract_text("Rebels shot down a Su-25 near Saraqeb on Saturday.", backend="mock", model="echo")
    summary = run_corpus("gold/articles", out="runs/seeds.jsonl", backend="local")
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extract.backends import DEFAULT_BACKEND
from extract.core.backend import Backend
from extract.core.errors import CacheWarning, ConfigError, ExtractError, InputError, OutputError
from extract.core.jsonfile import read_json_object
from extract.core.pipeline import ExtractConfig, extract_document
from extract.core.prompts import DEFAULT_PROMPT, load_prompt_for
from extract.core.records import Document, DocumentResult
from extract.core.secrets import backend_secrets, redacting_logs
from extract.engines.ray import RayEngine
from extract.engines.recipe import default_cache_dir, make_backend
from extract.runner import Prices, RunSummary, check_run_options, load_price_table, run
from extract.transport import RetryPolicy

__all__ = [
    "CacheWarning",
    "ConfigError",
    "DoctorReport",
    "ExtractError",
    "InputError",
    "OutputError",
    "RayEngine",
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
    "run_suite",
    "validate_gold_dir",
]

BUNDLED_NOTE = (
    "Model: the bundled Gemma 3 270M, a tiny model that lets the pipeline run anywhere offline. "
    "Its answers are poor; they show what the pipeline does, not how well incidents can be extracted. "
    "Point --backend openai at a real model for that."
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
    *,
    out: str | Path | None = None,
    backend: str | Backend | None = None,
    model: str | None = None,
    backend_options: dict[str, Any] | None = None,
    prompt: str | None = None,
    max_retries: int = 2,
    max_chars: int = 200_000,
    chunk_chars: int = 12_000,
    id_field: str = "id",
    text_field: str = "text",
    split: str = "train",
    limit: int | None = None,
    concurrency: int = 1,
    rpm: float | None = None,
    tpm: float | None = None,
    retry: RetryPolicy | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    record: str | Path | None = None,
    resume: bool = True,
    retry_failed: bool = False,
    prices: str | Path | None = None,
    parquet: str | Path | None = None,
    engine: str | RayEngine = "local",
    on_start: Callable[[int | None], None] | None = None,
    on_result: Callable[[DocumentResult], None] | None = None,
    evidence: str | None = None,
    schema_style: str | None = None,
    candidates: bool | str | None = None,
) -> RunSummary:
    """Extract a corpus into a JSON Lines file (resumed if it exists); return what the run did.

    ``engine``: ``"local"`` (one process, one event loop) or ``"ray"`` / a
    :class:`~extract.engines.ray.RayEngine` (Ray Data; ``source`` may then also be a
    ``ray.data.Dataset``). Both write the same records, failure records and resume state.

    Prints nothing: ``on_start`` is called with the number of documents (None when the
    corpus cannot tell), ``on_result`` with each record as it is written, for a progress
    display or a live view. ``summary.bundled`` says whether the bundled test-sized model answered.

    ``prompt``, ``evidence``, ``schema_style`` and ``candidates`` left as None are what the local
    model's adapter was trained with (:func:`serving_choices`), else the plain defaults.
    """
    from extract.io.output import export_parquet

    if engine not in ("local", "ray") and not isinstance(engine, RayEngine):
        raise ConfigError(f"unknown engine {engine!r}", hint="choose local or ray")
    ray_engine = engine if isinstance(engine, RayEngine) else RayEngine() if engine == "ray" else None
    check_run_options(
        concurrency=concurrency, rpm=rpm, tpm=tpm, max_retries=max_retries, max_chars=max_chars,
        chunk_chars=chunk_chars, limit=limit, actors=ray_engine.actors if ray_engine else None,
        batch_size=ray_engine.batch_size if ray_engine else None, num_cpus=ray_engine.num_cpus if ray_engine else None,
    )  # fmt: skip
    if out is None:
        stem = Path(str(source)).stem if isinstance(source, str | Path) else "dataset"
        name = backend if isinstance(backend, str) else getattr(backend, "name", None)
        out = Path("runs") / f"{stem or 'corpus'}.{name or DEFAULT_BACKEND}.jsonl"
    prompt, evidence, schema_style, candidates = serving_choices(
        backend, model, backend_options, prompt, evidence, schema_style, candidates
    )
    chosen = evidence_options(evidence, schema_style, candidates)  # checked once, for either engine
    if ray_engine is not None and ray_engine.write:
        # A folder of part files, Ray's writers' own: not the corpus, and no second export of it.
        if isinstance(source, str | Path) and Path(out).resolve() == Path(source).resolve():
            raise ConfigError(f"{out}: the output folder is the corpus; choose another --out")
        if parquet:
            raise ConfigError(
                "--parquet exports a run file; with --ray-write the parts are the output",
                hint="use --ray-write parquet",
            )
        Path(out).parent.mkdir(parents=True, exist_ok=True)
    else:
        check_outputs(source, out, parquet)
    if engine == "local":
        from extract.io.corpus import open_corpus

        corpus = open_corpus(source, id_field=id_field, text_field=text_field, split=split, limit=limit)
        if isinstance(backend, str | None):
            built = make_backend(
                backend, model, options=backend_options, rpm=rpm, tpm=tpm, retry=retry,
                cache=cache, cache_dir=cache_dir, record=record,
            )  # fmt: skip
        else:
            built = backend
        config = ExtractConfig(
            backend=built, prompt=load_prompt_for(prompt, evidence), max_retries=max_retries, max_chars=max_chars,
            chunk_chars=chunk_chars, **chosen,
        )  # fmt: skip
        if on_start is not None:
            on_start(getattr(corpus, "length", None))
        with redacting_logs(backend_secrets(built)):  # instructor logs error bodies, which may echo the key
            summary = run(
                corpus, config, out, concurrency=concurrency, resume=resume, retry_failed=retry_failed,
                prices=Prices.from_file(prices, built.model) if prices else None, on_result=on_result,
            )  # fmt: skip
        inner = getattr(built, "inner", built)
        summary.bundled = built.name == "local" and getattr(inner, "path", None) is not None and model is None
    else:
        if not isinstance(backend, str | None):
            raise ConfigError(
                "the Ray engine builds a backend on each actor, so it takes a backend name, not a built backend"
            )
        from extract.engines.ray import BackendSpec, JobSpec, ray_session, read_corpus, run_dataset

        name = backend or DEFAULT_BACKEND
        spec = BackendSpec(
            backend=name,
            model=model,
            options={k: v for k, v in (backend_options or {}).items() if v is not None},
            cache=cache and name != "mock",
            cache_dir=str(cache_dir or default_cache_dir()),
            record=str(record) if record else None,
            retry=retry,
        )
        assert ray_engine is not None
        from extract.io.output import RunLock

        # One run per output (a run file or a folder of parts), as for the local engine (whose runner takes the
        # lock itself).
        with RunLock(out), ray_session(ray_engine.address, num_cpus=ray_engine.num_cpus):
            dataset, origin = read_corpus(source, id_field=id_field, text_field=text_field, split=split, limit=limit)
            if on_start is not None:
                on_start(None)
            job = JobSpec(
                backend=spec, prompt=prompt, max_retries=max_retries, max_chars=max_chars, chunk_chars=chunk_chars,
                id_field=id_field, text_field=text_field, concurrency=concurrency, origin=origin, evidence=evidence,
                schema_style=schema_style, candidates=candidates,
            )  # fmt: skip
            price_table = Prices.from_file(prices, model or "") if prices else None
            summary = run_dataset(
                dataset, job, out, actors=ray_engine.actors, batch_size=ray_engine.batch_size, resume=resume,
                retry_failed=retry_failed, rpm=rpm, tpm=tpm, prices=price_table, on_result=on_result,
                progress=ray_engine.progress, write=ray_engine.write,
            )  # fmt: skip
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
    """
    from extract.scoring import evaluate, load_summary, read_predictions, write_json, write_markdown
    from extract.scoring.gold import load_gold

    gold_set = load_gold(gold)
    contents = read_predictions(pred)
    predictions = contents.results
    articles = corpus_texts(corpus, id_field=id_field, text_field=text_field) if corpus is not None else None
    result = evaluate(gold_set, predictions, bootstrap=bootstrap, articles=articles, duplicates=contents.duplicates)
    base = load_summary(baseline) if baseline else None
    if json_out:
        summary = write_json(result, json_out, baseline=base)
        if prices:
            summary["cost"] = round(_run_cost(predictions, prices), 6)
            Path(json_out).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if report:
        write_markdown(result, report, baseline=base)
    # --- events: cross-document merge scores (one separate call; see add_events_scores) ---
    add_events_scores(gold_set, predictions, json_out=json_out, report=report)
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


def validate_gold_dir(directory: str | Path) -> list[str]:
    """One line per problem in a gold directory (empty when valid)."""
    from extract.scoring.gold_checks import validate_gold

    return [str(problem) for problem in validate_gold(directory)]


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
    from extract.scoring.agreement import agreement_dirs

    result = agreement_dirs(dir_a, dir_b)
    if json_out:
        Path(json_out).write_text(json.dumps(result.summary(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
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
    from extract.scoring.gold import load_gold

    gold_set = load_gold(directory, texts=False)
    result = evaluate_events(gold_set if aliases else replace(gold_set, aliases={}))
    if json_out:
        Path(json_out).write_text(json.dumps(result.summary(), indent=2) + "\n", encoding="utf-8")
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
    Returns a summary: counts, clustering statistics and the path; prints nothing.
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
    from extract.scoring.gold import load_gold
    from extract.scoring.normalize import AliasIndex

    if fmt not in FORMATS:
        raise ConfigError(f"unknown --format {fmt!r}", hint="use one of " + ", ".join(FORMATS))
    if not runs:
        raise ConfigError("extract events needs at least one run file")
    alias_table: dict[str, list[str]] = {}
    dates = {}
    if gold is not None:
        gold_set = load_gold(gold)
        alias_table = dict(gold_set.aliases)
        dates.update(gold_publication_dates(gold_set))
    if aliases is not None:
        alias_table = _read_alias_table(aliases)
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
    events = stream_events(
        runs, published=dates, aliases=alias_index, gazetteer=gazetteer, stats=stats, progress=progress
    )
    written = export_events(counted(events), out, fmt, timestamp=int(time.time()), actors=table)
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


def _read_alias_table(path: str | Path) -> dict[str, list[str]]:
    data = read_json_object(path, "the alias table", '{"name": ["variant", ...]}')
    if not all(isinstance(v, list) for v in data.values()):
        raise InputError(f'{path}: the alias table must be {{"name": ["variant", ...]}}')
    return {str(k): [str(x) for x in v] for k, v in data.items()}


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


def serving_choices(
    backend: str | Backend | None,
    model: str | None,
    backend_options: dict[str, Any] | None,
    prompt: str | None,
    evidence: str | None,
    schema_style: str | None,
    candidates: bool | str | None,
) -> tuple[str, str, str, bool | str]:
    """The prompt, evidence mode, schema rendering and candidates a run uses.

    What the caller gave wins. What it left as None is what the local backend's adapter was
    trained to be asked with (an adapter trained by ``extract train`` says so in its file), so
    the shipped adapter is asked as it was taught; otherwise ``incidents``, ``quotes``, ``full``
    and no candidates.
    """
    trained: dict[str, Any] = {}
    if isinstance(backend, str | None) and (backend or DEFAULT_BACKEND) == "local":
        from extract.backends.local import serving_defaults

        trained = serving_defaults(model, (backend_options or {}).get("adapter"))
    elif not isinstance(backend, str | None):
        trained = dict(getattr(getattr(backend, "inner", backend), "serving", None) or {})
    return (
        prompt if prompt is not None else str(trained.get("prompt", DEFAULT_PROMPT)),
        evidence if evidence is not None else str(trained.get("evidence", "quotes")),
        schema_style if schema_style is not None else str(trained.get("schema_style", "full")),
        candidates if candidates is not None else trained.get("candidates", False),
    )


def evidence_options(
    evidence: str = "quotes", schema_style: str = "full", candidates: bool | str = False
) -> dict[str, Any]:
    """The :class:`ExtractConfig` fields for an evidence mode, a schema rendering and candidate values, checked."""
    from extract.core.errors import ConfigError
    from extract.core.evidence import EvidenceMode

    try:
        mode = EvidenceMode(evidence)
    except ValueError:
        raise ConfigError(f"unknown evidence mode {evidence!r}", hint="use quotes or refs") from None
    if schema_style not in ("full", "compact"):
        raise ConfigError(f"unknown schema style {schema_style!r}", hint="use full or compact")
    from extract.core.candidates import MODES, STRICT

    if candidates not in (True, False, *MODES):
        raise ConfigError(f"unknown candidates mode {candidates!r}", hint=f"use {' or '.join(MODES)}")
    chosen = STRICT if candidates == STRICT else bool(candidates)
    return {"evidence": mode, "compact_schema": schema_style == "compact", "candidates": chosen}


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


def check_outputs(source: Any, out: str | Path, parquet: str | Path | None = None) -> None:
    """Refuse outputs that would destroy or feed the input, and create their folders.

    An output that is the corpus itself (after resolving links), or a file inside a folder
    corpus that the reader would pick up, is a :class:`ConfigError`; so is an output whose
    folder cannot be created (under a regular file, no permission). Checked before the
    model is loaded, so a mistake costs nothing.
    """
    from extract.io.corpus import reads_path
    from extract.io.output import prepare_output

    if parquet is not None and Path(parquet).resolve() == Path(out).resolve():
        raise ConfigError(f"{parquet}: --parquet is the run file (--out); the export would overwrite the records")
    for option, path in (("--out", out), ("--parquet", parquet)):
        if path is None:
            continue
        if reads_path(source, path):
            where = "is the corpus" if Path(path).exists() and Path(source).is_file() else "is inside the corpus"
            raise ConfigError(
                f"{path}: {option} {where} ({source}); writing it would destroy or feed the input",
                hint=f"choose an {option} outside the corpus",
            )
        prepare_output(path, option)
